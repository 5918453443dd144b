"""Typed errors raised by the engine.

The service turns :class:`InvalidParameterError` into a 422 naming ``field`` and the rule.
"""

from __future__ import annotations


class SRFEngineError(Exception):
    """Base class of every error the engine raises on purpose."""


class InvalidParameterError(SRFEngineError, ValueError):
    """A parameter is outside its domain; ``field`` names it as the API does."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.rule = message


class UnknownActivationError(InvalidParameterError):
    """An activation name that is not in the registry."""


class Cancelled(SRFEngineError):
    """Raised from a progress callback to stop a computation early (the service's job cancel)."""


class ClusterError(SRFEngineError):
    """A simulation on a Dask cluster failed for a reason of the cluster's (docs/scaling.md)."""


class ClusterUnavailable(ClusterError):
    """The Dask scheduler cannot be reached, was lost, or has no workers: no work can run there."""


#: Most characters of a client's input an error message repeats.
ECHO_LIMIT = 100


def clip(text: object, limit: int = ECHO_LIMIT) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis: error messages never echo more of a
    client's input than that (a 10 MB name must not come back as a 10 MB error)."""
    value = str(text)
    return value if len(value) <= limit else value[: limit - 1] + "…"
