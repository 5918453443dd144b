"""The ``srf`` command line: run the service, or compute what its endpoints compute.

``srf theory``, ``srf simulate`` and ``srf compare`` take the API's field names as options
(``learning_rate`` → ``--learning-rate``), build the service's own request model from them, so that
validation and defaults are exactly those of HTTP, and print the same JSON body as the endpoint.
``srf serve`` starts the HTTP service and says where Swagger UI is.

Exit codes: 0 success, 2 bad input (the message names the option), 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any, NoReturn

from .errors import InvalidParameterError
from .version import ENGINE_VERSION

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000

# Subcommand → (request model in service.schemas, function in service.compute, endpoint it mirrors).
COMMANDS: dict[str, tuple[str, str, str]] = {
    "theory": ("TheoryRequest", "run_theory", "POST /theory/curve"),
    "simulate": ("SimulateRequest", "run_simulate", "POST /simulate"),
    "compare": ("CompareRequest", "run_compare", "POST /compare"),
}


class UsageError(Exception):
    """Bad input from the user: reported as ``srf <command>: error: …`` with exit code 2."""


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
    "teacher": (parse_activation, "ACT", "teacher activation σ*: a name or a Hermite JSON object"),
    "learning_rate": (parse_number, "ETA", "normalised learning rate η̃ ≥ 0 of the first step"),
    "alpha0": (parse_number, "A0", "first-step batch ratio n0/d ≥ 0 (0: no step, random features)"),
    "width": (parse_number, "P_OVER_D", "width ratio p/d > 0"),
    "ridge": (parse_ridge, "LAMBDA", "readout ridge λ ≥ 0 (theory also takes 'optimal')"),
    "noise": (parse_number, "DELTA", "label-noise variance Δ ≥ 0"),
    "srf": (
        parse_srf,
        "C,R,GAMMA",
        'sRF parameters, skipping the mapping: c,r,gamma or {"c":…,"r":…,"gamma":…}',
    ),
    "alphas": (parse_alphas, "LIST", "sample ratios n/d: 0.2,0.9,1.6 or start:stop:num or a JSON list"),
    "model": (str, "MODEL", "what to simulate: network, srf or random_features"),
    "dimension": (parse_integer, "D", "input dimension d of the simulation"),
    "seeds": (parse_seeds, "SEEDS", "number of seeds, or a list of seeds: 1,2,3"),
    "test_samples": (parse_integer, "N", "fresh samples for the test error"),
    "extrapolate_dimensions": (
        parse_integer_list,
        "D1,D2",
        "compare only: also simulate at these d and extrapolate the simulation in 1/d to d → ∞",
    ),
}


def option_name(field: str) -> str:
    return "--" + field.replace("_", "-")


# ----------------------------------------------------------------------------- parser


def _request_model(command: str) -> Any:
    from service import schemas

    return getattr(schemas, COMMANDS[command][0])


def _field_help(info: Any, fallback: str) -> str:
    """The model's own description (first line) and default, so ``--help`` matches Swagger UI."""
    description = (info.description or fallback).strip().split("\n")[0]
    if not info.is_required():
        default = info.get_default(call_default_factory=True)
        if default not in (None, [], {}):
            description += f" (default: {json.dumps(default, default=str)})"
    return description.replace("%", "%%")  # argparse %-formats help strings


def _add_request_options(parser: argparse._ActionsContainer, command: str) -> None:
    """One option per field of the service's request model, named as the API names it."""
    fields = getattr(_request_model(command), "model_fields", {})
    for field, info in fields.items():
        parse, metavar, fallback = KNOWN_FIELDS.get(field, (parse_any, field.upper(), field))
        required = info.is_required()
        help_text = _field_help(info, fallback)
        if field in {"student", "teacher"}:  # the model's description is the same for both
            help_text = fallback
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
    group.add_argument("--plot", metavar="FILE.png", type=Path, help="also draw the result as a PNG")
    if command != "theory":
        group.add_argument(
            "-j",
            "--jobs",
            type=parse_integer,
            default=None,
            metavar="N",
            help="threads for the simulation (default: all available cores; results do not depend on it)",
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

    serve = commands.add_parser("serve", help="run the HTTP service (Swagger UI at /docs)")
    serve.add_argument("--host", default=DEFAULT_HOST, help=f"interface to bind (default: {DEFAULT_HOST})")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default: {DEFAULT_PORT})")
    serve.add_argument("--reload", action="store_true", help="restart when the sources change (development)")
    serve.add_argument(
        "--workers", type=int, default=None, help="worker processes (they share the cache file)"
    )
    serve.add_argument("--log-level", default="info", help="uvicorn log level (default: info)")

    for command, (_, _, endpoint) in COMMANDS.items():
        sub = commands.add_parser(
            command,
            help=f"what {endpoint} computes, printed as JSON",
            description=f"Compute what {endpoint} computes and print the same JSON body.",
        )
        _add_request_options(sub.add_argument_group("request (the API's fields)"), command)
        _add_output_options(sub, command)
    return parser


