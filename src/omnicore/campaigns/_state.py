"""Evaluation results and carried state: the decision table and the engine state between batches."""

from __future__ import annotations

import enum
from collections import Counter
from typing import Any, TypeVar

import attrs
import numpy as np
import numpy.typing as npt

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


_STATUSES: tuple[str, ...] = tuple(s.value for s in DecisionStatus)
_TEXT = np.dtypes.StringDType()


def _tuple(value: Any) -> tuple[Any, ...]:
    return tuple(value)


def _frozenset(value: Any) -> frozenset[str]:
    return frozenset(value)


def _frozen(array: npt.NDArray[Any]) -> npt.NDArray[Any]:
    return freeze(np.asarray(array))


def _codes(value: Any) -> npt.NDArray[np.int32]:
    return freeze(np.asarray(value, dtype=np.int32))


@attrs.frozen(kw_only=True, repr=False, eq=False)
class Decisions:
    """Every decision of an evaluation, in processing order, with its reason trace.

    Low-cardinality text (rule, campaign, channel, action, status, reason) is held as integer codes
    into small category tuples, like a categorical column, and materialised as text columns on first
    access; building millions of identical strings is most of what a naive decision log costs.

    Attributes
    ----------
    decision_key
        ``rule_id|customer_id|event_key``: the exactly-once key.
    rule_id, campaign_id, channel, action
        The rule, its campaign, the delivery channel and the action kind.
    customer_id
        Whom it concerns.
    event_key
        The triggering event: its ``event_id``, or ``customer|event_type|epoch microseconds``.
    status
        A :class:`DecisionStatus` value: ``fired``, ``deferred`` (quiet hours; sent at ``send_at``),
        ``held_out`` (control group, recorded, not sent) or ``suppressed_*``.
    decided_at
        When the rule fired: the event time, or trigger time + delay for absence rules.
    send_at
        When to deliver (after quiet hours); equals ``decided_at`` when not deferred.
    reason
        The reason trace: which trigger and conditions matched and which policy decided.
    """

    rule_code: npt.NDArray[np.int32] = attrs.field(converter=_codes)
    rule_table: tuple[tuple[str, str, str, str, str], ...] = attrs.field(converter=_tuple)
    customer_id: npt.NDArray[Any] = attrs.field(converter=_frozen)
    event_id: npt.NDArray[Any] | None = attrs.field(default=None)
    trigger_at: npt.NDArray[np.int64] = attrs.field(converter=_frozen)
    status_code: npt.NDArray[np.int32] = attrs.field(converter=_codes)
    reason_code: npt.NDArray[np.int32] = attrs.field(converter=_codes)
    reasons: tuple[str, ...] = attrs.field(converter=_tuple)
    decided_at: npt.NDArray[np.datetime64] = attrs.field(converter=_frozen)
    send_at: npt.NDArray[np.datetime64] = attrs.field(converter=_frozen)
    _cache: dict[str, npt.NDArray[Any]] = attrs.field(factory=dict, init=False)

    def __len__(self) -> int:
        return int(self.rule_code.size)

    def __repr__(self) -> str:
        return f"Decisions({len(self)} rows, {dict(Counter(self.status.tolist()))})"

    def _category(self, name: str, table: tuple[str, ...], codes: npt.NDArray[np.int32]) -> npt.NDArray[Any]:
        hit = self._cache.get(name)
        if hit is None:
            hit = freeze(np.array(table, dtype=_TEXT)[codes] if codes.size else np.empty(0, dtype=_TEXT))
            self._cache[name] = hit
        return hit

    def _rule_attr(self, name: str, i: int) -> npt.NDArray[Any]:
        return self._category(name, tuple(r[i] for r in self.rule_table), self.rule_code)

    @property
    def rule_id(self) -> npt.NDArray[Any]:
        """Rule of each decision (text)."""
        return self._rule_attr("rule_id", 0)

    @property
    def campaign_id(self) -> npt.NDArray[Any]:
        """Campaign of each decision (text)."""
        return self._rule_attr("campaign_id", 1)

    @property
    def channel(self) -> npt.NDArray[Any]:
        """Delivery channel (text)."""
        return self._rule_attr("channel", 2)

    @property
    def action(self) -> npt.NDArray[Any]:
        """Action kind (text)."""
        return self._rule_attr("action", 3)

    @property
    def status(self) -> npt.NDArray[Any]:
        """Decision status (text, a :class:`DecisionStatus` value)."""
        return self._category("status", _STATUSES, self.status_code)

    @property
    def reason(self) -> npt.NDArray[Any]:
        """Reason trace (text)."""
        return self._category("reason", self.reasons, self.reason_code)

    @property
    def event_key(self) -> npt.NDArray[Any]:
        """Key of the triggering event (text)."""
        hit = self._cache.get("event_key")
        if hit is None:
            if self.event_id is not None:
                hit = _as_text(self.event_id)
            else:
                trigger_type = self._rule_attr("trigger_type", 4)
                hit = np.strings.add(
                    np.strings.add(
                        np.strings.add(np.strings.add(_as_text(self.customer_id), "|"), trigger_type), "|"
                    ),
                    self.trigger_at.astype(_TEXT),
                )
            hit = freeze(hit)
            self._cache["event_key"] = hit
        return hit

    @property
    def decision_key(self) -> npt.NDArray[Any]:
        """``rule_id|customer_id|event_key`` (text)."""
        hit = self._cache.get("decision_key")
        if hit is None:
            hit = np.strings.add(
                np.strings.add(
                    np.strings.add(np.strings.add(self.rule_id, "|"), _as_text(self.customer_id)), "|"
                ),
                self.event_key,
            )
            hit = freeze(hit)
            self._cache["decision_key"] = hit
        return hit

    @classmethod
    def empty(cls) -> Decisions:
        """No decisions."""
        none = np.empty(0, dtype=np.int32)
        time = np.empty(0, dtype="datetime64[us]")
        return cls(
            rule_code=none,
            rule_table=(),
            customer_id=np.empty(0, np.int64),
            trigger_at=np.empty(0, np.int64),
            status_code=none,
            reason_code=none,
            reasons=(),
            decided_at=time,
            send_at=time,
        )

    def take(self, indices: npt.ArrayLike) -> Decisions:
        """The decisions at ``indices`` (in that order)."""
        idx = np.asarray(indices, dtype=np.intp)
        return attrs.evolve(
            self,
            rule_code=self.rule_code[idx],
            customer_id=self.customer_id[idx],
            event_id=None if self.event_id is None else self.event_id[idx],
            trigger_at=self.trigger_at[idx],
            status_code=self.status_code[idx],
            reason_code=self.reason_code[idx],
            decided_at=self.decided_at[idx],
            send_at=self.send_at[idx],
        )

    @classmethod
    def concat(cls, parts: list[Decisions]) -> Decisions:
        """One table of several, in order (categories are merged)."""
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls.empty()
        if len(parts) == 1:
            return parts[0]
        rule_table: dict[tuple[str, str, str, str, str], int] = {}
        reasons: dict[str, int] = {}
        rule_codes, reason_codes = [], []
        for p in parts:
            rmap = np.array([rule_table.setdefault(r, len(rule_table)) for r in p.rule_table], dtype=np.int32)
            smap = np.array([reasons.setdefault(r, len(reasons)) for r in p.reasons], dtype=np.int32)
            rule_codes.append(rmap[p.rule_code])
            reason_codes.append(smap[p.reason_code])
        with_ids = [p.event_id is not None for p in parts]
        if all(with_ids):
            event_id: npt.NDArray[Any] | None = _concat_ids(
                [p.event_id for p in parts if p.event_id is not None]
            )
        elif not any(with_ids):
            event_id = None
        else:
            event_id = np.concatenate([p.event_key for p in parts])
        return cls(
            rule_code=np.concatenate(rule_codes),
            rule_table=list(rule_table.keys()),
            customer_id=_concat_ids([p.customer_id for p in parts]),
            event_id=event_id,
            trigger_at=np.concatenate([p.trigger_at for p in parts]),
            status_code=np.concatenate([p.status_code for p in parts]),
            reason_code=np.concatenate(reason_codes),
            reasons=list(reasons.keys()),
            decided_at=np.concatenate([p.decided_at for p in parts]),
            send_at=np.concatenate([p.send_at for p in parts]),
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

    def to_dict(self) -> dict[str, npt.NDArray[Any]]:
        """Every column by name, text columns materialised."""
        return {
            "decision_key": self.decision_key,
            "rule_id": self.rule_id,
            "campaign_id": self.campaign_id,
            "customer_id": self.customer_id,
            "event_key": self.event_key,
            "channel": self.channel,
            "action": self.action,
            "status": self.status,
            "decided_at": self.decided_at,
            "send_at": self.send_at,
            "reason": self.reason,
        }

    def to_pandas(self) -> Any:
        """A pandas DataFrame of :meth:`to_dict` (needs pandas)."""
        import pandas as pd

        return pd.DataFrame({k: v.tolist() if v.dtype == _TEXT else v for k, v in self.to_dict().items()})

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
        fired = _STATUSES.index(DecisionStatus.FIRED.value)
        deferred = _STATUSES.index(DecisionStatus.DEFERRED.value)
        sent: npt.NDArray[np.bool_] = (self.status_code == fired) | (self.status_code == deferred)
        return sent


def _as_text(ids: npt.NDArray[Any]) -> npt.NDArray[Any]:
    return ids if ids.dtype == _TEXT else ids.astype(_TEXT)


def _concat_ids(parts: list[npt.NDArray[Any]]) -> npt.NDArray[Any]:
    if len({p.dtype.kind for p in parts if p.size}) > 1:
        parts = [_as_text(p) for p in parts]
    return np.concatenate(parts)


T = TypeVar("T")


def trusted(cls: type[T], **columns: Any) -> T:
    """Build a columnar value from arrays the library made itself, skipping input validation.

    Only for internal results whose columns already have the right dtypes and lengths; user input
    always goes through the validating constructor.
    """
    obj = object.__new__(cls)
    for field in attrs.fields(cls):  # type: ignore[arg-type]
        value = columns[field.alias if field.alias in columns else field.name]
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
    watermark_keys: frozenset[str] = attrs.field(factory=frozenset, converter=_frozenset)
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
