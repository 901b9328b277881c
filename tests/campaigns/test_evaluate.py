"""Evaluation: agreement with a naive reference, batch == streaming, and one scenario per policy."""

from __future__ import annotations

import attrs
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omnicore import ValidationError
from omnicore.campaigns import (
    Decisions,
    EngineState,
    ExclusionGroup,
    FrequencyCap,
    Policies,
    Profiles,
    QuietHours,
    RuleSet,
    assign_agent,
    compile_rules,
    count_within,
    coupon,
    crossed_below,
    evaluate,
    field,
    message,
    not_followed_by,
    on,
    p_alive_changed_events,
    rule,
    segment_changed_events,
    segment_moved,
)
from omnicore.data import Events
from omnicore.storage import ConsentRecords
from tests.campaigns._fixtures import T0, full_ruleset, ledger, profiles, random_events
from tests.campaigns._reference import reference

NOW = T0 + np.timedelta64(5, "D")
RULES = full_ruleset()
COMPILED = compile_rules(RULES)


def _rows(decisions) -> list[tuple[str, str, int, int]]:
    return list(
        zip(
            decisions.decision_key.tolist(),
            decisions.status.tolist(),
            decisions.decided_at.view(np.int64).tolist(),
            decisions.send_at.view(np.int64).tolist(),
            strict=True,
        )
    )


@settings(max_examples=15)
@given(st.integers(0, 2**32 - 1), st.integers(1, 250), st.booleans())
def test_matches_naive_reference(seed: int, n: int, quiet: bool) -> None:
    rules = full_ruleset(quiet=quiet)
    events = random_events(np.random.default_rng(seed), n)
    got = evaluate(rules, events, profiles=profiles(), consent=ledger(), now=NOW).decisions
    assert _rows(got) == reference(rules, events, profiles(), ledger(), NOW)


def test_reference_comparison_is_not_vacuous() -> None:
    events = random_events(np.random.default_rng(7), 400)
    got = evaluate(RULES, events, profiles=profiles(), consent=ledger(), now=NOW).decisions
    statuses = set(got.status.tolist())
    assert statuses >= {
        "fired",
        "deferred",
        "held_out",
        "suppressed_consent",
        "suppressed_reeligibility",
        "suppressed_exclusion",
    }
    assert set(got.rule_id.tolist()) == {r.rule_id for r in RULES.rules}


@settings(max_examples=25)
@given(st.integers(0, 2**32 - 1), st.data())
def test_streaming_in_any_chunks_equals_batch(seed: int, data: st.DataObject) -> None:
    rng = np.random.default_rng(seed)
    events = random_events(rng, 200, with_ids=data.draw(st.booleans()))
    whole = evaluate(COMPILED, events, profiles=profiles(), consent=ledger(), now=NOW)
    cuts = sorted(data.draw(st.sets(st.integers(1, len(events) - 1), max_size=40)))
    state, parts = None, []
    for a, b in zip([0, *cuts], [*cuts, len(events)], strict=True):
        step = evaluate(
            COMPILED, events.take(np.arange(a, b)), profiles=profiles(), consent=ledger(), state=state
        )
        state, parts = step.state, [*parts, step.decisions]
    last = evaluate(COMPILED, Events.empty(), profiles=profiles(), consent=ledger(), state=state, now=NOW)
    parts.append(last.decisions)
    streamed = [row for part in parts for row in _rows(part)]
    assert streamed == _rows(whole.decisions)
    assert last.state.pending_timers == whole.state.pending_timers


def test_replaying_the_log_fires_nothing_new() -> None:
    events = random_events(np.random.default_rng(3), 300)
    first = evaluate(COMPILED, events, profiles=profiles(), consent=ledger())
    again = evaluate(COMPILED, events, profiles=profiles(), consent=ledger(), state=first.state)
    assert len(again.decisions) == 0
    assert again.skipped_events == len(events)
    # duplicated event ids inside one batch are evaluated once
    with_ids = random_events(np.random.default_rng(3), 100, with_ids=True)
    doubled = Events.concat([with_ids, with_ids])
    once = evaluate(COMPILED, with_ids, profiles=profiles(), consent=ledger()).decisions
    twice = evaluate(COMPILED, doubled, profiles=profiles(), consent=ledger()).decisions
    assert _rows(once) == _rows(twice)
    assert len(set(twice.decision_key.tolist())) == len(twice)


