"""Evaluation results and carried state: the decision table and the engine state between batches."""

from __future__ import annotations

import enum
from collections import Counter
from typing import Any, ClassVar, TypeVar

import attrs
import numpy as np
import numpy.typing as npt

from omnicore.data import Table
from omnicore.data._columns import (
    as_id_column,
    as_string_column,
    as_time_column,
    column_field,
    freeze,
)
from omnicore.storage import DecisionRecords

__all__ = ["DecisionStatus", "Decisions", "EngineState", "Evaluation"]


class DecisionStatus(enum.Enum):
    """Outcome of one candidate firing."""

    FIRED = "fired"
    DEFERRED = "deferred"
    HELD_OUT = "held_out"
    SUPPRESSED_CONSENT = "suppressed_consent"
    SUPPRESSED_REELIGIBILITY = "suppressed_reeligibility"
    SUPPRESSED_EXCLUSION = "suppressed_exclusion"
    SUPPRESSED_CAP = "suppressed_cap"


@attrs.frozen(kw_only=True, repr=False)
class Decisions(Table):
    """Every decision of an evaluation, in processing order, with its reason trace.

    Parameters
    ----------
    decision_key
        ``rule_id|customer_id|event_key``: the exactly-once key.
    rule_id, campaign_id
        The rule and its campaign.
    customer_id
        Whom it concerns.
    event_key
        The triggering event (its ``event_id``, or ``customer|type|timestamp``).
    channel, action
        Delivery channel and action kind.
    status
        A :class:`DecisionStatus` value: ``fired``, ``deferred`` (quiet hours; sent at ``send_at``),
        ``held_out`` (control group, not sent) or ``suppressed_*``.
    decided_at
        When the rule fired: the event time, or trigger time + delay for absence rules.
    send_at
        When to deliver (after quiet hours); equals ``decided_at`` when not deferred.
    reason
        The reason trace: which trigger and conditions matched and which policy decided.
    """

    _length_anchor: ClassVar[str] = "decision_key"

    decision_key: npt.NDArray[Any] = column_field(as_string_column())
    rule_id: npt.NDArray[Any] = column_field(as_string_column())
    campaign_id: npt.NDArray[Any] = column_field(as_string_column())
    customer_id: npt.NDArray[Any] = column_field(as_id_column())
    event_key: npt.NDArray[Any] = column_field(as_string_column())
    channel: npt.NDArray[Any] = column_field(as_string_column())
    action: npt.NDArray[Any] = column_field(as_string_column())
    status: npt.NDArray[Any] = column_field(as_string_column())
    decided_at: npt.NDArray[np.datetime64] = column_field(as_time_column())
    send_at: npt.NDArray[np.datetime64] = column_field(as_time_column())
    reason: npt.NDArray[Any] = column_field(as_string_column(allow_empty=True))

    @classmethod
    def empty(cls) -> Decisions:
        """No decisions."""
        text = np.empty(0, dtype=np.dtypes.StringDType())
        time = np.empty(0, dtype="datetime64[us]")
        return cls(
            decision_key=text,
            rule_id=text,
            campaign_id=text,
            customer_id=np.empty(0, np.int64),
            event_key=text,
            channel=text,
            action=text,
            status=text,
            decided_at=time,
            send_at=time,
            reason=text,
        )

    def to_decision_records(self) -> DecisionRecords:
        """The rows as the store's :class:`~omnicore.storage.DecisionRecords` (the send log)."""
        return DecisionRecords(
            decision_key=self.decision_key,
            rule_id=self.rule_id,
            customer_id=self.customer_id,
            channel=self.channel,
            status=self.status,
            decided_at=self.decided_at,
            send_at=self.send_at,
            reason=self.reason,
        )

    def counts(self, *by: str) -> dict[tuple[str, ...], int]:
        """Number of decisions per combination of the named text columns (default: rule, status).

        Examples
        --------
        >>> Decisions.empty().counts()
        {}
        """
        names = by or ("rule_id", "status")
        columns = [getattr(self, name).tolist() for name in names]
        return dict(sorted(Counter(zip(*columns, strict=True)).items()))

    @property
    def sent(self) -> npt.NDArray[np.bool_]:
        """Rows that are (or will be) delivered: fired or deferred."""
        return (self.status == DecisionStatus.FIRED.value) | (self.status == DecisionStatus.DEFERRED.value)


T = TypeVar("T")


