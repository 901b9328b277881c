"""Special functions in log space shared by the models."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import special

__all__ = ["betaln", "digamma", "gammaln", "hyp2f1", "log1mexp", "logaddexp"]

FloatArray = npt.NDArray[np.float64]

gammaln = special.gammaln
betaln = special.betaln
digamma = special.digamma
logaddexp = np.logaddexp


def log1mexp(x: FloatArray) -> FloatArray:
    """``log(1 - exp(x))`` for ``x <= 0``, accurate for x near 0 and very negative x (Maechler 2012)."""
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return np.where(x > -np.log(2.0), np.log(-np.expm1(x)), np.log1p(-np.exp(x)))


def dbetaln_da(a: FloatArray, b: FloatArray) -> FloatArray:
    """d/da log B(a, b)."""
    return digamma(a) - digamma(a + b)


def hyp2f1(a: Any, b: Any, c: Any, z: Any) -> FloatArray:
    """Gauss's 2F1(a, b; c; z) for ``0 <= z < 1``: SciPy, with a direct series where SciPy fails.

    SciPy's ``hyp2f1`` returns ``inf`` for some well-conditioned arguments (e.g. 2F1(9, 9; 107; 0.94));
    those entries are summed term by term (``t_{n+1} = t_n (a+n)(b+n) / ((c+n)(n+1)) z``) until the
    terms no longer change the sum.
    """
    a, b, c, z = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (a, b, c, z)))
    with np.errstate(all="ignore"):
        out = np.asarray(special.hyp2f1(a, b, c, z), dtype=np.float64)
    bad = ~np.isfinite(out)
    if bad.any():
        out = out.copy()
        out[bad] = _series(a[bad], b[bad], c[bad], z[bad])
    return out


def _series(
    a: FloatArray, b: FloatArray, c: FloatArray, z: FloatArray, max_terms: int = 200_000
) -> FloatArray:
    total = np.ones_like(z)
    term = np.ones_like(z)
    active = np.ones(z.shape, dtype=bool)
    for n in range(max_terms):
        term = np.where(active, term * (a + n) * (b + n) / ((c + n) * (n + 1)) * z, 0.0)
        total = total + term
        active &= np.abs(term) > 1e-17 * np.abs(total)
        if not active.any():
            break
    return total


def by_value(x: FloatArray) -> tuple[FloatArray, Any]:
    """Distinct values of ``x`` and the index gathering them back (``values[index]``).

    Terms that depend on the purchase count only (gamma and digamma functions of ``x``) are computed
    once per distinct count; compressed data arrive sorted by ``x``, which is detected in O(n).
    """
    if x.size and bool(np.all(x[1:] >= x[:-1])):
        new = np.empty(x.size, dtype=bool)
        new[0] = True
        np.not_equal(x[1:], x[:-1], out=new[1:])
        return x[new], np.cumsum(new) - 1
    values, index = np.unique(x, return_inverse=True)
    return values, index
