"""Pareto/NBD (Schmittlein, Morrison & Colombo 1987), evaluated stably in log space."""

from __future__ import annotations

import itertools
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar

import attrs
import numpy as np
import numpy.typing as npt
from scipy import special

from omnicore._errors import ValidationError
from omnicore._progress import Progress, null_progress
from omnicore.ltv._base import FittedModel, Params, as_time, positive
from omnicore.ltv._fitting import Columns, FitInfo, ModelSpec, fit_mle
from omnicore.ltv._inputs import compress, distinct_rows, rfm_arrays, to_period, weights_array
from omnicore.ltv._kernels import pareto_log_integral, pareto_panel_sums, pareto_panels
from omnicore.ltv._special import digamma, gammaln
from omnicore.summary import Period

__all__ = ["ParetoNBD", "ParetoNBDParams"]

FloatArray = npt.NDArray[np.float64]

_NODES_A, _WEIGHTS_A = np.polynomial.legendre.leggauss(32)
_NODES_B, _WEIGHTS_B = np.polynomial.legendre.leggauss(48)
_W_MAX = 50.0
_KAPPA = 0.5
_NEWTON_STEPS = 30
#: Below this many rows the panel split is not worth planning.
_PANEL_MIN_ROWS = 64
#: Most panel terms a shared-panel sum may add per row (beyond it, row by row is cheaper).
_PANEL_WORK_PER_ROW = 16
#: From this many rows (or panels) the quadrature is split between two threads.
_THREAD_MIN_ROWS = 512


@attrs.frozen
class ParetoNBDParams(Params):
    """Pareto/NBD parameters: purchase rates ``lambda ~ Gamma(r, alpha)``, dropout rates
    ``mu ~ Gamma(s, beta)``."""

    r: float = positive()
    alpha: float = positive()
    s: float = positive()
    beta: float = positive()


def _log_integral(
    theta: FloatArray, x: FloatArray, t_x: FloatArray, T: FloatArray, grad: bool
) -> tuple[FloatArray, FloatArray | None]:
    """``log I`` with ``I = int_{t_x}^{T} (alpha+tau)^-(r+x) (beta+tau)^-(s+1) dtau`` and d log I / d theta.

    ``s/(r+s+x) * A_0`` of Fader & Hardie's (2005) note equals ``s * I``. The closed form needs the
    Gaussian hypergeometric function 2F1(r+s+x, s+1; r+s+x+1; z), which overflows or loses every digit
    for large x with z near 1, so ``I`` is integrated directly instead (:func:`_quadrature`).

    The integrand depends on a row only through ``x``. When many rows share their ``x`` and their
    endpoints (customers summarised in whole periods), each row's interval is cut at the endpoints of
    the other rows with the same ``x`` and ``I`` is summed over these shared panels, each integrated
    once by the same quadrature (:func:`~omnicore.ltv._kernels.pareto_panels`,
    :func:`~omnicore.ltv._kernels.pareto_panel_sums`): the same integral, to rounding (about 1e-13
    relative), at a fraction of the cost. Rows not sorted by ``(x, t_x, T)``, or sharing too few
    endpoints, are integrated row by row.
    """
    if x.size >= _PANEL_MIN_ROWS:
        ok, panel_x, panel_lo, panel_hi, first, end, work = pareto_panels(x, t_x, T)
        if ok and panel_x.size <= x.size // 2 and work <= _PANEL_WORK_PER_ROW * x.size:
            log_j, g_j = _quadrature(theta, panel_x, panel_lo, panel_hi, grad)
            log_i, g = pareto_panel_sums(log_j, g_j, first, end, x, t_x, grad)
            return log_i, (g if grad else None)
    log_i, g = _quadrature(theta, x, t_x, T, grad)
    return log_i, (g if grad else None)


