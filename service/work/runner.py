"""Heavy computations off the event loop: a thread pool, a capacity limit, and single flight per key.

* Work runs in a ``ThreadPoolExecutor`` with ``max_concurrent`` threads: the engine spends its time in
  numpy/BLAS, which release the GIL, and threads let a progress callback cancel a computation
  (raising ``Cancelled`` inside the engine) and share the store without pickling.
* Capacity: at most ``max_concurrent`` computations run at once. A synchronous request that finds
  no free slot is answered 429 with ``Retry-After``; a job waits in line (status ``queued``).
* Single flight: while a key is being computed, every further request for it (synchronous or job)
  joins that computation instead of starting another, and costs no slot. Within one process a key is
  therefore computed once; across processes sharing the file, see ``cache``.
* A computation is abandoned (``Cancelled`` at the engine's next checkpoint, or before it starts)
  only when every party waiting for it is gone: a cancelled job, or a synchronous client that
  disconnected. The engine checks between solver iterations and at its progress reports
  (``srf_engine.cancel``), so a cancel takes effect within milliseconds to a second.
* A flight started by a synchronous request has a wall-clock budget (``SRF_MAX_SYNC_SECONDS``): past
  it the engine is stopped at its next checkpoint and the request gets a 413 advising
  ``Prefer: respond-async``. A job joining such a flight lifts the budget while it waits (the job wants the
  result); when the last such job leaves (deleted), the synchronous request has its budget back.
* Each computation runs in its own daemon thread (the slots bound how many): a computation that
  ignores its cancel cannot hold the process past shutdown, as an executor's joined threads would.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import ctypes
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from srf_engine import ENGINE_VERSION, Cancelled
from srf_engine.cancel import cancellation

from ..errors import AtCapacity, LimitExceeded
from ..store.sqlite import Store
from .prepare import Prepared

log = logging.getLogger("srf.runner")

Progress = Callable[[float], None]
Work = Callable[[Progress], dict[str, Any]]


@dataclass(eq=False)
class Flight:
    """One computation of one key, possibly awaited by several requests and jobs."""

    key: str
    endpoint: str
    future: asyncio.Future[tuple[dict[str, Any], bool]]
    progress: float = 0.0
    parties: int = 0
    started: bool = False
    cancel: threading.Event = field(default_factory=threading.Event)
    on_start: list[Callable[[], None]] = field(default_factory=list)
    task: asyncio.Task[None] | None = None
    #: A result to keep in the store under ``key`` (not a figure, which has its own table).
    persist: bool = True
    #: ``time.monotonic()`` past which the computation stops (synchronous budget); None: no budget.
    deadline: float | None = None
    budget_seconds: float | None = None
    #: The synchronous request's own deadline, restored when the last job that lifted it leaves.
    sync_deadline: float | None = None
    jobs: int = 0

    def check(self) -> None:
        """In the computing thread: stop if cancelled or past the synchronous budget."""
        if self.cancel.is_set():
            raise Cancelled("cancelled")
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise SyncBudgetExceeded(self.budget_seconds or 0.0)


class SyncBudgetExceeded(LimitExceeded):
    """413: a synchronous computation ran past ``SRF_MAX_SYNC_SECONDS`` and was stopped."""

    def __init__(self, seconds: float) -> None:
        super().__init__(
            f"the computation took longer than the {seconds:g} s allowed for a synchronous request "
            "(SRF_MAX_SYNC_SECONDS) and was stopped; resend it with the header 'Prefer: respond-async' "
            "to run it as a job (GET /jobs/{id} polls it)",
            limit="SRF_MAX_SYNC_SECONDS",
        )


def _give_back_memory() -> None:
    """Return the C heap's free pages to the system (glibc): a stopped computation's small arrays live
    on the heap, and without a trim its peak stays resident."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


