"""rfm.cluster: reproducible, recovers well-separated groups, profiles in RFM terms."""

from __future__ import annotations

import numpy as np
import pytest

from omnicore import ValidationError, rfm


def three_groups(seed: int = 0) -> tuple[rfm.RFMScores, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = 200
    days = np.concatenate([rng.uniform(1, 5, n), rng.uniform(300, 400, n), rng.uniform(40, 60, n)])
    freq = np.concatenate([rng.integers(20, 30, n), rng.integers(1, 2, n), rng.integers(4, 6, n)])
    spend = np.concatenate([rng.uniform(2000, 3000, n), rng.uniform(10, 20, n), rng.uniform(200, 300, n)])
    truth = np.repeat([0, 1, 2], n)
    return rfm.score_arrays(np.arange(3 * n), days, freq, spend), truth


def test_recovers_separated_groups_and_orders_by_revenue() -> None:
    scores, truth = three_groups()
    result = rfm.cluster(scores, k=3, seed=4)
    # the clustering is the truth up to relabelling
    pairs = set(zip(truth.tolist(), result.cluster.tolist(), strict=True))
    assert len(pairs) == 3
    profile = result.profile
    assert np.all(np.diff(profile.revenue_share) <= 0)
    assert profile.description[0] == "recent, frequent, high spend"
    assert profile.days_since_last[0] < 5 < 300 < profile.days_since_last[-1]
    assert profile.customers.tolist() == [200, 200, 200]


def test_same_seed_same_result() -> None:
    scores, _ = three_groups(1)
    a = rfm.cluster(scores, k=4, seed=9)
    b = rfm.cluster(scores, k=4, seed=9)
    assert np.array_equal(a.cluster, b.cluster)
    assert a.inertia == b.inertia


def test_bad_k() -> None:
    scores = rfm.score_arrays([1, 2, 3], [1, 1, 1], [1, 1, 1], [5, 5, 5])
    with pytest.raises(ValidationError, match="distinct"):
        rfm.cluster(scores, k=2)
    with pytest.raises(ValidationError):
        rfm.cluster(scores, k=0)
    assert rfm.cluster(scores, k=1).cluster.tolist() == [0, 0, 0]
