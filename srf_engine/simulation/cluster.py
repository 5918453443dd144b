"""Simulations on a Dask cluster (docs/scaling.md): the same numbers as the local run, bit for bit.

Tasks: parameters go out, sufficient statistics come back; workers draw their data from the seed streams.

- ``srf-seed``: one seed whole — first layer, the ridge sweep over every α along the nested prefixes,
  the test errors — returning its ``(test, train)`` errors (``sizes × ridges`` numbers each).
- ``srf-step``: when the first step is a large share of a seed's work (large ``α0``) and the cluster has
  more threads than there are seeds, each of the seed's ``PARTIALS`` gradient partial sums
  ``Σ g_μ x_μᵀ`` over its step chunks ``i ≡ k (mod PARTIALS)`` (``p × d``, drawn from the seed's
  streams) is a task of its own; the seed task adds them in the local run's order (docs/theory.md §2).

Why bit-identical: a seed's values depend on the seed alone, not on threads or on which process computes
them (chunk-wise products, single-threaded BLAS, partial sums fixed by chunk index: see :mod:`.seed`), so
a worker's seed equals the local one — provided the worker runs the same srf, numpy and BLAS build on the
same kind of CPU (OpenBLAS picks its kernels per CPU). Every task reports its build; a difference is
returned as a warning.

Threads: in a task BLAS runs on one thread and our threads number the cluster's threads shared among
the seeds (at most the worker's ``nthreads``), lowered on the worker to the threads its other tasks leave.

Progress, cancellation, failures: ``progress`` gets the estimated share of the work in finished tasks; an
exception from it (``Cancelled``) cancels every task of the call on the cluster, and running tasks stop
at their next chunk. A worker lost mid-task: Dask reruns its tasks elsewhere (up to
``distributed.scheduler.allowed-failures`` times) with the same result, since a task depends only on its
parameters. A lost scheduler connection, or no worker for ``NO_WORKERS_SECONDS``, raises
:class:`~srf_engine.errors.ClusterUnavailable`; nothing waits forever.

``distributed`` is imported here only, and this module only when a client or an address is given.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import os
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from ..activations import Activation, get_activation
from ..blas import single_threaded_blas
from ..errors import Cancelled, ClusterError, ClusterUnavailable, SRFEngineError
from ..version import ENGINE_VERSION
from .cost import PARTIALS, ClusterShape
from .parallel import TaskRunner
from .seed import Plan, SeedRun

Array = np.ndarray

#: Longest wait for a task to finish before ``progress`` is called again (its chance to cancel).
POLL_SECONDS = 0.25
#: Seconds between two questions to the scheduler about its workers.
WORKERS_CHECK_SECONDS = 10.0
#: A run fails when the cluster has had no worker for this long (instead of waiting forever).
NO_WORKERS_SECONDS = 60.0
#: Seconds to connect to a scheduler given by its address.
CONNECT_TIMEOUT_SECONDS = 10.0
#: The first step becomes tasks of its own when it is at least this share of a seed's work: its partial
#: sums (``p × d`` each) then travel between workers, cheap next to the ``≈ n0·p·d`` flops behind each.
STEP_SPLIT_MIN_SHARE = 0.25


# ------------------------------------------------------------------------------------------------
# the cluster as the cost model sees it
# ------------------------------------------------------------------------------------------------
def cluster_shape(client: Any) -> ClusterShape:
    """Threads and memory limit of every worker the scheduler knows; none → ClusterUnavailable."""

    def workers(dask_scheduler: Any) -> list[tuple[int, int]]:  # runs on the scheduler
        return [(int(ws.nthreads), int(ws.memory_limit or 0)) for ws in dask_scheduler.workers.values()]

    try:
        found = client.run_on_scheduler(workers)
    except (OSError, TimeoutError) as exc:
        raise ClusterUnavailable(f"the Dask scheduler {_address(client)} did not answer: {exc}") from None
    if not found:
        raise ClusterUnavailable(f"the Dask scheduler {_address(client)} has no workers")
    return ClusterShape(threads=tuple(t for t, _ in found), memory_limits=tuple(m for _, m in found))


def _address(client: Any) -> str:
    try:
        return str(client.scheduler.address)
    except AttributeError:
        return "(unknown address)"


def connect(address: str, timeout: float | None = None) -> Any:
    """A ``distributed.Client`` of the scheduler at ``address`` within ``timeout`` seconds for the whole
    handshake (default ``CONNECT_TIMEOUT_SECONDS``); unreachable, or not a scheduler → ClusterUnavailable.

    Dask's own ``timeout`` bounds the TCP connect only: a peer that accepts and then stays silent (an
    HTTP server, a proxy) would hang the handshake for ever. So the client is made in a daemon thread and
    waited for with the deadline; one that arrives after it is closed in that thread, never leaked open.
    """
    from distributed import Client

    seconds = timeout or CONNECT_TIMEOUT_SECONDS
    outcome: dict[str, Any] = {}
    done = threading.Event()
    handover = threading.Lock()  # the client is either taken by the caller or closed here, never both

    def make() -> None:
        try:
            made = Client(address, timeout=seconds, set_as_default=False)
        except Exception as exc:  # garbage from a peer that is no scheduler surfaces as any exception
            outcome["error"] = exc
            done.set()
            return
        with handover:
            outcome["client"] = made
            late = outcome.get("gave_up", False)
            done.set()
        if late:  # nobody will use it
            with contextlib.suppress(Exception):
                made.close(timeout=2)

    threading.Thread(target=make, name="srf-dask-connect", daemon=True).start()
    if not done.wait(seconds + 0.5):  # Dask's connect timeout first, then ours on the whole handshake
        with handover:
            if "client" in outcome:  # arrived just now: use it after all
                return outcome["client"]
            outcome["gave_up"] = True
        raise ClusterUnavailable(
            f"the Dask scheduler at {address} accepted the connection but did not complete the handshake "
            f"within {seconds:g} s (is a Dask scheduler listening there, or another server?)"
        )
    if "error" in outcome:
        exc = outcome["error"]
        if isinstance(exc, (OSError, TimeoutError, ValueError)):
            raise ClusterUnavailable(f"cannot reach the Dask scheduler at {address}: {exc}") from None
        raise ClusterUnavailable(
            f"cannot reach the Dask scheduler at {address}: the peer is not a Dask scheduler "
            f"({type(exc).__name__}: {str(exc)[:200]})"
        ) from None
    return outcome["client"]


# ------------------------------------------------------------------------------------------------
# what travels: the plan with its activations as their specs
# ------------------------------------------------------------------------------------------------
def _pack(plan: Plan) -> dict[str, Any]:
    """The plan's fields; activations that the registry rebuilds from their spec travel as the spec."""
    fields = {f.name: getattr(plan, f.name) for f in dataclasses.fields(plan)}
    for name in ("student", "teacher"):
        act: Activation = fields[name]
        if not isinstance(act, Activation):  # a multi-index teacher: a frozen dataclass of plain data
            fields[name] = ("object", act)
            continue
        try:
            rebuilt = get_activation(act.spec, name) == act
        except (SRFEngineError, TypeError):
            rebuilt = False
        fields[name] = ("spec", act.spec) if rebuilt else ("object", act)
    return fields


