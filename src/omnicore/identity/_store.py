"""Store-aware identity operations: incremental merging, full rebuild, operator links, erasure.

Each call loads what it needs from ``store.identity``, runs the pure :func:`resolve` on it and writes
the result back in one transaction (``store.atomic()``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from omnicore._errors import NotFoundError, ValidationError
from omnicore._progress import Progress, null_progress
from omnicore.data import STRING_DTYPE, IdentifierRecords, to_datetime64
from omnicore.identity._normalize import Normalizer, normalize_values, pseudonymize
from omnicore.identity._resolve import (
    CustomerAssignment,
    Resolution,
    _empty_links,
    _keys,
    check_key,
    normalize_records,
    resolve,
    split_keys,
)
from omnicore.identity._rules import DEFAULT_RULES, Identifier, MergeRules
from omnicore.identity._text import unique_text, unique_text_full
from omnicore.storage import AuditEntry, IdentityLinks, Store

__all__ = ["ErasureReport", "add_records", "erase_person", "link_identifiers", "rebuild"]

logger = logging.getLogger(__name__)

ACTOR = "omnicore.identity"


def _pair_codes(first: npt.NDArray[Any], second: npt.NDArray[Any]) -> npt.NDArray[np.int64]:
    """One integer per (first, second) text pair, equal pairs equal codes."""
    _, _, a, _ = unique_text_full(first)
    uniq_b, _, b, _ = unique_text_full(second)
    return a * max(uniq_b.size, 1) + b


def _concat_records(parts: list[IdentifierRecords]) -> IdentifierRecords:
    parts = [p for p in parts if len(p)]
    if not parts:
        return IdentifierRecords.empty()
    combined = IdentifierRecords.concat(parts) if len(parts) > 1 else parts[0]
    if len(parts) == 1:
        return combined
    # one row per (record, identifier): the same row may be fetched twice
    codes = _pair_codes(combined.record_id.astype(STRING_DTYPE), _keys(combined.id_type, combined.value))
    _, first = np.unique(codes, return_index=True)
    return combined.take(np.sort(first))


def _dedupe_links(parts: list[IdentityLinks]) -> IdentityLinks:
    parts = [p for p in parts if len(p)]
    if not parts:
        return _empty_links()
    links = IdentityLinks.concat(parts) if len(parts) > 1 else parts[0]
    if len(parts) == 1:
        return links
    left = np.strings.add(
        np.strings.add(_keys(links.left_type, links.left_value), "\x1e"), links.kind.astype(STRING_DTYPE)
    )
    right = np.strings.add(
        np.strings.add(_keys(links.right_type, links.right_value), "\x1e"),
        links.record_id.astype(STRING_DTYPE),
    )
    _, first = np.unique(_pair_codes(left, right), return_index=True)
    return links.take(np.sort(first))


def _closure(
    store: Store,
    batch: IdentifierRecords,
    rules: MergeRules,
    blocked_keys: npt.NDArray[Any],
    seeds: npt.NDArray[Any] | None = None,
) -> tuple[IdentifierRecords, IdentityLinks]:
    """The candidate components a batch touches: every stored row in them and every link touching them.

    Breadth-first over the store from the batch's identifiers (or ``seeds``): the rows carrying an
    identifier, the full records of those rows, the other identifiers of the same customer, and the
    identifiers at the far end of stored links. Blocked values and values over the shared threshold
    are not expanded (they link nothing), so a placeholder never pulls in the whole store.
    """
    ident = store.identity
    rows = [batch]
    fetched_links: list[IdentityLinks] = []
    seen = unique_text(_keys(batch.id_type, batch.value) if seeds is None else seeds)
    frontier = seen
    fetched_records: npt.NDArray[Any] = np.empty(0, dtype=STRING_DTYPE)
    first_round = True
    while frontier.size:
        f_type, f_value = split_keys(frontier)
        by_value = ident.records(id_type=f_type, value=f_value)
        customers = ident.lookup(f_type, f_value)
        links = ident.links(id_type=f_type, value=f_value)
        fetched_links.append(links)
        rows.append(by_value)
        # shared values: distinct records per value over the stored rows (and, first, the batch, whose
        # identifiers are exactly the first frontier)
        counted = _concat_records([batch, by_value]) if first_round else by_value
        first_round = False
        row_keys = _keys(by_value.id_type, by_value.value)
        stop: npt.NDArray[Any] = np.empty(0, dtype=STRING_DTYPE)
        if len(counted):
            c_keys = _keys(counted.id_type, counted.value)
            uniq, _, key_code, _ = unique_text_full(c_keys)
            _, _, rec_code, _ = unique_text_full(counted.record_id.astype(STRING_DTYPE))
            distinct = np.unique(key_code * max(int(rec_code.max()) + 1, 1) + rec_code) // max(
                int(rec_code.max()) + 1, 1
            )
            counts = np.bincount(distinct, minlength=uniq.size)
            u_type, _ = split_keys(uniq)
            limit = np.array([_threshold(rules, str(t)) for t in unique_text(u_type).tolist()], np.int64)
            type_code = unique_text_full(u_type)[2]
            over = (limit[type_code] > 0) & (counts > limit[type_code])
            stop = uniq[over | np.isin(uniq, blocked_keys)]
        expand: npt.NDArray[Any] = by_value.record_id.astype(STRING_DTYPE)[~np.isin(row_keys, stop)]
        expand = unique_text(expand)
        expand = expand[~np.isin(expand, fetched_records)]
        fetched_records = np.concatenate([fetched_records, expand])
        new_keys = [
            _keys(links.left_type, links.left_value),
            _keys(links.right_type, links.right_value),
        ]
        if expand.size:
            full = ident.records(record_ids=_id_like(expand, by_value.record_id))
            rows.append(full)
            new_keys.append(_keys(full.id_type, full.value))
        known = np.unique(customers[customers >= 0])
        if known.size:
            m_type, m_value, _ = ident.members(known)
            new_keys.append(_keys(m_type, m_value))
        candidates = unique_text(np.concatenate(new_keys))
        candidates = candidates[~np.isin(candidates, stop)]
        frontier = candidates[~np.isin(candidates, seen)]
        seen = np.concatenate([seen, frontier])
    return _concat_records(rows), _dedupe_links(fetched_links)


def _id_like(ids: npt.NDArray[Any], template: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """Record ids back in the store's id type (int64 ids were turned into text for set operations)."""
    if template.dtype.kind in "iu":
        return ids.astype(np.int64)
    return ids


