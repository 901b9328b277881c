"""The store-aware shell: streaming (and batch) evaluation with state in the campaign store.

Each call to :meth:`CampaignEngine.process` or :meth:`CampaignEngine.advance` takes the state of the
customers it touches from the engine's in-memory copy, runs the pure
:func:`~omnicore.campaigns.evaluate`, and writes the new decisions, the changed state and the
checkpoint (watermark) in **one** store transaction; the in-memory copy is updated only after the
commit. A crash before the commit leaves the store as it was, so re-sending the same events gives the
same decisions; a crash after it makes a re-send a replay, which the watermark skips and the decision
keys deduplicate. Either way no firing is lost or duplicated.

State layout in the key-value store (namespace ``campaigns/<name>``): ``meta`` holds the rule set
fingerprint, the watermark, the keys of the events at the watermark and the list of live state
segments; each ``s/<sequence>`` is one columnar segment written by one call: the customers that call
touched (sorted) and their window rows, first-time flags, pending absence timers and recent accepted
decisions, as numpy buffers with a JSON header. A customer's state is the one in the latest segment
that lists it, so a call writes only what it touched (write-behind, one blob per call); when more
than :data:`_MAX_SEGMENTS` segments are live they are merged into one in that call's transaction
(all but the largest, while that one holds at least half of the live customers).
Stores written by earlier versions (one JSON row per customer under ``c/``) are read and migrated
at the first commit.
"""

from __future__ import annotations

import heapq
import json
import logging
from collections import Counter
from collections.abc import Iterable
from itertools import compress, repeat
from typing import Any

import numpy as np
import numpy.typing as npt

from omnicore._errors import ConflictError, StorageError
from omnicore.campaigns._compile import factorize_text
from omnicore.campaigns._evaluate import CompiledRules, compile_rules, evaluate
from omnicore.campaigns._profiles import Profiles
from omnicore.campaigns._rules import RuleSet
from omnicore.campaigns._state import Decisions, EngineState
from omnicore.data import STRING_DTYPE, Events, to_datetime64
from omnicore.storage import ConsentRecords, Store

__all__ = ["CampaignEngine"]

logger = logging.getLogger(__name__)

#: Live segments beyond which a call merges every segment into one.
_MAX_SEGMENTS = 16

# per state table: (EngineState field of each column, kind); the customer column is implied
_TABLES: dict[str, tuple[tuple[str, str], ...]] = {
    "w": (("window_slot", "text"), ("window_time", "time")),
    "s": (("seen_rule", "text"),),
    "t": (
        ("timer_rule", "text"),
        ("timer_event_key", "text"),
        ("timer_start", "time"),
        ("timer_due", "time"),
    ),
    "c": (("cap_key", "text"), ("cap_time", "time")),
}
_CUSTOMER_FIELD = {"w": "window_customer", "s": "seen_customer", "t": "timer_customer", "c": "cap_customer"}


def _ids(values: list[Any]) -> npt.NDArray[Any]:
    if values and not all(isinstance(v, int) for v in values):
        return np.array([str(v) for v in values], dtype=STRING_DTYPE)
    return np.array(values, dtype=np.int64)


