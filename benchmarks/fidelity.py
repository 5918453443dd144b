"""Fidelity of the theory to the real one-step network (docs/theory.md §10): a validation table.

For each case (student/teacher, α0, width; η̃ = 2, λ = 0.05, Δ = 0) the network of docs/theory.md §2 is
simulated at dimension ``d`` over ``seeds`` seeds, and its test and training errors are set against
four theories: the paper's mapping with the Marchenko–Pastur bulk (§3 + §5), the corrected mapping with
the same bulk (§10.2), and the corrected mapping with the one-step bulk law (§10.2 + §10.3), analytic and
with one sampled first batch (``one_step_sampled``, dimension 1000, seed 0). Each theory
column shows its value and its relative difference to the network mean; ``sem`` is the network's
standard error over seeds. A row is marked ``ok`` when the corrected one-step theory is within the
targets (2 % test, 3 % train) or within 2 sem, ``MISS`` otherwise.

    python benchmarks/fidelity.py                # the representative subset, d = 1500, 8 seeds
    python benchmarks/fidelity.py --quick        # two cases, d = 800, 4 seeds
    python benchmarks/fidelity.py --extra        # six more cases (other widths and batch sizes)
    python benchmarks/fidelity.py --full         # every student/teacher × α0 ∈ {1,2,5,20} × width 0.5/1/2
    python benchmarks/fidelity.py --json out.json    # save rows; an existing file is resumed
    python benchmarks/fidelity.py --markdown a.json --retheory   # table of saved runs, new theory
    python benchmarks/fidelity.py --case relu/tanh:2:1 --first-seed 8 --seeds 16 --json b.json
                                                 # one case, seeds 8…23 (fresh streams)

Saved rows of the same case and dimension with disjoint seed ranges (``--first-seed``) are pooled by
``--markdown`` into one row over all their seeds: every case of a run uses the same seeds, so the inputs,
teacher and initial layer of seed ``s`` are shared by all rows and a few seeds move every row together.

Finite size: at d = 1500 the network is not extrapolated in 1/d; the §9 drift at this size is about 1 %.
"""

from __future__ import annotations

import argparse
import itertools
import json
import pprint
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from srf_engine import Problem, simulate
from srf_engine.theory.curve import DEFAULT_BULK, DEFAULT_MAPPING, DEFAULT_ROW_NORM, theory_curve
from srf_engine.theory.fidelity import ODD_SMALL_ALPHA0

ETA, RIDGE = 2.0, 0.05
TEST_TARGET, TRAIN_TARGET = 0.02, 0.03
HERMITE = {"hermite": [0.5, 0.8, 0.3]}  # non-centred, E σ'' ≠ 0 (softplus-like low-order coefficients)
PAIRS = {
    "relu/tanh": ("relu", "tanh"),
    "relu/sin": ("relu", "sin"),
    "relu_centered/tanh": ("relu_centered", "tanh"),
    "hermite/tanh": (HERMITE, "tanh"),
    "erf/tanh": ("erf", "tanh"),
}
#: (pair, α0, width, alphas): the representative subset run by default.
SUBSET = [
    ("relu/tanh", 2.0, 1.0, (0.5, 2.0)),
    ("relu_centered/tanh", 2.0, 2.0, (0.7, 2.5)),
    ("relu/sin", 5.0, 1.0, (0.5, 2.0)),
    ("hermite/tanh", 2.0, 1.0, (0.5, 2.0)),
    ("erf/tanh", 1.0, 0.5, (0.5, 2.0)),
    ("relu/tanh", 20.0, 1.0, (0.5, 2.0)),
    ("relu/tanh", 1.0, 0.5, (0.5, 2.0)),
    ("relu_centered/tanh", 5.0, 1.0, (0.5, 2.0)),
]
#: More of the grid (``--extra``): the other widths and batch sizes.
EXTRA = [
    ("relu/tanh", 2.0, 2.0, (0.5, 2.0)),
    ("relu/sin", 1.0, 1.0, (0.5, 2.0)),
    ("hermite/tanh", 5.0, 2.0, (0.5, 2.0)),
    ("erf/tanh", 20.0, 2.0, (0.5, 2.0)),
    ("relu_centered/tanh", 1.0, 0.5, (0.5, 2.0)),
    ("hermite/tanh", 20.0, 0.5, (0.5, 2.0)),
]
QUICK = [SUBSET[0], SUBSET[1]]
THEORIES = (
    ("paper", "marchenko_pastur"),
    ("corrected", "marchenko_pastur"),
    ("corrected", "one_step"),
    ("corrected", "one_step_sampled"),  # docs/theory.md §10.3 with one sampled first batch (d = 1000, seed 0)
)
#: Columns with the row-norm channel of docs/theory.md §10.4 (``row_norm=True``); the others have none.
ROW_NORM_THEORIES = (("corrected", "one_step"), ("corrected", "one_step_sampled"))


