"""Gamma-Gamma spend model (Fader, Hardie & Lee 2005, "RFM and CLV"; Fader & Hardie 2013 note)."""

from __future__ import annotations

import logging
import math
from typing import Any, ClassVar

import attrs
import numpy as np
import numpy.typing as npt
from scipy import special

from omnicore._errors import ValidationError
from omnicore._progress import Progress, null_progress
from omnicore.ltv._base import FittedModel, Params, positive
from omnicore.ltv._fitting import Columns, FitInfo, ModelSpec, finish_fit, fit_mle
from omnicore.ltv._inputs import compress, spend_arrays, spend_columns, weights_array
from omnicore.ltv._kernels import gg_expected_spend, gg_prepare, gg_sums
from omnicore.ltv._special import by_value, digamma, gammaln

__all__ = ["GammaGamma", "GammaGammaParams"]

FloatArray = npt.NDArray[np.float64]

logger = logging.getLogger(__name__)

#: Largest purchase count the one-pass fit groups by direct indexing (larger counts take the
#: general path).
_MAX_COUNT = 1 << 20
#: Above this many repeat buyers, the Gamma-Gamma fit starts from a fit on a systematic sample.
_SAMPLE_ROWS = 20_000


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
class _SpendData:
    """Gamma-Gamma fit data: repeat buyers' total spend ``s = x m`` with weights, and per-count sums."""

    s: FloatArray
    w: FloatArray
    wx: FloatArray
    counts: FloatArray  # distinct purchase counts x_g
    count_weights: FloatArray  # W_g: weight of the customers with x = x_g
    total: float  # sum of W_g
    sum_x_log_m: float  # sum_i w_i x_i log m_i
    sum_log_m: float  # sum_i w_i log m_i
    mean_m: float


def _spend_data(x: FloatArray, m: FloatArray, w: FloatArray | None) -> _SpendData | None:
    """The one-pass fit data, or ``None`` when the data need the general path (or raise there)."""
    weighted = w is not None
    status, s, ws, wxs, by_count, log_m_by_count, spend = gg_prepare(
        x, m, w if w is not None else x[:0], weighted, _MAX_COUNT
    )
    if status != 0 or s.size == 0:
        return None
    present = np.flatnonzero(by_count > 0)
    counts = present.astype(np.float64)
    total = float(by_count[present].sum())
    if not total > 0:
        return None
    return _SpendData(
        s=s,
        w=ws,
        wx=wxs,
        counts=counts,
        count_weights=by_count[present],
        total=total,
        sum_x_log_m=float(counts @ log_m_by_count[present]),
        sum_log_m=float(log_m_by_count[present].sum()),
        mean_m=spend / total,
    )


def _objective(
    theta: FloatArray, data: _SpendData, penalizer: float, sums: FloatArray
) -> tuple[float, float, FloatArray, FloatArray]:
    """Penalised mean negative log-likelihood in ``eta = log(theta)`` with its exact gradient and Hessian.

    Returns ``(objective, log-likelihood, gradient, Hessian)``; ``sums`` are :func:`gg_sums` at ``v``.
    The count-only terms (gamma functions of ``p x + q``) are evaluated once per distinct count.
    """
    p, q, v = theta
    a0, a1, a0_v, a1_v, b0, b1 = sums
    xg, wg, total = data.counts, data.count_weights, data.total
    px = p * xg
    log_x = np.log(xg)
    log_v = math.log(v)
    loglik = (
        float(wg @ (special.gammaln(px + q) - special.gammaln(px) + px * log_x))
        - total * float(special.gammaln(q))
        + q * log_v * total
        + p * data.sum_x_log_m
        - data.sum_log_m
        - p * a1
        - q * a0
    )
    psi_pq = special.digamma(px + q)
    tri_pq = special.polygamma(1, px + q)
    tri_p = special.polygamma(1, px)
    grad = np.array(
        [
            float(wg @ (xg * (psi_pq - special.digamma(px) + log_x))) + data.sum_x_log_m - a1,
            float(wg @ psi_pq) - total * float(special.digamma(q)) + total * log_v - a0,
            q * total / v - p * a1_v - q * a0_v,
        ]
    )
    hpv = -a1_v
    hqv = total / v - a0_v
    hess = np.array(
        [
            [float(wg @ (xg * xg * (tri_pq - tri_p))), float(wg @ (xg * tri_pq)), hpv],
            [float(wg @ (xg * tri_pq)), float(wg @ tri_pq) - total * float(special.polygamma(1, q)), hqv],
            [hpv, hqv, -q * total / (v * v) + p * b1 + q * b0],
        ]
    )
    value = -loglik / total + penalizer * float(theta @ theta)
    g_theta = -grad / total + 2.0 * penalizer * theta
    h_theta = -hess / total + 2.0 * penalizer * np.eye(3)
    g_eta = g_theta * theta
    h_eta = h_theta * np.outer(theta, theta) + np.diag(g_eta)
    return value, loglik, g_eta, h_eta