def _threshold(rules: MergeRules, id_type: str) -> int:
    rule = rules.rule(id_type)
    value = rules.max_records if rule is None or rule.max_records is None else rule.max_records
    return 0 if value is None else value


def _blocked_keys(
    rules: MergeRules, normalizers: Mapping[str, Normalizer] | None, key: bytes | None
) -> npt.NDArray[Any]:
    types: list[str] = []
    values: list[str] = []
    for rule in rules.identifiers:
        for blocked_value in sorted(rule.blocked):
            types.append(rule.id_type)
            values.append(blocked_value)
    if not types:
        return np.empty(0, dtype=STRING_DTYPE)
    t = np.array(types, dtype=STRING_DTYPE)
    v: npt.NDArray[Any] = normalize_values(
        t, np.array(values, dtype=STRING_DTYPE), {**rules.normalizers(), **(normalizers or {})}
    )
    if key is not None:
        v = pseudonymize(t, v, key)
    return _keys(t, v)


def _write(
    store: Store,
    resolution: Resolution,
    previous: CustomerAssignment,
    new_records: IdentifierRecords,
    old_links: IdentityLinks,
) -> None:
    ident = store.identity
    if len(new_records):
        ident.append_records(new_records)
    if len(old_links):
        ident.remove_links(old_links)
    if len(resolution.links):
        ident.append_links(resolution.links)
    a = resolution.assignment
    if len(a):
        ident.assign(a.id_type, a.value, a.customer_id)
    # identifiers that belong to no one now (blocked, or shared by count or by a limit conflict):
    # cleared whatever ``previous`` says, so a stale customer cannot survive a missed lookup
    if len(previous):
        now_known = a.lookup(previous.id_type, previous.value)
        lost = np.flatnonzero(now_known < 0)
        if lost.size:
            ident.assign(previous.id_type[lost], previous.value[lost], np.full(lost.size, -1, np.int64))
    if len(resolution.events):
        ident.append_history(resolution.events)


