"""CSV of a result: one row per point with its six coordinates and its errors.

Columns, after ``alpha, learning_rate, alpha0, ridge, noise, width`` and the point's sRF parameters
``c, r, gamma``:

* theory: ``test_error, train_error, converged, baseline_test_error, baseline_train_error``;
* simulation: ``model, dimension, seeds``, then mean, sem and std of the test and training errors; with
  ``steps`` asked, the point's ``steps`` after ``width``; a network after a step has one row per (point,
  step ``t = 1 … steps``): ``step``, the mean and sem over seeds of the top singular values of
  ``(W_t − W_0)/√p`` (``sv1_mean, sv1_sem, …``) and of their right singular vectors' ``|cos|`` with each
  teacher direction (``overlap1_1_mean`` … : vector ``i``, direction ``j``), docs/theory.md §11.1;
* comparison: ``theory, simulation_mean, simulation_sem, z, relative_error, agree`` (and, with an
  extrapolation, ``limit, limit_sem, limit_z``);
* learned function: one row per (α, κ): ``kappa, target, after_step, at_initialisation``, with the
  point's ``test_error`` and ``baseline_test_error``.

An empty cell is a null of the JSON (a value that was not computed or not trusted; the JSON's
``warnings`` say why). Numbers are written in their shortest round-trip form.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .views import baseline_aligned, coordinates, has_steps, kind_of, points_of, request_of, srf_of

#: Coordinates first, in the order a reader expects (α first), then the sRF parameters.
COORDINATES = ("alpha", "learning_rate", "alpha0", "ridge", "noise", "width")
SRF_COLUMNS = ("c", "r", "gamma")


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return value


def _write(columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
    return out.getvalue()


def _base_rows(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for point, coords in zip(points_of(body), coordinates(body), strict=True):
        srf = srf_of(body, point) or {}
        rows.append({**coords, **{k: srf.get(k) for k in SRF_COLUMNS}})
    return rows


def _stat(stats: Any, name: str) -> Any:
    return stats.get(name) if isinstance(stats, Mapping) else None


def theory_csv(body: Mapping[str, Any]) -> str:
    rows = _base_rows(body)
    for row, point, base in zip(rows, points_of(body), baseline_aligned(body), strict=True):
        row.update(
            test_error=point.get("test_error"),
            train_error=point.get("train_error"),
            converged=point.get("converged"),
            baseline_test_error=None if base is None else base.get("test_error"),
            baseline_train_error=None if base is None else base.get("train_error"),
        )
    columns = (
        *COORDINATES,
        *SRF_COLUMNS,
        "test_error",
        "train_error",
        "converged",
        "baseline_test_error",
        "baseline_train_error",
    )
    return _write(columns, rows)


def _learned_columns(steps: Mapping[str, Any]) -> dict[str, Any]:
    """One step's first-layer measurement as CSV cells (mean and sem over seeds)."""
    out: dict[str, Any] = {"step": steps.get("step")}
    values = steps.get("singular_values") or {}
    overlaps = steps.get("overlaps") or {}
    for i, (mean, sem) in enumerate(zip(values.get("mean") or [], values.get("sem") or [], strict=False), 1):
        out[f"sv{i}_mean"], out[f"sv{i}_sem"] = mean, sem
    pairs = zip(overlaps.get("mean") or [], overlaps.get("sem") or [], strict=False)
    for i, (means, sems) in enumerate(pairs, 1):
        for j, (mean, sem) in enumerate(zip(means, sems, strict=False), 1):
            out[f"overlap{i}_{j}_mean"], out[f"overlap{i}_{j}_sem"] = mean, sem
    return out


def simulate_csv(body: Mapping[str, Any]) -> str:
    rows = []
    seeds = body.get("seeds") or request_of(body).get("seeds") or []
    learned_columns: dict[str, None] = {}
    for row, point in zip(_base_rows(body), points_of(body), strict=True):
        row.update(model=body.get("model"), dimension=body.get("dimension"), seeds=len(seeds) or None)
        for which in ("test_error", "train_error"):
            for stat in ("mean", "sem", "std"):
                row[f"{which}_{stat}"] = _stat(point.get(which), stat)
        layers = point.get("first_layer")
        if not isinstance(layers, list) or not layers:
            rows.append(row)
            continue
        for entry in layers:  # one row per (point, step)
            cells = _learned_columns(entry)
            learned_columns.update(dict.fromkeys(cells))
            rows.append({**row, **cells})
    columns = (
        *COORDINATES,
        *(("steps",) if has_steps(body) else ()),
        *SRF_COLUMNS,
        "model",
        "dimension",
        "seeds",
        *(f"{w}_{s}" for w in ("test_error", "train_error") for s in ("mean", "sem", "std")),
        *learned_columns,
    )
    return _write(columns, rows)


def compare_csv(body: Mapping[str, Any]) -> str:
    rows = _base_rows(body)
    columns = [
        *COORDINATES,
        *SRF_COLUMNS,
        "theory",
        "simulation_mean",
        "simulation_sem",
        "z",
        "relative_error",
        "agree",
    ]
    for row, point in zip(rows, points_of(body), strict=True):
        row.update({k: point.get(k) for k in columns[len(COORDINATES) + len(SRF_COLUMNS) :]})
    extrapolation = body.get("extrapolation")
    if isinstance(extrapolation, Mapping) and len(extrapolation.get("points") or []) == len(rows):
        columns += ["limit", "limit_sem", "limit_z"]
        for row, point in zip(rows, extrapolation["points"], strict=True):
            row.update(limit=point.get("limit"), limit_sem=point.get("limit_sem"), limit_z=point.get("z"))
    return _write(columns, rows)


def function_csv(body: Mapping[str, Any]) -> str:
    rows = []
    for base, point in zip(_base_rows(body), points_of(body), strict=True):
        for i, kappa in enumerate(point.get("kappa") or []):
            rows.append(
                {
                    **base,
                    "kappa": kappa,
                    **{f: _at(point.get(f), i) for f in ("target", "after_step", "at_initialisation")},
                    "test_error": point.get("test_error"),
                    "baseline_test_error": point.get("baseline_test_error"),
                }
            )
    columns = (
        *COORDINATES,
        *SRF_COLUMNS,
        "kappa",
        "target",
        "after_step",
        "at_initialisation",
        "test_error",
        "baseline_test_error",
    )
    return _write(columns, rows)


def _at(values: Any, i: int) -> Any:
    return values[i] if isinstance(values, list) and i < len(values) else None


WRITERS = {"theory": theory_csv, "simulate": simulate_csv, "compare": compare_csv, "function": function_csv}


def to_csv(body: Mapping[str, Any]) -> str:
    """The CSV of any result body (its kind is read from its shape)."""
    return WRITERS[kind_of(body)](body)
