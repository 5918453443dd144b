"""The layers point down: the engine imports neither the service, the web stack nor the CLI."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = ("service", "fastapi", "pydantic", "starlette", "uvicorn")


def test_importing_the_engine_loads_no_service_web_or_cli_module() -> None:
    code = (
        "import sys, srf_engine, srf_engine.simulation, srf_engine.compare, srf_engine.theory\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r})\n"
        "print(','.join(bad))\n"
    )
    # A fresh interpreter: this test process has loaded the service already.
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "", f"import srf_engine loaded {out.stdout.strip()}"


def _imports(path: Path, package: str) -> set[str]:
    """Absolute names of the modules ``path`` imports (relative imports resolved against ``package``)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def _module_graph(top: str) -> dict[str, set[str]]:
    graph = {}
    for path in sorted((ROOT / top).rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        is_package = parts[-1] == "__init__"
        name = ".".join(parts[:-1] if is_package else parts)
        package = name if is_package else ".".join(parts[:-1])
        graph[name] = _imports(path, package)
    return graph


def test_no_engine_source_imports_an_upper_layer() -> None:
    for module, imported in _module_graph("srf_engine").items():
        upward = {name for name in imported if name.split(".")[0] in FORBIDDEN}
        assert not upward, f"{module} imports {sorted(upward)}"


def test_simulation_package_has_no_import_cycle() -> None:
    graph = _module_graph("srf_engine")
    modules = [m for m in graph if m.startswith("srf_engine.simulation.")]
    edges = {m: {n for n in graph[m] if n in modules} for m in modules}
    state: dict[str, int] = {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for nxt in edges[module]:
            assert state.get(nxt) != 1, f"import cycle: {' → '.join([*path, module, nxt])}"
            if nxt not in state:
                visit(nxt, [*path, module])
        state[module] = 2

    for module in modules:
        if module not in state:
            visit(module, [])
    assert "srf_engine.simulation.seed" not in edges["srf_engine.simulation.cost"]


def test_routers_do_only_http() -> None:
    """The routes hand every request to the pipeline; no route touches the store, runner or engine."""
    for path in (ROOT / "service" / "routers").glob("*.py"):
        imported = _imports(path, "service.routers")
        assert not {"service.cache", "service.runner", "service.compute", "service.limits"} & imported, path


def test_python_m_srf_engine_points_to_the_command_without_importing_the_service() -> None:
    code = (
        "import runpy, sys\n"
        "try:\n"
        "    runpy.run_module('srf_engine', run_name='__main__')\n"
        "except SystemExit as e:\n"
        "    print(e.code, sorted(m for m in sys.modules if m.split('.')[0] == 'service'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "2 []"
    assert "python -m service" in out.stderr