def add_records(
    store: Store,
    records: IdentifierRecords,
    rules: MergeRules = DEFAULT_RULES,
    *,
    normalizers: Mapping[str, Normalizer] | None = None,
    key: bytes | None = None,
    links: IdentityLinks | None = None,
    now: Any = None,
    progress: Progress = null_progress,
) -> Resolution:
    """Add a batch of identifier records and re-resolve only the components it touches.

    Parameters
    ----------
    store
        An opened store; its ``identity`` concern is read and written in one transaction.
    records
        The new raw records.
    rules
        Merge rules (use the same rules for every batch of a tenant).
    normalizers
        Normalisers overriding those of ``rules``.
    key
        Tenant key: values are stored pseudonymised (HMAC-SHA256) when given.
    links
        Extra probabilistic or manual links between normalised identifiers to store with the batch.
    now
        Timestamp of the new links and events (default: latest ``observed_at``).
    progress
        Progress callback.

    Returns
    -------
    Resolution
        The resolution of the affected components: their assignment, links and id-change events.

    Raises
    ------
    ValidationError
        For a bad key or bad records.

    Notes
    -----
    The affected region is the closure of the batch's identifiers over stored records, assignments
    and probabilistic/manual links, stopping at blocked values and values over the shared threshold.
    Values shared because they bridge a limit conflict are expanded like any other: whether they are
    shared depends on their whole candidate component. Because guardrails are decided per candidate
    component, resolving the region alone gives the same partition as a full :func:`rebuild`.

    Examples
    --------
    >>> from omnicore import open_store  # doctest: +SKIP
    >>> res = add_records(store, records)  # doctest: +SKIP
    """
    check_key(key)
    batch, n_invalid = normalize_records(records, rules, normalizers=normalizers, key=key)
    blocked = _blocked_keys(rules, normalizers, key)
    with store.atomic():
        region, old_links = _closure(store, batch, rules, blocked)
        stored_links = old_links.take(old_links.kind.astype(STRING_DTYPE) != "deterministic")
        if links is not None and len(links):
            stored_links = IdentityLinks.concat([stored_links, links]) if len(stored_links) else links
        idents = unique_text(_keys(region.id_type, region.value))
        i_type, i_value = split_keys(idents)
        prev_ids = store.identity.lookup(i_type, i_value)
        previous = CustomerAssignment(id_type=i_type, value=i_value, customer_id=prev_ids)
        resolution = resolve(
            region,
            rules,
            links=stored_links,
            previous=previous,
            allocate=store.identity.allocate_customer_ids,
            normalized=True,
            key=key,
            normalizers=normalizers,
            now=now,
            progress=progress,
        )
        _write(store, resolution, previous, batch, old_links)
    logger.info(
        "added %d identifier rows (%d invalid); %d id changes", len(batch), n_invalid, len(resolution.events)
    )
    return resolution


def rebuild(
    store: Store,
    rules: MergeRules = DEFAULT_RULES,
    *,
    normalizers: Mapping[str, Normalizer] | None = None,
    key: bytes | None = None,
    now: Any = None,
    progress: Progress = null_progress,
) -> Resolution:
    """Re-resolve every stored record (e.g. after changing the rules), keeping customer ids stable.

    Parameters
    ----------
    store
        An opened store.
    rules
        Merge rules. Stored values are already normalised, so the rules' normalisers are not reapplied
        to them (only to the rules' own blocked values and must-not-link pairs).
    normalizers, key
        As for :func:`add_records` (the same key the records were stored with).
    now
        Timestamp of links and events.
    progress
        Progress callback.

    Returns
    -------
    Resolution
        The full resolution; its ``events`` are the id changes against the stored assignment.

    Examples
    --------
    >>> res = rebuild(store)  # doctest: +SKIP
    """
    with store.atomic():
        ident = store.identity
        records = ident.records()
        m_type, m_value, m_customer = ident.members()
        known = np.asarray(m_customer) >= 0  # SQL stores keep identifiers that became shared as -1
        previous = CustomerAssignment(
            id_type=np.asarray(m_type)[known], value=np.asarray(m_value)[known], customer_id=m_customer[known]
        )
        old_links = ident.links()
        extra = old_links.take(old_links.kind.astype(STRING_DTYPE) != "deterministic")
        resolution = resolve(
            records,
            rules,
            links=extra,
            previous=previous,
            allocate=ident.allocate_customer_ids,
            normalized=True,
            key=key,
            normalizers=normalizers,
            now=now,
            progress=progress,
        )
        _write(store, resolution, previous, IdentifierRecords.empty(), old_links)
    return resolution


def _normalised_identifier(
    identifier: Identifier, rules: MergeRules, normalizers: Mapping[str, Normalizer] | None, key: bytes | None
) -> tuple[str, str]:
    t = np.array([identifier.id_type], dtype=STRING_DTYPE)
    v = normalize_values(
        t, np.array([identifier.value], dtype=STRING_DTYPE), {**rules.normalizers(), **(normalizers or {})}
    )
    if not v[0]:
        raise ValidationError("not a valid identifier of its type", field="value", value=identifier.value)
    if key is not None:
        v = pseudonymize(t, v, key)
    return identifier.id_type, str(v[0])


