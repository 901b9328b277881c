"""Merge rules as typed data: identifier types in priority order, limits, blocked values, must-not-link."""

from __future__ import annotations

from typing import Any

import attrs

from omnicore._errors import ValidationError
from omnicore.identity._normalize import EmailNormalizer, Normalizer, PhoneNormalizer, TextNormalizer

__all__ = ["DEFAULT_RULES", "Identifier", "IdentifierRule", "MergeRules"]

_NORMALIZER_KINDS = ("phone", "email", "upper", "lower", "strip")


def _nonempty(_: Any, attribute: attrs.Attribute[Any], value: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError("must be non-empty text", field=attribute.name, value=value)


def _positive_or_none(_: Any, attribute: attrs.Attribute[Any], value: int | None) -> None:
    if value is not None and (not isinstance(value, int) or value < 1):
        raise ValidationError("must be a positive integer or None", field=attribute.name, value=value)


def _frozen_text(value: Any) -> frozenset[str]:
    if isinstance(value, str):
        raise ValidationError("expected a collection of values, not one text", field="blocked", value=value)
    return frozenset(str(v) for v in value)


def _rule_tuple(value: Any) -> tuple[IdentifierRule, ...]:
    return tuple(value)


@attrs.frozen
class Identifier:
    """One identifier: its type and its (raw or normalised) value.

    Examples
    --------
    >>> Identifier("phone", "+8613912345678")
    Identifier(id_type='phone', value='+8613912345678')
    """

    id_type: str = attrs.field(validator=_nonempty)
    value: str = attrs.field(validator=_nonempty)


@attrs.frozen(kw_only=True)
class IdentifierRule:
    """How one identifier type takes part in merging.

    Parameters
    ----------
    id_type
        The identifier type (``"member_card"``, ``"phone"``, ...).
    normalizer
        ``"phone"`` (E.164 with the rules' default country), ``"email"``, ``"upper"``, ``"lower"``
        or ``"strip"``.
    max_per_customer
        At most this many distinct identifiers of this type in one customer (None: no limit). A link
        that would exceed it is refused, keeping the higher-priority evidence.
    max_records
        A value seen on more than this many distinct records is *shared* (a family phone, a shop's
        counter phone) and does not link; None uses the rules' default.
    blocked
        Values that never link (placeholders such as ``"13800000000"``, ``"test@test.com"``), given
        raw: they are normalised with this type's normaliser.
    links
        False for types that are kept on records but never link (e.g. names).
    """

    id_type: str = attrs.field(validator=_nonempty)
    normalizer: str = attrs.field(default="strip", validator=attrs.validators.in_(_NORMALIZER_KINDS))
    max_per_customer: int | None = attrs.field(default=None, validator=_positive_or_none)
    max_records: int | None = attrs.field(default=None, validator=_positive_or_none)
    blocked: frozenset[str] = attrs.field(default=frozenset(), converter=_frozen_text)
    links: bool = True


def _unique_types(_: Any, attribute: attrs.Attribute[Any], value: tuple[IdentifierRule, ...]) -> None:
    seen: set[str] = set()
    for i, rule in enumerate(value):
        if rule.id_type in seen:
            raise ValidationError(
                "identifier type listed twice", field=f"{attribute.name}[{i}]", value=rule.id_type
            )
        seen.add(rule.id_type)


def _pairs(value: Any) -> tuple[tuple[Identifier, Identifier], ...]:
    out = []
    for pair in value:
        a, b = pair
        a = a if isinstance(a, Identifier) else Identifier(*a)
        b = b if isinstance(b, Identifier) else Identifier(*b)
        out.append((a, b))
    return tuple(out)


@attrs.frozen(kw_only=True)
class MergeRules:
    """The typed configuration of deterministic merging.

    Parameters
    ----------
    identifiers
        Identifier types in priority order, strongest first. When links conflict, evidence through a
        stronger type wins.
    max_records
        Default shared-identifier threshold: a value on more than this many distinct records does not
        link (None: no automatic detection).
    country_code
        Default calling code for phone numbers written without one.
    unknown_types
        ``"link"`` lets identifier types not listed link (lowest priority, no limit); ``"ignore"``
        drops them.
    must_not_link
        Pairs of identifiers an operator marked as different people; they never end up in one
        customer.
    shared_on_conflict
        Conflict-based shared-value detection (on by default). When a link would break a per-type
        limit, the value that bridges the two sides (a household phone on the records of two member
        cards or two accounts) is evidence of an identifier shared by several people: it is marked
        shared for this graph, all its links are refused (reason ``"shared: connects 2 member_card
        values"``) and records that carry nothing else are left without a customer rather than
        attached to one of the people. The bridge is the weaker end of the refused link, of strictly
        lower priority than the limited type; links between two values of one priority name no
        bridge and stay plain limit refusals. The stars of records are then redrawn without the
        shared values and components recomputed, until no new bridge appears (each round only adds
        shared values, so this ends). False keeps the stronger evidence and lets the bridging value
        join that side, as the greedy merge alone does: higher recall, lower precision.

    Examples
    --------
    >>> rules = MergeRules(identifiers=(
    ...     IdentifierRule(id_type="member_card", normalizer="upper", max_per_customer=1),
    ...     IdentifierRule(id_type="phone", normalizer="phone", max_per_customer=3, blocked={"13800000000"}),
    ... ))
    >>> rules.priority("member_card"), rules.priority("phone"), rules.priority("device")
    (0, 1, 2)
    """

    identifiers: tuple[IdentifierRule, ...] = attrs.field(converter=_rule_tuple, validator=_unique_types)
    max_records: int | None = attrs.field(default=20, validator=_positive_or_none)
    country_code: str = "86"
    unknown_types: str = attrs.field(default="link", validator=attrs.validators.in_(("link", "ignore")))
    must_not_link: tuple[tuple[Identifier, Identifier], ...] = attrs.field(default=(), converter=_pairs)
    shared_on_conflict: bool = attrs.field(default=True, validator=attrs.validators.instance_of(bool))

    def rule(self, id_type: str) -> IdentifierRule | None:
        """The rule of one type, or None when it is not listed."""
        for rule in self.identifiers:
            if rule.id_type == id_type:
                return rule
        return None

    def priority(self, id_type: str) -> int:
        """Rank of a type: 0 is strongest; unlisted types rank after every listed one."""
        for i, rule in enumerate(self.identifiers):
            if rule.id_type == id_type:
                return i
        return len(self.identifiers)

    def normalizers(self) -> dict[str, Normalizer]:
        """The normaliser of every listed type."""
        out: dict[str, Normalizer] = {}
        for rule in self.identifiers:
            out[rule.id_type] = _make_normalizer(rule.normalizer, self.country_code)
        return out


def _make_normalizer(kind: str, country_code: str) -> Normalizer:
    if kind == "phone":
        return PhoneNormalizer(country_code=country_code)
    if kind == "email":
        return EmailNormalizer()
    if kind == "upper":
        return TextNormalizer(case="upper", remove=" -")
    if kind == "lower":
        return TextNormalizer(case="lower")
    return TextNormalizer()


#: Defaults for a Chinese omnichannel retailer, strongest type first: one member card, WeChat union
#: id, online account and WeCom external user id per customer; at most 2 mini-program open ids, 2
#: phones (own + household or work), 2 e-mails and 3 devices; common placeholder phones and e-mails
#: blocked; values on more than 20 records (devices: 5) treated as shared, and so is a value that
#: bridges a limit conflict (a household phone on the records of two member cards or two accounts).
DEFAULT_RULES = MergeRules(
    identifiers=(
        IdentifierRule(id_type="member_card", normalizer="upper", max_per_customer=1),
        IdentifierRule(id_type="wechat_unionid", normalizer="strip", max_per_customer=1),
        IdentifierRule(id_type="account_id", normalizer="lower", max_per_customer=1),
        IdentifierRule(id_type="wecom_external_userid", normalizer="strip", max_per_customer=1),
        IdentifierRule(id_type="wechat_openid", normalizer="strip", max_per_customer=2),
        IdentifierRule(
            id_type="phone",
            normalizer="phone",
            max_per_customer=2,
            blocked={
                "13800000000",
                "13800138000",
                "13888888888",
                "13900000000",
                "18888888888",
                "10000000000",
                "11111111111",
                "12345678901",
            },
        ),
        IdentifierRule(
            id_type="email",
            normalizer="email",
            max_per_customer=2,
            blocked={"test@test.com", "a@a.com", "none@none.com", "noemail@example.com", "na@na.com"},
        ),
        IdentifierRule(id_type="device_id", normalizer="strip", max_per_customer=3, max_records=5),
    ),
)
