"""Erasure that follows the identity graph: one request removes a subject from every store."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import numpy as np

from omnicore._errors import ValidationError
from omnicore.data import to_datetime64
from omnicore.identity import DEFAULT_RULES, MergeRules, Normalizer
from omnicore.privacy._export import ACTOR, audit_subject, load_log, wrong_log_key
from omnicore.privacy._subjects import LOGS, LogId, SubjectRef, find_subjects, log_keys_of
from omnicore.storage import AuditEntry, Store

__all__ = ["ErasureBatch", "SubjectErasure", "erase_subject", "erase_subjects"]

#: Count names of an erasure, in report order.
ERASED_KINDS: tuple[str, ...] = ("identifiers", "links", "records", "transactions", "events", "campaigns")


def _counts(value: Mapping[str, int]) -> dict[str, int]:
    return {kind: int(value.get(kind, 0)) for kind in ERASED_KINDS}


@attrs.frozen(kw_only=True)
class SubjectErasure:
    """What one subject's erasure removed (no identifier is kept here or in the audit log).

    Attributes
    ----------
    customer_id
        The erased customer id (-1 when the identity store did not know the subject).
    erased_customer_ids
        The customer id and the earlier ids merged into it whose log rows were removed too.
    counts
        Rows removed by kind: identifiers, links and records (identity store), transactions,
        events, and campaigns (decisions and consent records).
    split_from
        Customer ids this one was split from: their rows were left alone, review them by hand.
    at
        When (UTC).
    """

    customer_id: int
    erased_customer_ids: tuple[int, ...]
    counts: Mapping[str, int] = attrs.field(converter=_counts)
    split_from: tuple[int, ...]
    at: np.datetime64

    @property
    def total(self) -> int:
        """Rows removed in all."""
        return sum(self.counts.values())


@attrs.frozen(kw_only=True)
class ErasureBatch:
    """The result of :func:`erase_subjects`: one :class:`SubjectErasure` per request, in order."""

    erasures: tuple[SubjectErasure, ...]

    @property
    def totals(self) -> dict[str, int]:
        """Rows removed by kind over the whole batch."""
        return {kind: sum(e.counts[kind] for e in self.erasures) for kind in ERASED_KINDS}


def _erase_log(store: Store, log: str, ids: Sequence[LogId], log_key: str) -> int:
    if not ids:
        return 0
    try:
        if log == "transactions":
            return store.transactions.erase_customers(list(ids))
        if log == "events":
            return store.events.erase_customers(list(ids))
        return store.campaigns.erase_customers(list(ids))
    except ValidationError as error:
        raise wrong_log_key(log, log_key, error) from error


def _rows_by_key(store: Store, log: str, ids: list[LogId], log_key: str) -> Counter[LogId]:
    """How many rows of a log each key holds."""
    if not ids:
        return Counter()
    if log == "campaigns":
        held = [
            load_log(store, "decisions", ids, log_key).customer_id,
            load_log(store, "consent", ids, log_key).subject_id,
        ]
    else:
        held = [load_log(store, log, ids, log_key).customer_id]
    return Counter(v for column in held for v in np.asarray(column).tolist())


def erase_subjects(
    store: Store,
    subjects: Sequence[SubjectRef],
    *,
    reason: str,
    log_keys: Mapping[str, str] | None = None,
    rules: MergeRules = DEFAULT_RULES,
    normalizers: Mapping[str, Normalizer] | None = None,
    key: bytes | None = None,
    actor: str = ACTOR,
    now: Any = None,
) -> ErasureBatch:
    """Erase data subjects from every store, following the identity graph, all or nothing.

    For each subject: every identifier, link and source record of the customer (identity store), and
    the rows of the transaction log, the event log and the campaign store (decisions and consent)
    held under any of the subject's keys: the customer id, every id merged into it over time, or the
    identifier type a log is keyed by (``log_keys``), plus the subject's ``extra_log_ids``. One audit
    entry per subject records who, why and how many rows, never the identifiers.

    Parameters
    ----------
    store
        An opened store; the whole batch is one transaction (a failure leaves nothing erased).
    subjects
        Raw identifiers, omnicore customer ids, or :class:`Subject` values from :func:`find_subjects`.
    reason
        Why (e.g. a ticket number); kept in the audit log.
    log_keys
        The key of each log (``"transactions"``, ``"events"``, ``"campaigns"``): ``"customer_id"``
        (the default), an identifier type whose values key the log, or ``"extra_log_ids"`` (only
        the subject's ``extra_log_ids``, from the caller's own mapping).
    rules, normalizers, key
        How raw identifiers were stored (see :func:`omnicore.identity.add_records`).
    actor
        Who asked (kept in the audit log).
    now
        Timestamp (default: the current time).

    Returns
    -------
    ErasureBatch
        Per subject, what was removed.

    Raises
    ------
    NotFoundError
        If no customer holds one of the identifiers (nothing is erased).
    ValidationError
        For an empty reason, or a log keyed differently than ``log_keys`` says.

    Notes
    -----
    Rows keyed by a customer id this one was *split* from are left alone (they may belong to the
    other part) and reported in ``split_from``. Streaming campaign state keeps per-customer window
    counters under their own keys; they hold no identifier and age out with the windows.

    Examples
    --------
    >>> from omnicore.storage import open_store
    >>> store = open_store("memory://erase-subjects-example")
    >>> erase_subjects(store, [42], reason="ticket 1", now="2026-01-01").totals["transactions"]
    0
    """
    if not isinstance(reason, str) or not reason.strip():
        raise ValidationError("give a reason for the audit log", field="reason", value=reason)
    keys = log_keys_of(log_keys)
    at = to_datetime64(now) if now is not None else np.datetime64("now", "us")
    with store.atomic():
        found = find_subjects(store, subjects, rules=rules, normalizers=normalizers, key=key)
        # A subject asked for twice (two identifiers of one customer) is erased once.
        first_of: dict[tuple[int, tuple[LogId, ...]], int] = {}
        for index, subject in enumerate(found):
            first_of.setdefault((subject.customer_id, subject.extra_log_ids), index)
        unique = sorted(first_of.values())
        counts = [dict.fromkeys(ERASED_KINDS, 0) for _ in found]
        for index in unique:
            subject = found[index]
            if subject.identifiers:
                erased = store.identity.erase_customer(subject.customer_id)
                counts[index].update({k: int(erased.get(k, 0)) for k in ("identifiers", "links", "records")})
        for log in LOGS:
            owner: dict[LogId, int] = {}
            for index in unique:
                for log_id in found[index].log_ids(keys[log]):
                    owner.setdefault(log_id, index)
            if len(unique) == 1:
                counts[unique[0]][log] = _erase_log(store, log, list(owner), keys[log])
                continue
            # One erasure per log for the whole batch (the event log rewrites its property blocks once);
            # rows are attributed to subjects from their keys first.
            for log_id, rows in _rows_by_key(store, log, list(owner), keys[log]).items():
                counts[owner[log_id]][log] += rows
            _erase_log(store, log, list(owner), keys[log])
        erasures = [
            SubjectErasure(
                customer_id=subject.customer_id,
                erased_customer_ids=subject.customer_ids,
                counts=counts[index],
                split_from=subject.split_from,
                at=at,
            )
            for index, subject in enumerate(found)
        ]
        store.audit.append(
            [
                AuditEntry(
                    at=at,
                    actor=actor,
                    action="privacy.erase",
                    subject=audit_subject(subject),
                    details={
                        "reason": reason,
                        **{f"{log}_key": key_name for log, key_name in keys.items()},
                        "customer_ids": list(subject.customer_ids),
                        "split_from": list(subject.split_from),
                        **erasure.counts,
                    },
                )
                for subject, erasure in zip(found, erasures, strict=True)
            ]
        )
    return ErasureBatch(erasures=tuple(erasures))


def erase_subject(
    store: Store,
    subject: SubjectRef,
    *,
    reason: str,
    log_keys: Mapping[str, str] | None = None,
    rules: MergeRules = DEFAULT_RULES,
    normalizers: Mapping[str, Normalizer] | None = None,
    key: bytes | None = None,
    actor: str = ACTOR,
    now: Any = None,
) -> SubjectErasure:
    """Erase one data subject from every store: see :func:`erase_subjects`.

    Examples
    --------
    >>> from omnicore.storage import open_store
    >>> erase_subject(open_store("memory://erase-example"), 42, reason="ticket 2").total
    0
    """
    batch = erase_subjects(
        store,
        [subject],
        reason=reason,
        log_keys=log_keys,
        rules=rules,
        normalizers=normalizers,
        key=key,
        actor=actor,
        now=now,
    )
    return batch.erasures[0]
