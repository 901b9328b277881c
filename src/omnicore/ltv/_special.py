"""Special functions in log space shared by the models."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy import special

__all__ = ["betaln", "digamma", "gammaln", "log1mexp", "logaddexp"]

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