def _quadrature(
    theta: FloatArray, x: FloatArray, t_x: FloatArray, T: FloatArray, grad: bool
) -> tuple[FloatArray, FloatArray]:
    """``log I`` (see :func:`_log_integral`) and its gradient (``(4, 0)`` unless ``grad``), row by row.

    In ``y = log(m + tau)`` (``m = min(alpha, beta)``) the log-integrand ``log_f(y)`` is concave with
    slope ``L'`` decreasing from ``L'(y_1)`` to ``-(r+s+x)``. Where ``L' > -1/2`` (a mild, slowly
    varying stretch) Gauss-Legendre runs on ``y``; where ``L' <= -1/2`` the substitution
    ``w = log_f(y_b) - log_f(y) = omega^2`` leaves ``exp(-w) / |L'(y(w))|`` on ``[0, min(W, 50)]``,
    smooth and bounded (``y(w)`` by Newton's method, which converges monotonically on this convex
    equation). Every sum is taken in log space, so no input overflows; the same nodes give the
    derivatives of the quadrature sum. Evaluated row by row by the compiled
    :func:`~omnicore.ltv._kernels.pareto_log_integral`.
    """
    r, alpha, s, beta = (float(v) for v in theta)

    def rows(part: slice) -> tuple[FloatArray, FloatArray]:
        return pareto_log_integral(
            r,
            alpha,
            s,
            beta,
            x[part],
            t_x[part],
            T[part],
            _NODES_A,
            _WEIGHTS_A,
            _NODES_B,
            _WEIGHTS_B,
            _KAPPA,
            _W_MAX,
            _NEWTON_STEPS,
            grad,
        )

    if x.size < _THREAD_MIN_ROWS:
        return rows(slice(None))
    # each row is integrated on its own: two threads (the kernel releases the GIL) take half each
    middle = x.size // 2
    with ThreadPoolExecutor(max_workers=1) as helper:
        second = helper.submit(rows, slice(middle, None))
        log_a, g_a = rows(slice(None, middle))
        log_b, g_b = second.result()
    return np.concatenate([log_a, log_b]), np.concatenate([g_a, g_b], axis=1)


def _parts(
    theta: FloatArray, x: FloatArray, t_x: FloatArray, T: FloatArray, grad: bool
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray | None]:
    r, alpha, s, beta = theta
    log_i, g_i = _log_integral(theta, x, t_x, T, grad)
    t1 = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
    t2 = np.log(s) + log_i
    return t1, t2, np.logaddexp(t1, t2), g_i


def _loglik(theta: FloatArray, columns: Columns, grad: bool) -> tuple[FloatArray, FloatArray | None]:
    """Pareto/NBD individual log-likelihood (Fader & Hardie 2005 note, eq. 19), with its gradient."""
    r, alpha, s, beta = theta
    x, t_x, T = columns
    t1, t2, lse, g_i = _parts(theta, x, t_x, T, grad)
    ll = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta) + lse
    if not grad or g_i is None:
        return ll, None
    w1 = np.exp(t1 - lse)
    w2 = np.exp(t2 - lse)
    g = np.empty((4, x.size))
    g[0] = digamma(r + x) - digamma(r) + np.log(alpha) - w1 * np.log(alpha + T) + w2 * g_i[0]
    g[1] = r / alpha - w1 * (r + x) / (alpha + T) + w2 * g_i[1]
    g[2] = np.log(beta) - w1 * np.log(beta + T) + w2 * (1.0 / s + g_i[2])
    g[3] = s / beta - w1 * s / (beta + T) + w2 * g_i[3]
    return ll, g


def _starts(x: FloatArray, T: FloatArray, w: FloatArray) -> list[FloatArray]:
    rate = max(float(w @ x) / float(w @ T), 1e-8)
    scale = float(w @ T) / float(w.sum())
    return [
        np.array([1.0, 1.0 / rate, 1.0, scale]),
        np.array([0.5, 0.5 / rate, 0.5, scale]),
        np.array([1.0, float(T.max()) / 10.0, 1.0, float(T.max()) / 10.0]),
    ]


