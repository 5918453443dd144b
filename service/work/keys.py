"""Optional bearer-token authentication with per-key limits (``SRF_API_KEYS``).

Unset (or empty), the service is open, as before. Set, every computation and job endpoint needs
``Authorization: Bearer <one of the keys>`` (401 otherwise); ``/healthz``, ``/version``,
``/activations`` and the docs stay open. Each key may run at most ``api_key_max_concurrent``
computations at once (429 beyond, with ``Retry-After``) and hold ``api_key_max_queued_jobs``
unfinished jobs (429 beyond), so one client cannot take every slot of a shared server: its running
jobs and the figures drawn for it count among its computations too (a job waits, queued, for its
key's turn). A job belongs to the key that submitted it (others get 404 for it); stored results stay
shared by key. Keys are compared in constant time and never logged; a key is known in the process by
a short hash.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
from collections import Counter
from collections.abc import AsyncIterator, Iterator

from ..errors import AtCapacity, ServiceError


def key_id(token: str) -> str:
    """A short, non-reversible name of a key (for counters and logs)."""
    return hashlib.sha256(token.encode()).hexdigest()[:12]


class ApiKeys:
    """The configured keys and what each is using right now."""

    def __init__(
        self, keys: list[str], *, max_concurrent: int, max_queued_jobs: int, retry_after: int
    ) -> None:
        self._keys = [k.encode() for k in keys]
        self.max_concurrent = max_concurrent
        self.max_queued_jobs = max_queued_jobs
        self.retry_after = retry_after
        self.computing: Counter[str] = Counter()
        self.jobs: Counter[str] = Counter()
        self._turns: dict[str, list[asyncio.Future[None]]] = {}  # jobs waiting for their key's turn

    @property
    def enabled(self) -> bool:
        return bool(self._keys)

    def authenticate(self, authorization: str | None) -> str | None:
        """The caller's key id (None when authentication is off); 401 for a missing or unknown key."""
        if not self.enabled:
            return None
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip()
        if scheme.lower() == "bearer" and token:
            given = token.encode()
            # Compare with every key, in constant time each, so timing tells nothing.
            matches = [hmac.compare_digest(given, key) for key in self._keys]
            if any(matches):
                return key_id(token)
        raise ServiceError(
            401,
            "this server requires an API key: send the header 'Authorization: Bearer <key>' (SRF_API_KEYS)",
            field="Authorization",
            headers={"WWW-Authenticate": "Bearer"},
        )

    @contextlib.contextmanager
    def computation(self, who: str | None) -> Iterator[None]:
        """Count one synchronous computation of ``who`` while the block runs; 429 beyond its share."""
        if who is None:
            yield
            return
        if self.computing[who] >= self.max_concurrent:
            raise AtCapacity(
                429,
                f"this API key already runs its maximum of {self.max_concurrent} computation(s) at once "
                f"(SRF_API_KEY_MAX_CONCURRENT); retry after {self.retry_after} s",
                self.retry_after,
            )
        self.computing[who] += 1
        try:
            yield
        finally:
            self._done(who)

    def _done(self, who: str) -> None:
        self.computing[who] -= 1
        for waiter in self._turns.get(who, []):
            if not waiter.done():
                waiter.set_result(None)  # each waiter checks again

    @contextlib.asynccontextmanager
    async def turn(self, who: str | None) -> AsyncIterator[None]:
        """Wait (on the loop) until ``who`` runs fewer than its maximum, then count one computation of it
        while the block runs: a job of a key at its share stays queued instead of taking a slot."""
        if who is None:
            yield
            return
        while self.computing[who] >= self.max_concurrent:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._turns.setdefault(who, []).append(waiter)
            try:
                await waiter
            finally:
                self._turns[who].remove(waiter)
        self.computing[who] += 1
        try:
            yield
        finally:
            self._done(who)

    def check_job(self, who: str | None) -> None:
        """429 when ``who`` already holds its maximum of unfinished jobs."""
        if who is not None and self.jobs[who] >= self.max_queued_jobs:
            raise AtCapacity(
                429,
                f"this API key already holds its maximum of {self.max_queued_jobs} unfinished job(s) "
                f"(SRF_API_KEY_MAX_QUEUED_JOBS); retry after {self.retry_after} s",
                self.retry_after,
            )
