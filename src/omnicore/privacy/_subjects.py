"""Data subjects: a customer found by any identifier, with every key the stores hold them under."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import numpy as np

from omnicore._errors import NotFoundError, ValidationError
from omnicore.data import STRING_DTYPE
from omnicore.identity import (
    DEFAULT_RULES,
    Identifier,
    MergeRules,
    Normalizer,
    normalize_values,
    pseudonymize,
)
from omnicore.storage import Store

__all__ = ["LOGS", "Subject", "SubjectRef", "find_subject", "find_subjects", "log_keys_of"]

#: The stores that hold rows by a customer key: transactions, events, and campaign decisions + consent.
LOGS: tuple[str, ...] = ("transactions", "events", "campaigns")

LogId = int | str


def _ints(values: Any) -> tuple[int, ...]:
    return tuple(sorted({int(v) for v in values}))


def _log_ids(values: Any) -> tuple[LogId, ...]:
    out: list[LogId] = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int | str | np.integer | np.str_):
            raise ValidationError("a log id must be an int or a str", field="extra_log_ids", value=v)
        out.append(int(v) if isinstance(v, int | np.integer) else str(v))
    return tuple(out)


@attrs.frozen(kw_only=True)
class Subject:
    """One data subject as the stores know them.

    Attributes
    ----------
    customer_id
        The omnicore customer id, or -1 when the identity store does not know the subject.
    identifiers
        Every identifier assigned to the customer, as stored (normalised, and pseudonymised when the
        tenant uses a key).
    merged_from
        Earlier customer ids folded into this one by merges (following the merge history back through
        every step): rows keyed by them belong to this subject too.
    split_from
        Customer ids this customer was split from. Rows keyed by them are **not** erased or exported
        automatically: they may belong to the other part of the split. Review them by hand.
    extra_log_ids
        Further keys of this subject in the logs, from the caller's own mapping (e.g. a source
        system's customer number). Add them with :func:`attrs.evolve` before exporting or erasing.
    """

    customer_id: int
    identifiers: tuple[Identifier, ...] = ()
    merged_from: tuple[int, ...] = attrs.field(default=(), converter=_ints)
    split_from: tuple[int, ...] = attrs.field(default=(), converter=_ints)
    extra_log_ids: tuple[LogId, ...] = attrs.field(default=(), converter=_log_ids)

    @property
    def customer_ids(self) -> tuple[int, ...]:
        """The customer id and every id merged into it (empty when the subject is unknown)."""
        if self.customer_id < 0:
            return self.merged_from
        return (self.customer_id, *self.merged_from)

    def log_ids(self, log_key: str = "customer_id") -> tuple[LogId, ...]:
        """The keys of this subject in a log keyed by ``log_key``.

        ``"customer_id"`` means omnicore customer ids (this one and those merged into it);
        ``"extra_log_ids"`` means only the caller's ``extra_log_ids``; any other name is an
        identifier type, whose stored values are the keys. ``extra_log_ids`` are always added.
        """
        own: tuple[LogId, ...]
        if log_key == "customer_id":
            own = self.customer_ids
        elif log_key == "extra_log_ids":
            own = ()
        else:
            own = tuple(i.value for i in self.identifiers if i.id_type == log_key)
        return tuple(dict.fromkeys((*own, *self.extra_log_ids)))


SubjectRef = Subject | Identifier | int


def log_keys_of(log_keys: Mapping[str, str] | None) -> dict[str, str]:
    """Each log's key (``"customer_id"`` or an identifier type), checked; unnamed logs use customer ids."""
    keys = dict.fromkeys(LOGS, "customer_id")
    for log, key in (log_keys or {}).items():
        if log not in keys:
            raise ValidationError(
                f"unknown log; expected one of {', '.join(LOGS)}", field="log_keys", value=log
            )
        if not isinstance(key, str) or not key:
            raise ValidationError(
                "must be 'customer_id' or an identifier type", field=f"log_keys[{log}]", value=key
            )
        keys[log] = key
    return keys


def _stored_values(
    identifiers: Sequence[Identifier],
    rules: MergeRules,
    normalizers: Mapping[str, Normalizer] | None,
    key: bytes | None,
) -> tuple[np.ndarray, np.ndarray]:
    types = np.array([i.id_type for i in identifiers], dtype=STRING_DTYPE)
    raw = np.array([i.value for i in identifiers], dtype=STRING_DTYPE)
    values = normalize_values(types, raw, {**rules.normalizers(), **(normalizers or {})})
    for identifier, value in zip(identifiers, values.tolist(), strict=True):
        if not value:
            raise ValidationError(
                f"not a valid {identifier.id_type}", field="subjects", value=identifier.value
            )
    if key is not None:
        values = pseudonymize(types, values, key)
    return types, values