def column_name(mapping: str, bulk: str, row_norm: bool = False) -> str:
    return f"{mapping}+{bulk}" + ("+row_norm" if row_norm else "")


def theory_list() -> list[tuple[str, str, bool]]:
    """Every theory column: ``(mapping, bulk, row_norm)``."""
    return [(m, b, False) for m, b in THEORIES] + [(m, b, True) for m, b in ROW_NORM_THEORIES]


def _title(mapping: str, bulk: str, row_norm: bool) -> str:
    short = "MP" if bulk == "marchenko_pastur" else bulk.replace("_", "-")
    return f"{mapping}+{short}" + ("+row-norm" if row_norm else "")


def full_cases() -> list[tuple[str, float, float, tuple[float, ...]]]:
    return [
        (pair, a0, w, (0.5, 2.0))
        for pair, a0, w in itertools.product(PAIRS, (1.0, 2.0, 5.0, 20.0), (0.5, 1.0, 2.0))
    ]


def theory_columns(pair: str, alpha0: float, width: float, alphas) -> dict[str, list[dict]]:
    """Each theory's test and training errors at ``alphas`` (one curve per theory)."""
    student, teacher = PAIRS[pair]
    problem = Problem(student, teacher, ETA, alpha0, width, 0.0)
    columns = {}
    for m, b, rn in theory_list():
        curve = theory_curve(problem, list(alphas), RIDGE, baseline=False, mapping=m, bulk=b, row_norm=rn)
        columns[column_name(m, b, rn)] = [
            {"test": p.test_error, "train": p.train_error, "converged": p.converged} for p in curve.points
        ]
    return columns


def retheory(rows: list[dict]) -> list[dict]:
    """Recompute the theory columns of saved rows (the network values are kept): one curve per case and
    theory over the case's α values, so a sampled bulk draws its first batch once per case."""
    cases: dict[tuple, list[dict]] = {}
    for row in rows:
        cases.setdefault((row["pair"], row["alpha0"], row["width"]), []).append(row)
    for (pair, alpha0, width), group in cases.items():
        alphas = sorted({row["alpha"] for row in group})
        columns = theory_columns(pair, alpha0, width, alphas)
        for row in group:
            i = alphas.index(row["alpha"])
            row.update({name: values[i] for name, values in columns.items()})
    return rows


def run_case(
    pair: str,
    alpha0: float,
    width: float,
    alphas,
    d: int,
    seeds: int,
    n_jobs: int | None = None,
    first_seed: int = 0,
) -> list[dict]:
    student, teacher = PAIRS[pair]
    problem = Problem(student, teacher, ETA, alpha0, width, 0.0)
    start = time.perf_counter()
    sim = simulate(
        problem,
        list(alphas),
        RIDGE,
        model="network",
        dimension=d,
        seeds=list(range(first_seed, first_seed + seeds)),
        test_samples=max(6000, 4 * d),
        n_jobs=n_jobs,
    )
    sim_seconds = time.perf_counter() - start
    columns = theory_columns(pair, alpha0, width, alphas)
    rows = []
    for i, point in enumerate(sim.points):
        row = {
            "pair": pair,
            "alpha0": alpha0,
            "width": width,
            "alpha": point.alpha,
            "d": d,
            "seeds": seeds,
            "first_seed": first_seed,
            "network": {
                "test": point.test_error.mean,
                "test_sem": point.test_error.sem,
                "train": point.train_error.mean,
                "train_sem": point.train_error.sem,
            },
            "simulation_seconds": sim_seconds,
        }
        for name, values in columns.items():
            row[name] = values[i]
        rows.append(row)
    return rows


