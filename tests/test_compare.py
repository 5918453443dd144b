"""srf_engine/compare.py: z-scores, relative errors and the verdict of theory against simulation."""

from __future__ import annotations

import pytest

from srf_engine.compare import compare_points, criterion_text, extrapolation_block, judge, reference_curve


def test_judge_z_relative_error_and_verdict() -> None:
    verdict = judge({"test_error": 0.5, "converged": True}, 0.529, 0.01, 3.0, 0.0)
    assert verdict["z"] == pytest.approx(2.9) and verdict["relative_error"] == pytest.approx(0.058)
    assert verdict["agree"]  # |z| ≤ 3
    assert not judge({"test_error": 0.5, "converged": True}, 0.531, 0.01, 3.0, 0.05)["agree"]
    assert judge({"test_error": 0.5, "converged": True}, 0.531, 0.01, 3.0, 0.07)[
        "agree"
    ]  # relative allowance


def test_zero_sem_leaves_only_the_relative_allowance_and_unconverged_theory_never_agrees() -> None:
    single_seed = judge({"test_error": 0.5, "converged": True}, 0.51, 0.0, 3.0, 0.05)
    assert single_seed["z"] is None and single_seed["agree"]
    assert not judge({"test_error": 0.5, "converged": False}, 0.5, 0.01, 3.0, 0.05)["agree"]
    assert judge({"test_error": None, "converged": True}, 0.5, 0.01, 3.0, 0.05)["z"] is None


def test_compare_points_and_summary() -> None:
    theory = {"points": [{"alpha": 1.0, "test_error": 0.4}, {"alpha": 2.0, "test_error": 0.2}]}
    simulation = {
        "points": [
            {"test_error": {"mean": 0.41, "sem": 0.01}},
            {"test_error": {"mean": 0.26, "sem": 0.01}},
        ]
    }
    points, summary = compare_points(theory, simulation, 3.0, 0.05)
    against = reference_curve(theory, "network")[1]
    assert [p["agree"] for p in points] == [True, False]
    assert summary["max_abs_z"] == pytest.approx(6.0) and summary["max_relative_error"] == pytest.approx(0.3)
    assert summary["agree"] is False and summary["criterion"] == criterion_text(3.0, 0.05, against)


def test_extrapolation_recovers_the_limit_of_an_exact_one_over_d_law() -> None:
    theory = {"points": [{"alpha": 1.0, "test_error": 0.3, "converged": True}]}
    sims = {d: {"points": [{"test_error": {"mean": 0.3 + 5.0 / d, "sem": 1e-3}}]} for d in (100, 200, 400)}
    block = extrapolation_block(theory, sims, 3.0, 0.01)
    (point,) = block["points"]
    assert block["dimensions"] == [100, 200, 400]
    assert point["limit"] == pytest.approx(0.3, abs=1e-9) and point["slope"] == pytest.approx(5.0, rel=1e-6)
    assert point["agree"] and block["summary"]["agree"]
