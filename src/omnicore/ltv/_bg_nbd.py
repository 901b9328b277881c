"""BG/NBD: the beta-geometric / negative binomial distribution model (Fader, Hardie & Lee 2005)."""

from __future__ import annotations

from typing import Any, ClassVar

import attrs
import numpy as np
import numpy.typing as npt
from scipy import special

from omnicore._progress import Progress, null_progress
from omnicore.ltv._base import FittedModel, Params, as_time, positive
from omnicore.ltv._fitting import Columns, FitInfo, ModelSpec, fit_mle
from omnicore.ltv._inputs import compress, distinct_rows, rfm_arrays, to_period, weights_array
from omnicore.ltv._kernels import bg_scores
from omnicore.ltv._special import betaln, by_value, digamma, gammaln, hyp2f1
from omnicore.summary import Period

__all__ = ["BetaGeo", "BetaGeoFamily", "BetaGeoParams"]

FloatArray = npt.NDArray[np.float64]


@attrs.frozen
class BetaGeoParams(Params):
    """BG/NBD parameters: purchase rates ``lambda ~ Gamma(r, alpha)``, dropout ``p ~ Beta(a, b)``."""

    r: float = positive()
    alpha: float = positive()
    a: float = positive()
    b: float = positive()


def _family_loglik(
    theta: FloatArray, columns: Columns, grad: bool, k: int
) -> tuple[FloatArray, FloatArray | None]:
    """BG/NBD (k=0, FHL 2005 eq. 6) and MBG/NBD (k=1, Batislam et al. 2007) log-likelihood.

    ``k`` is 1 when a customer may also drop out right after the first purchase. In log space, with
    the analytic gradient.
    """
    r, alpha, a, b = theta
    x, t_x, T = columns
    # count-only terms once per distinct x
    ux, ix = by_value(x)
    uboth = (ux + k) > 0
    uxk = np.where(uboth, ux + k, 1.0)  # keeps b + x + k - 1 > 0 in the masked branch
    both = uboth[ix]
    log_aT = np.log(alpha + T)
    log_atx = np.log(alpha + t_x)
    rx = r + x
    c1 = betaln(a, b + ux + k)[ix] - rx * log_aT
    c2 = np.where(both, betaln(a + 1, b + uxk - 1)[ix] - rx * log_atx, -np.inf)
    lse = np.logaddexp(c1, c2)
    ll = (gammaln(r + ux) - gammaln(r))[ix] + r * np.log(alpha) - betaln(a, b) + lse
    if not grad:
        return ll, None
    w1 = np.exp(c1 - lse)
    w2 = np.exp(c2 - lse)
    psi_abx = digamma(a + b + ux + k)
    g = np.empty((4, x.size))
    g[0] = (digamma(r + ux) - digamma(r))[ix] + np.log(alpha) - w1 * log_aT - w2 * log_atx
    g[1] = r / alpha - w1 * rx / (alpha + T) - w2 * rx / (alpha + t_x)
    g[2] = (
        -(digamma(a) - digamma(a + b)) + w1 * (digamma(a) - psi_abx)[ix] + w2 * (digamma(a + 1) - psi_abx)[ix]
    )
    g[3] = (
        -(digamma(b) - digamma(a + b))
        + w1 * (digamma(b + ux + k) - psi_abx)[ix]
        + w2 * (digamma(b + uxk - 1) - psi_abx)[ix]
    )
    return ll, g


def _loglik(theta: FloatArray, columns: Columns, grad: bool) -> tuple[FloatArray, FloatArray | None]:
    return _family_loglik(theta, columns, grad, 0)


def _starts(x: FloatArray, T: FloatArray, w: FloatArray) -> list[FloatArray]:
    rate = max(float(w @ x) / float(w @ T), 1e-8)
    return [
        np.array([1.0, 1.0 / rate, 1.0, 1.0]),
        np.array([0.5, 0.5 / rate, 0.7, 2.5]),
        np.array([1.0, float(T.max()) / 10.0, 1.0, 1.0]),
    ]


