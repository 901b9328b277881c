"""The data are informative: maximum likelihood on them recovers the true parameters.

The likelihoods are written here from the papers (BG/NBD: Fader, Hardie and Lee 2005, eq. 6; Gamma-Gamma:
Fader, Hardie and Lee 2005b, eq. 3 with the mean of x spends), independent of the library's own models,
and the standard errors come from a finite-difference Hessian at the optimum.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pytest
from scipy.optimize import minimize
from scipy.special import betaln, gammaln

from omnicore.datasets import SyntheticRetailer

Array = npt.NDArray[np.float64]


def _per_person(data: SyntheticRetailer) -> tuple[Array, Array, Array, Array]:
    """Repeat purchases x, recency t_x and age T in days, and mean repeat spend, from the order lines."""
    tx = data.transactions
    assert tx.order_id is not None
    buy = tx.amount > 0
    _, first, code = np.unique(tx.order_id[buy], return_index=True, return_inverse=True)
    total = np.bincount(code, weights=tx.amount[buy])
    person = tx.customer_id[buy][first]
    when = (tx.timestamp[buy][first] - data.observation_start) / np.timedelta64(1, "D")
    order = np.lexsort((when, person))
    person, when, total = person[order], when[order], total[order]
    n = len(data.truth.person_id)
    count = np.bincount(person, minlength=n)
    first_at = np.full(n, np.inf)
    last_at = np.full(n, -np.inf)
    np.minimum.at(first_at, person, when)
    np.maximum.at(last_at, person, when)
    end = (data.observation_end - data.observation_start) / np.timedelta64(1, "D")
    is_first = np.r_[True, person[1:] != person[:-1]]
    repeat_spend = np.bincount(person[~is_first], weights=total[~is_first], minlength=n)
    x = (count - 1).astype(np.float64)
    mean_spend = np.divide(repeat_spend, x, out=np.zeros(n), where=x > 0)
    return x, last_at - first_at, end - first_at, mean_spend


def _fit(nll: Callable[[Array], float], start: Array, n: int) -> tuple[Array, Array]:
    """Maximum likelihood in log-parameters; returns estimates and standard errors (delta method)."""

    def mean_nll(theta: Array) -> float:
        return nll(theta) / n

    rough = minimize(mean_nll, np.log(start), method="BFGS", options={"gtol": 1e-7})
    polished = minimize(mean_nll, rough.x, method="Nelder-Mead", options={"xatol": 1e-7, "fatol": 1e-12})
    theta = polished.x
    k, h = len(theta), 1e-4
    hessian = np.empty((k, k))
    for i in range(k):
        for j in range(k):
            ei, ej = np.eye(k)[i] * h, np.eye(k)[j] * h
            hessian[i, j] = (
                nll(theta + ei + ej) - nll(theta + ei - ej) - nll(theta - ei + ej) + nll(theta - ei - ej)
            ) / (4 * h * h)
    np.linalg.cholesky(hessian)  # a proper maximum: the observed information is positive definite
    covariance = np.linalg.inv(hessian)
    estimate = np.exp(theta)
    return estimate, estimate * np.sqrt(np.diag(covariance))


def test_bg_nbd_parameters_are_recovered(retailer: SyntheticRetailer) -> None:
    x, t_x, T, _ = _per_person(retailer)

    def nll(log_params: Array) -> float:
        r, alpha, a, b = np.exp(log_params)
        common = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
        alive = betaln(a, b + x) - betaln(a, b) - (r + x) * np.log(alpha + T)
        dead = np.where(
            x > 0,
            betaln(a + 1, b + np.maximum(x, 1) - 1) - betaln(a, b) - (r + x) * np.log(alpha + t_x),
            -np.inf,
        )
        return float(-np.sum(common + np.logaddexp(alive, dead)))

    estimate, error = _fit(nll, np.array([1.0, 10.0, 1.0, 1.0]), len(x))
    p = retailer.params
    truth = np.array([p.r, p.alpha, p.a, p.b])
    assert np.all(np.abs(estimate - truth) < 4 * error), (estimate, error)
    assert np.all(error < 0.25 * truth)  # informative: every parameter pinned down to within 25%


def test_gamma_gamma_parameters_are_recovered(retailer: SyntheticRetailer) -> None:
    x, _, _, m = _per_person(retailer)
    x, m = x[x > 0], m[x > 0]

    def nll(log_params: Array) -> float:
        p, q, gamma = np.exp(log_params)
        ll = (
            gammaln(p * x + q)
            - gammaln(p * x)
            - gammaln(q)
            + q * np.log(gamma)
            + (p * x - 1) * np.log(m)
            + p * x * np.log(x)
            - (p * x + q) * np.log(gamma + m * x)
        )
        return float(-np.sum(ll))

    estimate, error = _fit(nll, np.array([1.0, 1.0, 10.0]), len(x))
    p = retailer.params
    truth = np.array([p.p, p.q, p.gamma])
    assert np.all(np.abs(estimate - truth) < 4 * error), (estimate, error)
    assert estimate[0] * estimate[2] / (estimate[1] - 1) == pytest.approx(p.mean_spend, rel=0.05)
