"""Finite-size simulations of the one-step network, the sRF model and random features (THEORY.md §2, §3, §8).

Per seed (all draws from :mod:`srf_engine.sampling`, one independent stream per seed and chunk):

1. First layer ``W``: ``W0`` with rows uniform on the unit sphere; then
   - ``network``: one giant step on ``n0 = round(α0 d)`` fresh samples,
     ``W1 = W0 + η̃ (1/n0) Σ_μ (y_μ − f0(x_μ)) σ'(W0 x_μ) x_μᵀ`` (``√p a = 1``), accumulated chunk by chunk;
   - ``srf``: ``W = √c W0 + r u vᵀ/√d``, ``u = (1,…,1)``, teacher ``θ = γ v + ρ ζ``;
   - ``random_features`` (and ``network`` with ``α0 = 0`` or ``η̃ = 0``): ``W = W0``.
2. Ridge on the readout for every α at once: one draw of ``n_max`` training samples, whose nested prefixes
   give every ``n = round(α d)``. ``G = ΦᵀΦ``, ``b = Φᵀy`` and ``yᵀy`` are accumulated chunk by chunk
   (``Φ = σ(X Wᵀ)`` never held whole) and solved at each ``n`` on the way:
   ``ŵ = (G/p + λI)⁻¹ b/√p``, training error ``(yᵀy − 2ŵᵀb/√p + ŵᵀGŵ/p)/n``.
3. Test error: mean squared error of every ``ŵ`` on the same fresh test samples, chunk by chunk
   (label noise included).

Reproducibility: a seed's values depend on the seed alone — not on the other seeds, on ``n_jobs``, on
thread scheduling, nor on which other α are requested (for the Gram-based training error; the test error
is equal up to rounding of one matrix product). To get there, every matrix product runs on exactly one
chunk with single-threaded BLAS, and the Gram matrix and the gradient are sums of ``PARTIALS`` partial
sums with a fixed assignment of chunks (chunk ``i`` to sum ``i mod PARTIALS``, added in chunk order).

Parallelism: our threads run those partial sums, the features of the next chunks, the test chunks and the
ridge solves; BLAS is held at one thread while any simulation runs (multi-threaded BLAS rounds
differently). The products go through numpy, which releases the GIL; scipy's LAPACK wrappers (the
ridge solves) hold it, so solves do not overlap other work — at ``p ≤ 2000`` they are a small share.
Seeds run one after the other, so memory is that of one seed.
"""

from __future__ import annotations

import ctypes
import itertools
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent import futures as cf
from contextlib import contextmanager
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any, ClassVar, Literal, TypeVar

import numpy as np
from scipy import linalg
from scipy.linalg.blas import dtrmv
from threadpoolctl import threadpool_info, threadpool_limits

from . import cost
from .activations import Activation
from .cost import CHUNK_ROWS, PARTIALS, Workload, estimate_cost
from .errors import InvalidParameterError
from .mapping import map_to_srf, mapping_warnings
from .problem import Problem, SRFParams, check_alphas
from .results import ErrorStats, SimulationPoint, SimulationResult
from .sampling import Stream, directions, first_layer_chunk, input_chunk, labels, n_chunks

__all__ = ["MODELS", "estimate_cost", "gram_update", "ridge_from_gram", "simulate"]

Array = np.ndarray
Model = Literal["network", "srf", "random_features"]
MODELS: tuple[str, ...] = ("network", "srf", "random_features")
T = TypeVar("T")

#: Eigenvalues of ``G/p`` below ``PINV_RCOND · p · max eigenvalue`` count as zero when λ = 0
#: (the pseudo-inverse, i.e. the minimum-norm least-squares readout; LAPACK ``gelsd``'s default rule).
PINV_RCOND = float(np.finfo(float).eps)
#: λ below ``CHOLESKY_SAFETY · p · eps · trace(G/p)`` goes to the eigendecomposition instead of Cholesky.
CHOLESKY_SAFETY = 100.0
#: Seconds between two progress reports (at most).
PROGRESS_INTERVAL = 0.05
_POLL_SECONDS = 0.05


