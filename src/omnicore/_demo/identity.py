"""Demo step: resolve the synthetic retailer's identifier records into customers, with guardrails."""

from __future__ import annotations

from typing import Any

import numpy as np

from omnicore._demo._base import DemoContext, DemoSection
from omnicore.identity import DEFAULT_RULES, add_records, evaluate_clusters

__all__ = ["run"]


def _truth_by_record(data: Any, record_id: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """True person and household of each record (-1 for placeholder and test records)."""
    truth = data.truth
    row_of = {str(r): k for k, r in enumerate(truth.record_id.tolist())}
    pos = np.fromiter((row_of[str(r)] for r in record_id.tolist()), dtype=np.int64, count=len(record_id))
    person = np.asarray(truth.record_person, dtype=np.int64)[pos]
    household_of = dict(zip(truth.person_id.tolist(), truth.household_id.tolist(), strict=True))
    household = np.fromiter(
        (household_of.get(p, -1) for p in person.tolist()), dtype=np.int64, count=person.size
    )
    return person, household


def run(ctx: DemoContext) -> DemoSection:
    """Records in, customers out: refused merges, and precision against the generator's truth."""
    records = ctx.data.identifiers
    resolution = add_records(ctx.store, records, DEFAULT_RULES, progress=ctx.bar("identity"))
    ctx.results["identity.resolution"] = resolution
    stats = resolution.stats
    record_id, customer = resolution.customer_of_records()
    person, household = _truth_by_record(ctx.data, record_id)
    known = person >= 0
    by_person = evaluate_clusters(customer[known], person[known])
    by_household = evaluate_clusters(customer[known], household[known])
    refused = sum(stats.refused.values())
    lines = (
        f"identifier rows in: {stats.n_rows:,} on {stats.n_records:,} records "
        f"({stats.n_invalid:,} invalid values dropped)",
        f"customers out: {stats.n_customers:,} (true persons: {by_person.n_true:,})",
        f"blocked values: {stats.n_blocked:,}; shared values: {stats.n_shared:,} on more than "
        f"{DEFAULT_RULES.max_records} records, {stats.n_shared_by_conflict:,} bridging a per-type "
        "limit conflict (household phones between two member cards or accounts)",
        f"links refused by guardrails: {refused:,}",
        f"pairwise precision {by_person.pair_precision:.4f}, recall {by_person.pair_recall:.4f} "
        f"(by person); precision {by_household.pair_precision:.4f} by household (strangers merged: "
        f"{1 - by_household.pair_precision:.2%} of predicted pairs)",
        "remaining person-level errors: household members who share a phone but never hold the same "
        "limited identifier type, which no deterministic rule can tell apart",
        "recall is bounded by the data: records that share no identifier need probabilistic matching",
    )
    table = (
        ("refused because", "links"),
        *((reason, f"{n:,}") for reason, n in sorted(stats.refused.items())),
    )
    return DemoSection(title="Identity resolution", lines=lines, table=table)