def test_state_of_another_ruleset_is_refused() -> None:
    with pytest.raises(ValidationError, match="another rule set"):
        evaluate(COMPILED, Events.empty(), state=EngineState.empty("0123456789abcdef"))


# -- scenarios, one per policy ------------------------------------------------------------------
def _events(rows: list[tuple[int, str, str]], **props: list) -> Events:
    return Events(
        customer_id=[r[0] for r in rows],
        event_type=[r[1] for r in rows],
        timestamp=[np.datetime64(r[2], "us") for r in rows],
        properties=props or None,
    )


def _consent(*rows: tuple[int, str, bool, str]) -> ConsentRecords:
    return ConsentRecords(
        subject_id=[r[0] for r in rows],
        purpose=[r[1] for r in rows],
        granted=[r[2] for r in rows],
        recorded_at=[r[3] for r in rows],
        source=["test"] * len(rows),
    )


def test_cart_abandonment_absence_timer() -> None:
    rules = RuleSet(
        rules=[
            rule("cart")
            .when(on("add_to_cart"))
            .unless(not_followed_by("purchase", hours=24))
            .then(coupon("sms", consent_purpose=""))
        ]
    )
    ev = _events(
        [
            (1, "add_to_cart", "2024-05-01T10:00"),
            (1, "purchase", "2024-05-02T10:00"),  # bought at exactly 24 h
            (2, "add_to_cart", "2024-05-01T10:00"),
            (2, "purchase", "2024-05-02T10:01"),  # too late
            (3, "add_to_cart", "2024-05-01T12:00"),
        ]
    )
    early = evaluate(rules, ev, now="2024-05-02T11:00")
    assert early.decisions.customer_id.tolist() == [2]
    assert str(early.decisions.decided_at[0]) == "2024-05-02T10:00:00.000000"
    assert early.state.pending_timers == 1  # customer 3, due 12:00
    later = evaluate(rules, Events.empty(), state=early.state, now="2024-05-02T12:00:00.000001")
    assert later.decisions.customer_id.tolist() == [3]


def test_window_count_and_first_time() -> None:
    rules = RuleSet(
        rules=[
            rule("3x")
            .when(on("browse"))
            .within(count_within("browse", at_least=3, hours=1))
            .then(message("wecom", consent_purpose="")),
            rule("new").when(on("signup")).first_time().then(message("wecom", consent_purpose="")),
        ]
    )
    ev = _events(
        [
            (1, "browse", "2024-05-01T10:00"),
            (1, "browse", "2024-05-01T10:30"),
            (1, "browse", "2024-05-01T11:00"),
            (1, "browse", "2024-05-01T12:30"),
            (1, "signup", "2024-05-01T12:40"),
            (1, "signup", "2024-05-01T12:50"),
        ]
    )
    d = evaluate(rules, ev).decisions
    assert d.rule_id.tolist() == ["3x", "new"]
    assert d.decided_at.astype("datetime64[m]").astype(str).tolist() == [
        "2024-05-01T11:00",
        "2024-05-01T12:40",
    ]


def test_frequency_cap_per_channel_per_period() -> None:
    rules = RuleSet(
        rules=[rule("b").when(on("browse")).then(message("sms", consent_purpose=""))],
        policies=Policies(caps=[FrequencyCap(scope="channel", limit=2, period_seconds=3600)]),
    )
    ev = _events(
        [(1, "browse", f"2024-05-01T10:{m:02d}") for m in (0, 10, 20, 59)]
        + [(1, "browse", "2024-05-01T11:05")]
    )
    d = evaluate(rules, ev).decisions
    assert d.status.tolist() == ["fired", "fired", "suppressed_cap", "suppressed_cap", "fired"]
    assert "channel cap 2 per 3600 s (sms) reached" in d.reason[2]