# ------------------------------------------------------------------------------------------------
# validation
# ------------------------------------------------------------------------------------------------
def _check_int(field: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral | Real):
        raise InvalidParameterError(field, "must be an integer")
    if (
        isinstance(value, Real)
        and not isinstance(value, Integral)
        and (not math.isfinite(value) or value != int(value))
    ):
        raise InvalidParameterError(field, f"must be an integer, got {value}")
    value = int(value)
    if value < minimum:
        raise InvalidParameterError(field, f"must be ≥ {minimum}, got {value}")
    return value


def _check_model(model: Any) -> str:
    if model not in MODELS:
        raise InvalidParameterError("model", f"must be one of {', '.join(MODELS)}; got {model!r}")
    return str(model)


def _check_seeds(seeds: Any) -> tuple[int, ...]:
    """A count ``k`` (seeds ``0…k−1``) or a list of distinct integers ≥ 0."""
    if isinstance(seeds, Integral | Real) and not isinstance(seeds, bool):
        return tuple(range(_check_int("seeds", seeds, 1)))
    values = tuple(_check_int("seeds", s, 0) for s in _as_tuple("seeds", seeds))
    if not values:
        raise InvalidParameterError("seeds", "must hold at least one seed")
    if len(set(values)) != len(values):
        raise InvalidParameterError("seeds", "must be distinct")
    return values


def _as_tuple(field: str, values: Any) -> tuple[Any, ...]:
    """A list, tuple or array as a tuple (strings are not lists of numbers)."""
    if isinstance(values, str | bytes):
        raise InvalidParameterError(field, "must be a number or a list of numbers")
    try:
        return tuple(values)
    except TypeError:
        raise InvalidParameterError(field, "must be a number or a list of numbers") from None


def _check_ridges(ridge: Any) -> tuple[float, ...]:
    values = (ridge,) if isinstance(ridge, Real | bool) else _as_tuple("ridge", ridge)
    if not values:
        raise InvalidParameterError("ridge", "must hold at least one value")
    out = []
    for lam in values:
        if isinstance(lam, bool) or not isinstance(lam, Real) or not math.isfinite(lam):
            raise InvalidParameterError("ridge", f"must be finite numbers ≥ 0, got {lam!r}")
        if lam < 0:
            raise InvalidParameterError("ridge", f"must be ≥ 0, got {lam}")
        out.append(float(lam))
    return tuple(out)


def validate_sizes(
    *, model: Any, dimension: Any, alphas: Any, test_samples: Any, seeds: Any
) -> tuple[int, tuple[float, ...], int, int]:
    """Checked ``(d, alphas, n_test, number of seeds)``; shared by :func:`simulate` and the cost estimate."""
    _check_model(model)
    d = _check_int("dimension", dimension, 2)
    alpha_values = check_alphas(alphas, "alphas")
    for a in alpha_values:
        if round(a * d) < 1:
            raise InvalidParameterError("alphas", f"α·dimension must round to ≥ 1 sample; α = {a}, d = {d}")
    n_test = (
        cost.default_test_samples(d) if test_samples is None else _check_int("test_samples", test_samples, 1)
    )
    return d, alpha_values, n_test, len(_check_seeds(seeds))


# ------------------------------------------------------------------------------------------------
# Gram accumulation
# ------------------------------------------------------------------------------------------------
def gram_update(gram: Array, b: Array, phi: Array, y: Array, buffer: Array) -> float:
    """``G += ΦᵀΦ``, ``b += Φᵀy`` in place; returns ``yᵀy`` of the chunk. ``buffer``: ``p × p`` scratch.

    numpy evaluates ``ΦᵀΦ`` with ``dsyrk`` (half the flops of a general product) and, unlike scipy's
    BLAS wrappers, releases the GIL meanwhile, so partial sums on two threads run in parallel; the
    product lands in ``buffer`` and is added, which costs one pass over ``p²`` per chunk.
    """
    np.matmul(phi.T, phi, out=buffer)
    gram += buffer
    b += phi.T @ y
    return float(y @ y)


