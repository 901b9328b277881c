"""The purchase process: invariants of the transactions, checks against BG/NBD and Gamma-Gamma closed forms.

The reference values are the models' own closed forms (Fader, Hardie and Lee 2005), computed here with
scipy from the true parameters, never from the generator's code.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from scipy.special import hyp2f1

from omnicore.datasets import SyntheticRetailer, TrueParameters, synthetic_retailer

DAY = np.timedelta64(1, "D")


def _orders(data: SyntheticRetailer) -> dict[str, Any]:
    """One entry per order (purchase rows only): person, time, total."""
    tx = data.transactions
    buy = tx.amount > 0
    assert tx.order_id is not None
    order_id = tx.order_id[buy]
    uniques, first, codes = np.unique(order_id, return_index=True, return_inverse=True)
    total = np.bincount(codes, weights=tx.amount[buy])
    return {
        "order_id": uniques,
        "person": tx.customer_id[buy][first],
        "time": tx.timestamp[buy][first],
        "total": total,
    }


def _expected_repeats(params: TrueParameters, t: float) -> float:
    """E[X(t)] of the BG/NBD model, Fader, Hardie and Lee (2005), eq. (9)."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    z = t / (alpha + t)
    return float((a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r * hyp2f1(r, b, a + b - 1, z)))


def _repeats_within(data: SyntheticRetailer, t_days: float) -> npt.NDArray[np.int64]:
    """Repeat purchases in (birth, birth + t] of every person born at least t days before the end."""
    orders = _orders(data)
    birth = data.truth.birth
    age = (orders["time"] - birth[orders["person"]]) / DAY
    counted = (age > 0) & (age <= t_days)
    counts = np.bincount(orders["person"][counted], minlength=len(birth))
    eligible = birth <= data.observation_end - np.timedelta64(int(t_days * 86_400), "s")
    result: npt.NDArray[np.int64] = counts[eligible]
    return result


@pytest.mark.parametrize("t_days", [90.0, 365.0])
def test_mean_repeat_purchases_match_bg_nbd_expectation(retailer: SyntheticRetailer, t_days: float) -> None:
    counts = _repeats_within(retailer, t_days)
    expected = _expected_repeats(retailer.params, t_days)
    standard_error = counts.std(ddof=1) / np.sqrt(len(counts))
    assert len(counts) > 5_000
    assert abs(counts.mean() - expected) < 4 * standard_error + 0.02 * expected


def test_share_without_repeat_matches_bg_nbd(retailer: SyntheticRetailer) -> None:
    # P(X(t) = 0) = (alpha / (alpha + t))^r: only the Poisson term survives at x = 0
    t = 365.0
    counts = _repeats_within(retailer, t)
    p = retailer.params
    expected = (p.alpha / (p.alpha + t)) ** p.r
    standard_error = np.sqrt(expected * (1 - expected) / len(counts))
    assert abs(np.mean(counts == 0) - expected) < 4 * standard_error


def test_other_parameters_change_the_expectation() -> None:
    # the check above can fail: a different process gives a clearly different mean
    params = TrueParameters(r=0.9, alpha=30.0, a=1.5, b=2.0)
    data = synthetic_retailer(8_000, seed=3, params=params, n_open_orders=0)
    counts = _repeats_within(data, 365.0)
    assert abs(counts.mean() - _expected_repeats(params, 365.0)) < 0.08 * _expected_repeats(params, 365.0)
    assert abs(counts.mean() - _expected_repeats(TrueParameters(), 365.0)) > 1.0


def test_mean_spend_matches_gamma_gamma(retailer: SyntheticRetailer) -> None:
    totals = _orders(retailer)["total"]
    p = retailer.params
    expected = p.p * p.gamma / (p.q - 1)
    assert expected == pytest.approx(300.0)
    standard_error = totals.std(ddof=1) / np.sqrt(len(totals))
    assert abs(totals.mean() - expected) < 4 * standard_error + 0.01 * expected


def test_person_spend_follows_their_nu(retailer: SyntheticRetailer) -> None:
    # E[z | nu] = p / nu: persons with a low nu spend more per order
    orders = _orders(retailer)
    nu = retailer.truth.nu[orders["person"]]
    low = nu < np.median(nu)
    expected_low = np.mean(retailer.params.p / nu[low])
    assert orders["total"][low].mean() == pytest.approx(expected_low, rel=0.05)
    assert orders["total"][low].mean() > 1.5 * orders["total"][~low].mean()


