"""The Dask cluster behind the service (``SRF_DASK_SCHEDULER``, docs/scaling.md): one client, its shape.

Connected on first use rather than at start-up, so that the service starts, and serves the theory and
its cache, while the cluster is down; a lost connection is made again at the next request. Failing to
reach the scheduler (or finding no worker) is a 503 with ``Retry-After`` naming the address and the
reason — for new work only: cache hits and the theory need no cluster.

A wrong address must not take the rest of the service with it:

* the whole handshake has a deadline (``SRF_DASK_CONNECT_TIMEOUT``; a peer that accepts and stays
  silent is no longer a hang), and no lock is held across it;
* while one connect is under way every other request fails fast (503) instead of queueing behind it,
  and after a failed connect requests fail fast with the same reason for ``Retry-After`` seconds,
  doubled with each failure in a row up to ``MAX_BACKOFF_SECONDS``;
* the event loop's waits for the cluster run in threads of their own (:meth:`Cluster.shape_async`),
  never in the thread pool that serves the store and the other routes;
* :meth:`Cluster.health` reports the last known state without any network call (``/healthz``).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from srf_engine.errors import ClusterError

from ..errors import AtCapacity

#: Seconds the service trusts the cluster's shape (workers, threads, memory) before asking again.
SHAPE_SECONDS = 5.0
#: Longest pause between two connect attempts after failures in a row (each failure doubles it from
#: ``Retry-After``): a handshake that hangs leaves its thread behind, so attempts must stay rare.
MAX_BACKOFF_SECONDS = 60.0

T = TypeVar("T")


class Cluster:
    """The scheduler at ``address``: a ``distributed.Client`` shared by every simulation of the app."""

    def __init__(self, address: str, *, connect_timeout: float, retry_after: int) -> None:
        self.address = address
        self.connect_timeout = connect_timeout
        self.retry_after = retry_after
        self._client: Any = None
        self._lock = threading.Lock()  # guards the fields below; never held across a network call
        self._connecting_since: float | None = None
        self._failed: tuple[float, str] | None = None  # when the last connect or question failed, why
        self._failures = 0  # in a row
        self._shape: tuple[float, Any] | None = None

    def unavailable(self, reason: str) -> AtCapacity:
        return AtCapacity(
            503,
            f"the Dask scheduler {self.address} (SRF_DASK_SCHEDULER) cannot take new work: {reason}; "
            f"retry after {self.retry_after} s",
            self.retry_after,
        )

    def _fail(self, reason: str) -> AtCapacity:
        with self._lock:
            self._failed = (time.monotonic(), reason)
            self._failures += 1
        return self.unavailable(reason)

    def _backoff(self) -> float:
        return min(MAX_BACKOFF_SECONDS, self.retry_after * 2.0 ** max(0, self._failures - 1))

    def client(self) -> Any:
        """The connected client (made on first use, again after the connection was lost); else 503 —
        at once while another connect is under way or shortly after one failed."""
        from srf_engine.simulation import cluster as backend

        with self._lock:
            if self._client is not None and self._client.status not in ("running", "connecting"):
                self._close_client()
            if self._client is not None:
                return self._client
            now = time.monotonic()
            if self._connecting_since is not None:
                raise self.unavailable(
                    f"a connection to it is being attempted (for {now - self._connecting_since:.1f} s)"
                )
            if self._failed is not None and now - self._failed[0] < self._backoff():
                raise self.unavailable(self._failed[1])
            self._connecting_since = now
        try:
            made = backend.connect(self.address, timeout=self.connect_timeout)
        except ClusterError as exc:
            with self._lock:
                self._connecting_since = None
            raise self._fail(str(exc)) from None
        with self._lock:
            self._connecting_since = None
            self._failed = None
            self._failures = 0
            self._client = made
        return made

    def shape(self) -> Any:
        """The workers' threads and memory limits (cached ``SHAPE_SECONDS``); 503 if unreachable or empty.
        The question to the scheduler has the connect timeout as its deadline too."""
        from srf_engine.simulation import cluster as backend

        cached = self._shape
        if cached is not None and time.monotonic() - cached[0] < SHAPE_SECONDS:
            return cached[1]
        client = self.client()
        try:
            shape = _within(self.connect_timeout, lambda: backend.cluster_shape(client))
        except TimeoutError:
            reason = f"it did not say within {self.connect_timeout:g} s which workers it has"
            raise self._fail(reason) from None
        except ClusterError as exc:
            raise self._fail(str(exc)) from None
        self._shape = (time.monotonic(), shape)
        return shape

    async def shape_async(self) -> Any:
        """:meth:`shape` from the event loop, in a thread of its own (not the shared pool)."""
        return await _in_own_thread(self.shape)

    def health(self) -> dict[str, Any]:
        """The last known state (no network call): ``connected``, ``connecting``, ``unreachable`` (with
        the reason) or ``not_connected`` (no simulation asked for it yet)."""
        with self._lock:
            client, connecting, failed = self._client, self._connecting_since, self._failed
        state: dict[str, Any] = {"address": self.address}
        if connecting is not None:
            return {**state, "state": "connecting", "reason": None}
        if client is not None and client.status in ("running", "connecting"):
            return {**state, "state": "connected", "reason": None}
        if failed is not None:
            return {**state, "state": "unreachable", "reason": failed[1]}
        if client is not None:
            return {**state, "state": "unreachable", "reason": f"the connection was lost ({client.status})"}
        return {**state, "state": "not_connected", "reason": None}

    def _close_client(self) -> None:
        client, self._client = self._client, None
        self._shape = None

        def close() -> None:
            with contextlib.suppress(Exception):  # closing a broken client must not hide why it broke
                client.close(timeout=2)

        threading.Thread(target=close, name="srf-dask-close", daemon=True).start()

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                _within(3.0, lambda: client.close(timeout=2))


def _within(seconds: float, function: Callable[[], T]) -> T:
    """``function()`` in a daemon thread, waited for at most ``seconds`` (TimeoutError beyond; the thread
    is left to finish on its own)."""
    box: dict[str, Any] = {}
    done = threading.Event()

    def run() -> None:
        try:
            box["value"] = function()
        except BaseException as exc:
            box["error"] = exc
        finally:
            done.set()

    threading.Thread(target=run, name="srf-dask-call", daemon=True).start()
    if not done.wait(seconds):
        raise TimeoutError(f"no answer within {seconds:g} s")
    if "error" in box:
        raise box["error"]
    return box["value"]


def _in_own_thread(function: Callable[[], T]) -> asyncio.Future[T]:
    """Run ``function`` in a new daemon thread; its outcome arrives on the returned future."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def deliver(value: Any, error: BaseException | None) -> None:
        if not future.done():
            future.set_exception(error) if error is not None else future.set_result(value)

    def run() -> None:
        try:
            value, error = function(), None
        except BaseException as exc:
            value, error = None, exc
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
            loop.call_soon_threadsafe(deliver, value, error)

    threading.Thread(target=run, name="srf-dask-shape", daemon=True).start()
    return future
