"""The foundation's demo steps: generate the synthetic retailer, load it into the store, summarise it."""

from __future__ import annotations

import numpy as np

from omnicore._demo._base import DemoContext, DemoSection
from omnicore._progress import Progress
from omnicore.datasets import SyntheticRetailer, synthetic_retailer
from omnicore.summary import summarize

__all__ = ["generate_step", "store_step", "summary_step"]


def generate_step(
    *, n_customers: int, seed: int, progress: Progress
) -> tuple[DemoSection, SyntheticRetailer]:
    """Generate the synthetic retailer with known ground truth."""
    data = synthetic_retailer(n_customers=n_customers, seed=seed, progress=progress)
    tx = data.transactions
    lines = (
        f"customers: {n_customers:,} (seed {seed}); "
        f"observation end {np.datetime_as_string(data.observation_end, 'D')}",
        f"transaction rows: {len(tx):,}; events: {len(data.events):,}; "
        f"identifier rows: {len(data.identifiers):,}",
        f"fulfilment nodes: {len(data.network):,}; inventory positions: {len(data.inventory):,}; "
        f"open order lines: {len(data.open_orders):,}",
    )
    return DemoSection(title="Synthetic retailer", lines=lines), data


def store_step(ctx: DemoContext) -> DemoSection:
    """Write the generated logs and inventory into the store, in one transaction."""
    data = ctx.data
    with ctx.store.atomic():
        written_tx = ctx.store.transactions.append(data.transactions)
        written_ev = ctx.store.events.append(data.events)
        ctx.store.inventory.put(data.inventory)
    return DemoSection(
        title="Store",
        lines=(
            f"store: {ctx.store.url} (tenant {ctx.store.tenant!r})",
            f"wrote {written_tx:,} transactions, {written_ev:,} events, "
            f"{len(data.inventory):,} inventory positions",
            f"read back: {ctx.store.transactions.count():,} transactions",
        ),
    )


def summary_step(ctx: DemoContext) -> DemoSection:
    """Summarise customers from the transactions read back from the store."""
    tx = ctx.store.transactions.load()
    summary = summarize(tx, observation_end=ctx.data.observation_end)
    ctx.results["summary"] = summary
    table: list[tuple[str, ...]] = [("channel", "share of spend")]
    gross = summary.gross_spend
    for channel, share in sorted(summary.channel_share.items()):
        table.append((channel, f"{float((share * gross).sum() / gross.sum()):.1%}"))
    repeaters = float((summary.frequency > 0).mean())
    return DemoSection(
        title="Customer summary",
        lines=(
            f"customers with a purchase: {len(summary):,}; repeat buyers: {repeaters:.1%}",
            f"mean orders per customer: {float(summary.orders.mean()):.2f}; "
            f"mean gross spend: {float(gross.mean()):,.0f}; returned: {float(summary.returned.sum()):,.0f}",
            f"median days since last purchase: {float(np.median(summary.days_since_last)):.0f}",
        ),
        table=tuple(table),
    )
