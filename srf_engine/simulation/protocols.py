"""The draws and measurements of the protocols beyond one step (docs/theory.md §11.1).

- the readout at initialisation ``u = √p a`` (stream ``READOUT``; ``None`` for the uniform ``u ≡ 1``,
  whose arithmetic stays that of the one-step code);
- the directions ``Θ`` of a multi-index teacher (stream ``TEACHERS``) and its labels ``g(XΘᵀ/√d)``;
- the batch of step ``t``: step 1 (and every step with ``batches = "reused"``) is the first-step stream,
  a fresh step ``t ≥ 2`` its own stream ``(LATER_STEPS, t, chunk)``;
- what the first layer learned: the top singular values of ``(W_t − W_0)/√p`` and the ``|cos|`` of their
  right singular vectors with each teacher direction.

Every draw depends on ``(seed, stream, index)`` alone, as in :mod:`.sampling`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import scipy.linalg

from ..activations import Activation
from ..protocols import ReadoutLaw
from ..teachers import MultiIndexTeacher, teacher_directions
from .sampling import CHUNK_ROWS, Stream, generator, input_chunk, labels

Array = np.ndarray

#: Singular values of ``W_t − W_0`` reported per step.
TOP_SINGULAR = 4


def readout_values(seed: int, law: ReadoutLaw, p: int) -> Array | None:
    """``u`` (``p``) drawn from ``law``; ``None`` for the uniform readout (``u ≡ 1``, no draw)."""
    if law.uniform:
        return None
    rng = generator(seed, Stream.READOUT)
    if law.kind == "rademacher":
        return 2.0 * rng.integers(0, 2, size=p).astype(float) - 1.0
    if law.kind == "gaussian":
        return rng.standard_normal(p)
    return np.asarray(law.values)[rng.choice(len(law.values), size=p, p=np.asarray(law.weights))]


def multi_index_directions(seed: int, teacher: MultiIndexTeacher, d: int) -> Array:
    """``Θ`` (``k × d``, ``θ_i·θ_j = d δ_ij``) of a multi-index teacher."""
    return teacher_directions(generator(seed, Stream.TEACHERS), teacher.k, d)


def teacher_labels(
    x: Array, xi: Array, theta: Array, teacher: Activation | MultiIndexTeacher, noise: float
) -> Array:
    """``y = σ*(θ·x/√d) + √Δ ξ``, or ``g(XΘᵀ/√d) + √Δ ξ`` for a multi-index teacher (``Θ``: ``k × d``)."""
    if theta.ndim == 1:
        return labels(x, xi, theta, teacher, noise)  # type: ignore[arg-type]
    y = teacher(x @ theta.T * (1.0 / math.sqrt(theta.shape[1])))
    if noise > 0.0:
        y = y + math.sqrt(noise) * xi
    return np.asarray(y, dtype=float)


def step_chunk(seed: int, step: int, index: int, d: int, reused: bool) -> tuple[Array, Array]:
    """Chunk ``index`` of the batch of step ``step`` (1-based): inputs and ``ξ``, as :func:`input_chunk`."""
    if step == 1 or reused:
        return input_chunk(seed, Stream.STEP, index, d)
    rng = np.random.Generator(
        np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(int(Stream.LATER_STEPS), step, index)))
    )
    x = rng.standard_normal((CHUNK_ROWS, d))
    xi = rng.standard_normal(CHUNK_ROWS)
    return x, xi


def learned(delta: Array, thetas: Array, top: int = TOP_SINGULAR) -> tuple[Array, Array]:
    """``(s, O)``: the top singular values of ``Δ/√p`` (``Δ = W_t − W_0``, ``p × d``), descending, and
    ``O[i, j] = |v_i·θ_j|/(‖v_i‖ √d)`` for their right singular vectors ``v_i`` (``thetas``: ``k × d``).

    The eigenvalues of the smaller Gram matrix (``ΔΔᵀ`` or ``ΔᵀΔ``), only the top ones: ``p·d·min(p, d)``
    for the product and ``O(min(p, d)²·top)`` beyond the tridiagonal reduction.
    """
    p, d = delta.shape
    m = min(p, d)
    top = min(top, m)
    if p <= d:
        gram = delta @ delta.T
        values, left = scipy.linalg.eigh(gram, subset_by_index=[m - top, m - 1])
        right = delta.T @ left  # v_i ∝ Δᵀ u_i
    else:
        gram = delta.T @ delta
        values, right = scipy.linalg.eigh(gram, subset_by_index=[m - top, m - 1])
    order = np.argsort(values)[::-1]
    values, right = np.maximum(values[order], 0.0), right[:, order]
    norms = np.linalg.norm(right, axis=0)
    norms[norms == 0] = np.inf  # a zero singular value has no direction: overlap 0
    overlaps = np.abs(thetas @ right).T / (norms[:, None] * math.sqrt(d))
    return np.sqrt(values / p), overlaps


def learned_stats(per_seed: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Mean and sem over seeds, step by step, of :func:`learned`'s ``singular_values`` and ``overlaps``
    (``per_seed``: for each seed its list of ``{"step", "singular_values", "overlaps"}``)."""
    out = []
    for records in zip(*per_seed, strict=True):
        entry: dict[str, Any] = {"step": records[0]["step"]}
        for name in ("singular_values", "overlaps"):
            values = np.asarray([r[name] for r in records], dtype=float)
            sem = values.std(axis=0, ddof=1) / math.sqrt(len(records)) if len(records) > 1 else 0 * values[0]
            entry[name] = {"mean": values.mean(axis=0).tolist(), "sem": np.asarray(sem).tolist()}
        out.append(entry)
    return out