def test_global_and_campaign_caps() -> None:
    rules = RuleSet(
        rules=[
            rule("a").when(on("browse")).campaign("c1").then(message("sms", consent_purpose="")),
            rule("b").when(on("browse")).campaign("c2").then(message("wecom", consent_purpose="")),
        ],
        policies=Policies(
            caps=[
                FrequencyCap(scope="global", limit=3, period_seconds=86400),
                FrequencyCap(scope="campaign", limit=1, period_seconds=86400),
            ]
        ),
    )
    ev = _events([(1, "browse", "2024-05-01T10:00"), (1, "browse", "2024-05-01T11:00")])
    d = evaluate(rules, ev).decisions
    # 10:00 a, b fire (campaign cap 1 each); 11:00 both hit the campaign cap
    assert d.status.tolist() == ["fired", "fired", "suppressed_cap", "suppressed_cap"]


def test_quiet_hours_defer_in_customer_time_zone() -> None:
    rules = RuleSet(
        rules=[rule("b").when(on("browse")).then(message("sms", consent_purpose=""))],
        policies=Policies(quiet_hours=QuietHours(start_hour=22, end_hour=8)),
    )
    prof = Profiles(customer_id=[1, 2], attributes={"timezone": ["Asia/Shanghai", "America/New_York"]})
    # 15:00 UTC = 23:00 Shanghai (quiet) = 11:00 New York (not quiet, EDT)
    ev = _events([(1, "browse", "2024-06-01T15:00"), (2, "browse", "2024-06-01T15:00")])
    d = evaluate(rules, ev, profiles=prof).decisions
    assert d.status.tolist() == ["deferred", "fired"]
    assert str(d.send_at[0]) == "2024-06-02T00:00:00.000000"  # 08:00 Shanghai
    assert d.send_at[1] == d.decided_at[1]


def test_consent_withdrawal_is_immediate_and_sensitive_data_needs_its_own() -> None:
    rules = RuleSet(
        rules=[
            rule("push").when(on("browse")).then(message("push")),
            rule("near")
            .when(on("browse", where=field("distance_km") < 1))
            .then(message("push", consent_purpose="")),
        ],
        policies=Policies(sensitive_fields={"distance_km": "precise_location"}),
    )
    ev = _events(
        [
            (1, "browse", "2024-05-01T10:00"),
            (1, "browse", "2024-05-01T10:02"),
            (2, "browse", "2024-05-01T10:00"),
        ],
        distance_km=[0.5, 0.5, 0.5],
    )
    consent = _consent(
        (1, "marketing", True, "2024-01-01"),
        (1, "marketing", False, "2024-05-01T10:01"),
        (2, "marketing", True, "2024-01-01"),
        (2, "precise_location", True, "2024-01-01"),
    )
    d = evaluate(rules, ev, consent=consent).decisions
    got = {
        (r, c, t.astype("datetime64[m]").astype(str)): s
        for r, c, t, s in zip(
            d.rule_id.tolist(), d.customer_id.tolist(), d.decided_at, d.status.tolist(), strict=True
        )
    }
    assert got[("push", 1, "2024-05-01T10:00")] == "fired"
    assert got[("push", 1, "2024-05-01T10:02")] == "suppressed_consent"  # withdrawn at 10:01
    assert got[("near", 1, "2024-05-01T10:00")] == "suppressed_consent"  # no location consent
    assert got[("near", 2, "2024-05-01T10:00")] == "fired"
    reasons = d.reason[(d.rule_id == "near") & (d.customer_id == 1)]
    assert "sensitive field 'distance_km' needs explicit consent 'precise_location'" in reasons[0]
    # no ledger at all: nothing that needs consent fires
    assert set(evaluate(rules, ev).decisions.status.tolist()) == {"suppressed_consent"}


