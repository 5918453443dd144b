"""The Dask cluster behind the service (``SRF_DASK_SCHEDULER``, docs/scaling.md): one client, its shape.

Connected on first use rather than at start-up, so that the service starts, and serves the theory and
its cache, while the cluster is down; a lost connection is made again at the next request. Failing to
reach the scheduler (or finding no worker) is a 503 with ``Retry-After`` naming the address and the
reason — for new work only: cache hits and the theory need no cluster.
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

from srf_engine.errors import ClusterError

from ..errors import AtCapacity

#: Seconds the service trusts the cluster's shape (workers, threads, memory) before asking again.
SHAPE_SECONDS = 5.0


class Cluster:
    """The scheduler at ``address``: a ``distributed.Client`` shared by every simulation of the app."""

    def __init__(self, address: str, *, connect_timeout: float, retry_after: int) -> None:
        self.address = address
        self.connect_timeout = connect_timeout
        self.retry_after = retry_after
        self._client: Any = None
        self._lock = threading.Lock()
        self._shape: tuple[float, Any] | None = None

    def unavailable(self, reason: str) -> AtCapacity:
        return AtCapacity(
            503,
            f"the Dask scheduler {self.address} (SRF_DASK_SCHEDULER) cannot take new work: {reason}; "
            f"retry after {self.retry_after} s",
            self.retry_after,
        )

    def client(self) -> Any:
        """The connected client (made on first use, again after the connection was lost); else 503."""
        from srf_engine.simulation import cluster as backend

        with self._lock:
            if self._client is not None and self._client.status not in ("running", "connecting"):
                self._close_client()
            if self._client is None:
                try:
                    self._client = backend.connect(self.address, timeout=self.connect_timeout)
                except ClusterError as exc:
                    raise self.unavailable(str(exc)) from None
            return self._client

    def shape(self) -> Any:
        """The workers' threads and memory limits (cached ``SHAPE_SECONDS``); 503 if unreachable or empty."""
        from srf_engine.simulation import cluster as backend

        cached = self._shape
        if cached is not None and time.monotonic() - cached[0] < SHAPE_SECONDS:
            return cached[1]
        try:
            shape = backend.cluster_shape(self.client())
        except ClusterError as exc:
            raise self.unavailable(str(exc)) from None
        self._shape = (time.monotonic(), shape)
        return shape

    def _close_client(self) -> None:
        client, self._client = self._client, None
        with contextlib.suppress(Exception):  # closing a broken client must not hide why it broke
            client.close(timeout=2)

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._close_client()
