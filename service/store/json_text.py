"""JSON text of a large body, encoded in pieces so that encoding never stalls the event loop.

``json.dumps`` encodes a whole body in one C call that holds the interpreter lock from start to end:
17 MB of numbers hold it for a third of a second, and the event loop, in another thread, waits that
long. :func:`json_chunks` encodes the same text as many calls of at most :data:`SLICE_VALUES` numbers
each (a list too long is cut into slices, a container holding one is opened), so the lock changes
hands between two of them. The text is the one ``json.dumps`` gives with the same options.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import partial
from typing import Any

#: Values encoded by one ``json.dumps`` call: about a millisecond of work.
SLICE_VALUES = 4096
_SCALARS = (str, int, float, bool, type(None))


def _values(value: Any) -> int:
    """How many scalars ``value`` holds (a list of scalars is counted by its length, not walked)."""
    if isinstance(value, dict):
        return sum(_values(v) for v in value.values()) + len(value)
    if isinstance(value, (list, tuple)):
        if not value or isinstance(value[0], _SCALARS):
            return len(value)
        return sum(_values(v) for v in value)
    return 1


def _is_str(key: Any) -> bool:
    return isinstance(key, str)


def json_chunks(value: Any, *, ensure_ascii: bool = True) -> Iterator[str]:
    """The compact JSON text of ``value`` (no NaN, ``separators=(",", ":")``), in pieces."""
    dumps = partial(json.dumps, allow_nan=False, ensure_ascii=ensure_ascii, separators=(",", ":"))
    yield from _chunks(value, dumps)


def _chunks(value: Any, dumps: Any) -> Iterator[str]:
    if _values(value) <= SLICE_VALUES or (isinstance(value, dict) and not all(map(_is_str, value))):
        yield dumps(value)  # small, or keys that JSON spells its own way (true, 1.5): whole
    elif isinstance(value, dict):
        yield "{"
        for i, (name, item) in enumerate(value.items()):
            yield ("," if i else "") + dumps(name) + ":"
            yield from _chunks(item, dumps)
        yield "}"
    else:
        yield "["
        yield from _list_items(list(value), dumps)
        yield "]"


def _list_items(items: list[Any], dumps: Any) -> Iterator[str]:
    """The items of a list, comma-separated: runs of small items as one slice, large ones opened."""
    if isinstance(items[0], _SCALARS):  # a list of numbers: cut into slices, nothing to open
        for i in range(0, len(items), SLICE_VALUES):
            yield ("," if i else "") + dumps(items[i : i + SLICE_VALUES])[1:-1]
        return
    first, start, count = True, 0, 0
    for i, item in enumerate(items):
        size = _values(item)
        if size > SLICE_VALUES or count + size > SLICE_VALUES:
            if i > start:
                yield ("" if first else ",") + dumps(items[start:i])[1:-1]
                first = False
            start, count = i, 0
        if size > SLICE_VALUES:
            if not first:
                yield ","
            yield from _chunks(item, dumps)
            first, start = False, i + 1
        else:
            count += size
    if len(items) > start:
        yield ("" if first else ",") + dumps(items[start:])[1:-1]


def json_text(value: Any, *, ensure_ascii: bool = True) -> str:
    """``json.dumps(value, allow_nan=False, separators=(",", ":"))``, encoded in pieces."""
    return "".join(json_chunks(value, ensure_ascii=ensure_ascii))
