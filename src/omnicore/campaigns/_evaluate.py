"""The pure evaluation core: events + rules + profiles + consent + state -> decisions + state.

Batch and streaming evaluation are the same function: a batch is one call, a stream is a sequence of
calls that hand the returned :class:`EngineState` to the next one. Because every temporal quantity is
defined on the processing order (events sorted by time, ties in input order), splitting the input
anywhere gives the same decisions as evaluating it whole.

Semantics
---------
- Events are processed in time order (stable for ties). Events older than the state's watermark,
  or already processed at it, are skipped (replays); repeated ``event_id`` values in one batch are
  evaluated once.
- A rule is a *candidate* for an event when the event has the trigger's type and matches its
  predicate, the customer's profile matches ``conditions``, and each temporal condition holds:
  :class:`CountWithin` counts matching events in ``[t - window, t]`` up to and including this one;
  :class:`FirstTime` requires that the customer never had a trigger of this rule before;
  :class:`NotFollowedBy` starts a timer that fires at ``t + delay`` unless a matching follow-up comes
  in ``(t, t + delay]``. A timer fires once the watermark (latest event time, or ``now``) has passed
  its due time.
- Candidates are arbitrated in order of decision time (events before timers at equal times, then
  input order, then priority): consent (the action's purpose and a separate consent for each
  sensitive field the rule reads) at the decision time; then re-eligibility, exclusion groups and
  frequency caps, counting accepted decisions (fired, deferred and held out) in
  ``(t - period, t]``; then the holdout; then quiet hours, which defer the send.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from omnicore._errors import ValidationError
from omnicore._progress import Progress, null_progress
from omnicore.campaigns._compile import (
    Columns,
    CompiledPredicate,
    RowSelector,
    compile_predicate,
    factorize_text,
)
from omnicore.campaigns._kernels import (
    count_in_groups,
    count_upto_in_groups,
    decide_by_customer,
    first_in_ties,
    group_by_code,
    group_rows,
    label_decisions,
    order_candidates,
    select_by_code,
)
from omnicore.campaigns._policies import (
    consent_by_code,
    consent_granted,
    holdout_draw,
    holdout_draw_seeded,
    holdout_seed,
    send_after_quiet_hours,
)
from omnicore.campaigns._profiles import Profiles
from omnicore.campaigns._rules import (
    Compare,
    CountWithin,
    FirstTime,
    NotFollowedBy,
    Rule,
    RuleSet,
    predicate_fields,
)
from omnicore.campaigns._state import Decisions, DecisionStatus, EngineState, Evaluation, trusted
from omnicore.campaigns._windows import factorize_columns
from omnicore.data import STRING_DTYPE, Events, factorize, searchsorted, to_datetime64
from omnicore.storage import ConsentRecords

__all__ = ["CompiledRules", "compile_rules", "evaluate", "still_deliverable"]

logger = logging.getLogger(__name__)

I64 = npt.NDArray[np.int64]
Mask = npt.NDArray[np.bool_]
_S = STRING_DTYPE
_US = 1_000_000


@attrs.frozen(kw_only=True)
class _Cap:
    key: str
    period_us: int
    limit: int
    status: DecisionStatus
    label: str


@attrs.frozen(kw_only=True)
class _CompiledRule:
    rule: Rule
    trigger: RowSelector
    conditions: CompiledPredicate | None
    counts: tuple[tuple[str, CountWithin, RowSelector], ...]
    absence: tuple[NotFollowedBy, RowSelector] | None
    first_time: bool
    purposes: tuple[tuple[str, str], ...]  # (purpose, why it is needed)
    caps: tuple[_Cap, ...]
    quiet: bool
    description: str


_STATUS_ORDER = list(DecisionStatus)


@attrs.frozen(kw_only=True)
class _CapTable:
    """Every (rule, cap) pair as flat arrays: rule ``r`` owns entries ``start[r] : start[r] + count[r]``."""

    key_names: list[str]
    key_index: dict[str, int]
    start: I64
    count: I64
    key: I64
    period: I64
    limit: I64
    key_period: I64
    status: npt.NDArray[np.int32]  # DecisionStatus position of each entry's suppression


def _cap_table(rules: tuple[_CompiledRule, ...]) -> _CapTable:
    key_names: list[str] = []
    key_index: dict[str, int] = {}
    key, period, limit, count = [], [], [], []
    for cr in rules:
        count.append(len(cr.caps))
        for cap in cr.caps:
            if cap.key not in key_index:
                key_index[cap.key] = len(key_names)
                key_names.append(cap.key)
            key.append(key_index[cap.key])
            period.append(cap.period_us)
            limit.append(cap.limit)
    counts = np.array(count, dtype=np.int64)
    return _CapTable(
        key_names=key_names,
        key_index=key_index,
        start=np.cumsum(counts) - counts,
        count=counts,
        key=np.array(key, dtype=np.int64),
        period=np.array(period, dtype=np.int64),
        limit=np.array(limit, dtype=np.int64),
        status=np.array([_STATUS_ORDER.index(cap.status) for cr in rules for cap in cr.caps], dtype=np.int32),
        key_period=np.array(
            [next(c.period_us for cr in rules for c in cr.caps if c.key == k) for k in key_names],
            dtype=np.int64,
        ),
    )


@attrs.frozen
class CompiledRules:
    """A :class:`RuleSet` compiled to numpy operations; reuse it across batches.

    Build with :func:`compile_rules`.
    """

    ruleset: RuleSet
    rules: tuple[_CompiledRule, ...]
    fingerprint: str
    cap_table: _CapTable = attrs.field(init=False)
    index_fields: dict[str, frozenset[str]] = attrs.field(init=False)
    trigger_index: dict[tuple[str, str, str | None], list[tuple[int, str, int, float]]] = attrs.field(
        init=False, repr=False
    )
    purpose_names: list[str] = attrs.field(init=False, repr=False)
    purpose_table: I64 = attrs.field(init=False, repr=False, eq=False)
    holdout_rules: list[int] = attrs.field(init=False, repr=False)
    holdout_fraction: npt.NDArray[np.float64] = attrs.field(init=False, repr=False, eq=False)
    has_holdout: Mask = attrs.field(init=False, repr=False, eq=False)
    holdout_seed: npt.NDArray[np.uint64] = attrs.field(init=False, repr=False, eq=False)
    needs_consent: Mask = attrs.field(init=False, repr=False, eq=False)
    quiet_rules: Mask = attrs.field(init=False, repr=False, eq=False)
    priority_rank: I64 = attrs.field(init=False, repr=False, eq=False)
    reason_cache: dict[int, str] = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "cap_table", _cap_table(self.rules))
        fields: dict[str, set[str]] = {}
        for cr in self.rules:
            uses = [(cr.rule.trigger.event_type, cr.trigger)]
            uses += [(item.event_type, selector) for _, item, selector in cr.counts]
            if cr.absence is not None:
                uses.append((cr.absence[0].event_type, cr.absence[1]))
            for event_type, selector in uses:
                if selector.field is not None:
                    fields.setdefault(selector.field, set()).add(event_type)
        object.__setattr__(self, "index_fields", {k: frozenset(v) for k, v in fields.items()})
        object.__setattr__(self, "trigger_index", _trigger_index(self.rules))
        # per rule: its consent purposes (codes, in the rule's order, -1 padded), holdout, quiet hours
        names: dict[str, int] = {}
        for cr in self.rules:
            for purpose, _ in cr.purposes:
                names.setdefault(purpose, len(names))
        table = np.full((len(self.rules), max([len(cr.purposes) for cr in self.rules] + [1])), -1, np.int64)
        for r, cr in enumerate(self.rules):
            for k, (purpose, _) in enumerate(cr.purposes):
                table[r, k] = names[purpose]
        object.__setattr__(self, "purpose_names", list(names))
        object.__setattr__(self, "purpose_table", table)
        holdout = [r for r, cr in enumerate(self.rules) if cr.rule.holdout_fraction > 0]
        object.__setattr__(self, "holdout_rules", holdout)
        fraction = np.array([cr.rule.holdout_fraction for cr in self.rules], dtype=np.float64)
        object.__setattr__(self, "holdout_fraction", fraction)
        object.__setattr__(self, "has_holdout", fraction > 0)
        salt = self.ruleset.policies.holdout_salt
        seeds = [holdout_seed(salt, cr.rule.campaign_id) for cr in self.rules]
        object.__setattr__(self, "holdout_seed", np.array(seeds, dtype=np.uint64))
        object.__setattr__(self, "needs_consent", table[:, 0] >= 0)
        quiet = np.array([cr.quiet for cr in self.rules], dtype=bool)
        object.__setattr__(self, "quiet_rules", quiet)
        # arbitration rank of each rule: priority (high first), then rule order
        n_rules = len(self.rules)
        ranking = np.lexsort(
            (np.arange(n_rules), -np.array([cr.rule.priority for cr in self.rules], np.int64))
        )
        rank = np.empty(n_rules, dtype=np.int64)
        rank[ranking] = np.arange(n_rules)
        object.__setattr__(self, "priority_rank", rank)
        object.__setattr__(self, "reason_cache", {})


_OP_CODES = {"gt": 1, "ge": 2, "lt": 3, "le": 4, "eq": 5, "ne": 6}


def _trigger_index(
    rules: tuple[_CompiledRule, ...],
) -> dict[tuple[str, str, str | None], list[tuple[int, str, int, float]]]:
    """Rules whose trigger is ``text == value`` (and at most one numeric comparison), grouped by
    (event type, text field, numeric field): (rule position, value, op code, threshold) each.

    Their triggers are answered for all of a group at once by one compiled pass over the events of
    the type (:func:`~omnicore.campaigns._kernels.select_by_code`) instead of one selection per rule.
    """
    index: dict[tuple[str, str, str | None], list[tuple[int, str, int, float]]] = {}
    for position, cr in enumerate(rules):
        selector = cr.trigger
        if selector.field is None:
            continue
        rest = selector.rest_predicate
        if rest is None:
            key: tuple[str, str, str | None] = (cr.rule.trigger.event_type, selector.field, None)
            index.setdefault(key, []).append((position, selector.value, 0, 0.0))
        elif isinstance(rest, Compare) and isinstance(rest.value, float):
            key = (cr.rule.trigger.event_type, selector.field, rest.field)
            index.setdefault(key, []).append((position, selector.value, _OP_CODES[rest.op], rest.value))
    return index


def _indexed_triggers(compiled: CompiledRules, batch: _Batch) -> dict[int, npt.NDArray[np.intp]]:
    """Trigger rows (ascending) of the rules of :attr:`CompiledRules.trigger_index`, by rule position.

    A group whose text field is not text, or whose numeric field is missing or not floating point,
    is left out: those rules take the general path (:class:`RowSelector`), which defines the
    semantics this pass reproduces.
    """
    out: dict[int, npt.NDArray[np.intp]] = {}
    for (event_type, text_field, number_field), members in compiled.trigger_index.items():
        rows, cols = batch.of_type(event_type)
        if rows.size == 0 or not cols.is_text(text_field):
            continue
        if number_field is None:
            values = np.zeros(rows.size, dtype=np.float64)
        else:
            column = cols.get(number_field)
            if column is None or column.dtype != np.float64:
                continue
            values = np.ascontiguousarray(column)
        uniques, codes = cols.factorized(text_field)
        position: dict[str, int] = {}
        for i, value in enumerate(uniques.tolist()):
            position.setdefault(str(value), i)
        by_code: dict[int, list[int]] = {}
        for j, (_, value, _, _) in enumerate(members):
            code = position.get(value)
            if code is not None:
                by_code.setdefault(code, []).append(j)
        code_bounds = np.zeros(int(uniques.size) + 1, dtype=np.int64)
        for code, js in by_code.items():
            code_bounds[code + 1] = len(js)
        np.cumsum(code_bounds, out=code_bounds)
        code_rules = np.array([j for code in sorted(by_code) for j in by_code[code]], dtype=np.int64)
        selected, bounds = select_by_code(
            np.ascontiguousarray(codes),
            values,
            code_bounds,
            code_rules,
            np.array([op for _, _, op, _ in members], dtype=np.int64),
            np.array([threshold for _, _, _, threshold in members], dtype=np.float64),
            len(members),
        )
        chosen = rows[selected]  # one gather; each rule's rows are a slice of it
        for j, (rule_position, _, _, _) in enumerate(members):
            out[rule_position] = chosen[bounds[j] : bounds[j + 1]]
    return out


def _describe(rule: Rule) -> str:
    parts = [f"rule {rule.rule_id}: trigger {rule.trigger.event_type}"]
    if rule.trigger.where is not None:
        parts.append("where matched")
    if rule.conditions is not None:
        parts.append(f"profile {', '.join(sorted(predicate_fields(rule.conditions)))} matched")
    for item in rule.temporal:
        if isinstance(item, CountWithin):
            parts.append(f">= {item.at_least} {item.event_type} in {item.window_seconds:g} s")
        elif isinstance(item, FirstTime):
            parts.append("first time")
        else:
            parts.append(f"no {item.event_type} within {item.delay_seconds:g} s")
    return "; ".join(parts)


def compile_rules(rules: RuleSet) -> CompiledRules:
    """Compile every predicate and policy of a rule set once.

    Parameters
    ----------
    rules
        The rules and policies.

    Returns
    -------
    CompiledRules
        Input for :func:`evaluate` (which also accepts the :class:`RuleSet` and compiles it).

    Examples
    --------
    >>> from omnicore.campaigns import rule, on, message
    >>> compiled = compile_rules(RuleSet(rules=[rule("hi").when(on("signup")).then(message("wecom"))]))
    >>> compiled.rules[0].description
    'rule hi: trigger signup'
    """
    policies = rules.policies
    groups = {g.name: g for g in policies.exclusion_groups}
    quiet = policies.quiet_hours
    out = []
    for rule in rules.rules:
        counts = tuple(
            (f"{rule.rule_id}#{i}", item, RowSelector(item.where))
            for i, item in enumerate(rule.temporal)
            if isinstance(item, CountWithin)
        )
        absence_item = rule.absence
        absence = (absence_item, RowSelector(absence_item.where)) if absence_item is not None else None
        fields = predicate_fields(rule.trigger.where) | predicate_fields(rule.conditions)
        for item in rule.temporal:
            if not isinstance(item, FirstTime):
                fields |= predicate_fields(item.where)
        purposes: list[tuple[str, str]] = []
        if rule.action.consent_purpose:
            purposes.append((rule.action.consent_purpose, f"no consent for {rule.action.consent_purpose!r}"))
        for field in sorted(fields):
            purpose = policies.sensitive_fields.get(field)
            if purpose and all(p != purpose for p, _ in purposes):
                purposes.append((purpose, f"sensitive field {field!r} needs explicit consent {purpose!r}"))
        caps: list[_Cap] = []
        if rule.reeligible_after_seconds is not None:
            caps.append(
                _Cap(
                    key=f"rule:{rule.rule_id}",
                    period_us=round(rule.reeligible_after_seconds * _US),
                    limit=1,
                    status=DecisionStatus.SUPPRESSED_REELIGIBILITY,
                    label=f"not re-eligible within {rule.reeligible_after_seconds:g} s of the last firing",
                )
            )
        if rule.exclusion_group:
            group = groups[rule.exclusion_group]
            caps.append(
                _Cap(
                    key=f"excl:{group.name}",
                    period_us=round(group.window_seconds * _US),
                    limit=1,
                    status=DecisionStatus.SUPPRESSED_EXCLUSION,
                    label=f"exclusion group {group.name!r} already fired within {group.window_seconds:g} s",
                )
            )
        for i, cap in enumerate(policies.caps):
            if cap.scope == "channel":
                if cap.channel and cap.channel != rule.action.channel:
                    continue
                attr = rule.action.channel
            elif cap.scope == "campaign":
                attr = rule.campaign_id
            else:
                attr = "*"
            caps.append(
                _Cap(
                    key=f"cap{i}:{attr}",
                    period_us=round(cap.period_seconds * _US),
                    limit=cap.limit,
                    status=DecisionStatus.SUPPRESSED_CAP,
                    label=f"{cap.scope} cap {cap.limit} per {cap.period_seconds:g} s"
                    + (f" ({attr})" if attr != "*" else "")
                    + " reached",
                )
            )
        applies_quiet = quiet is not None and (not quiet.channels or rule.action.channel in quiet.channels)
        out.append(
            _CompiledRule(
                rule=rule,
                trigger=RowSelector(rule.trigger.where),
                conditions=compile_predicate(rule.conditions) if rule.conditions is not None else None,
                counts=counts,
                absence=absence,
                first_time=any(isinstance(t, FirstTime) for t in rule.temporal),
                purposes=tuple(purposes),
                caps=tuple(caps),
                quiet=applies_quiet,
                description=_describe(rule),
            )
        )
    return CompiledRules(ruleset=rules, rules=tuple(out), fingerprint=rules.fingerprint())


# -- helpers ------------------------------------------------------------------------------------
def _as_ids(array: npt.NDArray[Any], like: npt.NDArray[Any]) -> npt.NDArray[Any]:
    if array.size == 0 and array.dtype != like.dtype:
        return np.empty(0, dtype=like.dtype)
    return array


def _id_text(ids: npt.NDArray[Any]) -> npt.NDArray[Any]:
    return ids.astype(_S) if ids.dtype != _S else ids


def _event_keys(
    events: Events, rows: npt.NDArray[np.intp], *, cust_text: npt.NDArray[Any] | None = None
) -> npt.NDArray[Any]:
    """The event's ``event_id``, or ``customer|event_type|epoch microseconds`` when there is none."""
    if events.event_id is not None:
        return _id_text(events.event_id[rows])
    cust = _id_text(events.customer_id[rows]) if cust_text is None else cust_text
    stamp = events.timestamp[rows].view(np.int64).astype(_S)
    return np.strings.add(
        np.strings.add(np.strings.add(np.strings.add(cust, "|"), events.event_type[rows]), "|"), stamp
    )