class _Segment:
    """One call's state: its customers (sorted) and, per table, their rows grouped by customer."""

    def __init__(
        self,
        key: str,
        customers: npt.NDArray[Any],
        columns: dict[str, dict[str, npt.NDArray[Any]]],
        bounds: dict[str, npt.NDArray[np.int64]],
    ) -> None:
        self.key = key
        self.customers = customers
        self.columns = columns
        self.bounds = bounds
        rows = np.zeros(customers.size, dtype=np.int64)
        for b in bounds.values():
            rows += np.diff(b)
        self.has_rows: npt.NDArray[np.bool_] = rows > 0
        # customers whose latest state this segment holds (cleared as later segments supersede them)
        self.alive: npt.NDArray[np.bool_] = self.has_rows.copy()
        self.live = int(self.has_rows.sum())

    @classmethod
    def from_state(cls, key: str, customers: npt.NDArray[Any], state: EngineState) -> _Segment:
        """The rows of ``state`` grouped by their customer's position in ``customers`` (sorted)."""
        columns: dict[str, dict[str, npt.NDArray[Any]]] = {}
        bounds: dict[str, npt.NDArray[np.int64]] = {}
        for table, fields in _TABLES.items():
            cust = getattr(state, _CUSTOMER_FIELD[table])
            if cust.size and cust.dtype.kind != customers.dtype.kind:
                cust = cust.astype(str).astype(customers.dtype)
            pos = np.searchsorted(customers, cust) if cust.size else np.zeros(0, np.int64)
            order = np.argsort(pos, kind="stable")
            columns[table] = {name: getattr(state, name)[order] for name, _ in fields}
            counts = np.bincount(pos, minlength=customers.size) if customers.size else np.zeros(0, np.int64)
            bounds[table] = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        return cls(key, customers, columns, bounds)

    def to_bytes(self) -> bytes:
        """A JSON header (text vocabularies, array layout) followed by the numeric buffers."""
        arrays: list[npt.NDArray[Any]] = []
        layout: list[list[Any]] = []
        vocab: dict[str, list[str]] = {}

        def add(name: str, array: npt.NDArray[Any]) -> None:
            array = np.ascontiguousarray(array)
            layout.append([name, array.dtype.str, int(array.size)])
            arrays.append(array)

        if self.customers.dtype.kind in "iu":
            add("customers", self.customers.astype(np.int64))
        else:
            vocab["customers"] = self.customers.tolist()
        for table, fields in _TABLES.items():
            add(f"{table}.bounds", self.bounds[table])
            for name, kind in fields:
                column = self.columns[table][name]
                if kind == "text":
                    uniques, codes = factorize_text(column)
                    vocab[name] = uniques.tolist()
                    add(name, codes.astype(np.int32))
                else:
                    add(name, column.view(np.int64))
        head = json.dumps({"layout": layout, "vocab": vocab}, ensure_ascii=False, separators=(",", ":"))
        encoded = head.encode()
        return len(encoded).to_bytes(8, "little") + encoded + b"".join(a.tobytes() for a in arrays)

    @classmethod
    def from_bytes(cls, key: str, blob: bytes) -> _Segment:
        size = int.from_bytes(blob[:8], "little")
        head = json.loads(blob[8 : 8 + size].decode())
        vocab: dict[str, list[str]] = head["vocab"]
        offset = 8 + size
        arrays: dict[str, npt.NDArray[Any]] = {}
        for name, dtype, count in head["layout"]:
            dt = np.dtype(dtype)
            arrays[name] = np.frombuffer(blob, dtype=dt, count=count, offset=offset).copy()
            offset += dt.itemsize * count
        if "customers" in vocab:
            customers = np.array(vocab["customers"], dtype=STRING_DTYPE)
        else:
            customers = arrays["customers"]
        columns: dict[str, dict[str, npt.NDArray[Any]]] = {}
        bounds: dict[str, npt.NDArray[np.int64]] = {}
        for table, fields in _TABLES.items():
            bounds[table] = arrays[f"{table}.bounds"]
            columns[table] = {}
            for name, kind in fields:
                if kind == "text":
                    words = np.array(vocab[name], dtype=STRING_DTYPE)
                    columns[table][name] = words[arrays[name]] if words.size else np.empty(0, STRING_DTYPE)
                else:
                    columns[table][name] = arrays[name].view("datetime64[us]")
        return cls(key, customers, columns, bounds)