@attrs.frozen(kw_only=True)
class ParetoNBD(FittedModel):
    """A fitted Pareto/NBD model (Schmittlein, Morrison & Colombo 1987).

    While alive a customer buys as a Poisson process with rate ``lambda ~ Gamma(r, alpha)``; the
    unobserved lifetime is exponential with rate ``mu ~ Gamma(s, beta)``.

    Attributes
    ----------
    params
        :class:`ParetoNBDParams` ``(r, alpha, s, beta)``.
    fit_info
        Fit diagnostics (``None`` for a model built with :meth:`from_params`).
    period
        Time unit of the data the model was fitted on.

    References
    ----------
    .. [1] Schmittlein, D. C., Morrison, D. G. and Colombo, R. (1987). Counting Your Customers: Who
       Are They and What Will They Do Next? Management Science 33(1), 1-24.
       https://doi.org/10.1287/mnsc.33.1.1
    .. [2] Fader, P. S. and Hardie, B. G. S. (2005). A Note on Deriving the Pareto/NBD Model and
       Related Expressions. http://brucehardie.com/notes/009/
    .. [3] Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005). RFM and CLV: Using Iso-Value Curves
       for Customer Base Analysis. Journal of Marketing Research 42(4), 415-430.
    """

    spec: ClassVar[ModelSpec] = ModelSpec(
        name="ParetoNBD", param_names=("r", "alpha", "s", "beta"), loglik=_loglik
    )

    params: ParetoNBDParams
    fit_info: FitInfo | None = None
    period: Period | None = attrs.field(default=None, converter=to_period)

    @classmethod
    def from_params(
        cls, *, r: float, alpha: float, s: float, beta: float, period: Period | str | None = None
    ) -> ParetoNBD:
        """A model with given parameters (no fit).

        Examples
        --------
        >>> m = ParetoNBD.from_params(r=0.553, alpha=10.578, s=0.606, beta=11.669, period="W")
        >>> round(float(m.expected_purchases_new_customer(39.0)), 3)
        1.213
        """
        return cls(params=ParetoNBDParams(r, alpha, s, beta), period=period)

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
        starts: list[ParetoNBDParams] | None = None,
        maxiter: int = 1000,
        progress: Progress = null_progress,
    ) -> ParetoNBD:
        """Fit the Pareto/NBD model by maximum likelihood (analytic gradient, compressed rows).

        Parameters
        ----------
        summary
            A ``CustomerSummary``, or pass ``frequency``, ``recency`` and ``T`` arrays.
        frequency, recency, T
            Repeat purchases, time of last purchase since the first, age at observation end.
        weights
            Optional count of customers each row stands for.
        penalizer_coef
            L2 penalty on the parameters (lifetimes' ``penalizer_coef``).
        period
            Time unit of the arrays; taken from the summary when given.
        starts
            Starting points to try instead of the defaults.
        maxiter
            Iteration cap per start.
        progress
            Progress callback.

        Returns
        -------
        ParetoNBD
            The fitted model.

        Raises
        ------
        ValidationError
            On invalid input.
        ConvergenceError
            When no start converges; the message says what to try.

        Examples
        --------
        >>> import numpy as np
        >>> truth = ParetoNBDParams(0.55, 10.6, 0.6, 11.7)
        >>> x, t_x, T = ParetoNBD.simulate(truth, np.full(2000, 39.0), seed=1)
        >>> m = ParetoNBD.fit(frequency=x, recency=t_x, T=T, period="W")
        >>> sorted(m.params.as_dict())
        ['alpha', 'beta', 'r', 's']
        """
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
        return cls(params=ParetoNBDParams.from_array(theta), fit_info=info, period=data.period)

    def expected_purchases_new_customer(self, t: Any) -> FloatArray:
        """``E[X(t)] = r beta / (alpha (s - 1)) [1 - (beta / (beta + t))^(s-1)]`` (note eq. 17).

        The ``s = 1`` limit ``(r beta / alpha) log(1 + t / beta)`` is used near ``s = 1``.
        """
        r, alpha, s, beta = self.params.to_array()
        t = as_time(t)
        lt = np.log1p(t / beta)
        if abs(s - 1.0) < 1e-8:
            return np.asarray(r * beta / alpha * lt, dtype=np.float64)
        return np.asarray(r * beta / alpha * (-np.expm1(-(s - 1) * lt)) / (s - 1), dtype=np.float64)

    def probability_of_purchases(self, n: Any, t: float) -> FloatArray:
        """``P(X(t) = n)``: probability of ``n`` repeat purchases in (0, t] for a new customer.

        With ``tau`` the lifetime (marginally Pareto II, ``S(tau) = (beta/(beta+tau))^s``) and the
        NBD count ``NB(n | r, alpha, tau)`` of purchases in ``(0, tau]``:
        ``P(X(t)=n) = S(t) NB(n | r, alpha, t) + int_0^t f(tau) NB(n | r, alpha, tau) dtau``
        (Schmittlein, Morrison & Colombo 1987; Fader & Hardie 2005 note, section 4). The integral is
        evaluated by Gauss-Legendre quadrature on four panels split geometrically over ``(0, t]``.

        Parameters
        ----------
        n
            Number(s) of purchases.
        t
            Length of the period, in the model's period.

        Returns
        -------
        numpy.ndarray
            Probabilities, one per ``n``.

        Examples
        --------
        >>> m = ParetoNBD.from_params(r=0.553, alpha=10.578, s=0.606, beta=11.669)
        >>> round(float(m.probability_of_purchases(np.arange(400), 39.0).sum()), 8)
        1.0
        """
        r, alpha, s, beta = self.params.to_array()
        counts = np.asarray(n, dtype=np.float64)
        horizon = float(as_time(t))
        if horizon == 0:
            return np.asarray(counts == 0, dtype=np.float64)
        flat = counts.reshape(-1)

        def log_nb(tau: FloatArray) -> FloatArray:
            tau = tau[..., None]
            with np.errstate(divide="ignore"):
                return (  # type: ignore[no-any-return]
                    gammaln(r + flat)
                    - gammaln(r)
                    - gammaln(flat + 1)
                    + r * np.log(alpha / (alpha + tau))
                    + special.xlogy(flat, tau / (alpha + tau))
                )

        alive = np.exp(s * np.log(beta / (beta + horizon)) + log_nb(np.array(horizon)))
        edges = horizon * np.array([0.0, 1e-3, 1e-2, 0.1, 1.0])
        total = np.zeros(flat.size)
        for lo, hi in itertools.pairwise(edges):
            tau = lo + (hi - lo) * (_NODES_B + 1.0) / 2.0
            weight = _WEIGHTS_B * (hi - lo) / 2.0
            log_density = np.log(s) + s * np.log(beta) - (s + 1) * np.log(beta + tau)
            total += (weight[:, None] * np.exp(log_density[:, None] + log_nb(tau))).sum(axis=0)
        return np.asarray((alive + total).reshape(counts.shape), dtype=np.float64)

    def p_alive(
        self, summary: Any = None, *, frequency: Any = None, recency: Any = None, T: Any = None
    ) -> FloatArray:
        """``P(alive | x, t_x, T)`` per customer (note eq. 18).

        Examples
        --------
        >>> m = ParetoNBD.from_params(r=0.553, alpha=10.578, s=0.606, beta=11.669)
        >>> m.p_alive(frequency=[0, 2], recency=[0, 30.43], T=[38.86, 38.86]).round(3)
        array([0.295, 0.869])
        """
        d = self._data(summary, frequency, recency, T)
        return _p_alive(self.params.to_array(), d.frequency, d.recency, d.T)

    def expected_purchases(
        self,
        t: Any,
        summary: Any = None,
        *,
        frequency: Any = None,
        recency: Any = None,
        T: Any = None,
    ) -> FloatArray:
        """Expected purchases in the next ``t`` periods given each history (note eq. 22)."""
        d = self._data(summary, frequency, recency, T)
        theta = self.params.to_array()
        t = as_time(t)
        (x, t_x, big_t), inverse = distinct_rows((d.frequency, d.recency, d.T))
        # once per distinct history: the conditional expectation is a function of (x, t_x, T)
        log_alive = _log_p_alive(theta, x, t_x, big_t)
        if np.ndim(t) > 0:  # one horizon per customer: the horizon factor is per row
            head = _conditional_head(theta, t, d.frequency, d.T)
            return np.asarray(head * np.exp(log_alive)[inverse], dtype=np.float64)
        head = _conditional_head(theta, t, x, big_t)
        return np.asarray((head * np.exp(log_alive))[inverse], dtype=np.float64)

    def discounted_expected_transactions(
        self,
        discount_rate: float,
        summary: Any = None,
        *,
        frequency: Any = None,
        recency: Any = None,
        T: Any = None,
    ) -> FloatArray:
        """DERT: discounted expected residual transactions over an infinite horizon (FHL 2005b eq. 2).

        ``DERT(delta) = alpha^r beta^s delta^(s-1) Gamma(r+x+1) U(s, s; delta (beta+T)) /
        (Gamma(r) (alpha+T)^(r+x+1) L)`` with continuous discount rate ``delta`` per model period and
        Tricomi's confluent hypergeometric function ``U``; multiply by expected spend for residual CLV.

        Parameters
        ----------
        discount_rate
            Continuously compounded discount rate per model period (e.g. ``0.15 / 52`` for 15% a
            year on weekly data).
        """
        if not discount_rate > 0:
            raise ValidationError("discount_rate must be > 0", field="discount_rate", value=discount_rate)
        d = self._data(summary, frequency, recency, T)
        theta = self.params.to_array()
        r, alpha, s, beta = theta
        x, t_x, big_t = d.frequency, d.recency, d.T
        (ux, utx, uT), inverse = distinct_rows((x, t_x, big_t))
        lse = _parts(theta, ux, utx, uT, False)[2][inverse]
        # lse is log L minus log(Gamma(r+x) alpha^r beta^s / Gamma(r))
        log_u = np.log(special.hyperu(s, s, discount_rate * (beta + big_t)))
        log_dert = (
            (s - 1) * np.log(discount_rate)
            + np.log(r + x)
            - (r + x + 1) * np.log(alpha + big_t)
            + log_u
            - lse
        )
        return np.asarray(np.exp(log_dert), dtype=np.float64)

    @classmethod
    def simulate(
        cls, params: ParetoNBDParams, T: Any, *, seed: int | np.random.Generator | None = None
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Simulate ``(frequency, recency, T)`` for customers of ages ``T`` from the Pareto/NBD process."""
        rng = np.random.default_rng(seed)
        big_t = np.asarray(T, dtype=np.float64)
        n = big_t.size
        lam = rng.gamma(params.r, 1.0 / params.alpha, n)
        mu = rng.gamma(params.s, 1.0 / params.beta, n)
        lifetime = rng.exponential(1.0 / np.maximum(mu, 1e-300))
        active = np.minimum(lifetime, big_t)
        x = rng.poisson(lam * active)
        xs = np.maximum(x, 1)
        t_x = np.where(x > 0, active * rng.beta(xs, 1.0), 0.0)
        return x.astype(np.float64), t_x, big_t.copy()


def _log_p_alive(theta: FloatArray, x: FloatArray, t_x: FloatArray, T: FloatArray) -> FloatArray:
    """``log P(alive)`` per row (note eq. 18): ``t1 - log(e^t1 + s I)``."""
    t1, _, lse, _ = _parts(theta, x, t_x, T, False)
    return np.asarray(t1 - lse, dtype=np.float64)


def _conditional_head(theta: FloatArray, t: Any, x: FloatArray, T: FloatArray) -> FloatArray:
    """``(r+x)(beta+T) / ((alpha+T)(s-1)) [1 - ((beta+T)/(beta+T+t))^(s-1)]`` (note eq. 22 without P(alive)).

    The ``s = 1`` limit ``(r+x)(beta+T)/(alpha+T) log(1 + t/(beta+T))`` is used near ``s = 1``.
    """
    r, alpha, s, beta = theta
    lt = np.log1p(t / (beta + T))
    horizon = lt if abs(s - 1.0) < 1e-08 else -np.expm1(-(s - 1) * lt) / (s - 1)
    return np.asarray((r + x) * (beta + T) / (alpha + T) * horizon, dtype=np.float64)


def _p_alive(theta: FloatArray, x: FloatArray, t_x: FloatArray, T: FloatArray) -> FloatArray:
    # evaluated once per distinct history (the quadrature is the expensive part)
    (ux, utx, uT), inverse = distinct_rows((x, t_x, T))
    return np.asarray(np.exp(_log_p_alive(theta, ux, utx, uT))[inverse], dtype=np.float64)