def _derived_keys(customer_id: npt.NDArray[Any], event_type: str, start: I64) -> npt.NDArray[Any]:
    """``customer|event_type|start``: the key of an event without an ``event_id`` (see
    :attr:`Decisions.event_key`)."""
    head = np.strings.add(np.strings.add(_id_text(customer_id), "|"), event_type)
    return np.strings.add(np.strings.add(head, "|"), start.astype(_S))


def _missing_like(column: npt.NDArray[Any]) -> npt.NDArray[Any]:
    kind = column.dtype.kind
    if kind == "f":
        return np.array([np.nan])
    if kind == "b":
        return np.array([False])
    if kind == "M":
        return np.array(["NaT"], dtype=column.dtype)
    return np.array([""], dtype=_S)


class _Batch:
    """The sorted batch with per-event-type views sharing one factorisation per property column."""

    def __init__(
        self,
        events: Events,
        types: tuple[npt.NDArray[Any], npt.NDArray[np.intp]],
        index_fields: dict[str, frozenset[str]],
    ) -> None:
        self.events = events
        self.n = len(events)
        self.time = events.timestamp.view(np.int64)
        self._type_uniques, self._type_codes = types
        # a text column indexed over a large share of the batch is factorised once for all views
        shared = set()
        self._type_rows: tuple[npt.NDArray[np.intp], npt.NDArray[np.int64]] | None = None
        if index_fields and self.n:
            self._type_rows = self._group_types()  # needed by of_type anyway; gives the counts
            per_type = dict(
                zip(self._type_uniques.tolist(), np.diff(self._type_rows[1]).tolist(), strict=False)
            )
            for name, event_types in index_fields.items():
                if 4 * sum(per_type.get(t, 0) for t in event_types) >= self.n:
                    shared.add(name)
        self.props = Columns(events.properties, self.n, shared=frozenset(shared))
        self._types: dict[str, tuple[npt.NDArray[np.intp], Columns]] = {}
        self._kmask: dict[tuple[str, int], npt.NDArray[np.intp]] = {}
        self._grouped: dict[Any, tuple[I64, I64, I64]] = {}

    def _group_types(self) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.int64]]:
        """Rows grouped by event type code (ascending within a type) and each type's bounds."""
        return group_rows(self._type_codes.astype(np.int64, copy=False), int(self._type_uniques.size))

    def of_type(self, event_type: str) -> tuple[npt.NDArray[np.intp], Columns]:
        hit = self._types.get(event_type)
        if hit is None:
            code = np.flatnonzero(self._type_uniques == event_type)
            if code.size:
                if self._type_rows is None:
                    self._type_rows = self._group_types()
                order, bounds = self._type_rows
                rows = order[bounds[code[0]] : bounds[code[0] + 1]]
            else:
                rows = np.zeros(0, dtype=np.intp)
            hit = (rows, self.props.select(rows))
            self._types[event_type] = hit
        return hit

    def grouped(
        self, event_type: str, selector: RowSelector, ev_code: I64, n_codes: int
    ) -> tuple[I64, I64, I64]:
        """Times and row numbers of the rows matching ``selector``, grouped by customer code
        (ascending within a customer), and each code's bounds; cached by the selector's predicate,
        so rules sharing one (e.g. the same follow-up event) group the rows once."""
        try:
            key: Any = (event_type, selector.field, selector.value, selector.rest_predicate)
            hash(key)
        except TypeError:
            key = (event_type, id(selector))
        hit = self._grouped.get(key)
        if hit is None:
            rows = self.matching(event_type, selector)
            hit = group_by_code(rows.astype(np.int64, copy=False), ev_code, self.time, n_codes)
            self._grouped[key] = hit
        return hit

    def matching(self, event_type: str, selector: RowSelector) -> npt.NDArray[np.intp]:
        key = (event_type, id(selector))
        hit = self._kmask.get(key)
        if hit is None:
            rows, cols = self.of_type(event_type)
            hit = rows[selector(cols)] if rows.size else rows
            self._kmask[key] = hit
        return hit


