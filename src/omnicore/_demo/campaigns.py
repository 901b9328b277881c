"""Demo step: campaign triggers over the synthetic retailer's events, with every policy on."""

from __future__ import annotations

from typing import Any

import numpy as np

from omnicore._demo._base import DemoContext, DemoSection
from omnicore.campaigns import (
    SEGMENT_CHANGED,
    CampaignEngine,
    Decisions,
    ExclusionGroup,
    FrequencyCap,
    Policies,
    Profiles,
    QuietHours,
    RuleSet,
    assign_agent,
    community_invite,
    count_within,
    coupon,
    field,
    holdout_draw,
    message,
    not_followed_by,
    on,
    rule,
    segment_changed_events,
    segment_moved,
)
from omnicore.data import STRING_DTYPE, Events, Transactions, searchsorted
from omnicore.storage import ConsentRecords

__all__ = ["demo_rules", "run"]

_DAY = np.timedelta64(1, "D")


def demo_rules() -> RuleSet:
    """The demo's private-domain playbook."""
    rules = [
        rule("baby_community")
        .when(on("browse", where=field("category") == "baby"))
        .within(count_within("browse", at_least=2, days=7, where=field("category") == "baby"))
        .where(field("segment") != "Hibernating")
        .exclusive("community")
        .reeligible_after(days=30)
        .then(community_invite("wecom", community="parenting")),
        rule("cart_rescue")
        .when(on("add_to_cart", where=field("price") >= 50))
        .unless(not_followed_by("purchase", hours=24))
        .reeligible_after(days=7)
        .holdout(0.1)
        .then(coupon("sms", template="CART10")),
        rule("sunscreen_live")
        .when(on("chat_message", where=field("text").mentions("防晒", "sunscreen", "live stream", "直播")))
        .priority(5)
        .exclusive("community")
        .then(message("wecom", template="summer-live-booking")),
        rule("where_is_my_order")
        .when(on("chat_message", where=field("text").mentions("快递", "where is my order", "收货地址")))
        .then(assign_agent("logistics")),
        rule("first_purchase_welcome")
        .when(on("purchase"))
        .first_time()
        .then(message("wecom", template="welcome-pack")),
        rule("winback_hibernating")
        .when(on("add_to_cart"))
        .where(field("segment") == "Hibernating")
        .reeligible_after(days=60)
        .holdout(0.2)
        .then(coupon("sms", template="WINBACK20")),
        rule("slipping_loyal")
        .when(on(SEGMENT_CHANGED, where=segment_moved(to_segment="At Risk")))
        .holdout(0.2)
        .then(coupon("sms", template="COMEBACK15")),
    ]
    return RuleSet(
        rules=rules,
        policies=Policies(
            caps=[
                FrequencyCap(scope="channel", limit=2, period_seconds=86400),
                FrequencyCap(scope="global", limit=4, period_seconds=7 * 86400),
            ],
            exclusion_groups=[ExclusionGroup("community", window_seconds=7 * 86400)],
            quiet_hours=QuietHours(start_hour=22, end_hour=8),
        ),
    )


def _profiles(transactions: Transactions, observation_end: np.datetime64) -> Profiles:
    """Segments from recency (a light stand-in when the RFM step has not run)."""
    order = np.argsort(transactions.customer_id, kind="stable")
    ids = transactions.customer_id[order]
    times = transactions.timestamp[order]
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    last = np.maximum.reduceat(times.view(np.int64), starts).view("datetime64[us]")
    days = (observation_end - last).astype("timedelta64[s]").astype(np.int64) / 86400.0
    segment = np.where(days <= 60, "Active", np.where(days <= 180, "At Risk", "Hibernating"))
    return Profiles(
        customer_id=ids[starts],
        attributes={
            "segment": segment.astype(STRING_DTYPE),
            "timezone": np.full(starts.size, "Asia/Shanghai"),
        },
    )


