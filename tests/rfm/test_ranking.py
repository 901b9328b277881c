"""count_below / count_above against a brute-force count."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from omnicore.rfm import count_above, count_below
from omnicore.rfm._ranking import quantile_scores
from tests.rfm.strategies import columns


def brute_below(values: np.ndarray) -> list[int]:
    return [sum(1 for other in values.tolist() if other < v) for v in values.tolist()]


@given(columns)
def test_count_below_matches_brute_force(values: np.ndarray) -> None:
    assert count_below(values).tolist() == brute_below(values)


@given(columns)
def test_count_above_matches_brute_force(values: np.ndarray) -> None:
    expected = [sum(1 for other in values.tolist() if other > v) for v in values.tolist()]
    assert count_above(values).tolist() == expected


def test_paths_agree_on_integral_floats_and_ints() -> None:
    rng = np.random.default_rng(3)
    ints = rng.integers(0, 50, 5000)
    assert np.array_equal(count_below(ints), count_below(ints.astype(np.float64)))
    assert np.array_equal(count_below(ints), count_below(ints + 0.5))  # the sorting path
    wide = ints * 10**12  # too wide to count directly
    assert np.array_equal(count_below(ints), count_below(wide))


def test_empty() -> None:
    assert count_below(np.array([], dtype=np.float64)).tolist() == []


@given(columns, st.integers(1, 12))
def test_quantile_scores_equal_the_rank_formula(values: np.ndarray, bins: int) -> None:
    n = len(values)
    best_high = 1 + (count_below(values) * bins) // n
    best_low = 1 + (count_above(values) * bins) // n
    assert quantile_scores(values, bins, higher_is_better=True).tolist() == best_high.tolist()
    assert quantile_scores(values, bins, higher_is_better=False).tolist() == best_low.tolist()


whole_floats = st.lists(st.integers(-40, 40), min_size=1, max_size=60).map(
    lambda xs: np.array(xs, dtype=np.float64)
)


@given(whole_floats, st.integers(1, 12))
def test_quantile_scores_of_whole_numbers_equal_the_rank_formula(values: np.ndarray, bins: int) -> None:
    # Whole-number floats (orders) take the counting path for their cut points; shifted by a half they
    # take the partition path, and both must match the rank formula.
    n = len(values)
    for column in (values, values + 0.5):
        best_high = 1 + (count_below(column) * bins) // n
        best_low = 1 + (count_above(column) * bins) // n
        assert quantile_scores(column, bins, higher_is_better=True).tolist() == best_high.tolist()
        assert quantile_scores(column, bins, higher_is_better=False).tolist() == best_low.tolist()


@pytest.mark.parametrize("shape", ["uniform", "skewed", "ties", "outlier", "constant"])
@pytest.mark.parametrize("bins", [3, 5, 10])
def test_large_float_columns_equal_the_rank_formula(shape: str, bins: int) -> None:
    # From 4096 values, float cut points come from a histogram (an outlier that crowds every value
    # into one bin falls back to a partition); every path must match the rank formula.
    rng = np.random.default_rng(len(shape) * 100 + bins)
    n = 20_011
    values = {
        "uniform": rng.random(n),
        "skewed": rng.gamma(0.2, 100.0, n),
        "ties": np.round(rng.normal(0.0, 2.0, n), 1) + 0.25,
        "outlier": np.concatenate([rng.random(n - 1), [1e12]]),
        "constant": np.full(n, -3.5),
    }[shape]
    best_high = 1 + (count_below(values) * bins) // n
    best_low = 1 + (count_above(values) * bins) // n
    assert quantile_scores(values, bins, higher_is_better=True).tolist() == best_high.tolist()
    assert quantile_scores(values, bins, higher_is_better=False).tolist() == best_low.tolist()