def _unpack(fields: dict[str, Any]) -> Plan:
    values = dict(fields)
    for name in ("student", "teacher"):
        kind, value = values[name]
        values[name] = get_activation(value, name) if kind == "spec" else value
    return Plan(**values)


@lru_cache(maxsize=1)
def build() -> tuple[str, ...]:
    """What a seed's rounding depends on beyond its parameters: srf, numpy, scipy and BLAS builds."""
    import scipy
    from threadpoolctl import threadpool_info

    blas = sorted(
        f"{i.get('internal_api')} {i.get('version')} {i.get('architecture')}"
        for i in threadpool_info()
        if i.get("user_api") == "blas"
    )
    return (ENGINE_VERSION, np.__version__, scipy.__version__, *blas)


# ------------------------------------------------------------------------------------------------
# the tasks (run on the workers)
# ------------------------------------------------------------------------------------------------
class _ChunksOnTheHeap:
    """While tasks run, chunk-sized arrays come from glibc's heap rather than fresh ``mmap``s.

    Dask's nanny starts workers with ``MALLOC_TRIM_THRESHOLD_`` set, which also freezes glibc's ``mmap``
    threshold at 128 KiB: every chunk array (``512 × d`` floats, megabytes) is then mapped, its pages
    faulted in and zeroed, and unmapped, chunk after chunk — measured here as 20 % more CPU per seed,
    all of it system time. While any task runs the thresholds are raised to what glibc's own dynamic
    rule would reach (32 MiB, trim at 64 MiB); after the last task they are restored and the heap
    trimmed, so the worker hands the memory back as Dask wants. Only when that variable is set (the
    dynamic rule is then off anyway) and the C library is glibc; elsewhere nothing changes.
    """

    _lock = threading.Lock()
    _users = 0
    _libc: Any = None

    @classmethod
    def _glibc(cls) -> Any:
        if "MALLOC_TRIM_THRESHOLD_" not in os.environ or not hasattr(os, "confstr"):
            return None
        try:
            if "glibc" not in (os.confstr("CS_GNU_LIBC_VERSION") or ""):
                return None
            return ctypes.CDLL("libc.so.6")
        except (OSError, ValueError):
            return None

    @classmethod
    def __enter__(cls) -> None:
        with cls._lock:
            if cls._users == 0:
                cls._libc = cls._glibc()
                if cls._libc is not None:
                    cls._libc.mallopt(_M_MMAP_THRESHOLD, 32 * 2**20)
                    cls._libc.mallopt(_M_TRIM_THRESHOLD, 64 * 2**20)
            cls._users += 1

    @classmethod
    def __exit__(cls, *exc: object) -> None:
        with cls._lock:
            cls._users -= 1
            if cls._users == 0 and cls._libc is not None:
                cls._libc.mallopt(_M_MMAP_THRESHOLD, 128 * 2**10)  # glibc's default
                trim = os.environ.get("MALLOC_TRIM_THRESHOLD_", "")
                cls._libc.mallopt(_M_TRIM_THRESHOLD, int(trim) if trim.isdigit() else 128 * 2**10)
                cls._libc.malloc_trim(0)


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt parameters (malloc.h)