def test_holdout_is_deterministic_proportional_and_recorded() -> None:
    rules = RuleSet(
        rules=[rule("w").when(on("signup")).holdout(0.25).then(message("wecom", consent_purpose=""))]
    )
    n = 4000
    ev = Events(
        customer_id=np.arange(n),
        event_type=np.full(n, "signup"),
        timestamp=np.full(n, np.datetime64("2024-05-01T10:00", "us")),
    )
    d1 = evaluate(rules, ev).decisions
    d2 = evaluate(rules, ev.take(np.arange(n)[::-1])).decisions
    held1 = set(d1.customer_id[d1.status == "held_out"].tolist())
    held2 = set(d2.customer_id[d2.status == "held_out"].tolist())
    assert held1 == held2
    assert abs(len(held1) / n - 0.25) < 0.03
    assert set(d1.status.tolist()) == {"held_out", "fired"}
    # text ids hash too, independently per campaign
    ev_text = Events(
        customer_id=[f"u{i}" for i in range(n)],
        event_type=np.full(n, "signup"),
        timestamp=np.full(n, np.datetime64("2024-05-01T10:00", "us")),
    )
    d3 = evaluate(rules, ev_text).decisions
    assert abs((d3.status == "held_out").mean() - 0.25) < 0.03


def test_mutual_exclusion_priority_and_reeligibility() -> None:
    rules = RuleSet(
        rules=[
            rule("low")
            .when(on("chat_message"))
            .exclusive("g")
            .priority(1)
            .then(message("wecom", consent_purpose="")),
            rule("high")
            .when(on("chat_message"))
            .exclusive("g")
            .priority(9)
            .then(message("wecom", consent_purpose="")),
            rule("once").when(on("browse")).reeligible_after(days=7).then(message("sms", consent_purpose="")),
        ],
        policies=Policies(exclusion_groups=[ExclusionGroup("g", window_seconds=3600)]),
    )
    ev = _events(
        [
            (1, "chat_message", "2024-05-01T10:00"),
            (1, "chat_message", "2024-05-01T10:30"),
            (1, "browse", "2024-05-01T10:00"),
            (1, "browse", "2024-05-05T10:00"),
            (1, "browse", "2024-05-09T10:00"),
        ]
    )
    d = evaluate(rules, ev).decisions
    chat = [(r, s) for r, s in zip(d.rule_id.tolist(), d.status.tolist(), strict=True) if r != "once"]
    assert chat == [
        ("high", "fired"),
        ("low", "suppressed_exclusion"),
        ("high", "suppressed_exclusion"),
        ("low", "suppressed_exclusion"),
    ]
    once = d.status[d.rule_id == "once"].tolist()
    assert once == ["fired", "suppressed_reeligibility", "fired"]


def test_profile_conditions_and_derived_state_triggers() -> None:
    rules = RuleSet(
        rules=[
            rule("winback")
            .when(on("segment_changed", where=segment_moved(to_segment="Hibernating")))
            .where(field("predicted_clv") > 100)
            .then(coupon("sms", consent_purpose="")),
            rule("rescue")
            .when(on("p_alive_changed", where=crossed_below("p_alive", 0.3)))
            .then(assign_agent("retention")),
        ]
    )
    prof = Profiles(customer_id=[1, 2, 3], attributes={"predicted_clv": [500.0, 50.0, 800.0]})
    segments = segment_changed_events(
        [1, 2, 3],
        ["Loyal", "Loyal", "Hibernating"],
        ["Hibernating", "Hibernating", "Hibernating"],
        at="2024-05-01",
    )
    alive = p_alive_changed_events([1, 2, 3], [0.5, 0.2, 0.9], [0.25, 0.1, 0.6], at="2024-05-02")
    first = evaluate(rules, segments, profiles=prof)
    second = evaluate(rules, alive, profiles=prof, state=first.state)
    d = Decisions.concat([first.decisions, second.decisions])
    assert list(zip(d.rule_id.tolist(), d.customer_id.tolist(), strict=True)) == [
        ("winback", 1),
        ("rescue", 1),
    ]
    assert d.action.tolist() == ["coupon", "assign_agent"]