def _gather(
    parts: list[tuple[_Segment, npt.NDArray[np.int64]]], fingerprint: str, watermark: Any, keys: Any
) -> EngineState:
    """The state rows of customers ``idx`` of each segment, as one :class:`EngineState`."""
    fields: dict[str, list[npt.NDArray[Any]]] = {
        name: [] for table, cols in _TABLES.items() for name in (_CUSTOMER_FIELD[table], *dict(cols))
    }
    for seg, idx in parts:
        for table, cols in _TABLES.items():
            lo = seg.bounds[table][idx]
            length = seg.bounds[table][idx + 1] - lo
            total = int(length.sum())
            starts = np.repeat(lo - (np.cumsum(length) - length), length)
            rows = starts + np.arange(total, dtype=np.int64)
            fields.setdefault(_CUSTOMER_FIELD[table], []).append(seg.customers[np.repeat(idx, length)])
            for name, _ in cols:
                fields.setdefault(name, []).append(seg.columns[table][name][rows])
    empty = EngineState.empty(fingerprint)
    values: dict[str, Any] = {}
    for name, chunks in fields.items():
        chunks = [c for c in chunks if c.size]
        if not chunks:
            values[name] = getattr(empty, name)
        elif len({c.dtype for c in chunks}) > 1:
            values[name] = np.concatenate([c.astype(str).astype(STRING_DTYPE) for c in chunks])
        else:
            values[name] = np.concatenate(chunks)
    return EngineState(fingerprint=fingerprint, watermark=watermark, watermark_keys=keys, **values)


