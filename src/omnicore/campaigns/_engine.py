"""The store-aware shell: streaming (and batch) evaluation with state in the campaign store.

Each call to :meth:`CampaignEngine.process` or :meth:`CampaignEngine.advance` loads the state of the
customers it touches, runs the pure :func:`~omnicore.campaigns.evaluate`, and writes the new decisions,
their state and the checkpoint (watermark) in **one** store transaction. A crash before the commit
leaves the store as it was, so re-sending the same events gives the same decisions; a crash after it
makes a re-send a replay, which the watermark skips and the decision keys deduplicate. Either way no
firing is lost or duplicated.

State layout in the key-value store (namespace ``campaigns/<name>``): ``meta`` holds the rule set
fingerprint, the watermark and the keys of the events at the watermark; ``c/<i|s>:<customer>`` holds
one customer's window rows, first-time flags, pending absence timers and recent accepted decisions
as compact JSON.
"""

from __future__ import annotations

import heapq
import json
import logging
from collections.abc import Iterable
from typing import Any

import numpy as np
import numpy.typing as npt

from omnicore._errors import ConflictError
from omnicore.campaigns._evaluate import CompiledRules, compile_rules, evaluate
from omnicore.campaigns._profiles import Profiles
from omnicore.campaigns._rules import RuleSet
from omnicore.campaigns._state import Decisions, EngineState
from omnicore.data import STRING_DTYPE, Events, to_datetime64
from omnicore.storage import ConsentRecords, Store

__all__ = ["CampaignEngine"]

logger = logging.getLogger(__name__)

_Row = dict[str, list[Any]]


def _customer_key(customer: Any) -> str:
    if isinstance(customer, int | np.integer):
        return f"c/i:{int(customer)}"
    return f"c/s:{customer}"