def _segments_from_results(results: dict[str, Any]) -> Profiles | None:
    """Profiles from the RFM step's segmentation (segment and R/F/M scores), when it ran."""
    seg = results.get("rfm.segments")
    ids = getattr(seg, "customer_id", None)
    labels = getattr(seg, "segment", None)
    if ids is None or labels is None:
        return None
    attributes: dict[str, Any] = {
        "segment": np.asarray(labels).astype(STRING_DTYPE),
        "timezone": np.full(len(ids), "Asia/Shanghai"),
    }
    for name, column in (
        ("r_score", "recency_score"),
        ("f_score", "frequency_score"),
        ("m_score", "monetary_score"),
    ):
        values = getattr(seg, column, None)
        if values is not None:
            attributes[name] = np.asarray(values, dtype=np.float64)
    return Profiles(customer_id=np.asarray(ids), attributes=attributes)


def _segment_moves(results: dict[str, Any], at: np.datetime64) -> Events | None:
    """``segment_changed`` events between the RFM step's two segmentations (derived-state triggers)."""
    now, before = results.get("rfm.segments"), results.get("rfm.segments_90d_before")
    if now is None or before is None:
        return None
    ids_now, ids_before = np.asarray(now.customer_id), np.asarray(before.customer_id)
    order = np.argsort(ids_before, kind="stable")
    pos = np.minimum(searchsorted(ids_before[order], ids_now), max(ids_before.size - 1, 0))
    known = ids_before.size > 0
    found = (ids_before[order][pos] == ids_now) if known else np.zeros(ids_now.size, bool)
    old = np.where(found, np.asarray(before.segment)[order][pos] if known else "", "")
    return segment_changed_events(ids_now, old, np.asarray(now.segment), at=at)


def _ledger(customer_ids: np.ndarray, at: np.datetime64) -> ConsentRecords:
    """85% granted marketing consent at sign-up; 3% of those unsubscribed later."""
    u = holdout_draw(customer_ids, salt="demo-consent", campaign_id="marketing")
    granted = u < 0.85
    withdrew = u < 0.03
    ids = np.concatenate([customer_ids, customer_ids[withdrew]])
    n = ids.size
    times = np.concatenate([np.full(customer_ids.size, at), np.full(int(withdrew.sum()), at + 200 * _DAY)])
    return ConsentRecords(
        subject_id=ids,
        purpose=np.full(n, "marketing", dtype=STRING_DTYPE),
        granted=np.concatenate([granted, np.zeros(int(withdrew.sum()), bool)]),
        recorded_at=times,
        source=np.full(n, "mini_program", dtype=STRING_DTYPE),
    )


def run(ctx: DemoContext) -> DemoSection:
    """Evaluate the playbook over the event log, with state and decisions in the store."""
    data = ctx.data
    events = data.events
    profiles = _segments_from_results(ctx.results) or _profiles(data.transactions, data.observation_end)
    customers = np.unique(events.customer_id)
    first_seen = events.timestamp.min() - _DAY
    ctx.store.campaigns.record_consent(_ledger(customers, first_seen))
    engine = CampaignEngine(ctx.store, demo_rules(), name="demo", profiles=profiles)
    decisions: Decisions = engine.process(events, now=data.observation_end)
    moves = _segment_moves(ctx.results, data.observation_end)
    if moves is not None and len(moves):
        decisions = Decisions.concat([decisions, engine.process(moves)])
    ctx.results["campaigns.decisions"] = decisions
    ctx.results["campaigns.rules"] = demo_rules()
    by_rule = decisions.counts("rule_id", "status")
    statuses = sorted({s for _, s in by_rule})
    table: list[tuple[str, ...]] = [("rule", *statuses)]
    for rule_id in [r.rule_id for r in demo_rules().rules]:
        table.append((rule_id, *(f"{by_rule.get((rule_id, s), 0):,}" for s in statuses)))
    sent = int(decisions.sent.sum())
    return DemoSection(
        title="Campaign triggers",
        lines=(
            f"events evaluated: {len(events):,} against {len(demo_rules().rules)} rules "
            f"(windows, absence timers, keywords in Chinese and English)",
            f"decisions: {len(decisions):,}; sent or deferred to after quiet hours: {sent:,}; "
            f"held out for uplift: {int((decisions.status == 'held_out').sum()):,}",
            f"pending absence timers: {engine.pending_timers:,}; every decision recorded once in the store",
        ),
        table=tuple(table),
    )
