"""Packaging checks that need no Docker engine and no network.

- the Dockerfile: its CMD imports and serves, the exposed port is the served one, the HEALTHCHECK
  probes a real route and passes against the running CMD, COPY sources exist and survive
  ``.dockerignore``, the user is not root, the cache sits on a volume;
- pyproject.toml declares every third-party import (a green CI must not hide a missing install);
- the README: exactly two set-up commands, its test command is the one ``.ci/run`` runs, its
  examples name real routes and real settings.
"""

from __future__ import annotations

import ast
import fnmatch
import importlib
import importlib.metadata
import json
import os
import re
import shlex
import socket
import subprocess
import sys
import time
import tomllib
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_service_support import free_port, stop_process

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
README = ROOT / "README.md"
CI_RUN = ROOT / ".ci" / "run"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


# ----------------------------------------------------------------------------- Dockerfile parsing


def dockerfile_instructions() -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` pairs, continuation lines joined, comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):  # a comment inside a continued instruction
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        pending += line
        keyword, _, args = pending.partition(" ")
        instructions.append((keyword.upper(), args.strip()))
        pending = ""
    assert not pending, "Dockerfile ends inside a continued line"
    return instructions


def instruction_args(keyword: str) -> list[str]:
    return [args for kw, args in dockerfile_instructions() if kw == keyword]


def exec_form(args: str) -> list[str]:
    """The argv of a JSON (exec) form, or the shell words of a shell form."""
    if args.startswith("["):
        return json.loads(args)
    return shlex.split(args)


def healthcheck_command() -> list[str]:
    (args,) = instruction_args("HEALTHCHECK")
    _, sep, command = args.partition("CMD ")
    assert sep, "HEALTHCHECK must run a command"
    return exec_form(command.strip())


def cmd_argv() -> list[str]:
    cmds = instruction_args("CMD")
    assert cmds, "Dockerfile has no CMD"
    return exec_form(cmds[-1])  # the last CMD is the one that counts


def option(argv: list[str], name: str) -> str:
    assert name in argv, f"CMD {argv} lacks {name}"
    return argv[argv.index(name) + 1]


def exposed_ports() -> set[int]:
    return {int(p.split("/")[0]) for args in instruction_args("EXPOSE") for p in args.split()}


def env_values() -> dict[str, str]:
    values: dict[str, str] = {}
    for args in instruction_args("ENV"):
        for word in shlex.split(args):
            key, sep, value = word.partition("=")
            if sep:
                values[key] = value
    return values


def dockerignore_excludes(path: str) -> bool:
    """Docker's rule, simplified: the last matching pattern wins; a pattern matching a parent matches."""
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    parts = path.strip("/").split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").strip("/")
        if any(fnmatch.fnmatchcase(c, pattern) for c in candidates):
            excluded = not negate
    return excluded


# ----------------------------------------------------------------------------- Dockerfile tests


def test_base_image_is_slim_python_matching_requires_python() -> None:
    (base,) = instruction_args("FROM")
    assert re.fullmatch(r"python:3\.11[\w.-]*-slim[\w.-]*", base.split()[0]), base
    assert PYPROJECT["project"]["requires-python"] == ">=3.11"


def test_cmd_serves_service_app_on_all_interfaces() -> None:
    argv = cmd_argv()
    assert argv[0] == "uvicorn"
    assert argv[1] == "service.app:app"
    assert option(argv, "--host") == "0.0.0.0"


def test_exposed_port_is_the_served_port() -> None:
    assert exposed_ports() == {int(option(cmd_argv(), "--port"))}


def test_cmd_module_imports_and_has_an_asgi_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SRF_CACHE_PATH", str(tmp_path / "cache.sqlite"))
    module_name, _, attribute = cmd_argv()[1].partition(":")
    module = importlib.import_module(module_name)
    app = getattr(module, attribute)
    assert callable(app), f"{cmd_argv()[1]} is not an ASGI application"
    assert hasattr(app, "routes")


def test_runs_as_non_root_user() -> None:
    users = instruction_args("USER")
    assert users, "Dockerfile never leaves root"
    assert users[-1].split(":")[0] not in {"root", "0"}
    # The switch must happen before the CMD, or the service runs as root anyway.
    keywords = [kw for kw, _ in dockerfile_instructions()]
    assert len(keywords) - 1 - keywords[::-1].index("USER") < keywords.index("CMD")


def test_cache_lives_on_a_volume_owned_by_the_user() -> None:
    cache = env_values().get("SRF_CACHE_PATH")
    assert cache, "SRF_CACHE_PATH is not set in the image"
    volumes = [v for args in instruction_args("VOLUME") for v in exec_form(args)]
    assert any(Path(cache).is_relative_to(v) for v in volumes), (cache, volumes)
    user = instruction_args("USER")[-1].split(":")[0]
    assert any("chown" in run and user in run for run in instruction_args("RUN")), "volume not chowned"


def test_copy_sources_exist_and_are_not_dockerignored() -> None:
    copies = instruction_args("COPY")
    assert copies
    for args in copies:
        words = [w for w in exec_form(args) if not w.startswith("--")]
        for source in words[:-1]:
            assert (ROOT / source).exists(), f"COPY {source}: no such path"
            assert not dockerignore_excludes(source), f"COPY {source} is excluded by .dockerignore"
            if (ROOT / source).is_dir():
                python_files = [p.relative_to(ROOT).as_posix() for p in (ROOT / source).rglob("*.py")]
                assert python_files and not any(map(dockerignore_excludes, python_files))


def test_image_gets_every_runtime_package() -> None:
    """The packages the app imports are the ones the image copies and pip-installs."""
    copied = {
        Path(w).parts[0] for args in instruction_args("COPY") for w in exec_form(args)[:-1] if "/" not in w
    }
    assert {"srf_engine", "service", "pyproject.toml"} <= copied
    assert any("pip install" in run for run in instruction_args("RUN"))


def test_healthcheck_uses_python_and_a_real_route(tmp_path: Path) -> None:
    command = healthcheck_command()
    assert command[0] in {"python", "python3"}, "slim images have no curl: probe with python"
    (url,) = re.findall(r"https?://[^'\"\s]+", " ".join(command))
    assert url.startswith("http://127.0.0.1:") or url.startswith("http://localhost:")
    port = int(url.split(":")[2].split("/")[0])
    assert port in exposed_ports()
    path = "/" + url.split("/", 3)[3]
    assert path in route_paths(tmp_path)
    from fastapi.testclient import TestClient

    from service.app import create_app
    from service.settings import Settings

    with TestClient(create_app(Settings(cache_path=tmp_path / "cache.sqlite"))) as client:
        assert client.get(path).status_code == 200


def route_paths(tmp_path: Path) -> set[str]:
    """Every path the app serves: its OpenAPI paths and the routes outside the schema (docs)."""
    from service.app import create_app
    from service.settings import Settings

    app = create_app(Settings(cache_path=tmp_path / "cache.sqlite"))
    return set(app.openapi()["paths"]) | {
        r.path for r in app.routes if isinstance(getattr(r, "path", None), str)
    }


@pytest.fixture
def served_cmd(tmp_path: Path) -> Iterator[int]:
    """The image's CMD, run here on a free loopback port instead of 0.0.0.0:8000."""
    port = free_port()
    argv = cmd_argv()
    argv[argv.index("--host") + 1] = "127.0.0.1"
    argv[argv.index("--port") + 1] = str(port)
    env = {**os.environ, "SRF_CACHE_PATH": str(tmp_path / "cache.sqlite")}
    argv = [sys.executable, "-m", *argv]  # `uvicorn` from this interpreter, whatever PATH says
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    stderr = proc.stderr.read().decode() if proc.poll() is not None else ""
                    pytest.fail(f"the CMD did not start listening: {stderr[-2000:]}")
                time.sleep(0.1)
        yield port
    finally:
        stop_process(proc, timeout=10)


def test_healthcheck_passes_against_the_running_cmd(served_cmd: int) -> None:
    port = next(iter(exposed_ports()))
    command = [arg.replace(f":{port}/", f":{served_cmd}/") for arg in healthcheck_command()]
    command[0] = sys.executable
    result = subprocess.run(command, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    with urllib.request.urlopen(f"http://127.0.0.1:{served_cmd}/docs", timeout=5) as response:
        assert response.status == 200  # Swagger UI, where the README sends people


# ----------------------------------------------------------------------------- pyproject


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared(*extras: str) -> set[str]:
    specs = list(PYPROJECT["project"]["dependencies"])
    for extra in extras:
        specs += PYPROJECT["project"]["optional-dependencies"][extra]
    return {_normalise(re.split(r"[\s<>=!~;\[]", spec, maxsplit=1)[0]) for spec in specs}


def _guarded_by_import_error(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    """Whether an import sits in a ``try`` that handles ImportError (an optional dependency)."""
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.Try):
            for handler in node.handlers:
                names = ast.unparse(handler.type) if handler.type else "Exception"
                if "ImportError" in names or "ModuleNotFoundError" in names:
                    return True
    return False


def third_party_imports(*folders: str) -> dict[str, set[str]]:
    """Top-level module name → files importing it, for imports outside the stdlib and this repo."""
    local = {p.name for p in ROOT.iterdir() if p.is_dir()} | {p.stem for p in ROOT.glob("*.py")}
    local |= {p.stem for folder in folders for p in (ROOT / folder).rglob("*.py")}
    found: dict[str, set[str]] = {}
    for folder in folders:
        for path in (ROOT / folder).rglob("*.py"):
            tree = ast.parse(path.read_text(), filename=str(path))
            parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                if _guarded_by_import_error(node, parents):
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top not in sys.stdlib_module_names and top not in local:
                        found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


def _undeclared(imports: dict[str, set[str]], allowed: set[str]) -> list[str]:
    distributions = importlib.metadata.packages_distributions()
    missing = []
    for module, files in sorted(imports.items()):
        dists = {_normalise(d) for d in distributions.get(module, [module])}
        if not dists & allowed:
            missing.append(f"{module} (imported by {', '.join(sorted(files))})")
    return missing


#: Optional runtime extras, imported lazily by the code that needs them (never by ``import srf_engine``
#: nor by the service without its setting): the Dask cluster of docs/scaling.md.
LAZY_EXTRAS = {"distributed": "dask"}


def test_runtime_imports_are_declared_dependencies() -> None:
    imports = third_party_imports("srf_engine", "service")
    for module, extra in LAZY_EXTRAS.items():
        assert module in PYPROJECT["project"]["optional-dependencies"][extra][0]
        imports.pop(module, None)
    assert not _undeclared(imports, declared()), "add these to [project] dependencies"


def test_the_optional_dask_extra_is_imported_only_when_a_cluster_is_used() -> None:
    code = (
        "import sys, srf_engine, service.app, service.cli.main; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SRF_DASK_SCHEDULER": ""}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "[]"


def test_test_and_script_imports_are_declared_with_the_dev_extra() -> None:
    folders = [f for f in ("tests", "scripts", "benchmarks") if (ROOT / f).is_dir()]
    imports = third_party_imports(*folders)
    assert not _undeclared(imports, declared("dev")), "add these to the dev extra"


def test_console_script_points_to_a_callable() -> None:
    module_name, _, attribute = PYPROJECT["project"]["scripts"]["srf"].partition(":")
    assert callable(getattr(importlib.import_module(module_name), attribute))
    assert (ROOT / "service" / "__main__.py").is_file()  # `python -m service` too


def test_slow_tests_are_excluded_by_default() -> None:
    pytest_options = PYPROJECT["tool"]["pytest"]["ini_options"]
    assert "-m 'not slow'" in pytest_options["addopts"]
    assert any(marker.startswith("slow:") for marker in pytest_options["markers"])


# ----------------------------------------------------------------------------- README and CI


CONFIGURATION = ROOT / "docs" / "configuration.md"
USAGE = ROOT / "docs" / "usage.md"


def readme_section(title_pattern: str, document: Path = README) -> str:
    text = document.read_text()
    match = re.search(rf"^(##+) +{title_pattern}.*?$", text, flags=re.MULTILINE | re.IGNORECASE)
    assert match, f"{document.name} has no section matching {title_pattern!r}"
    level = len(match.group(1))
    rest = text[match.end() :]
    end = re.search(rf"^#{{1,{level}}} ", rest, flags=re.MULTILINE)
    return rest[: end.start()] if end else rest


def quick_start_commands() -> list[str]:
    section = readme_section(r"quick ?start")
    blocks = re.findall(r"```[a-z]*\n(.*?)```", section, flags=re.DOTALL)
    lines = [line.strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def test_readme_quick_start_has_exactly_two_commands() -> None:
    commands = quick_start_commands()
    assert len(commands) == 2, commands
    assert sum("pytest" in c for c in commands) == 1
    assert sum(" serve" in c for c in commands) == 1


def test_ci_runs_exactly_the_readme_test_command() -> None:
    (test_command,) = [c for c in quick_start_commands() if "pytest" in c]
    ci = CI_RUN.read_text()
    assert any(line.strip().startswith(test_command) for line in ci.splitlines()), test_command
    assert "ruff check" in ci
    assert "set -euo pipefail" in ci
    assert "5" in ci and "no tests" in ci  # pytest's exit code 5 is not a pass
    assert os.access(CI_RUN, os.X_OK) or ci.startswith("#!/usr/bin/env bash")


def test_readme_serve_command_prints_where_swagger_is() -> None:
    (serve,) = [c for c in quick_start_commands() if " serve" in c]
    assert "-m service serve" in serve or "srf serve" in serve
    assert "http://127.0.0.1:8000/docs" in readme_section(r"quick ?start")


def test_readme_examples_name_real_routes(tmp_path: Path) -> None:
    patterns = [re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$") for path in route_paths(tmp_path)]
    url = re.compile(r"http://(?:127\.0\.0\.1|localhost):8000(/[^\s\"'?)`<>*,]*)")
    mentioned = {path for doc in (README, USAGE) for path in url.findall(doc.read_text())}
    assert mentioned, "README has no request examples"
    unknown = [
        p for p in sorted(mentioned) if not any(pattern.match(p.rstrip("/") or "/") for pattern in patterns)
    ]
    assert not unknown, f"README names routes the app does not serve: {unknown}"


