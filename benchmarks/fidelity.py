"""Fidelity of the theory to the real one-step network (docs/theory.md §10): a validation table.

For each case (student/teacher, α0, width; η̃ = 2, λ = 0.05, Δ = 0) the network of docs/theory.md §2 is
simulated at dimension ``d`` over ``seeds`` seeds, and its test and training errors are set against
three theories: the paper's mapping with the Marchenko–Pastur bulk (§3 + §5), the corrected mapping with
the same bulk (§10.2), and the corrected mapping with the one-step bulk law (§10.2 + §10.3). Each theory
column shows its value and its relative difference to the network mean; ``sem`` is the network's
standard error over seeds. A row is marked ``ok`` when the corrected one-step theory is within the
targets (2 % test, 3 % train) or within 2 sem, ``MISS`` otherwise.

    python benchmarks/fidelity.py                # the representative subset, d = 1500, 8 seeds
    python benchmarks/fidelity.py --quick        # two cases, d = 800, 4 seeds
    python benchmarks/fidelity.py --extra        # six more cases (other widths and batch sizes)
    python benchmarks/fidelity.py --full         # every student/teacher × α0 ∈ {1,2,5,20} × width 0.5/1/2
    python benchmarks/fidelity.py --json out.json    # save rows; an existing file is resumed
    python benchmarks/fidelity.py --markdown a.json --retheory   # table of saved runs, new theory

Finite size: at d = 1500 the network is not extrapolated in 1/d; the §9 drift at this size is about 1 %.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from srf_engine import Problem, simulate
from srf_engine.theory import theory_curve

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
THEORIES = (("paper", "marchenko_pastur"), ("corrected", "marchenko_pastur"), ("corrected", "one_step"))
#: Columns with the row-norm channel of docs/theory.md §10.4 (``row_norm=True``); the others have none.
ROW_NORM_THEORIES = (("corrected", "one_step"),)


def column_name(mapping: str, bulk: str, row_norm: bool = False) -> str:
    return f"{mapping}+{bulk}" + ("+row_norm" if row_norm else "")


def theory_list() -> list[tuple[str, str, bool]]:
    return [(m, b, False) for m, b in THEORIES] + [(m, b, True) for m, b in ROW_NORM_THEORIES]


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
    """Recompute the theory columns of saved rows (the network values are kept)."""
    for row in rows:
        columns = theory_columns(row["pair"], row["alpha0"], row["width"], [row["alpha"]])
        row.update({name: values[0] for name, values in columns.items()})
    return rows


def run_case(
    pair: str, alpha0: float, width: float, alphas, d: int, seeds: int, n_jobs: int | None = None
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
        seeds=seeds,
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


def verdict(row: dict, name: str = "corrected+one_step") -> tuple[float, float, bool]:
    net, th = row["network"], row[name]
    dt, dr = th["test"] / net["test"] - 1, th["train"] / net["train"] - 1
    ok_test = abs(dt) <= TEST_TARGET or abs(th["test"] - net["test"]) <= 2 * net["test_sem"]
    ok_train = abs(dr) <= TRAIN_TARGET or abs(th["train"] - net["train"]) <= 2 * net["train_sem"]
    return dt, dr, ok_test and ok_train


def print_row(row: dict) -> None:
    net = row["network"]
    cells = [f"{row['pair']:<19} α0={row['alpha0']:<4g} w={row['width']:<3g} α={row['alpha']:<4g}"]
    for key in ("test", "train"):
        cells.append(f"{key} net {net[key]:.4f}±{net[key + '_sem']:.4f}")
        for m, b, rn in theory_list():
            th = row.get(column_name(m, b, rn))
            if th is not None:
                cells.append(f"{th[key]:.4f} ({th[key] / net[key] - 1:+.1%})")
    cells.append("ok" if verdict(row)[2] else "MISS")
    print(" | ".join(cells), flush=True)


def markdown(rows: list[dict]) -> str:
    """The table as Markdown (docs/theory.md §10.5, README)."""
    names = [column_name(*t) for t in theory_list() if all(column_name(*t) in r for r in rows)]
    short = {"marchenko_pastur": "MP", "one_step": "one-step", "row_norm": "row-norm"}
    titles = " | ".join("+".join(short.get(part, part) for part in n.split("+")) for n in names)
    head = (
        f"| case | α | network test ± sem | {titles} | network train ± sem | {titles} |\n"
        + "| --- " * (4 + 2 * len(names))
        + "|\n"
    )
    lines = []
    for row in rows:
        net = row["network"]
        cells = [f"{row['pair']}, α0 = {row['alpha0']:g}, width {row['width']:g}", f"{row['alpha']:g}"]
        for key in ("test", "train"):
            cells.append(f"{net[key]:.4f} ± {net[key + '_sem']:.4f}")
            for name in names:
                th = row[name][key]
                cells.append(f"{th / net[key] - 1:+.1%}".replace("%", " %"))
        lines.append("| " + " | ".join(cells) + " |")
    return head + "\n".join(lines)


def summary(rows: list[dict]) -> str:
    """Per theory column: the worst test and training differences and the rows within the targets."""
    out = []
    for t in theory_list():
        name = column_name(*t)
        if not all(name in r for r in rows):
            continue
        v = [verdict(r, name) for r in rows]
        out.append(
            f"{name}: test {min(x[0] for x in v):+.1%} … {max(x[0] for x in v):+.1%}, train "
            f"{min(x[1] for x in v):+.1%} … {max(x[1] for x in v):+.1%}; "
            f"{sum(x[2] for x in v)}/{len(v)} rows within targets"
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
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--markdown", type=Path, nargs="+", help="print the table of saved --json runs")
    parser.add_argument("--retheory", action="store_true", help="with --markdown: recompute the theory")
    parser.add_argument("--n-jobs", type=int, default=None, help="simulation threads (default: all cores)")
    args = parser.parse_args()
    if args.markdown:
        saved = [row for path in args.markdown for row in json.loads(path.read_text())]
        rows = retheory(saved) if args.retheory else saved
        print(markdown(rows))
        print()
        print(summary(rows))
        return
    cases = QUICK if args.quick else (full_cases() if args.full else (EXTRA if args.extra else SUBSET))
    d = args.dimension or (800 if args.quick else 1500)
    seeds = args.seeds or (4 if args.quick else 8)
    print(
        f"η̃ = {ETA}, λ = {RIDGE}, d = {d}, {seeds} seeds; columns: network mean ± sem, then "
        "paper+MP, corrected+MP, corrected+one-step, corrected+one-step+row-norm "
        "(value and difference to the network)"
    )
    rows = json.loads(args.json.read_text()) if args.json and args.json.exists() else []
    done = {(r["pair"], r["alpha0"], r["width"], r["d"], r["seeds"]) for r in rows}
    for case in cases:
        if (case[0], case[1], case[2], d, seeds) in done:
            continue
        new = run_case(*case, d=d, seeds=seeds, n_jobs=args.n_jobs)
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