# ----------------------------------------------------------------------------- running


def _error_location(loc: Sequence[Any]) -> str:
    """``("srf", "c")`` → ``--srf (c)``; ``("alphas", 2)`` → ``--alphas (item 2)``; ``hermite[2]``."""
    if not loc:
        return "request"
    head, *rest = loc
    detail = ""
    for part in rest:
        if isinstance(part, int):
            detail += f"[{part}]" if detail else f"item {part}"
        else:
            detail += f".{part}" if detail else str(part)
    name = option_name(head) if isinstance(head, str) else str(head)
    return f"{name} ({detail})" if detail else name


def _validation_message(exc: Any) -> str:
    """One line per problem, located by option name: ``--alphas (item 0): Input should be …``."""
    from service import schemas

    # Union tags (activation-name, seed-count, …) are how pydantic locates an error, not field names.
    tags = set(getattr(schemas, "UNION_TAGS", ()))
    lines = []
    for error in exc.errors():
        loc = [p for p in error.get("loc", ()) if p not in tags and not (isinstance(p, str) and "[" in p)]
        message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
        lines.append(f"{_error_location(loc)}: {message}")
    return "; ".join(dict.fromkeys(lines))


def build_request(command: str, args: argparse.Namespace) -> Any:
    """The service's request model from the options given (plus ``--request``), validated as HTTP would."""
    from pydantic import ValidationError

    body: dict[str, Any] = {}
    if args.request is not None:
        try:
            text = sys.stdin.read() if str(args.request) == "-" else args.request.read_text()
            body = json.loads(text)
        except (OSError, json.JSONDecodeError) as exc:
            raise UsageError(f"--request: cannot read a JSON object from {args.request}: {exc}") from None
        if not isinstance(body, dict):
            raise UsageError("--request: the file must hold a JSON object")
    body.update(
        {key[len("field_") :]: value for key, value in vars(args).items() if key.startswith("field_")}
    )
    try:
        return _request_model(command).model_validate(body)
    except ValidationError as exc:
        raise UsageError(_validation_message(exc)) from None


def _progress_bar(
    enabled: bool | None, description: str
) -> AbstractContextManager[Callable[[float], None] | None]:
    """A tqdm bar on stderr driven by the engine's fraction-done callback (0..1)."""
    if enabled is False:
        return nullcontext(None)
    from tqdm import tqdm

    @contextmanager
    def bar_context() -> Any:
        # disable=None: tqdm shows the bar only on a terminal unless --progress forces it.
        with tqdm(
            total=100,
            desc=description,
            unit="%",
            file=sys.stderr,
            disable=None if enabled is None else False,
            leave=False,
            bar_format="{desc}: {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}]",
        ) as bar:

            def update(fraction: float) -> None:
                target = 100.0 * min(max(float(fraction), 0.0), 1.0)
                if target > bar.n:
                    bar.update(target - bar.n)

            yield update

    return bar_context()


def _json_default(value: Any) -> Any:
    """numpy scalars and arrays, should a result carry any."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    raise TypeError(f"cannot serialise {type(value).__name__}")


def _write_plot(command: str, result: dict[str, Any], path: Path) -> None:
    """The service's figure of the result (``compare`` is what ``POST /compare?format=png`` returns)."""
    from service import plotting

    draw = {"compare": plotting.compare_png, "theory": plotting.theory_png, "simulate": plotting.simulate_png}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(draw[command](result))


def _physical_memory() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # not POSIX
        return None


