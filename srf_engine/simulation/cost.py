"""Cost model of the simulations: work per unit, peak memory, wall time (docs/theory.md §8).

One seed of a simulation is a sequence of units, each on one chunk of ``CHUNK_ROWS`` rows
(``p = round(ψ_w d)`` neurons, ``d`` inputs):

- first-layer chunk: ``CHUNK·d`` Gaussian draws;
- step chunk: ``CHUNK·d`` draws, ``2·CHUNK·p·d`` for the forward pass and ``2·CHUNK·p·d`` for the gradient;
- train chunk: ``CHUNK·d`` draws, ``2·CHUNK·p·d`` for the features, ``CHUNK·p²`` for the Gram update;
- one ridge solve per distinct ``n``: a Cholesky factorisation (``p³/3``) per λ, or one symmetric
  eigendecomposition shared by all λ (needed for λ = 0; ``≈ 17`` Cholesky factorisations);
- test chunk: ``CHUNK·d`` draws, ``2·CHUNK·p·d`` for the features, ``2·CHUNK·p·K`` for ``K`` predictions;
- with a step, per step ``t``: what the first layer learned (``p·d·m`` for the Gram matrix of
  ``W_t − W_0``, ``m = min(p, d)``, and its top eigenvalues).

Protocols (docs/theory.md §11.1): ``T`` steps cost ``T`` passes over a batch of ``n0`` samples (the first
shared by every η̃ of a grid, the later ones per η̃: they start from different ``W_1``), and the ridge
sweep and test errors run once per step count asked (``R`` of them), on the way.

Rates are single-thread figures of this machine (2 cores, AVX-512, OpenBLAS), measured with
``benchmarks/simulate.py``-like timings; the simulation runs BLAS single-threaded and spreads chunks over
its own threads, so the wall time is the total over the number of threads, with an efficiency factor.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import InvalidParameterError
from ..problem import check_nonnegative, check_positive
from ..protocols import check_steps
from ..results import CostEstimate
from .parallel import available_cores
from .ridge import use_eigendecomposition
from .sampling import CHUNK_ROWS, n_chunks
from .spec import SimulationSpec

#: Single-thread rates (measured on this 2-core machine; see the module docstring).
GEMM_FLOPS_PER_S = 50e9  # dgemm, chunk × d times d × p
SYRK_FLOPS_PER_S = 45e9  # dsyrk counted as n·p² flops
CHOLESKY_SECONDS_PER_P3 = 1.0e-11  # dpotrf + two triangular solves, per p³
EIGH_SECONDS_PER_P3 = 1.5e-10  # dsyevr with eigenvectors on Gram-like spectra, per p³ (p ≤ 2000)
TOP_EIGH_SECONDS_PER_M3 = 7.0e-11  # dsyevr, the top 4 eigenpairs only, per m³ (measured at m = 1000)
NORMAL_SECONDS = 9.5e-9  # one Gaussian draw (PCG64 + ziggurat)
ELEMENTWISE_SECONDS = 2.5e-9  # one activation (or derivative) evaluation, incl. temporaries
#: Two threads do not quite make twice the work: shared memory bandwidth and the serial bits per α.
PARALLEL_EFFICIENCY = 0.85
#: Fixed number of partial sums of the Gram matrix and of the gradient: chunk ``i`` goes to partial
#: ``i mod PARTIALS``. Fixed (not the thread count) so that rounding does not depend on scheduling.
PARTIALS = 2
#: Extra memory allowed for solving several α concurrently (beyond the first solve in flight). Zero:
#: scipy's LAPACK wrappers hold the GIL, so concurrent solves would not run in parallel anyway.
CONCURRENT_SOLVE_BUDGET_BYTES = 0
#: Fixed overhead of a call (imports, thread pool, Python bookkeeping), seconds.
CALL_OVERHEAD_SECONDS = 0.02
#: Fixed overhead of a call on a Dask cluster (submitting, polling, gathering; measured on loopback).
CLUSTER_OVERHEAD_SECONDS = 0.15

_F8 = 8


def solve_matrices(n_ridges: int, eigh: bool) -> int:
    """``p × p`` matrices a ridge solve holds: the Gram (factorised in place for a single λ), plus a
    copy per λ for several λ, or the eigenvectors."""
    return 1 if (not eigh and n_ridges == 1) else 2


def max_concurrent_solves(p: int, threads: int, matrices: int = 2) -> int:
    """Ridge solves allowed in flight at once (each holds ``matrices`` arrays of ``p × p``)."""
    extra = CONCURRENT_SOLVE_BUDGET_BYTES // max(1, matrices * p * p * _F8)
    return max(1, min(threads, 1 + extra))


@dataclass(frozen=True)
class Workload:
    """Sizes of one seed of a simulation: everything its cost depends on."""

    d: int
    p: int
    n0: int  # samples of the first step (0: no step)
    sizes: tuple[int, ...]  # distinct training-set sizes n, ascending
    n_test: int
    n_ridges: int
    eigh: bool
    steps: int = 1  # T: steps taken (with n0 > 0)
    readouts: int = 1  # R: step counts at which the readout is fitted
    first_step_shared: bool = False  # the first step's gradient comes from another η̃ of a grid
    itemsize: int = 8  # bytes of an element of W, the inputs and the products on them (float32: 4)

    @property
    def n_max(self) -> int:
        return self.sizes[-1]

    @property
    def solve_outputs(self) -> int:
        """Columns of predictions on the test set: one per (distinct α, λ)."""
        return len(self.sizes) * self.n_ridges

    # --- seconds per unit, single thread -------------------------------------------------------
    def weight_chunk_seconds(self) -> float:
        return CHUNK_ROWS * self.d * (NORMAL_SECONDS + ELEMENTWISE_SECONDS)

    def step_chunk_seconds(self) -> float:
        m, d, p = CHUNK_ROWS, self.d, self.p
        return (
            m * d * NORMAL_SECONDS
            + 4 * m * p * d / GEMM_FLOPS_PER_S
            + (4 * m * p + p * d) * ELEMENTWISE_SECONDS  # activations; adding the product to the sum
        )

    def train_chunk_seconds(self) -> float:
        m, d, p = CHUNK_ROWS, self.d, self.p
        return (
            m * d * NORMAL_SECONDS
            + 2 * m * p * d / GEMM_FLOPS_PER_S
            + m * p * p / SYRK_FLOPS_PER_S
            + (2 * m * p + p * p) * ELEMENTWISE_SECONDS  # activations; adding the product to the sum
        )

    def solve_seconds(self) -> float:
        p3 = float(self.p) ** 3
        cholesky = CHOLESKY_SECONDS_PER_P3 * p3 + self.p**2 * ELEMENTWISE_SECONDS
        if self.eigh:
            # p ≥ 3000 no longer fits the caches: ~1.15 times slower per p³ (measured)
            slowdown = 1.0 + 0.15 * min(1.0, max(0.0, (self.p - 2000) / 1000))
            # the eigendecomposition serves λ = 0; every other λ has its own Cholesky
            eigh = slowdown * EIGH_SECONDS_PER_P3 * p3 + 2 * self.p**2 / GEMM_FLOPS_PER_S
            return eigh + (self.n_ridges - 1) * cholesky
        return self.n_ridges * cholesky

    def learned_seconds(self) -> float:
        """What the first layer learned after one step: Gram of ``W_t − W_0`` and its top eigenpairs."""
        m = min(self.p, self.d)
        return (
            self.p * self.d * m / SYRK_FLOPS_PER_S
            + TOP_EIGH_SECONDS_PER_M3 * float(m) ** 3
            + 2 * self.p * self.d * ELEMENTWISE_SECONDS
        )

    def test_chunk_seconds(self) -> float:
        m, d, p, k = CHUNK_ROWS, self.d, self.p, self.solve_outputs
        return (
            m * d * NORMAL_SECONDS
            + (2 * m * p * d + 2 * m * p * k) / GEMM_FLOPS_PER_S
            + (2 * m * p + 3 * m * k) * ELEMENTWISE_SECONDS
        )

    # --- unit counts ----------------------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        boundary = sum(1 for n in self.sizes if n % CHUNK_ROWS)
        step = n_chunks(self.n0) if self.n0 else 0
        return {
            "weight": n_chunks(self.p),
            "step": 0 if self.first_step_shared else step,  # the first step (shared by every η̃ of a grid)
            "later_step": (self.steps - 1) * step,
            "learned": self.steps if self.n0 else 0,
            # every chunk below n_max once, plus the features of a chunk cut by some n (cached once)
            "train": self.readouts * (self.n_max // CHUNK_ROWS + (1 if boundary else 0)),
            "solve": self.readouts * len(self.sizes),
            "test": self.readouts * n_chunks(self.n_test),
        }

    def seconds_per_seed(self) -> float:
        """Single-thread seconds of one seed."""
        c = self.counts()
        return (
            c["weight"] * self.weight_chunk_seconds()
            + (c["step"] + c["later_step"]) * self.step_chunk_seconds()
            + c["learned"] * self.learned_seconds()
            + c["train"] * self.train_chunk_seconds()
            + c["solve"] * self.solve_seconds()
            + c["test"] * self.test_chunk_seconds()
        )

    def step_seconds(self) -> float:
        """Single-thread seconds of the first step (0 without one)."""
        return self.counts()["step"] * self.step_chunk_seconds()

    def flops_per_seed(self) -> float:
        m, d, p, k = CHUNK_ROWS, self.d, self.p, self.solve_outputs
        c = self.counts()
        p3 = float(p) ** 3
        cholesky = p3 / 3 + 4 * p * p
        solve = self.n_ridges * cholesky
        if self.eigh:  # the eigendecomposition serves λ = 0 in place of one Cholesky
            solve += 9.0 * p3 + 2 * p * p - cholesky
        return (
            (c["step"] + c["later_step"]) * 4.0 * m * p * d
            + c["learned"] * float(p * d * min(p, d))
            + c["train"] * (2.0 * m * p * d + m * p * p)
            + c["solve"] * solve
            + c["test"] * (2.0 * m * p * d + 2.0 * m * p * k)
        )

    def peak_bytes(self, threads: int) -> int:
        """Peak of the arrays held at once (what ``tracemalloc`` sees of numpy), in bytes.

        ``W`` (``p × d``) lives throughout. Step: ``W0``, ``PARTIALS`` gradient sums (``p × d``) and per
        worker thread a ``p × d`` product buffer, one chunk of inputs (``CHUNK × d``) and three
        ``CHUNK × p`` arrays (pre-activations, derivative and its temporary). Ridge: ``PARTIALS`` Gram
        sums and as many ``p × p`` product buffers; a solve in flight adds the combined Gram and, for
        several λ or ``eigh``, a second ``p × p`` matrix, and takes a thread from the accumulation; the
        last α consumes the partial sums in place; workers hold inputs and two ``CHUNK × p`` arrays
        (pre-activations, features); the features of the chunk the last n fell inside are kept for
        later. Test: the ``p × K`` readouts, per thread a chunk and ``CHUNK × K``
        residuals. Activations with more temporaries than tanh (Hermite polynomials) take a little
        more. LAPACK workspaces (``O(p)`` for the solvers used) are not counted.
        """
        m, d, p, k = CHUNK_ROWS, self.d, self.p, self.solve_outputs
        s = self.itemsize  # W, inputs and products; Gram sums, solves and labels stay float64
        workers = max(1, min(threads, PARTIALS))
        w = s * p * d
        # a chunk of inputs: drawn in float64, cast to the products' dtype (both held while casting)
        drawn = _F8 * m * d if s < _F8 else 0
        # pre-activations, derivative and its temporary; in float32 the activation is summed in float64
        # (a float64 copy) and the derivative's temporaries are float32
        step_rows = m * p * (2 * s + _F8 if s < _F8 else 3 * s)
        step_chunk = s * m * d + max(drawn, step_rows)
        step = (PARTIALS + 1) * w + workers * (w + step_chunk) if self.n0 else 0
        matrices = solve_matrices(self.n_ridges, self.eigh)
        concurrent = max_concurrent_solves(p, threads, matrices)
        in_flight = min(concurrent, len(self.sizes) - 1)  # solves running while partial sums accumulate
        pp = _F8 * p * p
        chunk = s * m * d + max(drawn, 2 * s * m * p)  # a training chunk: inputs, pre-activations, features
        # W, the float64 partial sums and their product buffers, the features of the chunk an n fell inside
        sums = w + PARTIALS * (pp + s * p * p) + s * m * p
        # a solve occupies a thread: s solves in flight leave min(workers, threads − s) accumulating
        gram = sums + max(
            j * matrices * pp + min(workers, max(0, threads - j)) * chunk for j in range(in_flight + 1)
        )
        earlier = min(concurrent - 1, len(self.sizes) - 1) * matrices * pp  # solves still running
        # combining the sums for an α that falls inside a chunk: a fresh copy of G, that chunk's features
        boundary = sums + earlier + (pp if len(self.sizes) > 1 else 0) + chunk
        last = w + PARTIALS * pp + earlier + matrices * pp + s * m * p + _F8 * p * k
        readouts = p * k * (_F8 + (s if s < _F8 else 0))  # float64 solutions, cast for the products
        test = w + readouts + max(1, threads) * (chunk + 2 * _F8 * m * k)
        if not self.n0:
            return int(max(step, gram, boundary, last, test))
        # with a step W0 is kept beside W (what was learned is W_t − W_0), through every phase;
        # measuring it holds W_t − W_0 and the Gram matrix of its smaller side
        small = min(p, d)
        learned = 3 * w + 2 * _F8 * small * small
        return int(max(step + w, gram + w, boundary + w, last + w, test + w, learned))


def workload(
    spec: SimulationSpec, *, width: float, alpha0: float, step: bool, steps: Sequence[int] = (1,)
) -> Workload:
    """The :class:`Workload` of one seed of ``spec`` (``step``: whether the first layer takes a step;
    ``steps``: the step counts asked, docs/theory.md §11.1)."""
    d = spec.dimension
    return Workload(
        steps=max(steps) if step else 1,
        readouts=len(steps) if step else 1,
        d=d,
        p=max(1, round(width * d)),
        n0=round(alpha0 * d) if step else 0,
        sizes=spec.sizes,
        n_test=spec.test_samples,
        n_ridges=len(spec.ridges),
        eigh=use_eigendecomposition(len(spec.ridges), spec.zero_ridge),
        itemsize=4 if spec.precision == "float32" else 8,
    )


@dataclass(frozen=True)
class ClusterShape:
    """The workers of a Dask cluster as the cost model sees them (docs/scaling.md)."""

    threads: tuple[int, ...]  # ``nthreads`` of each worker
    memory_limits: tuple[int, ...]  # memory limit of each worker, bytes (0: none)

    @property
    def total_threads(self) -> int:
        return sum(self.threads)

    @property
    def max_threads(self) -> int:
        return max(self.threads, default=1)

    @property
    def memory_limit(self) -> int | None:
        """The smallest worker memory limit (a seed may land on any worker); ``None``: no limit."""
        return min((m for m in self.memory_limits if m > 0), default=None)

    def task_threads(self, seeds: int) -> int:
        """Threads of one seed's task: the cluster's threads shared among the seeds, at most a worker's."""
        return max(1, min(self.max_threads, self.total_threads // max(1, seeds)))


def cluster_estimate(load: Workload, seeds: int, shape: ClusterShape) -> CostEstimate:
    """Wall time and peak memory **per worker** of ``seeds`` seeds of ``load`` on a Dask cluster.

    Seeds run side by side, each on ``t = shape.task_threads(seeds)`` threads: in waves of
    ``total threads / t`` seeds, each wave one seed's time on ``t`` threads. A worker runs at most its
    ``nthreads`` tasks at once, so its memory is at most ``min(nthreads, seeds)`` seeds' peaks at ``t``
    threads (an upper bound: Dask usually spreads seeds with ``t > 1`` over several workers). A split
    first step (tasks of its own) only shortens this.
    """
    t = shape.task_threads(seeds)
    at_once = max(1, shape.total_threads // t)
    waves = -(-seeds // at_once)
    parallel = 1.0 if t == 1 else min(t, PARTIALS) * PARALLEL_EFFICIENCY
    return CostEstimate(
        memory_bytes=min(shape.max_threads, seeds) * load.peak_bytes(t),
        flops=seeds * load.flops_per_seed(),
        seconds=CLUSTER_OVERHEAD_SECONDS + waves * load.seconds_per_seed() / parallel,
    )


def estimate(load: Workload, seeds: int, threads: int, cluster: ClusterShape | None = None) -> CostEstimate:
    """Peak memory, floating-point work and wall time of ``seeds`` seeds of ``load`` on ``threads``, or on
    a Dask ``cluster`` (:func:`cluster_estimate`: memory per worker; ``threads`` ignored)."""
    if cluster is not None:
        return cluster_estimate(load, seeds, cluster)
    parallel = 1.0 if threads == 1 else min(threads, PARTIALS) * PARALLEL_EFFICIENCY
    seconds = CALL_OVERHEAD_SECONDS + seeds * load.seconds_per_seed() / parallel
    return CostEstimate(
        memory_bytes=load.peak_bytes(threads), flops=seeds * load.flops_per_seed(), seconds=seconds
    )


def estimate_cost(
    *,
    model: str,
    dimension: int,
    width: float,
    alphas: Sequence[float],
    alpha0: float,
    seeds: int,
    test_samples: int | None,
    n_ridges: int = 1,
    zero_ridge: bool = False,
    n_jobs: int | None = None,
    cluster: ClusterShape | None = None,
    steps: Sequence[int] = (1,),
    precision: str = "float64",
) -> CostEstimate:
    """Predicted peak memory, floating-point work and wall time of :func:`srf_engine.simulate`.

    ``precision``: the dtype of the large products, as in :func:`simulate` (float32 halves W, the
    inputs and the products; the Gram sums and the solves stay float64).

    ``steps``: the step counts asked (docs/theory.md §11.1): ``max(steps)`` steps, one readout per count.

    ``model = "network"`` with ``alpha0 > 0`` is assumed to take the first step (the learning rate is
    not an argument; with ``η̃ = 0`` the estimate is an upper bound). ``zero_ridge``: whether λ = 0 is
    among the ridges (it needs an eigendecomposition per α, ~17 times a Cholesky solve).
    ``n_jobs`` defaults to the available cores, as in :func:`simulate`. Memory is that of one seed
    (seeds run one after the other); time is calibrated on this 2-core machine.
    With ``cluster`` (the shape of a Dask cluster, ``srf_engine.simulation.cluster.cluster_shape``)
    it is the estimate of a run there (:func:`cluster_estimate`; memory per worker) and ``n_jobs`` is
    ignored.
    """
    if not isinstance(n_ridges, int) or isinstance(n_ridges, bool) or n_ridges < 1:
        raise InvalidParameterError("ridge", "needs at least one value")
    # Only the number of λ and whether one is 0 matter to the cost.
    ridges = [0.0 if zero_ridge else 1.0] + [1.0] * (n_ridges - 1)
    spec = SimulationSpec.build(
        model=model,
        dimension=dimension,
        alphas=alphas,
        ridge=ridges,
        seeds=seeds,
        test_samples=test_samples,
        precision=precision,
    )
    width = check_positive("width", width)
    alpha0 = check_nonnegative("alpha0", alpha0)
    steps = check_steps(steps)
    load = workload(spec, width=width, alpha0=alpha0, step=model == "network" and alpha0 > 0, steps=steps)
    threads = available_cores() if n_jobs is None else max(1, int(n_jobs))
    return estimate(load, len(spec.seeds), threads, cluster)
