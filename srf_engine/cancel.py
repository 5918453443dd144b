"""Cooperative cancellation inside the engine's long loops.

A caller that may need to stop a computation (the service: a cancelled job, a client gone, the
synchronous time budget spent, shutdown) installs a check for its thread with :func:`cancellation`;
the solver and the quadratures call :func:`checkpoint` between iterations, which runs the check.
The check raises (``Cancelled`` or the caller's own exception) to stop; without one installed,
``checkpoint`` costs one attribute lookup.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

_local = threading.local()


def checkpoint() -> None:
    """Run the current thread's check, if any (it raises to stop the computation)."""
    check = getattr(_local, "check", None)
    if check is not None:
        check()


@contextmanager
def cancellation(check: Callable[[], None]) -> Iterator[None]:
    """Install ``check`` for the current thread while the block runs (nesting restores the outer one)."""
    outer = getattr(_local, "check", None)
    _local.check = check
    try:
        yield
    finally:
        _local.check = outer
