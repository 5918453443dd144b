"""Random draws of the simulations (docs/theory.md §1–3), as independent streams per seed and per chunk.

Every draw comes from ``numpy.random.SeedSequence(seed, spawn_key=(stream, index))``: the generator
``SeedSequence(seed).spawn(…)[stream].spawn(…)[index]`` would give. A draw therefore depends on
``(seed, stream, index)`` alone, never on how many rows a computation uses, on which thread draws it or
on which other seeds run alongside.

Samples come in chunks of :data:`CHUNK_ROWS` rows. The chunk is both the unit of randomness and the unit
of computation of the simulations (features, Gram updates, gradient updates): matrix products are
evaluated on exactly one chunk at a time, so their rounding does not depend on how work is scheduled.
"""

from __future__ import annotations

import math
from enum import IntEnum

import numpy as np

from ..activations import Activation

Array = np.ndarray

#: Rows per chunk of samples (and of first-layer weights). Part of the definition of a seed's stream:
#: changing it changes every simulated value (statistically equivalent, not bit-identical).
CHUNK_ROWS = 512


class Stream(IntEnum):
    """First entry of the spawn key: one independent stream per kind of draw."""

    FIRST_LAYER = 0  # rows of W0, chunk by chunk
    DIRECTIONS = 1  # teacher θ (network, random features) or spike v and ζ ⊥ v (sRF)
    STEP = 2  # the n0 samples of the first gradient step
    TRAIN = 3  # the n samples of the ridge regression (nested prefixes of one draw)
    TEST = 4  # fresh samples for the test error
    READOUT = 5  # u = √p a, the readout at initialisation when it is not uniform (docs/theory.md §11)
    TEACHERS = 6  # the k directions θ_j of a multi-index teacher
    LATER_STEPS = 7  # fresh batches of steps t ≥ 2, key (7, t, chunk)


def generator(seed: int, stream: Stream, index: int | None = None) -> np.random.Generator:
    """The generator of ``(seed, stream[, index])``: child ``index`` of child ``stream`` of ``seed``."""
    key = (int(stream),) if index is None else (int(stream), int(index))
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=key)))


def n_chunks(rows: int) -> int:
    """Chunks needed to hold ``rows`` rows."""
    return -(-rows // CHUNK_ROWS)


def first_layer_chunk(seed: int, index: int, p: int, d: int) -> Array:
    """Rows ``[index·CHUNK_ROWS, …)`` of ``W0`` (up to row ``p``), i.i.d. uniform on the unit sphere."""
    rows = min(CHUNK_ROWS, p - index * CHUNK_ROWS)
    # Draws fill row by row, so the rows of a short last chunk equal the first rows of a full one.
    g = generator(seed, Stream.FIRST_LAYER, index).standard_normal((rows, d))
    g /= np.sqrt(np.einsum("ij,ij->i", g, g))[:, None]
    return g


def initial_weights(seed: int, p: int, d: int) -> Array:
    """``W0`` (``p × d``): rows uniform on the unit sphere, so that ``w_i·x ~ N(0, 1)``."""
    return np.concatenate([first_layer_chunk(seed, j, p, d) for j in range(n_chunks(p))])


def directions(seed: int, d: int) -> tuple[Array, Array]:
    """``(v, ζ)``: ``v`` uniform on the sphere of radius ``√d``, ``ζ ⊥ v`` uniform on the same sphere.

    The teacher direction of the network is ``θ = v``; the sRF model uses ``θ = γ v + ρ ζ`` (§3).
    """
    rng = generator(seed, Stream.DIRECTIONS)
    v = rng.standard_normal(d)
    v *= math.sqrt(d) / np.linalg.norm(v)
    zeta = rng.standard_normal(d)
    zeta -= (zeta @ v / d) * v
    zeta *= math.sqrt(d) / np.linalg.norm(zeta)
    return v, zeta


def input_chunk(seed: int, stream: Stream, index: int, d: int) -> tuple[Array, Array]:
    """Chunk ``index`` of a stream: inputs ``X`` (``CHUNK_ROWS × d``, ``N(0, I_d)``) and ``ξ ~ N(0, 1)``.

    ``ξ`` is drawn whatever the noise, so that ``Δ`` changes the labels and nothing else.
    """
    rng = generator(seed, stream, index)
    x = rng.standard_normal((CHUNK_ROWS, d))
    xi = rng.standard_normal(CHUNK_ROWS)
    return x, xi


def labels(x: Array, xi: Array, theta: Array, teacher: Activation, noise: float) -> Array:
    """``y = σ*(θ·x/√d) + √Δ ξ`` (§1)."""
    y = teacher(x @ theta * (1.0 / math.sqrt(theta.shape[0])))
    if noise > 0.0:
        y = y + math.sqrt(noise) * xi
    return np.asarray(y, dtype=float)


def sample(seed: int, stream: Stream, rows: int, d: int) -> tuple[Array, Array]:
    """The first ``rows`` rows of a stream, all at once: for tests and small reference computations."""
    parts = [input_chunk(seed, stream, i, d) for i in range(n_chunks(rows))]
    x = np.concatenate([p[0] for p in parts])[:rows]
    xi = np.concatenate([p[1] for p in parts])[:rows]
    return x, xi
