"""The one maximum-likelihood core every omnicore.ltv model shares.

A model declares its parameter names (all positive, optimised as ``log`` of the parameter), one
vectorised per-row log-likelihood with its analytic gradient, and a few starting points. This module
does the rest: weights and compression, the optional L2 penalty (lifetimes' ``penalizer_coef``),
L-BFGS-B from several starts, Newton polishing, the observed-information Hessian, standard errors,
confidence intervals, AIC/BIC and a :class:`~omnicore.ConvergenceError` that says what to try.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable, Sequence

import attrs
import numpy as np
import numpy.typing as npt
from scipy import optimize, stats
from threadpoolctl import ThreadpoolController

from omnicore._errors import ConvergenceError, ValidationError
from omnicore._progress import Progress, null_progress
from omnicore.data._columns import freeze

__all__ = ["FitInfo", "ModelSpec", "finish_fit", "fit_mle"]

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
Columns = tuple[FloatArray, ...]
#: ``loglik(params, columns, want_gradient) -> (per-row log-likelihood, per-row gradient (k, n) or None)``
LogLik = Callable[[FloatArray, Columns, bool], tuple[FloatArray, FloatArray | None]]

#: Bounds of the optimiser on log(parameter): a parameter that reaches one "ran to a bound".
_LOG_BOUND = 23.0


@attrs.frozen(kw_only=True)
class ModelSpec:
    """What a model declares to the shared fitting core.

    Attributes
    ----------
    name
        Model name used in messages (``"BetaGeo"``).
    param_names
        The literature's parameter names, in order; every parameter is positive.
    loglik
        Vectorised per-row log-likelihood; returns the analytic gradient (shape ``(k, n)``) when asked,
        or ``None`` when the model has none (the core then differentiates numerically).
    """

    name: str
    param_names: tuple[str, ...]
    loglik: LogLik


def _as_names(value: Sequence[str]) -> tuple[str, ...]:
    return tuple(str(v) for v in value)


def _as_covariance(value: object) -> FloatArray:
    return freeze(np.asarray(value, dtype=np.float64).reshape(-1))


@attrs.frozen(kw_only=True)
class FitInfo:
    """Diagnostics of one maximum-likelihood fit.

    Attributes
    ----------
    param_names
        Parameter names, the order of ``covariance``.
    log_likelihood
        Maximised (unpenalised) log-likelihood, summed over customers.
    n_customers
        Number of customers fitted (sum of the weights).
    n_rows
        Number of data rows the likelihood was evaluated on: distinct rows after compression (for
        :class:`~omnicore.ltv.GammaGamma`, whose fit needs no compression, the repeat buyers).
    converged
        Whether the optimiser met its tolerance (a fit that did not raises instead, so this is ``True``
        unless the fit was built by hand).
    iterations
        Optimiser iterations of the chosen start.
    start
        Index of the chosen starting point.
    penalizer_coef
        The L2 penalty used.
    gradient_norm
        Max-norm of the gradient of the mean log-likelihood at the optimum (w.r.t. log-parameters).
    covariance
        Flattened ``k x k`` covariance of the estimates (inverse observed information, natural scale);
        NaN where the information matrix was singular.
    """

    param_names: tuple[str, ...] = attrs.field(converter=_as_names)
    log_likelihood: float
    n_customers: float
    n_rows: int
    converged: bool = True
    iterations: int = 0
    start: int = 0
    penalizer_coef: float = 0.0
    gradient_norm: float = 0.0
    covariance: FloatArray = attrs.field(converter=_as_covariance, eq=attrs.cmp_using(eq=np.array_equal))

    @property
    def covariance_matrix(self) -> FloatArray:
        """The ``k x k`` covariance matrix of the parameter estimates."""
        k = len(self.param_names)
        return self.covariance.reshape(k, k)

    @property
    def standard_errors(self) -> dict[str, float]:
        """Standard error of each parameter, from the observed information matrix."""
        diag = np.diag(self.covariance_matrix)
        return {
            n: float(math.sqrt(v)) if v >= 0 else math.nan
            for n, v in zip(self.param_names, diag, strict=False)
        }

    @property
    def aic(self) -> float:
        """Akaike information criterion, ``2k - 2 log L``."""
        return 2.0 * len(self.param_names) - 2.0 * self.log_likelihood

    @property
    def bic(self) -> float:
        """Bayesian information criterion, ``k log n - 2 log L`` (n = customers)."""
        return len(self.param_names) * math.log(max(self.n_customers, 1.0)) - 2.0 * self.log_likelihood


def log_covariance(info: FitInfo, values: FloatArray) -> FloatArray:
    """Covariance of log(parameters) by the delta method (what parameter draws use)."""
    return info.covariance_matrix / np.outer(values, values)


def confidence_intervals(
    info: FitInfo, values: FloatArray, level: float = 0.95
) -> dict[str, tuple[float, float]]:
    """Wald intervals on the log scale, mapped back (always positive, like the parameters)."""
    if not 0 < level < 1:
        raise ValidationError("level must be in (0, 1)", field="level", value=level)
    z = float(stats.norm.ppf(0.5 + level / 2))
    se_log = np.sqrt(np.clip(np.diag(log_covariance(info, values)), 0, None))
    lower = values * np.exp(-z * se_log)
    upper = values * np.exp(z * se_log)
    return {n: (float(lo), float(hi)) for n, lo, hi in zip(info.param_names, lower, upper, strict=False)}


class _Objective:
    """Penalised mean negative log-likelihood in eta = log(theta), with its gradient."""

    def __init__(self, spec: ModelSpec, columns: Columns, weights: FloatArray, penalizer: float) -> None:
        self.spec = spec
        self.columns = columns
        self.weights = weights
        self.total = float(weights.sum())
        self.penalizer = penalizer
        self.evaluations = 0

    def mean_loglik(self, theta: FloatArray) -> float:
        ll, _ = self.spec.loglik(theta, self.columns, False)
        return float(np.einsum("i,i->", self.weights, ll)) / self.total

    def value(self, eta: FloatArray) -> float:
        theta = np.exp(eta)
        self.evaluations += 1
        with np.errstate(all="ignore"):
            value = -self.mean_loglik(theta) + self.penalizer * float(theta @ theta)
        return value if math.isfinite(value) else math.inf

    def value_and_grad(self, eta: FloatArray) -> tuple[float, FloatArray]:
        theta = np.exp(eta)
        self.evaluations += 1
        with np.errstate(all="ignore"):
            ll, grad = self.spec.loglik(theta, self.columns, True)
            if grad is None:
                return self.value(eta), self._numeric_grad(eta)
            loglik = float(np.einsum("i,i->", self.weights, ll))
            value = -loglik / self.total + self.penalizer * float(theta @ theta)
            # einsum, not BLAS (dot/gemv): BLAS threads spin and stall on a busy machine
            g_theta = -np.einsum("ij,j->i", grad, self.weights) / self.total + 2 * self.penalizer * theta
        g = g_theta * theta
        if not (math.isfinite(value) and np.isfinite(g).all()):
            return math.inf, np.zeros_like(eta)
        return value, g

    def _numeric_grad(self, eta: FloatArray, h: float = 1e-6) -> FloatArray:
        g = np.empty_like(eta)
        for i in range(eta.size):
            step = np.zeros_like(eta)
            step[i] = h
            g[i] = (self.value(eta + step) - self.value(eta - step)) / (2 * h)
        return np.where(np.isfinite(g), g, 0.0)

    def grad(self, eta: FloatArray) -> FloatArray:
        return self.value_and_grad(eta)[1]

    def hessian(self, eta: FloatArray) -> FloatArray:
        """Hessian of the objective in eta by central differences (of the gradient when analytic)."""
        k = eta.size
        _, has_grad = self.spec.loglik(np.exp(eta), tuple(c[:1] for c in self.columns), True)
        if has_grad is not None:
            h = 1e-5
            H = np.empty((k, k))
            for i in range(k):
                step = np.zeros(k)
                step[i] = h
                H[:, i] = (self.grad(eta + step) - self.grad(eta - step)) / (2 * h)
            return (H + H.T) / 2
        h = 1e-4
        f0 = self.value(eta)
        H = np.empty((k, k))
        for i in range(k):
            ei = np.zeros(k)
            ei[i] = h
            H[i, i] = (self.value(eta + ei) - 2 * f0 + self.value(eta - ei)) / h**2
            for j in range(i):
                ej = np.zeros(k)
                ej[j] = h
                H[i, j] = H[j, i] = (
                    self.value(eta + ei + ej)
                    - self.value(eta + ei - ej)
                    - self.value(eta - ei + ej)
                    + self.value(eta - ei - ej)
                ) / (4 * h * h)
        return H


@attrs.frozen
class _Attempt:
    eta: FloatArray
    value: float
    iterations: int
    success: bool
    message: str
    at_bound: tuple[str, ...]
    gradient_norm: float


def _run_start(objective: _Objective, start: FloatArray, maxiter: int) -> _Attempt:
    eta0 = np.log(start)
    bounds = [(-_LOG_BOUND, _LOG_BOUND)] * eta0.size
    result = optimize.minimize(
        objective.value_and_grad,
        eta0,
        jac=True,
        method="L-BFGS-B",
        bounds=bounds,
        options={"maxiter": maxiter, "ftol": 1e-15, "gtol": 1e-10, "maxcor": 20},
    )
    eta = np.asarray(result.x, dtype=np.float64)
    value = float(result.fun)
    iterations = int(result.nit)
    # Newton polishing with the finite-difference Hessian: L-BFGS-B stops at ~1e-8 relative in the
    # objective; a few Newton steps make the optimum exact to the precision of the likelihood.
    for _ in range(6):
        if not math.isfinite(value):
            break
        g = objective.grad(eta)
        if np.max(np.abs(g)) < 1e-9:
            break
        H = objective.hessian(eta)
        try:
            step = np.linalg.solve(H, g)
        except np.linalg.LinAlgError:
            break
        if not np.isfinite(step).all() or np.any(np.linalg.eigvalsh(H) <= 0):
            break
        candidate = np.clip(eta - step, -_LOG_BOUND, _LOG_BOUND)
        new_value = objective.value(candidate)
        if new_value <= value + 1e-15 * abs(value):
            eta, value = candidate, new_value
            iterations += 1
        else:
            break
    gnorm = float(np.max(np.abs(objective.grad(eta)))) if math.isfinite(value) else math.inf
    at_bound = tuple(objective.spec.param_names[i] for i in range(eta.size) if abs(eta[i]) > _LOG_BOUND - 2.0)
    success = bool(math.isfinite(value) and not at_bound and (result.success or gnorm < 1e-6))
    return _Attempt(eta, value, iterations, success, str(result.message), at_bound, gnorm)


def _describe(spec: ModelSpec, index: int, start: FloatArray, attempt: _Attempt, maxiter: int) -> str:
    named = ", ".join(f"{n}={v:.4g}" for n, v in zip(spec.param_names, start, strict=False))
    if not math.isfinite(attempt.value):
        why = "the log-likelihood was not finite along the path"
    elif attempt.at_bound:
        ends = []
        for name in attempt.at_bound:
            i = spec.param_names.index(name)
            ends.append(f"{name} -> {'infinity' if attempt.eta[i] > 0 else '0'}")
        why = "parameter(s) ran to a bound: " + ", ".join(ends)
    elif attempt.iterations >= maxiter:
        why = f"hit the iteration cap maxiter={maxiter}"
    else:
        why = f"optimizer stopped: {attempt.message} (gradient norm {attempt.gradient_norm:.2g})"
    return f"start {index} ({named}): {why}"


def fit_mle(
    spec: ModelSpec,
    columns: Columns,
    weights: FloatArray,
    starts: Sequence[FloatArray],
    *,
    penalizer_coef: float = 0.0,
    maxiter: int = 1000,
    progress: Progress = null_progress,
) -> tuple[FloatArray, FitInfo]:
    """Maximise a model's likelihood from several starts; return the estimate and its diagnostics.

    Raises
    ------
    ConvergenceError
        When no start converges; the message lists each start, why it failed and what to try.
    """
    if penalizer_coef < 0 or not math.isfinite(penalizer_coef):
        raise ValidationError("penalizer_coef must be >= 0", field="penalizer_coef", value=penalizer_coef)
    # one BLAS thread for the fit: scipy's L-BFGS-B and the Hessians work on matrices of a few dozen
    # rows, where OpenBLAS' threads cost more to wake and join than the work (2-3x the whole BG/NBD
    # fit at 1M customers on two busy cores); the caller's setting is restored on return
    with _blas_controller().limit(limits=1, user_api="blas"):
        return _fit_mle(spec, columns, weights, starts, penalizer_coef, maxiter, progress)


@functools.cache
def _blas_controller() -> ThreadpoolController:
    """The process's BLAS thread pools (found once: looking them up takes milliseconds)."""
    return ThreadpoolController()


