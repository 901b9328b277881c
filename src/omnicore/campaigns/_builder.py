"""A small fluent builder for writing rules in code and notebooks.

>>> from omnicore.campaigns import rule, on, field, community_invite, count_within
>>> r = (rule("baby-community")
...      .when(on("browse", where=field("category") == "baby"))
...      .within(count_within("browse", at_least=3, days=7, where=field("category") == "baby"))
...      .where(~field("tags").has_tag("community_member"))
...      .then(community_invite("wecom", community="parenting")))
>>> r.trigger.event_type, r.action.template
('browse', 'parenting')
"""

from __future__ import annotations

from typing import Any

import attrs

from omnicore._errors import ValidationError
from omnicore.campaigns._rules import (
    Action,
    ActionKind,
    AllOf,
    AnyOf,
    Compare,
    CountWithin,
    Exists,
    FirstTime,
    HasTag,
    IsIn,
    Keywords,
    NotFollowedBy,
    Predicate,
    Rule,
    Temporal,
    Trigger,
)

__all__ = [
    "Field",
    "RuleBuilder",
    "all_of",
    "any_of",
    "assign_agent",
    "community_invite",
    "count_within",
    "coupon",
    "crossed_below",
    "field",
    "first_time",
    "message",
    "not_followed_by",
    "on",
    "rule",
    "segment_moved",
    "webhook",
]


# -- predicates ---------------------------------------------------------------------------------
class Field:
    """A reference to an event property or profile attribute; comparisons build predicates.

    Examples
    --------
    >>> field("price") >= 100
    Compare(field='price', op='ge', value=100.0)
    >>> (field("category") == "baby") & field("text").mentions("奶粉")
    AllOf(args=(Compare(field='category', op='eq', value='baby'), Keywords(keywords=('奶粉',), field='text')))
    """

    __slots__ = ("name",)
    __hash__ = None  # type: ignore[assignment]

    def __init__(self, name: str) -> None:
        self.name = name

    def __eq__(self, value: object) -> Compare:  # type: ignore[override]
        return Compare(self.name, "eq", value)

    def __ne__(self, value: object) -> Compare:  # type: ignore[override]
        return Compare(self.name, "ne", value)

    def __gt__(self, value: float) -> Compare:
        return Compare(self.name, "gt", value)

    def __ge__(self, value: float) -> Compare:
        return Compare(self.name, "ge", value)

    def __lt__(self, value: float) -> Compare:
        return Compare(self.name, "lt", value)

    def __le__(self, value: float) -> Compare:
        return Compare(self.name, "le", value)

    def isin(self, values: Any) -> IsIn:
        """The value is one of ``values``."""
        return IsIn(self.name, tuple(values))

    def exists(self) -> Exists:
        """The value is present."""
        return Exists(self.name)

    def mentions(self, *keywords: str) -> Keywords:
        """The text mentions a keyword (whole words in Latin script, substrings in CJK)."""
        return Keywords(keywords, self.name)

    def has_tag(self, tag: str) -> HasTag:
        """The comma-separated tag list contains ``tag``."""
        return HasTag(tag, self.name)


def field(name: str) -> Field:
    """A field reference for building predicates (``field("price") > 100``)."""
    return Field(name)


def all_of(*predicates: Predicate) -> AllOf:
    """Every predicate holds."""
    return AllOf(predicates)


def any_of(*predicates: Predicate) -> AnyOf:
    """At least one predicate holds."""
    return AnyOf(predicates)


def crossed_below(name: str, threshold: float, *, previous: str | None = None) -> AllOf:
    """The value fell below ``threshold`` (was at or above it before), e.g. P(alive).

    Examples
    --------
    >>> crossed_below("p_alive", 0.3).args[0]
    Compare(field='previous_p_alive', op='ge', value=0.3)
    """
    before = previous or f"previous_{name}"
    return AllOf((Compare(before, "ge", threshold), Compare(name, "lt", threshold)))


def segment_moved(*, from_segment: str | None = None, to_segment: str | None = None) -> Predicate:
    """A ``segment_changed`` event from and/or to the given segments."""
    parts: list[Predicate] = []
    if from_segment is not None:
        parts.append(Compare("from_segment", "eq", from_segment))
    if to_segment is not None:
        parts.append(Compare("to_segment", "eq", to_segment))
    if not parts:
        return Exists("to_segment")
    return parts[0] if len(parts) == 1 else AllOf(tuple(parts))


# -- temporal conditions ------------------------------------------------------------------------
def _seconds(seconds: float, minutes: float, hours: float, days: float) -> float:
    total = seconds + 60 * minutes + 3600 * hours + 86400 * days
    if total <= 0:
        raise ValidationError("give a positive duration (seconds=, minutes=, hours= or days=)", value=total)
    return float(total)


def count_within(
    event_type: str,
    *,
    at_least: int = 1,
    where: Predicate | None = None,
    seconds: float = 0,
    minutes: float = 0,
    hours: float = 0,
    days: float = 0,
) -> CountWithin:
    """At least ``at_least`` matching events in the window up to the trigger."""
    return CountWithin(
        event_type=event_type,
        window_seconds=_seconds(seconds, minutes, hours, days),
        at_least=at_least,
        where=where,
    )


def first_time() -> FirstTime:
    """The customer's first event matching the trigger."""
    return FirstTime()


