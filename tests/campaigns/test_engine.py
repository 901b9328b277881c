"""The store-aware engine: streaming == batch, crash-restart without loss or duplicates, replays."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from omnicore import ConflictError
from omnicore.campaigns import CampaignEngine, Decisions, RuleSet, compile_rules, evaluate, message, on, rule
from omnicore.data import Events
from omnicore.storage import ConsentRecords
from tests.campaigns._fake_store import CrashError, FakeStore
from tests.campaigns._fixtures import T0, full_ruleset, ledger, profiles, random_events

NOW = T0 + np.timedelta64(5, "D")
COMPILED = compile_rules(full_ruleset())

BACKENDS = ["fake"]
if importlib.util.find_spec("omnicore.storage.memory") is not None:
    BACKENDS += ["memory"]
if importlib.util.find_spec("omnicore.storage.sqlite") is not None:
    BACKENDS += ["sqlite"]


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    if request.param == "fake":
        yield FakeStore()
        return
    from omnicore import open_store

    url = "memory://" if request.param == "memory" else f"sqlite:///{tmp_path / 'c.db'}"
    with open_store(url, tenant="t1") as opened:
        yield opened


def _keys(parts: list[Decisions]) -> list[tuple[str, str]]:
    return [(k, s) for p in parts for k, s in zip(p.decision_key.tolist(), p.status.tolist(), strict=True)]


def test_one_event_at_a_time_with_restarts_equals_batch(store: Any) -> None:
    events = random_events(np.random.default_rng(11), 250)
    whole = evaluate(COMPILED, events, profiles=profiles(), consent=ledger(), now=NOW).decisions
    store.campaigns.record_consent(ledger())
    engine = CampaignEngine(store, COMPILED, profiles=profiles())
    parts = []
    for i in range(len(events)):
        parts.append(engine.process(events.take([i])))
        if i % 60 == 59:  # restart from the store
            engine = CampaignEngine(store, COMPILED, profiles=profiles())
    parts.append(engine.advance(NOW))
    assert _keys(parts) == _keys([whole])
    recorded = store.campaigns.decisions()
    assert sorted(recorded.decision_key.tolist()) == sorted(whole.decision_key.tolist())


def test_crash_inside_the_transaction_loses_and_duplicates_nothing() -> None:
    store = FakeStore()
    store.campaigns.record_consent(ledger())
    events = random_events(np.random.default_rng(5), 200)
    whole = evaluate(COMPILED, events, profiles=profiles(), consent=ledger(), now=NOW).decisions
    engine = CampaignEngine(store, COMPILED, profiles=profiles())
    parts = []
    for a in range(0, len(events), 20):
        chunk = events.take(np.arange(a, min(a + 20, len(events))))
        store.campaigns.fail_on_put = True  # decisions are written first, then the state write fails
        with pytest.raises(CrashError):
            engine.process(chunk)
        store.campaigns.fail_on_put = False
        if a % 40 == 0:  # sometimes the process dies too: restart from the store
            engine = CampaignEngine(store, COMPILED, profiles=profiles())
        parts.append(engine.process(chunk))
    parts.append(engine.advance(NOW))
    assert _keys(parts) == _keys([whole])
    assert len(store.campaigns.keys) == len(whole)


def test_replayed_log_fires_once(store: Any) -> None:
    store.campaigns.record_consent(ledger())
    events = random_events(np.random.default_rng(2), 200)
    engine = CampaignEngine(store, COMPILED, profiles=profiles())
    first = engine.process(events, now=NOW)
    assert len(first) > 0
    assert len(engine.process(events)) == 0
    restarted = CampaignEngine(store, COMPILED, profiles=profiles())
    assert len(restarted.process(events)) == 0
    assert len(store.campaigns.decisions()) == len(first)


def test_withdrawal_in_the_store_is_honoured_from_the_next_event(store: Any) -> None:
    rules = RuleSet(rules=[rule("b").when(on("browse")).then(message("push"))])
    grant = ConsentRecords(
        subject_id=[1], purpose=["marketing"], granted=[True], recorded_at=["2024-01-01"], source=["app"]
    )
    store.campaigns.record_consent(grant)
    engine = CampaignEngine(store, rules)
    ev = lambda t: Events(customer_id=[1], event_type=["browse"], timestamp=[t])  # noqa: E731
    assert engine.process(ev("2024-05-01T10:00")).status.tolist() == ["fired"]
    store.campaigns.record_consent(
        ConsentRecords(
            subject_id=[1],
            purpose=["marketing"],
            granted=[False],
            recorded_at=["2024-05-01T10:01"],
            source=["unsubscribe_link"],
        )
    )
    assert engine.process(ev("2024-05-01T10:02")).status.tolist() == ["suppressed_consent"]


def test_state_of_another_ruleset_conflicts(store: Any) -> None:
    engine = CampaignEngine(store, COMPILED, name="x")
    engine.process(random_events(np.random.default_rng(1), 10))
    other = RuleSet(rules=[rule("b").when(on("browse")).then(message("push"))])
    with pytest.raises(ConflictError):
        CampaignEngine(store, other, name="x")
    CampaignEngine(store, other, name="y")  # another name is fine
    engine.reset()
    CampaignEngine(store, other, name="x")


def test_state_segments_are_merged_and_nothing_is_orphaned(store: Any) -> None:
    import json

    from omnicore.campaigns._engine import _MAX_SEGMENTS

    events = random_events(np.random.default_rng(21), 120)
    whole = evaluate(COMPILED, events, profiles=profiles(), consent=ledger(), now=NOW).decisions
    store.campaigns.record_consent(ledger())
    engine = CampaignEngine(store, COMPILED, profiles=profiles(), name="seg")
    parts = []
    for a in range(0, len(events), 2):  # 60 commits: more than the segments kept before a merge
        parts.append(engine.process(events.take(np.arange(a, min(a + 2, len(events))))))
        if a % 50 == 48:
            engine = CampaignEngine(store, COMPILED, profiles=profiles(), name="seg")
        stored = store.campaigns.scan_state("campaigns/seg")
        meta = json.loads(stored["meta"])
        assert sorted(stored) == sorted(["meta", *meta["segments"]])  # every segment is live and listed
        assert len(meta["segments"]) <= _MAX_SEGMENTS
    parts.append(engine.advance(NOW))
    assert _keys(parts) == _keys([whole])
    assert engine.state().pending_timers == 0


def test_state_of_the_per_customer_layout_is_migrated(store: Any) -> None:
    """Stores written by the earlier layout (one JSON row per customer under ``c/``) carry on exactly."""
    import json

    events = random_events(np.random.default_rng(8), 160)
    first, second = events.take(np.arange(80)), events.take(np.arange(80, 160))
    done = evaluate(COMPILED, first, profiles=profiles(), consent=ledger())
    rest = evaluate(COMPILED, second, profiles=profiles(), consent=ledger(), state=done.state, now=NOW)
    st = done.state
    rows: dict[str, dict[str, list[Any]]] = {}

    def put(customers: Any, kind: str, values: list[Any]) -> None:
        for cust, value in zip(customers.tolist(), values, strict=True):
            rows.setdefault(f"c/i:{cust}", {}).setdefault(kind, []).append(value)

    put(
        st.window_customer,
        "w",
        [list(x) for x in zip(st.window_slot.tolist(), st.window_time.view(np.int64).tolist(), strict=True)],
    )
    put(st.seen_customer, "s", st.seen_rule.tolist())
    timers = zip(
        st.timer_rule.tolist(),
        st.timer_event_key.tolist(),
        st.timer_start.view(np.int64).tolist(),
        st.timer_due.view(np.int64).tolist(),
        strict=True,
    )
    put(st.timer_customer, "t", [list(x) for x in timers])
    put(
        st.cap_customer,
        "c",
        [list(x) for x in zip(st.cap_key.tolist(), st.cap_time.view(np.int64).tolist(), strict=True)],
    )
    meta = {
        "fingerprint": COMPILED.fingerprint,
        "watermark": int(st.watermark.astype("datetime64[us]").view(np.int64)),
        "watermark_keys": sorted(st.watermark_keys),
    }
    items = {k: json.dumps(v).encode() for k, v in rows.items()}
    items["meta"] = json.dumps(meta).encode()
    with store.atomic():
        store.campaigns.put_state("campaigns/default", items)
    store.campaigns.record_consent(ledger())
    engine = CampaignEngine(store, COMPILED, profiles=profiles())
    got = Decisions.concat([engine.process(second), engine.advance(NOW)])
    assert _keys([got]) == _keys([rest.decisions])
    assert not any(k.startswith("c/") for k in store.campaigns.scan_state("campaigns/default"))