def _fit_mle(
    spec: ModelSpec,
    columns: Columns,
    weights: FloatArray,
    starts: Sequence[FloatArray],
    penalizer_coef: float,
    maxiter: int,
    progress: Progress,
) -> tuple[FloatArray, FitInfo]:
    objective = _Objective(spec, columns, weights, penalizer_coef)
    attempts: list[_Attempt] = []
    best: int | None = None
    for index, start in enumerate(starts):
        progress(index, len(starts), f"{spec.name}: start {index}")
        attempt = _run_start(objective, np.asarray(start, dtype=np.float64), maxiter)
        attempts.append(attempt)
        logger.debug("%s start %d: value=%.12g success=%s", spec.name, index, attempt.value, attempt.success)
        if attempt.success and (best is None or attempt.value < attempts[best].value - 1e-12):
            best = index
        if best is not None:
            # a start that converged to an interior optimum is accepted; further starts only run after
            # failures
            break
    progress(len(starts), len(starts), f"{spec.name}: done")
    if best is None:
        reasons = "\n  ".join(
            _describe(spec, i, np.asarray(starts[i]), a, maxiter) for i, a in enumerate(attempts)
        )
        raise ConvergenceError(
            f"{spec.name} fit did not converge on {objective.total:g} customers "
            f"({columns[0].size} distinct rows):\n  {reasons}\n"
            "What to try: a small L2 penalty (penalizer_coef=0.001 to 0.1) keeps parameters off their "
            "bounds; check the data (a parameter running to infinity often means too few repeat "
            "buyers or a time unit far from the purchase rhythm: re-summarise in weeks); pass starts= "
            "near plausible values; raise maxiter; or try a simpler model (e.g. BetaGeo)."
        )
    chosen = attempts[best]
    theta = np.exp(chosen.eta)
    return theta, finish_fit(
        spec,
        theta,
        objective.hessian(chosen.eta),
        log_likelihood=objective.mean_loglik(theta) * objective.total,
        total=objective.total,
        n_rows=int(columns[0].size),
        iterations=chosen.iterations,
        start=best,
        penalizer_coef=penalizer_coef,
        gradient_norm=chosen.gradient_norm,
    )