# ------------------------------------------------------------------------------------------------
# ridge from the Gram matrix (solves)
# ------------------------------------------------------------------------------------------------
def ridge_from_gram(
    gram: Array, b: Array, yy: float, n: int, ridges: Sequence[float], *, eigh: bool | None = None
) -> tuple[Array, Array]:
    """Readouts and training errors of ridge regression from ``G = ΦᵀΦ``, ``b = Φᵀy``, ``yᵀy``.

    ``ŵ_λ = (G/p + λI)⁻¹ b/√p`` for each λ (columns of the returned ``p × len(ridges)`` array) and
    ``ε_t = (yᵀy − 2ŵᵀb/√p + ŵᵀGŵ/p)/n``, clipped at 0 (rounding can make an interpolating fit's
    residual a tiny negative number). ``gram`` is float64, C- or Fortran-ordered (the solvers work on
    its Fortran-ordered view, equal to it by symmetry, and read the upper triangle of that view only),
    and is overwritten.

    Solver: a Cholesky factorisation per λ, or (``eigh``, the default when λ = 0 is present or there are
    at least ``cost.EIGH_MIN_RIDGES`` values, and forced when some λ is too small for Cholesky to be safe)
    one eigendecomposition ``G/p = U diag(ℓ) Uᵀ`` serving all λ.
    λ = 0 gives the pseudo-inverse (minimum-norm least squares: eigenvalues below
    ``PINV_RCOND·p·max ℓ`` dropped), which is also the λ → 0⁺ limit when ``G`` is singular (``n < p``).
    """
    p = gram.shape[0]
    gram = gram if gram.flags.f_contiguous else gram.T  # LAPACK works in place on Fortran order
    if not gram.flags.f_contiguous:
        raise ValueError("gram must be a contiguous array")
    if eigh is None:
        eigh = cost.use_eigendecomposition(len(ridges), any(lam == 0 for lam in ridges))
    gram *= 1.0 / p
    b_scaled = b * (1.0 / math.sqrt(p))
    trace = float(np.trace(gram))
    if not (math.isfinite(trace) and math.isfinite(yy) and np.isfinite(b_scaled).all()):
        # features overflowed (a diverging first step): no readout; simulate() warns about it
        nan = np.full((p, len(ridges)), math.nan)
        return nan, np.full(len(ridges), math.nan)
    # Cholesky is safe when λ dominates its rounding error (~ p·eps·‖G/p‖ ≤ p·eps·trace): else eigh.
    safe = CHOLESKY_SAFETY * p * np.finfo(float).eps * max(trace, 1e-300)
    if eigh or min(ridges) < safe:
        return _ridge_eigh(gram, b_scaled, yy, n, ridges)
    return _ridge_cholesky(gram, b_scaled, yy, n, ridges)


def _ridge_cholesky(a0: Array, b: Array, yy: float, n: int, ridges: Sequence[float]) -> tuple[Array, Array]:
    """One Cholesky factorisation ``G/p + λI = RᵀR`` per λ; the last λ factorises ``a0`` in place.

    ``ŵᵀ(G/p)ŵ = ‖Rŵ‖² − λ‖ŵ‖²`` needs only the factor, so a single λ costs no ``p × p`` copy.
    """
    p = a0.shape[0]
    w_hat = np.empty((p, len(ridges)))
    train = np.empty(len(ridges))
    for j, lam in enumerate(ridges):
        a = a0 if j == len(ridges) - 1 else a0.copy(order="F")
        a.flat[:: p + 1] += lam
        factor, lower = linalg.cho_factor(a, lower=False, overwrite_a=True, check_finite=False)
        w = linalg.cho_solve((factor, lower), b, check_finite=False)
        r_w = dtrmv(factor, w, lower=0)
        del a, factor
        w_hat[:, j] = w
        train[j] = (yy - 2.0 * (w @ b) + (r_w @ r_w - lam * (w @ w))) / n
    return w_hat, np.maximum(train, 0.0)