def _worker_threads(requested: int) -> int:
    """``requested`` threads, lowered to what this worker's other running tasks leave free."""
    try:
        from distributed import get_worker

        state = get_worker().state
    except (ImportError, ValueError):  # not on a worker
        return requested
    others = max(0, state.executing_count - 1)
    return max(1, min(requested, state.nthreads - others))


def _stop_when_cancelled() -> Callable[[float], None] | None:
    """A progress callback raising ``Cancelled`` once the client cancelled this task (a local look at the
    worker's state: no message to the scheduler)."""
    try:
        from distributed import get_worker

        worker = get_worker()
        key = worker.get_current_task()
    except (ImportError, ValueError):
        return None

    def check(_: float) -> None:
        ts = worker.state.tasks.get(key)
        if ts is None or ts.state in ("cancelled", "released", "forgotten"):
            raise Cancelled("the task was cancelled")

    return check


def seed_task(packed: dict[str, Any], seed: int, threads: int, *step_sums: Array) -> tuple[Any, ...]:
    """``(test, train, build, first layer)`` of one seed (``step_sums``: its first step's partial sums, if
    split; first layer: the measured sRF of a network's, docs/theory.md §10, else None)."""
    plan = _unpack(packed)
    stop = _stop_when_cancelled()
    with _ChunksOnTheHeap(), single_threaded_blas(), TaskRunner(_worker_threads(threads), 1.0, stop) as run:
        seed_run = SeedRun(plan, seed, run, step_sums=step_sums or None)
        test, train = seed_run.run()
    from . import first_layer_record  # the package imports this module lazily: no cycle

    return test, train, build(), first_layer_record(seed_run)


def step_task(packed: dict[str, Any], seed: int, k: int) -> Array:
    """Partial sum ``k`` of the seed's first-step gradient (``p × d``), from ``W0`` and θ drawn here."""
    plan = dataclasses.replace(_unpack(packed), first_layer="plain")
    with _ChunksOnTheHeap(), single_threaded_blas(), TaskRunner(1, 1.0, _stop_when_cancelled()) as run:
        seed_run = SeedRun(plan, seed, run)
        w0, theta = seed_run.first_layer()
        return seed_run.step_partial(w0, theta, k)


# ------------------------------------------------------------------------------------------------
# the driver (runs where simulate was called)
# ------------------------------------------------------------------------------------------------
def split_step(plan: Plan, seeds: int, shape: ClusterShape) -> bool:
    """Whether the first step runs as tasks of its own (see the module docstring)."""
    if plan.first_layer != "step" or shape.total_threads <= seeds:
        return False
    load = plan.load
    return load.step_seconds() >= STEP_SPLIT_MIN_SHARE * load.seconds_per_seed()