def test_latent_draws_match_their_distributions(retailer: SyntheticRetailer) -> None:
    truth, p = retailer.truth, retailer.params
    n = len(truth.person_id)
    assert truth.lambda_.mean() == pytest.approx(p.r / p.alpha, rel=6 * np.sqrt(1 / (p.r * n)))
    assert truth.dropout_p.mean() == pytest.approx(p.a / (p.a + p.b), abs=0.01)
    assert truth.nu.mean() == pytest.approx(p.q / p.gamma, rel=0.03)


def test_purchases_lie_between_birth_and_dropout(small: SyntheticRetailer) -> None:
    tx, truth = small.transactions, small.truth
    buy = tx.amount > 0
    person = tx.customer_id[buy]
    when = tx.timestamp[buy]
    assert (when >= truth.birth[person]).all()
    assert (when < small.observation_end).all()
    dead = ~truth.alive_at_end[person]
    assert (when[dead] <= truth.dropout_at[person[dead]]).all()
    assert np.isnat(truth.dropout_at[truth.alive_at_end]).all()
    assert not np.isnat(truth.dropout_at[~truth.alive_at_end]).any()


def test_first_purchase_at_birth_and_last_at_dropout(small: SyntheticRetailer) -> None:
    orders = _orders(small)
    truth = small.truth
    n = len(truth.person_id)
    first = np.full(n, np.datetime64("2100-01-01", "us"))
    last = np.full(n, np.datetime64("1970-01-01", "us"))
    np.minimum.at(first, orders["person"], orders["time"])
    np.maximum.at(last, orders["person"], orders["time"])
    assert np.array_equal(first, truth.birth)
    dead = ~truth.alive_at_end
    assert np.array_equal(last[dead], truth.dropout_at[dead])
    assert np.array_equal(np.bincount(orders["person"], minlength=n), truth.n_purchases)


def test_lines_returns_and_channels(small: SyntheticRetailer) -> None:
    tx = small.transactions
    assert tx.allow_returns
    assert tx.channel is not None
    assert set(tx.channel.tolist()) == {"online", "store", "community"}
    assert tx.quantity is not None
    assert tx.order_id is not None
    assert tx.sku is not None
    returns = tx.amount < 0
    assert 0 < returns.mean() < 0.05
    assert (tx.quantity[returns] < 0).all()
    assert (tx.quantity[~returns] > 0).all()
    # every return refers to a purchased line of the same order, later, for the same amount
    bought = {
        (o, s): (c, t, a)
        for o, s, c, t, a in zip(
            tx.order_id[~returns].tolist(),
            tx.sku[~returns].tolist(),
            tx.customer_id[~returns].tolist(),
            tx.timestamp[~returns].tolist(),
            tx.amount[~returns].tolist(),
            strict=True,
        )
    }
    assert len(bought) == int((~returns).sum())  # (order, sku) lines are unique
    for o, s, c, t, a in zip(
        tx.order_id[returns].tolist(),
        tx.sku[returns].tolist(),
        tx.customer_id[returns].tolist(),
        tx.timestamp[returns].tolist(),
        tx.amount[returns].tolist(),
        strict=True,
    ):
        customer, when, amount = bought[(o, s)]
        assert customer == c
        assert when < t
        assert amount == -a
    assert (np.diff(tx.timestamp.astype(np.int64)) >= 0).all()
    # a third or more of the orders have several lines; amounts are whole cents
    _, lines = np.unique(tx.order_id[~returns], return_counts=True)
    assert (lines > 1).mean() > 0.3
    assert np.allclose(np.round(tx.amount * 100), tx.amount * 100)


def test_several_purchases_can_share_a_day(retailer: SyntheticRetailer) -> None:
    orders = _orders(retailer)
    day = orders["time"].astype("datetime64[D]").astype(np.int64)
    key = orders["person"] * 100_000 + day
    assert len(np.unique(key)) < len(key)
    assert (orders["time"].astype(np.int64) % 1_000_000 != 0).mean() > 0.99  # sub-second timestamps
