"""Rules as typed data: predicates, temporal conditions, actions, policies and the rule set.

Every class here is a frozen attrs value that round-trips through JSON with the library's cattrs
converter (:func:`omnicore.to_json` / :func:`load_rules`). Predicates and temporal conditions are
tagged unions: a predicate carries ``"op"`` (``"eq"``, ``"gt"``, ``"in"``, ``"keywords"``, ``"all"``, ...)
and a temporal condition carries ``"kind"``.
"""

from __future__ import annotations

import enum
import hashlib
import json
import math
from collections.abc import Callable, Mapping
from typing import Any, TypeAlias, Union

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn

from omnicore._errors import ValidationError
from omnicore._serde import converter

__all__ = [
    "Action",
    "ActionKind",
    "AllOf",
    "AnyOf",
    "Compare",
    "CountWithin",
    "ExclusionGroup",
    "Exists",
    "FirstTime",
    "FrequencyCap",
    "HasTag",
    "IsIn",
    "Keywords",
    "Not",
    "NotFollowedBy",
    "Policies",
    "Predicate",
    "QuietHours",
    "Rule",
    "RuleSet",
    "Scalar",
    "Temporal",
    "Trigger",
    "dump_rules",
    "load_rules",
    "predicate_fields",
]

Scalar: TypeAlias = str | float | bool

COMPARE_OPS = ("eq", "ne", "gt", "ge", "lt", "le")