_Coded = dict[str, tuple[npt.NDArray[Any], npt.NDArray[np.intp], int]]
_PROFILE_INDEX: list[tuple[Profiles, npt.NDArray[Any], npt.NDArray[np.intp], _Coded, int | None]] = []


def _profile_index(
    profiles: Profiles,
) -> tuple[npt.NDArray[Any], npt.NDArray[np.intp], _Coded, int | None]:
    """Sorted customer ids of a profile table, their rows, its text attributes factorised (distinct
    values with ``''`` for a missing profile, codes, the code of ``''``), and the first id when the
    sorted ids are consecutive integers (then an id's position is ``id - first``, no search needed);
    cached for the last few tables."""
    for table, cached_ids, cached_order, cached, cached_first in _PROFILE_INDEX:
        if table is profiles:
            return cached_ids, cached_order, cached, cached_first
    order = np.argsort(profiles.customer_id, kind="stable")
    ids = profiles.customer_id[order]
    first: int | None = None
    span_fits = ids.dtype.kind == "i" and ids.size and int(ids[-1]) - int(ids[0]) == ids.size - 1
    if span_fits and (ids.size == 1 or bool(np.all(ids[1:] - ids[:-1] == 1))):
        first = int(ids[0])
    coded: _Coded = {}
    for name, column in profiles.attributes.items():
        if column.dtype == _S:
            uniques, codes = factorize_text(column)
            blank = np.flatnonzero(uniques == "")
            if blank.size:
                missing = int(blank[0])
            else:
                missing = int(uniques.size)
                uniques = np.concatenate([uniques, np.array([""], dtype=_S)])
            coded[name] = (uniques, codes, missing)
    _PROFILE_INDEX.insert(0, (profiles, ids, order, coded, first))
    del _PROFILE_INDEX[4:]
    return ids, order, coded, first


