"""The shared fitting core: compression, weights, penalty, failures, periods, serialisation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omnicore import ConvergenceError, ValidationError, from_json, to_json
from omnicore.data import Transactions
from omnicore.ltv import (
    BetaGeo,
    BetaGeoBetaBinom,
    BetaGeoParams,
    GammaGamma,
    ModifiedBetaGeo,
    ParetoNBD,
    ShiftedBetaGeometric,
)
from omnicore.summary import summarize
from tests.ltv._refs import load_cdnow, simulate_transactions


def test_weights_equal_repeated_rows() -> None:
    x, t_x, T = BetaGeo.simulate(
        BetaGeoParams(0.4, 5.0, 0.8, 2.0), np.round(np.linspace(10, 40, 300)), seed=3
    )
    t_x = np.round(t_x)
    weights = np.arange(1, 301) % 3 + 1
    weighted = BetaGeo.fit(frequency=x, recency=t_x, T=T, weights=weights)
    repeated = BetaGeo.fit(
        frequency=np.repeat(x, weights), recency=np.repeat(t_x, weights), T=np.repeat(T, weights)
    )
    np.testing.assert_allclose(weighted.params.to_array(), repeated.params.to_array(), rtol=1e-7)
    assert weighted.log_likelihood == pytest.approx(repeated.log_likelihood, rel=1e-10)
    assert repeated.fit_info is not None
    assert repeated.fit_info.n_rows < repeated.fit_info.n_customers


def test_row_order_does_not_matter() -> None:
    x, t_x, T = load_cdnow()
    order = np.random.default_rng(0).permutation(x.size)
    a = BetaGeo.fit(frequency=x, recency=t_x, T=T)
    b = BetaGeo.fit(frequency=x[order], recency=t_x[order], T=T[order])
    np.testing.assert_allclose(a.params.to_array(), b.params.to_array(), rtol=1e-8)


def test_penalizer_shrinks_parameters() -> None:
    x, t_x, T = load_cdnow()
    free = BetaGeo.fit(frequency=x, recency=t_x, T=T)
    shrunk = BetaGeo.fit(frequency=x, recency=t_x, T=T, penalizer_coef=0.1)
    assert np.sum(shrunk.params.to_array() ** 2) < np.sum(free.params.to_array() ** 2)
    assert shrunk.log_likelihood < free.log_likelihood


def test_standard_errors_and_intervals() -> None:
    x, t_x, T = load_cdnow()
    m = BetaGeo.fit(frequency=x, recency=t_x, T=T, period="W")
    se = m.standard_errors
    assert set(se) == {"r", "alpha", "a", "b"}
    assert all(v > 0 for v in se.values())
    for name, (lo, hi) in m.confidence_intervals(0.95).items():
        assert 0 < lo < getattr(m.params, name) < hi
    assert m.fit_info is not None
    assert m.fit_info.aic == pytest.approx(2 * 4 - 2 * m.log_likelihood)
    assert "alpha" in m.summary()


def test_failed_fit_says_why_and_what_to_try() -> None:
    # nobody ever buys again: the purchase rate runs to 0 and the fit cannot converge
    n = 200
    with pytest.raises(ConvergenceError) as info:
        BetaGeo.fit(frequency=np.zeros(n), recency=np.zeros(n), T=np.full(n, 30.0))
    message = str(info.value)
    assert "start" in message
    assert "penalizer_coef" in message
    assert "identify" in message or "bound" in message


def test_iteration_cap_is_reported() -> None:
    x, t_x, T = load_cdnow()
    with pytest.raises(ConvergenceError, match="maxiter=1"):
        BetaGeo.fit(frequency=x, recency=t_x, T=T, maxiter=1, starts=[BetaGeoParams(5.0, 50.0, 5.0, 0.1)])


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"frequency": [-1, 1], "recency": [0, 1], "T": [2, 2]}, "frequency"),
        ({"frequency": [1.5, 1], "recency": [1, 1], "T": [2, 2]}, "frequency"),
        ({"frequency": [1, 1], "recency": [3, 1], "T": [2, 2]}, "recency"),
        ({"frequency": [0, 1], "recency": [1, 1], "T": [2, 2]}, "recency"),
        ({"frequency": [1, 1], "recency": [1, 1], "T": [-1, 2]}, "T"),
        ({"frequency": [1, 1], "recency": [0, 1], "T": [0, 2]}, "frequency"),
        ({"frequency": [1, 1], "recency": [1, np.nan], "T": [2, 2]}, "recency"),
        ({"frequency": [1, 1], "recency": [1, 1], "T": [2, 2, 2]}, "T"),
    ],
)
def test_bad_input_names_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        BetaGeo.fit(**kwargs)
    assert info.value.field == field


def test_models_carry_the_summary_period_and_refuse_other_units() -> None:
    cust, ts, amount, end = simulate_transactions(3000, seed=4)
    tx = Transactions(customer_id=cust, timestamp=ts, amount=amount)
    weekly = summarize(tx, observation_end=end, period="W")
    daily = summarize(tx, observation_end=end, period="D")
    m = BetaGeo.fit(weekly)
    assert m.period is not None
    assert m.period.value == "W"
    assert m.p_alive(weekly).shape == (len(weekly),)
    with pytest.raises(ValidationError, match="period"):
        m.p_alive(daily)
    with pytest.raises(ValidationError, match="period"):
        m.expected_purchases(4, daily)
    with pytest.raises(ValidationError, match="period"):
        BetaGeo.fit(weekly, period="D")


finite = st.floats(min_value=1e-3, max_value=1e3)


@settings(max_examples=30)
@given(r=finite, alpha=finite, a=finite, b=finite)
def test_params_only_models_round_trip_through_json(r: float, alpha: float, a: float, b: float) -> None:
    for model in (
        BetaGeo.from_params(r=r, alpha=alpha, a=a, b=b, period="W"),
        ModifiedBetaGeo.from_params(r=r, alpha=alpha, a=a, b=b),
        ParetoNBD.from_params(r=r, alpha=alpha, s=a, beta=b, period="D"),
        BetaGeoBetaBinom.from_params(alpha=r, beta=alpha, gamma=a, delta=b),
        GammaGamma.from_params(p=r, q=alpha, v=a),
        ShiftedBetaGeometric.from_params(alpha=r, beta=alpha, period="month"),
    ):
        assert from_json(to_json(model), type(model)) == model


@settings(max_examples=10)
@given(seed=st.integers(0, 1000))
def test_fitted_models_round_trip_through_json(seed: int) -> None:
    x, t_x, T = BetaGeo.simulate(BetaGeoParams(0.4, 5.0, 0.8, 2.0), np.full(800, 39.0), seed=seed)
    m = BetaGeo.fit(frequency=x, recency=t_x, T=T, period="W")
    back = from_json(to_json(m), BetaGeo)
    assert back == m
    assert back.standard_errors == m.standard_errors
    np.testing.assert_array_equal(
        back.p_alive(frequency=x, recency=t_x, T=T), m.p_alive(frequency=x, recency=t_x, T=T)
    )


def test_fitted_models_are_immutable() -> None:
    m = BetaGeo.from_params(r=0.2, alpha=4.0, a=0.8, b=2.4)
    with pytest.raises(AttributeError):
        m.params = BetaGeoParams(1, 1, 1, 1)  # type: ignore[misc]
    with pytest.raises(ValidationError):
        BetaGeoParams(-1.0, 1.0, 1.0, 1.0)


def test_fit_runs_on_one_blas_thread_and_restores_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from threadpoolctl import threadpool_info

    from omnicore.ltv import _fitting

    seen: list[list[int]] = []
    objective = _fitting._Objective.value_and_grad

    def spy(self: _fitting._Objective, eta: np.ndarray) -> tuple[float, np.ndarray]:
        seen.append([pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"])
        return objective(self, eta)

    monkeypatch.setattr(_fitting._Objective, "value_and_grad", spy)
    before = threadpool_info()
    x, t_x, T = load_cdnow()
    BetaGeo.fit(frequency=x, recency=t_x, T=T)
    assert seen
    assert all(threads == [1] * len(threads) for threads in seen)
    assert threadpool_info() == before
