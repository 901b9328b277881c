"""Predictions against independent computations: closed forms vs mpmath, pmf vs mean, simulation."""

from __future__ import annotations

import mpmath as mp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate

from omnicore.ltv import (
    BetaGeo,
    BetaGeoBetaBinom,
    BetaGeoParams,
    ModifiedBetaGeo,
    ParetoNBD,
    ParetoNBDParams,
    ShiftedBetaGeometric,
)

CDNOW_BG = BetaGeo.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426, period="W")
CDNOW_PARETO = ParetoNBD.from_params(r=0.553, alpha=10.578, s=0.606, beta=11.669, period="W")
CDNOW_MBG = ModifiedBetaGeo.from_params(r=0.525, alpha=6.183, a=0.891, b=1.614, period="W")


def _bg_conditional_mp(
    r: float, alpha: float, a: float, b: float, x: int, t_x: float, T: float, t: float
) -> float:
    # FHL (2005) eq. 10 exactly as printed, with mpmath's 2F1
    with mp.workdps(40):
        r, alpha, a, b, t_x, T, t = map(mp.mpf, (r, alpha, a, b, t_x, T, t))
        z = t / (alpha + T + t)
        num = (
            (a + b + x - 1)
            / (a - 1)
            * (1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * mp.hyp2f1(r + x, b + x, a + b + x - 1, z))
        )
        den = 1 + (a / (b + x - 1) * ((alpha + T) / (alpha + t_x)) ** (r + x) if x > 0 else 0)
        return float(num / den)


pos = st.floats(min_value=-1.0, max_value=1.5).map(lambda e: float(10.0**e))


@settings(max_examples=80)
@given(r=pos, alpha=pos, a=pos, b=pos, x=st.integers(0, 200), u=st.floats(0, 1), T=pos, t=pos)
def test_bg_conditional_expectation_matches_eq10(r, alpha, a, b, x, u, T, t) -> None:  # type: ignore[no-untyped-def]
    if abs(a - 1) < 1e-3:
        return
    t_x = T * u if x else 0.0
    m = BetaGeo.from_params(r=r, alpha=alpha, a=a, b=b)
    ours = float(m.expected_purchases(t, frequency=[x], recency=[t_x], T=[T])[0])
    assert ours == pytest.approx(_bg_conditional_mp(r, alpha, a, b, x, t_x, T, t), rel=1e-7, abs=1e-12)


@pytest.mark.parametrize("model", [CDNOW_BG, CDNOW_MBG, CDNOW_PARETO])
@pytest.mark.parametrize("t", [1.0, 39.0, 78.0])
def test_pmf_sums_to_one_and_its_mean_is_the_expectation(model: BetaGeo, t: float) -> None:
    n = np.arange(3000)
    p = model.probability_of_purchases(n, t)
    assert p.sum() == pytest.approx(1.0, abs=1e-10)
    assert (n * p).sum() == pytest.approx(float(model.expected_purchases_new_customer(t)), rel=1e-9)


def test_bg_bb_pmf_mean_is_the_expectation() -> None:
    m = BetaGeoBetaBinom.from_params(alpha=1.204, beta=0.750, gamma=0.657, delta=2.783)
    for n in (1, 6, 11):
        p = m.probability_of_purchases(np.arange(n + 1), n)
        assert p.sum() == pytest.approx(1.0, abs=1e-12)
        assert (np.arange(n + 1) * p).sum() == pytest.approx(
            float(m.expected_purchases_new_customer(n)), rel=1e-10
        )


@pytest.mark.parametrize("cls", [BetaGeo, ModifiedBetaGeo])
def test_simulation_agrees_with_the_pmf(cls: type) -> None:
    params = BetaGeoParams(0.5, 6.0, 0.9, 1.6)
    x, t_x, T = cls.simulate(params, np.full(200_000, 39.0), seed=11)
    model = cls(params=params)
    p = model.probability_of_purchases(np.arange(4), 39.0)
    observed = np.array([(x == k).mean() for k in range(4)])
    assert np.all(np.abs(observed - p) <= 4 * np.sqrt(p * (1 - p) / x.size))
    assert np.all((t_x <= T) & (t_x >= 0))
    assert np.all(t_x[x == 0] == 0)


