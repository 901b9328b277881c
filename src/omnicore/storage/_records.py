"""Value types that the stores read and write besides the shared data containers."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

import attrs
import numpy as np
import numpy.typing as npt

from omnicore._errors import ValidationError
from omnicore.data._columns import (
    as_bool_column,
    as_float_column,
    as_id_column,
    as_int_column,
    as_string_column,
    as_time_column,
    column_field,
)
from omnicore.data._table import Table

__all__ = [
    "AuditEntry",
    "ConsentRecords",
    "DecisionRecords",
    "IdentityLinks",
    "MergeEvents",
    "Reservation",
    "ReservationLine",
    "ReservationStatus",
]

_JSON_SCALARS = (str, int, float, bool, type(None))


def _check_details(_: Any, attribute: attrs.Attribute[Any], value: Mapping[str, Any]) -> None:
    for key, item in value.items():
        if not isinstance(key, str):
            raise ValidationError("detail keys must be text", field=attribute.name, value=key)
        if not isinstance(item, _JSON_SCALARS) and not (
            isinstance(item, list | tuple) and all(isinstance(v, _JSON_SCALARS) for v in item)
        ):
            raise ValidationError(
                "detail values must be JSON scalars or lists of them",
                field=f"{attribute.name}.{key}",
                value=item,
            )


def _positive(_: Any, attribute: attrs.Attribute[Any], value: int) -> None:
    if value <= 0:
        raise ValidationError("must be a positive integer", field=attribute.name, value=value)


def _nonempty(_: Any, attribute: attrs.Attribute[Any], value: str) -> None:
    if not value.strip():
        raise ValidationError("must not be empty", field=attribute.name, value=value)


def _utc(value: Any) -> np.datetime64:
    from omnicore.data._columns import to_datetime64

    return to_datetime64(value)


@attrs.frozen(kw_only=True)
class AuditEntry:
    """One line of the append-only audit log.

    Parameters
    ----------
    at
        When it happened (UTC).
    actor
        Who or what did it (a user, a service, ``"omnicore.identity"``).
    action
        What was done, dotted (``"identity.erase"``, ``"inventory.reserve"``).
    subject
        Whom it concerns: a customer id or a pseudonymised reference, never a raw identifier.
    details
        JSON-scalar facts about the action (counts, ids, reasons).
    """

    at: np.datetime64 = attrs.field(converter=_utc)
    actor: str = attrs.field(validator=_nonempty)
    action: str = attrs.field(validator=_nonempty)
    subject: str = ""
    details: Mapping[str, Any] = attrs.field(factory=dict, validator=_check_details)


class ReservationStatus(enum.Enum):
    """Lifecycle of a stock reservation."""

    HELD = "held"
    CONFIRMED = "confirmed"
    RELEASED = "released"
    EXPIRED = "expired"


@attrs.frozen
class ReservationLine:
    """Units of one sku held at one node."""

    sku: str | int
    node: str | int
    quantity: int = attrs.field(validator=_positive)


def _sorted_lines(lines: Iterable[ReservationLine]) -> tuple[ReservationLine, ...]:
    return tuple(sorted(lines, key=lambda line: (str(line.sku), str(line.node))))


@attrs.frozen(kw_only=True)
class Reservation:
    """A claim on stock for one order: all of its lines are held, or none.

    ``lines`` are sorted by (sku, node) so equal reservations compare equal.
    """

    order_id: str = attrs.field(validator=_nonempty)
    lines: tuple[ReservationLine, ...] = attrs.field(converter=_sorted_lines)
    status: ReservationStatus
    created_at: np.datetime64 = attrs.field(converter=_utc)
    expires_at: np.datetime64 = attrs.field(converter=_utc)

    @property
    def units(self) -> int:
        """Total units over all lines."""
        return sum(line.quantity for line in self.lines)


@attrs.frozen(kw_only=True, repr=False)
class IdentityLinks(Table):
    """Edges of the identity graph with their evidence, one row per link.

    Parameters
    ----------
    left_type, left_value, right_type, right_value
        The two identifiers (type and normalised, possibly pseudonymised, value).
    kind
        ``"deterministic"`` (seen on one record), ``"probabilistic"`` (matched) or ``"manual"``.
    probability
        Match probability; 1.0 for deterministic links.
    record_id
        The record that produced the link ('' where none).
    accepted
        False for a link refused by a guardrail; refused links are kept as evidence.
    reason
        Why a link was refused (or how it was made).
    created_at
        When the link was made (UTC).
    """

    _length_anchor: ClassVar[str] = "left_type"

    left_type: npt.NDArray[Any] = column_field(as_string_column())
    left_value: npt.NDArray[Any] = column_field(as_string_column())
    right_type: npt.NDArray[Any] = column_field(as_string_column())
    right_value: npt.NDArray[Any] = column_field(as_string_column())
    kind: npt.NDArray[Any] = column_field(as_string_column())
    probability: npt.NDArray[np.float64] = column_field(as_float_column(nonnegative=True))
    record_id: npt.NDArray[Any] = column_field(as_string_column(allow_empty=True))
    accepted: npt.NDArray[np.bool_] = column_field(as_bool_column())
    reason: npt.NDArray[Any] = column_field(as_string_column(allow_empty=True))
    created_at: npt.NDArray[np.datetime64] = column_field(as_time_column())


@attrs.frozen(kw_only=True, repr=False)
class MergeEvents(Table):
    """Customer-id changes for downstream re-keying: merges, splits, new customers, erasures.

    Parameters
    ----------
    at
        When (UTC).
    kind
        ``"create"``, ``"merge"`` (``from_customer`` folded into ``to_customer``), ``"split"`` (part of
        ``from_customer`` moved to the new ``to_customer``) or ``"erase"``.
    from_customer, to_customer
        Customer ids (int64); -1 where not applicable.
    reason
        Free text evidence, e.g. the link that caused the merge.
    """

    _length_anchor: ClassVar[str] = "at"

    at: npt.NDArray[np.datetime64] = column_field(as_time_column())
    kind: npt.NDArray[Any] = column_field(as_string_column())
    from_customer: npt.NDArray[np.int64] = column_field(as_int_column())
    to_customer: npt.NDArray[np.int64] = column_field(as_int_column())
    reason: npt.NDArray[Any] = column_field(as_string_column(allow_empty=True))


@attrs.frozen(kw_only=True, repr=False)
class ConsentRecords(Table):
    """The consent ledger: grants and withdrawals, append-only; the latest record per purpose wins.

    Parameters
    ----------
    subject_id
        The customer (or identifier) the consent belongs to.
    purpose
        What it allows, e.g. ``"marketing_push"``, ``"sms"``, ``"precise_location"``.
    granted
        True for a grant, False for a withdrawal or unsubscribe.
    recorded_at
        When the customer gave or withdrew it (UTC).
    source
        Where it was captured (``"mini_program"``, ``"pos"``, ``"unsubscribe_link"``).
    """

    _length_anchor: ClassVar[str] = "subject_id"

    subject_id: npt.NDArray[Any] = column_field(as_id_column())
    purpose: npt.NDArray[Any] = column_field(as_string_column())
    granted: npt.NDArray[np.bool_] = column_field(as_bool_column())
    recorded_at: npt.NDArray[np.datetime64] = column_field(as_time_column())
    source: npt.NDArray[Any] = column_field(as_string_column(allow_empty=True))


@attrs.frozen(kw_only=True, repr=False)
class DecisionRecords(Table):
    """The campaign send log: one row per decision, unique by ``decision_key`` (exactly-once).

    Parameters
    ----------
    decision_key
        Idempotency key, e.g. ``"rule|customer|event"``; recording the same key twice keeps the first.
    rule_id, customer_id
        What fired for whom.
    channel
        The delivery channel (``"sms"``, ``"wecom"``, ``"push"``, ...).
    status
        ``"fired"``, ``"held_out"``, ``"deferred"`` or a suppression (``"suppressed_cap"``, ...).
    decided_at
        When the decision was made (UTC).
    send_at
        When the action is (or was) to be delivered, e.g. after quiet hours.
    reason
        The reason trace in short.
    """

    _length_anchor: ClassVar[str] = "decision_key"

    decision_key: npt.NDArray[Any] = column_field(as_string_column())
    rule_id: npt.NDArray[Any] = column_field(as_string_column())
    customer_id: npt.NDArray[Any] = column_field(as_id_column())
    channel: npt.NDArray[Any] = column_field(as_string_column(allow_empty=True))
    status: npt.NDArray[Any] = column_field(as_string_column())
    decided_at: npt.NDArray[np.datetime64] = column_field(as_time_column())
    send_at: npt.NDArray[np.datetime64] = column_field(as_time_column())
    reason: npt.NDArray[Any] = column_field(as_string_column(allow_empty=True))
