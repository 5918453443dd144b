"""Ridge regression on the readout from accumulated Gram matrices (docs/theory.md §2, step 2).

``G = ΦᵀΦ``, ``b = Φᵀy`` and ``yᵀy`` are summed chunk by chunk (:func:`gram_update`); the readout
``ŵ_λ = (G/p + λI)⁻¹ b/√p`` and the training error follow from them alone (:func:`ridge_from_gram`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import linalg
from scipy.linalg.blas import dtrmv

Array = np.ndarray

#: Eigenvalues of ``G/p`` below ``PINV_RCOND · p · max eigenvalue`` count as zero when λ = 0
#: (the pseudo-inverse, i.e. the minimum-norm least-squares readout; LAPACK ``gelsd``'s default rule).
PINV_RCOND = float(np.finfo(float).eps)
#: λ below ``CHOLESKY_SAFETY · p · eps · trace(G/p)`` goes to the eigendecomposition instead of Cholesky.
CHOLESKY_SAFETY = 100.0


def use_eigendecomposition(n_ridges: int, has_zero_ridge: bool) -> bool:
    """Whether the ridge solves of one α include an ``eigh`` (for λ = 0); every λ > 0 uses Cholesky.

    The solver of a λ never depends on the other λ asked, so a grid point's readout is the same
    to the last bit whatever ridge list it was asked in. ``n_ridges`` is kept for the cost model's
    call signature.
    """
    return has_zero_ridge


def gram_update(gram: Array, b: Array, phi: Array, y: Array, buffer: Array) -> float:
    """``G += ΦᵀΦ``, ``b += Φᵀy`` in place; returns ``yᵀy`` of the chunk. ``buffer``: ``p × p`` scratch.

    numpy evaluates ``ΦᵀΦ`` with ``dsyrk`` (half the flops of a general product) and, unlike scipy's
    BLAS wrappers, releases the GIL meanwhile, so partial sums on two threads run in parallel; the
    product lands in ``buffer`` and is added, which costs one pass over ``p²`` per chunk.
    """
    np.matmul(phi.T, phi, out=buffer)
    gram += buffer  # float64 whatever the products' dtype (``buffer``'s, ``phi``'s)
    b += phi.T @ y.astype(phi.dtype, copy=False)
    return float(y @ y)


def ridge_from_gram(
    gram: Array, b: Array, yy: float, n: int, ridges: Sequence[float]
) -> tuple[Array, Array]:
    """Readouts and training errors of ridge regression from ``G = ΦᵀΦ``, ``b = Φᵀy``, ``yᵀy``.

    ``ŵ_λ = (G/p + λI)⁻¹ b/√p`` for each λ (columns of the returned ``p × len(ridges)`` array) and
    ``ε_t = (yᵀy − 2ŵᵀb/√p + ŵᵀGŵ/p)/n``, clipped at 0 (rounding can make an interpolating fit's
    residual a tiny negative number). ``gram`` is float64, C- or Fortran-ordered (the solvers work on
    its Fortran-ordered view, equal to it by symmetry, and read the upper triangle of that view only),
    and is overwritten.

    Solver, chosen for each λ on its own (so that a λ's readout never depends on the other λ asked):
    a Cholesky factorisation of ``G/p + λI``, or, for λ = 0 and λ too small for Cholesky to be safe,
    one eigendecomposition ``G/p = U diag(ℓ) Uᵀ`` serving all such λ.
    λ = 0 gives the pseudo-inverse (minimum-norm least squares: eigenvalues below
    ``PINV_RCOND·p·max ℓ`` dropped), which is also the λ → 0⁺ limit when ``G`` is singular (``n < p``).
    """
    p = gram.shape[0]
    gram = gram if gram.flags.f_contiguous else gram.T  # LAPACK works in place on Fortran order
    if not gram.flags.f_contiguous:
        raise ValueError("gram must be a contiguous array")
    gram *= 1.0 / p
    b_scaled = b * (1.0 / math.sqrt(p))
    trace = float(np.trace(gram))
    if not (math.isfinite(trace) and math.isfinite(yy) and np.isfinite(b_scaled).all()):
        # features overflowed (a diverging first step): no readout; simulate() warns about it
        nan = np.full((p, len(ridges)), math.nan)
        return nan, np.full(len(ridges), math.nan)
    # Cholesky is safe when λ dominates its rounding error (~ p·eps·‖G/p‖ ≤ p·eps·trace): else eigh.
    safe = CHOLESKY_SAFETY * p * np.finfo(float).eps * max(trace, 1e-300)
    by_eigh = [j for j, lam in enumerate(ridges) if lam < safe]
    by_cholesky = [j for j, lam in enumerate(ridges) if lam >= safe]
    if not by_eigh:
        return _ridge_cholesky(gram, b_scaled, yy, n, ridges)
    if not by_cholesky:
        return _ridge_eigh(gram, b_scaled, yy, n, ridges)
    w_hat = np.empty((p, len(ridges)))
    train = np.empty(len(ridges))
    for j in by_cholesky:  # one copy at a time: at most two p × p matrices, as for eigh
        w_hat[:, [j]], train[[j]] = _ridge_cholesky(gram.copy(order="F"), b_scaled, yy, n, [ridges[j]])
    w_hat[:, by_eigh], train[by_eigh] = _ridge_eigh(gram, b_scaled, yy, n, [ridges[j] for j in by_eigh])
    return w_hat, train


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
    cutoff = PINV_RCOND * ell.shape[0] * (ell[-1] if ell.size else 0.0)
    w_hat = np.empty((ell.shape[0], len(ridges)))
    train = np.empty(len(ridges))
    # One λ at a time (vector products only): a product over all columns at once would round
    # differently with their number, and a λ's readout must not depend on the other λ's asked.
    for j, lam in enumerate(ridges):
        if lam == 0.0:
            keep = ell > cutoff
            coef = np.where(keep, b_hat / np.where(keep, ell, 1.0), 0.0)
        else:
            coef = b_hat / (ell + lam)
        # In the eigenbasis: ŵᵀb/√p = c·b̂ and ŵᵀGŵ/p = Σ ℓ c².
        train[j] = (yy - 2.0 * (b_hat @ coef) + ell @ (coef * coef)) / n
        w_hat[:, j] = u @ coef
    return w_hat, np.maximum(train, 0.0)