def test_pareto_simulation_agrees_with_the_expectation() -> None:
    params = ParetoNBDParams(0.553, 10.578, 0.606, 11.669)
    x, _, _ = ParetoNBD.simulate(params, np.full(300_000, 39.0), seed=5)
    expected = float(ParetoNBD(params=params).expected_purchases_new_customer(39.0))
    assert x.mean() == pytest.approx(expected, abs=4 * x.std() / np.sqrt(x.size))


def test_conditional_equals_unconditional_for_a_brand_new_customer() -> None:
    for model in (CDNOW_BG, CDNOW_PARETO):
        fresh = model.expected_purchases(10.0, frequency=[0], recency=[0], T=[1e-9])
        assert fresh[0] == pytest.approx(float(model.expected_purchases_new_customer(10.0)), rel=1e-6)


def test_p_alive_properties() -> None:
    T = np.full(50, 40.0)
    t_x = np.linspace(1, 40, 50)
    for model in (CDNOW_BG, CDNOW_PARETO, CDNOW_MBG):
        p = model.p_alive(frequency=np.full(50, 3.0), recency=t_x, T=T)
        assert np.all((p > 0) & (p <= 1))
        assert np.all(np.diff(p) > 0)  # a more recent last purchase means more likely alive
    assert CDNOW_BG.p_alive(frequency=[0], recency=[0], T=[100])[0] == 1.0  # BG/NBD: no repeat, alive


def test_pareto_p_alive_matches_mpmath_closed_form() -> None:
    # P(alive) = 1 / (1 + s/(r+s+x) (alpha+T)^(r+x) (beta+T)^s A_0), Fader & Hardie (2005) note eq. 18
    r, alpha, s, beta = 0.553, 10.578, 0.606, 11.669
    for x, t_x, T in [(2, 30.43, 38.86), (0, 0.0, 38.86), (25, 10.0, 80.0)]:
        with mp.workdps(40):
            R, A, S, B = map(mp.mpf, (r, alpha, s, beta))

            def part(t: float, R=R, A=A, S=S, B=B, x=x) -> mp.mpf:  # type: ignore[no-untyped-def]
                return mp.hyp2f1(R + S + x, R + x, R + S + x + 1, (B - A) / (B + t)) / (B + t) ** (R + S + x)

            a0 = part(t_x) - part(T)
            ref = 1 / (1 + S / (R + S + x) * (A + T) ** (R + x) * (B + T) ** S * a0)
        ours = CDNOW_PARETO.p_alive(frequency=[x], recency=[t_x], T=[T])[0]
        assert ours == pytest.approx(float(ref), rel=1e-9)


def test_pareto_dert_matches_numerical_integration() -> None:
    # DERT = integral of exp(-delta t) dE[Y(t)] = delta * integral exp(-delta t) E[Y(t)] dt
    delta = 0.15 / 52
    for x, t_x, T in [(2, 30.43, 38.86), (0, 0.0, 38.86)]:
        ours = float(
            CDNOW_PARETO.discounted_expected_transactions(delta, frequency=[x], recency=[t_x], T=[T])[0]
        )

        def integrand(t: float, x=x, t_x=t_x, T=T) -> float:  # type: ignore[no-untyped-def]
            value = CDNOW_PARETO.expected_purchases(t, frequency=[x], recency=[t_x], T=[T])[0]
            return float(np.exp(-delta * t) * value)

        numeric = delta * integrate.quad(integrand, 0, np.inf, limit=500, epsrel=1e-10)[0]
        assert ours == pytest.approx(numeric, rel=1e-6)


def test_sbg_del_matches_the_discounted_survival_sum() -> None:
    m = ShiftedBetaGeometric.from_params(alpha=0.704, beta=1.182)
    d = 0.1
    t = np.arange(0, 5_000)
    direct = float((m.survival(t) / (1 + d) ** t).sum())
    assert m.discounted_expected_lifetime(d) == pytest.approx(direct, rel=1e-9)
    # DERL of someone who has made n-1 renewals: sum_{t>=n} S(t)/S(n-1) / (1+d)^(t-n), the renewal
    # about to be paid undiscounted (Fader & Hardie 2010)
    n = 4
    tail = t[t >= n]
    derl = float((m.survival(tail) / m.survival(n - 1) / (1 + d) ** (tail - n)).sum())
    assert float(m.discounted_expected_residual_lifetime(d, n - 1)) == pytest.approx(derl, rel=1e-9)
    assert np.all(np.diff(m.retention_rate(np.arange(1, 10))) > 0)
