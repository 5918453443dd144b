"""The README's answers are the service's: written by scripts/readme_examples.py, checked here.

Numbers are compared to the 4 significant digits the README shows, never to their last bits, and the
whole check also runs in fresh interpreters under two OpenBLAS kernels (the last bits of a float
depend on the kernel; what the README shows must not).
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import readme_examples  # noqa: E402


def test_every_readme_example_is_the_service_answer() -> None:
    problems = readme_examples.check()
    assert not problems, "\n".join(problems) + "\n(rewrite them: python scripts/readme_examples.py)"


def test_the_comparison_ignores_last_bits_but_not_digits_or_words() -> None:
    same = readme_examples.same_up_to_rounding
    assert same('{"r": 1.134055509282611}', '{"r": 1.1340555092826112}') is None
    assert same("residual 1.9e-16", "residual 2.2e-16") is None  # below 1e-12: noise
    assert same('{"r": 1.134}', '{"r": 1.140}') is not None
    assert same('{"engine_version": "1.0.0"}', '{"engine_version": "1.2.0"}') is not None
    assert same('{"bulk": "one_step"}', '{"bulk": "marchenko_pastur"}') is not None


def test_every_endpoint_has_an_example_on_the_front_page() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    paths = ("/theory/curve", "/simulate", "/compare", "/theory/function", "/results/{key}", "/jobs/{id}")
    assert [p for p in paths if p not in text] == []


def _kernels() -> list[dict[str, str | None]]:
    """Two OpenBLAS settings: the automatic choice, and a named kernel other than it."""
    automatic: dict[str, str | None] = {"OPENBLAS_CORETYPE": None, "OPENBLAS_L2_SIZE": None}
    machine = platform.machine().lower()
    if machine in ("x86_64", "amd64"):
        flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
        named = "Haswell" if " avx2" in flags else "Prescott"
    elif machine in ("aarch64", "arm64"):
        named = "ARMV8"
    else:
        return [automatic]
    return [automatic, {"OPENBLAS_CORETYPE": named}]


@pytest.mark.parametrize("kernel", _kernels(), ids=lambda k: str(k.get("OPENBLAS_CORETYPE") or "automatic"))
def test_readme_outputs_hold_under_each_openblas_kernel(kernel: dict[str, str | None]) -> None:
    env = {k: v for k, v in os.environ.items() if k not in kernel}
    env.update({k: v for k, v in kernel.items() if v is not None})
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    run = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "readme_examples.py"), "--check"],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]


def test_versions_shown_in_the_docs_are_the_current_ones() -> None:
    """A typed answer in any page must not fall behind the engine (as "1.0.0" did at 1.2.0)."""
    import re

    from srf_engine import ENGINE_VERSION

    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    stale = [
        f"{page.name}: {version}"
        for page in pages
        for version in re.findall(r'"(?:engine|service)_version":\s*"([^"]+)"', page.read_text("utf-8"))
        if version != ENGINE_VERSION
    ]
    assert not stale, stale
