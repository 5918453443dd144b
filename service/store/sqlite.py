"""The persistent store: one SQLite file (WAL) holding results by key and the jobs.

* Several processes may share the file: WAL lets readers run beside one writer, every write is one
  short autocommit statement, and ``busy_timeout`` makes a writer wait for another process instead
  of failing. A result is written ``ON CONFLICT DO NOTHING``: results depend on the request alone, so
  when two processes compute the same key (in-process duplicates are prevented by the runner) the
  first writer wins and the second had the same content anyway.
* Each thread has its own connection (sqlite3 connections are not shared between threads); callers on
  an event loop run every method in a worker thread. A write that still finds the file locked after
  the busy timeout raises :class:`StoreBusy` (the service answers 503 with ``Retry-After``).
* Retention: results carry their size and when they were last used; past ``max_bytes`` the least
  recently used are evicted. Finished jobs older than a TTL are deleted (:meth:`Store.purge_jobs`).
* Start-up refuses, with :class:`StoreError`, a path that is a directory, cannot be created, or holds
  another application's SQLite file. A corrupt file is renamed ``<name>.corrupt-<time>`` (with its
  ``-wal``/``-shm``), a warning is logged and a fresh file takes its place; the listeners registered
  with :meth:`Store.on_recreate` (the jobs in flight) then write themselves into the new file.
* ``<name>.count`` records how many results the file held; a store that opens with fewer than that
  (a damaged ``-wal``, a file replaced or moved aside) says so in an error log line. A clean close
  checkpoints the WAL into the main file (``wal_checkpoint(TRUNCATE)``).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from .json_text import json_text

log = logging.getLogger("srf.cache")

T = TypeVar("T")

#: ``PRAGMA application_id`` of our files ("SRF1"): tells them from another application's SQLite file.
APPLICATION_ID = 0x53524631

SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    key TEXT PRIMARY KEY,
    endpoint TEXT NOT NULL,
    engine_version TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at REAL NOT NULL,
    size INTEGER NOT NULL DEFAULT 0,
    used_at REAL NOT NULL DEFAULT 0
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
    heartbeat_at REAL NOT NULL,
    result_cached INTEGER
);
CREATE INDEX IF NOT EXISTS jobs_unfinished ON jobs (status) WHERE status IN ('queued', 'running');
"""

#: Columns added since the first release, with their definitions (older files are migrated).
_ADDED_COLUMNS = {
    "results": {"size": "INTEGER NOT NULL DEFAULT 0", "used_at": "REAL NOT NULL DEFAULT 0"},
    # requester: the short id of the API key that submitted the job (NULL without keys): its only reader
    "jobs": {"result_cached": "INTEGER", "requester": "TEXT"},
}
#: Tables srf creates (``figures``: rendered plots, by service/render/figure_cache.py).
_OUR_TABLES = frozenset({*_ADDED_COLUMNS, "figures"})

JOB_COLUMNS = (
    "id, endpoint, key, request, status, progress, result, error, owner, host, pid, cancel_requested, "
    "created_at, updated_at, heartbeat_at, result_cached, requester"
)
FINISHED_STATUSES = ("done", "failed", "cancelled")

_INSERT_RESULT = (
    "INSERT INTO results (key, endpoint, engine_version, body, created_at, size, used_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(key) DO NOTHING"
)
_INIT_ATTEMPTS = 40
#: A hit refreshes its ``used_at`` in memory; the times reach the file with the next write, at most
#: this often per key, so that reading never waits for the write lock.
_TOUCH_SECONDS = 30.0
#: Eviction brings the results down to this share of the cap, so that it does not run on every write.
_EVICT_TO = 0.9


class StoreError(RuntimeError):
    """The store cannot be used at all (start-up): the message says why and what to do."""