def not_followed_by(
    event_type: str,
    *,
    where: Predicate | None = None,
    seconds: float = 0,
    minutes: float = 0,
    hours: float = 0,
    days: float = 0,
) -> NotFollowedBy:
    """No matching follow-up event within the delay; the rule fires when the delay has passed."""
    return NotFollowedBy(
        event_type=event_type, delay_seconds=_seconds(seconds, minutes, hours, days), where=where
    )


# -- triggers and actions -----------------------------------------------------------------------
def on(event_type: str, *, where: Predicate | None = None) -> Trigger:
    """A trigger: an event type and a predicate on its properties."""
    return Trigger(event_type, where)


def message(
    channel: str, *, template: str = "", consent_purpose: str = "marketing", **payload: Any
) -> Action:
    """Send a message."""
    return Action(
        kind=ActionKind.MESSAGE,
        channel=channel,
        template=template,
        consent_purpose=consent_purpose,
        payload=payload,
    )


def coupon(channel: str, *, template: str = "", consent_purpose: str = "marketing", **payload: Any) -> Action:
    """Issue a coupon (``template`` is the coupon id)."""
    return Action(
        kind=ActionKind.COUPON,
        channel=channel,
        template=template,
        consent_purpose=consent_purpose,
        payload=payload,
    )


def community_invite(
    channel: str, *, community: str, consent_purpose: str = "marketing", **payload: Any
) -> Action:
    """Invite to a private-domain community (group chat)."""
    return Action(
        kind=ActionKind.COMMUNITY_INVITE,
        channel=channel,
        template=community,
        consent_purpose=consent_purpose,
        payload=payload,
    )


def assign_agent(
    team: str = "", *, channel: str = "agent", consent_purpose: str = "", **payload: Any
) -> Action:
    """Assign the customer to a service agent (a service action: no marketing consent by default)."""
    return Action(
        kind=ActionKind.ASSIGN_AGENT,
        channel=channel,
        template=team,
        consent_purpose=consent_purpose,
        payload=payload,
    )


def webhook(
    url: str, *, channel: str = "webhook", consent_purpose: str = "marketing", **payload: Any
) -> Action:
    """Call a webhook with a JSON payload."""
    return Action(
        kind=ActionKind.WEBHOOK,
        channel=channel,
        template=url,
        consent_purpose=consent_purpose,
        payload=payload,
    )


# -- the rule builder ---------------------------------------------------------------------------
@attrs.frozen(kw_only=True)
class RuleBuilder:
    """An immutable, chainable rule under construction; :meth:`then` returns the :class:`Rule`."""

    rule_id: str
    trigger: Trigger | None = None
    conditions: Predicate | None = None
    temporal: tuple[Temporal, ...] = ()
    options: tuple[tuple[str, Any], ...] = ()

    def when(self, trigger: Trigger) -> RuleBuilder:
        """Set the trigger (see :func:`on`)."""
        return attrs.evolve(self, trigger=trigger)

    def where(self, conditions: Predicate) -> RuleBuilder:
        """Add profile conditions (combined with AND)."""
        merged = conditions if self.conditions is None else AllOf((self.conditions, conditions))
        return attrs.evolve(self, conditions=merged)

    def within(self, condition: CountWithin) -> RuleBuilder:
        """Add a window-count condition."""
        return attrs.evolve(self, temporal=(*self.temporal, condition))

    def unless(self, condition: NotFollowedBy) -> RuleBuilder:
        """Add an absence condition (fire only when no follow-up comes)."""
        return attrs.evolve(self, temporal=(*self.temporal, condition))

    def first_time(self) -> RuleBuilder:
        """Fire only on the customer's first trigger event."""
        return attrs.evolve(self, temporal=(*self.temporal, FirstTime()))

    def _with(self, **options: Any) -> RuleBuilder:
        return attrs.evolve(self, options=(*self.options, *options.items()))

    def priority(self, value: int) -> RuleBuilder:
        """Priority among exclusive rules (higher wins)."""
        return self._with(priority=value)

    def campaign(self, campaign_id: str) -> RuleBuilder:
        """The campaign the rule belongs to."""
        return self._with(campaign_id=campaign_id)

    def exclusive(self, group: str) -> RuleBuilder:
        """Join an exclusion group declared in the policies."""
        return self._with(exclusion_group=group)

    def reeligible_after(
        self, *, seconds: float = 0, minutes: float = 0, hours: float = 0, days: float = 0
    ) -> RuleBuilder:
        """Fire at most once per customer per this duration."""
        return self._with(reeligible_after_seconds=_seconds(seconds, minutes, hours, days))

    def holdout(self, fraction: float) -> RuleBuilder:
        """Hold out this share of customers as a control group."""
        return self._with(holdout_fraction=fraction)

    def then(self, action: Action) -> Rule:
        """Finish the rule with its action.

        Raises
        ------
        ValidationError
            When no trigger was set.
        """
        if self.trigger is None:
            raise ValidationError("set a trigger with .when(on(...)) first", field="trigger")
        return Rule(
            rule_id=self.rule_id,
            trigger=self.trigger,
            action=action,
            conditions=self.conditions,
            temporal=self.temporal,
            **dict(self.options),
        )


def rule(rule_id: str) -> RuleBuilder:
    """Start building a rule.

    Examples
    --------
    >>> r = rule("welcome").when(on("signup")).first_time().then(message("wecom", template="welcome"))
    >>> r.rule_id, r.temporal
    ('welcome', (FirstTime(),))
    """
    return RuleBuilder(rule_id=rule_id)