def _customer_of(key: str) -> Any:
    kind, _, value = key[2:].partition(":")
    return int(value) if kind == "i" else value


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
        if meta_raw is not None:
            meta = json.loads(meta_raw)
            if meta["fingerprint"] != self._fingerprint:
                raise ConflictError(
                    f"state {self._namespace!r} belongs to rule set {meta['fingerprint']}, not "
                    f"{self._fingerprint}; use another name or reset()"
                )
            self._watermark = meta["watermark"]
            self._watermark_keys = frozenset(meta["watermark_keys"])
        self._customers: dict[str, _Row] = {}
        self._timers: list[tuple[int, str]] = []
        for key, value in kv.scan_state(self._namespace, prefix="c/").items():
            row = json.loads(value)
            self._customers[key] = row
            for _, _, _, due in row.get("t", ()):
                heapq.heappush(self._timers, (due, key))

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
        return sum(len(row.get("t", ())) for row in self._customers.values())

    def state(self) -> EngineState:
        """The full engine state as one :class:`EngineState` (e.g. for inspection or export)."""
        return self._state_of(list(self._customers))

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
        involved = set()
        if len(events):
            involved = {_customer_key(c) for c in np.unique(events.customer_id).tolist()}
        if horizon is not None:
            while self._timers and self._timers[0][0] < horizon:
                involved.add(heapq.heappop(self._timers)[1])
        keys = sorted(involved)
        state = self._state_of(keys)
        result = evaluate(
            self._compiled, events, profiles=self._profiles, consent=self._ledger, state=state, now=now
        )
        return self._commit(keys, result.state, result.decisions)

    def advance(self, now: Any) -> Decisions:
        """Move the clock to ``now`` without events: absence timers due before it fire.

        Promises that no event older than ``now`` will arrive later.
        """
        return self.process(Events.empty(), now=now)

    def _ledger(self, customer_ids: npt.NDArray[Any]) -> ConsentRecords:
        """The store's consent ledger rows of these customers, read at every call (so a withdrawal
        recorded a moment ago is honoured)."""
        return self._store.campaigns.consent_ledger(subject_ids=customer_ids)

    def _state_of(self, keys: Iterable[str]) -> EngineState:
        w_slot: list[str] = []
        w_cust: list[Any] = []
        w_time: list[int] = []
        s_rule: list[str] = []
        s_cust: list[Any] = []
        t_rule: list[str] = []
        t_cust: list[Any] = []
        t_key: list[str] = []
        t_start: list[int] = []
        t_due: list[int] = []
        c_key: list[str] = []
        c_cust: list[Any] = []
        c_time: list[int] = []
        for key in keys:
            row = self._customers.get(key)
            if row is None:
                continue
            cust = _customer_of(key)
            for slot, t in row.get("w", ()):
                w_slot.append(slot)
                w_cust.append(cust)
                w_time.append(t)
            for r in row.get("s", ()):
                s_rule.append(r)
                s_cust.append(cust)
            for r, k, start, due in row.get("t", ()):
                t_rule.append(r)
                t_cust.append(cust)
                t_key.append(k)
                t_start.append(start)
                t_due.append(due)
            for k, t in row.get("c", ()):
                c_key.append(k)
                c_cust.append(cust)
                c_time.append(t)

        def ids(values: list[Any]) -> npt.NDArray[Any]:
            if values and not all(isinstance(v, int) for v in values):
                return np.array([str(v) for v in values], dtype=STRING_DTYPE)
            return np.array(values, dtype=np.int64)

        def text(values: list[str]) -> npt.NDArray[Any]:
            return np.array(values, dtype=STRING_DTYPE)

        def time(values: list[int]) -> npt.NDArray[np.datetime64]:
            return np.array(values, dtype=np.int64).view("datetime64[us]")

        return EngineState(
            fingerprint=self._fingerprint,
            watermark=self.watermark,
            watermark_keys=self._watermark_keys,
            window_slot=text(w_slot),
            window_customer=ids(w_cust),
            window_time=time(w_time),
            seen_rule=text(s_rule),
            seen_customer=ids(s_cust),
            timer_rule=text(t_rule),
            timer_customer=ids(t_cust),
            timer_event_key=text(t_key),
            timer_start=time(t_start),
            timer_due=time(t_due),
            cap_key=text(c_key),
            cap_customer=ids(c_cust),
            cap_time=time(c_time),
        )

    def _split(self, state: EngineState, keys: list[str]) -> dict[str, _Row]:
        rows: dict[str, _Row] = {k: {} for k in keys}

        def put(customers: npt.NDArray[Any], kind: str, values: list[Any]) -> None:
            for cust, value in zip(customers.tolist(), values, strict=True):
                rows.setdefault(_customer_key(cust), {}).setdefault(kind, []).append(value)

        put(
            state.window_customer,
            "w",
            [
                list(x)
                for x in zip(
                    state.window_slot.tolist(), state.window_time.view(np.int64).tolist(), strict=True
                )
            ],
        )
        put(state.seen_customer, "s", state.seen_rule.tolist())
        put(
            state.timer_customer,
            "t",
            [
                list(x)
                for x in zip(
                    state.timer_rule.tolist(),
                    state.timer_event_key.tolist(),
                    state.timer_start.view(np.int64).tolist(),
                    state.timer_due.view(np.int64).tolist(),
                    strict=True,
                )
            ],
        )
        put(
            state.cap_customer,
            "c",
            [
                list(x)
                for x in zip(state.cap_key.tolist(), state.cap_time.view(np.int64).tolist(), strict=True)
            ],
        )
        return rows

    def _commit(self, keys: list[str], state: EngineState, decisions: Decisions) -> Decisions:
        rows = self._split(state, keys)
        watermark = (
            None if state.watermark is None else int(state.watermark.astype("datetime64[us]").view(np.int64))
        )
        meta = {
            "fingerprint": self._fingerprint,
            "watermark": watermark,
            "watermark_keys": sorted(state.watermark_keys),
        }
        kv = self._store.campaigns
        put = {
            k: json.dumps(v, separators=(",", ":"), ensure_ascii=False).encode() for k, v in rows.items() if v
        }
        gone = [k for k, v in rows.items() if not v and k in self._customers]
        put["meta"] = json.dumps(meta, separators=(",", ":")).encode()
        with self._store.atomic():
            new = (
                kv.record_decisions(decisions.to_decision_records()) if len(decisions) else np.zeros(0, bool)
            )
            kv.put_state(self._namespace, put)
            if gone:
                kv.delete_state(self._namespace, gone)
        # committed: update the cache
        self._watermark = watermark
        self._watermark_keys = frozenset(state.watermark_keys)
        for key, row in rows.items():
            if row:
                self._customers[key] = row
                for _, _, _, due in row.get("t", ()):
                    heapq.heappush(self._timers, (due, key))
            else:
                self._customers.pop(key, None)
        if len(decisions) and not new.all():
            logger.info("%d decisions were already recorded (replay); not returned again", int((~new).sum()))
            return decisions.take(np.flatnonzero(new))
        return decisions
