"""Threads of a simulation: a pool with progress reports, cancellation and deterministic results.

The tasks a seed run submits are fixed by the plan, not by the number of threads (the partial sums
are assigned chunk by chunk), so results do not depend on how many threads run them.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent import futures as cf
from typing import Any, TypeVar

T = TypeVar("T")

#: Seconds between two progress reports (at most).
PROGRESS_INTERVAL = 0.05
_POLL_SECONDS = 0.05


def available_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


class Stopped(Exception):
    """Raised in worker tasks once the run is being aborted."""


class TaskRunner:
    """Runs tasks on ``n_jobs`` threads (inline for one); reports progress from the calling thread.

    Tasks call :meth:`advance` with the work they finished; the caller's thread calls ``progress`` at most
    every ``PROGRESS_INTERVAL`` s while it waits. An exception from ``progress`` (``Cancelled``) or from a
    task stops the other tasks at their next chunk and is re-raised.
    """

    def __init__(self, n_jobs: int, total: float, progress: Callable[[float], None] | None) -> None:
        self.threads = n_jobs
        self._pool = cf.ThreadPoolExecutor(n_jobs, thread_name_prefix="srf-sim") if n_jobs > 1 else None
        self._total = max(total, 1e-300)
        self._done = 0.0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._progress = progress
        self._last_report = -math.inf
        self._submitted: list[cf.Future[Any]] = []

    def __enter__(self) -> TaskRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def advance(self, work: float) -> None:
        with self._lock:
            self._done += work
        if self._stop.is_set():
            raise Stopped
        if self._pool is None:
            self.report()

    def report(self, force: bool = False) -> None:
        if self._progress is None:
            return
        now = time.monotonic()
        if force or now - self._last_report >= PROGRESS_INTERVAL:
            self._last_report = now
            with self._lock:
                fraction = min(1.0, self._done / self._total)
            self._progress(fraction)

    def submit(self, fn: Callable[..., T], *args: Any) -> cf.Future[T]:
        if self._pool is None:
            future: cf.Future[T] = cf.Future()
            future.set_result(fn(*args))  # inline: exceptions propagate at once
            return future
        future = self._pool.submit(fn, *args)
        self._submitted.append(future)
        return future

    def wait(self, futures: Sequence[cf.Future[T]]) -> list[T]:
        if self._pool is not None:
            pending = set(futures)
            while pending:
                done, pending = cf.wait(pending, timeout=_POLL_SECONDS, return_when=cf.FIRST_EXCEPTION)
                failed = [f for f in done if f.exception() is not None]
                if failed:
                    self._abort()
                    raise failed[0].exception()  # type: ignore[misc]
                try:
                    self.report()
                except BaseException:
                    self._abort()
                    raise
            waited = set(futures)  # drop them here, or their results would stay alive until the next prune
            self._submitted = [f for f in self._submitted if f not in waited]
        return [f.result() for f in futures]

    def _abort(self) -> None:
        self._stop.set()
        cf.wait(self._submitted)