class BetaGeoFamily(FittedModel):
    """Shared predictions of BG/NBD (``_k = 0``) and MBG/NBD (``_k = 1``).

    ``_k`` is 1 when a customer may drop out right after the first purchase as well.
    """

    _k: ClassVar[int] = 0
    params: BetaGeoParams

    @classmethod
    def _fit_arrays(
        cls,
        summary: Any,
        frequency: Any,
        recency: Any,
        T: Any,
        weights: Any,
        penalizer_coef: float,
        period: Period | str | None,
        starts: list[BetaGeoParams] | None,
        maxiter: int,
        progress: Progress,
    ) -> tuple[BetaGeoParams, FitInfo, Period | None]:
        data = rfm_arrays(summary, frequency, recency, T, period=period)
        w = weights_array(weights, data.frequency.size)
        packed = compress((data.frequency, data.recency, data.T), w)
        x, _, big_t = packed.columns
        start_list = [s.to_array() for s in starts] if starts else _starts(x, big_t, packed.weights)
        theta, info = fit_mle(
            cls.spec,
            packed.columns,
            packed.weights,
            start_list,
            penalizer_coef=penalizer_coef,
            maxiter=maxiter,
            progress=progress,
        )
        return BetaGeoParams.from_array(theta), info, data.period

    def expected_purchases_new_customer(self, t: Any) -> FloatArray:
        """Expected number of repeat purchases in (0, t] of a newly acquired customer.

        BG/NBD: FHL (2005) eq. 9; MBG/NBD: Batislam et al. (2007) eq. 8. The Gaussian hypergeometric
        factor is evaluated after Euler's transformation, which stays finite for long horizons.

        Parameters
        ----------
        t
            Time(s), in the model's period.

        Returns
        -------
        numpy.ndarray
            ``E[X(t)]``.
        """
        r, alpha, a, b = self.params.to_array()
        k = self._k
        t = as_time(t)
        z = t / (alpha + t)
        # (alpha/(alpha+t))^r 2F1(r, b+k; a+b+k-1; z) = (1-z)^(a-1) 2F1(a+b+k-1-r, a-1; a+b+k-1; z)
        tail = (1 - z) ** (a - 1) * hyp2f1(a + b + k - 1 - r, a - 1, a + b + k - 1, z)
        # E[(1-p)^k / p] under Beta(a, b)
        lead = (a + b - 1) / (a - 1) if k == 0 else b / (a - 1)
        return np.asarray(lead * (1 - tail), dtype=np.float64)

    def p_alive(
        self, summary: Any = None, *, frequency: Any = None, recency: Any = None, T: Any = None
    ) -> FloatArray:
        """Probability that each customer is still alive at T.

        BG/NBD: Fader, Hardie & Lee (2005) eq. 11 context / Fader, Hardie & Lee (2008) note;
        MBG/NBD: Batislam et al. (2007).

        Parameters
        ----------
        summary
            A ``CustomerSummary`` (or pass the three arrays).
        frequency, recency, T
            Per-customer history.

        Returns
        -------
        numpy.ndarray
            ``P(alive | x, t_x, T)`` per customer.
        """
        d = self._data(summary, frequency, recency, T)
        r, alpha, a, b = (float(v) for v in self.params.to_array())
        no_head = np.zeros(0, dtype=np.float64)
        no_index = np.zeros(0, dtype=np.intp)
        return bg_scores(d.frequency, d.recency, d.T, r, alpha, a, b, self._k, no_head, no_index)

    def expected_purchases(
        self,
        t: Any,
        summary: Any = None,
        *,
        frequency: Any = None,
        recency: Any = None,
        T: Any = None,
    ) -> FloatArray:
        """Expected repeat purchases in the next ``t`` periods given each customer's history.

        BG/NBD: FHL (2005) eq. 10; MBG/NBD: Batislam et al. (2007) eq. 10.

        Parameters
        ----------
        t
            Horizon in the model's period (scalar or per customer).
        summary, frequency, recency, T
            The customers' histories (a ``CustomerSummary`` or arrays).

        Returns
        -------
        numpy.ndarray
            ``E[Y(t) | x, t_x, T]`` per customer.
        """
        d = self._data(summary, frequency, recency, T)
        horizon = as_time(t)
        if horizon.ndim == 0:
            # the hypergeometric part once per distinct (x, T), P(alive) per customer in one pass
            (x, big_t), inverse = distinct_rows((d.frequency, d.T))
            theta = self.params.to_array()
            head = _expected_if_alive(theta, horizon, x, big_t, self._k)
            r, alpha, a, b = (float(v) for v in theta)
            return bg_scores(d.frequency, d.recency, d.T, r, alpha, a, b, self._k, head, inverse)
        return _conditional_expected(self.params.to_array(), horizon, d.frequency, d.recency, d.T, self._k)

    def probability_of_purchases(self, n: Any, t: Any) -> FloatArray:
        """``P(X(t) = n)``: probability of ``n`` repeat purchases in (0, t] for a new customer.

        BG/NBD: FHL (2005) eq. 8.

        Parameters
        ----------
        n
            Number(s) of purchases.
        t
            Time(s), in the model's period.

        Returns
        -------
        numpy.ndarray
            Probabilities, broadcast over ``n`` and ``t``.
        """
        r, alpha, a, b = self.params.to_array()
        k = self._k
        n = np.asarray(n, dtype=np.float64)
        t = as_time(t)
        q = t / (alpha + t)
        with np.errstate(divide="ignore"):
            log_nb = gammaln(r + n) - gammaln(r) - gammaln(n + 1) + r * np.log1p(-q) + special.xlogy(n, q)
        first = np.exp(betaln(a, b + n + k) - betaln(a, b) + log_nb)
        nk = np.maximum(n + k, 1.0)
        # P(N(t) >= n) for the NBD count: the regularised incomplete beta I_q(n, r) (1 when n = 0)
        tail = np.where(n > 0, special.betainc(np.maximum(n, 1.0), r, q), 1.0)
        second = np.where(n + k > 0, np.exp(betaln(a + 1, b + nk - 1) - betaln(a, b)) * tail, 0.0)
        return np.asarray(first + second, dtype=np.float64)

    @classmethod
    def simulate(
        cls,
        params: BetaGeoParams,
        T: Any,
        *,
        seed: int | np.random.Generator | None = None,
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Simulate ``(frequency, recency, T)`` for customers of ages ``T`` from the model's process.

        Parameters
        ----------
        params
            The parameters to simulate from.
        T
            Customer ages at the end of observation.
        seed
            Random seed or generator.

        Returns
        -------
        tuple of numpy.ndarray
            ``(frequency, recency, T)``.

        Examples
        --------
        >>> x, t_x, T = BetaGeo.simulate(BetaGeoParams(0.25, 4.0, 0.8, 2.5), np.full(5, 39.0), seed=1)
        >>> bool(np.all(t_x <= T))
        True
        """
        rng = np.random.default_rng(seed)
        big_t = np.asarray(T, dtype=np.float64)
        n = big_t.size
        lam = rng.gamma(params.r, 1.0 / params.alpha, n)
        p = rng.beta(params.a, params.b, n)
        arrivals = rng.poisson(lam * big_t)
        # repeat purchases before dropout: BG drops after the j-th repeat purchase (j >= 1) with
        # probability p; MBG may also drop right after the first purchase (j >= 0)
        limit = rng.geometric(np.clip(p, 1e-300, 1.0)) - cls._k
        x = np.minimum(arrivals, limit)
        # the x-th of N uniform arrival times on (0, T) is T * Beta(x, N - x + 1)
        xs = np.maximum(x, 1)
        t_x = np.where(x > 0, big_t * rng.beta(xs, np.maximum(arrivals - xs + 1, 1)), 0.0)
        return x.astype(np.float64), t_x, big_t.copy()


@attrs.frozen(kw_only=True)
class BetaGeo(BetaGeoFamily):
    """A fitted BG/NBD model (Fader, Hardie & Lee 2005).

    While alive a customer buys as a Poisson process with rate ``lambda ~ Gamma(r, alpha)``; after
    each repeat purchase they drop out with probability ``p ~ Beta(a, b)``.

    Attributes
    ----------
    params
        :class:`BetaGeoParams` ``(r, alpha, a, b)``; ``alpha`` is in the model's time unit.
    fit_info
        Fit diagnostics (``None`` for a model built with :meth:`from_params`).
    period
        Time unit of ``recency``/``T`` the model was fitted in ("D", "W", ...), or ``None``.

    References
    ----------
    .. [1] Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005). "Counting Your Customers" the Easy
       Way: An Alternative to the Pareto/NBD Model. Marketing Science 24(2), 275-284.
       https://doi.org/10.1287/mksc.1040.0098
    """

    spec: ClassVar[ModelSpec] = ModelSpec(
        name="BetaGeo", param_names=("r", "alpha", "a", "b"), loglik=_loglik
    )
    _k: ClassVar[int] = 0

    params: BetaGeoParams
    fit_info: FitInfo | None = None
    period: Period | None = attrs.field(default=None, converter=to_period)

    @classmethod
    def from_params(
        cls, *, r: float, alpha: float, a: float, b: float, period: Period | str | None = None
    ) -> BetaGeo:
        """A model with given parameters (no fit), e.g. the published CDNOW estimates.

        Parameters
        ----------
        r, alpha, a, b
            BG/NBD parameters.
        period
            Time unit the parameters are expressed in.

        Returns
        -------
        BetaGeo
            The model.

        Examples
        --------
        >>> m = BetaGeo.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426, period="W")
        >>> m.p_alive(frequency=[0, 2], recency=[0, 30.43], T=[38.86, 38.86]).round(3)
        array([1.   , 0.727])
        """
        return cls(params=BetaGeoParams(r, alpha, a, b), period=period)

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
        starts: list[BetaGeoParams] | None = None,
        maxiter: int = 1000,
        progress: Progress = null_progress,
    ) -> BetaGeo:
        """Fit the BG/NBD model by maximum likelihood.

        Customers are compressed to distinct ``(frequency, recency, T)`` rows with weights first, so
        the cost grows with the number of distinct rows rather than customers.

        Parameters
        ----------
        summary
            A ``CustomerSummary`` (its ``frequency``, ``recency``, ``T`` and ``period`` are used).
        frequency, recency, T
            Per-customer arrays instead of a summary: repeat purchases, time of the last purchase
            since the first, and age at the end of observation.
        weights
            Optional count of customers each row stands for.
        penalizer_coef
            L2 penalty on the parameters, as lifetimes' ``penalizer_coef``.
        period
            Time unit of the arrays ("D", "W", "M"); taken from the summary when given.
        starts
            Starting points to try instead of the defaults.
        maxiter
            Iteration cap per start.
        progress
            Progress callback.

        Returns
        -------
        BetaGeo
            The fitted model.

        Raises
        ------
        ValidationError
            On invalid input (names the field, row and value).
        ConvergenceError
            When no start converges; the message says what to try.

        Examples
        --------
        >>> import numpy as np
        >>> x, t_x, T = BetaGeo.simulate(BetaGeoParams(0.25, 4.0, 0.8, 2.5), np.full(2000, 39.0), seed=1)
        >>> m = BetaGeo.fit(frequency=x, recency=t_x, T=T, period="W")
        >>> sorted(m.params.as_dict())
        ['a', 'alpha', 'b', 'r']
        """
        params, info, data_period = cls._fit_arrays(
            summary, frequency, recency, T, weights, penalizer_coef, period, starts, maxiter, progress
        )
        return cls(params=params, fit_info=info, period=data_period)


def _log_odds_dead(theta: FloatArray, x: FloatArray, t_x: FloatArray, T: FloatArray, k: int) -> FloatArray:
    r, alpha, a, b = theta
    xk = np.maximum(x + k, 1.0)
    return np.where(
        x + k > 0,
        np.log(a) - np.log(b + xk - 1) + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x)),
        -np.inf,
    )


def _p_alive(theta: FloatArray, x: FloatArray, t_x: FloatArray, T: FloatArray, k: int) -> FloatArray:
    return np.asarray(special.expit(-_log_odds_dead(theta, x, t_x, T, k)), dtype=np.float64)


def _expected_if_alive(theta: FloatArray, t: FloatArray, x: FloatArray, T: FloatArray, k: int) -> FloatArray:
    """``E[Y(t) | x, t_x, T] / P(alive | x, t_x, T)``: depends on ``x`` and ``T`` only."""
    r, alpha, a, b = theta
    z = t / (alpha + T + t)
    # ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x+k; a+b+x+k-1; z) by Euler's transformation:
    # (1-z)^(a-1) 2F1(a+b+k-1-r, a-1; a+b+x+k-1; z), well conditioned for large x.
    tail = (1 - z) ** (a - 1) * hyp2f1(a + b + k - 1 - r, a - 1, a + b + x + k - 1, z)
    return np.asarray((a + b + x + k - 1) / (a - 1) * (1 - tail), dtype=np.float64)


def _conditional_expected(
    theta: FloatArray, t: FloatArray, x: FloatArray, t_x: FloatArray, T: FloatArray, k: int
) -> FloatArray:
    head = _expected_if_alive(theta, t, x, T, k)
    return np.asarray(head * _p_alive(theta, x, t_x, T, k), dtype=np.float64)
