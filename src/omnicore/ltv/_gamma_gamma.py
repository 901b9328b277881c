"""Gamma-Gamma spend model (Fader, Hardie & Lee 2005, "RFM and CLV"; Fader & Hardie 2013 note)."""

from __future__ import annotations

from typing import Any, ClassVar

import attrs
import numpy as np
import numpy.typing as npt

from omnicore._errors import ValidationError
from omnicore._progress import Progress, null_progress
from omnicore.ltv._base import FittedModel, Params, positive
from omnicore.ltv._fitting import Columns, FitInfo, ModelSpec, fit_mle
from omnicore.ltv._inputs import compress, spend_arrays, weights_array
from omnicore.ltv._special import by_value, digamma, gammaln

__all__ = ["GammaGamma", "GammaGammaParams"]

FloatArray = npt.NDArray[np.float64]


@attrs.frozen
class GammaGammaParams(Params):
    """Gamma-Gamma parameters: spend per transaction ``~ Gamma(p, nu)``, ``nu ~ Gamma(q, v)``.

    ``v`` is the paper's ``gamma`` (named ``v`` as in lifetimes).
    """

    p: float = positive()
    q: float = positive()
    v: float = positive()


def _loglik(theta: FloatArray, columns: Columns, grad: bool) -> tuple[FloatArray, FloatArray | None]:
    """Log density of the mean spend ``m`` over ``x`` transactions (Fader & Hardie 2013 eq. 3)."""
    p, q, v = theta
    x, m = columns[0], columns[1]
    # log(m) is constant during a fit: fit() passes it as a third column
    log_m = columns[2] if len(columns) > 2 else np.log(m)
    ux, ix = by_value(x)
    upx = p * ux
    px = p * x
    log_vm = np.log(v + m * x)
    ll = (
        (gammaln(upx + q) - gammaln(upx) + upx * np.log(ux))[ix]
        - gammaln(q)
        + q * np.log(v)
        + (px - 1) * log_m
        - (px + q) * log_vm
    )
    if not grad:
        return ll, None
    psi = digamma(upx + q)
    g = np.empty((3, x.size))
    g[0] = x * ((psi - digamma(upx) + np.log(ux))[ix] + log_m - log_vm)
    g[1] = psi[ix] - digamma(q) + np.log(v) - log_vm
    g[2] = q / v - (px + q) / (v + m * x)
    return ll, g