# -- small validators ---------------------------------------------------------------------------
def _nonempty(_: Any, attribute: attrs.Attribute[Any], value: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError("must be non-empty text", field=attribute.name, value=value)


def _positive_seconds(_: Any, attribute: attrs.Attribute[Any], value: float) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
        raise ValidationError(
            "must be a positive, finite number of seconds", field=attribute.name, value=value
        )


def _optional_positive_seconds(instance: Any, attribute: attrs.Attribute[Any], value: float | None) -> None:
    if value is not None:
        _positive_seconds(instance, attribute, value)


def _positive_int(_: Any, attribute: attrs.Attribute[Any], value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValidationError("must be a positive integer", field=attribute.name, value=value)


def _fraction(_: Any, attribute: attrs.Attribute[Any], value: float) -> None:
    if not (isinstance(value, int | float) and 0.0 <= value < 1.0):
        raise ValidationError("must be a fraction in [0, 1)", field=attribute.name, value=value)


def _hour(_: Any, attribute: attrs.Attribute[Any], value: float) -> None:
    if not (isinstance(value, int | float) and 0.0 <= value < 24.0):
        raise ValidationError("must be an hour of the day in [0, 24)", field=attribute.name, value=value)


def _scalar(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, str | int | float | bool) or (isinstance(value, float) and math.isnan(value)):
        raise ValidationError("must be text, a number or a boolean", field=attribute.name, value=value)


def _one_of(*options: str) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    def check(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value not in options:
            raise ValidationError(f"must be one of {', '.join(options)}", field=attribute.name, value=value)

    return check


def _float(value: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return value


def _optional_float(value: Any) -> Any:
    return None if value is None else _float(value)


def _to_scalar(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _scalars(value: Any) -> tuple[Any, ...]:
    return tuple(_to_scalar(v) for v in value)


def _nonempty_tuple(_: Any, attribute: attrs.Attribute[Any], value: tuple[Any, ...]) -> None:
    if len(value) == 0:
        raise ValidationError("must not be empty", field=attribute.name)


# -- predicates ---------------------------------------------------------------------------------
class _Logic:
    """``&``, ``|`` and ``~`` on predicates build :class:`AllOf`, :class:`AnyOf` and :class:`Not`."""

    __slots__ = ()

    def __and__(self, other: Predicate) -> AllOf:
        return AllOf((*_flat(self, AllOf), *_flat(other, AllOf)))

    def __or__(self, other: Predicate) -> AnyOf:
        return AnyOf((*_flat(self, AnyOf), *_flat(other, AnyOf)))

    def __invert__(self) -> Predicate:
        if isinstance(self, Not):
            return self.arg
        return Not(self)  # type: ignore[arg-type]


def _flat(p: Any, cls: type[Any]) -> tuple[Any, ...]:
    return tuple(p.args) if isinstance(p, cls) else (p,)


def _tuple(value: Any) -> tuple[Any, ...]:
    return tuple(value)


@attrs.frozen
class Compare(_Logic):
    """``field <op> value``: ``op`` is one of ``eq, ne, gt, ge, lt, le``.

    Text compares by equality only; numbers by any operator. A missing value (NaN, ``''``) never
    satisfies a comparison except ``ne``.
    """

    field: str = attrs.field(validator=_nonempty)
    op: str = attrs.field(validator=_one_of(*COMPARE_OPS))
    value: Scalar = attrs.field(converter=_to_scalar, validator=_scalar)

    def __attrs_post_init__(self) -> None:
        if isinstance(self.value, str | bool) and self.op not in ("eq", "ne"):
            raise ValidationError(
                f"operator {self.op!r} needs a number; text and booleans compare with eq/ne only",
                field="op",
                value=self.op,
            )


@attrs.frozen
class IsIn(_Logic):
    """``field`` equals one of ``values`` (JSON ``"op": "in"``)."""

    field: str = attrs.field(validator=_nonempty)
    values: tuple[Scalar, ...] = attrs.field(converter=_scalars, validator=_nonempty_tuple)

    def __attrs_post_init__(self) -> None:
        for i, value in enumerate(self.values):
            _scalar(self, attrs.fields(IsIn).values, value)
            if type(value) is not type(self.values[0]):
                raise ValidationError("values must all have one type", field=f"values[{i}]", value=value)


@attrs.frozen
class Exists(_Logic):
    """``field`` is present (not NaN, not ``''``)."""

    field: str = attrs.field(validator=_nonempty)


@attrs.frozen
class Keywords(_Logic):
    """The text in ``field`` mentions any of ``keywords``, case-insensitively.

    Keywords in Latin script match whole words (``"sun"`` does not match ``"sunscreen"``); keywords
    containing CJK characters match as substrings, since Chinese and Japanese text has no spaces
    (``"防晒"`` matches ``"有防晒霜吗"``).
    """

    keywords: tuple[str, ...] = attrs.field(converter=_tuple, validator=_nonempty_tuple)
    field: str = attrs.field(default="text", validator=_nonempty)

    def __attrs_post_init__(self) -> None:
        for i, word in enumerate(self.keywords):
            if not isinstance(word, str) or not word.strip():
                raise ValidationError("keywords must be non-empty text", field=f"keywords[{i}]", value=word)


@attrs.frozen
class HasTag(_Logic):
    """The tag list in ``field`` (tags separated by commas, ``|`` or ``;``) contains ``tag``."""

    tag: str = attrs.field(validator=_nonempty)
    field: str = attrs.field(default="tags", validator=_nonempty)


@attrs.frozen
class AllOf(_Logic):
    """Every predicate holds (JSON ``"op": "all"``)."""

    args: tuple[Predicate, ...] = attrs.field(converter=_tuple, validator=_nonempty_tuple)


@attrs.frozen
class AnyOf(_Logic):
    """At least one predicate holds (JSON ``"op": "any"``)."""

    args: tuple[Predicate, ...] = attrs.field(converter=_tuple, validator=_nonempty_tuple)


@attrs.frozen
class Not(_Logic):
    """The predicate does not hold."""

    arg: Predicate


Predicate: TypeAlias = Union[Compare, IsIn, Exists, Keywords, HasTag, AllOf, AnyOf, Not]  # noqa: UP007

_PREDICATE_TAGS: dict[str, type[Any]] = {
    "in": IsIn,
    "exists": Exists,
    "keywords": Keywords,
    "has_tag": HasTag,
    "all": AllOf,
    "any": AnyOf,
    "not": Not,
}


def predicate_fields(predicate: Predicate | None) -> frozenset[str]:
    """The field names a predicate reads.

    Examples
    --------
    >>> sorted(predicate_fields(AllOf((Compare("price", "gt", 50), Not(Exists("coupon"))))))
    ['coupon', 'price']
    """
    if predicate is None:
        return frozenset()
    if isinstance(predicate, AllOf | AnyOf):
        return frozenset().union(*(predicate_fields(p) for p in predicate.args))
    if isinstance(predicate, Not):
        return predicate_fields(predicate.arg)
    return frozenset({predicate.field})


# -- temporal conditions ------------------------------------------------------------------------
@attrs.frozen(kw_only=True)
class CountWithin:
    """At least ``at_least`` events of ``event_type`` (matching ``where``) by the same customer in the
    ``window_seconds`` up to and including the triggering event (which counts if it matches)."""

    event_type: str = attrs.field(validator=_nonempty)
    window_seconds: float = attrs.field(converter=_float, validator=_positive_seconds)
    at_least: int = attrs.field(default=1, validator=_positive_int)
    where: Predicate | None = None


@attrs.frozen
class FirstTime:
    """The triggering event is the customer's first event ever matching the rule's trigger."""


@attrs.frozen(kw_only=True)
class NotFollowedBy:
    """No event of ``event_type`` (matching ``where``) by the same customer within ``delay_seconds``
    after the trigger; the rule then fires at trigger time + delay (an "absence" timer)."""

    event_type: str = attrs.field(validator=_nonempty)
    delay_seconds: float = attrs.field(converter=_float, validator=_positive_seconds)
    where: Predicate | None = None


Temporal: TypeAlias = Union[CountWithin, FirstTime, NotFollowedBy]  # noqa: UP007

_TEMPORAL_TAGS: dict[str, type[Any]] = {
    "count_within": CountWithin,
    "first_time": FirstTime,
    "not_followed_by": NotFollowedBy,
}


# -- actions, rules, policies -------------------------------------------------------------------
class ActionKind(enum.Enum):
    """What a rule does when it fires."""

    MESSAGE = "message"
    COUPON = "coupon"
    COMMUNITY_INVITE = "community_invite"
    ASSIGN_AGENT = "assign_agent"
    WEBHOOK = "webhook"


def _payload(_: Any, attribute: attrs.Attribute[Any], value: Mapping[str, Any]) -> None:
    for key, item in value.items():
        if not isinstance(key, str) or not isinstance(item, str | int | float | bool):
            raise ValidationError(
                "payload maps text to JSON scalars", field=f"{attribute.name}.{key}", value=item
            )


@attrs.frozen(kw_only=True)
class Action:
    """What to send, where, and which consent it needs.

    Parameters
    ----------
    kind
        Message, coupon, community invite, assignment to a service agent or webhook.
    channel
        Delivery channel (``"sms"``, ``"wecom"``, ``"push"``, ``"email"``, ``"agent"``, ...).
    consent_purpose
        The consent purpose the action needs (``"marketing_push"``); ``""`` for service actions
        that need none (e.g. assigning an agent to answer a question the customer asked).
    template
        Template, coupon or community id, depending on ``kind``.
    payload
        Extra JSON-scalar data (a webhook body, a coupon value).
    """

    kind: ActionKind
    channel: str = attrs.field(validator=_nonempty)
    consent_purpose: str = "marketing"
    template: str = ""
    payload: Mapping[str, str | float | bool] = attrs.field(factory=dict, validator=_payload)


@attrs.frozen
class Trigger:
    """The event that starts a rule: its type, and a predicate on its properties."""

    event_type: str = attrs.field(validator=_nonempty)
    where: Predicate | None = None


def _temporal_tuple(value: Any) -> tuple[Any, ...]:
    return tuple(value)


@attrs.frozen(kw_only=True)
class Rule:
    """One campaign trigger.

    Parameters
    ----------
    rule_id
        Unique id; part of the exactly-once key ``rule|customer|event``.
    trigger
        Event type and predicate on the event's properties.
    action
        What to do when the rule fires.
    conditions
        Predicate on the customer's profile (segment, tags, RFM scores, predicted CLV, ...).
    temporal
        Window counts, first-time and absence ("not followed by") conditions; at most one
        :class:`NotFollowedBy`.
    priority
        Higher wins when rules of one exclusion group fire for the same customer at the same time.
    campaign_id
        The campaign the rule belongs to (for campaign caps and holdouts); defaults to ``rule_id``.
    exclusion_group
        Name of an :class:`ExclusionGroup` of the policies: at most one firing in the group per
        customer per its window.
    reeligible_after_seconds
        The rule fires at most once per customer in this many seconds (None: no limit).
    holdout_fraction
        Share of customers held out as a control group (deterministic by customer id and campaign).
    """

    rule_id: str = attrs.field(validator=_nonempty)
    trigger: Trigger
    action: Action
    conditions: Predicate | None = None
    temporal: tuple[Temporal, ...] = attrs.field(default=(), converter=_temporal_tuple)
    priority: int = 0
    campaign_id: str = attrs.field(default="")
    exclusion_group: str = ""
    reeligible_after_seconds: float | None = attrs.field(
        default=None, converter=_optional_float, validator=_optional_positive_seconds
    )
    holdout_fraction: float = attrs.field(default=0.0, converter=_float, validator=_fraction)

    def __attrs_post_init__(self) -> None:
        if not self.campaign_id:
            object.__setattr__(self, "campaign_id", self.rule_id)
        absences = [t for t in self.temporal if isinstance(t, NotFollowedBy)]
        if len(absences) > 1:
            raise ValidationError("at most one not_followed_by condition per rule", field="temporal")

    @property
    def absence(self) -> NotFollowedBy | None:
        """The rule's absence condition, if any."""
        for item in self.temporal:
            if isinstance(item, NotFollowedBy):
                return item
        return None


@attrs.frozen(kw_only=True)
class FrequencyCap:
    """At most ``limit`` sends per customer per ``period_seconds``.

    ``scope`` is ``"channel"`` (per channel; only ``channel`` when given), ``"campaign"`` (per
    campaign) or ``"global"`` (across everything). Held-out decisions count as sends, so the control
    group sees the same suppressions as the treated group.
    """

    scope: str = attrs.field(validator=_one_of("channel", "campaign", "global"))
    limit: int = attrs.field(validator=_positive_int)
    period_seconds: float = attrs.field(converter=_float, validator=_positive_seconds)
    channel: str = ""


@attrs.frozen
class ExclusionGroup:
    """Campaigns that exclude each other: one firing per customer per ``window_seconds``."""

    name: str = attrs.field(validator=_nonempty)
    window_seconds: float = attrs.field(converter=_float, validator=_positive_seconds)


@attrs.frozen(kw_only=True)
class QuietHours:
    """No sends between ``start_hour`` and ``end_hour`` local time (may wrap midnight); sends are
    deferred to ``end_hour``, not dropped. ``channels`` limits it to some channels (empty: all)."""

    start_hour: float = attrs.field(converter=_float, validator=_hour)
    end_hour: float = attrs.field(converter=_float, validator=_hour)
    channels: tuple[str, ...] = attrs.field(default=(), converter=_tuple)


@attrs.frozen(kw_only=True)
class Policies:
    """Policies applied to every decision.

    Parameters
    ----------
    caps
        Frequency caps.
    exclusion_groups
        Mutually exclusive campaign groups.
    quiet_hours
        Quiet hours in the customer's time zone (profile field ``timezone_field``, IANA names).
    sensitive_fields
        Field name -> consent purpose for sensitive data (``{"distance_km": "precise_location"}``):
        a rule reading such a field needs that separate, explicit consent (PIPL art. 29, GDPR art. 9).
    holdout_salt
        Salt of the holdout hash; change it to draw new control groups.
    timezone_field
        Profile field with the customer's IANA time zone.
    default_timezone
        Time zone for customers without one.
    """

    caps: tuple[FrequencyCap, ...] = attrs.field(default=(), converter=_tuple)
    exclusion_groups: tuple[ExclusionGroup, ...] = attrs.field(default=(), converter=_tuple)
    quiet_hours: QuietHours | None = None
    sensitive_fields: Mapping[str, str] = attrs.field(factory=dict)
    holdout_salt: str = "omnicore"
    timezone_field: str = "timezone"
    default_timezone: str = "Asia/Shanghai"

    def __attrs_post_init__(self) -> None:
        names = [g.name for g in self.exclusion_groups]
        for i, name in enumerate(names):
            if names.index(name) != i:
                raise ValidationError("duplicate exclusion group", field=f"exclusion_groups[{i}]", value=name)
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(self.default_timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValidationError(
                "unknown IANA time zone", field="default_timezone", value=self.default_timezone
            ) from None


@attrs.frozen(kw_only=True)
class RuleSet:
    """Rules and the policies that govern them; the unit that is compiled, stored and versioned.

    Examples
    --------
    >>> rules = RuleSet(rules=[Rule(rule_id="welcome", trigger=Trigger("signup"),
    ...                             action=Action(kind=ActionKind.MESSAGE, channel="wecom"))])
    >>> load_rules(dump_rules(rules)) == rules
    True
    """

    rules: tuple[Rule, ...] = attrs.field(converter=_tuple)
    policies: Policies = attrs.field(factory=Policies)

    def __attrs_post_init__(self) -> None:
        seen: dict[str, int] = {}
        groups = {g.name for g in self.policies.exclusion_groups}
        for i, rule in enumerate(self.rules):
            if rule.rule_id in seen:
                raise ValidationError("duplicate rule_id", field=f"rules[{i}].rule_id", value=rule.rule_id)
            seen[rule.rule_id] = i
            if rule.exclusion_group and rule.exclusion_group not in groups:
                raise ValidationError(
                    "exclusion group not declared in policies.exclusion_groups",
                    field=f"rules[{i}].exclusion_group",
                    value=rule.exclusion_group,
                )

    def fingerprint(self) -> str:
        """A short hash of the canonical JSON, stored with streaming state to detect rule changes."""
        text = json.dumps(converter.unstructure(self), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


# -- JSON: tagged unions and path-precise errors -------------------------------------------------
def _strict(cls: type[Any]) -> Callable[[Any, Any], Any]:
    return make_dict_structure_fn(cls, converter, _cattrs_forbid_extra_keys=True)


def _structure_scalar(value: Any, _: Any) -> Any:
    if isinstance(value, str | bool | int | float):
        return value
    raise ValidationError("expected text, a number or a boolean", value=value)


def _without(data: Mapping[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k != key}


_PREDICATE_FNS: dict[type[Any], Callable[[Any, Any], Any]] = {}
_PREDICATE_OUT: dict[type[Any], Callable[[Any], dict[str, Any]]] = {}
_TEMPORAL_FNS: dict[type[Any], Callable[[Any, Any], Any]] = {}


def _structure_predicate(data: Any, _: Any) -> Any:
    if not isinstance(data, Mapping):
        raise ValidationError("a predicate is an object with an 'op' key", value=data)
    op = data.get("op")
    if op in COMPARE_OPS:
        return _PREDICATE_FNS[Compare](data, Compare)
    cls = _PREDICATE_TAGS.get(op) if isinstance(op, str) else None
    if cls is None:
        known = ", ".join([*COMPARE_OPS, *_PREDICATE_TAGS])
        raise ValidationError(f"unknown predicate op {op!r}; expected one of {known}", value=op)
    return _PREDICATE_FNS[cls](_without(data, "op"), cls)


def _unstructure_predicate(value: Any) -> dict[str, Any]:
    if isinstance(value, Compare):
        return {"op": value.op, "field": value.field, "value": value.value}
    tag = next(k for k, v in _PREDICATE_TAGS.items() if v is type(value))
    body: dict[str, Any] = {"op": tag}
    if isinstance(value, AllOf | AnyOf):
        body["args"] = [_unstructure_predicate(p) for p in value.args]
    elif isinstance(value, Not):
        body["arg"] = _unstructure_predicate(value.arg)
    else:
        body.update(_PREDICATE_OUT[type(value)](value))
    return body


def _structure_temporal(data: Any, _: Any) -> Any:
    if not isinstance(data, Mapping):
        raise ValidationError("a temporal condition is an object with a 'kind' key", value=data)
    kind = data.get("kind")
    cls = _TEMPORAL_TAGS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ValidationError(
            f"unknown temporal kind {kind!r}; expected one of {', '.join(_TEMPORAL_TAGS)}", value=kind
        )
    return _TEMPORAL_FNS[cls](_without(data, "kind"), cls)


def _unstructure_temporal(value: Any) -> dict[str, Any]:
    tag = next(k for k, v in _TEMPORAL_TAGS.items() if v is type(value))
    body: dict[str, Any] = {"kind": tag}
    for field in attrs.fields(type(value)):
        item = getattr(value, field.name)
        body[field.name] = (
            _unstructure_predicate(item) if field.name == "where" and item is not None else item
        )
    return body


def _is_predicate(tp: Any) -> bool:
    return bool(tp == Predicate)


def _is_temporal(tp: Any) -> bool:
    return bool(tp == Temporal)


def _is_scalar(tp: Any) -> bool:
    return bool(tp == Scalar)


def _register() -> None:
    for cls in (*_PREDICATE_TAGS.values(), Compare, CountWithin, FirstTime, NotFollowedBy):
        attrs.resolve_types(cls, globals())
    for cls in (Trigger, Rule, Action, FrequencyCap, ExclusionGroup, QuietHours, Policies, RuleSet):
        attrs.resolve_types(cls, globals())
    converter.register_structure_hook_func(_is_scalar, _structure_scalar)
    converter.register_structure_hook_func(_is_predicate, _structure_predicate)
    converter.register_unstructure_hook_func(_is_predicate, _unstructure_predicate)
    converter.register_structure_hook_func(_is_temporal, _structure_temporal)
    converter.register_unstructure_hook_func(_is_temporal, _unstructure_temporal)
    for cls in (*_PREDICATE_TAGS.values(), Compare):
        _PREDICATE_FNS[cls] = _strict(cls)
        _PREDICATE_OUT[cls] = make_dict_unstructure_fn(cls, converter)
        converter.register_unstructure_hook(cls, _unstructure_predicate)
    for cls in _TEMPORAL_TAGS.values():
        _TEMPORAL_FNS[cls] = _strict(cls)
        converter.register_unstructure_hook(cls, _unstructure_temporal)
    # leaves first: a generated hook captures the hooks of its fields when it is made
    for cls in (Action, FrequencyCap, ExclusionGroup, QuietHours, Trigger, Rule, Policies, RuleSet):
        converter.register_structure_hook(cls, _strict(cls))


_register()


_SUBPATH = "\x00"


def _describe(exc: BaseException, tp: Any) -> str:
    if isinstance(exc, ValidationError):
        text = exc.message
        if exc.value is not None:
            text += f" (got {exc.value!r})"
        return f"{exc.field}{_SUBPATH}{text}" if exc.field else text
    if isinstance(exc, cattrs.ForbiddenExtraKeysError):
        return f"unknown field(s) {', '.join(sorted(exc.extra_fields))}"
    if isinstance(exc, KeyError):
        return "required field missing"
    name = getattr(tp, "__name__", None) or repr(tp)
    if isinstance(exc, ValueError | TypeError):
        return f"invalid value, expected {name}: {exc}" if str(exc) else f"invalid value, expected {name}"
    return f"{type(exc).__name__}: {exc}"


def load_rules(text: str | bytes | Mapping[str, Any]) -> RuleSet:
    """Load a :class:`RuleSet` from JSON text (or already parsed JSON), validating every node.

    Parameters
    ----------
    text
        JSON text, or the parsed object.

    Returns
    -------
    RuleSet
        The validated rules and policies.

    Raises
    ------
    ValidationError
        Listing every bad node at once, each with its exact path (``RuleSet.rules[2].trigger.where
        .args[1].op``) and why; ``field`` holds the first path.

    Examples
    --------
    >>> bad = ('{"rules": [{"rule_id": "r", "trigger": {"event_type": "browse",'
    ...        ' "where": {"op": "gt", "field": "price", "value": "cheap"}},'
    ...        ' "action": {"kind": "message", "channel": "sms"}}]}')
    >>> try:
    ...     load_rules(bad)
    ... except ValidationError as exc:
    ...     print(exc.problems[0].field)
    ...     print(exc.problems[0].message)
    RuleSet.rules[0].trigger.where.op
    operator 'gt' needs a number; text and booleans compare with eq/ne only (got 'gt')
    """
    if isinstance(text, str | bytes):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValidationError(f"invalid JSON: {exc.msg}", field="$", row=exc.lineno) from None
    else:
        data = text
    try:
        return converter.structure(data, RuleSet)
    except cattrs.ClassValidationError as exc:
        problems = []
        for message in cattrs.transform_error(exc, path="RuleSet", format_exception=_describe):
            description, _, path = message.rpartition(" @ ")
            sub, _, description = description.rpartition(_SUBPATH)
            if sub:
                path = f"{path}.{sub}"
            problems.append(ValidationError(description, field=path or None))
        first = problems[0] if problems else ValidationError("invalid rule set", field="RuleSet")
        raise ValidationError(
            f"{len(problems)} invalid node(s) in the rule set", field=first.field, problems=problems
        ) from None
    except ValidationError as exc:
        raise ValidationError(
            exc.message, field=f"RuleSet.{exc.field}" if exc.field else "RuleSet", value=exc.value
        ) from None


def dump_rules(rules: RuleSet, *, indent: int | None = 2) -> str:
    """Serialise a :class:`RuleSet` to JSON text (the inverse of :func:`load_rules`).

    Examples
    --------
    >>> r = Rule(rule_id="r", trigger=Trigger("browse", Compare("category", "eq", "baby")),
    ...          action=Action(kind=ActionKind.COMMUNITY_INVITE, channel="wecom"))
    >>> '"op": "eq"' in dump_rules(RuleSet(rules=[r]))
    True
    """
    return json.dumps(converter.unstructure(rules), indent=indent, ensure_ascii=False, allow_nan=False)
