"""The measured accuracy a result reports (``fidelity``, srf_engine/theory/fidelity.py) is the table of
docs/fidelity.md: each theory's range per regime is recomputed from the document's rows."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from srf_engine.theory.fidelity import MEASURED, ODD_SMALL_ALPHA0

DOC = Path(__file__).resolve().parents[1] / "docs" / "fidelity.md"
ROW = re.compile(r"^\| (\w+)/\w+, α0 = ([\d.]+), width ([\d.]+) \| ([\d.]+) \|")
#: The document's theory columns, in order, as ``(mapping, bulk, row_norm)``.
COLUMNS = [
    ("paper", "marchenko_pastur", False),
    ("corrected", "marchenko_pastur", False),
    ("corrected", "one_step", False),
    ("corrected", "one_step_sampled", False),
    ("corrected", "one_step", True),
    ("corrected", "one_step_sampled", True),
]
CURVED = {"relu", "relu_centered", "hermite"}  # E σ'' ≠ 0; erf is odd
CENTRED = {"relu_centered", "erf"}  # the paper's mapping is measured on these only


def _percent(cell: str) -> float:
    return float(cell.strip().rstrip("%").strip())


def ranges_from_the_document() -> dict[tuple, dict[tuple, dict[str, list[float]]]]:
    found: dict[tuple, dict[tuple, dict[str, list[float]]]] = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        match = ROW.match(line)
        if not match:
            continue
        student, alpha0, width, alpha = match.group(1), *map(float, match.groups()[1:])
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        test, train = cells[3:9], cells[10:16]
        kind = "curved" if student in CURVED else "odd" if alpha0 >= ODD_SMALL_ALPHA0 else "odd_small_alpha0"
        regime = (kind, "below_width" if alpha < width else "above_width")
        for theory, t, r in zip(COLUMNS, test, train, strict=True):
            if theory[0] == "paper" and student not in CENTRED:
                continue
            spans = found.setdefault(theory, {}).setdefault(regime, {"test": [], "train": []})
            spans["test"].append(_percent(t))
            spans["train"].append(_percent(r))
    return found


def test_the_document_has_the_rows() -> None:
    assert sum(len(s["test"]) for s in ranges_from_the_document()[COLUMNS[1]].values()) >= 100


@pytest.mark.parametrize("theory", COLUMNS, ids=lambda t: "+".join(map(str, t)))
def test_measured_ranges_are_those_of_docs_fidelity(theory) -> None:
    document = ranges_from_the_document()[theory]
    assert set(document) == set(MEASURED[theory])
    for regime, spans in document.items():
        for key in ("test", "train"):
            lo, hi = MEASURED[theory][regime][key]
            assert (min(spans[key]), max(spans[key])) == pytest.approx((lo, hi), abs=0.051), (regime, key)