@attrs.frozen(kw_only=True)
class GammaGamma(FittedModel):
    """A fitted Gamma-Gamma model of average spend per transaction.

    Spend per transaction is Gamma(p, nu) within a customer; ``nu`` varies across customers as
    Gamma(q, v). The model assumes spend independent of purchase frequency: check the correlation
    before combining it with a purchase model.

    Attributes
    ----------
    params
        :class:`GammaGammaParams` ``(p, q, v)``.
    fit_info
        Fit diagnostics.
    period
        Unused by the spend model; kept for symmetry.

    References
    ----------
    .. [1] Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005). RFM and CLV: Using Iso-Value Curves
       for Customer Base Analysis. Journal of Marketing Research 42(4), 415-430.
    .. [2] Fader, P. S. and Hardie, B. G. S. (2013). The Gamma-Gamma Model of Monetary Value.
       http://brucehardie.com/notes/025/
    """

    spec: ClassVar[ModelSpec] = ModelSpec(name="GammaGamma", param_names=("p", "q", "v"), loglik=_loglik)

    params: GammaGammaParams
    fit_info: FitInfo | None = None
    period: str | None = None

    @classmethod
    def from_params(cls, *, p: float, q: float, v: float) -> GammaGamma:
        """A model with given parameters (no fit).

        Examples
        --------
        >>> m = GammaGamma.from_params(p=6.25, q=3.74, v=15.44)
        >>> m.expected_average_spend(frequency=[0, 2], monetary_value=[0.0, 30.0]).round(2)
        array([35.22, 30.94])
        """
        return cls(params=GammaGammaParams(p, q, v))

    @classmethod
    def fit(
        cls,
        summary: Any = None,
        *,
        frequency: Any = None,
        monetary_value: Any = None,
        weights: Any = None,
        penalizer_coef: float = 0.0,
        maxiter: int = 1000,
        progress: Progress = null_progress,
    ) -> GammaGamma:
        """Fit the Gamma-Gamma model on customers with at least one repeat purchase.

        Customers with ``frequency == 0`` carry no repeat spend and are left out of the fit, as in the
        paper; every included customer needs ``monetary_value > 0``.

        Parameters
        ----------
        summary
            A ``CustomerSummary`` (``frequency``, ``monetary_value``), or pass the arrays.
        frequency
            Repeat purchases per customer.
        monetary_value
            Mean value of the repeat purchases.
        weights
            Optional count of customers each row stands for.
        penalizer_coef
            L2 penalty on the parameters.
        maxiter
            Iteration cap per start.
        progress
            Progress callback.

        Returns
        -------
        GammaGamma
            The fitted model.

        Raises
        ------
        ValidationError
            When no customer has a repeat purchase or a repeat buyer has non-positive spend.
        ConvergenceError
            When the fit does not converge.
        """
        x, m = spend_arrays(summary, frequency, monetary_value)
        w = weights_array(weights, x.size)
        keep = x > 0
        bad = keep & (m <= 0)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise ValidationError(
                "customers with repeat purchases need a positive monetary_value",
                field="monetary_value",
                row=row,
                value=float(m[row]),
            )
        if not keep.any():
            raise ValidationError("no customer has a repeat purchase; nothing to fit", field="frequency")
        packed = compress((x[keep], m[keep]), w[keep])
        mean_m = float(packed.weights @ packed.columns[1]) / float(packed.weights.sum())
        starts = [np.array([1.0, 1.0, mean_m]), np.array([2.0, 3.0, mean_m]), np.array([5.0, 2.0, 1.0])]
        theta, info = fit_mle(
            cls.spec,
            (*packed.columns, np.log(packed.columns[1])),
            packed.weights,
            starts,
            penalizer_coef=penalizer_coef,
            maxiter=maxiter,
            progress=progress,
        )
        return cls(params=GammaGammaParams.from_array(theta), fit_info=info)

    def expected_average_spend(
        self, summary: Any = None, *, frequency: Any = None, monetary_value: Any = None
    ) -> FloatArray:
        """Expected spend per future transaction given each history (Fader & Hardie 2013 eq. 5).

        ``E[M | p, q, v, m, x] = (p (v + x m)) / (p x + q - 1)``: a weighted mean of the population
        mean ``p v / (q - 1)`` and the customer's observed mean. Customers with no repeat purchase get
        the population mean.

        Raises
        ------
        ValidationError
            When ``q <= 1`` (the population mean spend is infinite).
        """
        p, q, v = self.params.to_array()
        if q <= 1:
            raise ValidationError("q <= 1: the Gamma-Gamma mean spend is infinite", field="q", value=q)
        x, m = spend_arrays(summary, frequency, monetary_value)
        m = np.where(x > 0, m, 0.0)
        return np.asarray(p * (v + x * m) / (p * x + q - 1), dtype=np.float64)

    @property
    def population_mean_spend(self) -> float:
        """Mean spend per transaction across customers, ``p v / (q - 1)``."""
        p, q, v = self.params.to_array()
        return float(p * v / (q - 1)) if q > 1 else float("inf")

    @classmethod
    def simulate(
        cls,
        params: GammaGammaParams,
        frequency: Any,
        *,
        seed: int | np.random.Generator | None = None,
    ) -> FloatArray:
        """Simulate each customer's mean spend over ``frequency`` transactions (0 where frequency is 0)."""
        rng = np.random.default_rng(seed)
        x = np.asarray(frequency, dtype=np.float64)
        nu = rng.gamma(params.q, 1.0 / params.v, x.size)
        # the mean of x Gamma(p, nu) draws is Gamma(p x, nu x)
        total = rng.gamma(np.maximum(params.p * x, 1e-300), 1.0)
        return np.where(x > 0, total / np.maximum(nu * x, 1e-300), 0.0)
