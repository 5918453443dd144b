"""The validation table of readout classes and multi-index targets (docs/fidelity.md, docs/theory.md §12.5).

Reads the JSON-lines rows of ``benchmarks/readouts.py --json`` at two dimensions and, per case and α, takes
as reference the larger-d mean, or the 1/d extrapolation through both sizes where they differ by more than
2 standard errors (the rule of docs/fidelity.md); then prints theory/reference − 1 for the default bulk and
for ``bulk="one_step"`` (single-index rows), with "ok" for 2 % (test) / 3 % (training) or 2 sem.

    python benchmarks/readouts_table.py docs/readout_validation.jsonl
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from srf_engine import Problem
from srf_engine.theory.class_curve import readout_curve
from srf_engine.theory.multiindex import MULTI_INDEX_TARGETS
from srf_engine.theory.readout import check_readout

STUDENTS: dict[str, object] = {"hermite": {"hermite": [0.5, 0.8, 0.3]}}


def _key(row: dict) -> tuple:
    return (row["case"], row["readout"], row["alpha0"], row["width"], tuple(row["alphas"]))


def _law(spec: str):
    return check_readout(json.loads(spec) if spec.startswith("{") else spec)


def _law_name(spec: str) -> str:
    if not spec.startswith("{"):
        return spec
    law = json.loads(spec)
    return "[" + ", ".join(f"{v:g}" for v in law["values"]) + "]"


def reference(rows: Sequence[dict], key: str, j: int) -> tuple[float, float, str]:
    """``(mean, sem, how)`` at the largest d, or extrapolated in 1/d through the two largest."""
    rows = sorted(rows, key=lambda r: r["d"])
    big = rows[-1]
    m2, s2 = big["network"][key][j], big["network"][f"{key}_sem"][j]
    if len(rows) < 2:
        return m2, s2, f"d = {big['d']}"
    small = rows[-2]
    m1, s1 = small["network"][key][j], small["network"][f"{key}_sem"][j]
    if abs(m2 - m1) <= 2.0 * math.hypot(s1, s2):
        return m2, s2, f"d = {big['d']}"
    d1, d2 = small["d"], big["d"]
    m = (d2 * m2 - d1 * m1) / (d2 - d1)
    s = math.hypot(d2 * s2, d1 * s1) / (d2 - d1)
    return m, s, "1/d"


def theories(row: dict) -> dict[str, dict[str, list]]:
    student, teacher = row["case"].split("/", 1)
    target = teacher if teacher in MULTI_INDEX_TARGETS else None
    problem = Problem(STUDENTS.get(student, student), "linear" if target else teacher, learning_rate=2.0,
                      alpha0=row["alpha0"], width=row["width"])  # fmt: skip
    out = {}
    for bulk in ("marchenko_pastur", "one_step"):
        th = readout_curve(
            problem, row["alphas"], 0.05, readout=_law(row["readout"]), target=target, bulk=bulk
        )
        out[bulk] = {"test": th.test_errors, "train": th.train_errors}
    return out


def _regime(key: tuple, alpha: float) -> str:
    student, teacher = key[0].split("/", 1)
    if _law(key[1]).size == 1:
        return "one class (uniform)"
    side = f"α {'<' if alpha < key[3] else '≥'} width"
    if teacher in MULTI_INDEX_TARGETS:
        return f"multi-index, {side}"
    kind = "odd student" if student in ("tanh", "erf") else "E σ'' ≠ 0"
    return f"{kind}, {side}"


def main(paths: Sequence[str]) -> None:
    groups: dict[tuple, list[dict]] = {}
    for path in paths:
        for line in Path(path).read_text().splitlines():
            row = json.loads(line)
            groups.setdefault(_key(row), []).append(row)
    print("| case | readout | α0 | width | α | reference (d, seeds) | test | K-atom MP | one-step | train | "
          "K-atom MP | one-step | ok (MP / one-step) |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    counts = {"marchenko_pastur": 0, "one_step": 0}
    total = 0
    summary: dict[tuple[str, str], list] = {}
    for key, rows in groups.items():
        th = theories(rows[0])
        sizes = ", ".join(f"{r['d']}×{r['seeds']}" for r in sorted(rows, key=lambda r: r["d"]))
        for j, a in enumerate(rows[0]["alphas"]):
            cells, oks = [], {}
            refs = {k: reference(rows, k, j) for k in ("test", "train")}
            extrapolated = [k for k in ("test", "train") if refs[k][2] == "1/d"]
            how = ("1/d: " + ", ".join(extrapolated)) if extrapolated else refs["test"][2]
            for kind, rel in (("test", 0.02), ("train", 0.03)):
                mean, sem, _ = refs[kind]
                cells.append(f"{mean:.4f} ± {sem:.4f}")
                for bulk in ("marchenko_pastur", "one_step"):
                    value = th[bulk][kind][j]
                    cells.append(f"{100 * (value / mean - 1):+.1f} %")
                    oks[bulk] = oks.get(bulk, True) and abs(value - mean) <= max(rel * mean, 2 * sem)
            total += 1
            for bulk in counts:
                counts[bulk] += oks[bulk]
                diffs = [th[bulk][k][j] / refs[k][0] - 1 for k in ("test", "train")]
                summary.setdefault((_regime(key, a), bulk), []).append((*diffs, oks[bulk]))
            flags = " / ".join("ok" if oks[b] else "—" for b in ("marchenko_pastur", "one_step"))
            print(f"| {key[0]} | {_law_name(key[1])} | {key[2]:g} | {key[3]:g} | {a:g} | {how} ({sizes}) | "
                  + " | ".join(cells) + f" | {flags} |")  # fmt: skip
    print("\n| rows | bulk | n | test | training | within targets |\n| --- | --- | --- | --- | --- | --- |")
    for (regime, bulk), items in sorted(summary.items()):
        te, tr = [100 * x[0] for x in items], [100 * x[1] for x in items]
        print(f"| {regime} | {bulk} | {len(items)} | {min(te):+.1f} … {max(te):+.1f} % | "
              f"{min(tr):+.1f} … {max(tr):+.1f} % | {sum(x[2] for x in items)} / {len(items)} |")  # fmt: skip
    print(
        f"\nwithin the targets: K-atom MP {counts['marchenko_pastur']}/{total}, "
        f"one-step {counts['one_step']}/{total}"
    )


if __name__ == "__main__":
    main(sys.argv[1:] or [str(Path(__file__).resolve().parents[1] / "docs" / "readout_validation.jsonl")])