def _ridge_eigh(a0: Array, b: Array, yy: float, n: int, ridges: Sequence[float]) -> tuple[Array, Array]:
    ell, u = linalg.eigh(a0, lower=False, overwrite_a=True, check_finite=False, driver="evr")
    ell = np.maximum(ell, 0.0)  # G is positive semi-definite; negative values are rounding
    b_hat = u.T @ b
    coef = np.empty((ell.shape[0], len(ridges)))
    cutoff = PINV_RCOND * ell.shape[0] * (ell[-1] if ell.size else 0.0)
    for j, lam in enumerate(ridges):
        if lam == 0.0:
            keep = ell > cutoff
            coef[:, j] = np.where(keep, b_hat / np.where(keep, ell, 1.0), 0.0)
        else:
            coef[:, j] = b_hat / (ell + lam)
    # In the eigenbasis: ŵᵀb/√p = c·b̂ and ŵᵀGŵ/p = Σ ℓ c².
    train = (yy - 2.0 * (b_hat @ coef) + ell @ (coef * coef)) / n
    return u @ coef, np.maximum(train, 0.0)


# ------------------------------------------------------------------------------------------------
# thread pool with progress, cancellation and deterministic results
# ------------------------------------------------------------------------------------------------
class _Stopped(Exception):
    """Raised in worker tasks once the run is being aborted."""


class _Runner:
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

    def __enter__(self) -> _Runner:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def advance(self, work: float) -> None:
        with self._lock:
            self._done += work
        if self._stop.is_set():
            raise _Stopped
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
def _single_threaded_blas() -> Iterator[None]:
    """BLAS on one thread for the duration (see :class:`_BlasThreads`)."""
    _BlasThreads.acquire()
    try:
        yield
    finally:
        _BlasThreads.release()


# ------------------------------------------------------------------------------------------------
# one seed
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Plan:
    """Everything a seed needs: sizes, activations and how the first layer is built."""

    model: str
    first_layer: Literal["step", "spike", "plain"]
    student: Activation
    teacher: Activation
    noise: float
    learning_rate: float
    srf: SRFParams  # used to build W when first_layer == "spike"
    ridges: tuple[float, ...]
    load: Workload

    @classmethod
    def build(
        cls,
        problem: Problem,
        model: str,
        *,
        step: bool,
        srf: SRFParams,
        ridges: tuple[float, ...],
        load: Workload,
    ) -> _Plan:
        """The plan of ``problem`` simulated as ``model``: the first layer follows from ``step``/``model``."""
        return cls(
            model=model,
            first_layer="step" if step else ("spike" if model == "srf" else "plain"),
            student=problem.student,
            teacher=problem.teacher,
            noise=problem.noise,
            learning_rate=problem.learning_rate,
            srf=srf,
            ridges=ridges,
            load=load,
        )

    @property
    def d(self) -> int:
        return self.load.d

    @property
    def p(self) -> int:
        return self.load.p