class _Tracker:
    """Futures of one call: progress by their estimated work, failures as engine errors, cancellation."""

    def __init__(self, client: Any, progress: Callable[[float], None] | None) -> None:
        self.client = client
        self.address = _address(client)  # while connected: a lost client forgets it
        self.progress = progress
        self.pending: dict[Any, float] = {}  # future → its estimated work; a finished one is dropped
        self.changed = threading.Event()  # set when a task finished, failed or was cancelled
        self.total = 0.0
        self.done = 0.0
        self.results: dict[Any, Any] = {}

    def add(self, future: Any, work: float, keep: bool) -> Any:
        future.add_done_callback(lambda _: self.changed.set())
        self.pending[future] = work
        self.total += work
        if keep:
            self.results[future.key] = None
        return future

    def wait(self) -> None:
        """Until every task finished; sleeps until one does (a driver polling the futures would take a tenth
        of a core from the workers of a small cluster)."""
        next_check = time.monotonic() + WORKERS_CHECK_SECONDS
        no_workers_since: float | None = None
        while self.pending:
            self.changed.clear()
            for future in list(self.pending):
                status = future.status
                if status == "finished":
                    self.done += self.pending.pop(future)
                    if future.key in self.results:
                        self.results[future.key] = future.result()
                elif status == "error":
                    raise _task_error(future)
                elif status == "cancelled":
                    raise ClusterUnavailable(self._cancelled(future))
                # "pending", or "lost" (its worker died): Dask (re)runs it
            if self.progress is not None:
                self.progress(min(1.0, self.done / max(self.total, 1e-300)))
            if not self.pending:
                break
            if self.client.status not in ("running", "connecting"):
                raise ClusterUnavailable(
                    f"lost the connection to the Dask scheduler {self.address} (client {self.client.status})"
                )
            now = time.monotonic()
            if now >= next_check:
                next_check = now + WORKERS_CHECK_SECONDS
                if self._has_workers():
                    no_workers_since = None
                elif no_workers_since is None:
                    no_workers_since = now
                elif now - no_workers_since > NO_WORKERS_SECONDS:
                    raise ClusterUnavailable(
                        f"the Dask scheduler {self.address} has had no workers for {NO_WORKERS_SECONDS:g} s"
                    )
            self.changed.wait(POLL_SECONDS)

    def _cancelled(self, future: Any) -> str:
        """Why a task was cancelled by someone else than this call: the scheduler, or the connection."""
        exc = getattr(getattr(future, "_state", None), "exception", None)
        why = getattr(exc, "msg", None) or getattr(exc, "reason", None) or "no reason given"
        return (
            f"the Dask scheduler {self.address} dropped task {future.key!r} or the connection to it was "
            f"lost (client {self.client.status}; {why})"
        )

    def _has_workers(self) -> bool:
        try:
            cluster_shape(self.client)
        except ClusterUnavailable:
            return False
        return True

    def cancel(self) -> None:
        """Cancel what is still pending (running tasks stop at their next chunk); never blocks long."""
        if self.pending and self.client.status == "running":
            with contextlib.suppress(OSError, TimeoutError):  # the scheduler is gone: nothing to cancel
                self.client.cancel(list(self.pending))


def _task_error(future: Any) -> Exception:
    try:
        exc = future.exception(timeout=5)
    except Exception as err:  # the scheduler went away meanwhile
        return ClusterUnavailable(f"a task failed and its error could not be fetched: {err}")
    if isinstance(exc, SRFEngineError):
        return exc
    name = type(exc).__name__
    if name == "KilledWorker":
        return ClusterError(
            f"task {future.key!r} was lost with its worker too many times "
            f"(distributed.scheduler.allowed-failures): {exc}"
        )
    return ClusterError(
        f"a Dask worker could not run task {future.key!r}: {name}: {exc} "
        "(is srf installed on every worker, in the same version?)"
    )


def run_seeds(
    client: Any,
    plan: Plan,
    seeds: Sequence[int],
    *,
    progress: Callable[[float], None] | None = None,
) -> tuple[list[tuple[Array, Array]], list[str]]:
    """Every seed's ``(test, train)`` computed on the cluster of ``client``, and warnings."""
    shape = cluster_shape(client)
    packed = _pack(plan)
    load = plan.load
    split = split_step(plan, len(seeds), shape)
    threads = shape.task_threads(len(seeds))
    step_work = load.step_seconds() / PARTIALS if split else 0.0
    token = uuid.uuid4().hex[:12]
    tracker = _Tracker(client, progress)
    seed_keys = []
    if progress is not None:
        progress(0.0)
    try:
        for seed in seeds:
            sums = []
            if split:
                sums = [
                    tracker.add(
                        client.submit(step_task, packed, seed, k, key=(f"srf-step-{token}", seed, k)),
                        step_work,
                        keep=False,
                    )
                    for k in range(PARTIALS)
                ]
            key = (f"srf-seed-{token}", seed)
            work = load.seconds_per_seed() - PARTIALS * step_work
            tracker.add(client.submit(seed_task, packed, seed, threads, *sums, key=key), work, keep=True)
            seed_keys.append(key)
            del sums
        tracker.wait()
    except BaseException:
        tracker.cancel()
        raise
    outputs = [tracker.results[key] for key in seed_keys]
    builds = {out[2] for out in outputs}
    warnings = []
    if builds != {build()}:
        theirs = "; ".join(" ".join(b) for b in sorted(builds - {build()}))
        warnings.append(
            f"workers ran another build ({theirs}) than this process ({' '.join(build())}): the values "
            "equal a local run's up to rounding, not bit for bit"
        )
    return [(out[0], out[1], out[3]) for out in outputs], warnings