def finish_fit(
    spec: ModelSpec,
    theta: FloatArray,
    mean_hessian: FloatArray,
    *,
    log_likelihood: float,
    total: float,
    n_rows: int,
    iterations: int,
    start: int,
    penalizer_coef: float,
    gradient_norm: float,
) -> FitInfo:
    """Covariance and diagnostics of an optimum ``theta``, or a :class:`ConvergenceError` if it is flat.

    ``mean_hessian`` is the Hessian, in ``eta = log(theta)``, of the penalised mean negative
    log-likelihood that was minimised.
    """
    H = mean_hessian * total  # of the total (not mean) objective
    if penalizer_coef:
        # observed information of the likelihood itself: remove the penalty's curvature
        H = H - total * np.diag(4 * penalizer_coef * theta**2)
    eigenvalues, eigenvectors = np.linalg.eigh(H)
    if not np.isfinite(H).all() or eigenvalues[0] <= 1e-9 * max(abs(eigenvalues[-1]), 1.0):
        weak = eigenvectors[:, 0] if np.isfinite(H).all() else np.ones(theta.size)
        names = [spec.param_names[i] for i in np.flatnonzero(np.abs(weak) > 0.3)]
        values = ", ".join(f"{n}={v:.4g}" for n, v in zip(spec.param_names, theta, strict=True))
        raise ConvergenceError(
            f"{spec.name} fit on {total:g} customers ended at {values} (start {start}) where the "
            f"likelihood is flat in {', '.join(names) or 'some direction'}: the data do not identify "
            "these parameters (e.g. too few repeat purchases, or a parameter drifting to 0 or infinity). "
            "What to try: penalizer_coef=0.001 to 0.1, more customers or a longer observation window, "
            "or a simpler model."
        )
    cov_eta = eigenvectors @ np.diag(1.0 / eigenvalues) @ eigenvectors.T
    covariance = cov_eta * np.outer(theta, theta)
    return FitInfo(
        param_names=spec.param_names,
        log_likelihood=log_likelihood,
        n_customers=total,
        n_rows=n_rows,
        converged=True,
        iterations=iterations,
        start=start,
        penalizer_coef=penalizer_coef,
        gradient_norm=gradient_norm,
        covariance=covariance,
    )
