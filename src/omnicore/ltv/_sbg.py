"""Shifted-beta-geometric retention for contractual / subscription settings (Fader & Hardie 2007)."""

from __future__ import annotations

from typing import Any, ClassVar

import attrs
import numpy as np
import numpy.typing as npt
from scipy import special

from omnicore._errors import ValidationError
from omnicore._progress import Progress, null_progress
from omnicore.ltv._base import FittedModel, Params, positive
from omnicore.ltv._fitting import Columns, FitInfo, ModelSpec, fit_mle
from omnicore.ltv._inputs import compress, weights_array
from omnicore.ltv._special import betaln, digamma

__all__ = ["ShiftedBetaGeometric", "ShiftedBetaGeometricParams"]

FloatArray = npt.NDArray[np.float64]


@attrs.frozen
class ShiftedBetaGeometricParams(Params):
    """sBG parameters: per-period churn probability ``theta ~ Beta(alpha, beta)``."""

    alpha: float = positive()
    beta: float = positive()


def _loglik(theta: FloatArray, columns: Columns, grad: bool) -> tuple[FloatArray, FloatArray | None]:
    """sBG log-likelihood: ``P(T = t)`` for churned customers, ``S(t)`` for active ones (F&H 2007)."""
    alpha, beta = theta
    t, churned = columns
    is_churn = churned > 0
    log_b0 = betaln(alpha, beta)
    ll = np.where(is_churn, betaln(alpha + 1, beta + t - 1), betaln(alpha, beta + t)) - log_b0
    if not grad:
        return ll, None
    psi_ab = digamma(alpha + beta)
    g = np.empty((2, t.size))
    g[0] = (
        np.where(is_churn, digamma(alpha + 1), digamma(alpha))
        - digamma(alpha + beta + t)
        - (digamma(alpha) - psi_ab)
    )
    g[1] = (
        np.where(is_churn, digamma(beta + t - 1), digamma(beta + t))
        - digamma(alpha + beta + t)
        - (digamma(beta) - psi_ab)
    )
    return ll, g


