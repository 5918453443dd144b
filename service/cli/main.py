"""The ``srf`` command line: run the service, or compute what its endpoints compute.

``srf theory``, ``srf simulate`` and ``srf compare`` build the service's own request model from their
options (see :mod:`.parse`), so that validation and defaults are exactly those of HTTP, prepare it as
the service does, and print the same JSON body as the endpoint. ``srf serve`` starts the HTTP service
and says where Swagger UI is.

Exit codes: 0 success, 1 the Dask cluster of ``--scheduler`` failed or is unreachable, 2 bad input (the
message names the option), 130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import os
import socket
import sys
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any, NoReturn

from srf_engine import ENGINE_VERSION, InvalidParameterError
from srf_engine.errors import ClusterError
from srf_engine.simulation import cost

from ..work.limits import grid_estimate
from ..work.prepare import Prepared, prepare
from .parse import SIMULATING, build_parser, option_name, parse_arguments, request_model


class UsageError(Exception):
    """Bad input from the user: reported as ``srf <command>: error: …`` with exit code 2."""


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
    from .. import schemas

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
        return request_model(command).model_validate(body)
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


def _figure_output(args: argparse.Namespace) -> Any:
    """The figure asked by ``--plot FILE`` (its format from the extension) and the figure options,
    checked before any work; None without ``--plot``."""
    from ..render.formats import FIGURES, InvalidOption, parse_output

    given = {name: getattr(args, name, None) for name in ("x", "y", "errors", "dpi", "size", "view")}
    if args.plot is None:
        named = [f"--{name}" for name, value in given.items() if value is not None]
        if named:
            raise UsageError(f"{named[0]}: figure options need --plot FILE")
        return None
    fmt = args.plot.suffix.lower().lstrip(".")
    if fmt not in FIGURES:
        raise UsageError(f"--plot: the file name must end in .png, .svg or .pdf (got {args.plot.name!r})")
    try:
        return parse_output(FIGURES, fmt, None, **given)
    except InvalidOption as exc:
        raise UsageError(f"--{exc.detail}") from None


def _check_figure(output: Any, prepared: Prepared) -> None:
    from ..render.formats import InvalidOption
    from ..render.respond import check_request

    try:
        check_request(output, prepared.endpoint, prepared.normal)
    except InvalidOption as exc:
        raise UsageError(f"--{exc.detail}") from None


def _write_figure(result: dict[str, Any], output: Any, path: Path) -> None:
    """The service's figure of the result, with the smooth theory computed here (not cached)."""
    from ..render.figures import make_figure
    from ..schemas import TheoryRequest
    from ..work.pipeline import compute_body

    def theory(normal: dict[str, Any]) -> dict[str, Any]:
        return compute_body(prepare(TheoryRequest.model_validate(normal)))

    _write("--plot", path, make_figure(result, output, theory=theory))


def _write_csv(result: dict[str, Any], path: Path) -> None:
    from ..render.tables import to_csv

    _write("--csv", path, to_csv(result).encode("utf-8"))


def _physical_memory() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # not POSIX
        return None


def _check_simulation_fits(prepared: Prepared, n_jobs: int, cluster: cost.ClusterShape | None = None) -> None:
    """Refuse, like the service's 413 but against this machine (or the Dask workers' memory limit), a
    simulation that cannot fit in memory; announce a long one. The service's own limits (SRF_MAX_*)
    protect a shared server, not this."""
    parts = list(prepared.simulation_parts.values()) if prepared.parts else [prepared]
    estimates = []
    for part in parts:
        estimates.append(grid_estimate(part, n_jobs, cluster))
    memory_bytes = max(e.memory_bytes for e in estimates)
    seconds = sum(e.seconds for e in estimates)
    memory = _physical_memory() if cluster is None else cluster.memory_limit
    where = "this machine" if cluster is None else "each Dask worker (its --memory-limit)"
    if memory is not None and memory_bytes > 0.8 * memory:
        raise UsageError(
            f"--dimension: the simulation needs about {memory_bytes / 2**30:.1f} GiB of memory, "
            f"more than {where} can give ({memory / 2**30:.1f} GiB); reduce --dimension, --width, "
            "the largest --alphas or --test-samples"
        )
    if seconds > 30:
        print(f"srf: this simulation should take about {seconds:.0f} s", file=sys.stderr)


def _cluster_client(address: str) -> Any:
    """A client of the Dask scheduler at ``address`` (``--scheduler``); a context manager that closes it."""
    from srf_engine.simulation import cluster

    try:
        import distributed  # noqa: F401
    except ImportError:
        raise UsageError("--scheduler: needs Dask's distributed; pip install 'srf[dask]'") from None
    return cluster.connect(address)


def _cluster_shape(client: Any) -> cost.ClusterShape:
    from srf_engine.simulation import cluster

    return cluster.cluster_shape(client)


def _jobs(jobs: int | None) -> int:
    if jobs is None:
        return cost.available_cores()
    if jobs < 1:
        raise UsageError(f"--jobs: must be ≥ 1, got {jobs}")
    return jobs


def _check_writable(option: str, path: Path | None) -> None:
    """Refuse before any work a path that cannot be written: a missing folder is not created."""
    if path is None:
        return
    folder = path.parent
    if not folder.is_dir():
        raise UsageError(f"{option}: the folder {folder} does not exist (create it first)")
    if path.is_dir():
        raise UsageError(f"{option}: {path} is a folder, not a file")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise UsageError(f"{option}: cannot write {path} (permission denied)")


def _write(option: str, path: Path, data: bytes) -> None:
    try:
        path.write_bytes(data)
    except OSError as exc:
        raise UsageError(f"{option}: cannot write {path}: {exc.strerror or exc}") from None


