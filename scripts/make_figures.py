"""Draw the gallery of docs/figures/ (shown in the README) with the service's own figures.

    python scripts/make_figures.py [--quick] [--only NAME ...] [--out DIR]

Each figure is a request computed in-process exactly as the HTTP service would (``prepare`` then
``compute_body``) and drawn as ``?format=png`` draws it, with the smooth theory; the phase diagram
also asks the theory's exact optimal η̃ along α. About five minutes on 2 cores; ``--quick`` shrinks
the simulations and grids to check the script in well under a minute.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from service.render.figures import make_figure  # noqa: E402
from service.render.formats import FigureOptions, Output  # noqa: E402
from service.schemas import TheoryRequest  # noqa: E402
from service.work.pipeline import compute_body  # noqa: E402
from service.work.prepare import ENDPOINT_OF, prepare  # noqa: E402

#: docs/theory.md §7: tanh student, sin teacher, η̃ = 3, α0 = 20, λ = 0.1.
SECTION7 = {"student": "tanh", "teacher": "sin", "learning_rate": 3.0, "alpha0": 20.0, "ridge": 0.1}
#: docs/theory.md §11.3: the staircase z1 + z1·z2, relu student, ±1 readout, three giant steps.
STAIRCASE = {
    "student": "relu",
    "teacher": {
        "multi_index": {
            "hermite_terms": [{"coefficient": 1, "orders": [1, 0]}, {"coefficient": 1, "orders": [1, 1]}]
        }
    },
    "learning_rate": 3.0,
    "alpha0": 2.0,
    "ridge": 0.05,
    "alphas": [4.0],
    "readout": "rademacher",
    "model": "network",
}
#: docs/theory.md §12.2: relu student, tanh teacher, η̃ = 2, α0 = 2, λ = 0.05 (the slow network test's case).
RELU_READOUT = {"student": "relu", "teacher": "tanh", "learning_rate": 2.0, "alpha0": 2.0, "ridge": 0.05}
MODELS = {endpoint: model for model, endpoint in ENDPOINT_OF.items()}


def _grid(start: float, stop: float, num: int, *, log: bool = False) -> list[float]:
    values = np.geomspace(start, stop, num) if log else np.linspace(start, stop, num)
    return [round(float(v), 6) for v in values]


def figures(quick: bool) -> dict[str, tuple[str, dict[str, Any], FigureOptions]]:
    """name → (endpoint, request body, figure options)."""
    d, seeds = (200, 2) if quick else (1000, 3)
    n = 8 if quick else 40
    return {
        "section7_compare": (
            "compare",
            {
                **SECTION7,
                "alphas": _grid(0.2, 3.0, 5 if quick else 8),
                "model": "network",
                "dimension": d,
                "seeds": seeds,
            },
            FigureOptions(errors=("test", "train")),
        ),
        "learning_rate_sweep": (
            "theory/curve",
            {
                **SECTION7,
                "learning_rate": _grid(0.05, 30, n, log=True),
                "alpha0": [5.0, 20.0, 80.0],
                "alphas": [1.0],
            },
            FigureOptions(x="learning_rate"),
        ),
        "phase_diagram": (
            "theory/curve",
            {**SECTION7, "learning_rate": _grid(0.1, 30, n, log=True), "alphas": _grid(0.1, 10, n, log=True)},
            FigureOptions(x="alpha", y="learning_rate", size=(7.0, 5.4)),
        ),
        "learned_function": (
            "theory/function",
            {**SECTION7, "alphas": [0.5, 2.0, 8.0]},
            FigureOptions(),
        ),
        "learned_function_relu_uniform": (
            "theory/function",
            {**RELU_READOUT, "alphas": [0.5, 2.0, 8.0], "bulk": "marchenko_pastur"},
            FigureOptions(),
        ),
        "learned_function_relu_rademacher": (
            "theory/function",
            {**RELU_READOUT, "alphas": [0.5, 2.0, 8.0], "bulk": "marchenko_pastur", "readout": "rademacher"},
            FigureOptions(),
        ),
        "staircase_overlaps": (
            "simulate",
            {**STAIRCASE, "steps": [1, 2, 3, 4], "dimension": d, "seeds": seeds},
            FigureOptions(view="overlaps"),
        ),
        "staircase_steps": (
            "simulate",
            {**STAIRCASE, "steps": [1, 2, 3, 4], "dimension": d, "seeds": seeds},
            FigureOptions(x="steps"),
        ),
        "network_two_widths": (
            "compare",
            {
                **SECTION7,
                "width": [0.5, 2.0],
                "alphas": _grid(0.2, 3.0, 4 if quick else 6),
                "model": "network",
                "dimension": d,
                "seeds": seeds,
            },
            FigureOptions(),
        ),
    }


def _theory(normal: dict[str, Any]) -> dict[str, Any]:
    return compute_body(prepare(TheoryRequest.model_validate(normal)))


def draw(name: str, endpoint: str, body: dict[str, Any], options: FigureOptions, out: Path) -> float:
    started = time.perf_counter()
    result = compute_body(prepare(MODELS[endpoint].model_validate(body)))
    for warning in result.get("warnings", []):
        print(f"  {name}: warning: {warning}", file=sys.stderr)
    # Offline: the exact optimum and four times the smooth theory's points of a served figure.
    image = make_figure(result, Output("png", options), theory=_theory, exact_optimum=True, detail=4)
    (out / f"{name}.png").write_bytes(image)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small simulations and grids (a smoke run)")
    parser.add_argument("--only", nargs="*", metavar="NAME", help="only these figures")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "figures", help="output directory")
    args = parser.parse_args(argv)
    table = figures(args.quick)
    unknown = set(args.only or ()) - set(table)
    if unknown:
        parser.error(f"unknown figure(s) {', '.join(sorted(unknown))}; known: {', '.join(table)}")
    args.out.mkdir(parents=True, exist_ok=True)
    total = 0.0
    for name, (endpoint, body, options) in table.items():
        if args.only and name not in args.only:
            continue
        seconds = draw(name, endpoint, body, options, args.out)
        total += seconds
        print(f"{name}.png  {seconds:6.1f} s", flush=True)
    print(f"total {total:.1f} s -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