def _profile_view(
    profiles: Profiles | None, id_of_code: npt.NDArray[Any], involved: I64, n_codes: int
) -> tuple[I64, Columns]:
    """Per customer code, a row of a small profile view holding only the involved customers.

    Customers without a profile get missing values (NaN, ``''``, False). Text attributes are held
    as codes into the table's distinct values.
    """
    local = np.full(n_codes, 0, dtype=np.int64)
    if profiles is None or len(profiles) == 0 or involved.size == 0:
        return local, Columns({}, max(int(involved.size), 1))
    sorted_ids, order, coded, first = _profile_index(profiles)
    wanted = id_of_code[involved]
    if first is not None and wanted.dtype.kind == "i":
        pos = wanted.astype(np.int64) - first  # consecutive ids: the position is the offset
        found = (pos >= 0) & (pos < sorted_ids.size)
        pos = np.where(found, pos, 0)
    else:
        if wanted.dtype.kind != sorted_ids.dtype.kind:
            wanted = _id_text(wanted)
            sorted_ids = _id_text(sorted_ids)
        pos = np.minimum(searchsorted(sorted_ids, wanted), sorted_ids.size - 1)
        found = sorted_ids[pos] == wanted
    rows = np.where(found, order[pos], -1)
    every = bool(found.all())
    local[involved] = np.arange(involved.size)
    columns: dict[str, npt.NDArray[Any]] = {}
    coded_view: dict[str, tuple[npt.NDArray[Any], npt.NDArray[np.intp]]] = {}
    for name, column in profiles.attributes.items():
        hit = coded.get(name)
        if hit is not None:
            uniques, codes, missing = hit
            view_codes = codes[rows] if every else np.where(found, codes[rows], missing)
            coded_view[name] = (uniques, view_codes)
            continue
        out = np.empty(involved.size, dtype=column.dtype)
        out[found] = column[rows[found]]
        if not every:
            out[~found] = _missing_like(column)[0]
        columns[name] = out
    return local, Columns(columns, involved.size, coded=coded_view)


def _coerce_events(events: Events) -> tuple[Events, int, tuple[npt.NDArray[Any], npt.NDArray[np.intp]]]:
    """Sort by time (stable) and drop repeated events; returns the events, the number dropped and the
    event types factorised (distinct values, per-row codes).

    An event is identified by its ``event_id``, or without one by (customer, type, timestamp): two
    such events at the same microsecond are one event (and a replay of it is skipped).
    """
    dropped = 0
    if events.event_id is not None and len(events) > 1:
        _, first = np.unique(events.event_id, return_index=True)
        if first.size < len(events):
            dropped = len(events) - first.size
            events = events.take(np.sort(first))
    t = events.timestamp.view(np.int64)
    if t.size > 1 and not bool(np.all(t[1:] >= t[:-1])):
        events = events.take(np.argsort(t, kind="stable"))
        t = events.timestamp.view(np.int64)
    types = factorize_text(events.event_type)
    if events.event_id is None and t.size > 1:
        same = t[1:] == t[:-1]
        if same.any():
            ids = events.customer_id
            if ids.dtype.kind in "iu":
                group = ids.astype(np.int64, copy=False)
            else:  # text ids: code the rows that share a timestamp with a neighbour
                rows = np.flatnonzero(np.concatenate([same, [False]]) | np.concatenate([[False], same]))
                group = np.zeros(t.size, dtype=np.int64)
                group[rows] = factorize(ids[rows])[1]
            keep = first_in_ties(t, group, types[1].astype(np.int64, copy=False))
            if not keep.all():
                kept = np.flatnonzero(keep)
                dropped += int(t.size - kept.size)
                events = events.take(kept)
                types = (types[0], types[1][kept])
    return events, dropped, types


def _skip_replays(
    events: Events, state: EngineState, types: tuple[npt.NDArray[Any], npt.NDArray[np.intp]]
) -> tuple[Events, int, tuple[npt.NDArray[Any], npt.NDArray[np.intp]]]:
    if state.watermark is None or len(events) == 0:
        return events, 0, types
    wm = np.int64(state.watermark.astype("datetime64[us]").view(np.int64))
    t = events.timestamp.view(np.int64)
    start = int(searchsorted(t, wm, side="left"))
    end = int(searchsorted(t, wm, side="right"))
    keep = np.ones(len(events), dtype=bool)
    keep[:start] = False
    if end > start and state.watermark_keys:
        keys = _event_keys(events, np.arange(start, end))
        seen = np.isin(keys, np.array(sorted(state.watermark_keys), dtype=_S))
        keep[start:end] = ~seen
    skipped = int((~keep).sum())
    if skipped:
        kept = np.flatnonzero(keep)
        events = events.take(kept)
        types = (types[0], types[1][kept])
    return events, skipped, types


