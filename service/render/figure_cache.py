"""Rendered figures in the store, by (result key, format, options): a repeat is not drawn again.

Figures live in their own table of the results file, created on first use. A figure is only a view
of a result: when the result is gone (evicted or cleared) its figures are deleted at the next
write, and each result keeps at most :data:`PER_RESULT` figures (the least recently made go first).
Figures count in ``SRF_CACHE_MAX_BYTES`` with the results: past it the oldest figures are deleted first
(they are redrawn from their result, cheaply). A failing read is a miss and a failing write is logged:
the figure is still served.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import time

from ..store.sqlite import Store
from .formats import Output

log = logging.getLogger("srf.figures")

PER_RESULT = 16
#: Bumped when figures change for the same result: it is part of a rendered figure's cache key.
PLOT_VERSION = "2"

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS figures (key TEXT PRIMARY KEY, result_key TEXT NOT NULL, "
    "media_type TEXT NOT NULL, data BLOB NOT NULL, created_at REAL NOT NULL)"
)
INDEX = "CREATE INDEX IF NOT EXISTS figures_by_result ON figures (result_key, created_at)"


def figure_key(result_key: str, output: Output) -> str:
    """SHA-256 of the result's key, the format, the options and the drawing code's version."""
    text = f"figure|{PLOT_VERSION}|{result_key}|{output.format}|{output.figure.canonical()}"
    return hashlib.sha256(text.encode()).hexdigest()


def get(store: Store, key: str) -> bytes | None:
    try:
        rows = store.query("SELECT data FROM figures WHERE key = ?", (key,))
    except sqlite3.Error:  # no table yet (or a passing fault): a miss
        return None
    return bytes(rows[0]["data"]) if rows else None


def put(store: Store, key: str, result_key: str, media_type: str, data: bytes) -> None:
    try:
        store.execute(SCHEMA)
        store.execute(INDEX)
        store.execute(
            "INSERT INTO figures (key, result_key, media_type, data, created_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT(key) DO NOTHING",
            (key, result_key, media_type, data, time.time()),
        )
        store.execute(
            "DELETE FROM figures WHERE result_key = ? AND key NOT IN (SELECT key FROM figures "
            "WHERE result_key = ? ORDER BY created_at DESC LIMIT ?)",
            (result_key, result_key, PER_RESULT),
        )
        store.execute("DELETE FROM figures WHERE result_key NOT IN (SELECT key FROM results)")
        if store.max_bytes is not None:
            _within_budget(store, store.max_bytes)
    except sqlite3.Error as exc:
        log.warning("figure cache write of %s failed (%s); the figure is served but not stored", key, exc)


def _within_budget(store: Store, max_bytes: int) -> None:
    """Delete the oldest figures until figures and results together fit in ``max_bytes``."""
    results = int(store.query("SELECT COALESCE(SUM(size), 0) AS n FROM results")[0]["n"])
    room = max(0, max_bytes - results)
    store.execute(
        "DELETE FROM figures WHERE key IN (SELECT key FROM (SELECT key, SUM(LENGTH(data)) OVER "
        "(ORDER BY created_at DESC, key ROWS UNBOUNDED PRECEDING) AS kept FROM figures) WHERE kept > ?)",
        (room,),
    )


def total_bytes(store: Store) -> int:
    try:
        return int(store.query("SELECT COALESCE(SUM(LENGTH(data)), 0) AS n FROM figures")[0]["n"])
    except sqlite3.Error:
        return 0


def count(store: Store) -> int:
    try:
        return int(store.query("SELECT COUNT(*) AS n FROM figures")[0]["n"])
    except sqlite3.Error:
        return 0