@attrs.frozen(kw_only=True)
class ShiftedBetaGeometric(FittedModel):
    """A fitted shifted-beta-geometric (sBG) retention model (Fader & Hardie 2007).

    Each customer churns at the end of every period with probability ``theta ~ Beta(alpha, beta)``,
    so the lifetime ``T`` (in periods, >= 1) is shifted-geometric given theta.

    Attributes
    ----------
    params
        :class:`ShiftedBetaGeometricParams` ``(alpha, beta)``.
    fit_info
        Fit diagnostics.
    period
        Length of one contract period (e.g. "M").

    References
    ----------
    .. [1] Fader, P. S. and Hardie, B. G. S. (2007). How to Project Customer Retention. Journal of
       Interactive Marketing 21(1), 76-90. https://doi.org/10.1002/dir.20074
    .. [2] Fader, P. S. and Hardie, B. G. S. (2010). Customer-Base Valuation in a Contractual
       Setting: The Perils of Ignoring Heterogeneity. Marketing Science 29(1), 85-93.
    """

    spec: ClassVar[ModelSpec] = ModelSpec(
        name="ShiftedBetaGeometric", param_names=("alpha", "beta"), loglik=_loglik
    )

    params: ShiftedBetaGeometricParams
    fit_info: FitInfo | None = None
    period: str | None = None

    @classmethod
    def from_params(cls, *, alpha: float, beta: float, period: str | None = None) -> ShiftedBetaGeometric:
        """A model with given parameters (no fit).

        Examples
        --------
        >>> m = ShiftedBetaGeometric.from_params(alpha=0.704, beta=1.182)
        >>> m.survival([1, 2, 3]).round(3)
        array([0.627, 0.474, 0.388])
        """
        return cls(params=ShiftedBetaGeometricParams(alpha, beta), period=period)

    @classmethod
    def fit(
        cls,
        *,
        lifetime: Any,
        churned: Any,
        weights: Any = None,
        penalizer_coef: float = 0.0,
        period: str | None = None,
        maxiter: int = 1000,
        progress: Progress = null_progress,
    ) -> ShiftedBetaGeometric:
        """Fit the sBG model by maximum likelihood.

        Parameters
        ----------
        lifetime
            Per customer: the period in which they churned (``t >= 1``) or, if still active, the
            number of periods observed so far.
        churned
            Per customer: ``True`` if they churned (``lifetime`` is their ``T``), else right-censored.
        weights
            Optional count of customers each row stands for.
        penalizer_coef
            L2 penalty on the parameters.
        period
            Length of one period ("M", "W", ...).
        maxiter
            Iteration cap per start.
        progress
            Progress callback.

        Returns
        -------
        ShiftedBetaGeometric
            The fitted model.

        Raises
        ------
        ValidationError
            On invalid input.
        ConvergenceError
            When the fit does not converge.
        """
        t = np.asarray(lifetime, dtype=np.float64).reshape(-1)
        c = np.asarray(churned).reshape(-1)
        if c.size != t.size:
            raise ValidationError(f"expected {t.size} values like lifetime", field="churned", value=c.size)
        if c.dtype.kind not in "biu" or not np.isin(c, (0, 1)).all():
            raise ValidationError("churned must be booleans", field="churned")
        bad = ~np.isfinite(t) | (t != np.round(t)) | (t < 0) | ((t < 1) & (c > 0))
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise ValidationError(
                "lifetime must be a whole number of periods (>= 1 for churned customers)",
                field="lifetime",
                row=row,
                value=float(t[row]),
            )
        w = weights_array(weights, t.size)
        packed = compress((t, c.astype(np.float64)), w)
        theta, info = fit_mle(
            cls.spec,
            packed.columns,
            packed.weights,
            [np.array([1.0, 1.0]), np.array([0.5, 2.0]), np.array([2.0, 5.0])],
            penalizer_coef=penalizer_coef,
            maxiter=maxiter,
            progress=progress,
        )
        return cls(params=ShiftedBetaGeometricParams.from_array(theta), fit_info=info, period=period)

    @classmethod
    def fit_survivors(cls, survivors: Any, *, period: str | None = None) -> ShiftedBetaGeometric:
        """Fit from a cohort's survivor counts ``[n_0, n_1, ..., n_k]`` at the start of each period.

        Examples
        --------
        >>> m = ShiftedBetaGeometric.fit_survivors([1000, 631, 468, 382, 326, 289, 262, 241])
        >>> round(m.params.alpha, 2), round(m.params.beta, 2)
        (0.7, 1.18)
        """
        n = np.asarray(survivors, dtype=np.float64).reshape(-1)
        if n.size < 2 or (np.diff(n) > 0).any() or (n < 0).any():
            raise ValidationError("survivors must be a non-increasing sequence of counts", field="survivors")
        k = n.size - 1
        lifetime = np.concatenate([np.arange(1, k + 1, dtype=np.float64), [float(k)]])
        churned = np.concatenate([np.ones(k, dtype=bool), [False]])
        weights = np.concatenate([n[:-1] - n[1:], [n[-1]]])
        return cls.fit(lifetime=lifetime, churned=churned, weights=weights, period=period)

    def survival(self, t: Any) -> FloatArray:
        """``S(t) = B(alpha, beta + t) / B(alpha, beta)``: share of a cohort still active after t periods."""
        alpha, beta = self.params.to_array()
        t = np.asarray(t, dtype=np.float64)
        return np.asarray(np.exp(betaln(alpha, beta + t) - betaln(alpha, beta)), dtype=np.float64)

    def churn_probability(self, t: Any) -> FloatArray:
        """``P(T = t) = B(alpha + 1, beta + t - 1) / B(alpha, beta)`` for ``t >= 1``."""
        alpha, beta = self.params.to_array()
        t = np.asarray(t, dtype=np.float64)
        return np.asarray(np.exp(betaln(alpha + 1, beta + t - 1) - betaln(alpha, beta)), dtype=np.float64)

    def retention_rate(self, t: Any) -> FloatArray:
        """Retention rate ``r(t) = (beta + t - 1) / (alpha + beta + t - 1)``: rises with tenure."""
        alpha, beta = self.params.to_array()
        t = np.asarray(t, dtype=np.float64)
        return np.asarray((beta + t - 1) / (alpha + beta + t - 1), dtype=np.float64)

    def discounted_expected_lifetime(self, discount_rate: float) -> float:
        """DEL of a new customer in periods: ``2F1(1, beta; alpha + beta; 1 / (1 + d))`` (F&H 2010 eq. 4)."""
        alpha, beta = self.params.to_array()
        return float(special.hyp2f1(1.0, beta, alpha + beta, 1.0 / (1.0 + discount_rate)))

    def discounted_expected_residual_lifetime(self, discount_rate: float, renewals: Any) -> FloatArray:
        """DERL of an active customer who has made ``renewals`` renewals (F&H 2010 eq. 6).

        ``DERL = (beta + n - 1) / (alpha + beta + n - 1) * 2F1(1, beta + n; alpha + beta + n; 1/(1+d))``
        with ``n = renewals + 1``: expected discounted number of future payments, the renewal about to
        be paid undiscounted.
        """
        alpha, beta = self.params.to_array()
        n = np.asarray(renewals, dtype=np.float64) + 1.0
        value = (
            (beta + n - 1)
            / (alpha + beta + n - 1)
            * special.hyp2f1(1.0, beta + n, alpha + beta + n, 1.0 / (1.0 + discount_rate))
        )
        return np.asarray(value, dtype=np.float64)
