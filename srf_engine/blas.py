"""BLAS held at one thread while a simulation or a batched theory runs: its rounding then does not
depend on scheduling, and small products do not pay for threads."""

from __future__ import annotations

import ctypes
import itertools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

from threadpoolctl import threadpool_info, threadpool_limits


class _BlasThreads:
    """Holds BLAS at one thread while any simulation runs (reference-counted across concurrent calls).

    Multi-threaded BLAS rounds differently from single-threaded BLAS, so holding it at one thread makes a
    seed's values independent of scheduling; our own threads do the parallel work. OpenBLAS with its own
    (pthreads) thread pool is set through its C API directly: ``threadpoolctl`` lets only the first
    Python thread that ever set a limit change it ("controlling thread"), and ``simulate`` runs in service
    worker threads too. Other BLAS libraries fall back to ``threadpoolctl``.
    """

    _lock = threading.Lock()
    _users = 0
    _saved: ClassVar[list[tuple[Callable[[int], Any], int]]] = []
    _fallback: Any = None
    _setters: ClassVar[list[tuple[Callable[[], int], Callable[[int], Any]]] | None] = None

    @classmethod
    def _discover(cls) -> list[tuple[Callable[[], int], Callable[[int], Any]]]:
        found = []
        for info in threadpool_info():
            if info.get("internal_api") != "openblas" or info.get("threading_layer") == "openmp":
                continue
            try:
                lib = ctypes.CDLL(info["filepath"])
            except OSError:  # pragma: no cover - a library threadpoolctl saw is loaded
                continue
            for prefix, suffix in itertools.product(("", "scipy_"), ("", "64_", "_64")):
                get = getattr(lib, f"{prefix}openblas_get_num_threads{suffix}", None)
                set_ = getattr(lib, f"{prefix}openblas_set_num_threads{suffix}", None)
                if get is not None and set_ is not None:
                    found.append((get, set_))
                    break
        return found

    @classmethod
    def acquire(cls) -> None:
        with cls._lock:
            if cls._users == 0:
                if cls._setters is None:
                    cls._setters = cls._discover()
                cls._saved = [(set_, int(get())) for get, set_ in cls._setters]
                for set_, _ in cls._saved:
                    set_(1)
                info = threadpool_info()
                if any(i.get("user_api") == "blas" and i.get("num_threads") != 1 for i in info):
                    cls._fallback = threadpool_limits(limits=1, user_api="blas")
            cls._users += 1

    @classmethod
    def release(cls) -> None:
        with cls._lock:
            cls._users -= 1
            if cls._users == 0:
                if cls._fallback is not None:
                    cls._fallback.restore_original_limits()
                    cls._fallback = None
                for set_, n in cls._saved:
                    set_(n)
                cls._saved = []


@contextmanager
def single_threaded_blas() -> Iterator[None]:
    """BLAS on one thread for the duration (see :class:`_BlasThreads`)."""
    _BlasThreads.acquire()
    try:
        yield
    finally:
        _BlasThreads.release()