# -- the evaluation -----------------------------------------------------------------------------
def evaluate(
    rules: RuleSet | CompiledRules,
    events: Events,
    *,
    profiles: Profiles | None = None,
    consent: ConsentRecords | Callable[[npt.NDArray[Any]], ConsentRecords] | None = None,
    state: EngineState | None = None,
    now: Any = None,
    progress: Progress = null_progress,
) -> Evaluation:
    """Evaluate a batch of events against every rule, vectorised, and apply every policy.

    Parameters
    ----------
    rules
        The rule set (or its :func:`compile_rules` result, to compile once for many batches).
    events
        The batch, in any order (sorted by time internally, ties in input order).
    profiles
        Customer attributes for rule conditions and the time zone for quiet hours (None: nobody has
        a profile, so profile conditions fail).
    consent
        The consent ledger, or a function returning the ledger rows of the given customer ids (called
        only when a candidate needs consent); None: nobody has consented, so only actions without a
        consent purpose can fire.
    state
        The state returned by the previous call (None: start fresh).
    now
        Optional current time: absence timers due before it fire (else the batch's latest event time
        is the clock). Events before ``now`` must not arrive later.
    progress
        Progress callback, called once per rule.

    Returns
    -------
    Evaluation
        Decisions in processing order with their reason traces, and the state for the next call.

    Raises
    ------
    ValidationError
        For inputs of the wrong type, when ``state`` belongs to another rule set, or when ``now`` is
        before the state's watermark.

    Examples
    --------
    >>> from omnicore.campaigns import rule, on, field, coupon, not_followed_by
    >>> rs = RuleSet(rules=[rule("cart").when(on("add_to_cart"))
    ...                     .unless(not_followed_by("purchase", hours=24))
    ...                     .then(coupon("sms", template="SAVE10", consent_purpose=""))])
    >>> ev = Events(customer_id=[1, 1, 2], event_type=["add_to_cart", "purchase", "add_to_cart"],
    ...             timestamp=["2024-05-01T10:00", "2024-05-01T12:00", "2024-05-01T11:00"])
    >>> result = evaluate(rs, ev, now="2024-05-03")
    >>> result.decisions.customer_id.tolist(), result.decisions.status.tolist()
    ([2], ['fired'])
    >>> str(result.decisions.decided_at[0])
    '2024-05-02T11:00:00.000000'
    """
    if not isinstance(rules, RuleSet | CompiledRules):
        raise ValidationError("expected a RuleSet", field="rules", value=type(rules).__name__)
    if not isinstance(events, Events):
        raise ValidationError("expected omnicore.Events", field="events", value=type(events).__name__)
    if profiles is not None and not isinstance(profiles, Profiles):
        raise ValidationError(
            "expected omnicore.campaigns.Profiles", field="profiles", value=type(profiles).__name__
        )
    compiled = rules if isinstance(rules, CompiledRules) else compile_rules(rules)
    if state is None:
        state = EngineState.empty(compiled.fingerprint)
    elif state.fingerprint and state.fingerprint != compiled.fingerprint:
        raise ValidationError(
            "state belongs to another rule set; start from an empty state or migrate it",
            field="state.fingerprint",
            value=state.fingerprint,
        )
    events, dropped, types = _coerce_events(events)
    events, skipped, types = _skip_replays(events, state, types)
    batch = _Batch(events, types, compiled.index_fields)
    ids = events.customer_id
    old_wm = None if state.watermark is None else int(state.watermark.astype("datetime64[us]").view(np.int64))
    wm_candidates = [v for v in (old_wm, int(batch.time[-1]) if batch.n else None) if v is not None]
    if now is not None:
        now_us = int(to_datetime64(now, field="now").view(np.int64))
        if old_wm is not None and now_us < old_wm:
            raise ValidationError("now is before the watermark", field="now", value=now)
        wm_candidates.append(now_us)
    wm_new = max(wm_candidates) if wm_candidates else None

    # One customer coding shared by events, state rows and profiles.
    st_window = _as_ids(state.window_customer, ids)
    st_seen = _as_ids(state.seen_customer, ids)
    st_timer = _as_ids(state.timer_customer, ids)
    st_cap = _as_ids(state.cap_customer, ids)
    uniques, (ev_code, w_code, s_code, t_code, c_code) = factorize_columns(
        ids, st_window, st_seen, st_timer, st_cap
    )
    n_codes = 0 if uniques is None else int(uniques.size)
    id_dtype = ids.dtype if ids.size else (st_timer.dtype if st_timer.size else ids.dtype)
    if uniques is not None and uniques.dtype == id_dtype:
        id_of_code = uniques  # no column was compared as text: the distinct values are the ids
    else:
        id_of_code = np.empty(max(n_codes, 1), dtype=id_dtype)
        n_codes = max(n_codes, 1)
        for code, values in (
            (ev_code, ids),
            (w_code, st_window),
            (s_code, st_seen),
            (t_code, st_timer),
            (c_code, st_cap),
        ):
            if code.size:
                id_of_code[code] = values.astype(id_dtype) if values.dtype != id_dtype else values
    # Profiles of the customers this call can touch (batch and due timers), looked up by binary search
    if uniques is not None and not (w_code.size or s_code.size or c_code.size):
        involved = np.arange(n_codes)  # every customer comes from the batch or a timer
    else:
        touched = np.zeros(n_codes, dtype=bool)
        touched[ev_code] = True
        touched[t_code] = True
        involved = np.flatnonzero(touched)
    prof_row, prof_cols = _profile_view(profiles, id_of_code, involved, n_codes)

    timers: dict[str, list[Any]] = {k: [] for k in ("rule", "code", "time", "start")}  # fired timers
    # per batch of fired timers: a function building their event keys, and whether those keys are
    # the derivable ``customer|type|start`` ones (then no key column is needed at all)
    timer_keys: list[tuple[Callable[[], npt.NDArray[Any]], bool]] = []
    new_windows: list[tuple[str, I64, I64]] = []
    new_seen: list[tuple[str, I64]] = []
    pending: list[tuple[str, I64, npt.NDArray[Any], I64, I64]] = []
    # State rows by slot / rule, decoded once.
    w_slots = state.window_slot
    s_rules = state.seen_rule
    t_rules = state.timer_rule
    window_time = state.window_time.view(np.int64)
    timer_start = state.timer_start.view(np.int64)
    known_rules = {cr.rule.rule_id for cr in compiled.rules}
    stale = (
        np.flatnonzero(~np.isin(t_rules, np.array(sorted(known_rules), dtype=_S)))
        if t_rules.size
        else np.zeros(0, dtype=np.intp)
    )
    if stale.size:
        logger.warning("dropping %d timers of rules no longer in the rule set", len(stale))

    def carried(
        slot: str, item: CountWithin, ref: npt.NDArray[np.intp], h_code: I64, h_time: I64
    ) -> tuple[str, I64, I64]:
        """The rows of a window the next state keeps: carried and batch rows (``ref``, ascending)
        inside the window at the new watermark; the batch's are a suffix of ``ref`` (time order)."""
        if wm_new is None:  # no watermark: the state is returned unchanged
            return slot, h_code[:0], h_time[:0]
        lo = wm_new - round(item.window_seconds * _US)
        keep = h_time >= lo
        recent = ref[int(np.searchsorted(ref, searchsorted(batch.time, lo, side="left"))) :]
        return (
            slot,
            np.concatenate([h_code[keep], ev_code[recent]]),
            np.concatenate([h_time[keep], batch.time[recent]]),
        )

    event_rules: list[int] = []  # rules with event candidates, and their trigger rows
    event_rows: list[npt.NDArray[np.intp]] = []
    total = len(compiled.rules)
    indexed = _indexed_triggers(compiled, batch)
    timer_rules = set(t_rules.tolist()) if t_rules.size else set()
    for rule_idx, cr in enumerate(compiled.rules):
        rule = cr.rule
        rows, cols = batch.of_type(rule.trigger.event_type)
        if rows.size == 0 and rule.rule_id not in timer_rules:
            # rules are indexed by event type: nothing can fire; only carry the window history on
            for slot, item, where in cr.counts:
                in_state = w_slots == slot if w_slots.size else np.zeros(0, bool)
                ref = batch.matching(item.event_type, where)
                new_windows.append(carried(slot, item, ref, w_code[in_state], window_time[in_state]))
            continue
        trig = indexed.get(rule_idx)
        if trig is None:
            trig = rows[cr.trigger(cols)] if rows.size else rows
        if trig.size == 0 and not cr.counts and cr.absence is None:
            progress(rule_idx + 1, total, rule.rule_id)  # nothing to decide and no state to carry
            continue
        if cr.first_time:
            codes = ev_code[trig]
            uniq, first = np.unique(codes, return_index=True)
            before = s_code[s_rules == rule.rule_id] if s_rules.size else np.empty(0, np.int64)
            fresh = ~np.isin(uniq, before)
            trig = np.sort(trig[first[fresh]])
            new_seen.append((rule.rule_id, uniq[fresh]))
        if cr.conditions is not None and trig.size:
            ok = cr.conditions(prof_cols)
            trig = trig[ok[prof_row[ev_code[trig]]]]
        for slot, item, where in cr.counts:
            ref = batch.matching(item.event_type, where)
            in_state = w_slots == slot if w_slots.size else np.zeros(0, bool)
            h_code, h_time = w_code[in_state], window_time[in_state]
            if trig.size:
                window_us = round(item.window_seconds * _US)
                q_code, q_lo = ev_code[trig], batch.time[trig] - window_us
                # matching events of this batch up to and including the trigger, inside the window
                g_time, g_rows, g_bounds = batch.grouped(item.event_type, where, ev_code, n_codes)
                n_in = count_upto_in_groups(g_bounds, g_rows, g_time, q_code, trig.astype(np.int64), q_lo)
                if h_code.size:  # and the carried ones (all earlier than the batch)
                    h_order = np.lexsort((h_time, h_code))
                    h_bounds = np.zeros(n_codes + 1, dtype=np.int64)
                    np.cumsum(np.bincount(h_code, minlength=n_codes), out=h_bounds[1:])
                    latest = np.full(q_code.size, np.iinfo(np.int64).max, dtype=np.int64)
                    n_in += count_in_groups(h_bounds, h_time[h_order], q_code, q_lo, latest, True, True)
                trig = trig[n_in >= item.at_least]
            new_windows.append(carried(slot, item, ref, h_code, h_time))
        if cr.absence is None:
            if trig.size:
                event_rules.append(rule_idx)
                event_rows.append(trig)
        else:
            absence, where = cr.absence
            delay = round(absence.delay_seconds * _US)
            follow_time, _, follow_bounds = batch.grouped(absence.event_type, where, ev_code, n_codes)
            # timers carried from earlier batches, then the new ones
            mine = np.flatnonzero(t_rules == rule.rule_id) if t_rules.size else np.empty(0, np.intp)
            tc = np.concatenate([t_code[mine], ev_code[trig]])
            ts = np.concatenate([timer_start[mine], batch.time[trig]])
            td = ts + delay

            def keys_of(
                idx: npt.NDArray[np.intp],
                mine: npt.NDArray[np.intp] = mine,
                trig: npt.NDArray[np.intp] = trig,
            ) -> npt.NDArray[Any]:
                """Event keys of timers ``idx`` (ascending): carried ones stored, new ones built."""
                split = int(np.searchsorted(idx, mine.size))
                new_keys = _event_keys(events, trig[idx[split:] - mine.size])
                return np.concatenate([state.timer_event_key[mine[idx[:split]]], new_keys])

            if tc.size:
                # follow-ups of the same customer in (start, due]
                followed = count_in_groups(follow_bounds, follow_time, tc, ts, td, False, True)
                alive = followed == 0
                due = alive & (td < wm_new) if wm_new is not None else np.zeros(tc.size, bool)
                wait = alive & ~due
                fire = np.flatnonzero(due)
                timers["rule"].append(np.full(fire.size, rule_idx, dtype=np.int64))
                timers["code"].append(tc[fire])
                timers["time"].append(td[fire])
                timers["start"].append(ts[fire])
                old = fire[: int(np.searchsorted(fire, mine.size))]
                derived = events.event_id is None
                if old.size:  # carried timers: is the stored key the derivable one?
                    derived_key = _derived_keys(id_of_code[tc[old]], rule.trigger.event_type, ts[old])
                    derived &= bool(np.all(derived_key == state.timer_event_key[mine[old]]))
                timer_keys.append((functools.partial(keys_of, fire), derived))
                if wait.any():
                    waiting = np.flatnonzero(wait)
                    pending.append((rule.rule_id, tc[wait], keys_of(waiting), ts[wait], td[wait]))
        progress(rule_idx + 1, total, rule.rule_id)

    candidates = _candidates(compiled, event_rules, event_rows, timers, ev_code, batch)
    cap_history = _cap_history(compiled, state, c_code)
    decisions, cap_rows = _decide(
        compiled,
        candidates,
        timer_keys,
        events,
        id_of_code,
        prof_row,
        prof_cols,
        consent,
        cap_history,
        wm_new,
    )
    new_state = _next_state(
        compiled,
        state,
        wm_new,
        old_wm,
        events,
        batch,
        id_of_code,
        new_windows,
        new_seen,
        pending,
        cap_rows,
        cap_history,
        s_code,
    )
    return Evaluation(decisions=decisions, state=new_state, skipped_events=dropped + skipped)


