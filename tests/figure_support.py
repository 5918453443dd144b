"""Result bodies of a known shape for the format and figure tests (imported by test_views.py, …).

``grid_theory`` lays out a theory body over (η̃, α) in the documented C order with a test error of
known form, ε(η̃, α) = (ln η̃ − ln 2)² + 0.1/α + 0.05, whose minimum over η̃ is at η̃ = 2 for every α,
so the tests can check what is drawn and written without an engine.
"""

from __future__ import annotations

import math
from typing import Any

PROBLEM = {"student": "tanh", "teacher": "sin", "alpha0": 20.0, "ridge": 0.1, "noise": 0.0, "width": 1.0}


def error(lr: float, alpha: float) -> float:
    return (math.log(lr) - math.log(2.0)) ** 2 + 0.1 / alpha + 0.05


def grid_theory(lrs: list[float], alphas: list[float]) -> dict[str, Any]:
    points, baseline = [], []
    for lr in lrs:
        for a in alphas:
            coords = {**{k: PROBLEM[k] for k in ("alpha0", "ridge", "noise", "width")}, "learning_rate": lr}
            points.append(
                {
                    "alpha": a,
                    **coords,
                    "test_error": error(lr, a),
                    "train_error": error(lr, a) / 2,
                    "converged": True,
                }
            )
            baseline.append({"alpha": a, **coords, "test_error": 1.0 + 0.1 / a, "train_error": 0.5})
    return {
        "key": "0" * 64,
        "cached": False,
        "engine_version": "test",
        "request": {**PROBLEM, "srf": None, "learning_rate": lrs, "alphas": alphas},
        "srf": {"c": 1.0, "r": 1.0, "gamma": 0.9},
        "grid": {
            "axes": [{"name": "learning_rate", "values": lrs}, {"name": "alpha", "values": alphas}],
            "shape": [len(lrs), len(alphas)],
        },
        "points": points,
        "baseline": baseline,
        "warnings": [],
    }


def grid_simulation(lrs: list[float], alphas: list[float]) -> dict[str, Any]:
    theory = grid_theory(lrs, alphas)
    points = []
    for p in theory["points"]:
        stats = {"mean": p["test_error"] * 1.01, "std": 0.002, "sem": 0.001, "values": [p["test_error"]]}
        points.append(
            {
                **{k: p[k] for k in ("alpha", "learning_rate", "alpha0", "ridge", "noise", "width")},
                "test_error": stats,
                "train_error": dict(stats, mean=p["train_error"]),
            }
        )
    request = {
        **theory["request"],
        "model": "network",
        "dimension": 200,
        "seeds": [0, 1],
        "test_samples": 400,
    }
    return {
        **{k: theory[k] for k in ("key", "cached", "engine_version", "srf", "grid")},
        "request": request,
        "model": "network",
        "dimension": 200,
        "seeds": [0, 1],
        "points": points,
        "warnings": [],
    }


def grid_compare(lrs: list[float], alphas: list[float], *, extrapolation: bool = False) -> dict[str, Any]:
    theory, sim = grid_theory(lrs, alphas), grid_simulation(lrs, alphas)
    points = []
    for t, s in zip(theory["points"], sim["points"], strict=True):
        mean, sem = s["test_error"]["mean"], s["test_error"]["sem"]
        z = (mean - t["test_error"]) / sem
        points.append(
            {
                **{k: t[k] for k in ("alpha", "learning_rate", "alpha0", "ridge", "noise", "width")},
                "theory": t["test_error"],
                "simulation_mean": mean,
                "simulation_sem": sem,
                "z": z,
                "relative_error": (mean - t["test_error"]) / t["test_error"],
                "agree": abs(z) <= 3,
                "theory_converged": True,
            }
        )
    body = {
        "key": "1" * 64,
        "cached": False,
        "engine_version": "test",
        "request": sim["request"],
        "theory": theory,
        "simulation": sim,
        "points": points,
        "summary": {"max_abs_z": max(abs(p["z"]) for p in points), "agree": False, "criterion": "…"},
        "warnings": [],
    }
    if extrapolation:
        body["extrapolation"] = {
            "dimensions": [100, 200],
            "points": [
                {
                    "alpha": p["alpha"],
                    "theory": p["theory"],
                    "limit": p["theory"],
                    "limit_sem": 0.002,
                    "slope": 1.0,
                    "z": 0.0,
                    "relative_error": 0.0,
                    "agree": True,
                }
                for p in points
            ],
            "summary": body["summary"],
        }
    return body


def function_body(alphas: list[float], n_kappa: int = 21) -> dict[str, Any]:
    kappa = [-4 + 8 * i / (n_kappa - 1) for i in range(n_kappa)]
    points = [
        {
            "alpha": a,
            "kappa": kappa,
            "target": [math.sin(k) for k in kappa],
            "after_step": [0.8 * math.sin(k) for k in kappa],
            "at_initialisation": [0.3 * k for k in kappa],
            "test_error": 0.1,
            "baseline_test_error": 0.4,
        }
        for a in alphas
    ]
    request = {**PROBLEM, "srf": None, "learning_rate": 3.0, "alphas": alphas}
    return {
        "key": "2" * 64,
        "cached": False,
        "engine_version": "test",
        "request": request,
        "srf": {"c": 1.0, "r": 1.0, "gamma": 0.9},
        "points": points,
        "warnings": [],
    }
