"""srf_engine/simulation/sampling.py: independent, reproducible streams per (seed, stream, chunk)."""

from __future__ import annotations

import math

import numpy as np

from srf_engine import get_activation
from srf_engine.simulation.sampling import (
    CHUNK_ROWS,
    Stream,
    directions,
    first_layer_chunk,
    generator,
    input_chunk,
    labels,
    n_chunks,
)


def test_a_draw_depends_on_seed_stream_and_chunk_alone() -> None:
    a = generator(4, Stream.TRAIN, 2).standard_normal(5)
    np.testing.assert_array_equal(a, generator(4, Stream.TRAIN, 2).standard_normal(5))
    for other in (generator(5, Stream.TRAIN, 2), generator(4, Stream.TEST, 2), generator(4, Stream.TRAIN, 3)):
        assert not np.allclose(a, other.standard_normal(5))


def test_chunk_count_rounds_up() -> None:
    assert [n_chunks(r) for r in (0, 1, CHUNK_ROWS, CHUNK_ROWS + 1)] == [0, 1, 1, 2]


def test_first_layer_rows_are_unit_vectors_and_a_short_chunk_is_a_prefix() -> None:
    full = first_layer_chunk(1, 0, 2 * CHUNK_ROWS, 30)
    short = first_layer_chunk(1, 0, 7, 30)
    np.testing.assert_allclose(np.linalg.norm(full, axis=1), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(short, full[:7])


def test_directions_are_orthogonal_on_the_sphere_of_radius_sqrt_d() -> None:
    d = 50
    v, zeta = directions(3, d)
    np.testing.assert_allclose([np.linalg.norm(v), np.linalg.norm(zeta)], math.sqrt(d), rtol=1e-12)
    assert abs(v @ zeta) < 1e-10 * d


def test_labels_are_the_teacher_plus_scaled_noise() -> None:
    d = 40
    x, xi = input_chunk(0, Stream.TEST, 0, d)
    theta, _ = directions(0, d)
    teacher = get_activation("sin")
    clean = labels(x, xi, theta, teacher, 0.0)
    np.testing.assert_allclose(clean, np.sin(x @ theta / math.sqrt(d)), rtol=1e-12)
    np.testing.assert_allclose(labels(x, xi, theta, teacher, 0.25) - clean, 0.5 * xi, atol=1e-12)
    assert x.shape == (CHUNK_ROWS, d) and abs(x.mean()) < 0.05 and abs(x.std() - 1) < 0.05
