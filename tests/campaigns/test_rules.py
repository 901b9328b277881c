"""Rule model: JSON round-trip (hypothesis), path-precise errors, builder."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

import omnicore
from omnicore import ValidationError
from omnicore.campaigns import (
    Action,
    ActionKind,
    AllOf,
    AnyOf,
    Compare,
    CountWithin,
    ExclusionGroup,
    Exists,
    FirstTime,
    FrequencyCap,
    HasTag,
    IsIn,
    Keywords,
    Not,
    NotFollowedBy,
    Policies,
    QuietHours,
    Rule,
    RuleSet,
    Trigger,
    crossed_below,
    dump_rules,
    field,
    load_rules,
    on,
    rule,
    segment_moved,
)

names = st.text(st.characters(categories=("L", "N")), min_size=1, max_size=8)
numbers = st.floats(-1e6, 1e6, allow_nan=False).map(lambda x: float(x))
leaf = st.one_of(
    st.builds(Compare, names, st.sampled_from(["eq", "ne", "gt", "ge", "lt", "le"]), numbers),
    st.builds(Compare, names, st.sampled_from(["eq", "ne"]), names),
    st.builds(Compare, names, st.sampled_from(["eq", "ne"]), st.booleans()),
    st.builds(IsIn, names, st.lists(names, min_size=1, max_size=3).map(tuple)),
    st.builds(Exists, names),
    st.builds(
        Keywords, st.lists(st.sampled_from(["防晒", "sun", "奶粉", "coupon"]), min_size=1).map(tuple), names
    ),
    st.builds(HasTag, names, names),
)
predicates = st.recursive(
    leaf,
    lambda inner: st.one_of(
        st.builds(AllOf, st.lists(inner, min_size=1, max_size=3).map(tuple)),
        st.builds(AnyOf, st.lists(inner, min_size=1, max_size=3).map(tuple)),
        st.builds(Not, inner),
    ),
    max_leaves=6,
)
seconds = st.floats(1, 1e7, allow_nan=False)
temporals = st.lists(
    st.one_of(
        st.builds(
            CountWithin,
            event_type=names,
            window_seconds=seconds,
            at_least=st.integers(1, 5),
            where=st.none() | predicates,
        ),
        st.just(FirstTime()),
    ),
    max_size=2,
)
actions = st.builds(
    Action,
    kind=st.sampled_from(list(ActionKind)),
    channel=names,
    consent_purpose=st.sampled_from(["", "marketing", "sms"]),
    template=names,
    payload=st.dictionaries(names, st.one_of(names, numbers, st.booleans()), max_size=2),
)


@st.composite
def rulesets(draw: st.DrawFn) -> RuleSet:
    ids = draw(st.lists(names, min_size=1, max_size=3, unique=True))
    rules = []
    for rid in ids:
        temporal = draw(temporals)
        if draw(st.booleans()):
            temporal = [*temporal, NotFollowedBy(event_type=draw(names), delay_seconds=draw(seconds))]
        rules.append(
            Rule(
                rule_id=rid,
                trigger=Trigger(draw(names), draw(st.none() | predicates)),
                action=draw(actions),
                conditions=draw(st.none() | predicates),
                temporal=temporal,
                priority=draw(st.integers(-5, 5)),
                exclusion_group=draw(st.sampled_from(["", "g"])),
                reeligible_after_seconds=draw(st.none() | seconds),
                holdout_fraction=draw(st.sampled_from([0.0, 0.1, 0.5])),
            )
        )
    policies = Policies(
        caps=[FrequencyCap(scope="channel", limit=2, period_seconds=86400, channel="sms")],
        exclusion_groups=[ExclusionGroup("g", 3600.0)],
        quiet_hours=draw(st.none() | st.just(QuietHours(start_hour=22, end_hour=8, channels=("sms",)))),
        sensitive_fields={"distance_km": "precise_location"},
    )
    return RuleSet(rules=rules, policies=policies)


@given(rulesets())
def test_json_round_trip(rules: RuleSet) -> None:
    assert load_rules(dump_rules(rules)) == rules
    assert omnicore.from_json(omnicore.to_json(rules), RuleSet) == rules
    assert load_rules(dump_rules(rules)).fingerprint() == rules.fingerprint()


def _base() -> dict:
    r = rule("r").when(on("browse", where=(field("category") == "baby") & (field("price") > 10)))
    r = r.within(CountWithin(event_type="browse", window_seconds=60)).then(
        Action(kind=ActionKind.MESSAGE, channel="sms")
    )
    return json.loads(dump_rules(RuleSet(rules=[r])))


def test_bad_rule_reports_every_path_and_reason() -> None:
    data = _base()
    data["rules"][0]["trigger"]["where"]["args"][1]["op"] = "bigger"
    data["rules"][0]["temporal"][0]["window_seconds"] = -5
    data["rules"][0]["action"]["chanel"] = "sms"
    data["rules"][0]["action"]["kind"] = "fax"
    with pytest.raises(ValidationError) as info:
        load_rules(data)
    problems = {p.field: p.message for p in info.value.problems}
    assert "unknown predicate op 'bigger'" in problems["RuleSet.rules[0].trigger.where.args[1]"]
    assert "positive" in problems["RuleSet.rules[0].temporal[0].window_seconds"]
    assert "chanel" in problems["RuleSet.rules[0].action"]
    assert "ActionKind" in problems["RuleSet.rules[0].action.kind"]
    assert info.value.field == "RuleSet.rules[0].trigger.where.args[1]"


def test_bad_json_and_cross_field_errors() -> None:
    with pytest.raises(ValidationError, match="invalid JSON"):
        load_rules("{nope")
    data = _base()
    data["rules"].append(data["rules"][0])
    with pytest.raises(ValidationError, match="duplicate rule_id"):
        load_rules(data)
    data = _base()
    data["rules"][0]["exclusion_group"] = "missing"
    with pytest.raises(ValidationError, match="exclusion group not declared") as info:
        load_rules(data)
    assert info.value.field == "RuleSet.rules[1].exclusion_group" or "exclusion_group" in str(
        info.value.field
    )


def test_compare_type_rules() -> None:
    with pytest.raises(ValidationError, match="needs a number"):
        Compare("segment", "gt", "Loyal")
    with pytest.raises(ValidationError, match="one type"):
        IsIn("x", ("a", 1.0))
    with pytest.raises(ValidationError, match="at most one not_followed_by"):
        Rule(
            rule_id="r",
            trigger=Trigger("a"),
            action=Action(kind=ActionKind.MESSAGE, channel="sms"),
            temporal=[
                NotFollowedBy(event_type="b", delay_seconds=1),
                NotFollowedBy(event_type="c", delay_seconds=1),
            ],
        )
    with pytest.raises(ValidationError, match="time zone"):
        Policies(default_timezone="Mars/Olympus")


def test_builder_operators_and_helpers() -> None:
    p = (field("a") > 1) & (field("b") == "x") & ~field("c").exists()
    assert p == AllOf((Compare("a", "gt", 1.0), Compare("b", "eq", "x"), Not(Exists("c"))))
    assert ~~field("c").exists() == Exists("c")
    assert ((field("a") < 1) | field("t").has_tag("vip")) == AnyOf(
        (Compare("a", "lt", 1.0), HasTag("vip", "t"))
    )
    assert crossed_below("p_alive", 0.3) == AllOf(
        (Compare("previous_p_alive", "ge", 0.3), Compare("p_alive", "lt", 0.3))
    )
    assert segment_moved(from_segment="Loyal", to_segment="At Risk") == AllOf(
        (Compare("from_segment", "eq", "Loyal"), Compare("to_segment", "eq", "At Risk"))
    )
    with pytest.raises(ValidationError, match="trigger"):
        rule("x").then(Action(kind=ActionKind.MESSAGE, channel="sms"))
    built = rule("x").when(on("a")).priority(3).campaign("c").holdout(0.1).reeligible_after(days=1)
    r = built.then(Action(kind=ActionKind.MESSAGE, channel="sms"))
    assert (r.priority, r.campaign_id, r.holdout_fraction, r.reeligible_after_seconds) == (
        3,
        "c",
        0.1,
        86400.0,
    )
