"""The documented Python API (`from srf_engine import theory_curve, simulate, Problem`): its README
section prints what it says, and the numbers are those of the HTTP answers."""

from __future__ import annotations

import contextlib
import doctest
import io
import re
import sys
from pathlib import Path

import pytest
from test_service_support import ROOT, client

import srf_engine

sys.path.insert(0, str(ROOT / "scripts"))

README = (ROOT / "README.md").read_text()


def _section(title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## )", README, re.S | re.M)
    assert match, f"README has no section {title!r}"
    return match.group(1)


def _blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, re.S)


@pytest.fixture(scope="module")
def readme_run() -> tuple[str, dict]:
    section = _section("Python API")
    (code,) = _blocks(section, "python")
    namespace: dict = {}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), namespace)  # the README's own example, as a user runs it
    return out.getvalue(), namespace


def test_readme_python_api_prints_what_it_shows(readme_run) -> None:
    """Text the same, numbers to the digits shown (never the last bits: they depend on the BLAS kernel)."""
    import readme_examples

    printed, _ = readme_run
    (shown,) = _blocks(_section("Python API"), "text")
    assert readme_examples.same_up_to_rounding(shown, printed) is None, (shown, printed)


def test_python_api_gives_the_numbers_of_the_http_answers(readme_run, tmp_path: Path) -> None:
    _, ns = readme_run
    problem = {"student": "tanh", "teacher": "sin", "learning_rate": 3, "alpha0": 20, "ridge": 0.1}
    with client(tmp_path) as http:
        theory = http.post("/theory/curve", json={**problem, "alphas": [0.2, 0.9, 1.6, 2.3, 3.0]}).json()
        sim = http.post(
            "/simulate",
            json={**problem, "alphas": [0.5, 1.5], "model": "network", "dimension": 400, "seeds": 2},
        ).json()
    curve, result = ns["curve"], ns["result"]
    assert theory["srf"] == curve.srf.as_dict()
    assert [p["test_error"] for p in theory["points"]] == [p.test_error for p in curve.points]
    assert [p["test_error"] for p in theory["baseline"]] == [p.test_error for p in curve.baseline]
    assert [p["test_error"]["values"] for p in sim["points"]] == [
        list(p.test_error.values) for p in result.points
    ]
    # the README's curl example shows the same first point, to the 4 digits it shows
    shown = re.search(r'"points": \[\s*\{"alpha": 0\.2, [^}]*"test_error": ([0-9.e-]+)', README)
    assert shown and float(shown.group(1)) == pytest.approx(curve.points[0].test_error, rel=2e-3)


def test_public_names_and_their_docstrings() -> None:
    for name in ("Problem", "theory_curve", "simulate", "estimate_cost", "SRFParams"):
        assert name in srf_engine.__all__
        assert (getattr(srf_engine, name).__doc__ or "").strip(), name


def test_package_docstring_example_runs() -> None:
    failures, tried = doctest.testmod(srf_engine, verbose=False)
    assert tried >= 5 and failures == 0