class CampaignEngine:
    """Evaluate events against rules with exactly-once firing and state in a campaign store.

    Parameters
    ----------
    store
        An open store (memory, SQLite or PostgreSQL); decisions go to ``store.campaigns`` and the
        consent ledger is read from it at every call, so a withdrawal is honoured from the next event
        on.
    rules
        The rule set (or its compiled form).
    name
        Name of this engine's state, so several rule sets can run against one store.
    profiles
        Customer attributes for conditions and time zones (replace with :meth:`set_profiles`).

    Raises
    ------
    ConflictError
        When the stored state belongs to a different rule set (use another ``name``, or
        :meth:`reset`).

    Examples
    --------
    >>> from omnicore import open_store
    >>> from omnicore.campaigns import RuleSet, rule, on, message
    >>> rules = RuleSet(rules=[rule("hi").when(on("signup")).first_time()
    ...                        .then(message("wecom", consent_purpose=""))])
    >>> ev = Events(customer_id=[7], event_type=["signup"], timestamp=["2024-05-01T10:00"])
    >>> with open_store("memory://") as store:
    ...     engine = CampaignEngine(store, rules)
    ...     first = engine.process(ev)
    ...     again = engine.process(ev)          # a replay: nothing new
    ...     len(first), len(again)
    (1, 0)
    """

    def __init__(
        self,
        store: Store,
        rules: RuleSet | CompiledRules,
        *,
        name: str = "default",
        profiles: Profiles | None = None,
    ) -> None:
        self._store = store
        self._compiled = rules if isinstance(rules, CompiledRules) else compile_rules(rules)
        self._namespace = f"campaigns/{name}"
        self._profiles = profiles
        self._load()

    # -- state cache -------------------------------------------------------------------------
    def _load(self) -> None:
        kv = self._store.campaigns
        meta_raw = kv.get_state(self._namespace, ["meta"]).get("meta")
        self._fingerprint = self._compiled.fingerprint
        self._watermark: int | None = None
        self._watermark_keys: frozenset[str] = frozenset()
        self._segments: dict[str, _Segment] = {}
        self._where: dict[Any, tuple[str, int]] = {}
        self._timers: list[tuple[int, Any]] = []
        self._next_segment = 0
        self._legacy: list[str] = []
        if meta_raw is None:
            return
        meta = json.loads(meta_raw)
        if meta["fingerprint"] != self._fingerprint:
            raise ConflictError(
                f"state {self._namespace!r} belongs to rule set {meta['fingerprint']}, not "
                f"{self._fingerprint}; use another name or reset()"
            )
        self._watermark = meta["watermark"]
        self._watermark_keys = frozenset(meta["watermark_keys"])
        self._next_segment = int(meta.get("next_segment", 0))
        names = list(meta.get("segments", []))
        blobs = kv.get_state(self._namespace, names) if names else {}
        for name in names:
            if name not in blobs:
                raise StorageError(f"campaign state {self._namespace!r} lost its segment {name!r}")
            self._adopt(_Segment.from_bytes(name, blobs[name]))
        legacy = kv.scan_state(self._namespace, prefix="c/")
        if legacy:  # one JSON row per customer (earlier versions): one segment, rewritten at the next commit
            self._legacy = sorted(legacy)
            state = self._legacy_state(legacy)
            customers = np.unique(state.customers())
            self._adopt(_Segment.from_state("legacy", customers, state))

    def _legacy_state(self, rows: dict[str, bytes]) -> EngineState:
        cols: dict[str, list[Any]] = {
            name: [] for table, fields in _TABLES.items() for name in (_CUSTOMER_FIELD[table], *dict(fields))
        }
        for key, value in rows.items():
            kind, _, raw = key[2:].partition(":")
            cust: Any = int(raw) if kind == "i" else raw
            row = json.loads(value)
            for slot, t in row.get("w", ()):
                cols["window_slot"].append(slot)
                cols["window_customer"].append(cust)
                cols["window_time"].append(t)
            for r in row.get("s", ()):
                cols["seen_rule"].append(r)
                cols["seen_customer"].append(cust)
            for r, k, start, due in row.get("t", ()):
                cols["timer_rule"].append(r)
                cols["timer_customer"].append(cust)
                cols["timer_event_key"].append(k)
                cols["timer_start"].append(start)
                cols["timer_due"].append(due)
            for k, t in row.get("c", ()):
                cols["cap_key"].append(k)
                cols["cap_customer"].append(cust)
                cols["cap_time"].append(t)
        values: dict[str, Any] = {}
        for table, fields in _TABLES.items():
            values[_CUSTOMER_FIELD[table]] = _ids(cols[_CUSTOMER_FIELD[table]])
            for name, kind in fields:
                if kind == "text":
                    values[name] = np.array(cols[name], dtype=STRING_DTYPE)
                else:
                    values[name] = np.array(cols[name], dtype=np.int64).view("datetime64[us]")
        return EngineState(fingerprint=self._fingerprint, **values)

    def _adopt(self, seg: _Segment, olds: list[tuple[str, int] | None] | None = None) -> None:
        """Make ``seg`` the latest state of its customers (in memory only); ``olds`` are their entries
        before it (looked up here when not given)."""
        self._segments[seg.key] = seg
        where = self._where
        segments = self._segments
        customers = seg.customers.tolist()
        if olds is None:
            olds = list(map(where.get, customers))
        superseded: dict[str, list[int]] = {}
        for old in olds:
            if old is not None and old[0] != seg.key:
                superseded.setdefault(old[0], []).append(old[1])
        for key, positions in superseded.items():
            segments[key].alive[positions] = False
            segments[key].live -= len(positions)
        has = seg.has_rows.tolist()
        entries = zip(repeat(seg.key), compress(range(len(has)), has), strict=False)  # repeat: endless
        where.update(zip(compress(customers, has), entries, strict=True))
        for cust, keep, old in zip(customers, has, olds, strict=True):
            if not keep and old is not None:
                del where[cust]
        for key in [k for k, s in segments.items() if s.live <= 0 and k != seg.key]:
            del segments[key]
        if seg.live <= 0:
            del segments[seg.key]
        self._push_timers(seg)

    def _push_timers(self, seg: _Segment) -> None:
        """Queue the segment's pending timers (by due time) for :meth:`process` to find."""
        timers = seg.columns["t"]["timer_due"]
        if timers.size:
            owners = seg.customers[np.repeat(np.arange(seg.customers.size), np.diff(seg.bounds["t"]))]
            for due, cust in zip(timers.view(np.int64).tolist(), owners.tolist(), strict=True):
                heapq.heappush(self._timers, (due, cust))

    def reset(self) -> None:
        """Delete this engine's state (not its decisions) and start afresh."""
        kv = self._store.campaigns
        keys = list(kv.scan_state(self._namespace))
        with self._store.atomic():
            kv.delete_state(self._namespace, keys)
        self._load()

    def set_profiles(self, profiles: Profiles | None) -> None:
        """Replace the profiles used from the next call on."""
        self._profiles = profiles

    @property
    def watermark(self) -> np.datetime64 | None:
        """Time up to which events have been processed."""
        return None if self._watermark is None else np.datetime64(self._watermark, "us")

    @property
    def pending_timers(self) -> int:
        """Absence timers waiting to fire or be cancelled."""
        return self.state().pending_timers

    def state(self) -> EngineState:
        """The full engine state as one :class:`EngineState` (e.g. for inspection or export)."""
        return self._state_of(list(self._where))

    # -- evaluation ----------------------------------------------------------------------------
    def process(self, events: Events, *, now: Any = None) -> Decisions:
        """Evaluate events (one or many) and commit decisions, state and checkpoint atomically.

        Parameters
        ----------
        events
            New events; those at or before the checkpoint are replays and are skipped.
        now
            Optional clock: absence timers due before it fire too.

        Returns
        -------
        Decisions
            The decisions recorded by this call (fired, deferred, held out and suppressed), each
            recorded exactly once.
        """
        times = events.timestamp.view(np.int64)
        horizon = int(times.max()) if times.size else None
        if now is not None:
            now_us = int(to_datetime64(now, field="now").view(np.int64))
            horizon = now_us if horizon is None else max(horizon, now_us)
        popped: list[tuple[int, Any]] = []
        if horizon is not None:
            while self._timers and self._timers[0][0] < horizon:
                popped.append(heapq.heappop(self._timers))
        due = [cust for _, cust in popped]
        customers = np.unique(events.customer_id) if len(events) else np.empty(0, np.int64)
        if due:
            extra = _ids(due)
            if customers.size and extra.dtype.kind != customers.dtype.kind:
                extra = extra.astype(str).astype(STRING_DTYPE)
                customers = customers.astype(str).astype(STRING_DTYPE)
            customers = np.unique(np.concatenate([customers, extra]) if customers.size else extra)
        state = self._state_of(customers.tolist())
        try:
            result = evaluate(
                self._compiled, events, profiles=self._profiles, consent=self._ledger, state=state, now=now
            )
            return self._commit(customers, result.state, result.decisions)
        except BaseException:
            for item in popped:  # nothing was committed: the due timers are still pending
                heapq.heappush(self._timers, item)
            raise

    def advance(self, now: Any) -> Decisions:
        """Move the clock to ``now`` without events: absence timers due before it fire.

        Promises that no event older than ``now`` will arrive later.
        """
        return self.process(Events.empty(), now=now)

    def _ledger(self, customer_ids: npt.NDArray[Any]) -> ConsentRecords:
        """The store's consent ledger rows of these customers, read at every call (so a withdrawal
        recorded a moment ago is honoured)."""
        return self._store.campaigns.consent_ledger(subject_ids=customer_ids)

    def _state_of(self, customers: Iterable[Any]) -> EngineState:
        by_segment: dict[str, list[int]] = {}
        for hit in map(self._where.get, customers):
            if hit is not None:
                by_segment.setdefault(hit[0], []).append(hit[1])
        parts = [
            (self._segments[key], np.array(idx, dtype=np.int64)) for key, idx in sorted(by_segment.items())
        ]
        return _gather(parts, self._fingerprint, self.watermark, self._watermark_keys)

    def _commit(self, customers: npt.NDArray[Any], state: EngineState, decisions: Decisions) -> Decisions:
        watermark = (
            None if state.watermark is None else int(state.watermark.astype("datetime64[us]").view(np.int64))
        )
        kv = self._store.campaigns
        seq = self._next_segment
        key = f"s/{seq:012d}"
        # customers this call supersedes, per segment: segments left without live customers go
        olds = list(map(self._where.get, customers.tolist()))
        drop = Counter(old[0] for old in olds if old is not None)
        live_after = [k for k, seg in self._segments.items() if seg.live - drop.get(k, 0) > 0]
        merge = bool(self._legacy) or len(live_after) + 1 > _MAX_SEGMENTS
        kept: str | None = None  # a segment left out of the merge
        if merge and not self._legacy and live_after:
            # the largest segment, when it holds at least half of the live customers, stays as it is
            # and the others are merged into one (so a merge costs what the small segments hold, not
            # the whole state; the big one is merged once it has shrunk below half)
            live = {k: self._segments[k].live - drop.get(k, 0) for k in live_after}
            biggest = max(live_after, key=lambda k: (live[k], k))
            if 2 * live[biggest] >= sum(live.values()):
                kept = biggest
        if merge:  # one segment with the latest state of every customer not in the kept segment
            parts = []
            for name, seg in sorted(self._segments.items()):
                if name == kept:
                    continue
                alive = seg.alive.copy()
                alive[[old[1] for old in olds if old is not None and old[0] == name]] = False
                parts.append((seg, np.flatnonzero(alive)))
            rest = _gather(parts, self._fingerprint, self.watermark, self._watermark_keys)
            every = _cat_ids([seg.customers[idx] for seg, idx in parts])
            if every.size and customers.size and every.dtype.kind != customers.dtype.kind:
                every = every.astype(str).astype(STRING_DTYPE)
                customers = customers.astype(str).astype(STRING_DTYPE)
            merged_customers = np.unique(np.concatenate([every, customers]) if every.size else customers)
            segment = _Segment.from_state(key, merged_customers, _concat_states(rest, state))
            deleted = sorted(k for k in self._segments if k != kept) + self._legacy
            live_after = [kept] if kept is not None else []
        else:
            segment = _Segment.from_state(key, customers, state)
            deleted = sorted(k for k in self._segments if k not in live_after)
        deleted = [k for k in deleted if k != "legacy"]
        segments_after = sorted(live_after) + ([key] if segment.live else [])
        meta = {
            "fingerprint": self._fingerprint,
            "watermark": watermark,
            "watermark_keys": sorted(state.watermark_keys),
            "segments": segments_after,
            "next_segment": seq + 1,
        }
        put = {"meta": json.dumps(meta, separators=(",", ":")).encode()}
        if segment.live:
            put[key] = segment.to_bytes()
        with self._store.atomic():
            new = (
                kv.record_decisions(decisions.to_decision_records()) if len(decisions) else np.zeros(0, bool)
            )
            kv.put_state(self._namespace, put)
            if deleted:
                kv.delete_state(self._namespace, deleted)
        # committed: update the in-memory copy
        self._watermark = watermark
        self._watermark_keys = frozenset(state.watermark_keys)
        self._next_segment = seq + 1
        if merge and kept is not None:
            merged_olds = list(map(self._where.get, segment.customers.tolist()))
            self._adopt(segment, merged_olds)  # supersedes every live customer of the merged segments
            self._segments = {k: seg for k, seg in self._segments.items() if k in (kept, segment.key)}
            self._timers = []  # the pending timers of the live segments, without stale entries
            for seg in self._segments.values():
                self._push_timers(seg)
        elif merge:
            self._segments = {}
            self._where = {}
            self._timers = []
            self._legacy = []
            self._adopt(segment)
        else:
            self._adopt(segment, olds)
        if len(decisions) and not new.all():
            logger.info("%d decisions were already recorded (replay); not returned again", int((~new).sum()))
            return decisions.take(np.flatnonzero(new))
        return decisions


def _cat_ids(parts: list[npt.NDArray[Any]]) -> npt.NDArray[Any]:
    parts = [p for p in parts if p.size]
    if not parts:
        return np.empty(0, np.int64)
    if len({p.dtype.kind for p in parts}) > 1:
        parts = [p.astype(str).astype(STRING_DTYPE) for p in parts]
    return np.concatenate(parts)


def _concat_states(a: EngineState, b: EngineState) -> EngineState:
    values: dict[str, Any] = {}
    for table, fields in _TABLES.items():
        for name in (_CUSTOMER_FIELD[table], *(f for f, _ in fields)):
            x, y = getattr(a, name), getattr(b, name)
            if x.size and y.size and x.dtype != y.dtype:
                x, y = x.astype(str).astype(STRING_DTYPE), y.astype(str).astype(STRING_DTYPE)
            values[name] = np.concatenate([x, y]) if x.size else y
    return EngineState(
        fingerprint=b.fingerprint, watermark=b.watermark, watermark_keys=b.watermark_keys, **values
    )
