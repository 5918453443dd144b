"""The options of the ``srf`` command: their syntax, and the parser built from the request models.

``srf theory``, ``srf simulate`` and ``srf compare`` take the API's field names as options
(``learning_rate`` → ``--learning-rate``), one per field of the service's request model.
"""

from __future__ import annotations

import argparse
import difflib
import json
import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from srf_engine import ENGINE_VERSION

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000

#: Subcommand → the endpoint it mirrors.
COMMANDS: dict[str, str] = {
    "theory": "theory/curve",
    "simulate": "simulate",
    "compare": "compare",
    "function": "theory/function",
}
#: Subcommands that simulate (they take --jobs and --scheduler).
SIMULATING = ("simulate", "compare")


# ----------------------------------------------------------------------------- option values


def _json_or(text: str) -> Any | None:
    """``text`` parsed as JSON when it looks like JSON (object or list), else None."""
    stripped = text.strip()
    if stripped[:1] in "[{":
        try:
            return json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise argparse.ArgumentTypeError(f"invalid JSON {text!r}: {exc.msg}") from None
    return None


def parse_activation(text: str) -> str | dict[str, Any]:
    """A name (``tanh``) or a JSON object (``{"hermite": [0, 1, 0.5]}``)."""
    value = _json_or(text)
    if value is None:
        return text.strip()
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(
            f'expected a name or a JSON object like {{"hermite": [0, 1]}}, got {text!r}'
        )
    return value


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


def parse_number(text: str) -> float:
    """A finite number (NaN and infinities are refused here, as the API refuses them)."""
    value = _number(text)
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value


def parse_ridge(text: str) -> float | str:
    """A number ≥ 0, or ``optimal`` (theory only: the λ minimising the test error at each α)."""
    if text.strip().lower() == "optimal":
        return "optimal"
    return parse_number(text)


def parse_srf(text: str) -> dict[str, Any]:
    """``c,r,gamma`` or a JSON object ``{"c": …, "r": …, "gamma": …}``."""
    value = _json_or(text)
    if value is not None:
        if not isinstance(value, dict):
            raise argparse.ArgumentTypeError(f"expected c,r,gamma or a JSON object, got {text!r}")
        return value
    parts = [p for p in text.split(",") if p.strip()]
    if len(parts) != 3:
        raise argparse.ArgumentTypeError(f"expected three numbers c,r,gamma, got {text!r}")
    c, r, gamma = (parse_number(p) for p in parts)
    return {"c": c, "r": r, "gamma": gamma}


def parse_alphas(text: str) -> list[float]:
    """``0.2,0.9,1.6``, ``start:stop:num`` (``num`` evenly spaced values, both ends included) or JSON."""
    value = _json_or(text)
    if value is not None:
        if not isinstance(value, list):
            raise argparse.ArgumentTypeError(f"expected a list of numbers, got {text!r}")
        return value
    if ":" in text:
        parts = text.split(":")
        if len(parts) != 3:
            raise argparse.ArgumentTypeError(f"expected start:stop:num, got {text!r}")
        start, stop = parse_number(parts[0]), parse_number(parts[1])
        try:
            num = int(parts[2])
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"num in start:stop:num must be an integer, got {parts[2]!r}"
            ) from None
        if num < 1:
            raise argparse.ArgumentTypeError(f"num in start:stop:num must be ≥ 1, got {num}")
        if num == 1:
            return [start]
        step = (stop - start) / (num - 1)
        # Rounded so that 0.2:3:5 gives 0.9, not 0.8999999999999999 (and the same cache key as HTTP).
        return [round(start + i * step, 12) for i in range(num)]
    parts = [p for p in text.split(",") if p.strip()]
    if not parts:
        raise argparse.ArgumentTypeError("expected at least one value")
    return [parse_number(p) for p in parts]


def parse_axis(text: str) -> float | list[float]:
    """A grid axis: one number (``3``), or a list (``0.5,1,2``, ``start:stop:num`` or JSON)."""
    stripped = text.strip()
    if "," in stripped or ":" in stripped or stripped.startswith("["):
        return parse_alphas(stripped)
    return parse_number(stripped)


