"""The Pareto/NBD shared-panel integral: the same values as the row-by-row quadrature, and mpmath's.

Customers summarised in whole periods share their ``x`` and their endpoints, so the likelihood
integral over ``[t_x, T]`` is summed over panels shared by the rows of equal ``x``
(``_log_integral``); the row-by-row quadrature (``_quadrature``, the path before the panels) is the
reference here, and mpmath's 2F1 closed form the independent one.
"""

from __future__ import annotations

import mpmath as mp
import numpy as np
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from omnicore.ltv import ParetoNBD
from omnicore.ltv import _pareto_nbd as pareto_module
from omnicore.ltv._inputs import distinct_rows
from omnicore.ltv._kernels import pareto_panels
from tests.ltv._refs import close, pareto_loglik

mid_param = st.floats(min_value=-2.0, max_value=2.0).map(lambda e: float(10.0**e))


def _weekly(n: int, seed: int, top_x: int = 60) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct (x, t_x, T) rows in whole weeks, sorted as ``distinct_rows`` returns them."""
    rng = np.random.default_rng(seed)
    T = rng.integers(1, 79, n).astype(np.float64)
    x = np.minimum(rng.geometric(0.25, n) - 1, top_x).astype(np.float64)
    t_x = np.where(x > 0, np.ceil(T * rng.uniform(0, 1, n)), 0.0)
    (ux, utx, uT), _ = distinct_rows((x, t_x, T))
    return ux, utx, uT


def _uses_panels(x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> bool:
    ok, panel_x, *_ = pareto_panels(x, t_x, T)
    return bool(ok and panel_x.size <= x.size // 2)


def _old_p_alive(theta: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """P(alive) as before the panels: row-by-row quadrature on every row."""
    r, alpha, s, beta = theta
    log_i, _ = pareto_module._quadrature(theta, x, t_x, T, False)
    t1 = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
    return np.exp(t1 - np.logaddexp(t1, np.log(s) + log_i))  # type: ignore[no-any-return]


@settings(max_examples=30, deadline=None)
@given(r=mid_param, alpha=mid_param, s=mid_param, beta=mid_param, seed=st.integers(0, 10))
@example(r=0.4817, alpha=10.27, s=0.9118, beta=34.19, seed=0)
@example(r=1e-2, alpha=1e2, s=1e2, beta=1e-2, seed=1)
def test_panel_integral_equals_the_row_by_row_quadrature(
    r: float, alpha: float, s: float, beta: float, seed: int
) -> None:
    x, t_x, T = _weekly(3000, seed)
    assert _uses_panels(x, t_x, T)  # the fast path is the one under test
    theta = np.array([r, alpha, s, beta])
    old, old_grad = pareto_module._quadrature(theta, x, t_x, T, True)
    new, new_grad = pareto_module._log_integral(theta, x, t_x, T, True)
    assert new_grad is not None
    np.testing.assert_array_equal(np.isfinite(new), np.isfinite(old))
    finite = np.isfinite(old)
    # log I to 1e-12 relative (absolute where |log I| < 1): I itself to ~1e-12 relative
    assert np.all(np.abs(new[finite] - old[finite]) <= 1e-12 * np.maximum(1.0, np.abs(old[finite])))
    np.testing.assert_allclose(new_grad, old_grad, rtol=1e-11, atol=1e-12)


@settings(max_examples=20, deadline=None)
@given(r=mid_param, alpha=mid_param, s=mid_param, beta=mid_param, seed=st.integers(0, 10))
def test_scores_equal_the_row_by_row_path(r: float, alpha: float, s: float, beta: float, seed: int) -> None:
    x, t_x, T = _weekly(2000, seed)
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, x.size, 20_000)  # many customers per distinct history, in random order
    fx, ftx, fT = x[rows], t_x[rows], T[rows]
    assume(abs(s - 1.0) > 1e-3)  # the reference below is the s != 1 form, naive near s = 1
    theta = np.array([r, alpha, s, beta])
    model = ParetoNBD.from_params(r=r, alpha=alpha, s=s, beta=beta)
    old = _old_p_alive(theta, x, t_x, T)[rows]  # row by row (each row's value is its own)
    np.testing.assert_allclose(model.p_alive(frequency=fx, recency=ftx, T=fT), old, rtol=1e-12, atol=1e-300)
    # Fader & Hardie (2005) note eq. 22: (r+x)(beta+T) / ((alpha+T)(s-1)) [1 - ((beta+T)/(beta+T+t))^(s-1)]
    t = 13.0
    head = (
        (r + fx) * (beta + fT) / ((alpha + fT) * (s - 1)) * (1 - ((beta + fT) / (beta + fT + t)) ** (s - 1))
    )
    ours = model.expected_purchases(t, frequency=fx, recency=ftx, T=fT)
    np.testing.assert_allclose(ours, head * old, rtol=1e-11, atol=1e-300)


def test_panel_likelihood_matches_mpmath() -> None:
    r, alpha, s, beta = 0.553, 10.578, 0.606, 11.669
    x, t_x, T = _weekly(3000, 3, top_x=40)
    assert _uses_panels(x, t_x, T)
    ll, _ = ParetoNBD.spec.loglik(np.array([r, alpha, s, beta]), (x, t_x, T), False)
    for i in np.random.default_rng(0).choice(x.size, 8, replace=False):
        assert close(float(ll[i]), pareto_loglik(r, alpha, s, beta, x[i], t_x[i], T[i]))


def test_panel_p_alive_matches_the_closed_form() -> None:
    # P(alive) = 1 / (1 + s/(r+s+x) (alpha+T)^(r+x) (beta+T)^s A_0), Fader & Hardie (2005) note eq. 18
    r, alpha, s, beta = 0.553, 10.578, 0.606, 11.669
    x, t_x, T = _weekly(3000, 4, top_x=25)
    assert _uses_panels(x, t_x, T)
    model = ParetoNBD.from_params(r=r, alpha=alpha, s=s, beta=beta)
    p = model.p_alive(frequency=x, recency=t_x, T=T)
    for i in np.random.default_rng(1).choice(x.size, 6, replace=False):
        with mp.workdps(40):
            R, A, S, B = map(mp.mpf, (r, alpha, s, beta))
            xi = int(x[i])

            def part(
                t: float, R: mp.mpf = R, A: mp.mpf = A, S: mp.mpf = S, B: mp.mpf = B, xi: int = xi
            ) -> mp.mpf:
                return mp.hyp2f1(R + S + xi, R + xi, R + S + xi + 1, (B - A) / (B + t)) / (B + t) ** (
                    R + S + xi
                )

            a0 = part(t_x[i]) - part(T[i])
            ref = 1 / (1 + S / (R + S + xi) * (A + T[i]) ** (R + xi) * (B + T[i]) ** S * a0)
        assert p[i] == pytest.approx(float(ref), rel=1e-9)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 5), st.integers(0, 30), st.integers(0, 30)), min_size=1, max_size=80)
)
def test_panels_tile_each_interval(rows: list[tuple[int, int, int]]) -> None:
    data = np.array([(x, min(a, b), max(a, b)) for x, a, b in rows], dtype=np.float64)
    (x, t_x, T), _ = distinct_rows((data[:, 0], data[:, 1], data[:, 2]))
    ok, panel_x, lo, hi, first, end, work = pareto_panels(x, t_x, T)
    assert ok
    assert np.all(hi > lo)
    assert panel_x.size == np.unique(np.stack([panel_x, lo], axis=1), axis=0).shape[0]  # no panel twice
    for i in range(x.size):
        k = np.arange(first[i], end[i])
        assert np.all(panel_x[k] == x[i])
        assert np.array_equal(lo[k[1:]], hi[k[:-1]])  # contiguous
        if k.size:
            assert (lo[k[0]], hi[k[-1]]) == (t_x[i], T[i])
        else:
            assert t_x[i] == T[i]
    assert work <= int((end - first).sum())
    if x.size > 1:  # rows out of order are refused (and integrated row by row)
        assert not pareto_panels(x[::-1].copy(), t_x[::-1].copy(), T[::-1].copy())[0]


def test_unsorted_or_continuous_rows_use_the_row_by_row_quadrature() -> None:
    rng = np.random.default_rng(2)
    T = rng.uniform(1, 80, 500)
    x = rng.poisson(2.0, 500).astype(np.float64)
    t_x = np.where(x > 0, T * rng.uniform(0, 1, 500), 0.0)
    theta = np.array([0.55, 10.6, 0.6, 11.7])
    assert not _uses_panels(x, t_x, T)
    np.testing.assert_array_equal(
        pareto_module._log_integral(theta, x, t_x, T, False)[0],
        pareto_module._quadrature(theta, x, t_x, T, False)[0],
    )
