"""rfm.migration against a dictionary count."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from omnicore import ValidationError, rfm


def segments_for(ids: np.ndarray, seed: int) -> rfm.CustomerSegments:
    rng = np.random.default_rng(seed)
    n = len(ids)
    return rfm.segment(
        rfm.score_arrays(ids, rng.exponential(60, n), rng.integers(1, 6, n), rng.gamma(2, 50, n))
    )


@given(
    st.sets(st.integers(0, 60), min_size=1, max_size=40),
    st.sets(st.integers(0, 60), min_size=1, max_size=40),
    st.integers(0, 1000),
)
def test_counts_match_a_dictionary_count(before_ids: set[int], after_ids: set[int], seed: int) -> None:
    before = segments_for(np.array(sorted(before_ids)), seed)
    after = segments_for(np.array(sorted(after_ids))[::-1], seed + 1)  # order must not matter
    m = rfm.migration(before, after)
    was = dict(zip(before.customer_id.tolist(), before.segment.tolist(), strict=True))
    now = dict(zip(after.customer_id.tolist(), after.segment.tolist(), strict=True))
    expected = Counter((was.get(c, rfm.ABSENT), now.get(c, rfm.ABSENT)) for c in set(was) | set(now))
    got = {
        (m.labels[i], m.labels[j]): int(m.counts[i, j])
        for i in range(len(m.labels))
        for j in range(len(m.labels))
        if m.counts[i, j]
    }
    assert got == dict(expected)
    rates = m.rates
    rows = m.counts.sum(axis=1) > 0
    np.testing.assert_allclose(rates[rows].sum(axis=1), 1.0)
    flows = m.flows()
    assert int(flows.customers.sum()) == len(set(was) | set(now))
    assert np.all(np.diff(flows.customers) <= 0)
    assert m.before_counts()[rfm.ABSENT] == len(set(now) - set(was))


def test_identical_segmentations_stay_put() -> None:
    s = segments_for(np.arange(100), 3)
    m = rfm.migration(s, s)
    assert m.stayed == 1.0
    frame = m.to_pandas()
    assert frame.loc["Champions", "Champions"] == s.counts()["Champions"]


def test_errors() -> None:
    a = segments_for(np.arange(5), 1)
    other = rfm.segment(
        rfm.score_arrays(np.arange(5), np.arange(5), np.arange(5), np.arange(5)), rfm.LIFECYCLE_SEGMENTS
    )
    with pytest.raises(ValidationError, match="same segment scheme"):
        rfm.migration(a, other)
    dup = segments_for(np.array([1, 1, 2]), 2)
    with pytest.raises(ValidationError, match="more than once"):
        rfm.migration(dup, a)