def _check_simulation_fits(request: Any, n_jobs: int) -> None:
    """Refuse, like the service's 413 but against this machine, a simulation that cannot fit in memory;
    announce a long one. The service's own limits (SRF_MAX_*) protect a shared server, not this."""
    from service.canonical import normalise

    from .cost import estimate_cost

    normal = normalise(request)  # what compute hands the engine
    estimate = estimate_cost(
        model=normal["model"],
        dimension=normal["dimension"],
        width=normal["width"],
        alphas=normal["alphas"],
        alpha0=normal["alpha0"],
        seeds=len(normal["seeds"]),
        test_samples=normal["test_samples"],
        zero_ridge=normal["ridge"] == 0,
        n_jobs=n_jobs,
    )
    memory = _physical_memory()
    if memory is not None and estimate.memory_bytes > 0.8 * memory:
        raise UsageError(
            f"--dimension: the simulation needs about {estimate.memory_bytes / 2**30:.1f} GiB of memory, "
            f"more than this machine can give ({memory / 2**30:.1f} GiB); reduce --dimension, --width, "
            "the largest --alphas or --test-samples"
        )
    if estimate.seconds > 30:
        print(f"srf: this simulation should take about {estimate.seconds:.0f} s", file=sys.stderr)


def _jobs(jobs: int | None) -> int:
    if jobs is None:
        from .cost import available_cores

        return available_cores()
    if jobs < 1:
        raise UsageError(f"--jobs: must be ≥ 1, got {jobs}")
    return jobs


def run_command(command: str, args: argparse.Namespace) -> int:
    request = build_request(command, args)
    from service import compute  # after validation: bad input is reported even if compute is heavy

    run = getattr(compute, COMMANDS[command][1])
    options: dict[str, Any] = {}
    if command != "theory":
        # The service runs simulations on SRF_SIMULATION_JOBS threads; locally the machine is ours.
        options["n_jobs"] = _jobs(args.jobs)
        _check_simulation_fits(request, options["n_jobs"])
    with _progress_bar(args.progress, command) as progress:
        result = run(request, progress=progress, **options)
    # ensure_ascii=False: the same characters as the HTTP body (≤, §), not \u escapes.
    text = json.dumps(result, indent=2, ensure_ascii=False, default=_json_default) + "\n"
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    if args.plot is not None:
        _write_plot(command, result, args.plot)
    return 0


def serve(args: argparse.Namespace) -> int:
    """Start uvicorn on ``service.app:app`` after saying where Swagger UI and the cache are."""
    import uvicorn

    shown_host = "127.0.0.1" if args.host in {"0.0.0.0", "::", ""} else args.host
    if ":" in shown_host:
        shown_host = f"[{shown_host}]"
    base = f"http://{shown_host}:{args.port}"
    try:
        from service.settings import get_settings

        cache = f"{get_settings().cache_path} (set SRF_CACHE_PATH to change)"
    except Exception as exc:  # a broken setting must not hide where the docs are; uvicorn reports it
        cache = f"unavailable ({exc})"
    print(f"srf {ENGINE_VERSION}: serving the API at {base}", flush=True)
    print(f"Swagger UI: {base}/docs   (OpenAPI schema: {base}/openapi.json)", flush=True)
    print(f"Cache: {cache}", flush=True)
    uvicorn.run(
        "service.app:app",
        host=args.host,
        port=args.port,
        reload=args.reload,
        workers=args.workers,
        log_level=args.log_level,
    )
    return 0


def _message(exc: BaseException) -> str:
    if isinstance(exc, InvalidParameterError):
        field, _, rest = exc.field.partition(".")
        location = option_name(field) + (f" ({rest})" if rest else "")
        return f"{location}: {exc.rule}"
    detail = getattr(exc, "detail", None)
    return str(detail if detail is not None else exc)


def _is_client_error(exc: BaseException) -> bool:
    """An HTTP-style error the service raises for bad input or limits (4xx), e.g. dimension too large."""
    status = getattr(exc, "status_code", None)
    return isinstance(status, int) and 400 <= status < 500


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``srf`` and ``python -m srf_engine``; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "serve":
            return serve(args)
        return run_command(args.command, args)
    except KeyboardInterrupt:
        print("srf: interrupted", file=sys.stderr)
        return 130
    except (UsageError, InvalidParameterError) as exc:
        _fail(args.command, _message(exc))
    except Exception as exc:
        if _is_client_error(exc):  # e.g. a limit of the service (413): the user's to fix, not a bug
            _fail(args.command, _message(exc))
        raise


def _fail(command: str, message: str) -> NoReturn:
    """argparse's format and exit code for errors found after parsing."""
    print(f"srf {command}: error: {message}", file=sys.stderr)
    raise SystemExit(2)


if __name__ == "__main__":
    sys.exit(main())