def _print_warnings(result: dict[str, Any]) -> None:
    """The result's warnings on stderr, also when the JSON goes to a file (where nobody reads them)."""
    for warning in result.get("warnings") or ():
        print(f"srf: warning: {warning}", file=sys.stderr)


def run_command(command: str, args: argparse.Namespace) -> int:
    figure = _figure_output(args)
    prepared = prepare(build_request(command, args))
    if figure is not None:
        _check_figure(figure, prepared)
    for option, path in (("--output", args.output), ("--csv", args.csv), ("--plot", args.plot)):
        _check_writable(option, path)
    from ..work.pipeline import (
        compute_body,  # after validation: bad input is reported even if compute is heavy
    )

    n_jobs = None
    with contextlib.ExitStack() as stack:
        client = None
        if command in SIMULATING:
            # The service runs simulations on SRF_SIMULATION_JOBS threads; locally the machine is ours.
            n_jobs = _jobs(args.jobs)
            client = stack.enter_context(_cluster_client(args.scheduler)) if args.scheduler else None
            shape = _cluster_shape(client) if client is not None else None
            _check_simulation_fits(prepared, n_jobs, shape)
        with _progress_bar(args.progress, command) as progress:
            result = compute_body(prepared, progress, n_jobs=n_jobs, client=client and (lambda: client))
    _print_warnings(result)
    # ensure_ascii=False: the same characters as the HTTP body (≤, §), not \u escapes.
    text = json.dumps(result, indent=2, ensure_ascii=False, default=_json_default) + "\n"
    if args.output is not None:
        _write("--output", args.output, text.encode("utf-8"))
    else:
        sys.stdout.write(text)
    if args.csv is not None:
        _write_csv(result, args.csv)
    if figure is not None:
        _write_figure(result, figure, args.plot)
    return 0


def activations(args: argparse.Namespace) -> int:
    """``srf activations``: what ``GET /activations`` lists, as a table (or its JSON with ``--json``)."""
    from srf_engine import ACTIVATIONS

    from ..routers.meta import HERMITE_HELP

    if args.json:
        body = {
            "activations": [
                {"name": name, "description": act.description, "centered": act.centered}
                for name, act in ACTIVATIONS.items()
            ],
            "hermite": HERMITE_HELP,
        }
        sys.stdout.write(json.dumps(body, indent=2, ensure_ascii=False) + "\n")
        return 0
    width = max(len(name) for name in ACTIVATIONS)
    print(f"{'name':<{width}}  centred  definition")
    for name, act in ACTIVATIONS.items():
        print(f"{name:<{width}}  {'yes' if act.centered else 'no ':<7}  {act.description}")
    print()
    print(HERMITE_HELP)
    return 0


def _port_in_use(host: str, port: int) -> OSError | None:
    """The error binding ``host:port`` gives now (another server there), or None if it is free."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # as uvicorn binds: SO_REUSEADDR, so a port left in TIME_WAIT is not reported as taken
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host or "0.0.0.0", port))
        except OSError as exc:
            return exc
    return None


def serve(args: argparse.Namespace) -> int:
    """Start uvicorn on ``service.app:app`` after saying where Swagger UI and the cache are."""
    import uvicorn

    shown_host = "127.0.0.1" if args.host in {"0.0.0.0", "::", ""} else args.host
    if ":" in shown_host:
        shown_host = f"[{shown_host}]"
    base = f"http://{shown_host}:{args.port}"
    try:
        from ..settings import get_settings

        cache = f"{get_settings().cache_path} (set SRF_CACHE_PATH to change)"
    except Exception as exc:  # a broken setting must not hide where the docs are; uvicorn reports it
        cache = f"unavailable ({exc})"
    if (error := _port_in_use(args.host, args.port)) is not None:
        if error.errno == errno.EADDRINUSE:
            raise UsageError(
                f"--port: {args.host}:{args.port} is already in use (another srf serve?); stop that server "
                "or choose another port with --port"
            )
        reason = error.strerror or error
        raise UsageError(f"--host/--port: cannot listen on {args.host}:{args.port}: {reason}")
    print(f"srf {ENGINE_VERSION}: serving the API at {base}", flush=True)
    print(f"Swagger UI: {base}/docs   (OpenAPI schema: {base}/openapi.json)", flush=True)
    print(f"Explorer: {base}/explore", flush=True)
    print(f"Cache: {cache}", flush=True)
    uvicorn.run(
        "service.app:app",
        host=args.host,
        port=args.port,
        reload=args.reload,
        workers=args.workers,
        log_level=args.log_level,
        # The app writes one JSON line per request; at shutdown it stops its computations at once,
        # and open requests get 3 s more (the process is gone well within a container's 10 s).
        access_log=False,
        timeout_graceful_shutdown=3,
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
    """Entry point of ``srf`` and ``python -m service``; returns the exit code."""
    parser = build_parser()
    args = parse_arguments(parser, argv)
    try:
        if args.command == "serve":
            return serve(args)
        if args.command == "cache":
            from . import cache

            code = cache.run(args)
        elif args.command == "activations":
            code = activations(args)
        else:
            code = run_command(args.command, args)
        sys.stdout.flush()  # here, where a closed pipe is caught, not at exit
        return code
    except KeyboardInterrupt:
        print("srf: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away (`srf activations | head`): stop quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except (UsageError, InvalidParameterError) as exc:
        _fail(args.command, _message(exc))
    except ClusterError as exc:  # the cluster's fault, not the user's input: exit 1, no traceback
        print(f"srf {args.command}: error: {exc}", file=sys.stderr)
        return 1
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