class Runner:
    """Runs :data:`Work` for a key at most once at a time, within a capacity."""

    def __init__(self, store: Store, *, max_concurrent: int, retry_after: int) -> None:
        self.store = store
        self.max_concurrent = max_concurrent
        self.retry_after = retry_after
        self._free = max_concurrent
        self._waiting: deque[asyncio.Future[None]] = deque()
        self._flights: dict[str, Flight] = {}
        self._count_lock = threading.Lock()
        #: Set at shutdown: no new computation starts.
        self.closing = False
        #: Computations actually run (not joined, not served from the store): tests count on it.
        self.computations = 0
        #: Tasks run by :meth:`start_task` (figures drawn): tests count on it.
        self.tasks = 0

    @property
    def busy(self) -> int:
        return self.max_concurrent - self._free

    def flight(self, key: str) -> Flight | None:
        return self._flights.get(key)

    # ------------------------------------------------------------------ slots

    async def _acquire(self) -> None:
        if self._free > 0 and not self._waiting:
            self._free -= 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(waiter)
        try:
            await waiter  # the releaser hands its slot over directly
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._release()  # handed a slot just as we were cancelled: pass it on
            else:
                self._waiting.remove(waiter)
            raise

    def _release(self) -> None:
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._free += 1

    @staticmethod
    def _in_thread(function: Callable[[], Any]) -> asyncio.Future[Any]:
        """Run ``function`` in a new daemon thread; its outcome arrives on the returned future."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()

        def deliver(outcome: Any, error: BaseException | None) -> None:
            if future.done():
                return
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(outcome)

        def run() -> None:
            try:
                outcome, error = function(), None
            except (Cancelled, LimitExceeded) as exc:
                # An expected stop: its traceback would keep the computation's frames, and with them
                # its arrays (a sampled first batch: gigabytes), alive as long as the error is kept.
                outcome, error = None, exc.with_traceback(None)
                _give_back_memory()
            except BaseException as exc:
                outcome, error = None, exc
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
                loop.call_soon_threadsafe(deliver, outcome, error)

        context = contextvars.copy_context()  # the request's log context (warnings) goes along
        threading.Thread(target=context.run, args=(run,), name="srf-compute", daemon=True).start()
        return future

    # ------------------------------------------------------------------ flights

    def start(
        self, prepared: Prepared, work: Work, *, queue: bool, budget_seconds: float | None = None
    ) -> Flight:
        """Join the flight computing ``prepared.key`` or start one; without ``queue``, 429 when no slot
        is free.

        ``budget_seconds`` (synchronous requests) stops the computation past that wall time; a job
        (``queue``) joining a flight lifts its budget. Synchronous: it must not await between the
        capacity check and taking the slot.
        """
        key, endpoint = prepared.key, prepared.endpoint
        flight = self._flights.get(key)
        if self.closing:
            raise AtCapacity(503, "the server is shutting down; retry in a moment", self.retry_after)
        if flight is not None:
            if queue:
                flight.jobs += 1  # the job leaves through leave_job()
                flight.deadline = None
            return flight
        reserved = False
        if not queue:
            if self._free <= 0:
                raise AtCapacity(
                    429,
                    f"the server is running its maximum of {self.max_concurrent} heavy computations "
                    f"(SRF_MAX_CONCURRENT); retry after {self.retry_after} s, or send "
                    "'Prefer: respond-async' to queue it as a job",
                    self.retry_after,
                )
            self._free -= 1
            reserved = True
        loop = asyncio.get_running_loop()
        flight = Flight(key=key, endpoint=endpoint, future=loop.create_future())
        if budget_seconds is not None and not queue:
            flight.budget_seconds = budget_seconds
            flight.deadline = flight.sync_deadline = time.monotonic() + budget_seconds
        if queue:
            flight.jobs = 1
        self._flights[key] = flight
        flight.task = loop.create_task(self._fly(flight, work, reserved))
        return flight

    @contextlib.contextmanager
    def slot(self, what: str) -> Iterator[None]:
        """Hold one computing slot while the block runs (on the loop); 429 when none is free. Serving a
        large stored answer (parsing and encoding megabytes) costs like computing, so it is counted."""
        if self._free <= 0 or self._waiting:
            raise AtCapacity(
                429,
                f"the server is running its maximum of {self.max_concurrent} heavy computations "
                f"(SRF_MAX_CONCURRENT), and {what} takes one; retry after {self.retry_after} s",
                self.retry_after,
            )
        self._free -= 1
        try:
            yield
        finally:
            self._release()

    def leave_job(self, flight: Flight) -> None:
        """A job stopped waiting for ``flight`` (done, failed or deleted): when it was the last job, the
        synchronous request that started the flight has its budget back."""
        flight.jobs = max(0, flight.jobs - 1)
        if flight.jobs == 0 and flight.sync_deadline is not None:
            flight.deadline = flight.sync_deadline

    def start_task(
        self, key: str, label: str, work: Work, *, budget_seconds: float | None = None
    ) -> Flight:
        """Join or start a flight that keeps nothing in the store (a figure): same capacity (429 when
        no slot is free), same thread pool, single flight per ``key``, the wall-clock budget
        ``budget_seconds`` (stopped at the work's next checkpoint past it)."""
        flight = self._flights.get(key)
        if flight is not None:
            return flight
        if self._free <= 0:
            raise AtCapacity(
                429,
                f"the server is running its maximum of {self.max_concurrent} heavy computations or "
                f"figures (SRF_MAX_CONCURRENT); retry after {self.retry_after} s",
                self.retry_after,
            )
        self._free -= 1
        loop = asyncio.get_running_loop()
        flight = Flight(key=key, endpoint=label, future=loop.create_future(), persist=False)
        if budget_seconds is not None:
            flight.budget_seconds = budget_seconds
            flight.deadline = time.monotonic() + budget_seconds
        self._flights[key] = flight
        flight.task = loop.create_task(self._fly(flight, work, True))
        return flight

    async def wait(self, flight: Flight, *, abandon_on_cancel: bool = False) -> tuple[dict[str, Any], bool]:
        """The flight's ``(body, served_from_store)``; cancelling the waiter never cancels the flight,
        except with ``abandon_on_cancel`` (a job, a client gone) when no other party is left."""
        flight.parties += 1
        try:
            return await asyncio.shield(flight.future)
        except asyncio.CancelledError:
            if abandon_on_cancel and flight.parties == 1:
                self._abandon(flight)
            raise
        finally:
            flight.parties -= 1

    def _abandon(self, flight: Flight) -> None:
        flight.cancel.set()
        if not flight.started and flight.task is not None:
            flight.task.cancel()

    async def _fly(self, flight: Flight, work: Work, reserved: bool) -> None:
        try:
            if not reserved:
                await self._acquire()
            try:
                flight.started = True
                for callback in flight.on_start:
                    callback()
                # Not cancellable from here on: the thread would run on after its slot was released.
                result = await asyncio.shield(self._in_thread(lambda: self._compute(flight, work)))
            finally:
                self._release()
            flight.future.set_result(result)
        except asyncio.CancelledError:
            flight.future.set_exception(Cancelled("cancelled before it started"))
        except BaseException as exc:  # delivered to every waiter
            flight.future.set_exception(exc)
        finally:
            self._flights.pop(flight.key, None)
            if flight.future.done() and not flight.future.cancelled():
                flight.future.exception()  # mark retrieved: a flight nobody awaits must not log noise

    def _compute(self, flight: Flight, work: Work) -> tuple[dict[str, Any], bool]:
        """In a worker thread: serve from the store if another process got there first, else compute."""
        stored = self.store.get(flight.key) if flight.persist else None
        if stored is not None:
            return stored, True

        def progress(fraction: float) -> None:
            flight.progress = min(max(float(fraction), 0.0), 1.0)
            flight.check()

        flight.check()
        with self._count_lock:
            if flight.persist:
                self.computations += 1
            else:
                self.tasks += 1
        started = time.perf_counter()
        with cancellation(flight.check):
            body = work(progress)
        log.debug("computed %s %s in %.3f s", flight.endpoint, flight.key, time.perf_counter() - started)
        if flight.persist:
            self.store.put(flight.key, flight.endpoint, ENGINE_VERSION, body)
        flight.progress = 1.0
        return body, False

    # ------------------------------------------------------------------ shutdown

    def shutdown(self) -> None:
        """Ask running computations to stop at their next checkpoint; do not wait for them.

        Its first part is safe in a signal handler: it only sets flags and ``threading.Event``s."""
        self.closing = True
        for flight in list(self._flights.values()):
            flight.cancel.set()

    def cancel_unstarted(self) -> None:
        """On the loop: cancel the flights still waiting for a slot."""
        for flight in list(self._flights.values()):
            flight.cancel.set()
            if not flight.started and flight.task is not None:
                flight.task.cancel()
