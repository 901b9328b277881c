"""rfm.score / score_arrays: range, monotonicity, tie and order invariance, degenerate inputs."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import omnicore
from omnicore import ValidationError, rfm
from tests.rfm.strategies import bins, rfm_inputs


def scores_of(inputs: tuple[np.ndarray, np.ndarray, np.ndarray], b: int) -> rfm.RFMScores:
    recency, frequency, monetary = inputs
    return rfm.score_arrays(np.arange(len(recency)), recency, frequency, monetary, bins=b)


@given(rfm_inputs(), bins)
def test_scores_within_1_to_bins(inputs: tuple[np.ndarray, np.ndarray, np.ndarray], b: int) -> None:
    s = scores_of(inputs, b)
    for column in (s.recency_score, s.frequency_score, s.monetary_score):
        assert column.dtype == np.int8
        assert column.min() >= 1
        assert column.max() <= b


@given(rfm_inputs(), bins)
def test_scores_monotone_in_their_input(inputs: tuple[np.ndarray, np.ndarray, np.ndarray], b: int) -> None:
    recency, frequency, monetary = inputs
    s = scores_of(inputs, b)
    for values, scores, sign in (
        (recency, s.recency_score, -1),  # more days since last purchase: lower R
        (frequency, s.frequency_score, 1),
        (monetary, s.monetary_score, 1),
    ):
        order = np.argsort(sign * values, kind="stable")
        assert np.all(np.diff(scores[order].astype(int)) >= 0)
        # equal inputs, equal scores
        for value in np.unique(values):
            assert len(set(scores[values == value].tolist())) == 1


@given(rfm_inputs(), bins, st.randoms(use_true_random=False))
def test_scores_invariant_to_row_order(
    inputs: tuple[np.ndarray, np.ndarray, np.ndarray], b: int, rnd
) -> None:
    recency, frequency, monetary = inputs
    ids = np.arange(len(recency))
    perm = np.array(rnd.sample(range(len(ids)), len(ids)))
    a = rfm.score_arrays(ids, recency, frequency, monetary, bins=b)
    c = rfm.score_arrays(ids[perm], recency[perm], frequency[perm], monetary[perm], bins=b)
    back = np.argsort(perm)
    assert np.array_equal(a.recency_score, c.recency_score[back])
    assert np.array_equal(a.frequency_score, c.frequency_score[back])
    assert np.array_equal(a.monetary_score, c.monetary_score[back])


@pytest.mark.parametrize(("n", "b"), [(10, 5), (11, 5), (997, 5), (1000, 4), (7, 10)])
def test_distinct_values_fall_into_equal_groups(n: int, b: int) -> None:
    values = np.random.default_rng(n).permutation(n).astype(np.float64)
    s = rfm.score_arrays(np.arange(n), values, values, values, bins=b)
    sizes = np.bincount(s.monetary_score, minlength=b + 1)[1:]
    if n >= b:
        assert sizes.max() - sizes.min() <= 1
    assert sizes.sum() == n
    # the best monetary value gets the top score, the best recency is the smallest value
    assert s.monetary_score[np.argmax(values)] == min(b, 1 + (n - 1) * b // n)
    assert s.recency_score[np.argmin(values)] == s.monetary_score[np.argmax(values)]


def test_one_time_buyers_all_get_f1_whatever_the_row_order() -> None:
    # The classic pitfall: a third buy once; rank(method="first") splits them into F=1 and F=2.
    rng = np.random.default_rng(0)
    orders = np.concatenate([np.ones(3400, np.int64), rng.integers(2, 30, 6600)])
    for seed in range(3):
        perm = np.random.default_rng(seed).permutation(len(orders))
        s = rfm.score_arrays(np.arange(len(orders)), np.ones(len(orders)), orders[perm], np.ones(len(orders)))
        f = s.frequency_score[orders[perm] == 1]
        assert set(f.tolist()) == {1}
        assert (s.frequency_score[orders[perm] > 1] > 1).all()


def test_degenerate_inputs_are_defined() -> None:
    one = rfm.score_arrays([7], [3.0], [2], [10.0])
    assert (one.recency_score.tolist(), one.frequency_score.tolist(), one.monetary_score.tolist()) == (
        [1],
        [1],
        [1],
    )
    same = rfm.score_arrays(np.arange(5), np.full(5, 4.0), np.full(5, 2), np.full(5, 9.0))
    assert set(
        same.recency_score.tolist() + same.frequency_score.tolist() + same.monetary_score.tolist()
    ) == {1}
    empty = rfm.score_arrays(np.array([], np.int64), [], [], [])
    assert len(empty) == 0


def test_fixed_thresholds() -> None:
    t = rfm.Thresholds(
        recency_days=(30, 90, 180, 365), frequency=(2, 3, 5, 10), monetary=(50, 100, 250, 1000)
    )
    s = rfm.score_arrays(
        [1, 2, 3, 4, 5, 6],
        [0, 30, 31, 365, 366, 90],
        [1, 2, 4, 10, 50, 3],
        [0, 50, 99.99, 1000, 5000, 250],
        method="fixed",
        thresholds=t,
    )
    assert s.recency_score.tolist() == [5, 5, 4, 2, 1, 4]
    assert s.frequency_score.tolist() == [1, 2, 3, 5, 5, 3]
    assert s.monetary_score.tolist() == [1, 2, 2, 5, 5, 4]
    assert s.method == "fixed"


def test_bad_arguments_raise_validation_errors() -> None:
    t = rfm.Thresholds(recency_days=(30,), frequency=(2,), monetary=(50,))
    with pytest.raises(ValidationError, match="needs thresholds"):
        rfm.score_arrays([1], [1], [1], [1], method="fixed")
    with pytest.raises(ValidationError, match="cut points"):
        rfm.score_arrays([1], [1], [1], [1], method="fixed", thresholds=t)
    with pytest.raises(ValidationError, match="only used"):
        rfm.score_arrays([1], [1], [1], [1], thresholds=t)
    with pytest.raises(ValidationError, match="bins"):
        rfm.score_arrays([1], [1], [1], [1], bins=0)
    with pytest.raises(ValidationError, match="NaN"):
        rfm.score_arrays([1, 2], [1, np.nan], [1, 1], [1, 1])
    with pytest.raises(ValidationError, match="rows"):
        rfm.score_arrays([1, 2], [1], [1, 1], [1, 1])
    with pytest.raises(ValidationError, match="increasing"):
        rfm.Thresholds(recency_days=(30, 30), frequency=(1, 2), monetary=(1, 2))
    with pytest.raises(ValidationError, match="same number"):
        rfm.Thresholds(recency_days=(30,), frequency=(1, 2), monetary=(1, 2))


def test_thresholds_json_round_trip() -> None:
    t = rfm.Thresholds(recency_days=(30, 90), frequency=(2, 5), monetary=(100, 1000))
    assert omnicore.from_json(omnicore.to_json(t), rfm.Thresholds) == t


def test_score_reads_a_customer_summary() -> None:
    tx = omnicore.Transactions(
        customer_id=[1, 1, 1, 2, 3, 3],
        timestamp=["2024-01-02", "2024-01-02", "2024-03-01", "2024-02-10", "2024-01-05", "2024-03-25"],
        amount=[30.0, 10.0, 20.0, 15.0, 40.0, -10.0],
        allow_returns=True,
    )
    summary = omnicore.summarize(tx, observation_end="2024-03-31")
    s = rfm.score(summary, bins=3)
    assert s.customer_id.tolist() == [1, 2, 3]
    # orders by timestamp: customer 1 has two (the two Jan-2 rows are one order), 2 and 3 one each
    assert s.frequency.tolist() == [2.0, 1.0, 1.0]
    # monetary is net spend: customer 3's return is subtracted
    assert s.monetary.tolist() == [60.0, 15.0, 30.0]
    # the return on 03-25 is not a purchase: customer 3's last purchase is 01-05
    assert s.days_since_last.tolist() == [30.0, 50.0, 86.0]
    assert s.recency_score.tolist() == [3, 2, 1]
    periods = rfm.score(summary, bins=3, frequency="periods", monetary="average")
    assert periods.frequency.tolist() == [2.0, 1.0, 1.0]
    assert periods.monetary.tolist() == [30.0, 15.0, 30.0]
    with pytest.raises(ValidationError):
        rfm.score(summary, frequency="visits")  # type: ignore[arg-type]


def test_large_inputs_score_as_the_rank_formula() -> None:
    # From 200k customers recency is scored in a helper thread; the result must not depend on it.
    rng = np.random.default_rng(11)
    n = 250_000
    recency = np.round(rng.exponential(120.0, n), 1)
    frequency = rng.geometric(0.4, n).astype(np.float64)
    monetary = np.round(rng.gamma(2.0, 80.0, n), 2)
    scores = rfm.score_arrays(np.arange(n), recency, frequency, monetary)
    assert scores.recency_score.tolist() == (1 + rfm.count_above(recency) * 5 // n).tolist()
    assert scores.frequency_score.tolist() == (1 + rfm.count_below(frequency) * 5 // n).tolist()
    assert scores.monetary_score.tolist() == (1 + rfm.count_below(monetary) * 5 // n).tolist()