@attrs.frozen
class _NewtonResult:
    theta: FloatArray
    loglik: float
    gradient: FloatArray
    hessian: FloatArray
    iterations: int


def _count_terms(p: float, q: float, data: _SpendData) -> tuple[float, FloatArray, FloatArray]:
    """``sum_g W_g [-log B(p x_g, q) + p x_g log x_g]`` with its gradient and Hessian in ``(p, q)``."""
    xg, wg, total = data.counts, data.count_weights, data.total
    px = p * xg
    value = float(wg @ (px * np.log(xg) - special.betaln(px, q)))
    psi_pq = special.digamma(px + q)
    tri_pq = special.polygamma(1, px + q)
    grad = np.array(
        [
            float(wg @ (xg * (psi_pq - special.digamma(px) + np.log(xg)))),
            float(wg @ psi_pq) - total * float(special.digamma(q)),
        ]
    )
    cross = float(wg @ (xg * tri_pq))
    hess = np.array(
        [
            [float(wg @ (xg * xg * (tri_pq - special.polygamma(1, px)))), cross],
            [cross, float(wg @ tri_pq) - total * float(special.polygamma(1, q))],
        ]
    )
    return value, grad, hess


def _inner(
    pq: FloatArray, linear: FloatArray, data: _SpendData, penalizer: float
) -> tuple[FloatArray, float, FloatArray] | None:
    """Maximise the likelihood over ``(p, q)`` at a fixed ``v`` (concave: ``-log B`` is concave).

    ``linear`` holds the coefficients of ``p`` and ``q`` that come from the customers' spend at this
    ``v``. Returns ``(p, q)``, the maximised value and the ``(p, q)`` Hessian there, or ``None``.
    """
    ridge = data.total * penalizer

    def at(point: FloatArray) -> tuple[float, FloatArray, FloatArray]:
        value, grad, hess = _count_terms(float(point[0]), float(point[1]), data)
        return (
            value + float(linear @ point) - ridge * float(point @ point),
            grad + linear - 2.0 * ridge * point,
            hess - 2.0 * ridge * np.eye(2),
        )

    value, grad, hess = at(pq)
    for _ in range(100):
        try:
            step = -np.linalg.solve(hess, grad)
        except np.linalg.LinAlgError:
            return None
        if float(grad @ step) <= 0:  # not an ascent direction (cannot happen where -log B is concave)
            step = grad * pq * pq / max(float(np.abs(grad * pq).max()), 1e-300)
        size = 1.0
        shrink = step < 0
        if shrink.any():  # stay positive: at most 90% of the way to 0
            size = min(1.0, 0.9 * float(np.min(pq[shrink] / -step[shrink])))
        for _ in range(40):
            candidate = pq + size * step
            c_value, c_grad, c_hess = at(candidate)
            # no decrease beyond the rounding error of the sum
            if math.isfinite(c_value) and c_value >= value - 1e-13 * abs(value):
                break
            size /= 2.0
        else:
            return None
        if np.max(candidate) > 1e9:
            return None
        pq, value, grad, hess = candidate, c_value, c_grad, c_hess
        if float(np.max(np.abs(size * step) / pq)) < 1e-11:
            return pq, value, hess
    return None