def _cat(parts: list[Any], dtype: Any) -> npt.NDArray[Any]:
    return np.concatenate(parts) if parts else np.empty(0, dtype=dtype)


@attrs.frozen(kw_only=True)
class _Candidates:
    """Candidates in processing order: rule, customer code, decision time, trigger time, event row
    (-1 for a timer), and the positions of the fired timers with each one's index in the order the
    timers were added."""

    rule: npt.NDArray[np.int32]
    code: npt.NDArray[np.int32]
    time: I64
    trigger_at: I64
    row: I64
    timer_pos: I64
    timer_index: npt.NDArray[np.intp]


def _candidates(
    compiled: CompiledRules,
    event_rules: list[int],
    event_rows: list[npt.NDArray[np.intp]],
    timers: dict[str, list[Any]],
    ev_code: I64,
    batch: _Batch,
) -> _Candidates:
    """Candidates in processing order: by decision time, events before timers at equal times; events
    by row then (priority desc, rule order); timers by trigger time, customer, priority, rule."""
    if event_rows:
        # runs in arbitration rank order, so that one stable sort by row orders them
        by_rank = np.argsort(compiled.priority_rank[event_rules], kind="stable").tolist()
        runs = [event_rows[i] for i in by_rank]
        run_rule = np.array([event_rules[i] for i in by_rank], dtype=np.int64)
        rows = np.concatenate(runs).astype(np.int64, copy=False)
    else:
        runs, run_rule, rows = [], np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    bounds = np.zeros(len(runs) + 1, dtype=np.int64)
    np.cumsum([r.size for r in runs], out=bounds[1:])
    if timers["rule"]:
        t_rule, t_code, t_time, t_start = (
            np.concatenate(timers[k]) for k in ("rule", "code", "time", "start")
        )
        tm = np.lexsort((compiled.priority_rank[t_rule], t_code, t_start, t_time))
        t_rule, t_code, t_time, t_start = t_rule[tm], t_code[tm], t_time[tm], t_start[tm]
    else:
        tm = np.zeros(0, dtype=np.intp)
        t_rule = t_code = t_time = t_start = np.zeros(0, dtype=np.int64)
    row, rule, code, time, trigger_at, timer_pos = order_candidates(
        rows, bounds, run_rule, batch.n, ev_code, batch.time, t_rule, t_code, t_time, t_start
    )
    return _Candidates(
        rule=rule, code=code, time=time, trigger_at=trigger_at, row=row, timer_pos=timer_pos, timer_index=tm
    )