def pool(rows: list[dict]) -> list[dict]:
    """One row per (case, α, d): rows with disjoint seed ranges merged into their mean over all seeds.

    With ``n_i`` seeds, means ``m_i`` and sems ``s_i`` (seed variance ``n_i s_i²``): the pooled mean is
    ``Σ n_i m_i / N`` and its sem ``√(V/N)`` with ``V = (Σ (n_i − 1) n_i s_i² + Σ n_i (m_i − m)²)/(N − 1)``.
    A row whose seeds overlap an earlier one's is dropped. Theory columns are the first row's.
    """
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        key = (row["pair"], row["alpha0"], row["width"], row["alpha"], row["d"])
        group = groups.setdefault(key, [])
        first = row.get("first_seed", 0)
        taken = [(r.get("first_seed", 0), r.get("first_seed", 0) + r["seeds"]) for r in group]
        if all(first + row["seeds"] <= lo or first >= hi for lo, hi in taken):
            group.append(row)
    out = []
    for group in groups.values():
        if len(group) == 1:
            out.append(group[0])
            continue
        counts = [r["seeds"] for r in group]
        total = sum(counts)
        net = {}
        for key in ("test", "train"):
            means = [r["network"][key] for r in group]
            mean = sum(n * m for n, m in zip(counts, means, strict=True)) / total
            sems = [r["network"][key + "_sem"] for r in group]
            within = sum((n - 1) * n * s**2 for n, s in zip(counts, sems, strict=True))
            between = sum(n * (m - mean) ** 2 for n, m in zip(counts, means, strict=True))
            net[key], net[key + "_sem"] = mean, ((within + between) / (total - 1) / total) ** 0.5
        ranges = sorted((r.get("first_seed", 0), r["seeds"]) for r in group)
        out.append(dict(group[0], seeds=total, seed_ranges=ranges, network=net))
    return out


def extrapolate(rows: list[dict], smaller: list[dict]) -> list[dict]:
    """Give each row a ``reference``: the network at d, or its 1/d extrapolation where it drifts.

    With a run at a smaller d' (same case and α), ``E(∞) ≈ E(d) + (E(d) − E(d'))·d'/(d − d')`` (linear in
    1/d through both sizes), used for an error whose drift ``E(d) − E(d')`` exceeds twice its standard
    error; elsewhere the reference is the network at d. Its ``sem`` follows from both runs' sems.
    """
    by_case = {(r["pair"], r["alpha0"], r["width"], r["alpha"]): r for r in smaller}
    for row in rows:
        small = by_case.get((row["pair"], row["alpha0"], row["width"], row["alpha"]))
        net = row["network"]
        ref = dict(net, d_small=None, extrapolated={"test": False, "train": False})
        if small is not None and small["d"] < row["d"]:
            k = small["d"] / (row["d"] - small["d"])
            ref["d_small"] = small["d"]
            for key in ("test", "train"):
                e, s1 = net[key], net[key + "_sem"]
                e_small, s2 = small["network"][key], small["network"][key + "_sem"]
                ref[key + "_small"] = e_small
                if abs(e - e_small) > 2 * (s1**2 + s2**2) ** 0.5:
                    ref[key] = e + (e - e_small) * k
                    ref[key + "_sem"] = (((1 + k) * s1) ** 2 + (k * s2) ** 2) ** 0.5
                    ref["extrapolated"][key] = True
        row["reference"] = ref
    return rows


def verdict(row: dict, name: str | None = None) -> tuple[float, float, bool]:
    """Relative differences theory/reference − 1 (test, train) and whether both meet the targets
    (``name``: a theory column, by default the engine's default theory)."""
    name = name or column_name(DEFAULT_MAPPING, DEFAULT_BULK, DEFAULT_ROW_NORM)
    net, th = row.get("reference", row["network"]), row[name]
    dt, dr = th["test"] / net["test"] - 1, th["train"] / net["train"] - 1
    ok_test = abs(dt) <= TEST_TARGET or abs(th["test"] - net["test"]) <= 2 * net["test_sem"]
    ok_train = abs(dr) <= TRAIN_TARGET or abs(th["train"] - net["train"]) <= 2 * net["train_sem"]
    return dt, dr, ok_test and ok_train


def print_row(row: dict) -> None:
    net = row["network"]
    cells = [f"{row['pair']:<19} α0={row['alpha0']:<4g} w={row['width']:<3g} α={row['alpha']:<4g}"]
    for key in ("test", "train"):
        cells.append(f"{key} net {net[key]:.4f}±{net[key + '_sem']:.4f}")
        for t in theory_list():
            if column_name(*t) not in row:
                continue
            th = row[column_name(*t)][key]
            cells.append(f"{th:.4f} ({th / net[key] - 1:+.1%})")
    cells.append("ok" if verdict(row)[2] else "MISS")
    print(" | ".join(cells), flush=True)


