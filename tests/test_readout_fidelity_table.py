"""The measured ranges that readout-class results quote in their warnings (``MEASURED`` in
srf_engine/theory/class_curve.py) are those of docs/fidelity.md's rows of readout classes and
multi-index targets: each regime's range is recomputed from the document's rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from srf_engine.theory.class_curve import MEASURED, MEASURED_ONE_STEP
from srf_engine.theory.multiindex import MULTI_INDEX_TARGETS

DOC = Path(__file__).resolve().parents[1] / "docs" / "fidelity.md"
SECTION = "## Readout classes and multi-index targets"
ODD = {"tanh", "erf"}


def _percent(cell: str) -> float:
    return float(cell.strip().rstrip("%").strip())


def rows_of_the_document() -> list[list[str]]:
    text = DOC.read_text(encoding="utf-8").split(SECTION, 1)[1]
    rows = []
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 13 and "/" in cells[0] and cells[0] != "case" and not cells[0].startswith("-"):
            rows.append(cells)
    return rows


def ranges_from_the_document() -> dict[str, dict[tuple[str, bool], tuple[float, float, float, float]]]:
    spans: dict[str, dict[tuple[str, bool], list[tuple[float, float]]]] = {"mp": {}, "one_step": {}}
    for cells in rows_of_the_document():
        student, teacher = cells[0].split("/", 1)
        if cells[1] == "uniform":
            continue  # one class: its warning sends the user to the uniform readout's theory
        kind = "multi-index" if teacher in MULTI_INDEX_TARGETS else "odd" if student in ODD else "curved"
        below = float(cells[4]) < float(cells[3])
        for bulk, test, train in (("mp", cells[7], cells[10]), ("one_step", cells[8], cells[11])):
            spans[bulk].setdefault((kind, below), []).append((_percent(test), _percent(train)))
    out: dict[str, dict[tuple[str, bool], tuple[float, float, float, float]]] = {}
    for bulk, regimes in spans.items():
        out[bulk] = {
            regime: (
                min(t for t, _ in values),
                max(t for t, _ in values),
                min(r for _, r in values),
                max(r for _, r in values),
            )
            for regime, values in regimes.items()
        }
    return out


def test_the_document_has_the_rows() -> None:
    assert len(rows_of_the_document()) >= 34


@pytest.mark.parametrize("bulk", ["mp", "one_step"])
def test_the_measured_ranges_are_those_of_docs_fidelity(bulk: str) -> None:
    document = ranges_from_the_document()[bulk]
    assert set(document) == set(MEASURED)
    for regime, spans in document.items():
        quoted = MEASURED[regime] if bulk == "mp" else MEASURED_ONE_STEP.get(regime, MEASURED[regime])
        assert spans == pytest.approx(quoted, abs=0.051), regime
