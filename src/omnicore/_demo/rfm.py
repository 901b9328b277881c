"""Demo step: RFM segments at the observation end, and how customers moved since 90 days earlier."""

from __future__ import annotations

import numpy as np

from omnicore import rfm
from omnicore._demo._base import DemoContext, DemoSection

__all__ = ["run"]

_LOOKBACK = np.timedelta64(90, "D")


def run(ctx: DemoContext) -> DemoSection:
    """Segment customers now and 90 days earlier (from the store), report the table and migration."""
    end: np.datetime64 = np.datetime64(ctx.data.observation_end, "us")
    now = rfm.segment_customers(ctx.store, as_of=end)
    earlier: np.datetime64 = end - _LOOKBACK
    before = rfm.segment_customers(ctx.store, as_of=earlier)
    moves = rfm.migration(before, now)
    report = rfm.summarize_segments(now)
    ctx.results["rfm.segments"] = now
    ctx.results["rfm.segments_90d_before"] = before
    ctx.results["rfm.migration"] = moves
    ctx.results["rfm.summary_table"] = report

    table: list[tuple[str, ...]] = [
        ("segment", "customers", "share", "days since last", "orders", "spend", "revenue share")
    ]
    for row in report.to_records():
        if not row["customers"]:
            continue
        table.append(
            (
                row["segment"],
                f"{row['customers']:,}",
                f"{row['share']:.1%}",
                f"{row['mean_days_since_last']:.0f}",
                f"{row['mean_frequency']:.1f}",
                f"{row['mean_monetary']:,.0f}",
                f"{row['revenue_share']:.1%}",
            )
        )
    flows = moves.flows()
    top = [
        f"{source} -> {target}: {count:,} ({rate:.0%} of {source})"
        for source, target, count, rate in zip(
            flows.source.tolist(),
            flows.target.tolist(),
            flows.customers.tolist(),
            flows.rate.tolist(),
            strict=True,
        )
        if source != target
    ][:5]
    new_customers = moves.before_counts()[rfm.ABSENT]
    lines = (
        f"{len(now):,} customers scored 1-5 on recency, orders and net spend "
        f"(quantiles, ties kept together); {rfm.STANDARD_SEGMENTS.name} segments",
        f"vs. 90 days earlier ({earlier.astype('datetime64[D]')!s}): "
        f"{moves.stayed:.0%} of returning customers kept their segment; {new_customers:,} are new since",
        "largest moves: " + "; ".join(top) if top else "no customer changed segment",
    )
    return DemoSection(title="RFM segments", lines=lines, table=tuple(table))