def trusted(cls: type[T], **columns: Any) -> T:
    """Build a columnar value from arrays the library made itself, skipping input validation.

    Only for internal results whose columns already have the right dtypes and lengths; user input
    always goes through the validating constructor.
    """
    obj = object.__new__(cls)
    for field in attrs.fields(cls):  # type: ignore[arg-type]
        value = columns[field.name]
        if isinstance(value, np.ndarray):
            value = freeze(value)
        object.__setattr__(obj, field.name, value)
    return obj


def _state_ids() -> Any:
    return column_field(as_id_column())


def _state_text() -> Any:
    return column_field(as_string_column(allow_empty=True))


def _state_time() -> Any:
    return column_field(as_time_column())


@attrs.frozen(kw_only=True, repr=False)
class EngineState:
    """What the engine remembers between batches; everything needed to continue exactly.

    Parameters
    ----------
    fingerprint
        :meth:`RuleSet.fingerprint` of the rules the state belongs to.
    watermark
        Time up to which events have been processed (None: nothing yet). Later events older than the
        watermark are replays or late arrivals and are skipped.
    watermark_keys
        Keys of the events processed *at* the watermark time, so a replay of those is skipped too.
    window_slot, window_customer, window_time
        Recent events matching a :class:`~omnicore.campaigns.CountWithin` condition (slot
        ``rule_id#i``), kept for the length of its window.
    seen_rule, seen_customer
        Customers who already had a trigger of each first-time rule.
    timer_rule, timer_customer, timer_event_key, timer_start, timer_due
        Pending absence timers.
    cap_key, cap_customer, cap_time
        Recent accepted decisions per cap key (``rule:``, ``excl:``, ``cap<i>:``), kept for the cap's
        period.
    """

    fingerprint: str = ""
    watermark: np.datetime64 | None = None
    watermark_keys: frozenset[str] = attrs.field(factory=frozenset, converter=frozenset)
    window_slot: npt.NDArray[Any] = _state_text()
    window_customer: npt.NDArray[Any] = _state_ids()
    window_time: npt.NDArray[np.datetime64] = _state_time()
    seen_rule: npt.NDArray[Any] = _state_text()
    seen_customer: npt.NDArray[Any] = _state_ids()
    timer_rule: npt.NDArray[Any] = _state_text()
    timer_customer: npt.NDArray[Any] = _state_ids()
    timer_event_key: npt.NDArray[Any] = _state_text()
    timer_start: npt.NDArray[np.datetime64] = _state_time()
    timer_due: npt.NDArray[np.datetime64] = _state_time()
    cap_key: npt.NDArray[Any] = _state_text()
    cap_customer: npt.NDArray[Any] = _state_ids()
    cap_time: npt.NDArray[np.datetime64] = _state_time()

    @classmethod
    def empty(cls, fingerprint: str = "") -> EngineState:
        """The state before any event."""
        text = np.empty(0, dtype=np.dtypes.StringDType())
        ids = np.empty(0, dtype=np.int64)
        time = np.empty(0, dtype="datetime64[us]")
        return cls(
            fingerprint=fingerprint,
            window_slot=text,
            window_customer=ids,
            window_time=time,
            seen_rule=text,
            seen_customer=ids,
            timer_rule=text,
            timer_customer=ids,
            timer_event_key=text,
            timer_start=time,
            timer_due=time,
            cap_key=text,
            cap_customer=ids,
            cap_time=time,
        )

    @property
    def pending_timers(self) -> int:
        """Number of absence timers not yet fired or cancelled."""
        return int(self.timer_rule.size)

    def customers(self) -> npt.NDArray[Any]:
        """Every customer with some state."""
        parts = [self.window_customer, self.seen_customer, self.timer_customer, self.cap_customer]
        parts = [p for p in parts if p.size]
        if not parts:
            return np.empty(0, dtype=np.int64)
        return np.unique(_same_kind(parts))


def _same_kind(parts: list[npt.NDArray[Any]]) -> npt.NDArray[Any]:
    if len({p.dtype.kind for p in parts}) > 1:
        parts = [p.astype(str).astype(np.dtypes.StringDType()) for p in parts]
    return np.concatenate(parts)


@attrs.frozen(kw_only=True)
class Evaluation:
    """The result of :func:`~omnicore.campaigns.evaluate`: decisions and the state to carry on with.

    Attributes
    ----------
    decisions
        Every decision, in processing order.
    state
        The state after the batch; pass it to the next call to continue.
    skipped_events
        Events skipped as replays (older than the watermark, or already processed at it) or as
        duplicates of an ``event_id`` within the batch.
    """

    decisions: Decisions
    state: EngineState
    skipped_events: int = 0
