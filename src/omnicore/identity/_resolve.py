"""Deterministic resolution: identifier records in, customers, links with evidence and id changes out."""

from __future__ import annotations

import bisect
import logging
from collections.abc import Mapping
from typing import Any, ClassVar

import attrs
import numpy as np
import numpy.typing as npt

from omnicore._errors import ValidationError
from omnicore._jit import jit
from omnicore._progress import Progress, null_progress
from omnicore.data import STRING_DTYPE, IdentifierRecords, factorize, to_datetime64
from omnicore.data._columns import as_int_column, as_string_column, column_field, freeze
from omnicore.data._table import Table
from omnicore.identity._graph import REFUSED_LIMIT, REFUSED_MUST_NOT_LINK, constrained_components
from omnicore.identity._ids import Allocator, counter_allocator, stable_customer_ids
from omnicore.identity._normalize import Normalizer, TextNormalizer, normalize_values, pseudonymize
from omnicore.identity._rules import DEFAULT_RULES, MergeRules
from omnicore.identity._text import unique_text_full
from omnicore.storage import IdentityLinks, MergeEvents

__all__ = ["CustomerAssignment", "Resolution", "ResolutionStats", "resolve"]

logger = logging.getLogger(__name__)

SEP = "\x1f"
KIND_RANK = {"manual": 0, "deterministic": 1, "probabilistic": 2}


def _array_field() -> Any:
    """A read-only numpy column compared by value."""
    return attrs.field(converter=freeze, eq=attrs.cmp_using(eq=np.array_equal))


