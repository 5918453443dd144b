"""Service configuration from ``SRF_*`` environment variables (pydantic-settings)."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_cache_path() -> Path:
    """Per-user cache file: ``$XDG_CACHE_HOME/srf/cache.sqlite3`` (``~/.cache`` when unset)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "srf" / "cache.sqlite3"


class Settings(BaseSettings):
    """Every knob of the service; each field ``x`` is read from ``SRF_X``."""

    model_config = SettingsConfigDict(env_prefix="SRF_", extra="ignore")

    cache_path: Path = Field(
        default_factory=default_cache_path, description="SQLite file of results and jobs."
    )
    sqlite_busy_timeout_ms: int = Field(
        10_000, ge=0, description="How long a writer waits for another process; beyond it a 503."
    )
    cache_max_bytes: int | None = Field(
        1024**3,
        ge=0,
        description="Cap on the stored results' total size; beyond it the least recently used are evicted.",
    )
    job_ttl_seconds: float = Field(
        86_400.0, gt=0, description="Finished jobs are deleted this long after they finished."
    )

    # The HTTP edge: bounded bodies and bounded time to send them.
    max_body_bytes: int = Field(1024**2, ge=1, description="Largest request body accepted (413 beyond).")
    receive_timeout_seconds: float = Field(
        10.0, gt=0, description="Most time a client may take between two parts of its request body (408)."
    )

    # Optional authentication: comma-separated bearer tokens; unset or empty: open, as before.
    api_keys: str | None = Field(None, description="Comma-separated bearer tokens; unset: no authentication.")
    api_key_max_concurrent: int = Field(1, ge=1, description="Computations at once per API key.")
    api_key_max_queued_jobs: int = Field(16, ge=1, description="Unfinished jobs per API key.")
    metrics_require_key: bool = Field(
        False, description="With SRF_API_KEYS set, /metrics needs a key too; default: open, for a scraper."
    )

    # Limits: beyond them a request is refused with 413 naming the limit.
    max_dimension: int = Field(4000, ge=1)
    max_seeds: int = Field(32, ge=1)
    max_alphas: int = Field(200, ge=1)
    max_points: int = Field(
        100_000,
        ge=1,
        description="Points of a result: the product of the lengths of all list-valued fields (kappa too).",
    )
    # The theory solves a grid batched (10⁵ points in seconds); a simulation's points each cost seeds.
    max_simulation_points: int = Field(
        20_000, ge=1, description="Points of a grid with a simulation (/simulate, /compare)."
    )
    max_test_samples: int = Field(100_000, ge=1)
    max_response_bytes: int = Field(
        32 * 1024**2,
        ge=1,
        description="Largest answer (JSON, or CSV) computed or served from the store; 413 beyond.",
    )
    max_memory_bytes: int = Field(4 * 1024**3, ge=1, description="Ceiling on the engine's memory estimate.")
    max_job_seconds: float = Field(
        6 * 3600.0,
        gt=0,
        description="Ceiling on any computation's estimated time, jobs included (413 beyond).",
    )
    max_sync_seconds: float = Field(
        30.0, ge=0, description="Synchronous requests estimated above this must use Prefer: respond-async."
    )

    # Capacity: heavy computations at once; sync requests beyond get 429, jobs queue up to max_queued_jobs.
    max_concurrent: int = Field(2, ge=1)
    max_queued_jobs: int = Field(64, ge=1, description="Unfinished jobs in this process; beyond it 503.")
    retry_after_seconds: int = Field(5, ge=1, description="Retry-After sent with 429 and 503.")
    simulation_jobs: int | None = Field(
        None, ge=1, description="Threads of one simulation (engine's n_jobs); unset: the available cores."
    )
    # A Dask cluster for the simulations (docs/scaling.md); unset: this process's threads.
    dask_scheduler: str | None = Field(
        None, description="Address of a Dask scheduler, e.g. tcp://host:8786: simulations run on its cluster."
    )
    dask_connect_timeout: float = Field(
        5.0, gt=0, description="Seconds to reach the Dask scheduler before answering 503."
    )

    # The theory's time model (srf_engine.theory_cost) is calibrated; this scales it to the machine.
    theory_time_factor: float = Field(
        1.0, gt=0, description="Multiplies the theory's calibrated time model (> 1 on a slower machine)."
    )
    theory_optimal_learning_rate_factor: float = Field(
        400.0, ge=1, description="Cost multiplier of learning_rate='optimal' (a search over η̃ per point)."
    )

    # Jobs of another process whose heartbeat is older than this are declared dead (reported failed).
    job_heartbeat_seconds: float = Field(2.0, gt=0)
    job_stale_seconds: float = Field(30.0, gt=0)

    log_level: str = Field("INFO")

    def api_key_list(self) -> list[str]:
        """The configured bearer tokens (empty: authentication off)."""
        return [key.strip() for key in (self.api_keys or "").split(",") if key.strip()]


@lru_cache
def get_settings() -> Settings:
    """Settings of the module-level app, read once from the environment."""
    return Settings()