@settings(max_examples=20)
@given(st.integers(0, 2**32 - 1))
def test_policy_invariants_hold_on_random_logs(seed: int) -> None:
    events = random_events(np.random.default_rng(seed), 300)
    d = evaluate(COMPILED, events, profiles=profiles(), consent=ledger(), now=NOW).decisions
    status = d.status
    accepted = np.isin(status, ["fired", "deferred", "held_out"])
    t = d.decided_at.view(np.int64)
    # channel cap: at most 2 accepted per customer per channel in any 3 h window
    period = 3 * 3600 * 1_000_000
    for cust, channel in set(zip(d.customer_id.tolist(), d.channel.tolist(), strict=True)):
        times = np.sort(t[accepted & (d.customer_id == cust) & (d.channel == channel)])
        in_window = np.searchsorted(times, times, side="right") - np.searchsorted(
            times, times - period, side="right"
        )
        assert (in_window <= 2).all()
    # exclusion group: one accepted community decision per customer per 4 h
    community = accepted & np.isin(d.rule_id, ["baby_invite", "sunscreen"])
    for cust in np.unique(d.customer_id[community]).tolist():
        times = np.sort(t[community & (d.customer_id == cust)])
        assert (np.diff(times) >= 4 * 3600 * 1_000_000).all()
    # quiet hours: nothing is sent between 22:00 and 08:00 local time (customer 2 is in New York)
    sent = d.sent
    offset = np.where(d.customer_id == 2, -4, 8).astype("timedelta64[h]")
    hour = ((d.send_at + offset).astype("datetime64[h]").astype(np.int64)) % 24
    assert ((hour[sent] >= 8) & (hour[sent] < 22)).all()
    assert (d.send_at >= d.decided_at).all()
    # consent: nothing that needs marketing consent is sent to customer 3 after the withdrawal
    withdrawn = (d.customer_id == 3) & (d.decided_at >= T0 + np.timedelta64(1, "D")) & (d.rule_id != "agent")
    assert not sent[withdrawn].any()
    # exactly-once keys
    assert len(set(d.decision_key.tolist())) == len(d)


def test_customers_without_profile_read_missing_values() -> None:
    rules = RuleSet(
        rules=[
            rule("not_hibernating")
            .when(on("browse"))
            .where(field("segment") != "Hibernating")
            .then(message("wecom", consent_purpose="")),
            rule("loyal")
            .when(on("browse"))
            .where(field("segment") == "Loyal")
            .then(message("wecom", consent_purpose="")),
            rule("big")
            .when(on("browse"))
            .where(field("clv") > 10)
            .then(message("wecom", consent_purpose="")),
        ]
    )
    prof = Profiles(customer_id=[1, 2], attributes={"segment": ["Loyal", "Hibernating"], "clv": [50.0, 5.0]})
    ev = _events(
        [
            (1, "browse", "2024-05-01T10:00"),
            (2, "browse", "2024-05-01T10:00"),
            (9, "browse", "2024-05-01T10:00"),
        ]
    )
    d = evaluate(rules, ev, profiles=prof).decisions
    got = sorted(zip(d.rule_id.tolist(), d.customer_id.tolist(), strict=True))
    assert got == [("big", 1), ("loyal", 1), ("not_hibernating", 1), ("not_hibernating", 9)]


def test_wrong_input_types_are_refused() -> None:
    with pytest.raises(ValidationError, match="Events"):
        evaluate(RULES, [1, 2, 3])  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="RuleSet"):
        evaluate({"rules": []}, Events.empty())  # type: ignore[arg-type]
    first = evaluate(COMPILED, random_events(np.random.default_rng(0), 20))
    with pytest.raises(ValidationError, match="now is before"):
        evaluate(COMPILED, Events.empty(), state=first.state, now="2020-01-01")


