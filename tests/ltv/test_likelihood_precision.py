"""Log-likelihoods against independent mpmath references on hypothesis-generated inputs.

Inputs include frequency 0, recency 0 and recency == T, very large T and extreme parameters; every
evaluation runs with warnings as errors (pytest's ``filterwarnings = error``), so an overflow warning
fails the test.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from omnicore.ltv import BetaGeo, BetaGeoBetaBinom, GammaGamma, ModifiedBetaGeo, ParetoNBD
from tests.ltv._refs import bg_loglik, bgbb_loglik, close, gg_loglik, pareto_loglik

param = st.floats(min_value=-3.0, max_value=3.0).map(lambda e: float(10.0**e))
#: The fast Pareto/NBD test stays within 1e-2..1e2 (mpmath needs 1,000+ digits for its reference at the
#: extremes); the slow-marked exhaustive test covers 1e-3..1e3.
mid_param = st.floats(min_value=-2.0, max_value=2.0).map(lambda e: float(10.0**e))
age = st.floats(min_value=-2.0, max_value=5.0).map(lambda e: float(10.0**e))
count = st.one_of(
    st.just(0), st.integers(min_value=0, max_value=10), st.integers(min_value=0, max_value=2000)
)
share = st.one_of(st.just(0.0), st.just(1.0), st.floats(min_value=0.0, max_value=1.0))


@st.composite
def histories(draw: st.DrawFn) -> tuple[float, float, float]:
    x = draw(count)
    T = draw(age)
    t_x = 0.0 if x == 0 else T * draw(share)
    return float(x), t_x, T


def _one(model: type, theta: list[float], x: float, t_x: float, T: float) -> float:
    ll, _ = model.spec.loglik(np.array(theta), (np.array([x]), np.array([t_x]), np.array([T])), False)
    return float(ll[0])


@settings(max_examples=150)
@given(r=param, alpha=param, a=param, b=param, history=histories())
@example(r=0.243, alpha=4.414, a=0.793, b=2.426, history=(0.0, 0.0, 38.86))
@example(r=1e-3, alpha=1e3, a=1e3, b=1e-3, history=(2000.0, 1e5, 1e5))
def test_bg_nbd_loglik_matches_mpmath(r: float, alpha: float, a: float, b: float, history: tuple) -> None:
    x, t_x, T = history
    assert close(_one(BetaGeo, [r, alpha, a, b], x, t_x, T), bg_loglik(r, alpha, a, b, x, t_x, T))


@settings(max_examples=150)
@given(r=param, alpha=param, a=param, b=param, history=histories())
def test_mbg_nbd_loglik_matches_mpmath(r: float, alpha: float, a: float, b: float, history: tuple) -> None:
    x, t_x, T = history
    assert close(
        _one(ModifiedBetaGeo, [r, alpha, a, b], x, t_x, T), bg_loglik(r, alpha, a, b, x, t_x, T, k=1)
    )


@settings(max_examples=25)
@given(r=mid_param, alpha=mid_param, s=mid_param, beta=mid_param, history=histories())
@example(r=0.553, alpha=10.578, s=0.606, beta=11.669, history=(2.0, 30.43, 38.86))
def test_pareto_nbd_loglik_matches_mpmath(
    r: float, alpha: float, s: float, beta: float, history: tuple
) -> None:
    x, t_x, T = history
    assert close(_one(ParetoNBD, [r, alpha, s, beta], x, t_x, T), pareto_loglik(r, alpha, s, beta, x, t_x, T))


@st.composite
def opportunities(draw: st.DrawFn) -> tuple[int, int, int]:
    n = draw(st.integers(min_value=1, max_value=40))
    t_x = draw(st.integers(min_value=0, max_value=n))
    x = 0 if t_x == 0 else draw(st.integers(min_value=1, max_value=t_x))
    return x, t_x, n


@settings(max_examples=100)
@given(alpha=param, beta=param, gamma=param, delta=param, history=opportunities())
def test_bg_bb_loglik_matches_mpmath(
    alpha: float, beta: float, gamma: float, delta: float, history: tuple
) -> None:
    x, t_x, n = history
    ours = _one(BetaGeoBetaBinom, [alpha, beta, gamma, delta], x, t_x, n)
    assert close(ours, bgbb_loglik(alpha, beta, gamma, delta, x, t_x, n))


@settings(max_examples=100)
@given(
    p=param,
    q=param,
    v=param,
    x=st.integers(min_value=1, max_value=500),
    m=st.floats(min_value=-2, max_value=5).map(lambda e: float(10.0**e)),
)
def test_gamma_gamma_loglik_matches_mpmath(p: float, q: float, v: float, x: int, m: float) -> None:
    ll, _ = GammaGamma.spec.loglik(np.array([p, q, v]), (np.array([float(x)]), np.array([m])), False)
    assert close(float(ll[0]), gg_loglik(p, q, v, x, m))


def _numeric_gradient(model: type, theta: np.ndarray, columns: tuple) -> np.ndarray:
    grad = np.empty((theta.size, columns[0].size))
    for i in range(theta.size):
        h = 1e-6 * theta[i]
        up, down = theta.copy(), theta.copy()
        up[i] += h
        down[i] -= h
        grad[i] = (model.spec.loglik(up, columns, False)[0] - model.spec.loglik(down, columns, False)[0]) / (
            2 * h
        )
    return grad


moderate = st.floats(min_value=-1.0, max_value=1.5).map(lambda e: float(10.0**e))


@settings(max_examples=60)
@given(theta=st.lists(moderate, min_size=4, max_size=4), seed=st.integers(0, 10_000))
def test_analytic_gradients_match_finite_differences(theta: list[float], seed: int) -> None:
    rng = np.random.default_rng(seed)
    T = rng.uniform(1, 60, 30)
    x = rng.integers(0, 15, 30).astype(float)
    t_x = np.where(x > 0, T * rng.uniform(0, 1, 30), 0.0)
    t_x[:3] = np.where(x[:3] > 0, T[:3], 0.0)  # recency == T
    columns = (x, t_x, T)
    th = np.array(theta)
    for model in (BetaGeo, ModifiedBetaGeo, ParetoNBD):
        _, analytic = model.spec.loglik(th, columns, True)
        numeric = _numeric_gradient(model, th, columns)
        np.testing.assert_allclose(analytic, numeric, rtol=2e-5, atol=2e-6)
    n = rng.integers(1, 10, 30).astype(float)
    tx_d = np.floor(n * rng.uniform(0, 1, 30))
    x_d = np.where(tx_d > 0, np.maximum(1, np.floor(tx_d * rng.uniform(0, 1, 30))), 0)
    columns = (x_d, tx_d, n)
    _, analytic = BetaGeoBetaBinom.spec.loglik(th, columns, True)
    np.testing.assert_allclose(
        analytic, _numeric_gradient(BetaGeoBetaBinom, th, columns), rtol=2e-5, atol=2e-6
    )
    columns = (np.maximum(x, 1), rng.uniform(1, 100, 30))
    _, analytic = GammaGamma.spec.loglik(th[:3], columns, True)
    np.testing.assert_allclose(analytic, _numeric_gradient(GammaGamma, th[:3], columns), rtol=2e-5, atol=2e-6)


@pytest.mark.slow
@settings(max_examples=200)
@given(r=param, alpha=param, s=param, beta=param, history=histories())
@example(r=4.17588555, alpha=1.56681182, s=187.92737192, beta=12.12426676, history=(0.0, 0.0, 153.0))
@example(r=316.5, alpha=2.01, s=3.735, beta=1.26e-3, history=(0.0, 0.0, 1282.9))
@example(r=0.5, alpha=1.0, s=0.5, beta=1.0, history=(300.0, 1e4, 1e5))  # alpha == beta
@example(r=0.01, alpha=1e3, s=1e3, beta=1e-3, history=(2000.0, 0.5, 1e5))  # huge x, z near 1
def test_pareto_nbd_loglik_matches_mpmath_exhaustive(
    r: float, alpha: float, s: float, beta: float, history: tuple
) -> None:
    x, t_x, T = history
    assert close(_one(ParetoNBD, [r, alpha, s, beta], x, t_x, T), pareto_loglik(r, alpha, s, beta, x, t_x, T))
