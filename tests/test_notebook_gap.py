"""The paper's public notebook against the limit on docs/theory.md §7's problem (benchmarks/notebook_gap.py).

Fast: the two ingredients of the notebook's stored run (its earlier bulk scale and the spike-image
overlap switched off), put on the Marchenko–Pastur limit, take the limit to within 0.25 % of the
stored outputs, while the limit itself is 0.2–2.5 % below them; its stopping rule and 19-node
quadrature move the answer by less than 4e-4 and 1e-6. Slow (one d = 2000 eigendecomposition, 5–25 s): the
recipe on the notebook's own spectrum reproduces the stored outputs to 1e-9, and that spectrum moves
the limit by the measured −0.12 … −0.20 %, away from them.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from srf_engine import SRFParams, map_to_srf
from srf_engine.theory.conditional import conditional_moments


def _load():
    # loaded from its file: putting benchmarks/ on sys.path would let its modules shadow installed ones
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "notebook_gap.py"
    spec = importlib.util.spec_from_file_location("notebook_gap_benchmark", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ng = _load()
SRF = map_to_srf(ng.PROBLEM)
C_RUN = ng.notebook_c(ng.PROBLEM)
#: Measured by benchmarks/notebook_gap.py: the seed-58 spectrum (engine solver, C_k included)
#: relative to the limit at α = 0.2, 0.9, 1.6, 2.3, 3.0.
SEED58_SHIFT = [-0.00117, -0.00197, -0.00180, -0.00185, -0.00194]


def _moments(c: float):
    srf = SRFParams(c, SRF.r, SRF.gamma)
    return srf, conditional_moments(ng.PROBLEM.student, ng.PROBLEM.teacher, srf, ng.PROBLEM.noise)


@pytest.fixture(scope="module")
def limit() -> list[float]:
    return ng.converged_curve(_moments(SRF.c)[1], None, SRF.c)


def test_the_stored_run_is_the_limit_with_its_two_ingredients(limit) -> None:
    stored = np.array(ng.STORED)
    gap = stored / np.array(limit) - 1
    assert np.all(gap > 0.002) and gap[-1] > 0.024  # the gap to explain: +0.23 % … +2.53 %
    assert pytest.approx(1.00696087, abs=1e-8) == C_RUN
    assert pytest.approx(1.01897320, abs=1e-8) == SRF.c
    _, cm_run = _moments(C_RUN)
    both = np.array(ng.converged_curve(cm_run, ng.limit_bulk(C_RUN, f_scale=0.0), C_RUN))
    rest = both / stored - 1
    assert np.all(np.abs(rest) < 0.0025), rest  # measured +0.05 … +0.16 %
    assert np.all(np.abs(rest) < 0.3 * gap[1:].min())


def test_stopping_rule_and_quadrature_of_the_notebook_are_negligible(limit) -> None:
    srf, cm = _moments(SRF.c)
    gh = ng.gh_moments(ng.PROBLEM, srf, cm, ng.NOTEBOOK_GH_NODES)
    for name in ("mu0", "mu1", "mu2", "h", "h1", "hh"):  # μ2 is off by up to 2.3e-4 with 19 nodes
        assert np.max(np.abs(getattr(gh, name) - getattr(cm, name))) < 5e-4, name
    quadrature = np.array(ng.converged_curve(gh, None, SRF.c)) / np.array(limit) - 1
    assert np.all(np.abs(quadrature) < 1e-6), quadrature  # measured ≤ 1.3e-7
    damped = [v for v, _ in ng.damped_curve(gh, ng.limit_bulk(SRF.c))]
    rel = np.array(damped) / np.array(limit) - 1
    assert np.all(np.abs(rel) < 4e-4), rel  # measured −1.4e-4 … +2.9e-4


@pytest.fixture(scope="module")
def notebook_spectrum():
    return ng.sample_spectrum(ng.DIMENSION, ng.NOTEBOOK_SEED, legacy=True)


@pytest.mark.slow
def test_recipe_on_the_notebook_spectrum_reproduces_its_stored_outputs(notebook_spectrum) -> None:
    srf, cm = _moments(C_RUN)
    gh = ng.gh_moments(ng.PROBLEM, srf, cm, ng.NOTEBOOK_GH_NODES)
    bulk = notebook_spectrum.bulk(C_RUN, f_scale=1.0 / ng.DIMENSION**2, cross=False)
    values = [v for v, _ in ng.damped_curve(gh, bulk)]
    assert values == pytest.approx(list(ng.STORED), rel=1e-9)


@pytest.mark.slow
def test_the_notebook_spectrum_moves_the_limit_by_the_measured_amount(notebook_spectrum, limit) -> None:
    cm = _moments(SRF.c)[1]
    values = ng.converged_curve(cm, notebook_spectrum.bulk(SRF.c), SRF.c)
    shift = np.array(values) / np.array(limit) - 1
    assert shift == pytest.approx(SEED58_SHIFT, abs=1e-4)
    # downwards: this spectrum takes the engine away from the stored outputs, not towards them
    assert np.all(np.array(values) < np.array(ng.STORED))