def test_readme_environment_variables_are_real_settings() -> None:
    settings_file = ROOT / "service" / "settings.py"
    if not settings_file.exists():
        pytest.skip("service/settings.py does not exist")
    settings_module = importlib.import_module("service.settings")
    names: set[str] = set()
    for value in vars(settings_module).values():
        fields = getattr(value, "model_fields", None)
        config = getattr(value, "model_config", {}) or {}
        if fields and "env_prefix" in config:
            names |= {(config["env_prefix"] + field).upper() for field in fields}
    documents = (README, CONFIGURATION, USAGE, ROOT / "docs" / "scaling.md")
    documented_anywhere = "\n".join(p.read_text() for p in documents)
    in_readme = set(re.findall(r"\bSRF_[A-Z0-9_]*[A-Z0-9]\b", documented_anywhere))
    assert in_readme <= names, f"README documents unknown settings: {sorted(in_readme - names)}"
    assert names <= in_readme, f"README does not document: {sorted(names - in_readme)}"
    # Defaults: a number in the README's table is the field's default; no number where there is none.
    settings_class = settings_module.Settings
    table = readme_section("configuration", CONFIGURATION)
    for field, info in settings_class.model_fields.items():
        if info.default_factory is not None:
            continue
        row = re.search(rf"^\| `SRF_{field.upper()}` \| ([^|]*)\|", table, flags=re.MULTILINE)
        assert row, f"SRF_{field.upper()} has no row in the Configuration table"
        documented = re.match(r"`([^`]*)`", row.group(1).strip())
        if info.default is None:
            assert documented is None, f"SRF_{field.upper()}: README gives {row.group(1)!r}, default is unset"
        elif isinstance(info.default, bool):
            assert documented and documented.group(1) == str(info.default).lower(), (field, row.group(1))
        elif isinstance(info.default, int | float):
            assert documented and float(documented.group(1)) == info.default, (field, row.group(1))
        else:
            assert documented and documented.group(1) == str(info.default), (field, row.group(1))


def test_readme_parameter_table_matches_the_request_models() -> None:
    """Every request field is in the table, with the model's default (or 'required')."""
    from service.schemas import CompareRequest, TheoryRequest

    fields = {**CompareRequest.model_fields, **TheoryRequest.model_fields}
    rows = {}
    for line in readme_section("parameters", USAGE).splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and re.fullmatch(r"`\w+`", cells[0]):
            rows[cells[0].strip("`")] = cells[2]
    assert set(rows) == set(fields), f"table rows {sorted(rows)} vs API fields {sorted(fields)}"
    for name, documented in rows.items():
        info = CompareRequest.model_fields.get(name) or TheoryRequest.model_fields[name]
        if info.is_required():
            assert documented == "required", name
            continue
        default = info.get_default(call_default_factory=True)
        if default is None:
            assert documented == "absent" or documented.startswith("`null`"), name
            continue
        match = re.match(r"`([^`]+)`", documented)
        assert match, f"{name}: default not given as `value`: {documented!r}"
        assert json.loads(match.group(1)) == default, (
            f"{name}: README says {match.group(1)}, model {default!r}"
        )