class _SeedRun:
    """Test and training errors of one seed at every (distinct n, λ)."""

    def __init__(self, plan: _Plan, seed: int, runner: _Runner) -> None:
        self.plan = plan
        self.seed = seed
        self.runner = runner
        load = plan.load
        self._cost = {
            "weight": load.weight_chunk_seconds(),
            "step": load.step_chunk_seconds(),
            "train": load.train_chunk_seconds(),
            "solve": load.solve_seconds(),
            "test": load.test_chunk_seconds(),
        }
        self._cache: dict[int, tuple[Array, Array]] = {}  # train chunk → (Φ, y), computed ahead
        self._buffers: list[Array] = []

    def run(self) -> tuple[Array, Array]:
        """``(test, train)``, each ``len(sizes) × len(ridges)``."""
        w, theta = self.first_layer()
        w_hat, train = self.ridge_sweep(w, theta)
        test = self.test_errors(w, theta, w_hat)
        shape = (len(self.plan.load.sizes), len(self.plan.ridges))
        return test.reshape(shape), train.reshape(shape)

    # --- data --------------------------------------------------------------------------------------
    def _chunk(self, stream: Stream, index: int, theta: Array) -> tuple[Array, Array]:
        x, xi = input_chunk(self.seed, stream, index, self.plan.d)
        return x, labels(x, xi, theta, self.plan.teacher, self.plan.noise)

    def _features(self, x: Array, w: Array) -> Array:
        """``Φ = σ(X Wᵀ)`` of one chunk."""
        return np.asarray(self.plan.student(x @ w.T), dtype=float)

    # --- 1. first layer ---------------------------------------------------------------------------------
    def first_layer(self) -> tuple[Array, Array]:
        """``(W, θ)`` of §2/§3 for this seed's model."""
        plan, d, p = self.plan, self.plan.d, self.plan.p
        w = np.empty((p, d))

        def weight_rows(j: int) -> None:
            w[j * CHUNK_ROWS : (j + 1) * CHUNK_ROWS] = first_layer_chunk(self.seed, j, p, d)
            self.runner.advance(self._cost["weight"])

        self.runner.wait([self.runner.submit(weight_rows, j) for j in range(n_chunks(p))])
        v, zeta = directions(self.seed, d)
        if plan.first_layer == "spike":
            srf = plan.srf
            theta = srf.gamma * v + srf.rho * zeta
            w *= math.sqrt(srf.c)
            w += (srf.r / math.sqrt(d)) * v  # r u vᵀ/√d with u = (1, …, 1): every row gets r v/√d
            return w, theta
        theta = v
        if plan.first_layer == "step":
            self._giant_step(w, theta)
        return w, theta

    def _giant_step(self, w: Array, theta: Array) -> None:
        """``W ← W + η̃ (1/n0) Σ_μ (y_μ − f0(x_μ)) σ'(W x_μ) x_μᵀ``, in place."""
        n0 = self.plan.load.n0
        parts = self.runner.wait(
            [self.runner.submit(self._step_partial, w, theta, k) for k in range(PARTIALS)]
        )
        total = parts[0]
        for part in parts[1:]:
            total += part
        total *= self.plan.learning_rate / n0
        w += total

    def _step_partial(self, w0: Array, theta: Array, k: int) -> Array:
        """``Σ_μ g_μ x_μᵀ`` (``p × d``) over the step chunks ``i ≡ k mod PARTIALS``."""
        plan, d, p, n0 = self.plan, self.plan.d, self.plan.p, self.plan.load.n0
        acc = np.zeros((p, d))
        buffer = np.empty((p, d))
        for i in range(k, n_chunks(n0), PARTIALS):
            x, y = self._chunk(Stream.STEP, i, theta)
            z = x @ w0.T
            # f0(x) = (1/√p) Σ_i a_i σ(w_i·x) with a_i = 1/√p
            e = y - np.asarray(plan.student(z), dtype=float).sum(axis=1) * (1.0 / p)
            e[n0 - i * CHUNK_ROWS :] = 0.0  # rows past n0 (last chunk only) do not count
            g = np.asarray(plan.student.derivative(z), dtype=float)
            del z
            g *= e[:, None]  # (y − f0) σ'(W0 x) ⊙ (√p a), √p a = 1
            # numpy's product releases the GIL (scipy's dgemm would serialise the threads)
            np.matmul(g.T, x, out=buffer)
            acc += buffer
            del x, g  # before the next chunk is drawn: one chunk in memory per thread
            self.runner.advance(self._cost["step"])
        return acc

    # --- 2. ridge along the nested prefixes ----------------------------------------------------------------
    def _train_features(self, w: Array, theta: Array, i: int, keep: bool = False) -> tuple[Array, Array]:
        """``(Φ, y)`` of training chunk ``i``: from the cache (removed unless ``keep``) or computed."""
        cached = self._cache.get(i) if keep else self._cache.pop(i, None)
        if cached is not None:
            return cached
        x, y = self._chunk(Stream.TRAIN, i, theta)
        phi = self._features(x, w)
        self.runner.advance(0.5 * self._cost["train"])  # drawing and features: about half the chunk's work
        return phi, y

    def _prefetch(self, w: Array, theta: Array, chunks: Sequence[int]) -> None:
        """Compute the features of ``chunks`` in parallel into the cache."""
        chunks = [i for i in chunks if i not in self._cache]

        done = self.runner.wait([self.runner.submit(self._train_features, w, theta, i) for i in chunks])
        self._cache.update(zip(chunks, done, strict=True))

    def _gram_partial(
        self, w: Array, theta: Array, k: int, start: int, stop: int, gram: Array, b: Array, yy: float
    ) -> float:
        """Add chunks ``i ∈ [start, stop)``, ``i ≡ k mod PARTIALS``, to ``gram`` and ``b``; return ``yy``."""
        first = start + (k - start) % PARTIALS
        for i in range(first, stop, PARTIALS):
            phi, y = self._train_features(w, theta, i)
            yy += gram_update(gram, b, phi, y, self._buffers[k])
            del phi, y
            self.runner.advance(0.5 * self._cost["train"])
        return yy

    def ridge_sweep(self, w: Array, theta: Array) -> tuple[Array, Array]:
        """``ŵ`` (``p × (sizes·ridges)``, size-major) and training errors at every distinct ``n``."""
        plan, p, runner = self.plan, self.plan.p, self.runner
        grams = [np.zeros((p, p)) for _ in range(PARTIALS)]
        self._buffers = [np.empty((p, p)) for _ in range(PARTIALS)]  # scratch of the partial sums
        bs = [np.zeros(p) for _ in range(PARTIALS)]
        yys = [0.0] * PARTIALS
        done = 0  # chunks already in the partial sums
        solves: deque[cf.Future[tuple[Array, Array]]] = deque()
        results: list[cf.Future[tuple[Array, Array]]] = []
        in_flight = cost.max_concurrent_solves(
            p, runner.threads, cost.solve_matrices(len(plan.ridges), plan.load.eigh)
        )
        eigh = plan.load.eigh

        def solve(gram: Array, b: Array, yy: float, n: int) -> tuple[Array, Array]:
            out = ridge_from_gram(gram, b, yy, n, plan.ridges, eigh=eigh)
            runner.advance(self._cost["solve"])
            return out

        last = len(plan.load.sizes) - 1
        total_chunks = n_chunks(plan.load.n_max)
        for index, n in enumerate(plan.load.sizes):
            full = n // CHUNK_ROWS
            if full - done < runner.threads:
                # Few chunks before this n (the usual sweep): the partial sums alone would leave threads
                # idle, so first compute the next chunks' features in parallel, this boundary's included.
                ahead = range(done, min(done + runner.threads, total_chunks))
                self._prefetch(w, theta, [*ahead, full] if n % CHUNK_ROWS and full not in ahead else ahead)
            if full > done:
                tasks = [
                    runner.submit(self._gram_partial, w, theta, k, done, full, grams[k], bs[k], yys[k])
                    for k in range(PARTIALS)
                ]
                yys = runner.wait(tasks)
                done = full
            while len(solves) >= in_flight:
                runner.wait([solves.popleft()])
            # G, b, yᵀy at n: the partial sums in a fixed order (the last size consumes them in place)
            if index == last:
                gram, b, yy = grams[0], bs[0], yys[0]
            else:
                gram, b, yy = grams[0].copy(), bs[0].copy(), yys[0]
            for k in range(1, PARTIALS):
                gram += grams[k]
                b += bs[k]
                yy += yys[k]
            if index == last:
                grams.clear()
                bs.clear()
            rest = n - full * CHUNK_ROWS
            if rest:  # n falls inside chunk `full`: add its first rows, keep its features for later
                if full not in self._cache:  # kept: the chunk joins the partial sums later
                    self._cache[full] = self._train_features(w, theta, full)
                phi, y = self._cache[full]
                yy += gram_update(gram, b, phi[:rest], y[:rest], self._buffers[0])  # workers are idle
                del phi, y
            future = runner.submit(solve, gram, b, yy, n)
            del gram, b
            solves.append(future)
            results.append(future)
        self._cache.clear()
        self._buffers = []
        solved = runner.wait(results)
        w_hat = np.concatenate([s[0] for s in solved], axis=1)
        train = np.concatenate([s[1] for s in solved])
        return w_hat, train

    # --- 3. test errors ----------------------------------------------------------------------------------
    def _test_partial(self, w: Array, theta: Array, w_hat: Array, k: int, stride: int) -> list[Array]:
        n_test, p = self.plan.load.n_test, self.plan.p
        out = []
        for i in range(k, n_chunks(n_test), stride):
            x, y = self._chunk(Stream.TEST, i, theta)
            residual = self._features(x, w) @ w_hat
            residual *= -1.0 / math.sqrt(p)
            residual += y[:, None]  # y − φ(x)·ŵ/√p for every (n, λ)
            valid = min(CHUNK_ROWS, n_test - i * CHUNK_ROWS)
            out.append(np.einsum("ij,ij->j", residual[:valid], residual[:valid]))
            del x, y, residual
            self.runner.advance(self._cost["test"])
        return out

    def test_errors(self, w: Array, theta: Array, w_hat: Array) -> Array:
        """Mean squared error on ``n_test`` fresh samples for each column of ``w_hat``."""
        n_test = self.plan.load.n_test
        stride = self.runner.threads
        parts = self.runner.wait(
            [self.runner.submit(self._test_partial, w, theta, w_hat, k, stride) for k in range(stride)]
        )
        per_chunk = np.empty((n_chunks(n_test), w_hat.shape[1]))
        for k, part in enumerate(parts):
            for j, sse in enumerate(part):
                per_chunk[k + j * stride] = sse
        return per_chunk.sum(axis=0) / n_test  # summed in chunk order whatever the stride