def _network_cell(row: dict, key: str) -> str:
    net, ref = row["network"], row.get("reference", row["network"])
    cell = f"{net[key]:.4f} ± {net[key + '_sem']:.4f}"
    if ref.get("extrapolated", {}).get(key):
        cell += f" → **{ref[key]:.4f} ± {ref[key + '_sem']:.4f}**"
    return cell


def markdown(rows: list[dict]) -> str:
    """The table as Markdown (docs/fidelity.md): differences are to the reference (see extrapolate)."""
    shown = [t for t in theory_list() if all(column_name(*t) in r for r in rows)]
    names = " | ".join(_title(*t) for t in shown)
    head = (
        f"| case | α | network test ± sem | {names} | network train ± sem | {names} | ok |\n"
        "| --- | --- | --- | " + "--- | " * (2 * len(shown) + 2) + "\n"
    )
    lines = []
    for row in rows:
        ref = row.get("reference", row["network"])
        cells = [f"{row['pair']}, α0 = {row['alpha0']:g}, width {row['width']:g}", f"{row['alpha']:g}"]
        for key in ("test", "train"):
            cells.append(_network_cell(row, key))
            for t in shown:
                th = row[column_name(*t)][key]
                cells.append(f"{th / ref[key] - 1:+.1%}".replace("%", " %"))
        cells.append("yes" if verdict(row)[2] else "**no**")
        lines.append("| " + " | ".join(cells) + " |")
    return head + "\n".join(lines)


def head_to_head(rows: list[dict], first: str, second: str) -> str:
    """How often theory ``first`` is closer to the network than ``second``, and their worst distances."""
    rows = [r for r in rows if r.get(first) and r.get(second)]
    lines = [f"{first} against {second} ({len(rows)} rows):"]
    for key, name in (("test", "test"), ("train", "training")):
        ref = [r.get("reference", r["network"])[key] for r in rows]
        diff = {n: [abs(r[n][key] / x - 1) for r, x in zip(rows, ref, strict=True)] for n in (first, second)}
        wins = sum(a < b for a, b in zip(diff[first], diff[second], strict=True))
        mean = {n: sum(v) / len(rows) for n, v in diff.items()}
        lines.append(
            f"  {name} error: closer in {wins}/{len(rows)} rows; mean |diff| {mean[first]:.2%} against "
            f"{mean[second]:.2%}, worst {max(diff[first]):.2%} against {max(diff[second]):.2%}"
        )
    return "\n".join(lines)


def regime(row: dict) -> tuple[str, str]:
    """The regime a row validates in ``theory/fidelity.py``: (kind of student, α against the width).

    Kinds: ``curved`` (E σ'' ≠ 0), ``odd`` (E σ'' = 0) at α0 ≥ ``ODD_SMALL_ALPHA0``, ``odd_small_alpha0``
    below it."""
    kind = "curved"
    if row["pair"].split("/")[0] == "erf":
        kind = "odd" if row["alpha0"] >= ODD_SMALL_ALPHA0 else "odd_small_alpha0"
    return kind, "below_width" if row["alpha"] < row["width"] else "above_width"


def ranges(rows: list[dict]) -> dict:
    """Per theory ``(mapping, bulk, row_norm)`` and regime, the smallest and largest theory/reference − 1
    in percent (test, train). The paper's mapping is measured on centred students only (for the others
    the mapping itself warns)."""
    out: dict = {}
    for m, b, rn in theory_list():
        name = column_name(m, b, rn)
        for row in rows:
            if name not in row:  # saved before that theory existed (run --retheory)
                continue
            if m == "paper" and row["pair"].split("/")[0] not in ("relu_centered", "erf"):
                continue
            dt, dr, _ = verdict(row, name)
            entry = out.setdefault((m, b, rn), {}).setdefault(regime(row), {"test": [], "train": []})
            entry["test"].append(100 * dt)
            entry["train"].append(100 * dr)
    return {
        theory: {
            where: {key: (round(min(v), 1), round(max(v), 1)) for key, v in sorted(values.items())}
            for where, values in sorted(by_regime.items())
        }
        for theory, by_regime in out.items()
    }