class StoreBusy(sqlite3.OperationalError):
    """Another process held the file's write lock for longer than the busy timeout (an
    ``sqlite3.Error``, so that code treating a failed write as a miss keeps doing so)."""


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

    def __init__(
        self, path: Path | str, *, busy_timeout_ms: int = 10_000, max_bytes: int | None = None
    ) -> None:
        self.path = Path(path).expanduser()
        self.busy_timeout_ms = busy_timeout_ms
        self.max_bytes = max_bytes
        self._lock = threading.RLock()
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._generation = 0  # bumped when the file is replaced: threads then reopen
        self._ready = False
        self._touched: dict[str, float] = {}
        self._recreate_listeners: list[Callable[[], None]] = []
        self.recovered_files: list[Path] = []

    @property
    def count_path(self) -> Path:
        """The side file recording how many results the store held."""
        return self.path.with_name(f"{self.path.name}.count")

    # ------------------------------------------------------------------ connections

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, timeout=self.busy_timeout_ms / 1000, isolation_level=None, check_same_thread=False
        )
        conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
        conn.execute("PRAGMA synchronous = NORMAL")
        return conn

    def _check_path(self) -> None:
        if self.path.is_dir():
            raise StoreError(
                f"SRF_CACHE_PATH {self.path} is a directory; it must name a file, "
                f"e.g. {self.path / 'cache.sqlite3'}"
            )
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"SRF_CACHE_PATH {self.path}: cannot create its directory {self.path.parent} ({exc})"
            ) from exc

    def _check_ours(self, conn: sqlite3.Connection) -> None:
        """Refuse another application's SQLite file; stamp a new (or pre-stamp srf) file as ours."""
        app_id = int(conn.execute("PRAGMA application_id").fetchone()[0])
        tables = {
            row[0]
            for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if not row[0].startswith("sqlite_")
        }
        if app_id == APPLICATION_ID:
            return
        if app_id != 0 or not tables <= _OUR_TABLES:
            listed = ", ".join(sorted(tables)) or "none"
            raise StoreError(
                f"SRF_CACHE_PATH {self.path} is an SQLite file of another application "
                f"(application_id {app_id:#x}, tables: {listed}); srf will not add its tables to it: "
                "point SRF_CACHE_PATH at a file of its own"
            )
        if not tables:
            # Must precede the first table: lets evictions give pages back (PRAGMA incremental_vacuum).
            conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")

    @staticmethod
    def _migrate(conn: sqlite3.Connection) -> None:
        for table, columns in _ADDED_COLUMNS.items():
            present = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
            for name, definition in columns.items():
                if name not in present:
                    with contextlib.suppress(sqlite3.OperationalError):  # another process just did it
                        conn.execute(f"ALTER TABLE {table} ADD COLUMN {name} {definition}")
        conn.execute("CREATE INDEX IF NOT EXISTS results_used ON results (used_at)")

    def _initialise(self) -> None:
        """Open (or create) the file, check it, create tables; move a corrupt file aside.

        Contention with another process starting on the same file is waited out (never mistaken
        for corruption, never a reason to give up persistence)."""
        self._check_path()
        moved = False
        for attempt in range(_INIT_ATTEMPTS):
            try:
                conn = self._open()
                try:
                    check = conn.execute("PRAGMA quick_check").fetchone()[0]
                    if check != "ok":
                        raise sqlite3.DatabaseError(f"database disk image is malformed: quick_check: {check}")
                    self._check_ours(conn)
                    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                    if str(mode).lower() != "wal":
                        log.warning("cache %s: journal_mode is %s, not wal", self.path, mode)
                    conn.executescript(SCHEMA)
                    self._migrate(conn)
                    self._check_count(conn)
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
                raise StoreError(f"SRF_CACHE_PATH {self.path} cannot be used as the cache: {exc}") from exc
            except OSError as exc:
                raise StoreError(f"SRF_CACHE_PATH {self.path} cannot be used as the cache: {exc}") from exc

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
                self._forget(old)
            local.conn = self._open()
            local.generation = self._generation
            with self._lock:
                self._connections.append(local.conn)
        return local.conn

    def _forget(self, conn: sqlite3.Connection) -> None:
        with self._lock:
            if conn in self._connections:
                self._connections.remove(conn)
        with contextlib.suppress(sqlite3.Error):
            conn.close()

    def on_recreate(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` (in the thread that found it) after a corrupt file was replaced."""
        self._recreate_listeners.append(listener)

    def _recover(self, exc: sqlite3.DatabaseError) -> None:
        """Corruption found while serving: move the file aside, start afresh, tell the listeners."""
        with self._lock:
            if not self._move_aside(exc):
                raise StoreError(f"cache {self.path} is corrupt and could not be moved aside: {exc}") from exc
            self._generation += 1
            self._ready = False
        for listener in self._recreate_listeners:
            try:
                listener()
            except Exception:
                log.exception("cache %s: restoring state into the new file failed", self.path)

    def _run(self, operation: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``operation`` on this thread's connection, recovering once from a corrupt file;
        lock contention past the busy timeout is :class:`StoreBusy`."""
        try:
            try:
                return operation(self._connection())
            except sqlite3.DatabaseError as exc:
                if not _is_corruption(exc):
                    raise
                self._recover(exc)
                return operation(self._connection())
        except sqlite3.OperationalError as exc:
            if _is_contention(exc) and not isinstance(exc, StoreBusy):
                raise StoreBusy(
                    f"the cache file is locked by another process (waited {self.busy_timeout_ms} ms)"
                ) from exc
            raise

    def ensure_open(self) -> None:
        """Open and check the file now (startup) rather than on the first request."""
        self._run(lambda conn: conn.execute("SELECT 1").fetchone())

    def close(self) -> None:
        """Write pending use times, checkpoint the WAL into the main file and close every connection."""
        if not self._ready:
            return
        with contextlib.suppress(sqlite3.Error, StoreBusy, StoreError):
            self._flush_touched()
        try:
            busy = self._run(lambda conn: conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone())[0]
            if busy:
                log.info("cache %s: another process is reading; the WAL is checkpointed later", self.path)
        except (sqlite3.Error, StoreBusy, StoreError) as exc:
            log.warning("cache %s: checkpoint at close failed (%s)", self.path, exc)
        with contextlib.suppress(sqlite3.Error, StoreBusy, StoreError, OSError):
            self._record_count()
        with self._lock:
            connections, self._connections = self._connections, []
            self._generation += 1  # threads reopen if the store is used again
        for conn in connections:
            with contextlib.suppress(sqlite3.Error):
                conn.close()

    # ------------------------------------------------------------------ the result count

    @contextlib.contextmanager
    def _count_file(self) -> Iterator[int]:
        fd = os.open(self.count_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield fd
        finally:
            os.close(fd)

    @staticmethod
    def _read_count(fd: int) -> dict[str, Any]:
        os.lseek(fd, 0, os.SEEK_SET)
        try:
            return json.loads(os.read(fd, 4096) or b"{}")
        except ValueError:
            return {}

    @staticmethod
    def _write_count(fd: int, count: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"results": count, "at": time.time()}).encode())

    def _check_count(self, conn: sqlite3.Connection) -> None:
        """At open: fewer results than recorded means results were lost outside our control."""
        try:
            with self._count_file() as fd:
                count = int(conn.execute("SELECT COUNT(*) FROM results").fetchone()[0])
                recorded = self._read_count(fd)
                had = int(recorded.get("results", 0))
                if count < had:
                    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(float(recorded.get("at", 0))))
                    log.error(
                        "cache %s opened with %d result(s), fewer than the %d it held at %s: results were "
                        "lost (a damaged -wal file, or the file replaced, moved aside or restored from a "
                        "backup); they will be computed again when asked for",
                        self.path,
                        count,
                        had,
                        when,
                        extra={"fields": {"event": "results_lost", "results": count, "had": had}},
                    )
                self._write_count(fd, count)
        except OSError as exc:
            log.warning("cache %s: cannot keep the result count in %s (%s)", self.path, self.count_path, exc)

    def _record_count(self) -> None:
        with self._count_file() as fd:
            self._write_count(fd, self.count_results())

    def _after_results_changed(self) -> None:
        try:
            self._record_count()
        except OSError as exc:
            log.warning("cache %s: cannot update %s (%s)", self.path, self.count_path, exc)

    # ------------------------------------------------------------------ results

    def get_text(self, key: str) -> str | None:
        """The stored JSON body of ``key``, or None; a failing read is a miss (logged), never an error."""
        try:
            row = self._run(
                lambda conn: conn.execute("SELECT body FROM results WHERE key = ?", (key,)).fetchone()
            )
        except (sqlite3.Error, StoreBusy) as exc:
            log.warning("cache read of %s failed (%s); computing instead", key, exc)
            return None
        if row is None:
            return None
        self._touched[key] = time.time()
        return row[0]

    def get_raw(self, key: str) -> bytes | None:
        """The stored JSON body of ``key`` as its UTF-8 bytes (no decoding: a large answer is sent as
        stored), or None; a failing read is a miss (logged), never an error."""
        try:
            row = self._run(
                lambda conn: conn.execute(
                    "SELECT CAST(body AS BLOB) FROM results WHERE key = ?", (key,)
                ).fetchone()
            )
        except (sqlite3.Error, StoreBusy) as exc:
            log.warning("cache read of %s failed (%s); computing instead", key, exc)
            return None
        if row is None:
            return None
        self._touched[key] = time.time()
        return bytes(row[0])

    def get(self, key: str) -> dict[str, Any] | None:
        text = self.get_text(key)
        return None if text is None else json.loads(text)

    def has(self, key: str) -> bool:
        """Whether ``key`` is stored (a failing read says no)."""
        try:
            return (
                self._run(lambda conn: conn.execute("SELECT 1 FROM results WHERE key = ?", (key,)).fetchone())
                is not None
            )
        except (sqlite3.Error, StoreBusy):
            return False

    def put(self, key: str, endpoint: str, engine_version: str, body: dict[str, Any]) -> bool:
        """Store ``body`` under ``key`` (first writer wins), then evict beyond the size cap.

        Returns whether the body is now stored; a failing write is logged, not raised."""
        text = json_text(body)  # in pieces: a large body never holds the interpreter lock for long
        now = time.time()
        try:
            inserted = self.execute(
                _INSERT_RESULT, (key, endpoint, engine_version, text, now, len(text), now)
            )
            self._flush_touched()
            if inserted and self.max_bytes is not None:
                self.evict(self.max_bytes, keep=key)
        except (sqlite3.Error, StoreBusy, StoreError) as exc:
            log.warning("cache write of %s failed (%s); the result is served but not stored", key, exc)
            return False
        if inserted:
            self._after_results_changed()
        return True

    def _flush_touched(self) -> None:
        """Write the use times of recent hits (at most one per key per ``_TOUCH_SECONDS``)."""
        if not self._touched:
            return
        touched, self._touched = self._touched, {}
        self._run(
            lambda conn: conn.executemany(
                "UPDATE results SET used_at = ? WHERE key = ? AND used_at < ?",
                [(t, k, t - _TOUCH_SECONDS) for k, t in touched.items()],
            )
        )

    def evict(self, max_bytes: int, *, keep: str | None = None) -> int:
        """Delete least recently used results until their total size is at most ``_EVICT_TO·max_bytes``
        (nothing while it is within ``max_bytes``); returns how many were deleted."""
        total = self._run(
            lambda conn: conn.execute("SELECT COALESCE(SUM(size), 0) FROM results").fetchone()[0]
        )
        if total <= max_bytes:
            return 0
        target = int(_EVICT_TO * max_bytes)
        deleted = self._run(
            lambda conn: (
                conn.execute(
                    "DELETE FROM results WHERE key IN (SELECT key FROM (SELECT key, SUM(size) OVER "
                    "(ORDER BY key = ? DESC, used_at DESC, created_at DESC ROWS UNBOUNDED PRECEDING) AS kept "
                    "FROM results) WHERE kept > ?)",
                    (keep, target),
                ).rowcount
            )
        )
        if deleted:
            with contextlib.suppress(sqlite3.Error):
                self._run(lambda conn: conn.execute("PRAGMA incremental_vacuum").fetchall())
            log.info(
                "cache %s: evicted %d least recently used result(s) to stay under %d bytes "
                "(SRF_CACHE_MAX_BYTES)",
                self.path,
                deleted,
                max_bytes,
            )
            self._after_results_changed()
        return int(deleted)

    def count_results(self) -> int:
        return int(self._run(lambda conn: conn.execute("SELECT COUNT(*) FROM results").fetchone()[0]))

    # ------------------------------------------------------------------ management (srf cache …)

    def purge_jobs(self, ttl_seconds: float) -> int:
        """Delete finished jobs last updated more than ``ttl_seconds`` ago; returns how many."""
        cutoff = time.time() - ttl_seconds
        return self.execute(
            f"DELETE FROM jobs WHERE status IN {FINISHED_STATUSES!r} AND updated_at < ?", (cutoff,)
        )

    def stats(self) -> dict[str, Any]:
        """Sizes and counts, for ``srf cache stats``."""
        results = self.query(
            "SELECT COUNT(*) AS count, COALESCE(SUM(size), 0) AS bytes, MIN(created_at) AS oldest, "
            "MAX(used_at) AS last_used FROM results"
        )[0]
        jobs = {
            row["status"]: row["n"]
            for row in self.query("SELECT status, COUNT(*) AS n FROM jobs GROUP BY status")
        }
        files = {
            suffix or "main": Path(f"{self.path}{suffix}").stat().st_size
            for suffix in ("", "-wal")
            if Path(f"{self.path}{suffix}").exists()
        }
        return {
            "path": str(self.path),
            "file_bytes": files,
            "results": results["count"],
            "result_bytes": results["bytes"],
            "max_bytes": self.max_bytes,
            "oldest_result_at": results["oldest"],
            "last_used_at": results["last_used"],
            "jobs": jobs,
        }

    def prune(self, *, max_bytes: int | None, job_ttl_seconds: float | None) -> dict[str, int]:
        """Evict results beyond ``max_bytes``, delete expired jobs, and give the space back."""
        evicted = self.evict(max_bytes) if max_bytes is not None else 0
        expired = self.purge_jobs(job_ttl_seconds) if job_ttl_seconds is not None else 0
        self._compact()
        return {"evicted_results": evicted, "expired_jobs": expired}

    def clear(self) -> dict[str, int]:
        """Delete every result and every finished job (unfinished jobs stay, their owners run them)."""
        results = self.execute("DELETE FROM results")
        jobs = self.execute(f"DELETE FROM jobs WHERE status IN {FINISHED_STATUSES!r}")
        self._compact()
        self._after_results_changed()
        return {"results": results, "jobs": jobs}

    def _compact(self) -> None:
        with contextlib.suppress(sqlite3.Error, StoreBusy):
            self._run(lambda conn: conn.execute("PRAGMA incremental_vacuum").fetchall())
            self._run(lambda conn: conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall())

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
