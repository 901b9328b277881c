"""CLV schedules, parameter-draw intervals and validation diagnostics."""

from __future__ import annotations

import numpy as np
import pytest

from omnicore import ValidationError
from omnicore.data import Transactions
from omnicore.ltv import (
    BetaGeo,
    BetaGeoParams,
    GammaGamma,
    clv_schedule,
    compare_holdout,
    customer_lifetime_value,
    frequency_fit,
    plot_frequency_fit,
    plot_holdout,
    plot_tracking,
    predict_interval,
    track_cumulative,
)
from omnicore.summary import calibration_holdout
from tests.ltv._refs import load_cdnow, load_cdnow_spend, simulate_transactions

CDNOW_BG = BetaGeo.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426, period="W")


def test_clv_matches_the_lifetimes_monthly_loop() -> None:
    # lifetimes' customer_lifetime_value: for i in (1..12) * 4.345 weeks, add
    # spend * (E[Y(i)] - E[Y(i - 4.345)]) / (1 + d) ** (i / 4.345); written out independently here
    x, t_x, T = load_cdnow()
    x, t_x, T = x[:200], t_x[:200], T[:200]
    spend = np.linspace(10, 50, 200)
    d = 0.01
    expected = np.zeros(200)
    for month in range(1, 13):
        i = month * 4.345
        step = CDNOW_BG.expected_purchases(i, frequency=x, recency=t_x, T=T) - CDNOW_BG.expected_purchases(
            i - 4.345, frequency=x, recency=t_x, T=T
        )
        expected += spend * step / (1 + d) ** month
    ours = customer_lifetime_value(
        CDNOW_BG, frequency=x, recency=t_x, T=T, spend=spend, discount_rate_monthly=d
    )
    np.testing.assert_allclose(ours, expected, rtol=1e-12, atol=1e-12)


def test_clv_schedule_is_consistent() -> None:
    s = clv_schedule(CDNOW_BG, frequency=[3, 0], recency=[20, 0], T=[30, 30], spend=25.0, horizon_months=24)
    assert s.cash_flow.shape == (2, 24)
    np.testing.assert_allclose(s.cash_flow, 25.0 * s.expected_purchases)
    total = CDNOW_BG.expected_purchases(24 * 4.345, frequency=[3, 0], recency=[20, 0], T=[30, 30])
    np.testing.assert_allclose(s.expected_purchases.sum(axis=1), total, rtol=1e-12)
    assert np.all(np.diff(s.discount_factor) < 0)
    undiscounted = clv_schedule(
        CDNOW_BG,
        frequency=[3, 0],
        recency=[20, 0],
        T=[30, 30],
        spend=25.0,
        horizon_months=24,
        discount_rate_monthly=0.0,
    )
    assert np.all(undiscounted.clv > s.clv)


def test_clv_needs_a_period() -> None:
    unitless = BetaGeo.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426)
    with pytest.raises(ValidationError, match="period"):
        customer_lifetime_value(unitless, frequency=[1], recency=[1], T=[2], spend=1.0)


def test_intervals_cover_the_estimate_and_shrink_with_data() -> None:
    params = BetaGeoParams(0.3, 5.0, 0.8, 2.0)
    widths = []
    for n in (1000, 16000):
        x, t_x, T = BetaGeo.simulate(params, np.full(n, 52.0), seed=7)
        m = BetaGeo.fit(frequency=x, recency=t_x, T=T, period="W")
        iv = predict_interval(
            m,
            lambda g: g.expected_purchases(26, frequency=[0, 4], recency=[0, 40], T=[52, 52]),
            n_draws=300,
            seed=1,
        )
        assert np.all(iv.lower <= iv.estimate)
        assert np.all(iv.estimate <= iv.upper)
        widths.append(iv.upper - iv.lower)
    assert np.all(widths[1] < widths[0] / 2)  # ~1/sqrt(16) as wide


def test_clv_interval_combines_both_models() -> None:
    x, t_x, T = load_cdnow()
    _, zbar = load_cdnow_spend()
    bg = BetaGeo.fit(frequency=x, recency=t_x, T=T, period="W")
    gg = GammaGamma.fit(frequency=x, monetary_value=zbar)

    def clv(purchases: BetaGeo, spend: GammaGamma) -> np.ndarray:
        value = spend.expected_average_spend(frequency=x[:50], monetary_value=zbar[:50])
        return customer_lifetime_value(purchases, frequency=x[:50], recency=t_x[:50], T=T[:50], spend=value)

    iv = predict_interval((bg, gg), clv, n_draws=100, seed=3)
    assert iv.estimate.shape == (50,)
    assert np.all(iv.upper - iv.lower > 0)


def test_holdout_comparison_on_simulated_transactions() -> None:
    cust, ts, amount, end = simulate_transactions(4000, seed=9)
    tx = Transactions(customer_id=cust, timestamp=ts, amount=amount)
    split = calibration_holdout(tx, calibration_end="2024-07-01", observation_end=end, period="W")
    m = BetaGeo.fit(split.calibration)
    c = compare_holdout(m, split)
    assert c.customers.sum() == len(split.calibration)
    # a model fitted on the true process predicts the holdout total within 10%
    assert c.total_predicted == pytest.approx(c.total_actual, rel=0.1)
    assert len(c.table()) == 9
    tracking = track_cumulative(m, tx, end=end, calibration_end="2024-07-01")
    assert tracking.actual[-1] == pytest.approx(tracking.expected[-1], rel=0.1)
    assert np.all(np.diff(tracking.actual) >= 0)


def test_frequency_fit_counts_every_customer() -> None:
    x, t_x, T = load_cdnow()
    m = BetaGeo.fit(frequency=x, recency=t_x, T=T, period="W")
    fit = frequency_fit(m, frequency=x, recency=t_x, T=T)
    assert fit.observed.sum() == x.size
    assert fit.expected.sum() == pytest.approx(x.size)
    assert fit.p_value > 0.01  # BG/NBD fits the CDNOW histogram (FHL 2005, Figure 1)


def test_plots_draw() -> None:
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x, t_x, T = load_cdnow()
    fit = frequency_fit(CDNOW_BG, frequency=x, recency=t_x, T=T)
    c = compare_holdout(CDNOW_BG, frequency=x, recency=t_x, T=T, frequency_holdout=x, duration_holdout=39.0)
    cust, ts, amount, end = simulate_transactions(500, seed=2)
    tr = track_cumulative(CDNOW_BG, Transactions(customer_id=cust, timestamp=ts, amount=amount), end=end)
    for ax in (plot_frequency_fit(fit), plot_holdout(c), plot_tracking(tr)):
        assert ax.get_title()
    plt.close("all")
