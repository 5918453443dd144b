"""The JSON of a large body, encoded in pieces: the same text as ``json.dumps``, in bounded pieces."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.store.json_text import SLICE_VALUES, json_chunks, json_text

FLOATS = st.floats(allow_nan=False, allow_infinity=False)
SCALARS = st.none() | st.booleans() | st.integers() | FLOATS | st.text()
BODIES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=40,
)


def _dumps(value: object, ensure_ascii: bool = True) -> str:
    return json.dumps(value, allow_nan=False, ensure_ascii=ensure_ascii, separators=(",", ":"))


@settings(max_examples=300, deadline=None)
@given(BODIES, st.booleans())
def test_the_text_is_json_dumps_text(body: object, ensure_ascii: bool) -> None:
    assert json_text(body, ensure_ascii=ensure_ascii) == _dumps(body, ensure_ascii)


def test_a_large_body_comes_in_pieces_of_bounded_size_and_the_same_text() -> None:
    curves = [[math.sin(i * j) for j in range(3 * SLICE_VALUES + 7)] for i in range(5)]
    body = {
        "key": "k",
        "points": [{"alpha": 0.1 * i, "f": c, "small": [1, 2]} for i, c in enumerate(curves)],
        "many": [{"x": i, "y": [i, -i]} for i in range(2 * SLICE_VALUES)],
        "elapsed_seconds": 0.5,
    }
    pieces = list(json_chunks(body))
    assert "".join(pieces) == _dumps(body)
    longest = max(len(p) for p in pieces)
    assert longest < 30 * SLICE_VALUES < len(_dumps(body)) / 5, longest


def test_nan_is_refused_as_json_dumps_refuses_it() -> None:
    with pytest.raises(ValueError):
        json_text({"values": [0.0] * (2 * SLICE_VALUES) + [math.nan]})