def parse_optimisable_axis(text: str) -> float | list[float] | str:
    """A grid axis, or ``optimal`` (theory: the value minimising the test error at each point)."""
    if text.strip().lower() == "optimal":
        return "optimal"
    return parse_axis(text)


def parse_steps(text: str) -> int | list[int]:
    """A step count (``3``) or a list of them (``1,2,4``, ``start:stop:num`` such as ``1:6:6``, or JSON)."""
    stripped = text.strip()
    if not ("," in stripped or ":" in stripped or stripped.startswith("[")):
        return parse_integer(stripped)
    values = parse_alphas(stripped)
    if not all(isinstance(v, int | float) and float(v) == int(v) for v in values):
        raise argparse.ArgumentTypeError(f"steps must be integers, got {text!r}")
    return [int(v) for v in values]


def parse_readout(text: str) -> str | dict[str, Any]:
    """A law's name (``rademacher``) or a JSON finite law ``{"values": [...], "weights": [...]}``."""
    value = _json_or(text)
    if value is None:
        return text.strip()
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(
            f'expected a name or {{"values": [...], "weights": [...]}}, got {text!r}'
        )
    return value


def parse_seeds(text: str) -> int | list[int]:
    """A count (``3``: seeds 0, 1, 2 as the API defines it) or a list (``1,5,9`` or JSON)."""
    value = _json_or(text)
    if value is not None:
        return value
    parts = [p.strip() for p in text.split(",") if p.strip()]
    try:
        numbers = [int(p) for p in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an integer count or a list of integers, got {text!r}"
        ) from None
    if not numbers:
        raise argparse.ArgumentTypeError("expected an integer count or a list of integers")
    return numbers[0] if len(numbers) == 1 and "," not in text else numbers


