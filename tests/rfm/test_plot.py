"""The charts draw what they say (values in the heat map, one band per flow)."""

from __future__ import annotations

import numpy as np
import pytest

from omnicore import ValidationError, rfm

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def segments(seed: int, ids: np.ndarray) -> rfm.CustomerSegments:
    rng = np.random.default_rng(seed)
    n = len(ids)
    return rfm.segment(
        rfm.score_arrays(ids, rng.exponential(60, n), rng.integers(1, 9, n), rng.gamma(2, 50, n))
    )


def test_heatmap_cells_hold_the_counts() -> None:
    s = segments(1, np.arange(400))
    ax = rfm.plot_heatmap(s)
    image = ax.get_images()[0].get_array()
    expected = np.zeros((5, 5))
    np.add.at(expected, (s.recency_score - 1, s.frequency_score - 1), 1)
    np.testing.assert_array_equal(np.asarray(image), expected)
    revenue = rfm.plot_heatmap(s, value="revenue").get_images()[0].get_array()
    assert float(np.asarray(revenue).sum()) == pytest.approx(float(s.revenue.sum()))
    with pytest.raises(ValidationError):
        rfm.plot_heatmap(s, value="margin")  # type: ignore[arg-type]
    plt.close("all")


def test_migration_draws_one_band_per_visible_flow() -> None:
    m = rfm.migration(segments(1, np.arange(300)), segments(2, np.arange(100, 400)))
    ax = rfm.plot_migration(m, min_share=0.0)
    assert len(ax.collections) == int((m.counts > 0).sum())
    plt.close("all")
