"""One seed of a simulation (docs/theory.md §2, §3): first layer, ridge along nested prefixes, test errors.

Per seed (all draws from :mod:`.sampling`, one independent stream per seed and chunk):

1. First layer ``W``: ``W0`` with rows uniform on the unit sphere; then
   - ``network``: one giant step on ``n0 = round(α0 d)`` fresh samples,
     ``W1 = W0 + η̃ (1/n0) Σ_μ (y_μ − f0(x_μ)) σ'(W0 x_μ) x_μᵀ`` (``√p a = 1``), accumulated chunk by chunk;
     with a protocol (docs/theory.md §11.1): ``σ'(W x) ⊙ u`` for the readout ``u = √p a``, ``f0 = (1/p) Σ u_i
     σ(w_i·x)``, ``η̃·d^β``, and ``T`` such steps from ``W_{t−1}`` on fresh (or the same) batches; the
     ridge readout then runs after each requested step count, on the way;
   - ``srf``: ``W = √c W0 + r u vᵀ/√d``, ``u = (1,…,1)`` (or the readout's ``u``), teacher ``θ = γ v + ρ ζ``;
   - ``random_features`` (and ``network`` with ``α0 = 0`` or ``η̃ = 0``): ``W = W0``.
2. Ridge on the readout for every α at once: one draw of ``n_max`` training samples, whose nested prefixes
   give every ``n = round(α d)``; ``G = ΦᵀΦ``, ``b = Φᵀy`` and ``yᵀy`` are accumulated chunk by chunk
   (``Φ = σ(X Wᵀ)`` never held whole) and solved at each ``n`` on the way (:mod:`.ridge`).
3. Test error: mean squared error of every ``ŵ`` on the same fresh test samples, chunk by chunk
   (label noise included).

Every matrix product runs on exactly one chunk, and the Gram matrix and the gradient are sums of
``PARTIALS`` partial sums with a fixed assignment of chunks (chunk ``i`` to sum ``i mod PARTIALS``, added in
chunk order), so a seed's values do not depend on the number of threads.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from concurrent import futures as cf
from dataclasses import dataclass
from typing import Literal

import numpy as np

from ..activations import Activation
from ..problem import Problem, SRFParams
from ..protocols import DEFAULT_PROTOCOL, UNIFORM, Protocol, ReadoutLaw
from ..teachers import MultiIndexTeacher
from .cost import PARTIALS, Workload, max_concurrent_solves, solve_matrices
from .first_layer import FirstLayerStats, measure_first_layer, row_shrink
from .parallel import TaskRunner
from .protocols import learned, multi_index_directions, readout_values, step_chunk, teacher_labels
from .ridge import gram_update, ridge_from_gram
from .sampling import CHUNK_ROWS, Stream, directions, first_layer_chunk, input_chunk, n_chunks
from .spec import SimulationSpec

Array = np.ndarray
FLOAT64 = np.dtype(np.float64)


@dataclass(frozen=True)
class Plan:
    """Everything a seed needs: sizes, activations and how the first layer is built."""

    model: str
    first_layer: Literal["step", "spike", "plain"]
    student: Activation
    teacher: Activation | MultiIndexTeacher
    noise: float
    learning_rate: float
    srf: SRFParams  # used to build W when first_layer == "spike"
    ridges: tuple[float, ...]
    load: Workload
    # the protocol (docs/theory.md §11.1); the defaults are the paper's one step
    readout: ReadoutLaw = UNIFORM
    steps: tuple[int, ...] = (1,)  # step counts after which the readout is fitted, as asked
    batches: str = "fresh"
    step_scale: float = 1.0  # d^β: η̃_eff = η̃·d^β
    #: dtype of W, the inputs and the products on them (float32: half the memory, twice BLAS's rate); the
    #: Gram matrix, the ridge solve and every sum of errors stay float64.
    dtype: np.dtype = FLOAT64

    @classmethod
    def build(
        cls,
        problem: Problem,
        spec: SimulationSpec,
        *,
        step: bool,
        srf: SRFParams,
        load: Workload,
        protocol: Protocol = DEFAULT_PROTOCOL,
    ) -> Plan:
        """The plan of ``problem`` simulated as ``spec.model``; the first layer follows from ``step``."""
        return cls(
            model=spec.model,
            first_layer="step" if step else ("spike" if spec.model == "srf" else "plain"),
            student=problem.student,
            teacher=problem.teacher,
            noise=problem.noise,
            learning_rate=problem.learning_rate,
            srf=srf,
            ridges=spec.ridges,
            load=load,
            readout=protocol.readout,
            steps=protocol.steps,
            batches=protocol.batches,
            step_scale=protocol.step_scale(spec.dimension),
            dtype=spec.dtype,
        )

    @property
    def effective_learning_rate(self) -> float:
        """``η̃·d^β`` (exactly ``η̃`` for β = 0)."""
        return self.learning_rate if self.step_scale == 1.0 else self.learning_rate * self.step_scale

    @property
    def d(self) -> int:
        return self.load.d

    @property
    def p(self) -> int:
        return self.load.p


def sum_partials(parts: Sequence[Array]) -> Array:
    """``Σ_k parts[k]`` in a fixed order, into the first (the same rounding for one η̃ or many)."""
    total = parts[0]
    for part in parts[1:]:
        total += part
    return total


def apply_step(w: Array, gradient: Array, learning_rate: float, n0: int) -> None:
    """``W ← W + (η̃/n0) G`` in place: the giant step of §2, the same arithmetic for one η̃ or many."""
    w += gradient * (learning_rate / n0)


class SeedRun:
    """Test and training errors of one seed at every (distinct n, λ)."""

    def __init__(
        self, plan: Plan, seed: int, runner: TaskRunner, step_sums: Sequence[Array] | None = None
    ) -> None:
        """``step_sums``: the first step's ``PARTIALS`` gradient partial sums when computed elsewhere
        (by :meth:`step_partial` in tasks of their own on a cluster); by default computed here."""
        self.plan = plan
        self.seed = seed
        self.runner = runner
        self.step_sums = step_sums
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
        self._row_shrink = 1.0
        self._u: Array | None = None
        self._u_drawn = False
        #: Model ``network``: the measured sRF of the first layer (docs/theory.md §10), set by :meth:`run`.
        self.first_layer_stats: FirstLayerStats | None = None
        #: Model ``network`` with a step: per step ``t = 1 … T`` what the first layer learned
        #: (``{"step", "singular_values", "overlaps"}``, docs/theory.md §11.1), set by :meth:`run`.
        self.learned: list[dict[str, object]] | None = None

    @property
    def u(self) -> Array | None:
        """``u = √p a``, the readout at initialisation (``None``: uniform, ``u ≡ 1``)."""
        if not self._u_drawn:
            self._u = readout_values(self.seed, self.plan.readout, self.plan.p)
            self._u_drawn = True
        return self._u

    def run(self) -> tuple[Array, Array]:
        """``(test, train)``, each ``len(steps) × len(sizes) × len(ridges)`` (one block per step count)."""
        if self.plan.first_layer == "step":
            w0, theta = self.initial_layer()
            return self.after_steps(w0, theta, self.step_gradient(w0, theta))
        w, theta = self.initial_layer()
        if self.plan.model == "network":
            self.first_layer_stats = measure_first_layer(w, theta, self._row_shrink)
        test, train = self.readout(w, theta)
        count = len(self.plan.steps)  # no step is taken: every step count has this first layer
        return np.stack([test] * count), np.stack([train] * count)

    def after_steps(self, w0: Array, theta: Array, gradient: Array) -> tuple[Array, Array]:
        """:meth:`run` from ``W0`` and the first step's gradient ``G`` (shared by every η̃ of a grid):
        ``W_1 = W0 + (η̃_eff/n0) G``, then the steps ``t = 2 … T`` from ``W_{t−1}``; the readout after
        each step count asked, what the first layer learned after every step."""
        plan = self.plan
        lr, n0 = plan.effective_learning_rate, plan.load.n0
        # row shrink (docs/theory.md §10.2) after the first step: 1 + (η̃/n0) mean_i G_i·w0_i/‖w0_i‖²
        shift = float(np.mean(np.einsum("ij,ij->i", gradient, w0) / np.einsum("ij,ij->i", w0, w0)))
        shrink = 1.0 + shift * lr / n0
        w = w0.copy()
        apply_step(w, gradient, lr, n0)
        del gradient
        thetas = theta[None, :] if theta.ndim == 1 else theta
        wanted = set(plan.steps)
        last = max(plan.steps)
        outputs: dict[int, tuple[Array, Array]] = {}
        records: list[dict[str, object]] = []
        for t in range(1, last + 1):
            if t > 1:
                apply_step(w, self.gradient_at(w, theta, t), lr, n0)
            values, overlaps = learned(w - w0, thetas)
            records.append({"step": t, "singular_values": values.tolist(), "overlaps": overlaps.tolist()})
            if t in wanted:
                outputs[t] = self.readout(w, theta)
        if last > 1:
            shrink = row_shrink(w, w0)
        self.first_layer_stats = measure_first_layer(w, theta, shrink)
        self.learned = records
        return (
            np.stack([outputs[t][0] for t in plan.steps]),
            np.stack([outputs[t][1] for t in plan.steps]),
        )

    def gradient_at(self, w: Array, theta: Array, step: int) -> Array:
        """``G_t`` of step ``t ≥ 2`` at the current ``W_{t−1}``, on that step's batch."""
        parts = self.runner.wait(
            [
                self.runner.submit(self.step_partials, w, theta, k, [self.plan.load.n0], step)
                for k in range(PARTIALS)
            ]
        )
        return sum_partials([part[0] for part in parts])

    def readout(self, w: Array, theta: Array) -> tuple[Array, Array]:
        """``(test, train)`` of the ridge readout on the first layer ``w``, each sizes × ridges."""
        w_hat, train = self.ridge_sweep(w, theta)
        test = self.test_errors(w, theta, w_hat)
        shape = (len(self.plan.load.sizes), len(self.plan.ridges))
        return test.reshape(shape), train.reshape(shape)

    # --- data --------------------------------------------------------------------------------------
    def _chunk(self, stream: Stream, index: int, theta: Array) -> tuple[Array, Array]:
        x, xi = input_chunk(self.seed, stream, index, self.plan.d)
        # labels from the float64 draw: the target is exact whatever the precision of the products
        y = teacher_labels(x, xi, theta, self.plan.teacher, self.plan.noise)
        return x.astype(self.plan.dtype, copy=False), y

    def _step_chunk(self, step: int, index: int, theta: Array) -> tuple[Array, Array]:
        """Chunk ``index`` of step ``step``'s batch (step 1: the first-step stream, as ever)."""
        if step == 1:
            return self._chunk(Stream.STEP, index, theta)
        x, xi = step_chunk(self.seed, step, index, self.plan.d, self.plan.batches == "reused")
        y = teacher_labels(x, xi, theta, self.plan.teacher, self.plan.noise)
        return x.astype(self.plan.dtype, copy=False), y

    def _features(self, x: Array, w: Array) -> Array:
        """``Φ = σ(X Wᵀ)`` of one chunk."""
        return np.asarray(self.plan.student(x @ w.T), dtype=self.plan.dtype)

    # --- 1. first layer ---------------------------------------------------------------------------------
    def first_layer(self) -> tuple[Array, Array]:
        """``(W, θ)`` of §2/§3 for this seed's model (with a step: after the first one)."""
        w, theta = self.initial_layer()
        if self.plan.first_layer == "step":
            gradient = self.step_gradient(w, theta)
            # (w0 + Δ)_i·w0_i/‖w0_i‖² = 1 + Δ_i·w0_i/‖w0_i‖², read before w0 is overwritten
            shift = np.einsum("ij,ij->i", gradient, w) / np.einsum("ij,ij->i", w, w)
            lr = self.plan.effective_learning_rate
            self._row_shrink = 1.0 + float(np.mean(shift)) * lr / self.plan.load.n0
            apply_step(w, gradient, lr, self.plan.load.n0)
        return w, theta

    def initial_layer(self) -> tuple[Array, Array]:
        """``(W, θ)`` before any step: ``W0`` (or the spiked ``W`` of the sRF model) and the teacher."""
        plan, d, p = self.plan, self.plan.d, self.plan.p
        w = np.empty((p, d), dtype=plan.dtype)

        def weight_rows(j: int) -> None:
            w[j * CHUNK_ROWS : (j + 1) * CHUNK_ROWS] = first_layer_chunk(self.seed, j, p, d)
            self.runner.advance(self._cost["weight"])

        self.runner.wait([self.runner.submit(weight_rows, j) for j in range(n_chunks(p))])
        if isinstance(plan.teacher, MultiIndexTeacher):
            return w, multi_index_directions(self.seed, plan.teacher, d)  # Θ: k × d
        v, zeta = directions(self.seed, d)
        if plan.first_layer == "spike":
            srf = plan.srf
            theta = srf.gamma * v + srf.rho * zeta
            w *= math.sqrt(srf.c)
            if self.u is None:
                w += (srf.r / math.sqrt(d)) * v  # r u vᵀ/√d with u = (1, …, 1): every row gets r v/√d
            else:
                w += (srf.r / math.sqrt(d)) * np.outer(self.u, v)  # row i gets r u_i v/√d
            return w, theta
        return w, v

    def step_gradient(self, w0: Array, theta: Array) -> Array:
        """``G = Σ_μ (y_μ − f0(x_μ)) σ'(W0 x_μ) x_μᵀ`` over the ``n0`` step samples (partial sums in a
        fixed order; given as ``step_sums`` when a cluster computed them)."""
        if self.step_sums is not None:
            # the first is summed into: a copy (arrays received from a cluster may be read-only)
            parts = [np.array(self.step_sums[0]), *self.step_sums[1:]]
        else:
            parts = self.runner.wait(
                [self.runner.submit(self.step_partial, w0, theta, k) for k in range(PARTIALS)]
            )
        return sum_partials(parts)

    def step_gradients(self, w0: Array, theta: Array, n0s: Sequence[int]) -> list[Array]:
        """``G`` for each first batch of ``n0s`` (ascending): nested prefixes of one draw, one pass."""
        parts = self.runner.wait(
            [self.runner.submit(self.step_partials, w0, theta, k, n0s) for k in range(PARTIALS)]
        )
        return [sum_partials([part[j] for part in parts]) for j in range(len(n0s))]

    def step_partial(self, w0: Array, theta: Array, k: int) -> Array:
        """``Σ_μ g_μ x_μᵀ`` (``p × d``) over the step chunks ``i ≡ k mod PARTIALS``."""
        return self.step_partials(w0, theta, k, [self.plan.load.n0])[0]

    def step_partials(
        self, w0: Array, theta: Array, k: int, n0s: Sequence[int], step: int = 1
    ) -> list[Array]:
        """:meth:`step_partial` for every ``n0`` of ``n0s`` (ascending) in one pass over the chunks: a
        prefix ending inside a chunk takes that chunk's rows up to it, the longer ones the whole chunk;
        each sum adds the same terms in the same order as a pass for its ``n0`` alone. ``step``: whose
        batch (``w0`` is then the current ``W_{t−1}``)."""
        plan, d, p = self.plan, self.plan.d, self.plan.p
        u = self.u
        n_max = n0s[-1]
        acc = np.zeros((p, d), dtype=plan.dtype)
        buffer = np.empty((p, d), dtype=plan.dtype)
        out: list[Array | None] = [None] * len(n0s)
        for i in range(k, n_chunks(n_max), PARTIALS):
            for j, n0 in enumerate(n0s):
                if out[j] is None and n_chunks(n0) <= i:  # this prefix has all its chunks of sum k
                    out[j] = acc.copy()
            x, y = self._step_chunk(step, i, theta)
            z = x @ w0.T
            if u is None:
                # f0(x) = (1/√p) Σ_i a_i σ(w_i·x) with a_i = 1/√p
                e = y - np.asarray(plan.student(z), dtype=float).sum(axis=1) * (1.0 / p)
                g = np.asarray(plan.student.derivative(z), dtype=plan.dtype)
            else:
                # f(x) = (1/p) Σ_i u_i σ(w_i·x); the gradient's rows carry u_i: σ'(W x) ⊙ u
                e = y - (np.asarray(plan.student(z), dtype=float) @ u) * (1.0 / p)
                g = np.asarray(plan.student.derivative(z), dtype=plan.dtype)
                g *= u
            del z
            for j, n0 in enumerate(n0s):
                if out[j] is None and n0 < n_max and n_chunks(n0) == i + 1 and n0 % CHUNK_ROWS:
                    cut = e.copy()
                    cut[n0 - i * CHUNK_ROWS :] = 0.0  # a shorter prefix ends inside this chunk
                    np.matmul((g * cut[:, None].astype(g.dtype, copy=False)).T, x, out=buffer)
                    out[j] = acc + buffer
            e[n_max - i * CHUNK_ROWS :] = 0.0  # rows past n0 (last chunk only) do not count
            g *= e[:, None]  # (y − f0) σ'(W0 x) ⊙ (√p a)
            # numpy's product releases the GIL (scipy's dgemm would serialise the threads)
            np.matmul(g.T, x, out=buffer)
            acc += buffer
            del x, g  # before the next chunk is drawn: one chunk in memory per thread
            self.runner.advance(self._cost["step"])
        # prefixes that end past this sum's last chunk: its total (each its own array: sums add in place)
        missing = [j for j, part in enumerate(out) if part is None]
        for j in missing[:-1]:
            out[j] = acc.copy()
        if missing:
            out[missing[-1]] = acc
        return out  # type: ignore[return-value]

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
        # scratch of the partial sums, in the products' dtype (the sums themselves are float64)
        self._buffers = [np.empty((p, p), dtype=plan.dtype) for _ in range(PARTIALS)]
        bs = [np.zeros(p) for _ in range(PARTIALS)]
        yys = [0.0] * PARTIALS
        done = 0  # chunks already in the partial sums
        solves: deque[cf.Future[tuple[Array, Array]]] = deque()
        results: list[cf.Future[tuple[Array, Array]]] = []
        in_flight = max_concurrent_solves(p, runner.threads, solve_matrices(len(plan.ridges), plan.load.eigh))

        def solve(gram: Array, b: Array, yy: float, n: int) -> tuple[Array, Array]:
            out = ridge_from_gram(gram, b, yy, n, plan.ridges)
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
    def _test_partial(self, w: Array, theta: Array, readouts: Array, k: int, stride: int) -> list[Array]:
        """Sums of squared test residuals of chunks ``i ≡ k mod stride``, one row per chunk.

        ``readouts``: one C-contiguous row per ``ŵ``. Each residual is its own matrix-vector product and
        dot product rather than one product for every column: BLAS picks its kernels (and so its
        rounding) by the number of columns, and a point's values must not depend on which other α and λ
        were asked with it.
        """
        n_test, p = self.plan.load.n_test, self.plan.p
        scale = -1.0 / math.sqrt(p)
        out = []
        for i in range(k, n_chunks(n_test), stride):
            x, y = self._chunk(Stream.TEST, i, theta)
            phi = self._features(x, w)
            valid = min(CHUNK_ROWS, n_test - i * CHUNK_ROWS)
            sse = np.empty(readouts.shape[0])
            for j, w_hat in enumerate(readouts):
                residual = (phi @ w_hat).astype(float, copy=False)  # the error's sums in float64
                residual *= scale
                residual += y  # y − φ(x)·ŵ/√p
                residual = residual[:valid]
                sse[j] = residual @ residual
            out.append(sse)
            del x, y, phi
            self.runner.advance(self._cost["test"])
        return out

    def test_errors(self, w: Array, theta: Array, w_hat: Array) -> Array:
        """Mean squared error on ``n_test`` fresh samples for each column of ``w_hat``."""
        n_test = self.plan.load.n_test
        stride = self.runner.threads
        readouts = np.ascontiguousarray(w_hat.T, dtype=self.plan.dtype)
        parts = self.runner.wait(
            [self.runner.submit(self._test_partial, w, theta, readouts, k, stride) for k in range(stride)]
        )
        per_chunk: list[Array] = [np.empty(0)] * n_chunks(n_test)
        for k, part in enumerate(parts):
            for j, sse in enumerate(part):
                per_chunk[k + j * stride] = sse
        # summed one chunk after another, whatever the stride and the number of columns (numpy's own
        # reduction over a single column would be pairwise, over several sequential)
        total = per_chunk[0].copy()
        for sse in per_chunk[1:]:
            total += sse
        return total / n_test