@attrs.frozen(kw_only=True, repr=False)
class CustomerAssignment(Table):
    """The customer of each identifier (normalised, possibly pseudonymised), one row per identifier.

    Parameters
    ----------
    id_type, value
        The identifier.
    customer_id
        Its customer (int64).
    """

    _length_anchor: ClassVar[str] = "id_type"

    id_type: npt.NDArray[Any] = column_field(as_string_column())
    value: npt.NDArray[Any] = column_field(as_string_column())
    customer_id: npt.NDArray[np.int64] = column_field(as_int_column())

    @classmethod
    def empty(cls) -> CustomerAssignment:
        """No identifiers."""
        nothing = np.empty(0, dtype=STRING_DTYPE)
        return cls(id_type=nothing, value=nothing, customer_id=np.empty(0, np.int64))

    def lookup(self, id_type: npt.ArrayLike, value: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """Customer of each given (normalised) identifier, -1 where unknown."""
        return _lookup(self.id_type, self.value, self.customer_id, id_type, value)


def _keys(id_type: npt.ArrayLike, value: npt.ArrayLike) -> npt.NDArray[Any]:
    t = np.asarray(id_type).astype(STRING_DTYPE, copy=False)
    v = np.asarray(value).astype(STRING_DTYPE, copy=False)
    return np.strings.add(np.strings.add(t, SEP), v)


def split_keys(keys: npt.NDArray[Any], sep: str = SEP) -> tuple[npt.NDArray[Any], npt.NDArray[Any]]:
    """Inverse of :func:`_keys`: the text before and after the first ``sep``."""
    head, _, tail = np.strings.partition(
        keys.astype(STRING_DTYPE, copy=False), np.array(sep, dtype=STRING_DTYPE)
    )
    return head, tail


def _lookup(
    known_type: npt.NDArray[Any],
    known_value: npt.NDArray[Any],
    known_customer: npt.NDArray[np.int64],
    id_type: npt.ArrayLike,
    value: npt.ArrayLike,
) -> npt.NDArray[np.int64]:
    pos = match(_keys(known_type, known_value), _keys(id_type, value))
    out = np.full(pos.size, -1, dtype=np.int64)
    hit = pos >= 0
    out[hit] = known_customer[pos[hit]]
    return out


def match(keys: npt.NDArray[Any], wanted: npt.NDArray[Any]) -> npt.NDArray[np.int64]:
    """Position in ``keys`` (distinct values) of each element of ``wanted``, -1 where absent."""
    out = np.full(wanted.size, -1, dtype=np.int64)
    if keys.size == 0 or wanted.size == 0:
        return out
    # one stable sort over both (StringDType searchsorted across arrays is unreliable in numpy 2.4)
    _, _, inverse, _ = unique_text_full(np.concatenate([keys, wanted]))
    where = np.full(int(inverse.max()) + 1, -1, dtype=np.int64)
    where[inverse[: keys.size]] = np.arange(keys.size, dtype=np.int64)
    return where[inverse[keys.size :]]


@attrs.frozen(kw_only=True)
class ResolutionStats:
    """Counts describing one resolution.

    Attributes
    ----------
    n_rows, n_records
        Identifier rows and distinct records read.
    n_invalid
        Rows dropped because the value was not a valid identifier of its type.
    n_identifiers
        Distinct identifiers assigned to a customer.
    n_customers
        Distinct customers.
    n_blocked, n_shared
        Distinct identifiers that did not link because they are blocked, or shared by more than the
        threshold of records.
    n_shared_by_conflict
        Distinct identifiers that did not link because they bridge a per-type limit conflict
        (:attr:`MergeRules.shared_on_conflict`).
    refused
        Refused links by reason (``"limit: at most 1 member_card per customer"``, ``"must not link"``,
        ``"blocked value"``, ``"shared value"``, ``"shared: connects 2 member_card values"``).
    n_constrained_links
        Links that went through the greedy, guardrail-aware merge.
    """

    n_rows: int
    n_records: int
    n_invalid: int
    n_identifiers: int
    n_customers: int
    n_blocked: int
    n_shared: int
    refused: Mapping[str, int]
    n_constrained_links: int
    n_shared_by_conflict: int = 0


@attrs.frozen(kw_only=True)
class Resolution:
    """The result of :func:`resolve`.

    Attributes
    ----------
    assignment
        Customer of every identifier that links (blocked and shared values have none).
    links
        Every candidate link with its evidence: accepted ones, and refused ones with their reason.
    events
        Customer-id changes relative to the previous assignment (``create``, ``merge``, ``split``).
    records
        The input records after normalisation (and pseudonymisation); invalid rows dropped.
    record_customer
        Customer of the record each row of ``records`` belongs to: that of the record's strongest
        linkable identifier (-1 when the record has none, e.g. only blocked values).
    stats
        Counts for reports.
    """

    assignment: CustomerAssignment
    links: IdentityLinks
    events: MergeEvents
    records: IdentifierRecords
    record_customer: npt.NDArray[np.int64] = attrs.field(
        converter=freeze, eq=attrs.cmp_using(eq=np.array_equal)
    )
    stats: ResolutionStats

    def lookup(self, id_type: npt.ArrayLike, value: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """Customer of each (normalised) identifier, -1 where unknown."""
        return self.assignment.lookup(id_type, value)

    def customer_of_records(self) -> tuple[npt.NDArray[Any], npt.NDArray[np.int64]]:
        """One customer per record: that of its strongest linkable identifier (-1 if it has none).

        Returns
        -------
        record_id, customer_id
            Sorted distinct record ids and their customers.
        """
        uniques, first, _, _ = unique_text_full(self.records.record_id)
        return uniques, self.record_customer[first]


def _rank_dense(*keys: npt.NDArray[Any]) -> npt.NDArray[np.int64]:
    """Dense rank of the tuples ``(keys[-1], ..., keys[0])`` (equal tuples, equal rank)."""
    n = keys[0].size
    if n == 0:
        return np.empty(0, np.int64)
    order = np.lexsort(keys)
    change = np.zeros(n, dtype=bool)
    change[0] = True
    for key in keys:
        k = key[order]
        change[1:] |= k[1:] != k[:-1]
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.cumsum(change) - 1
    return rank


def _packed(*keys: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.int64], ...]:
    """Small non-negative sort keys (last one primary) packed into one, ordering as their lexsort."""
    if keys[0].size == 0 or min(int(k.min()) for k in keys) < 0:
        return keys
    spans = [int(k.max()) + 1 for k in keys]
    if np.prod(np.array(spans, dtype=np.float64)) >= 2.0**62:
        return keys
    packed = np.zeros(keys[0].size, dtype=np.int64)
    for key, span in zip(keys[::-1], spans[::-1], strict=True):
        packed = packed * span + key
    return (packed,)


def normalize_records(
    records: IdentifierRecords,
    rules: MergeRules = DEFAULT_RULES,
    *,
    normalizers: Mapping[str, Normalizer] | None = None,
    key: bytes | None = None,
) -> tuple[IdentifierRecords, int]:
    """Normalise (and optionally pseudonymise) identifier values, dropping invalid rows.

    Parameters
    ----------
    records
        Raw identifier records.
    rules
        Supply each type's normaliser and the default country code.
    normalizers
        Normalisers overriding those of ``rules`` per type.
    key
        Tenant key for HMAC-SHA256 pseudonymisation (None: store values in clear).

    Returns
    -------
    records, n_invalid
        The kept rows with canonical values, and how many rows were dropped as invalid (or of
        an ignored type).

    Raises
    ------
    ValidationError
        If ``key`` is shorter than 16 bytes.

    Examples
    --------
    >>> recs = IdentifierRecords(
    ...     record_id=["r1", "r1"], source=["pos", "pos"], id_type=["phone", "email"],
    ...     value=["139-1234-5678", "nobody"], observed_at=["2024-05-01", "2024-05-01"],
    ... )
    >>> out, n_invalid = normalize_records(recs)
    >>> out.value.tolist(), n_invalid
    (['+8613912345678'], 1)
    """
    check_key(key)
    types = records.id_type.astype(STRING_DTYPE, copy=False)
    keep = np.ones(len(records), dtype=bool)
    if rules.unknown_types == "ignore":
        listed = np.array([r.id_type for r in rules.identifiers], dtype=STRING_DTYPE)
        keep &= np.isin(types, listed)
    normalizer_map: dict[str, Normalizer] = {**rules.normalizers(), **(normalizers or {})}
    values = normalize_values(types, records.value, normalizer_map, default=TextNormalizer())
    valid = keep & (np.strings.str_len(values) > 0)
    if key is not None:
        values = pseudonymize(types, values, key)
    # one new container (its columns are validated once), not a take and then an evolve
    columns = {name: getattr(records, name) for name in records.column_names()}
    columns = {name: column[valid] for name, column in columns.items() if column is not None}
    columns["value"] = values[valid]
    out = attrs.evolve(records, **columns)
    return out, int((~valid).sum())


def resolve(
    records: IdentifierRecords,
    rules: MergeRules = DEFAULT_RULES,
    *,
    links: IdentityLinks | None = None,
    previous: CustomerAssignment | None = None,
    allocate: Allocator | None = None,
    normalizers: Mapping[str, Normalizer] | None = None,
    key: bytes | None = None,
    normalized: bool = False,
    now: Any = None,
    progress: Progress = null_progress,
) -> Resolution:
    """Resolve identifier records into customers with guardrails.

    Identifiers seen on one record are linked (a star from the record's strongest identifier);
    connected identifiers form one customer, except that blocked and shared values never link and a
    link that would break a per-type limit or a must-not-link pair is refused, keeping the stronger
    evidence (see Notes).

    Parameters
    ----------
    records
        Identifier records, raw (or already normalised with ``normalized=True``).
    rules
        Merge rules: priorities, limits, blocked values, shared threshold, must-not-link pairs.
    links
        Extra links between normalised identifiers: ``"probabilistic"`` matches and ``"manual"``
        operator decisions (a refused manual link is a must-not-link pair).
    previous
        The assignment before this resolution, to keep customer ids stable and emit merge events.
    allocate
        Hands out new customer ids (default: counting up from the largest previous id + 1).
    normalizers
        Normalisers overriding those of ``rules`` per type.
    key
        Tenant key: when given, values are pseudonymised (HMAC-SHA256) after normalisation.
    normalized
        True when ``records`` (and ``links``) already hold normalised (and, with ``key``,
        pseudonymised) values. The rules' blocked values and must-not-link pairs are raw and are
        always normalised (and pseudonymised) here.
    now
        Timestamp of the links and events (default: the latest ``observed_at``).
    progress
        Progress callback.

    Returns
    -------
    Resolution
        Assignment, links with evidence, id-change events, normalised records and counts.

    Raises
    ------
    ValidationError
        For bad inputs (e.g. a too-short key).

    Examples
    --------
    >>> from omnicore.data import IdentifierRecords
    >>> recs = IdentifierRecords(
    ...     record_id=["pos-1", "pos-1", "web-9", "web-9"],
    ...     source=["pos", "pos", "online", "online"],
    ...     id_type=["member_card", "phone", "phone", "email"],
    ...     value=["mc0001", "139 1234 5678", "+86 139 1234 5678", "Li.Wei@Example.com"],
    ...     observed_at=["2024-05-01"] * 4,
    ... )
    >>> res = resolve(recs)
    >>> res.assignment.to_records()  # doctest: +NORMALIZE_WHITESPACE
    [{'id_type': 'email', 'value': 'li.wei@example.com', 'customer_id': 0},
     {'id_type': 'member_card', 'value': 'MC0001', 'customer_id': 0},
     {'id_type': 'phone', 'value': '+8613912345678', 'customer_id': 0}]

    Notes
    -----
    Where a component breaks a guardrail, links are merged greedily in order of evidence strength:
    kind (manual, deterministic, probabilistic), then probability, then the priority of the
    stronger and of the weaker identifier type, then support (number of records), then recency,
    then the identifiers' values — never input order. Customer ids follow
    :func:`stable_customer_ids`.
    """
    progress(0, 4, "normalising")
    n_rows_in = len(records)
    if normalized:
        norm, n_invalid = records, 0
    else:
        norm, n_invalid = normalize_records(records, rules, normalizers=normalizers, key=key)
    types = norm.id_type.astype(STRING_DTYPE, copy=False)
    values = norm.value.astype(STRING_DTYPE, copy=False)
    at = (
        to_datetime64(now)
        if now is not None
        else (norm.observed_at.max() if len(norm) else np.datetime64("1970-01-01", "us"))
    )

    # -- identifiers: records, extra links, previous assignment -----------------------------------
    extra = links if links is not None else _empty_links()
    cannot_pairs: tuple[npt.NDArray[Any], ...] | None = None
    if rules.must_not_link:
        a_type = np.array([p[0].id_type for p in rules.must_not_link], dtype=STRING_DTYPE)
        a_val = np.array([p[0].value for p in rules.must_not_link], dtype=STRING_DTYPE)
        b_type = np.array([p[1].id_type for p in rules.must_not_link], dtype=STRING_DTYPE)
        b_val = np.array([p[1].value for p in rules.must_not_link], dtype=STRING_DTYPE)
        nm = {**rules.normalizers(), **(normalizers or {})}
        a_val = normalize_values(a_type, a_val, nm)
        b_val = normalize_values(b_type, b_val, nm)
        if key is not None:
            a_val, b_val = pseudonymize(a_type, a_val, key), pseudonymize(b_type, b_val, key)
        cannot_pairs = (a_type, a_val, b_type, b_val)
    # identifiers: distinct (type, value), numbered in the sorted order of (type, value); the type
    # and the value are factorised apart (a few types; one sort of the values), then the pair codes
    all_types = np.concatenate(
        [types, extra.left_type.astype(STRING_DTYPE), extra.right_type.astype(STRING_DTYPE)]
    )
    all_values = np.concatenate(
        [values, extra.left_value.astype(STRING_DTYPE), extra.right_value.astype(STRING_DTYPE)]
    )
    type_names, all_type_code = factorize(all_types)
    value_names, all_value_code = factorize(all_values)
    n_values = max(value_names.size, 1)
    ident_pair, inverse = factorize(all_type_code * n_values + all_value_code)
    n_ident = ident_pair.size
    n_rows = types.size
    row_ident = inverse[:n_rows]
    link_left = inverse[n_rows : n_rows + len(extra)]
    link_right = inverse[n_rows + len(extra) :]
    ident_type = ident_pair // n_values
    ident_value = value_names[ident_pair % n_values]
    ident_type_name = type_names[ident_type]
    n_types = type_names.size
    type_rank = np.array([rules.priority(str(t)) for t in type_names.tolist()], dtype=np.int64)
    type_limit = np.zeros(n_types, dtype=np.int64)
    type_max_records = np.zeros(n_types, dtype=np.int64)
    type_links = np.ones(n_types, dtype=bool)
    blocked = np.zeros(n_ident, dtype=bool)
    for code, name in enumerate(type_names.tolist()):
        rule = rules.rule(str(name))
        threshold = rules.max_records if rule is None or rule.max_records is None else rule.max_records
        type_max_records[code] = 0 if threshold is None else threshold
        if rule is None:
            continue
        type_limit[code] = rule.max_per_customer or 0
        type_links[code] = rule.links
        if rule.blocked:
            raw = np.array(sorted(rule.blocked), dtype=STRING_DTYPE)
            tcol = np.full(raw.size, str(name), dtype=STRING_DTYPE)
            blocked_vals = raw
            nm = {**rules.normalizers(), **(normalizers or {})}
            blocked_vals = normalize_values(tcol, raw, nm)
            if key is not None:
                blocked_vals = pseudonymize(tcol, blocked_vals, key)
            hits = _find_identifiers(ident_pair, n_values, value_names, code, blocked_vals)
            blocked[hits[hits >= 0]] = True

    # -- records and shared values ---------------------------------------------------------------
    record_uniques, _, row_record, _ = unique_text_full(norm.record_id)
    n_records = record_uniques.size
    # distinct (record, identifier) pairs, by one stable integer sort (first occurrences kept)
    pair_code = row_record * max(n_ident, 1) + row_ident
    pair_order = np.argsort(pair_code, kind="stable")
    sorted_code = pair_code[pair_order]
    new_pair = np.ones(sorted_code.size, dtype=bool)
    new_pair[1:] = sorted_code[1:] != sorted_code[:-1]
    first_of_pair = np.zeros(row_ident.size, dtype=bool)
    first_of_pair[pair_order[new_pair]] = True
    distinct_records = np.bincount(row_ident[first_of_pair], minlength=n_ident)
    record_limit = type_max_records[ident_type]
    shared = (record_limit > 0) & (distinct_records > record_limit) & ~blocked
    linkable = type_links[ident_type]
    usable = linkable & ~blocked & ~shared
    progress(1, 4, "building links")

    observed = norm.observed_at.astype(np.int64)
    extra_kind = extra.kind.astype(STRING_DTYPE)
    must_not = (extra_kind == "manual") & ~extra.accepted
    x_idx = np.flatnonzero(~must_not & (link_left != link_right))
    x_kind_rank = np.where(extra_kind[x_idx] == "manual", 0, 2).astype(np.int64)
    cl = [np.empty(0, np.int64), np.empty(0, np.int64)]
    if must_not.any():
        cl = [link_left[must_not], link_right[must_not]]
    if cannot_pairs is not None:
        a_type, a_val, b_type, b_val = cannot_pairs
        pos_a = _find_typed(ident_pair, n_values, value_names, type_names, a_type, a_val)
        pos_b = _find_typed(ident_pair, n_values, value_names, type_names, b_type, b_val)
        found = (pos_a >= 0) & (pos_b >= 0)
        cl = [np.concatenate([cl[0], pos_a[found]]), np.concatenate([cl[1], pos_b[found]])]
    cannot_link = (cl[0].astype(np.int64), cl[1].astype(np.int64))
    ident_rank = type_rank[ident_type]

    # -- components; values that bridge a limit conflict become shared and the stars are redrawn ---
    progress(2, 4, "components")
    conflict = np.zeros(n_ident, dtype=bool)  # shared because they bridge a limit conflict
    conflict_type = np.full(n_ident, -1, dtype=np.int64)  # the limited type they bridge
    conflict_count = np.zeros(n_ident, dtype=np.int64)  # how many values of that type they connect
    while True:
        usable_now = usable & ~conflict
        anchor, d_lo, d_hi, d_record, support, latest = _record_stars(
            row_record, row_ident, first_of_pair, usable_now, linkable, ident_rank, observed, n_records
        )
        n_det = d_lo.size
        cand_left = np.concatenate([d_lo, link_left[x_idx]])
        cand_right = np.concatenate([d_hi, link_right[x_idx]])
        kind_rank = np.concatenate([np.full(n_det, KIND_RANK["deterministic"], np.int64), x_kind_rank])
        prob = np.concatenate([np.ones(n_det), extra.probability[x_idx]])
        cand_support = np.concatenate([support, np.ones(x_idx.size, np.int64)])
        cand_latest = np.concatenate([latest, extra.created_at[x_idx].astype(np.int64)])
        r_left, r_right = ident_rank[cand_left], ident_rank[cand_right]
        edge_ok = usable_now[cand_left] & usable_now[cand_right]
        edge_rank = _rank_dense(
            -cand_latest,
            -cand_support,
            *_packed(
                np.maximum(r_left, r_right),
                np.minimum(r_left, r_right),
                np.round((1.0 - prob) * 1e6).astype(np.int64),
                kind_rank,
            ),
        )
        ok = np.flatnonzero(edge_ok)
        comp = constrained_components(
            cand_left[ok],
            cand_right[ok],
            n_nodes=n_ident,
            node_type=ident_type,
            type_limits=type_limit,
            edge_rank=edge_rank[ok],
            cannot_link=cannot_link,
        )
        refusal = np.zeros(cand_left.size, dtype=np.int8)
        refusal[ok] = comp.refusal
        limit_type = np.full(cand_left.size, -1, dtype=np.int64)
        limit_type[ok] = comp.limit_type
        if not rules.shared_on_conflict:
            break
        bridge, bridged_type, bridged_count = _conflict_bridges(
            cand_left, cand_right, refusal, limit_type, comp.labels, ident_type, type_rank
        )
        if bridge.size == 0:
            break
        conflict[bridge] = True
        conflict_type[bridge] = bridged_type
        conflict_count[bridge] = bridged_count

    # -- stable ids ------------------------------------------------------------------------------
    progress(3, 4, "customer ids")
    raw_labels = np.where(usable_now, comp.labels, -1)
    present = np.zeros(max(comp.n_components, 1), dtype=bool)
    present[raw_labels[usable_now]] = True
    dense_rank = np.cumsum(present) - 1  # keeps the components' order
    labels = np.full(n_ident, -1, dtype=np.int64)
    labels[usable_now] = dense_rank[raw_labels[usable_now]]
    prev = np.full(n_ident, -1, dtype=np.int64)
    if previous is not None and len(previous):
        prev = _lookup(previous.id_type, previous.value, previous.customer_id, ident_type_name, ident_value)
    if allocate is None:
        start = int(prev.max()) + 1 if prev.size and prev.max() >= 0 else 0
        if previous is not None and len(previous):
            start = max(start, int(previous.customer_id.max()) + 1)
        allocate = counter_allocator(start)
    customer, events = stable_customer_ids(labels, prev, allocate=allocate, at=at)

    # -- outputs ---------------------------------------------------------------------------------
    reasons = np.full(cand_left.size, "same record", dtype=object)
    reasons[n_det:] = np.where(kind_rank[n_det:] == 0, "operator link", "probabilistic match")
    for code, name in enumerate(type_names.tolist()):
        hit = (refusal == REFUSED_LIMIT) & (limit_type == code)
        if hit.any():
            reasons[hit] = f"limit: at most {type_limit[code]} {name} per customer"
    reasons[refusal == REFUSED_MUST_NOT_LINK] = "must not link"
    either = ~edge_ok
    reasons[either & (blocked[cand_left] | blocked[cand_right])] = "blocked value"
    reasons[
        either & (shared[cand_left] | shared[cand_right]) & ~(blocked[cand_left] | blocked[cand_right])
    ] = "shared value"
    known_reason = blocked[cand_left] | blocked[cand_right] | shared[cand_left] | shared[cand_right]
    by_conflict = either & ~known_reason & (conflict[cand_left] | conflict[cand_right])
    reasons[by_conflict] = _conflict_reasons(
        np.where(conflict[cand_left[by_conflict]], cand_left[by_conflict], cand_right[by_conflict]),
        conflict_type,
        conflict_count,
        type_names,
    )
    reasons[either & ~known_reason & ~by_conflict] = "not linkable"
    accepted = edge_ok & (refusal == 0)
    record_ids = np.concatenate(
        [
            record_uniques[d_record].astype(STRING_DTYPE) if n_det else np.empty(0, STRING_DTYPE),
            extra.record_id[x_idx].astype(STRING_DTYPE),
        ]
    )
    kinds = np.concatenate([np.full(n_det, "deterministic", dtype=STRING_DTYPE), extra_kind[x_idx]])
    created = np.concatenate([np.full(n_det, at, dtype="datetime64[us]"), extra.created_at[x_idx]])
    # manual refusals (must-not-link) are kept as they came
    mn = np.flatnonzero(must_not)
    out_links = IdentityLinks(
        left_type=np.concatenate([ident_type_name[cand_left], extra.left_type[mn].astype(STRING_DTYPE)]),
        left_value=np.concatenate([ident_value[cand_left], extra.left_value[mn].astype(STRING_DTYPE)]),
        right_type=np.concatenate([ident_type_name[cand_right], extra.right_type[mn].astype(STRING_DTYPE)]),
        right_value=np.concatenate([ident_value[cand_right], extra.right_value[mn].astype(STRING_DTYPE)]),
        kind=np.concatenate([kinds, extra_kind[mn]]),
        probability=np.concatenate([prob, extra.probability[mn]]),
        record_id=np.concatenate([record_ids, extra.record_id[mn].astype(STRING_DTYPE)]),
        accepted=np.concatenate([accepted, np.zeros(mn.size, bool)]),
        reason=np.concatenate([reasons.astype(STRING_DTYPE), extra.reason[mn].astype(STRING_DTYPE)]),
        created_at=np.concatenate([created, extra.created_at[mn]]),
    )
    assigned = np.flatnonzero(customer >= 0)
    assignment = CustomerAssignment(
        id_type=ident_type_name[assigned], value=ident_value[assigned], customer_id=customer[assigned]
    )
    refused_reasons, _, _, refused_counts = unique_text_full(out_links.reason[~out_links.accepted])
    stats = ResolutionStats(
        n_rows=n_rows_in,
        n_records=int(n_records),
        n_invalid=n_invalid,
        n_identifiers=int(assigned.size),
        n_customers=int(present.sum()) if usable_now.any() else 0,
        n_blocked=int(blocked.sum()),
        n_shared=int(shared.sum()),
        refused={
            str(r): int(c) for r, c in zip(refused_reasons.tolist(), refused_counts.tolist(), strict=True)
        },
        n_constrained_links=comp.n_constrained_edges,
        n_shared_by_conflict=int(conflict.sum()),
    )
    progress(4, 4, "done")
    logger.debug("resolved %d rows into %d customers", n_rows_in, stats.n_customers)
    return Resolution(
        assignment=assignment,
        links=out_links,
        events=events,
        records=norm,
        record_customer=np.where(anchor >= 0, customer[np.maximum(anchor, 0)], -1),
        stats=stats,
    )


def _find_identifiers(
    ident_pair: npt.NDArray[np.int64],
    n_values: int,
    value_names: npt.NDArray[Any],
    type_code: int,
    wanted: npt.NDArray[Any],
) -> npt.NDArray[np.int64]:
    """Identifier code of each wanted value of one type (-1 where absent), by binary search.

    ``value_names`` is sorted; Python's ``bisect`` compares code points, as numpy's sort does, and is
    exact for text of any length (numpy 2.4's ``searchsorted`` on ``StringDType`` is not).
    """
    out = np.full(wanted.size, -1, dtype=np.int64)
    for i, text in enumerate(wanted.tolist()):
        k = bisect.bisect_left(value_names, text)
        if k < value_names.size and value_names[k] == text:
            pair = type_code * n_values + k
            j = int(np.searchsorted(ident_pair, pair))
            if j < ident_pair.size and ident_pair[j] == pair:
                out[i] = j
    return out


def _find_typed(
    ident_pair: npt.NDArray[np.int64],
    n_values: int,
    value_names: npt.NDArray[Any],
    type_names: npt.NDArray[Any],
    id_type: npt.NDArray[Any],
    value: npt.NDArray[Any],
) -> npt.NDArray[np.int64]:
    """Identifier code of each (type, value) (-1 where absent)."""
    out = np.full(value.size, -1, dtype=np.int64)
    names = type_names.tolist()
    for name in set(id_type.tolist()):
        if name in names:
            rows = np.flatnonzero(id_type == name)
            out[rows] = _find_identifiers(ident_pair, n_values, value_names, names.index(name), value[rows])
    return out


def _record_stars(
    row_record: npt.NDArray[np.int64],
    row_ident: npt.NDArray[np.int64],
    first_of_pair: npt.NDArray[np.bool_],
    usable: npt.NDArray[np.bool_],
    linkable: npt.NDArray[np.bool_],
    ident_rank: npt.NDArray[np.int64],
    observed: npt.NDArray[np.int64],
    n_records: int,
) -> tuple[npt.NDArray[np.int64], ...]:
    """One star of links per record, from its strongest usable identifier to its other linkable ones.

    Returns
    -------
    anchor, lo, hi, record, support, latest
        Per row: the identifier its record is anchored on (-1 when the record has no usable one).
        Per distinct link ``lo < hi``: its first (earliest) record, the number of records behind it
        and its latest observation.
    """
    n_ident = int(usable.size)
    anchor = _record_anchors(row_record, row_ident, usable, ident_rank, n_records)[row_record]
    # one edge per (record, identifier): a record listing an identifier twice is one piece of evidence
    edge_rows = np.flatnonzero((anchor >= 0) & (row_ident != anchor) & linkable[row_ident] & first_of_pair)
    e_left, e_right = anchor[edge_rows], row_ident[edge_rows]
    lo, hi = np.minimum(e_left, e_right), np.maximum(e_left, e_right)
    e_pair = lo * max(n_ident, 1) + hi
    # aggregate per distinct pair: support, first record (earliest), latest observation
    pair_order = np.lexsort((row_record[edge_rows], observed[edge_rows], e_pair))
    sorted_pair = e_pair[pair_order]
    starts = (
        np.flatnonzero(np.r_[True, sorted_pair[1:] != sorted_pair[:-1]]) if pair_order.size else pair_order
    )
    first_rows = edge_rows[pair_order[starts]]
    support = np.diff(np.r_[starts, pair_order.size]).astype(np.int64)
    latest = (
        np.maximum.reduceat(observed[edge_rows][pair_order], starts) if starts.size else np.empty(0, np.int64)
    )
    return anchor, lo[pair_order[starts]], hi[pair_order[starts]], row_record[first_rows], support, latest


@jit
def _record_anchors(
    row_record: npt.NDArray[np.int64],
    row_ident: npt.NDArray[np.int64],
    usable: npt.NDArray[np.bool_],
    ident_rank: npt.NDArray[np.int64],
    n_records: int,
) -> npt.NDArray[np.int64]:
    """Each record's strongest usable identifier: the least ``(rank, code)``; -1 if it has none."""
    best = np.full(n_records, -1, dtype=np.int64)
    for i in range(row_record.shape[0]):
        x = row_ident[i]
        if not usable[x]:
            continue
        r = row_record[i]
        b = best[r]
        if b < 0 or ident_rank[x] < ident_rank[b] or (ident_rank[x] == ident_rank[b] and x < b):
            best[r] = x
    return best


def _conflict_bridges(
    left: npt.NDArray[np.int64],
    right: npt.NDArray[np.int64],
    refusal: npt.NDArray[np.int8],
    limit_type: npt.NDArray[np.int64],
    labels: npt.NDArray[np.int64],
    ident_type: npt.NDArray[np.int64],
    type_rank: npt.NDArray[np.int64],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The values that bridge a limit conflict: the weaker end of each link a per-type limit refused.

    A link is refused by the limit of type ``T`` when both its sides already hold values of ``T``
    (two member cards, two accounts). Its end of strictly weaker priority than both the other end and
    ``T`` itself (a phone between two member cards) is what connects the two sides: it is returned with
    ``T`` and the number of ``T`` values on the two sides. Links between values of equal priority, or
    whose weaker end is itself of ``T`` or stronger, name no bridge.

    Returns
    -------
    bridge, bridged_type, bridged_count
        Distinct bridging values (sorted), the strongest limited type each bridges and the largest
        number of values of that type it connects.
    """
    rows = np.flatnonzero(refusal == REFUSED_LIMIT)
    if rows.size == 0:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty, empty
    u, v, t = left[rows], right[rows], limit_type[rows]
    ru, rv = type_rank[ident_type[u]], type_rank[ident_type[v]]
    weaker = np.where(ru > rv, u, v)
    keep = (ru != rv) & (np.maximum(ru, rv) > type_rank[t])
    weaker, u, v, t = weaker[keep], u[keep], v[keep], t[keep]
    if weaker.size == 0:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty, empty
    # values of type t on the two sides (the refused link joins two different components)
    n_types = int(ident_type.max()) + 1
    per_component = np.bincount(labels * n_types + ident_type, minlength=(int(labels.max()) + 1) * n_types)
    count = per_component[labels[u] * n_types + t] + per_component[labels[v] * n_types + t]
    order = np.lexsort((-count, type_rank[t], weaker))
    first = np.r_[True, weaker[order][1:] != weaker[order][:-1]]
    pick = order[first]
    return weaker[pick], t[pick], count[pick]


def _conflict_reasons(
    value: npt.NDArray[np.int64],
    conflict_type: npt.NDArray[np.int64],
    conflict_count: npt.NDArray[np.int64],
    type_names: npt.NDArray[Any],
) -> npt.NDArray[Any]:
    """``"shared: connects 2 member_card values"`` for each refused link's conflict-shared value."""
    out = np.empty(value.size, dtype=object)
    code = conflict_type[value] * (int(conflict_count.max(initial=0)) + 1) + conflict_count[value]
    for c in np.unique(code).tolist():
        hit = code == c
        k = int(value[np.argmax(hit)])
        name = str(type_names[conflict_type[k]])
        out[hit] = f"shared: connects {int(conflict_count[k])} {name} values"
    return out


def _empty_links() -> IdentityLinks:
    nothing = np.empty(0, dtype=STRING_DTYPE)
    return IdentityLinks(
        left_type=nothing,
        left_value=nothing,
        right_type=nothing,
        right_value=nothing,
        kind=nothing,
        probability=np.empty(0),
        record_id=nothing,
        accepted=np.empty(0, bool),
        reason=nothing,
        created_at=np.empty(0, "datetime64[us]"),
    )


def check_key(key: bytes | None) -> None:
    """Raise unless ``key`` is None or at least 16 bytes."""
    if key is not None and (not isinstance(key, bytes) or len(key) < 16):
        raise ValidationError("the pseudonymisation key must be at least 16 bytes", field="key")