def _decide(
    compiled: CompiledRules,
    candidates: _Candidates,
    timer_keys: list[tuple[Callable[[], npt.NDArray[Any]], bool]],
    events: Events,
    id_of_code: npt.NDArray[Any],
    prof_row: I64,
    prof_cols: Columns,
    consent: ConsentRecords | Callable[[npt.NDArray[Any]], ConsentRecords] | None,
    cap_history: tuple[I64, I64, I64],
    wm_new: int | None,
) -> tuple[Decisions, tuple[I64, I64, I64]]:
    """Decisions of the candidates, and the accepted cap rows still inside their period at ``wm_new``."""
    rule_i, code, time = candidates.rule, candidates.code, candidates.time
    n = rule_i.size
    if n == 0:
        return Decisions.empty(), (np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.int64))
    crs = compiled.rules
    cust = id_of_code[code]
    timer_pos = candidates.timer_pos
    # event keys are built only when they cannot be derived later (event ids, carried timers)
    event_key: npt.NDArray[Any] | None = None
    if events.event_id is not None or not all(derived for _, derived in timer_keys):
        tkeys = _cat([build() for build, _ in timer_keys], _S)
        event_key = np.empty(n, dtype=_S)
        is_event = candidates.row >= 0
        if is_event.any():
            event_key[is_event] = _event_keys(events, candidates.row[is_event])
        if timer_pos.size:
            # timer keys were built in the order the timers were added
            event_key[timer_pos] = tkeys[candidates.timer_index]

    # consent (action purpose and sensitive data) at the decision time, then caps: both per customer,
    # in one compiled pass over each customer's candidates
    purposes = compiled.purpose_table
    names = tuple(compiled.purpose_names)
    ledger: ConsentRecords | None = None
    if names and bool(compiled.needs_consent[rule_i].any()):
        if callable(consent):
            present = np.zeros(id_of_code.size, dtype=bool)
            present[code] = True
            ledger = consent(id_of_code[present])
        else:
            ledger = consent
    record_start, record_end, record_time, record_purpose, record_granted = consent_by_code(
        ledger, names, id_of_code
    )
    quiet = compiled.ruleset.policies.quiet_hours
    tz_uniques = np.array([compiled.ruleset.policies.default_timezone], dtype=_S)
    zone_of = np.zeros(0, dtype=np.int64)
    if quiet is not None and bool(compiled.quiet_rules.any()):
        zone_of = np.zeros(id_of_code.size, dtype=np.int64)
        tz_field = compiled.ruleset.policies.timezone_field
        if prof_cols.dtype(tz_field) == _S:
            tz_uniques, tz_codes = prof_cols.factorized(tz_field)
            tz_uniques = np.where(tz_uniques == "", compiled.ruleset.policies.default_timezone, tz_uniques)
            zone_of = tz_codes[prof_row].astype(np.int64, copy=False)
    table = compiled.cap_table
    h_key, h_cust, h_time = cap_history
    # accepted cap rows go to the next state only while inside their period at the new watermark
    no_watermark = np.full(table.key_period.size, np.iinfo(np.int64).min, dtype=np.int64)
    keep_after = no_watermark if wm_new is None else wm_new - table.key_period
    variant, accepted, zone, *cap_rows_out = decide_by_customer(
        time,
        code,
        rule_i,
        int(id_of_code.size),
        purposes,
        len(names),
        record_start,
        record_end,
        record_time,
        record_purpose,
        record_granted,
        table.start,
        table.count,
        table.key,
        table.period,
        table.limit,
        len(table.key_names),
        h_key,
        h_cust,
        h_time,
        compiled.quiet_rules,
        zone_of,
        keep_after,
    )

    # holdout, then quiet hours
    held = np.zeros(n, dtype=bool)
    if compiled.holdout_rules:
        mine = np.flatnonzero(accepted & compiled.has_holdout[rule_i])
        salt = compiled.ruleset.policies.holdout_salt
        if cust.dtype.kind in "iu":
            draw = holdout_draw_seeded(cust[mine], compiled.holdout_seed[rule_i[mine]])
            held[mine[draw < compiled.holdout_fraction[rule_i[mine]]]] = True
        else:
            for r in compiled.holdout_rules:
                theirs = mine[rule_i[mine] == r]
                if theirs.size:
                    rule = crs[r].rule
                    draw = holdout_draw(cust[theirs], salt=salt, campaign_id=rule.campaign_id)
                    held[theirs[draw < rule.holdout_fraction]] = True
    send = time
    if quiet is not None and zone_of.size:
        # accepted candidates of quiet-hour rules carry their zone; the others keep their time
        send = send_after_quiet_hours(
            time, tz_uniques, zone, start_hour=quiet.start_hour, end_hour=quiet.end_hour
        )
    statuses = list(DecisionStatus)
    status_of = np.array(
        [
            statuses.index(st)
            for st in (
                DecisionStatus.FIRED,
                DecisionStatus.DEFERRED,
                DecisionStatus.HELD_OUT,
                DecisionStatus.SUPPRESSED_CONSENT,
            )
        ],
        dtype=np.int32,
    )
    status_code, reason_code, reason_keys = label_decisions(
        rule_i,
        variant,
        accepted,
        held,
        time,
        send,
        len(crs),
        purposes.shape[1],
        int(table.count.max(initial=0)),
        table.start,
        table.status,
        status_of,
    )
    # reasons: one string per (rule, variant)
    cache = compiled.reason_cache
    reasons = tuple(
        cache.get(c) or cache.setdefault(c, _reason(compiled, c // 1000, c % 1000))
        for c in reason_keys.tolist()
    )
    rule_table = tuple(
        (
            cr.rule.rule_id,
            cr.rule.campaign_id,
            cr.rule.action.channel,
            cr.rule.action.kind.value,
            cr.rule.trigger.event_type,
        )
        for cr in crs
    )
    decisions = trusted(
        Decisions,
        rule_code=rule_i,
        rule_table=rule_table,
        customer_id=cust,
        event_id=event_key,
        trigger_at=candidates.trigger_at,
        status_code=status_code,
        reason_code=reason_code,
        reasons=reasons,
        decided_at=time.view("datetime64[us]"),
        send_at=send.view("datetime64[us]"),
        _cache={},
    )
    # accepted cap memberships become cap history
    cap_rows = (cap_rows_out[0], cap_rows_out[1], cap_rows_out[2])
    return decisions, cap_rows


def _cap_history(compiled: CompiledRules, state: EngineState, cust_code: I64) -> tuple[I64, I64, I64]:
    """The state's cap rows of caps still in the rule set: key code, customer code, time."""
    key_index = compiled.cap_table.key_index
    if state.cap_key.size == 0 or not key_index:
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.int64)
    uniq_keys, inv = factorize_text(state.cap_key)
    mapped = np.array([key_index.get(k, -1) for k in uniq_keys.tolist()], dtype=np.int64)[inv]
    known = np.flatnonzero(mapped >= 0)
    return mapped[known], cust_code[known], state.cap_time.view(np.int64)[known]


def _reason(compiled: CompiledRules, r: int, variant: int) -> str:
    cr = compiled.rules[r]
    head = cr.description
    if variant == 0:
        return f"{head} -> fired"
    if variant == 1:
        quiet = compiled.ruleset.policies.quiet_hours
        hours = f" {quiet.start_hour:g}-{quiet.end_hour:g} h local" if quiet is not None else ""
        return f"{head} -> deferred: quiet hours{hours}"
    if variant == 2:
        return f"{head} -> held out: control group ({cr.rule.holdout_fraction:g}) of {cr.rule.campaign_id!r}"
    if 10 <= variant < 100:
        return f"{head} -> suppressed: {cr.purposes[variant - 10][1]}"
    return f"{head} -> suppressed: {cr.caps[variant - 100].label}"


def _next_state(
    compiled: CompiledRules,
    state: EngineState,
    wm_new: int | None,
    old_wm: int | None,
    events: Events,
    batch: _Batch,
    id_of_code: npt.NDArray[Any],
    new_windows: list[tuple[str, I64, I64]],
    new_seen: list[tuple[str, I64]],
    pending: list[tuple[str, I64, npt.NDArray[Any], I64, I64]],
    cap_rows: tuple[I64, I64, I64],
    cap_history: tuple[I64, I64, I64],
    s_code: I64,
) -> EngineState:
    if wm_new is None:
        return state
    # watermark keys: events processed at the watermark time
    keys: set[str] = set()
    if old_wm is not None and old_wm == wm_new:
        keys |= state.watermark_keys
    if batch.n and int(batch.time[-1]) == wm_new:
        start = int(searchsorted(batch.time, wm_new, side="left"))
        keys |= set(_event_keys(events, np.arange(start, batch.n)).tolist())
    # windows: history + batch rows still inside each window (selected by the caller)
    w_slot, w_code, w_time = [], [], []
    for slot, code, time in new_windows:
        w_slot.append(np.full(code.size, slot, dtype=_S))
        w_code.append(code)
        w_time.append(time)
    # first-time rules: old seen rows of known rules plus the new ones
    first_rules = [cr.rule.rule_id for cr in compiled.rules if cr.first_time]
    keep_seen = (
        np.isin(state.seen_rule, np.array(first_rules, dtype=_S))
        if state.seen_rule.size
        else np.zeros(0, bool)
    )
    s_rule = [state.seen_rule[keep_seen]] + [np.full(c.size, r, dtype=_S) for r, c in new_seen]
    s_cust = [s_code[keep_seen]] + [c for _, c in new_seen]
    # caps: history rows still inside their period, plus accepted decisions
    table = compiled.cap_table
    h_key, h_code, h_time = cap_history
    live = np.flatnonzero(h_time > wm_new - table.key_period[h_key])
    c_key = np.concatenate([h_key[live], cap_rows[0]])  # the new rows are the live ones already
    c_code = np.concatenate([h_code[live], cap_rows[1]])
    c_time = np.concatenate([h_time[live], cap_rows[2]])
    t_rule = [np.full(c.size, r, dtype=_S) for r, c, _, _, _ in pending]
    return EngineState(
        fingerprint=compiled.fingerprint,
        watermark=np.datetime64(wm_new, "us"),
        watermark_keys=keys,
        window_slot=_cat(w_slot, _S),
        window_customer=id_of_code[_cat(w_code, np.int64)],
        window_time=_cat(w_time, np.int64).view("datetime64[us]"),
        seen_rule=_cat(s_rule, _S),
        seen_customer=id_of_code[_cat(s_cust, np.int64)],
        timer_rule=_cat(t_rule, _S),
        timer_customer=id_of_code[_cat([c for _, c, _, _, _ in pending], np.int64)],
        timer_event_key=_cat([k for _, _, k, _, _ in pending], _S),
        timer_start=_cat([s for _, _, _, s, _ in pending], np.int64).view("datetime64[us]"),
        timer_due=_cat([d for _, _, _, _, d in pending], np.int64).view("datetime64[us]"),
        # (text built through object arrays: a StringDType gather allocates per row and is slower)
        cap_key=np.array(table.key_names, dtype=object)[c_key].astype(_S),
        cap_customer=id_of_code[c_code],
        cap_time=c_time.view("datetime64[us]"),
    )


def still_deliverable(
    decisions: Decisions, rules: RuleSet | CompiledRules, consent: ConsentRecords | None
) -> Mask:
    """Re-check consent at delivery: which decisions may still be sent at their ``send_at``.

    A decision deferred by quiet hours is delivered later; a withdrawal recorded in between must stop
    it. True where the decision is fired or deferred and every consent its rule needs (the action's
    purpose and any sensitive-data purpose) is still granted at ``send_at``.

    Parameters
    ----------
    decisions
        Decisions about to be delivered (e.g. the deferred ones now due).
    rules
        The rule set that made them.
    consent
        The current consent ledger.

    Returns
    -------
    numpy.ndarray of bool
        One flag per decision.

    Examples
    --------
    >>> from omnicore.campaigns import rule, on, message, QuietHours, Policies
    >>> rs = RuleSet(rules=[rule("r").when(on("browse")).then(message("sms"))],
    ...              policies=Policies(quiet_hours=QuietHours(start_hour=22, end_hour=8)))
    >>> ledger = ConsentRecords(subject_id=[1, 1], purpose=["marketing"] * 2, granted=[True, False],
    ...                         recorded_at=["2024-01-01", "2024-06-01T20:00"], source=["app"] * 2)
    >>> ev = Events(customer_id=[1], event_type=["browse"], timestamp=["2024-06-01T15:00"])  # 23:00 local
    >>> d = evaluate(rs, ev, consent=ledger).decisions
    >>> d.status.tolist(), still_deliverable(d, rs, ledger).tolist()
    (['deferred'], [False])
    """
    compiled = rules if isinstance(rules, CompiledRules) else compile_rules(rules)
    by_id = {cr.rule.rule_id: cr for cr in compiled.rules}
    ok = decisions.sent.copy()
    rule_ids = decisions.rule_id
    send = decisions.send_at.view(np.int64)
    for rule_id in np.unique(rule_ids[ok]).tolist() if ok.any() else []:
        cr = by_id.get(str(rule_id))
        rows = np.flatnonzero(ok & (rule_ids == rule_id))
        if cr is None:
            ok[rows] = False
            continue
        for purpose, _ in cr.purposes:
            if consent is None:
                ok[rows] = False
                break
            ok[rows] &= consent_granted(consent, purpose, decisions.customer_id[rows], send[rows])
    return ok