# ------------------------------------------------------------------------------------------------
# public entry point
# ------------------------------------------------------------------------------------------------
def _stats(values: Sequence[float]) -> ErrorStats:
    arr = np.asarray(values, dtype=float)
    std = float(arr.std(ddof=1)) if arr.size > 1 else 0.0
    return ErrorStats(
        mean=float(arr.mean()), std=std, sem=std / math.sqrt(arr.size), values=tuple(map(float, arr))
    )


def simulate(
    problem: Problem,
    alphas: Sequence[float],
    ridge: float | Sequence[float],
    *,
    model: Model = "network",
    dimension: int = 1000,
    seeds: int | Sequence[int] = 3,
    test_samples: int | None = None,
    progress: Callable[[float], None] | None = None,
    n_jobs: int | None = None,
) -> SimulationResult:
    """Test and training errors of ridge on the readout, at dimension ``d``, over seeds (THEORY.md §2, §3).

    ``model``: ``"network"`` (the protocol of §2: one step of size ``η̃`` on ``round(α0 d)`` samples, then
    ridge), ``"srf"`` (``W = √c W0 + r u vᵀ/√d`` with ``problem.srf`` or the mapped ``(c, r, γ)``), or
    ``"random_features"`` (``W = W0``). ``p = max(1, round(ψ_w d))``, ``n = round(α d)`` per α.
    ``ridge``: one λ ≥ 0 or several; λ = 0 is the minimum-norm least-squares readout.
    ``seeds``: a count ``k`` (seeds ``0…k−1``) or a list of distinct integers ≥ 0; each seed is an
    independent stream and its values do not depend on the other seeds or on ``n_jobs``.
    ``test_samples``: fresh samples for the test error, default ``max(2000, 2d)``.
    ``progress(fraction)`` is called from the calling thread; raising (``Cancelled``) from it stops the
    simulation within about one chunk (a ridge solve in progress finishes first).
    ``n_jobs``: threads (default: the available cores; BLAS runs single-threaded meanwhile).

    Points are ordered by ridge (as given), then α (as given); the statistics are over seeds.
    """
    if not isinstance(problem, Problem):
        raise InvalidParameterError("problem", "must be a Problem")
    d, alpha_values, n_test, _ = validate_sizes(
        model=model, dimension=dimension, alphas=alphas, test_samples=test_samples, seeds=seeds
    )
    seed_values = _check_seeds(seeds)
    ridges = _check_ridges(ridge)
    threads = cost.available_cores() if n_jobs is None else _check_int("n_jobs", n_jobs, 1)

    warnings: list[str] = []
    step = model == "network" and problem.learning_rate > 0 and problem.alpha0 > 0
    if model == "network":
        srf = map_to_srf(problem)
        warnings += mapping_warnings(problem)
        if problem.srf is not None:
            warnings.append(
                "srf is given but model 'network' simulates the first step itself: the reported (c, r, γ) "
                "are the given ones, not those of the simulated network"
            )
        if step and round(problem.alpha0 * d) < 1:
            raise InvalidParameterError(
                "alpha0", f"α0·dimension must round to ≥ 1 sample; got α0 = {problem.alpha0}"
            )
    elif model == "srf":
        srf = map_to_srf(problem)
    else:
        srf = map_to_srf(problem.at_initialisation())

    load = cost.workload(
        dimension=d,
        width=problem.width,
        alphas=alpha_values,
        alpha0=problem.alpha0,
        step=step,
        test_samples=n_test,
        n_ridges=len(ridges),
        eigh=cost.use_eigendecomposition(len(ridges), any(lam == 0 for lam in ridges)),
    )
    plan = _Plan.build(problem, model, step=step, srf=srf, ridges=ridges, load=load)
    total = len(seed_values) * load.seconds_per_seed()
    per_seed: list[tuple[Array, Array]] = []
    if progress is not None:
        progress(0.0)
    with _single_threaded_blas(), _Runner(threads, total, progress) as runner:
        for seed in seed_values:
            per_seed.append(_SeedRun(plan, seed, runner).run())
    if progress is not None:
        progress(1.0)

    test = np.stack([s[0] for s in per_seed])  # seeds × sizes × ridges
    train = np.stack([s[1] for s in per_seed])
    if not (np.isfinite(test).all() and np.isfinite(train).all()):
        bad = [s for s, t, r in zip(seed_values, test, train, strict=True) if not np.isfinite([t, r]).all()]
        warnings.append(
            f"non-finite errors for seeds {bad}: the features overflowed (is the first step diverging? "
            f"learning_rate = {problem.learning_rate}); their statistics are NaN"
        )
    size_index = {n: i for i, n in enumerate(load.sizes)}
    points = []
    for j, lam in enumerate(ridges):
        for a in alpha_values:
            i = size_index[round(a * d)]
            points.append(
                SimulationPoint(
                    alpha=a, ridge=lam, test_error=_stats(test[:, i, j]), train_error=_stats(train[:, i, j])
                )
            )
    return SimulationResult(
        model=model, dimension=d, srf=srf, seeds=seed_values, points=points, warnings=warnings
    )
