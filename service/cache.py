"""The persistent store: one SQLite file (WAL) holding results by key and the jobs.

* Several processes may share the file: WAL lets readers run beside one writer, every write is one
  short autocommit statement, and ``busy_timeout`` makes a writer wait for another process instead
  of failing. A result is written ``ON CONFLICT DO NOTHING``: results depend on the request alone, so
  when two processes compute the same key (in-process duplicates are prevented by the runner) the
  first writer wins and the second had the same content anyway.
* Each thread has its own connection (sqlite3 connections are not shared between threads).
* An unreadable or corrupt file is renamed ``<name>.corrupt-<time>`` (with its ``-wal``/``-shm``) with a
  logged warning, and a fresh file takes its place; if even that fails the store falls back to an
  in-memory database, so serving goes on (without persistence) and the error is logged.
"""

from __future__ import annotations

import itertools
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

log = logging.getLogger("srf.cache")

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    key TEXT PRIMARY KEY,
    endpoint TEXT NOT NULL,
    engine_version TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    endpoint TEXT NOT NULL,
    key TEXT NOT NULL,
    request TEXT NOT NULL,
    status TEXT NOT NULL,
    progress REAL NOT NULL DEFAULT 0,
    result TEXT,
    error TEXT,
    owner TEXT NOT NULL,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    heartbeat_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_unfinished ON jobs (status) WHERE status IN ('queued', 'running');