def summary(rows: list[dict]) -> str:
    """Per theory: the range of differences and how many rows meet the targets, by kind of student."""
    kinds = {
        "all": lambda r: True,
        "E σ'' ≠ 0 (relu, relu_centered, hermite)": lambda r: r["pair"].split("/")[0] != "erf",
        "odd student (erf)": lambda r: r["pair"].split("/")[0] == "erf",
        "α < width": lambda r: r["alpha"] < r["width"],
        "α ≥ width": lambda r: r["alpha"] >= r["width"],
    }
    out = ["| theory | rows | test min … max | train min … max | within targets |", "| --- " * 5 + "|"]
    for theory in theory_list():
        name = column_name(*theory)
        if not all(name in r for r in rows):
            continue
        for kind, keep in kinds.items():
            chosen = [r for r in rows if keep(r) and name in r]
            if not chosen:
                continue
            diffs = [verdict(r, name) for r in chosen]
            t = [100 * x[0] for x in diffs]
            tr = [100 * x[1] for x in diffs]
            ok = sum(x[2] for x in diffs)
            out.append(
                f"| {name}, {kind} | {len(chosen)} | {min(t):+.1f} … {max(t):+.1f} % | "
                f"{min(tr):+.1f} … {max(tr):+.1f} % | {ok}/{len(chosen)} |"
            )
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--full", action="store_true")
    parser.add_argument("--extra", action="store_true", help="the cases beyond the default subset")
    parser.add_argument("--dimension", type=int, default=None)
    parser.add_argument("--seeds", type=int, default=None)
    parser.add_argument("--first-seed", type=int, default=0, help="seeds first…first+seeds−1 (default 0)")
    parser.add_argument(
        "--case",
        action="append",
        default=None,
        metavar="PAIR:ALPHA0:WIDTH",
        help="run only this case (repeatable), e.g. relu/tanh:2:1, at α = 0.5 and 2",
    )
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--markdown", type=Path, nargs="+", help="print the table of saved --json runs")
    parser.add_argument("--retheory", action="store_true", help="with --markdown: recompute the theory")
    parser.add_argument(
        "--smaller",
        type=Path,
        nargs="*",
        default=(),
        help="with --markdown: saved runs at a smaller d (1/d fit)",
    )
    parser.add_argument("--n-jobs", type=int, default=None, help="simulation threads (default: all cores)")
    args = parser.parse_args()
    if args.markdown:
        saved = pool([row for path in args.markdown for row in json.loads(path.read_text())])
        smaller = pool([row for path in args.smaller for row in json.loads(path.read_text())])
        rows = extrapolate(retheory(saved) if args.retheory else saved, smaller)
        print(markdown(rows) + "\n\n" + summary(rows))
        print("\nMeasured ranges by regime (srf_engine/theory/fidelity.py):")
        pprint.pprint(ranges(rows), width=110)
        print(head_to_head(rows, "corrected+one_step_sampled", "corrected+one_step"))
        return
    cases = QUICK if args.quick else (full_cases() if args.full else (EXTRA if args.extra else SUBSET))
    if args.case:
        cases = [(pair, float(a0), float(w), (0.5, 2.0)) for pair, a0, w in (c.split(":") for c in args.case)]
    d = args.dimension or (800 if args.quick else 1500)
    seeds = args.seeds or (4 if args.quick else 8)
    print(
        f"η̃ = {ETA}, λ = {RIDGE}, d = {d}, {seeds} seeds; columns: network mean ± sem, then "
        f"{', '.join(_title(*t) for t in theory_list())} (value and difference to the network)"
    )
    rows = json.loads(args.json.read_text()) if args.json and args.json.exists() else []
    done = {(r["pair"], r["alpha0"], r["width"], r["d"], r["seeds"], r.get("first_seed", 0)) for r in rows}
    for case in cases:
        if (case[0], case[1], case[2], d, seeds, args.first_seed) in done:
            continue
        new = run_case(*case, d=d, seeds=seeds, n_jobs=args.n_jobs, first_seed=args.first_seed)
        for row in new:
            print_row(row)
        rows += new
        if args.json:
            args.json.write_text(json.dumps(rows, indent=1))
    misses = [r for r in rows if not verdict(r)[2]]
    worst_t = max(abs(verdict(r)[0]) for r in rows)
    worst_r = max(abs(verdict(r)[1]) for r in rows)
    print(
        f"corrected one-step theory: worst |test diff| {worst_t:.1%}, worst |train diff| {worst_r:.1%}; "
        f"{len(rows) - len(misses)}/{len(rows)} rows within targets (2 % test, 3 % train, or 2 sem)"
    )


if __name__ == "__main__":
    main()
