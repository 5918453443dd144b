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


def _import_edges(prefix: str) -> dict[str, set[str]]:
    """The engine's module graph restricted to the modules under ``prefix``."""
    graph = _module_graph("srf_engine")
    modules = [m for m in graph if m.startswith(prefix)]
    return {m: {n for n in graph[m] if n in modules} for m in modules}


def _assert_no_cycle(edges: dict[str, set[str]]) -> None:
    state: dict[str, int] = {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for nxt in edges[module]:
            assert state.get(nxt) != 1, f"import cycle: {' → '.join([*path, module, nxt])}"
            if nxt not in state:
                visit(nxt, [*path, module])
        state[module] = 2

    for module in edges:
        if module not in state:
            visit(module, [])


def test_simulation_package_has_no_import_cycle() -> None:
    edges = _import_edges("srf_engine.simulation.")
    _assert_no_cycle(edges)
    assert "srf_engine.simulation.seed" not in edges["srf_engine.simulation.cost"]


# The service's layers, top to bottom (docs/architecture.md). A module may import its own layer and the
# layers below it, never one above. Type-only imports (under ``if TYPE_CHECKING:``) are annotations,
# not dependencies, and are not counted.
SERVICE_LAYERS: tuple[tuple[str, ...], ...] = (
    ("service.app", "service.__main__", "service.cli"),
    ("service.routers",),
    ("service.deps",),
    ("service.edge",),
    ("service.render",),
    ("service.work",),
    ("service.errors", "service.schemas", "service.settings", "service"),
    ("service.store",),
)


def _layer(module: str) -> int | None:
    for rank, prefixes in enumerate(SERVICE_LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes if p != "service"):
            return rank
    return len(SERVICE_LAYERS) - 2 if module == "service" else None


def _runtime_imports(path: Path, package: str) -> set[str]:
    """Like :func:`_imports`, without the imports under ``if TYPE_CHECKING:``."""
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            node.body = []
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package.split(".")[: len(package.split(".")) - node.level + 1]
            module = ".".join([*base, *([node.module] if node.module else [])])
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            names.add(node.module or "")
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def _service_graph() -> dict[str, set[str]]:
    graph = {}
    for path in sorted((ROOT / "service").rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        is_package = parts[-1] == "__init__"
        name = ".".join(parts[:-1] if is_package else parts)
        package = name if is_package else ".".join(parts[:-1])
        graph[name] = {m for m in _runtime_imports(path, package) if m.split(".")[0] == "service"}
    return graph


def test_every_service_module_belongs_to_a_layer() -> None:
    unplaced = [m for m in _service_graph() if _layer(m) is None]
    assert not unplaced, f"modules in no layer of SERVICE_LAYERS: {unplaced}"


def test_service_imports_point_down() -> None:
    graph = _service_graph()
    for module, imported in graph.items():
        rank = _layer(module)
        for name in imported:
            target = name if name in graph else name.rsplit(".", 1)[0]
            if target not in graph or target == "service":
                continue
            assert _layer(target) >= rank, f"{module} (layer {rank}) imports {target} ({_layer(target)})"


def test_service_has_at_most_a_dozen_top_level_modules() -> None:
    top = [p.name for p in (ROOT / "service").glob("*.py")]
    assert len(top) <= 12, sorted(top)
    packages = sorted(p.parent.name for p in (ROOT / "service").glob("*/__init__.py"))
    assert packages == ["cli", "edge", "render", "routers", "store", "work"]


def test_engine_theory_is_a_package_beside_simulation() -> None:
    engine = ROOT / "srf_engine"
    assert (engine / "theory" / "__init__.py").is_file() and (engine / "simulation" / "__init__.py").is_file()
    flat = sorted(p.stem for p in engine.glob("*.py"))
    theory_modules = {"quadrature", "conditional", "mapping", "bulk", "onestep", "sampled_bulk", "rownorm",
                      "solver", "function", "fidelity", "curve", "cost"}
    assert not theory_modules & set(flat), flat
    assert theory_modules <= {p.stem for p in (engine / "theory").glob("*.py")}


def test_theory_package_has_no_import_cycle() -> None:
    _assert_no_cycle(_import_edges("srf_engine.theory."))


def test_routers_do_only_http() -> None:
    """The routes hand every request to the pipeline; no route touches the store, runner or engine adapter."""
    for path in (ROOT / "service" / "routers").glob("*.py"):
        imported = _imports(path, "service.routers")
        forbidden = {"service.store", "service.store.sqlite", "service.work.runner", "service.work.compute",
                     "service.work.limits"}
        assert not forbidden & imported, path


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