def parse_integer_list(text: str) -> list[int]:
    """``200,800`` or a JSON list of integers."""
    value = _json_or(text)
    if value is not None:
        return value if isinstance(value, list) else [value]
    try:
        return [int(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers separated by commas, got {text!r}") from None


def parse_integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None


def parse_any(text: str) -> Any:
    """Fields this CLI has no special syntax for: JSON when it parses (numbers, true/false), else text."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


# Known fields: option parser, metavar, help. Help text is short; the full rules are in the API docs.
KNOWN_FIELDS: dict[str, tuple[Callable[[str], Any], str, str]] = {
    "student": (
        parse_activation,
        "ACT",
        'student activation σ: a name (srf activations) or {"hermite": [c0, c1, …]}',
    ),
    "teacher": (
        parse_activation,
        "ACT",
        'teacher activation σ*: a name, a Hermite JSON object, or {"multi_index": {"sum": […], '
        '"hermite_terms": […]}} (simulations)',
    ),
    "learning_rate": (
        parse_optimisable_axis,
        "ETA",
        "normalised learning rate η̃ ≥ 0 of the first step; a list (0.5,1,2 or start:stop:num) asks a grid "
        "(theory also takes 'optimal')",
    ),
    "alpha0": (parse_axis, "A0", "first-step batch ratio n0/d ≥ 0 (0: no step), or a list"),
    "width": (parse_axis, "P_OVER_D", "width ratio p/d > 0, or a list"),
    "ridge": (
        parse_optimisable_axis,
        "LAMBDA",
        "readout ridge λ ≥ 0, or a list (theory also takes 'optimal')",
    ),
    "noise": (parse_axis, "DELTA", "label-noise variance Δ ≥ 0, or a list"),
    "srf": (
        parse_srf,
        "C,R,GAMMA",
        'sRF parameters, skipping the mapping: c,r,gamma or {"c":…,"r":…,"gamma":…}',
    ),
    "alphas": (parse_alphas, "LIST", "sample ratios n/d: 0.2,0.9,1.6 or start:stop:num or a JSON list"),
    "kappa": (parse_alphas, "LIST", "κ values of the learned function: --kappa=-4:4:81, a list, or JSON"),
    "model": (str, "MODEL", "what to simulate: network, srf or random_features"),
    "dimension": (parse_integer, "D", "input dimension d of the simulation"),
    "seeds": (parse_seeds, "SEEDS", "number of seeds, or a list of seeds: 1,2,3"),
    "test_samples": (parse_integer, "N", "fresh samples for the test error"),
    "steps": (
        parse_steps,
        "T",
        "giant steps before the readout: 3, or a list (1,2,4 or 1:6:6) as a grid axis",
    ),
    "readout": (
        parse_readout,
        "LAW",
        'readout at initialisation: uniform, rademacher, gaussian or {"values": […], "weights": […]}',
    ),
    "batches": (str, "WHICH", "fresh (a new batch each step) or reused (the same batch every step)"),
    "learning_rate_exponent": (parse_number, "BETA", "β in [0, 1]: the step grows as η̃·d^β"),
    "precision": (str, "DTYPE", "simulation arithmetic: float64 (default) or float32 (about twice as fast)"),
    "extrapolate_dimensions": (
        parse_integer_list,
        "D1,D2",
        "compare only: also simulate at these d and extrapolate the simulation in 1/d to d → ∞",
    ),
}


def option_name(field: str) -> str:
    return "--" + field.replace("_", "-")


# ----------------------------------------------------------------------------- parser


def request_model(command: str) -> Any:
    """The service's request model of ``command`` (what its endpoint validates)."""
    from ..work.prepare import ENDPOINT_OF

    models = {endpoint: model for model, endpoint in ENDPOINT_OF.items()}
    return models[COMMANDS[command]]


#: Fields whose option has a syntax of its own: their help shows it rather than the model's text.
CLI_SYNTAX = frozenset(
    {"student", "teacher", "alphas", "seeds", "srf", "ridge", "extrapolate_dimensions", "steps", "readout"}
)


def _field_help(info: Any, fallback: str, *, syntax: bool = False) -> str:
    """The model's own description (first line) and default, so ``--help`` matches Swagger UI; with
    ``syntax``, the option's own syntax instead of the description."""
    description = fallback if syntax else (info.description or fallback).strip().split("\n")[0]
    if not info.is_required():
        default = info.get_default(call_default_factory=True)
        if default not in (None, [], {}):
            description += f" (default: {json.dumps(default, default=str)})"
    return description.replace("%", "%%")  # argparse %-formats help strings


def _add_request_options(parser: argparse._ActionsContainer, command: str) -> None:
    """One option per field of the service's request model, named as the API names it."""
    fields = getattr(request_model(command), "model_fields", {})
    # The order of KNOWN_FIELDS (the API docs' order), not the models' (which follows their field groups).
    rank = {name: i for i, name in enumerate(KNOWN_FIELDS)}
    for field, info in sorted(fields.items(), key=lambda item: rank.get(item[0], len(rank))):
        parse, metavar, fallback = KNOWN_FIELDS.get(field, (parse_any, field.upper(), field))
        required = info.is_required()
        help_text = _field_help(info, fallback)
        if field in CLI_SYNTAX:  # the CLI's own syntax (start:stop:num, c,r,gamma, …) says more
            help_text = _field_help(info, fallback, syntax=True)
        parser.add_argument(
            option_name(field),
            dest=f"field_{field}",
            type=parse,
            metavar=metavar,
            default=argparse.SUPPRESS,  # unset options stay unset: the model's defaults apply, as over HTTP
            help=help_text + (" [required]" if required else ""),
        )


def _add_output_options(parser: argparse.ArgumentParser, command: str) -> None:
    group = parser.add_argument_group("input and output")
    group.add_argument(
        "--request",
        metavar="FILE.json",
        type=Path,
        help="read the request body from a JSON file ('-' for stdin); options given override its fields",
    )
    group.add_argument(
        "-o", "--output", metavar="FILE", type=Path, help="write the JSON here instead of stdout"
    )
    group.add_argument(
        "--plot",
        metavar="FILE",
        type=Path,
        help="also draw the result: PNG, SVG or PDF as the file's extension says (.png, .svg, .pdf)",
    )
    group.add_argument("--csv", metavar="FILE.csv", type=Path, help="also write one CSV row per point")
    figure = parser.add_argument_group("figure (with --plot)")
    figure.add_argument("--x", metavar="AXIS", help="axis on the x-axis (default alpha); it must be a list")
    figure.add_argument("--y", metavar="AXIS", help="with --x: a heatmap of the test error over x and y")
    figure.add_argument("--errors", metavar="WHICH", help="test (default), train, or test,train (two panels)")
    figure.add_argument("--dpi", type=parse_integer, metavar="N", help="resolution (default 100)")
    figure.add_argument("--size", metavar="WxH", help="figure size in inches, e.g. 8x5")
    figure.add_argument(
        "--view",
        metavar="VIEW",
        help="errors (default) or overlaps: a network simulation's first-layer overlaps with each teacher "
        "direction against the step",
    )
    if command in SIMULATING:
        group.add_argument(
            "-j",
            "--jobs",
            type=parse_integer,
            default=None,
            metavar="N",
            help="threads for the simulation (default: all available cores; results do not depend on it)",
        )
        group.add_argument(
            "--scheduler",
            metavar="ADDRESS",
            default=None,
            help="run the simulation on the Dask cluster of this scheduler, e.g. tcp://host:8786 (needs "
            "srf[dask]; the same numbers bit for bit; see docs/scaling.md)",
        )
    group.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar on stderr (default: only when stderr is a terminal)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="srf",
        description=(
            "Two-layer networks after one giant gradient step (spiked random features, "
            "Cui et al., ICML 2024): exact asymptotic theory, simulations, and the HTTP service."
        ),
        epilog="Options of theory/simulate/compare are the API's fields; see http://127.0.0.1:8000/docs.",
    )
    parser.add_argument("--version", action="version", version=f"srf {ENGINE_VERSION}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    listing = commands.add_parser(
        "activations",
        help="list the activation names accepted by --student and --teacher",
        description="The activations accepted as student and teacher (what GET /activations lists).",
    )
    listing.add_argument("--json", action="store_true", help="print the JSON of GET /activations")

    serve = commands.add_parser("serve", help="run the HTTP service (Swagger UI at /docs)")
    serve.add_argument("--host", default=DEFAULT_HOST, help=f"interface to bind (default: {DEFAULT_HOST})")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default: {DEFAULT_PORT})")
    serve.add_argument("--reload", action="store_true", help="restart when the sources change (development)")
    serve.add_argument(
        "--workers", type=int, default=None, help="worker processes (they share the cache file)"
    )
    serve.add_argument("--log-level", default="info", help="uvicorn log level (default: info)")

    from .cache import add_parser as add_cache_parser  # the store's own commands

    add_cache_parser(commands)

    for command, endpoint_name in COMMANDS.items():
        endpoint = f"POST /{endpoint_name}"
        sub = commands.add_parser(
            command,
            help=f"what {endpoint} computes, printed as JSON",
            description=f"Compute what {endpoint} computes and print the same JSON body.",
        )
        _add_request_options(sub.add_argument_group("request (the API's fields)"), command)
        _add_output_options(sub, command)
    return parser