"""

JOB_COLUMNS = (
    "id, endpoint, key, request, status, progress, result, error, owner, host, pid, cancel_requested, "
    "created_at, updated_at, heartbeat_at"
)

_memory_ids = itertools.count()
_INIT_ATTEMPTS = 40


def _is_corruption(exc: sqlite3.DatabaseError) -> bool:
    """Corruption, as opposed to contention ('database is locked') or a programming error."""
    text = str(exc).lower()
    return any(s in text for s in ("malformed", "not a database", "corrupt", "file is encrypted"))


def _is_contention(exc: sqlite3.DatabaseError) -> bool:
    """Another process holds the file (e.g. switching it to WAL at the same moment): wait, retry."""
    text = str(exc).lower()
    return "locked" in text or "busy" in text


class Store:
    """Results and jobs in one SQLite file; opened lazily, so importing the app touches no disk."""

    def __init__(self, path: Path | str, *, busy_timeout_ms: int = 10_000) -> None:
        self.path = Path(path).expanduser()
        self.busy_timeout_ms = busy_timeout_ms
        self._lock = threading.RLock()
        self._local = threading.local()
        self._generation = 0  # bumped when the file is replaced: threads then reopen
        self._ready = False
        self._memory_uri: str | None = None
        self._keepalive: sqlite3.Connection | None = None  # keeps an in-memory fallback alive
        self.recovered_files: list[Path] = []

    # ------------------------------------------------------------------ connections

    def _open(self) -> sqlite3.Connection:
        if self._memory_uri is not None:
            conn = sqlite3.connect(self._memory_uri, uri=True, isolation_level=None, check_same_thread=False)
        else:
            conn = sqlite3.connect(
                self.path, timeout=self.busy_timeout_ms / 1000, isolation_level=None, check_same_thread=False
            )
        conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
        conn.execute("PRAGMA synchronous = NORMAL")
        return conn

    def _initialise(self) -> None:
        """Open (or create) the file, check it, create tables; move a corrupt file aside.

        Contention with another process starting on the same file is waited out (never mistaken
        for corruption, never a reason to give up persistence)."""
        moved = False
        for attempt in range(_INIT_ATTEMPTS):
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                conn = self._open()
                try:
                    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                    if str(mode).lower() != "wal":
                        log.warning("cache %s: journal_mode is %s, not wal", self.path, mode)
                    check = conn.execute("PRAGMA quick_check").fetchone()[0]
                    if check != "ok":
                        raise sqlite3.DatabaseError(f"database disk image is malformed: quick_check: {check}")
                    conn.executescript(SCHEMA)
                finally:
                    conn.close()
                return
            except sqlite3.DatabaseError as exc:
                if _is_contention(exc) and attempt < _INIT_ATTEMPTS - 1:
                    time.sleep(min(0.05 * (attempt + 1), 0.5))
                    continue
                if not moved and _is_corruption(exc) and self._move_aside(exc):
                    moved = True
                    continue
                self._fall_back_to_memory(exc)
                return
            except OSError as exc:
                self._fall_back_to_memory(exc)
                return

    def _move_aside(self, exc: BaseException) -> bool:
        stamp = time.strftime("%Y%m%dT%H%M%S")
        target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}-{time.time_ns() % 1_000_000:06d}")
        try:
            for suffix in ("", "-wal", "-shm"):
                source = Path(f"{self.path}{suffix}")
                if source.exists():
                    source.rename(Path(f"{target}{suffix}"))
        except OSError as err:
            log.error("cache %s is unreadable (%s) and could not be moved aside: %s", self.path, exc, err)
            return False
        log.warning(
            "cache %s is unreadable or corrupt (%s); moved it to %s and started a new one",
            self.path,
            exc,
            target,
        )
        self.recovered_files.append(target)
        return True

    def _fall_back_to_memory(self, exc: BaseException) -> None:
        log.error(
            "cache %s cannot be used (%s); results are kept in memory only until restart", self.path, exc
        )
        self._memory_uri = f"file:srf-store-{id(self)}-{next(_memory_ids)}?mode=memory&cache=shared"
        self._keepalive = self._open()
        self._keepalive.executescript(SCHEMA)

    def _connection(self) -> sqlite3.Connection:
        if not self._ready:
            with self._lock:
                if not self._ready:
                    self._initialise()
                    self._ready = True
        local = self._local
        if getattr(local, "conn", None) is None or local.generation != self._generation:
            old = getattr(local, "conn", None)
            if old is not None:
                old.close()
            local.conn = self._open()
            local.generation = self._generation
        return local.conn

    def _recover(self, exc: sqlite3.DatabaseError) -> None:
        """Corruption found while serving: move the file aside and start afresh."""
        with self._lock:
            if self._memory_uri is None and self._move_aside(exc):
                self._generation += 1
                self._ready = False

    def _run(self, operation: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``operation`` on this thread's connection, recovering once from a corrupt file."""
        try:
            return operation(self._connection())
        except sqlite3.DatabaseError as exc:
            if not _is_corruption(exc):
                raise
            self._recover(exc)
            return operation(self._connection())

    def ensure_open(self) -> None:
        """Open and check the file now (startup) rather than on the first request."""
        self._run(lambda conn: conn.execute("SELECT 1").fetchone())

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # ------------------------------------------------------------------ results

    def get_text(self, key: str) -> str | None:
        """The stored JSON body of ``key``, or None; a failing read is a miss (logged), never an error."""
        try:
            row = self._run(
                lambda conn: conn.execute("SELECT body FROM results WHERE key = ?", (key,)).fetchone()
            )
        except sqlite3.Error as exc:
            log.warning("cache read of %s failed (%s); computing instead", key, exc)
            return None
        return None if row is None else row[0]

    def get(self, key: str) -> dict[str, Any] | None:
        text = self.get_text(key)
        return None if text is None else json.loads(text)

    def put(self, key: str, endpoint: str, engine_version: str, body: dict[str, Any]) -> None:
        """Store ``body`` under ``key`` (first writer wins); a failing write is logged, not raised."""
        text = json.dumps(body, allow_nan=False, separators=(",", ":"))
        try:
            self._run(
                lambda conn: conn.execute(
                    "INSERT INTO results (key, endpoint, engine_version, body, created_at) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT(key) DO NOTHING",
                    (key, endpoint, engine_version, text, time.time()),
                )
            )
        except sqlite3.Error as exc:
            log.warning("cache write of %s failed (%s); the result is served but not stored", key, exc)

    def count_results(self) -> int:
        return int(self._run(lambda conn: conn.execute("SELECT COUNT(*) FROM results").fetchone()[0]))

    # ------------------------------------------------------------------ jobs (rows as dicts)

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> int:
        """One write statement; returns the number of rows changed."""
        return int(self._run(lambda conn: conn.execute(sql, params).rowcount))

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        def run(conn: sqlite3.Connection) -> list[dict[str, Any]]:
            cursor = conn.execute(sql, params)
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

        return self._run(run)
