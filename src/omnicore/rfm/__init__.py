"""RFM segmentation: recency, frequency and monetary scores, named segments and their migration.

From a :class:`~omnicore.summary.CustomerSummary` (:func:`omnicore.summarize`) to explainable segments::

    summary = omnicore.summarize(transactions, observation_end="2024-06-30")
    scores = rfm.score(summary)                  # 1..5 per dimension, tie-safe
    segments = rfm.segment(scores)               # STANDARD_SEGMENTS, or your own SegmentScheme
    rfm.summarize_segments(segments).to_pandas() # the report table
"""

from omnicore.rfm._clusters import ClusterProfile, RFMClusters, cluster
from omnicore.rfm._migration import ABSENT, MigrationFlows, SegmentMigration, migration
from omnicore.rfm._plot import plot_heatmap, plot_migration
from omnicore.rfm._ranking import count_above, count_below
from omnicore.rfm._schemes import LIFECYCLE_SEGMENTS, STANDARD_SEGMENTS, SegmentRule, SegmentScheme
from omnicore.rfm._scores import MAX_BINS, RFMScores, SummaryLike, Thresholds, score, score_arrays
from omnicore.rfm._segments import CustomerSegments, SegmentSummary, segment, summarize_segments
from omnicore.rfm._store import segment_customers

__all__ = [
    "ABSENT",
    "LIFECYCLE_SEGMENTS",
    "MAX_BINS",
    "STANDARD_SEGMENTS",
    "ClusterProfile",
    "CustomerSegments",
    "MigrationFlows",
    "RFMClusters",
    "RFMScores",
    "SegmentMigration",
    "SegmentRule",
    "SegmentScheme",
    "SegmentSummary",
    "SummaryLike",
    "Thresholds",
    "cluster",
    "count_above",
    "count_below",
    "migration",
    "plot_heatmap",
    "plot_migration",
    "score",
    "score_arrays",
    "segment",
    "segment_customers",
    "summarize_segments",
]