def _subparser(parser: argparse.ArgumentParser, argv: Sequence[str]) -> argparse.ArgumentParser:
    """The subcommand's parser named in ``argv`` (the main parser if none is)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for word in argv:
                if word in action.choices:
                    return action.choices[word]
    return parser


def parse_arguments(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """``parser.parse_args``, except that an unknown option gets a suggestion: ``--learning_rate``
    (the API's spelling) → ``--learning-rate``; a near miss → the closest options."""
    words = list(sys.argv[1:] if argv is None else argv)
    sub = _subparser(parser, words)
    known = [s for action in sub._actions for s in action.option_strings if s.startswith("--")]
    for i, word in enumerate(words):
        if word == "--":
            break
        name = word.split("=", 1)[0]
        matches = [option for option in known if option.startswith(name)] if name.startswith("--") else []
        shortest = min(matches, key=len, default="")
        if len(matches) > 1 and name not in known and all(m.startswith(shortest) for m in matches):
            # --learn: --learning-rate, not --learning-rate-exponent (which only extends it)
            words[i] = shortest + word[len(name) :]
            continue
        if not name.startswith("--") or any(option.startswith(name) for option in known):
            continue  # known, or an abbreviation argparse resolves (or reports as ambiguous) itself
        dashed = name.replace("_", "-")
        if dashed in known:
            sub.error(f"unrecognized option {name}; did you mean {dashed}? (options use dashes)")
        close = difflib.get_close_matches(name, known, n=2)
        if close:
            sub.error(f"unrecognized option {name}; did you mean {' or '.join(close)}?")
    return parser.parse_args(words)