def link_identifiers(
    store: Store,
    a: Identifier,
    b: Identifier,
    *,
    same: bool,
    rules: MergeRules = DEFAULT_RULES,
    normalizers: Mapping[str, Normalizer] | None = None,
    key: bytes | None = None,
    reason: str = "operator",
    now: Any = None,
) -> Resolution:
    """Record an operator decision that two identifiers are (``same=True``) or are not the same person.

    A ``"manual"`` link is stored as evidence (refused links of kind manual are must-not-link
    pairs) and the affected components are re-resolved: marking two identifiers as different
    splits their customer (the largest part keeps the id), marking them the same merges.

    Parameters
    ----------
    store
        An opened store.
    a, b
        The two identifiers, raw.
    same
        True to link, False to keep apart.
    rules, normalizers, key
        As for :func:`add_records`.
    reason
        Who decided and why; kept on the link.
    now
        Timestamp (default: the current time).

    Returns
    -------
    Resolution
        The re-resolved affected components.

    Examples
    --------
    >>> link_identifiers(store, Identifier("phone", "13912345678"), Identifier("phone", "13900139000"),
    ...                  same=False)  # doctest: +SKIP
    """
    at = to_datetime64(now) if now is not None else np.datetime64("now", "us")
    at_type, at_value = _normalised_identifier(a, rules, normalizers, key)
    bt_type, bt_value = _normalised_identifier(b, rules, normalizers, key)
    link = IdentityLinks(
        left_type=np.array([at_type], dtype=STRING_DTYPE),
        left_value=np.array([at_value], dtype=STRING_DTYPE),
        right_type=np.array([bt_type], dtype=STRING_DTYPE),
        right_value=np.array([bt_value], dtype=STRING_DTYPE),
        kind=np.array(["manual"], dtype=STRING_DTYPE),
        probability=np.array([1.0 if same else 0.0]),
        record_id=np.array([""], dtype=STRING_DTYPE),
        accepted=np.array([same]),
        reason=np.array([reason], dtype=STRING_DTYPE),
        created_at=np.array([at], dtype="datetime64[us]"),
    )
    with store.atomic():
        store.identity.append_links(link)
        # the link is in the store now: resolving the closure of its two ends picks it up
        seeds = _keys(np.array([at_type, bt_type]), np.array([at_value, bt_value]))
        blocked = _blocked_keys(rules, normalizers, key)
        region, old_links = _closure(store, IdentifierRecords.empty(), rules, blocked, seeds=seeds)
        stored_links = old_links.take(old_links.kind.astype(STRING_DTYPE) != "deterministic")
        idents = unique_text(np.concatenate([_keys(region.id_type, region.value), seeds]))
        i_type, i_value = split_keys(idents)
        previous = CustomerAssignment(
            id_type=i_type, value=i_value, customer_id=store.identity.lookup(i_type, i_value)
        )
        resolution = resolve(
            region,
            rules,
            links=stored_links,
            previous=previous,
            allocate=store.identity.allocate_customer_ids,
            normalized=True,
            key=key,
            normalizers=normalizers,
            now=at,
        )
        _write(store, resolution, previous, IdentifierRecords.empty(), old_links)
    return resolution


@attrs.frozen(kw_only=True)
class ErasureReport:
    """What :func:`erase_person` deleted.

    Attributes
    ----------
    customer_id
        The erased customer.
    identifiers, links, records
        Counts deleted from the identity store.
    at
        When (UTC).
    """

    customer_id: int
    identifiers: int
    links: int
    records: int
    at: np.datetime64


def erase_person(
    store: Store,
    identifier: Identifier,
    *,
    rules: MergeRules = DEFAULT_RULES,
    normalizers: Mapping[str, Normalizer] | None = None,
    key: bytes | None = None,
    actor: str = ACTOR,
    now: Any = None,
) -> ErasureReport:
    """Forget a person, found by any of their identifiers: every identifier, link and record goes.

    Parameters
    ----------
    store
        An opened store; the erasure and its audit entry are written in one transaction.
    identifier
        Any identifier of the person, raw (normalised and pseudonymised like stored values).
    rules, normalizers, key
        As for :func:`add_records`.
    actor
        Who asked (kept in the audit log).
    now
        Timestamp (default: the current time).

    Returns
    -------
    ErasureReport
        Counts of what was deleted.

    Raises
    ------
    NotFoundError
        If no customer holds the identifier.

    Examples
    --------
    >>> report = erase_person(store, Identifier("phone", "13912345678"))  # doctest: +SKIP
    """
    id_type, value = _normalised_identifier(identifier, rules, normalizers, key)
    at = to_datetime64(now) if now is not None else np.datetime64("now", "us")
    with store.atomic():
        customer = int(store.identity.lookup(np.array([id_type]), np.array([value]))[0])
        if customer < 0:
            raise NotFoundError(f"no customer holds this {id_type}")
        counts = store.identity.erase_customer(customer)
        store.audit.append(
            [
                AuditEntry(
                    at=at,
                    actor=actor,
                    action="identity.erase",
                    subject=str(customer),
                    details={k: int(v) for k, v in counts.items()},
                )
            ]
        )
    return ErasureReport(
        customer_id=customer,
        identifiers=int(counts.get("identifiers", 0)),
        links=int(counts.get("links", 0)),
        records=int(counts.get("records", 0)),
        at=at,
    )
