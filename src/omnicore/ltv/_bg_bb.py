"""BG/BB: beta-geometric / beta-Bernoulli for discrete-time opportunities (Fader, Hardie & Shang 2010)."""

from __future__ import annotations

from typing import Any, ClassVar

import attrs
import numpy as np
import numpy.typing as npt
from scipy import special

from omnicore._errors import ValidationError
from omnicore._progress import Progress, null_progress
from omnicore.ltv._base import FittedModel, Params, as_time, positive
from omnicore.ltv._fitting import Columns, FitInfo, ModelSpec, fit_mle
from omnicore.ltv._inputs import RFMArrays, compress, rfm_arrays, to_period, weights_array
from omnicore.ltv._special import betaln, digamma, gammaln
from omnicore.summary import Period

__all__ = ["BetaGeoBetaBinom", "BetaGeoBetaBinomParams"]

FloatArray = npt.NDArray[np.float64]


@attrs.frozen
class BetaGeoBetaBinomParams(Params):
    """BG/BB parameters: transaction probability ``p ~ Beta(alpha, beta)``, dropout probability
    ``theta ~ Beta(gamma, delta)``."""

    alpha: float = positive()
    beta: float = positive()
    gamma: float = positive()
    delta: float = positive()


def _terms(theta: FloatArray, x: FloatArray, t_x: FloatArray, n: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Log of the terms of FHS (2010) eq. 5 (first row: alive through n) and the term index i."""
    alpha, beta, gamma, delta = theta
    width = int(np.max(n - t_x)) if n.size else 0
    i = np.arange(width, dtype=np.float64)[:, None]
    valid = i < (n - t_x)[None, :]
    safe_i = np.where(valid, i, 0.0)
    body = betaln(alpha + x, beta + t_x - x + safe_i) + betaln(gamma + 1, delta + t_x + safe_i)
    body = np.where(valid, body, -np.inf)
    first = betaln(alpha + x, beta + n - x) + betaln(gamma, delta + n)
    return np.concatenate([first[None, :], body], axis=0), safe_i


def _loglik(theta: FloatArray, columns: Columns, grad: bool) -> tuple[FloatArray, FloatArray | None]:
    """BG/BB individual log-likelihood (FHS 2010 eq. 5), log-sum-exp over its terms, with gradient."""
    alpha, beta, gamma, delta = theta
    x, t_x, n = columns
    terms, i = _terms(theta, x, t_x, n)
    lse = special.logsumexp(terms, axis=0)
    ll = lse - betaln(alpha, beta) - betaln(gamma, delta)
    if not grad:
        return ll, None
    weight = np.exp(terms - lse)  # (1 + width, n)
    w0, wi = weight[0], weight[1:]
    g = np.empty((4, x.size))
    psi_x = digamma(alpha + x)
    g[0] = (
        w0 * (psi_x - digamma(alpha + beta + n))
        + (wi * (psi_x - digamma(alpha + beta + t_x + i))).sum(axis=0)
        - (digamma(alpha) - digamma(alpha + beta))
    )
    g[1] = (
        w0 * (digamma(beta + n - x) - digamma(alpha + beta + n))
        + (wi * (digamma(beta + t_x - x + i) - digamma(alpha + beta + t_x + i))).sum(axis=0)
        - (digamma(beta) - digamma(alpha + beta))
    )
    g[2] = (
        w0 * (digamma(gamma) - digamma(gamma + delta + n))
        + (wi * (digamma(gamma + 1) - digamma(gamma + delta + t_x + i + 1))).sum(axis=0)
        - (digamma(gamma) - digamma(gamma + delta))
    )
    g[3] = (
        w0 * (digamma(delta + n) - digamma(gamma + delta + n))
        + (wi * (digamma(delta + t_x + i) - digamma(gamma + delta + t_x + i + 1))).sum(axis=0)
        - (digamma(delta) - digamma(gamma + delta))
    )
    return ll, g


def _validate(data: RFMArrays) -> None:
    x, t_x = data.frequency, data.recency
    bad = t_x != np.round(t_x)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValidationError(
            "recency is the opportunity of the last transaction and must be whole",
            field="recency",
            row=row,
            value=float(t_x[row]),
        )
    bad = x > t_x
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValidationError(
            "frequency cannot exceed recency (transactions happen at opportunities 1..recency)",
            field="frequency",
            row=row,
            value=float(x[row]),
        )


@attrs.frozen(kw_only=True)
class BetaGeoBetaBinom(FittedModel):
    """A fitted BG/BB model for discrete-time (opportunity) data (Fader, Hardie & Shang 2010).

    At each of ``n`` opportunities an alive customer transacts with probability
    ``p ~ Beta(alpha, beta)`` and then may die with probability ``theta ~ Beta(gamma, delta)``.
    ``frequency`` counts transactions, ``recency`` is the opportunity of the last one and ``T`` the
    number of opportunities ``n``.

    Attributes
    ----------
    params
        :class:`BetaGeoBetaBinomParams` ``(alpha, beta, gamma, delta)``.
    fit_info
        Fit diagnostics (``None`` for a model built with :meth:`from_params`).
    period
        Time unit of one opportunity, if any.

    References
    ----------
    .. [1] Fader, P. S., Hardie, B. G. S. and Shang, J. (2010). Customer-Base Analysis in a
       Discrete-Time Noncontractual Setting. Marketing Science 29(6), 1086-1108.
       https://doi.org/10.1287/mksc.1100.0580
    """

    spec: ClassVar[ModelSpec] = ModelSpec(
        name="BetaGeoBetaBinom", param_names=("alpha", "beta", "gamma", "delta"), loglik=_loglik
    )

    params: BetaGeoBetaBinomParams
    fit_info: FitInfo | None = None
    period: Period | None = attrs.field(default=None, converter=to_period)

    @classmethod
    def from_params(
        cls, *, alpha: float, beta: float, gamma: float, delta: float, period: Period | str | None = None
    ) -> BetaGeoBetaBinom:
        """A model with given parameters (no fit).

        Parameters
        ----------
        alpha, beta, gamma, delta
            BG/BB parameters.
        period
            Time unit of one opportunity.

        Returns
        -------
        BetaGeoBetaBinom
            The model.

        Examples
        --------
        >>> m = BetaGeoBetaBinom.from_params(alpha=1.204, beta=0.750, gamma=0.657, delta=2.783)
        >>> round(float(m.expected_purchases_new_customer(6)), 3)
        2.22
        """
        return cls(params=BetaGeoBetaBinomParams(alpha, beta, gamma, delta), period=period)

    @classmethod
    def fit(
        cls,
        summary: Any = None,
        *,
        frequency: Any = None,
        recency: Any = None,
        T: Any = None,
        weights: Any = None,
        penalizer_coef: float = 0.0,
        period: Period | str | None = None,
        starts: list[BetaGeoBetaBinomParams] | None = None,
        maxiter: int = 1000,
        progress: Progress = null_progress,
    ) -> BetaGeoBetaBinom:
        """Fit the BG/BB model by maximum likelihood (compressed rows, analytic gradient).

        Parameters
        ----------
        summary
            A summary with ``frequency``, ``recency`` and ``T`` in whole opportunities.
        frequency, recency, T
            Transactions, opportunity of the last transaction (0 if none), number of opportunities.
        weights
            Optional count of customers each row stands for (e.g. the donations data's counts).
        penalizer_coef
            L2 penalty on the parameters.
        period
            Time unit of one opportunity.
        starts
            Starting points to try instead of the defaults.
        maxiter
            Iteration cap per start.
        progress
            Progress callback.

        Returns
        -------
        BetaGeoBetaBinom
            The fitted model.

        Raises
        ------
        ValidationError
            On invalid input (e.g. ``frequency > recency``, fractional opportunities).
        ConvergenceError
            When no start converges; the message says what to try.
        """
        data = rfm_arrays(summary, frequency, recency, T, period=period, integer_T=True)
        _validate(data)
        w = weights_array(weights, data.frequency.size)
        packed = compress((data.frequency, data.recency, data.T), w)
        start_list = (
            [s.to_array() for s in starts]
            if starts
            else [np.array([1.0, 1.0, 1.0, 1.0]), np.array([0.5, 0.5, 0.5, 2.0]), np.array([2, 1, 0.7, 3.0])]
        )
        theta, info = fit_mle(
            cls.spec,
            packed.columns,
            packed.weights,
            start_list,
            penalizer_coef=penalizer_coef,
            maxiter=maxiter,
            progress=progress,
        )
        return cls(params=BetaGeoBetaBinomParams.from_array(theta), fit_info=info, period=data.period)

    def _loglik_data(self, d: RFMArrays) -> FloatArray:
        return _loglik(self.params.to_array(), (d.frequency, d.recency, d.T), False)[0]

    def expected_purchases_new_customer(self, t: Any) -> FloatArray:
        """Expected transactions in the first ``t`` opportunities of a new customer (FHS 2010 eq. 7).

        Parameters
        ----------
        t
            Number(s) of opportunities.

        Returns
        -------
        numpy.ndarray
            ``E[X(t)]``.
        """
        alpha, beta, gamma, delta = self.params.to_array()
        n = as_time(t)
        log_ratio = (
            gammaln(gamma + delta) + gammaln(1 + delta + n) - gammaln(gamma + delta + n) - gammaln(1 + delta)
        )
        value = alpha / (alpha + beta) * delta / (gamma - 1) * (-np.expm1(log_ratio))
        return np.asarray(value, dtype=np.float64)

    def p_alive(
        self, summary: Any = None, *, frequency: Any = None, recency: Any = None, T: Any = None
    ) -> FloatArray:
        """Probability of being alive at opportunity ``n + 1`` given the history (FHS 2010 eq. 11).

        Returns
        -------
        numpy.ndarray
            ``P(alive at n+1 | x, t_x, n)`` per customer.
        """
        d = self._data(summary, frequency, recency, T, integer_T=True)
        _validate(d)
        alpha, beta, gamma, delta = self.params.to_array()
        x, n = d.frequency, d.T
        log_num = (
            betaln(alpha + x, beta + n - x)
            - betaln(alpha, beta)
            + betaln(gamma, delta + n + 1)
            - betaln(gamma, delta)
        )
        return np.asarray(np.exp(log_num - self._loglik_data(d)), dtype=np.float64)

    def expected_purchases(
        self,
        t: Any,
        summary: Any = None,
        *,
        frequency: Any = None,
        recency: Any = None,
        T: Any = None,
    ) -> FloatArray:
        """Expected transactions in the next ``t`` opportunities given the history (FHS 2010 eq. 13).

        Parameters
        ----------
        t
            Number(s) of future opportunities ``n*``.
        summary, frequency, recency, T
            The histories.

        Returns
        -------
        numpy.ndarray
            ``E[X(n, n + n*) | x, t_x, n]``.
        """
        d = self._data(summary, frequency, recency, T, integer_T=True)
        _validate(d)
        alpha, beta, gamma, delta = self.params.to_array()
        x, n = d.frequency, d.T
        n_star = as_time(t)
        g_now = gammaln(1 + delta + n) - gammaln(gamma + delta + n)
        g_later = gammaln(1 + delta + n + n_star) - gammaln(gamma + delta + n + n_star)
        bracket = np.exp(g_now) * (-np.expm1(g_later - g_now))
        log_lead = (
            betaln(alpha + x + 1, beta + n - x)
            - betaln(alpha, beta)
            + gammaln(gamma + delta)
            - gammaln(1 + delta)
            - betaln(gamma, delta)
            - self._loglik_data(d)
        )
        return np.asarray(np.exp(log_lead) * delta / (gamma - 1) * bracket, dtype=np.float64)

    def probability_of_purchases(self, x: Any, t: int) -> FloatArray:
        """``P(X(n) = x)`` for a new customer over ``n = t`` opportunities (FHS 2010 eq. 8).

        Examples
        --------
        >>> m = BetaGeoBetaBinom.from_params(alpha=1.204, beta=0.750, gamma=0.657, delta=2.783)
        >>> round(float(m.probability_of_purchases(np.arange(7), 6).sum()), 10)
        1.0
        """
        alpha, beta, gamma, delta = self.params.to_array()
        xs = np.asarray(x, dtype=np.float64)
        n = float(t)
        i = np.arange(int(n), dtype=np.float64)[:, None]
        log_choose_n = gammaln(n + 1) - gammaln(xs + 1) - gammaln(n - xs + 1)
        first = np.exp(
            log_choose_n
            + betaln(alpha + xs, beta + n - xs)
            - betaln(alpha, beta)
            + betaln(gamma, delta + n)
            - betaln(gamma, delta)
        )
        valid = i >= xs[None, ...]
        with np.errstate(invalid="ignore"):
            log_terms = (
                gammaln(i + 1)
                - gammaln(xs + 1)
                - gammaln(np.where(valid, i - xs, 0) + 1)
                + betaln(alpha + xs, beta + np.where(valid, i - xs, 0))
                - betaln(alpha, beta)
                + betaln(gamma + 1, delta + i)
                - betaln(gamma, delta)
            )
        body = np.where(valid, np.exp(log_terms), 0.0).sum(axis=0)
        return np.asarray(first + body, dtype=np.float64)

    @classmethod
    def simulate(
        cls,
        params: BetaGeoBetaBinomParams,
        T: Any,
        *,
        seed: int | np.random.Generator | None = None,
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Simulate ``(frequency, recency, n)`` over ``n = T`` opportunities per customer."""
        rng = np.random.default_rng(seed)
        n_opp = np.asarray(T, dtype=np.int64)
        size = n_opp.size
        p = rng.beta(params.alpha, params.beta, size)
        theta = rng.beta(params.gamma, params.delta, size)
        # alive for opportunities 1..L where L ~ 1 + Geometric: dies at the start of an opportunity
        # with probability theta (alive at opportunity 1 with probability 1 - theta)
        death = rng.geometric(np.clip(theta, 1e-300, 1.0))  # first opportunity at which dead
        x = np.zeros(size)
        t_x = np.zeros(size)
        for j in range(1, int(n_opp.max(initial=0)) + 1):
            alive = (j < death) & (j <= n_opp)
            buy = alive & (rng.random(size) < p)
            x += buy
            t_x = np.where(buy, j, t_x)
        return x, t_x, n_opp.astype(np.float64)