def _profile_fit(
    data: _SpendData, v0: float, penalizer: float, maxiter: int, pq0: FloatArray | None = None
) -> _NewtonResult | None:
    """Maximise the Gamma-Gamma likelihood by Newton's method on its profile in ``log v``.

    Only ``v`` needs a pass over the customers (:func:`gg_sums`); at each ``v`` the concave problem in
    ``(p, q)`` is solved on the distinct purchase counts. The profile's first derivative is the
    partial derivative in ``v`` at the inner optimum (envelope theorem) and its second derivative the
    Schur complement ``H_vv - h^T H_pq^-1 h`` of the exact Hessian, so each Newton step costs one pass.
    """
    total = data.total

    def at(v: float, pq: FloatArray) -> tuple[float, float, float, FloatArray, FloatArray] | None:
        sums = gg_sums(data.s, data.w, data.wx, v)
        a0, a1, a0_v, a1_v, b0, b1 = sums
        linear = np.array([data.sum_x_log_m - a1, total * math.log(v) - a0])
        inner = _inner(pq, linear, data, penalizer)
        if inner is None:
            return None
        best, value, hess = inner
        p, q = float(best[0]), float(best[1])
        loglik = value - data.sum_log_m - total * penalizer * v * v
        d_v = q * total / v - p * a1_v - q * a0_v - 2.0 * total * penalizer * v
        cross = np.array([-a1_v, total / v - a0_v])
        d_vv = -q * total / (v * v) + p * b1 + q * b0 - 2.0 * total * penalizer
        d_vv -= float(cross @ np.linalg.solve(hess, cross))
        # in y = log v
        return loglik, v * d_v, v * v * d_vv + v * d_v, best, sums

    def result(y: float, pq: FloatArray, sums: FloatArray, iterations: int) -> _NewtonResult:
        theta = np.array([pq[0], pq[1], math.exp(y)])
        _, loglik, grad, hess = _objective(theta, data, penalizer, sums)
        return _NewtonResult(theta, loglik, grad, hess, iterations)

    y = math.log(v0)
    with np.errstate(all="ignore"):
        state = at(v0, np.array([1.0, 1.0]) if pq0 is None else pq0)
        for iteration in range(maxiter):
            if state is None or not all(math.isfinite(t) for t in state[:3]):
                return None
            value, slope, curve, pq, sums = state
            if abs(slope) < 1e-12 * total:
                return result(y, pq, sums, iteration)
            step = -slope / curve if curve < 0 else math.copysign(1.0, slope)
            step = max(-1.0, min(1.0, step))
            for _ in range(40):
                if abs(y + step) > 21.0:  # v running to 0 or infinity: the general path explains
                    return None
                trial = at(math.exp(y + step), pq)
                # no decrease beyond the rounding error of the sum
                if trial is not None and math.isfinite(trial[0]) and trial[0] >= value - 1e-13 * abs(value):
                    break
                step /= 2.0
            else:
                return None
            y += step
            state = trial
            if curve < 0 and abs(step) < 1e-11:  # a full Newton step this small: converged
                return result(y, trial[3], trial[4], iteration + 1)
    return None


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
        x, m = spend_columns(summary, frequency, monetary_value)
        data = _spend_data(x, m, None if weights is None else weights_array(weights, x.size))
        if data is not None:
            progress(0, 1, "GammaGamma: Newton")
            if penalizer_coef < 0 or not math.isfinite(penalizer_coef):
                raise ValidationError(
                    "penalizer_coef must be >= 0", field="penalizer_coef", value=penalizer_coef
                )
            v0, pq0 = data.mean_m, None
            step = data.s.size // _SAMPLE_ROWS
            if step > 1:
                # the first Newton steps on every step-th customer (one pass over those each), the
                # last ones on all: the same optimum in fewer passes over the data. The sample is
                # copied to contiguous arrays: a strided view would make numba load (or compile) a
                # second specialisation of the kernels inside the first timed fit
                every = slice(None, None, step)
                sample = _spend_data(
                    np.ascontiguousarray(x[every]),
                    np.ascontiguousarray(m[every]),
                    None if weights is None else np.ascontiguousarray(weights_array(weights, x.size)[every]),
                )
                rough = None if sample is None else _profile_fit(sample, v0, penalizer_coef, maxiter)
                if rough is not None:
                    v0, pq0 = float(rough.theta[2]), rough.theta[:2].copy()
            for index, start in enumerate((v0, data.mean_m, 1.0)):
                found = _profile_fit(data, start, penalizer_coef, maxiter, pq0 if index == 0 else None)
                if found is None:
                    logger.debug("GammaGamma Newton from start %d failed", index)
                    continue
                progress(1, 1, "GammaGamma: done")
                info = finish_fit(
                    cls.spec,
                    found.theta,
                    found.hessian,
                    log_likelihood=found.loglik,
                    total=data.total,
                    n_rows=int(data.s.size),
                    iterations=found.iterations,
                    start=index,
                    penalizer_coef=penalizer_coef,
                    gradient_norm=float(np.max(np.abs(found.gradient))),
                )
                return cls(params=GammaGammaParams.from_array(found.theta), fit_info=info)
        # the general path: raises on invalid data, explains a failed fit
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
        x, m = spend_columns(summary, frequency, monetary_value)
        ok, values = gg_expected_spend(x, m, float(p), float(q), float(v))
        if ok:
            return values
        x, m = spend_arrays(None, x, m)  # raises the error naming the field, row and value
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