@settings(max_examples=10)
@given(st.integers(0, 2**32 - 1))
def test_matches_naive_reference_when_caps_bind_hard(seed: int) -> None:
    base = full_ruleset()
    caps = (
        FrequencyCap(scope="channel", limit=1, period_seconds=2 * 3600),
        FrequencyCap(scope="global", limit=3, period_seconds=8 * 3600),
        FrequencyCap(scope="campaign", limit=2, period_seconds=6 * 3600),
    )
    rules = RuleSet(rules=base.rules, policies=attrs.evolve(base.policies, caps=caps))
    events = random_events(np.random.default_rng(seed), 300, n_customers=3)
    got = evaluate(rules, events, profiles=profiles(), consent=ledger(), now=NOW).decisions
    assert _rows(got) == reference(rules, events, profiles(), ledger(), NOW)
    assert "suppressed_cap" in set(got.status.tolist())


def _as_text_ids(events: Events) -> Events:
    return attrs.evolve(events, customer_id=np.char.add("u", events.customer_id.astype(str)))


@settings(max_examples=10)
@given(st.integers(0, 2**32 - 1), st.integers(1, 250))
def test_text_customer_ids_match_naive_reference(seed: int, n: int) -> None:
    """Text ids take the general paths (joint coding, consent by coding, text holdout draws,
    profile search); the decisions still agree with the reference."""
    rules = full_ruleset()
    events = _as_text_ids(random_events(np.random.default_rng(seed), n))
    prof = profiles()
    prof = Profiles(customer_id=np.char.add("u", prof.customer_id.astype(str)), attributes=prof.attributes)
    consent = ledger()
    consent = attrs.evolve(consent, subject_id=np.char.add("u", consent.subject_id.astype(str)))
    got = evaluate(rules, events, profiles=prof, consent=consent, now=NOW).decisions
    assert _rows(got) == reference(rules, events, prof, consent, NOW)


def test_evaluation_is_the_same_without_jit() -> None:
    """NUMBA_DISABLE_JIT=1: every decision and the next state are the same (int and text ids, two
    batches so that the second one reads cap, window and timer history)."""
    from tests.jit_parity import outputs_with_and_without_jit

    code = (
        "import numpy as np, attrs\n"
        "from omnicore.campaigns import evaluate\n"
        "from omnicore.data import Events\n"
        "from tests.campaigns._fixtures import T0, full_ruleset, ledger, profiles, random_events\n"
        "rules = full_ruleset()\n"
        "for text in (False, True):\n"
        "    ev = random_events(np.random.default_rng(5), 300)\n"
        "    if text:\n"
        "        ev = attrs.evolve(ev, customer_id=np.char.add('u', ev.customer_id.astype(str)))\n"
        "    state = None\n"
        "    for part in (ev.take(np.arange(150)), ev.take(np.arange(150, 300))):\n"
        "        out = evaluate(rules, part, profiles=profiles(), consent=ledger(), state=state,"
        " now=T0 + np.timedelta64(3, 'D'))\n"
        "        state = out.state\n"
        "        d = out.decisions\n"
        "        print(d.decision_key.tolist(), d.status.tolist(), d.reason.tolist(), d.send_at.tolist())\n"
        "        print({k: getattr(state, k).tolist() for k in ('window_slot', 'window_time', 'seen_rule',"
        " 'timer_rule', 'timer_due', 'cap_key', 'cap_customer', 'cap_time')})\n"
    )
    compiled, plain = outputs_with_and_without_jit(code)
    assert compiled == plain
    assert compiled.count("\n") == 8


def test_integer_customers_against_a_ledger_of_text_subjects() -> None:
    """Ids of different kinds are compared as text (this used to raise a TypeError)."""
    rs = RuleSet(rules=[rule("r").when(on("browse")).then(message("sms"))])
    ev = Events(
        customer_id=[1, 2], event_type=["browse"] * 2, timestamp=["2024-06-01T10:00", "2024-06-01T11:00"]
    )
    consent = ConsentRecords(
        subject_id=["1"], purpose=["marketing"], granted=[True], recorded_at=["2024-01-01"], source=["app"]
    )
    assert evaluate(rs, ev, consent=consent).decisions.status.tolist() == ["fired", "suppressed_consent"]
