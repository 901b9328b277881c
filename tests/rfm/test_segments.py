"""Schemes cover every cell once; segments partition customers; report table and frame exports."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import omnicore
from omnicore import ValidationError, rfm
from tests.rfm.strategies import rfm_inputs

ISSUE_NAMES = {
    "Champions", "Loyal", "Potential Loyalist", "New", "Promising", "Need Attention", "About to Sleep",
    "At Risk", "Can't Lose Them", "Hibernating", "Lost",
}  # fmt: skip


def test_standard_scheme_has_the_issue_names_and_covers_each_cell_once() -> None:
    scheme = rfm.STANDARD_SEGMENTS
    assert set(scheme.names) == ISSUE_NAMES
    assert (scheme.coverage() == 1).all()
    # brute force: every cell matches exactly one rule, and the lookup table agrees with it
    for r, f, m in itertools.product(range(1, 6), repeat=3):
        matching = [i for i, rule in enumerate(scheme.segments) if rule.matches(r, f, m)]
        assert matching == [scheme.table[r - 1, f - 1, m - 1]]


def test_well_known_cells() -> None:
    scheme = rfm.STANDARD_SEGMENTS

    def name(r: int, f: int, m: int = 3) -> str:
        return scheme.names[scheme.table[r - 1, f - 1, m - 1]]

    assert name(5, 5) == "Champions"
    assert name(5, 1) == "New"
    assert name(4, 1) == "Promising"
    assert name(1, 5) == "Can't Lose Them"
    assert name(1, 1) == "Lost"
    assert name(2, 2) == "Hibernating"
    assert name(3, 3) == "Need Attention"


def test_gaps_and_overlaps_are_all_reported() -> None:
    with pytest.raises(ValidationError) as info:
        rfm.SegmentScheme(
            name="bad",
            bins=3,
            segments=(
                rfm.SegmentRule(name="a", recency=(2, 3)),
                rfm.SegmentRule(name="b", recency=(3, 3), frequency=(3, 3)),
            ),
        )
    text = str(info.value)
    assert "9 of 27 score cells are covered by no segment" in text
    assert "R3F3M1 is in several segments: ['a', 'b']" in text
    with pytest.raises(ValidationError, match="unique"):
        rfm.SegmentScheme(name="x", bins=1, segments=(rfm.SegmentRule(name="a"), rfm.SegmentRule(name="a")))
    with pytest.raises(ValidationError, match="exceeds bins"):
        rfm.SegmentScheme(name="x", bins=2, segments=(rfm.SegmentRule(name="a", recency=(1, 3)),))
    with pytest.raises(ValidationError):
        rfm.SegmentRule(name="a", recency=(3, 2))


rule_strategy = st.builds(
    rfm.SegmentRule,
    name=st.text(min_size=1, max_size=12).filter(str.strip),
    recency=st.none() | st.tuples(st.integers(1, 3), st.integers(3, 5)),
    monetary=st.none() | st.integers(1, 5),
    description=st.text(max_size=30),
)


@given(rule_strategy)
def test_rule_json_round_trip(rule: rfm.SegmentRule) -> None:
    assert omnicore.from_json(omnicore.to_json(rule), rfm.SegmentRule) == rule


@pytest.mark.parametrize("scheme", [rfm.STANDARD_SEGMENTS, rfm.LIFECYCLE_SEGMENTS])
def test_scheme_json_round_trip(scheme: rfm.SegmentScheme) -> None:
    again = omnicore.from_json(omnicore.to_json(scheme), rfm.SegmentScheme)
    assert again == scheme
    assert np.array_equal(again.table, scheme.table)


def test_invalid_scheme_json_raises_validation_error() -> None:
    text = omnicore.to_json(rfm.LIFECYCLE_SEGMENTS).replace('"recency": [1, 2]', '"recency": [1, 1]')
    with pytest.raises(ValidationError, match="covered by no segment"):
        omnicore.from_json(text, rfm.SegmentScheme)


@given(rfm_inputs(), st.sampled_from([rfm.STANDARD_SEGMENTS, rfm.LIFECYCLE_SEGMENTS]))
def test_segments_partition_customers(inputs, scheme: rfm.SegmentScheme) -> None:
    recency, frequency, monetary = inputs
    scores = rfm.score_arrays(np.arange(len(recency)), recency, frequency, monetary, bins=scheme.bins)
    segments = rfm.segment(scores, scheme)
    assert len(segments) == len(scores)
    assert sum(segments.counts().values()) == len(scores)
    member_sets = [set(segments.members(name).tolist()) for name in scheme.names]
    assert set().union(*member_sets) == set(range(len(recency)))
    assert sum(len(m) for m in member_sets) == len(recency)
    for i in range(len(recency)):
        rule = scheme.rule(str(segments.segment[i]))
        assert rule.matches(
            int(scores.recency_score[i]), int(scores.frequency_score[i]), int(scores.monetary_score[i])
        )


def test_bins_must_match_the_scheme() -> None:
    scores = rfm.score_arrays([1, 2], [1, 2], [1, 2], [1, 2], bins=4)
    with pytest.raises(ValidationError, match="4"):
        rfm.segment(scores)


def test_segment_summary_and_exports() -> None:
    rng = np.random.default_rng(5)
    n = 500
    scores = rfm.score_arrays(
        np.arange(n), rng.exponential(90, n), rng.integers(1, 9, n), rng.gamma(2, 40, n)
    )
    segments = rfm.segment(scores)
    table = rfm.summarize_segments(segments)
    assert table.segment.tolist() == list(rfm.STANDARD_SEGMENTS.names)
    assert int(table.customers.sum()) == n
    assert table.share.sum() == pytest.approx(1.0)
    assert table.revenue_share.sum() == pytest.approx(1.0)
    champions = segments.segment_code == 0
    assert table.mean_monetary[0] == pytest.approx(scores.monetary[champions].mean())
    assert table.revenue[0] == pytest.approx(scores.revenue[champions].sum())
    empty = table.customers == 0
    assert np.isnan(table.mean_frequency[empty]).all()

    frame = segments.to_pandas()
    assert list(frame["segment"].cat.categories) == list(rfm.STANDARD_SEGMENTS.names)
    assert frame["segment"].astype(str).tolist() == segments.segment.tolist()
    assert segments.to_polars()["segment"].to_list() == segments.segment.tolist()
    assert segments.to_arrow().column("segment").to_pylist() == segments.segment.tolist()
    assert table.to_pandas()["customers"].sum() == n
