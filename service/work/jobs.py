"""Jobs: ``Prefer: respond-async`` requests, run in the background and kept in the store's ``jobs`` table.

A job row has an ``owner`` (this process's random id), ``host``, ``pid`` and a ``heartbeat_at`` that its
owner refreshes (with the progress) every ``job_heartbeat_seconds``. A queued or running job is declared
failed, with the reason, when its owner is gone: at startup and whenever it is read, a job of another
owner counts as dead if its process no longer exists on this host or its heartbeat is older than
``job_stale_seconds``. A clean shutdown marks its own unfinished jobs failed ("interrupted") itself.
So no job stays ``running`` after the process that ran it died; a failed job can simply be submitted
again (the result of any part already computed is in the cache).

A finished job refers to its result by key (the row holds no copy unless the store refused it);
finished jobs expire ``job_ttl_seconds`` after they finished. Every store access runs in a worker
thread, never on the event loop. If the file is found corrupt and replaced while serving, this
process's jobs in flight write themselves into the new file.

``DELETE /jobs/{id}`` cancels: a queued job never starts; a running one stops at the engine's next
progress report (``Cancelled`` raised from the callback) unless a synchronous request shares its
computation, which then runs on for it. A job of another process is flagged in the table; its owner
sees the flag at its next heartbeat.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from srf_engine import Cancelled, InvalidParameterError

from ..errors import AtCapacity, ServiceError
from ..store.sqlite import FINISHED_STATUSES, JOB_COLUMNS, Store
from .keys import ApiKeys
from .prepare import Prepared
from .runner import Flight, Runner, Work

log = logging.getLogger("srf.jobs")

T = TypeVar("T")

UNFINISHED = ("queued", "running")
FINISHED = FINISHED_STATUSES
DIED = "the server process running this job stopped before it finished (restart or crash); submit it again"
CANCELLED = "cancelled by DELETE /jobs/{id}"
INTERNAL = "internal error while computing; it was logged"
SHUT_DOWN = "interrupted: the server shut down before this job finished; submit it again"
EVICTED = (
    "the result was evicted from the cache since (SRF_CACHE_MAX_BYTES); submit the request again to "
    "recompute it"
)
#: Expired jobs are deleted at most this often (reads already hide them).
_PURGE_SECONDS = 60.0


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


class JobManager:
    """Creates, runs, reports and cancels jobs; one per app instance."""

    def __init__(
        self,
        store: Store,
        runner: Runner,
        *,
        max_queued: int,
        retry_after: int,
        heartbeat_seconds: float,
        stale_seconds: float,
        ttl_seconds: float = 86_400.0,
        keys: ApiKeys | None = None,
    ) -> None:
        self.store = store
        self.runner = runner
        self.max_queued = max_queued
        self.retry_after = retry_after
        self.heartbeat_seconds = heartbeat_seconds
        self.stale_seconds = stale_seconds
        self.ttl_seconds = ttl_seconds
        self.keys = keys
        self.owner = uuid.uuid4().hex
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._flights: dict[str, Flight] = {}
        self._rows: dict[str, dict[str, Any]] = {}  # this process's unfinished jobs, to re-create them
        self._heartbeat: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._recovered = False
        self._purged_at = 0.0
        self._closing = False
        store.on_recreate(self._recreate)

    # ------------------------------------------------------------------ store access, off the loop

    @staticmethod
    async def _off(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await asyncio.to_thread(function, *args, **kwargs)

    def _spawn(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # ------------------------------------------------------------------ rows

    def _update(self, job_id: str, only_unfinished: bool = True, **values: Any) -> bool:
        values["updated_at"] = time.time()
        own = self._rows.get(job_id)
        if own is not None:
            own.update(values)
        columns = ", ".join(f"{name} = ?" for name in values)
        where = " AND status IN ('queued', 'running')" if only_unfinished else ""
        return (
            self.store.execute(f"UPDATE jobs SET {columns} WHERE id = ?{where}", (*values.values(), job_id))
            > 0
        )

    async def _aupdate(self, job_id: str, **values: Any) -> bool:
        return await self._off(self._update, job_id, **values)

    def _row(self, job_id: str) -> dict[str, Any] | None:
        rows = self.store.query(f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?", (job_id,))
        return rows[0] if rows else None

    def _insert(self, row: dict[str, Any]) -> None:
        names = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        self.store.execute(f"INSERT OR IGNORE INTO jobs ({names}) VALUES ({marks})", tuple(row.values()))

    def _recreate(self) -> None:
        """The store replaced a corrupt file: write this process's jobs in flight into the new one."""
        rows = [dict(row) for row in list(self._rows.values())]
        for row in rows:
            self._insert(row)
        if rows:
            log.warning("re-created %d job(s) in flight in the new cache file", len(rows))

    def _is_dead(self, row: dict[str, Any]) -> bool:
        if row["owner"] == self.owner:
            return False
        if row["host"] == self.host and row["pid"] != self.pid and not _pid_alive(int(row["pid"])):
            return True
        return time.time() - float(row["heartbeat_at"]) > self.stale_seconds

    def _expired(self, row: dict[str, Any]) -> bool:
        return row["status"] in FINISHED and time.time() - float(row["updated_at"]) > self.ttl_seconds

    def recover(self) -> int:
        """Fail every unfinished job whose owner is gone, delete expired ones; returns how many failed.

        Runs once at startup, in a worker thread."""
        self._recovered = True
        rows = self.store.query(f"SELECT {JOB_COLUMNS} FROM jobs WHERE status IN ('queued', 'running')")
        failed = 0
        for row in rows:
            if self._is_dead(row) and self._update(row["id"], status="failed", error=DIED):
                failed += 1
        if failed:
            log.warning("marked %d job(s) of a stopped server process as failed", failed)
        self._purge()
        return failed

    def _purge(self) -> None:
        self._purged_at = time.monotonic()
        expired = self.store.purge_jobs(self.ttl_seconds)
        if expired:
            log.info(
                "deleted %d finished job(s) older than %g s (SRF_JOB_TTL_SECONDS)", expired, self.ttl_seconds
            )

    # ------------------------------------------------------------------ lifecycle

    async def submit(self, prepared: Prepared, work: Work, *, who: str | None = None) -> str:
        """Record a queued job and start it; 503 with Retry-After when too many are unfinished here,
        429 when the API key ``who`` holds its maximum."""
        endpoint, key = prepared.endpoint, prepared.key
        if self.keys is not None:
            self.keys.check_job(who)
        if not self._recovered:
            await self._off(self.recover)
        if len(self._tasks) >= self.max_queued:
            raise AtCapacity(
                503,
                f"this server already holds its maximum of {self.max_queued} unfinished jobs "
                f"(SRF_MAX_QUEUED_JOBS); retry after {self.retry_after} s",
                self.retry_after,
            )
        if self._closing:
            raise AtCapacity(503, "the server is shutting down; retry on another instance", self.retry_after)
        job_id = uuid.uuid4().hex
        now = time.time()
        row = {
            "id": job_id,
            "endpoint": endpoint,
            "key": key,
            "request": json.dumps(prepared.normal, allow_nan=False),
            "status": "queued",
            "progress": 0.0,
            "owner": self.owner,
            "host": self.host,
            "pid": self.pid,
            "created_at": now,
            "updated_at": now,
            "heartbeat_at": now,
            "requester": who,
        }
        self._rows[job_id] = row
        # Reserve the slot before the first await, so that concurrent submissions see it.
        placeholder: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._tasks[job_id] = placeholder  # type: ignore[assignment]
        try:
            await self._off(self._insert, dict(row))
        except BaseException:
            self._tasks.pop(job_id, None)
            self._rows.pop(job_id, None)
            raise
        finally:
            placeholder.cancel()
        self._tasks[job_id] = asyncio.get_running_loop().create_task(self._run(job_id, prepared, work, who))
        if self.keys is not None and who is not None:
            self.keys.jobs[who] += 1
            self._tasks[job_id].add_done_callback(lambda _: self.keys.jobs.subtract([who]))  # type: ignore[union-attr]
        self._ensure_heartbeat()
        if time.monotonic() - self._purged_at > _PURGE_SECONDS:
            self._spawn(self._off(self._purge))
        return job_id

    async def _run(self, job_id: str, prepared: Prepared, work: Work, who: str | None = None) -> None:
        endpoint, key = prepared.endpoint, prepared.key
        try:
            stored = await self._off(self.store.has, key)
            if stored:
                from_store, kept = True, True
            else:
                # A running job counts among its key's computations: queued until the key has a turn.
                turn = self.keys.turn(who) if self.keys is not None else contextlib.nullcontext()
                async with turn:  # type: ignore[attr-defined]
                    flight = self.runner.start(prepared, work, queue=True)
                    self._flights[job_id] = flight
                    if flight.started:
                        await self._aupdate(job_id, status="running")
                    else:
                        flight.on_start.append(lambda: self._spawn(self._aupdate(job_id, status="running")))
                    try:
                        body, from_store = await self.runner.wait(flight, abandon_on_cancel=True)
                    finally:
                        self.runner.leave_job(flight)
                kept = await self._off(self.store.has, key)
            # The result stays in the results table (by key); a copy only if the store refused it.
            copy = None if kept else json.dumps({**body, "cached": from_store}, allow_nan=False)
            await self._aupdate(
                job_id, status="done", progress=1.0, result=copy, result_cached=int(from_store)
            )
        except (asyncio.CancelledError, Cancelled):
            # Stopped by a DELETE, or by the server's shutdown (then it is interrupted, not cancelled).
            status, error = ("failed", SHUT_DOWN) if self._closing else ("cancelled", CANCELLED)
            with contextlib.suppress(Exception):
                await asyncio.shield(self._aupdate(job_id, status=status, error=error))
        except InvalidParameterError as exc:
            await self._aupdate(job_id, status="failed", error=f"{exc.field}: {exc.rule}")
        except ServiceError as exc:
            await self._aupdate(job_id, status="failed", error=exc.detail)
        except NotImplementedError:
            await self._aupdate(job_id, status="failed", error="not implemented by this engine version")
        except Exception:
            log.exception("job %s (%s %s) failed", job_id, endpoint, key)
            with contextlib.suppress(Exception):
                await self._aupdate(
                    job_id, status="failed", error="internal error while computing; it was logged"
                )
        finally:
            self._tasks.pop(job_id, None)
            self._flights.pop(job_id, None)
            self._rows.pop(job_id, None)

    def counts(self) -> tuple[int, int]:
        """``(queued, running)``: this process's unfinished jobs, waiting for a slot or computing."""
        flights = [self._flights.get(job_id) for job_id in self._tasks]
        running = sum(1 for flight in flights if flight is not None and flight.started)
        return len(self._tasks) - running, running

    def _report(self, job_id: str) -> dict[str, Any] | None:
        """In a worker thread: the row as ``GET /jobs/{id}`` reports it (None: unknown or expired)."""
        row = self._row(job_id)
        if row is None or self._expired(row):
            return None
        if row["status"] in UNFINISHED:
            flight = self._flights.get(job_id)
            if flight is not None:
                row["progress"] = max(float(row["progress"]), flight.progress)
                if flight.started and row["status"] == "queued":
                    row["status"] = "running"
            elif self._is_dead(row) and self._update(job_id, status="failed", error=DIED):
                row = self._row(job_id) or row
        result = json.loads(row["result"]) if row["result"] else None
        if row["status"] == "done" and result is None:
            body = self.store.get(row["key"])
            if body is None:
                row["error"] = EVICTED
            else:
                result = {**body, "cached": bool(row["result_cached"])}
        return self.public(row, result)

    async def get(self, job_id: str, who: str | None = None) -> dict[str, Any] | None:
        """The job as ``GET /jobs/{id}`` reports it, or None (also for a job of another API key than
        ``who``, when keys are configured: a job is its submitter's)."""
        if who is not None and not await self._off(self._owned_by, job_id, who):
            return None
        return await self._off(self._report, job_id)

    def _owned_by(self, job_id: str, who: str) -> bool:
        row = self._row(job_id)
        return row is not None and row.get("requester") == who

    @staticmethod
    def public(row: dict[str, Any], result: dict[str, Any] | None = None) -> dict[str, Any]:
        return {
            "id": row["id"],
            "status": row["status"],
            "progress": float(row["progress"]),
            "endpoint": row["endpoint"],
            "key": row["key"],
            "result": result,
            "error": row["error"],
            "created_at": row["created_at"],
            "updated_at": row["updated_at"],
        }

    async def cancel(self, job_id: str, who: str | None = None) -> dict[str, Any] | None:
        """Cancel an unfinished job (a finished one is reported unchanged); None if unknown (or another
        API key's than ``who``)."""
        row = await self._off(self._row, job_id)
        if row is None or (who is not None and row.get("requester") != who):
            return None
        if row["status"] in UNFINISHED:
            await self._aupdate(
                job_id, status="cancelled", error="cancelled by DELETE /jobs/{id}", cancel_requested=1
            )
            task = self._tasks.get(job_id)
            if task is not None:
                task.cancel()
        return await self.get(job_id, who)

    # ------------------------------------------------------------------ heartbeat and shutdown

    def _ensure_heartbeat(self) -> None:
        if self._heartbeat is None or self._heartbeat.done():
            self._heartbeat = asyncio.get_running_loop().create_task(self._beat())

    async def _beat(self) -> None:
        while self._tasks:
            await asyncio.sleep(self.heartbeat_seconds)
            try:
                flagged = await self._off(self.beat_once)
            except Exception:  # a heartbeat must never die of one failed write
                log.exception("job heartbeat failed")
                continue
            for job_id in flagged:
                task = self._tasks.get(job_id)
                if task is not None:
                    task.cancel()

    def beat_once(self) -> list[str]:
        """Refresh heartbeat and progress of this process's jobs; returns those whose cancel another
        process flagged. Runs in a worker thread."""
        now = time.time()
        flagged = []
        for job_id in list(self._tasks):
            flight = self._flights.get(job_id)
            progress = flight.progress if flight is not None else 0.0
            self.store.execute(
                "UPDATE jobs SET heartbeat_at = ?, progress = MAX(progress, ?) WHERE id = ? AND owner = ?",
                (now, progress, job_id, self.owner),
            )
            rows = self.store.query("SELECT cancel_requested FROM jobs WHERE id = ?", (job_id,))
            if rows and rows[0]["cancel_requested"]:
                flagged.append(job_id)
        if time.monotonic() - self._purged_at > _PURGE_SECONDS:
            self._purge()
        return flagged

    def begin_shutdown(self) -> None:
        """Refuse new jobs from now on (the process received SIGTERM)."""
        self._closing = True

    async def shutdown(self) -> None:
        """Mark this process's unfinished jobs interrupted (they cannot outlive it) and stop their tasks."""
        self._closing = True
        if self._heartbeat is not None:
            self._heartbeat.cancel()
        unfinished = list(self._tasks)
        for task in self._tasks.values():
            task.cancel()

        def mark() -> None:
            for job_id in unfinished:
                with contextlib.suppress(Exception):
                    self._update(job_id, status="failed", error=SHUT_DOWN)

        with contextlib.suppress(Exception):
            await self._off(mark)
        tasks = [t for t in self._tasks.values() if isinstance(t, asyncio.Task)]
        if tasks:
            with contextlib.suppress(Exception):
                await asyncio.wait(tasks, timeout=2)