def _merge_ancestors(
    store: Store, customers: Sequence[int]
) -> tuple[dict[int, set[int]], dict[int, set[int]]]:
    """Per customer: every id merged into it (transitively), and the ids it was split from."""
    history = store.identity.history()
    kind = np.asarray(history.kind)
    source = np.asarray(history.from_customer, dtype=np.int64)
    target = np.asarray(history.to_customer, dtype=np.int64)
    merged_into: dict[int, list[int]] = {}
    for s, t in zip(source[kind == "merge"].tolist(), target[kind == "merge"].tolist(), strict=True):
        if s != t:
            merged_into.setdefault(t, []).append(s)
    split_of: dict[int, set[int]] = {}
    for s, t in zip(source[kind == "split"].tolist(), target[kind == "split"].tolist(), strict=True):
        if s != t:
            split_of.setdefault(t, set()).add(s)
    merged: dict[int, set[int]] = {}
    splits: dict[int, set[int]] = {}
    for customer in customers:
        seen: set[int] = set()
        frontier = [customer]
        while frontier:
            current = frontier.pop()
            for earlier in merged_into.get(current, ()):
                if earlier not in seen and earlier != customer:
                    seen.add(earlier)
                    frontier.append(earlier)
        merged[customer] = seen
        splits[customer] = set().union(*(split_of.get(c, set()) for c in (customer, *seen)))
    return merged, splits


def find_subjects(
    store: Store,
    subjects: Sequence[SubjectRef],
    *,
    rules: MergeRules = DEFAULT_RULES,
    normalizers: Mapping[str, Normalizer] | None = None,
    key: bytes | None = None,
) -> tuple[Subject, ...]:
    """Find data subjects by any of their identifiers (or by customer id) and gather their keys.

    Parameters
    ----------
    store
        An opened store.
    subjects
        Raw identifiers (normalised and pseudonymised like stored values), omnicore customer ids, or
        :class:`Subject` values (returned as given).
    rules, normalizers, key
        As for :func:`omnicore.identity.add_records`: how raw identifiers were stored.

    Returns
    -------
    tuple of Subject
        One per input, in order.

    Raises
    ------
    NotFoundError
        If no customer holds one of the identifiers.
    ValidationError
        If an identifier is not a valid value of its type, or a subject is of another type.

    Examples
    --------
    >>> from omnicore.storage import open_store
    >>> store = open_store("memory://find-subjects-example")
    >>> find_subjects(store, [42])
    (Subject(customer_id=42, identifiers=(), merged_from=(), split_from=(), extra_log_ids=()),)
    """
    by_identifier = [s for s in subjects if isinstance(s, Identifier)]
    for s in subjects:
        if not isinstance(s, Subject | Identifier) and (
            isinstance(s, bool) or not isinstance(s, int | np.integer)
        ):
            raise ValidationError(
                "expected an Identifier, a customer id or a Subject", field="subjects", value=s
            )
    customer_of: dict[Identifier, int] = {}
    if by_identifier:
        types, values = _stored_values(by_identifier, rules, normalizers, key)
        found = store.identity.lookup(types, values)
        for identifier, customer in zip(by_identifier, found.tolist(), strict=True):
            if customer < 0:
                raise NotFoundError(f"no customer holds this {identifier.id_type}")
            customer_of[identifier] = int(customer)
    wanted = sorted(
        {
            customer_of[s] if isinstance(s, Identifier) else int(s)
            for s in subjects
            if not isinstance(s, Subject)
        }
    )
    if not wanted:
        return tuple(s for s in subjects if isinstance(s, Subject))
    member_type, member_value, member_customer = store.identity.members(np.array(wanted, dtype=np.int64))
    held: dict[int, list[Identifier]] = {c: [] for c in wanted}
    for t, v, c in zip(
        np.asarray(member_type).tolist(),
        np.asarray(member_value).tolist(),
        member_customer.tolist(),
        strict=True,
    ):
        held[int(c)].append(Identifier(str(t), str(v)))
    merged, splits = _merge_ancestors(store, wanted)
    # A customer id stands even when the identity store holds nothing for it (logs keyed by it).
    found_subjects = {
        c: Subject(
            customer_id=c,
            identifiers=tuple(sorted(held[c], key=lambda i: (i.id_type, i.value))),
            merged_from=tuple(merged[c]),
            split_from=tuple(splits[c]),
        )
        for c in wanted
    }
    return tuple(
        s
        if isinstance(s, Subject)
        else found_subjects[customer_of[s] if isinstance(s, Identifier) else int(s)]
        for s in subjects
    )


def find_subject(
    store: Store,
    subject: SubjectRef,
    *,
    rules: MergeRules = DEFAULT_RULES,
    normalizers: Mapping[str, Normalizer] | None = None,
    key: bytes | None = None,
) -> Subject:
    """One data subject: see :func:`find_subjects`.

    Examples
    --------
    >>> from omnicore.storage import open_store
    >>> find_subject(open_store("memory://find-subject-example"), 7).customer_ids
    (7,)
    """
    return find_subjects(store, [subject], rules=rules, normalizers=normalizers, key=key)[0]
