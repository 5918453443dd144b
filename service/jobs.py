"""Jobs: ``Prefer: respond-async`` requests, run in the background and kept in the store's ``jobs`` table.

A job row has an ``owner`` (this process's random id), ``host``, ``pid`` and a ``heartbeat_at`` that its
owner refreshes (with the progress) every ``job_heartbeat_seconds``. A queued or running job is declared
failed, with the reason, when its owner is gone: at startup and whenever it is read, a job of another
owner counts as dead if its process no longer exists on this host or its heartbeat is older than
``job_stale_seconds``. A clean shutdown fails its own unfinished jobs itself. So no job stays
``running`` after the process that ran it died; a failed job can simply be submitted again (the
result of any part already computed is in the cache).

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
from typing import Any

from srf_engine import Cancelled, InvalidParameterError

from .cache import JOB_COLUMNS, Store
from .errors import AtCapacity, ServiceError
from .prepare import Prepared
from .runner import Flight, Runner, Work

log = logging.getLogger("srf.jobs")

UNFINISHED = ("queued", "running")
FINISHED = ("done", "failed", "cancelled")
DIED = "the server process running this job stopped before it finished (restart or crash); submit it again"
SHUT_DOWN = "the server shut down before this job finished; submit it again"


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
    ) -> None:
        self.store = store
        self.runner = runner
        self.max_queued = max_queued
        self.retry_after = retry_after
        self.heartbeat_seconds = heartbeat_seconds
        self.stale_seconds = stale_seconds
        self.owner = uuid.uuid4().hex
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._flights: dict[str, Flight] = {}
        self._heartbeat: asyncio.Task[None] | None = None
        self._recovered = False

    # ------------------------------------------------------------------ rows

    def _update(self, job_id: str, only_unfinished: bool = True, **values: Any) -> bool:
        values["updated_at"] = time.time()
        columns = ", ".join(f"{name} = ?" for name in values)
        where = " AND status IN ('queued', 'running')" if only_unfinished else ""
        return (
            self.store.execute(f"UPDATE jobs SET {columns} WHERE id = ?{where}", (*values.values(), job_id))
            > 0
        )

    def _row(self, job_id: str) -> dict[str, Any] | None:
        rows = self.store.query(f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?", (job_id,))
        return rows[0] if rows else None

    def _is_dead(self, row: dict[str, Any]) -> bool:
        if row["owner"] == self.owner:
            return False
        if row["host"] == self.host and row["pid"] != self.pid and not _pid_alive(int(row["pid"])):
            return True
        return time.time() - float(row["heartbeat_at"]) > self.stale_seconds

    def recover(self) -> int:
        """Fail every unfinished job whose owner is gone; returns how many. Runs once at startup."""
        self._recovered = True
        rows = self.store.query(f"SELECT {JOB_COLUMNS} FROM jobs WHERE status IN ('queued', 'running')")
        failed = 0
        for row in rows:
            if self._is_dead(row) and self._update(row["id"], status="failed", error=DIED):
                failed += 1
        if failed:
            log.warning("marked %d job(s) of a stopped server process as failed", failed)
        return failed

    # ------------------------------------------------------------------ lifecycle

    def submit(self, prepared: Prepared, work: Work) -> str:
        """Record a queued job and start it; 503 with Retry-After when too many are unfinished here."""
        endpoint, key = prepared.endpoint, prepared.key
        if not self._recovered:
            self.recover()
        if len(self._tasks) >= self.max_queued:
            raise AtCapacity(
                503,
                f"this server already holds its maximum of {self.max_queued} unfinished jobs "
                f"(SRF_MAX_QUEUED_JOBS); retry after {self.retry_after} s",
                self.retry_after,
            )
        job_id = uuid.uuid4().hex
        now = time.time()
        self.store.execute(
            "INSERT INTO jobs (id, endpoint, key, request, status, progress, owner, host, pid, created_at, "
            "updated_at, heartbeat_at) VALUES (?, ?, ?, ?, 'queued', 0, ?, ?, ?, ?, ?, ?)",
            (
                job_id,
                endpoint,
                key,
                json.dumps(prepared.normal, allow_nan=False),
                self.owner,
                self.host,
                self.pid,
                now,
                now,
                now,
            ),
        )
        self._tasks[job_id] = asyncio.get_running_loop().create_task(self._run(job_id, prepared, work))
        self._ensure_heartbeat()
        return job_id

    async def _run(self, job_id: str, prepared: Prepared, work: Work) -> None:
        endpoint, key = prepared.endpoint, prepared.key
        try:
            stored = self.store.get(key)
            if stored is not None:
                body, from_store = stored, True
            else:
                flight = self.runner.start(prepared, work, queue=True)
                self._flights[job_id] = flight
                if flight.started:
                    self._update(job_id, status="running")
                else:
                    flight.on_start.append(lambda: self._update(job_id, status="running"))
                body, from_store = await self.runner.wait(flight, abandon_on_cancel=True)
            result = {**body, "cached": from_store}
            self._update(job_id, status="done", progress=1.0, result=json.dumps(result, allow_nan=False))
        except (asyncio.CancelledError, Cancelled):
            self._update(job_id, status="cancelled", error="cancelled by DELETE /jobs/{id}")
        except InvalidParameterError as exc:
            self._update(job_id, status="failed", error=f"{exc.field}: {exc.rule}")
        except ServiceError as exc:
            self._update(job_id, status="failed", error=exc.detail)
        except NotImplementedError:
            self._update(job_id, status="failed", error="not implemented by this engine version")
        except Exception:
            log.exception("job %s (%s %s) failed", job_id, endpoint, key)
            self._update(job_id, status="failed", error="internal error while computing; it was logged")
        finally:
            self._tasks.pop(job_id, None)
            self._flights.pop(job_id, None)

    def counts(self) -> tuple[int, int]:
        """``(queued, running)``: this process's unfinished jobs, waiting for a slot or computing."""
        flights = [self._flights.get(job_id) for job_id in self._tasks]
        running = sum(1 for flight in flights if flight is not None and flight.started)
        return len(self._tasks) - running, running

    def get(self, job_id: str) -> dict[str, Any] | None:
        """The job as ``GET /jobs/{id}`` reports it, or None."""
        row = self._row(job_id)
        if row is None:
            return None
        if row["status"] in UNFINISHED:
            flight = self._flights.get(job_id)
            if flight is not None:
                row["progress"] = max(float(row["progress"]), flight.progress)
                if flight.started and row["status"] == "queued":
                    row["status"] = "running"
            elif self._is_dead(row) and self._update(job_id, status="failed", error=DIED):
                row = self._row(job_id) or row
        return self.public(row)

    @staticmethod
    def public(row: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": row["id"],
            "status": row["status"],
            "progress": float(row["progress"]),
            "endpoint": row["endpoint"],
            "key": row["key"],
            "result": json.loads(row["result"]) if row["result"] else None,
            "error": row["error"],
            "created_at": row["created_at"],
            "updated_at": row["updated_at"],
        }

    def cancel(self, job_id: str) -> dict[str, Any] | None:
        """Cancel an unfinished job (a finished one is reported unchanged); None if unknown."""
        row = self._row(job_id)
        if row is None:
            return None
        if row["status"] in UNFINISHED:
            self._update(
                job_id, status="cancelled", error="cancelled by DELETE /jobs/{id}", cancel_requested=1
            )
            task = self._tasks.get(job_id)
            if task is not None:
                task.cancel()
        return self.get(job_id)

    # ------------------------------------------------------------------ heartbeat and shutdown

    def _ensure_heartbeat(self) -> None:
        if self._heartbeat is None or self._heartbeat.done():
            self._heartbeat = asyncio.get_running_loop().create_task(self._beat())

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_seconds)
            try:
                self.beat_once()
            except Exception:  # a heartbeat must never die of one failed write
                log.exception("job heartbeat failed")

    def beat_once(self) -> None:
        """Refresh heartbeat and progress of this process's jobs; act on cancels flagged by others."""
        now = time.time()
        for job_id, task in list(self._tasks.items()):
            flight = self._flights.get(job_id)
            progress = flight.progress if flight is not None else 0.0
            self.store.execute(
                "UPDATE jobs SET heartbeat_at = ?, progress = MAX(progress, ?) WHERE id = ? AND owner = ?",
                (now, progress, job_id, self.owner),
            )
            flagged = self.store.query("SELECT cancel_requested FROM jobs WHERE id = ?", (job_id,))
            if flagged and flagged[0]["cancel_requested"]:
                task.cancel()

    async def shutdown(self) -> None:
        """Fail this process's unfinished jobs (they cannot outlive it) and stop their tasks."""
        if self._heartbeat is not None:
            self._heartbeat.cancel()
        for job_id, task in list(self._tasks.items()):
            self._update(job_id, status="failed", error=SHUT_DOWN)
            task.cancel()
        tasks = list(self._tasks.values())
        if tasks:
            with contextlib.suppress(Exception):
                await asyncio.wait(tasks, timeout=5)
