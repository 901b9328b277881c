"""Shared test data for the campaign tests: a rule set using every feature and random event logs."""

from __future__ import annotations

import numpy as np

from omnicore.campaigns import (
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
    message,
    not_followed_by,
    on,
    rule,
)
from omnicore.data import Events
from omnicore.storage import ConsentRecords

T0 = np.datetime64("2024-06-01T00:00:00", "us")
TYPES = np.array(["browse", "add_to_cart", "purchase", "chat_message", "signup"])
CATEGORIES = np.array(["baby", "beauty", "food", ""])
TEXTS = np.array(["", "有防晒霜吗", "need sunscreen", "sunscreens", "hello", "奶粉多少钱"])


def full_ruleset(*, quiet: bool = True, caps: bool = True) -> RuleSet:
    """Rules exercising triggers, profile conditions, windows, absence, first-time, keywords and policies."""
    rules = [
        rule("baby_invite")
        .when(on("browse", where=field("category") == "baby"))
        .within(count_within("browse", at_least=2, hours=6, where=field("category") == "baby"))
        .where(field("segment") != "Hibernating")
        .exclusive("community")
        .then(community_invite("wecom", community="parenting")),
        rule("cart_coupon")
        .when(on("add_to_cart", where=field("price") >= 50))
        .unless(not_followed_by("purchase", hours=2))
        .reeligible_after(hours=12)
        .holdout(0.2)
        .then(coupon("sms", template="SAVE10")),
        rule("sunscreen")
        .when(on("chat_message", where=field("text").mentions("防晒", "sunscreen")))
        .priority(5)
        .exclusive("community")
        .then(message("wecom", template="live-stream")),
        rule("agent")
        .when(on("chat_message", where=field("text").mentions("奶粉")))
        .then(assign_agent("baby-team")),
        rule("welcome").when(on("signup")).first_time().then(message("wecom", template="welcome")),
        rule("near_store")
        .when(on("browse", where=field("distance_km") < 2))
        .then(message("push", template="drop-by", consent_purpose="marketing")),
    ]
    policies = Policies(
        caps=[FrequencyCap(scope="channel", limit=2, period_seconds=3 * 3600)] if caps else [],
        exclusion_groups=[ExclusionGroup("community", window_seconds=4 * 3600)],
        quiet_hours=QuietHours(start_hour=22, end_hour=8) if quiet else None,
        sensitive_fields={"distance_km": "precise_location"},
    )
    return RuleSet(rules=rules, policies=policies)


def random_events(
    rng: np.random.Generator, n: int, n_customers: int = 6, *, with_ids: bool = False
) -> Events:
    """Random events over two days, minute resolution (many ties), sorted by time."""
    minutes = np.sort(rng.integers(0, 2 * 24 * 60, n))
    kinds = rng.integers(0, TYPES.size, n)
    return Events(
        customer_id=rng.integers(1, n_customers + 1, n),
        event_type=TYPES[kinds],
        timestamp=T0 + minutes.astype("timedelta64[m]"),
        event_id=np.arange(n) if with_ids else None,
        properties={
            "category": CATEGORIES[rng.integers(0, CATEGORIES.size, n)],
            "price": rng.choice([10.0, 60.0, 120.0], n),
            "text": TEXTS[rng.integers(0, TEXTS.size, n)],
            "distance_km": rng.choice([0.5, 5.0], n),
        },
    )


def profiles(n_customers: int = 6) -> Profiles:
    """Profiles with segments and time zones (one customer in New York)."""
    ids = np.arange(1, n_customers + 1)
    segments = np.array(["Champions", "Hibernating", "Loyal"])[ids % 3]
    tz = np.where(ids == 2, "America/New_York", "Asia/Shanghai")
    return Profiles(customer_id=ids, attributes={"segment": segments, "timezone": tz})


def ledger(n_customers: int = 6) -> ConsentRecords:
    """Everyone grants marketing on day 0; customer 3 withdraws on day 1; customer 1 grants location."""
    ids = list(range(1, n_customers + 1))
    return ConsentRecords(
        subject_id=[*ids, 3, 1],
        purpose=["marketing"] * n_customers + ["marketing", "precise_location"],
        granted=[True] * n_customers + [False, True],
        recorded_at=[T0] * n_customers + [T0 + np.timedelta64(1, "D"), T0],
        source=["mini_program"] * (n_customers + 2),
    )
