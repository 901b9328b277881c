"""Contract: tenant isolation (every concern) and atomicity (nothing half-written)."""

from __future__ import annotations

import numpy as np
import pytest

from omnicore import ConflictError, Events, IdentifierRecords, Inventory, Transactions, ValidationError
from omnicore.storage import (
    AuditEntry,
    ConsentRecords,
    DecisionRecords,
    InsufficientStockError,
    ReservationLine,
)

T0 = np.datetime64("2024-08-01T00:00:00", "us")


def _fill(store, customer: int) -> None:
    """Write one row of every concern, keyed the same way in every tenant."""
    store.transactions.append(Transactions(customer_id=[customer], timestamp=[T0], amount=[10.0]))
    store.events.append(
        Events(
            customer_id=[customer], event_type=["browse"], timestamp=[T0], properties={"v": [float(customer)]}
        )
    )
    store.identity.append_records(
        IdentifierRecords(record_id=["r1"], source=["pos"], id_type=["phone"], value=["1"], observed_at=[T0])
    )
    store.identity.assign(["phone"], ["1"], [customer])
    store.inventory.put(Inventory(sku=["A"], node=["N"], on_hand=[customer]))
    store.inventory.reserve("o1", [ReservationLine("A", "N", 1)], ttl_seconds=3600, now=T0)
    store.campaigns.record_decisions(
        DecisionRecords(
            decision_key=["k1"],
            rule_id=["r"],
            customer_id=[customer],
            channel=["sms"],
            status=["fired"],
            decided_at=[T0],
            send_at=[T0],
            reason=[""],
        )
    )
    store.campaigns.record_consent(
        ConsentRecords(subject_id=[customer], purpose=["sms"], granted=[True], recorded_at=[T0], source=[""])
    )
    store.campaigns.put_state("ns", {"key": str(customer).encode()})
    store.audit.append([AuditEntry(at=T0, actor=f"actor{customer}", action="test.fill")])


def _seen(store) -> dict[str, object]:
    return {
        "transactions": store.transactions.load().customer_id.tolist(),
        "events": store.events.load().properties["v"].tolist() if store.events.count() else [],
        "records": store.identity.records().record_id.tolist(),
        "members": store.identity.members()[2].tolist(),
        "on_hand": store.inventory.get(now=T0).on_hand.tolist(),
        "reservations": [r.order_id for r in store.inventory.active(now=T0)],
        "decisions": store.campaigns.decisions().customer_id.tolist(),
        "consent": store.campaigns.consent_ledger().subject_id.tolist(),
        "state": store.campaigns.scan_state("ns"),
        "audit": [e.actor for e in store.audit.entries()],
    }


def test_tenants_never_see_each_other(store, other) -> None:
    _fill(store, 5)
    empty = _seen(other)
    assert all(not v for v in empty.values()), empty
    _fill(other, 7)  # the same keys (order o1, decision k1, record r1) live independently
    assert _seen(store) == {
        "transactions": [5],
        "events": [5.0],
        "records": ["r1"],
        "members": [5],
        "on_hand": [5],
        "reservations": ["o1"],
        "decisions": [5],
        "consent": [5],
        "state": {"key": b"5"},
        "audit": ["actor5"],
    }
    assert _seen(other)["members"] == [7]
    assert other.campaigns.record_decisions(
        DecisionRecords(
            decision_key=["k1"],
            rule_id=["r"],
            customer_id=[7],
            channel=["sms"],
            status=["fired"],
            decided_at=[T0],
            send_at=[T0],
            reason=[""],
        )
    ).tolist() == [False]
    # erasing in one tenant leaves the other untouched
    other.transactions.erase_customers([5, 7])
    other.events.erase_customers([5, 7])
    other.campaigns.erase_customers([5, 7])
    other.identity.erase_customer(5)
    other.identity.erase_customer(7)
    other.inventory.release("o1")
    assert _seen(store)["transactions"] == [5]
    assert _seen(store)["members"] == [5]
    assert _seen(store)["decisions"] == [5]
    assert _seen(store)["reservations"] == ["o1"]
    assert (
        store.identity.allocate_customer_ids(1).tolist() == other.identity.allocate_customer_ids(1).tolist()
    )


def test_id_kinds_are_per_tenant(store, other) -> None:
    store.transactions.append(Transactions(customer_id=[1], timestamp=[T0], amount=[1.0]))
    other.transactions.append(Transactions(customer_id=["c1"], timestamp=[T0], amount=[1.0]))
    assert store.transactions.load().customer_id.dtype == np.int64
    assert other.transactions.load().customer_id.tolist() == ["c1"]


def test_atomic_rolls_back_every_concern(store) -> None:
    def fill_then_fail() -> None:
        with store.atomic():
            _fill(store, 3)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        fill_then_fail()
    assert all(not v for v in _seen(store).values())
    with store.atomic():
        _fill(store, 3)
    assert _seen(store)["transactions"] == [3]


def test_a_failing_call_inside_atomic_undoes_only_itself(store) -> None:
    store.inventory.put(Inventory(sku=["A", "B"], node=["N", "N"], on_hand=[5, 1]))
    with store.atomic():
        store.inventory.reserve("o1", [ReservationLine("A", "N", 2)], ttl_seconds=60, now=T0)
        with pytest.raises(InsufficientStockError):
            store.inventory.reserve(
                "o2", [ReservationLine("A", "N", 1), ReservationLine("B", "N", 2)], ttl_seconds=60, now=T0
            )
        store.transactions.append(Transactions(customer_id=[1], timestamp=[T0], amount=[1.0]))
    assert [r.order_id for r in store.inventory.active(now=T0)] == ["o1"]
    assert store.inventory.get(now=T0).reserved.tolist() == [2, 0]
    assert store.transactions.count() == 1


def test_nested_atomic_blocks(store) -> None:
    def append_then_fail() -> None:
        with store.atomic():
            store.transactions.append(Transactions(customer_id=[2], timestamp=[T0], amount=[1.0]))
            raise ValueError("inner")

    with store.atomic():
        store.transactions.append(Transactions(customer_id=[1], timestamp=[T0], amount=[1.0]))
        with pytest.raises(ValueError, match="inner"):
            append_then_fail()
    assert store.transactions.load().customer_id.tolist() == [1]


def test_failing_calls_leave_the_store_unchanged(store) -> None:
    _fill(store, 4)
    before = _seen(store)
    with pytest.raises(ValidationError):  # id kind mix
        store.transactions.append(Transactions(customer_id=["x"], timestamp=[T0], amount=[1.0]))
    with pytest.raises(ValidationError):
        store.events.append(
            Events(customer_id=[4], event_type=["b"], timestamp=[T0], properties={"v": ["t"]})
        )
    with pytest.raises(ConflictError):  # same order id, other lines
        store.inventory.reserve("o1", [ReservationLine("A", "N", 2)], ttl_seconds=60, now=T0)
    with pytest.raises(InsufficientStockError):
        store.inventory.reserve("o9", [ReservationLine("A", "N", 99)], ttl_seconds=60, now=T0)
    with pytest.raises(ValidationError):
        store.campaigns.record_decisions(
            DecisionRecords(
                decision_key=["k2"],
                rule_id=["r"],
                customer_id=["text"],
                channel=["sms"],
                status=["fired"],
                decided_at=[T0],
                send_at=[T0],
                reason=[""],
            )
        )
    with pytest.raises(ValidationError):
        store.campaigns.put_state("ns", {"key": b"ok", "bad": 3})  # type: ignore[dict-item]
    with pytest.raises(ValidationError):
        store.identity.assign(["phone", "email"], ["1", "e"], [1.5, 2.5])
    assert _seen(store) == before


NASTY = ["o'brien", "'; DROP TABLE oc_transactions; --", "100%", "%s", "?", "名字", 'quote"d', "back\\slash"]


def test_values_are_bound_never_spliced(store, other) -> None:
    n = len(NASTY)
    store.transactions.append(
        Transactions(customer_id=NASTY, timestamp=[T0] * n, amount=np.ones(n), channel=NASTY)
    )
    loaded = store.transactions.load(customer_ids=NASTY[:3])
    assert sorted(loaded.customer_id.tolist()) == sorted(NASTY[:3])
    assert store.transactions.load().channel.tolist() == NASTY
    store.campaigns.put_state(NASTY[1], {k: k.encode() for k in NASTY})
    assert store.campaigns.get_state(NASTY[1], NASTY) == {k: k.encode() for k in NASTY}
    assert store.campaigns.scan_state(NASTY[1], prefix="%") == {"%s": b"%s"}  # a prefix, not a LIKE pattern
    store.identity.assign(NASTY, NASTY, np.arange(n))
    assert store.identity.lookup(NASTY, NASTY).tolist() == list(range(n))
    assert other.transactions.count() == 0
    assert store.transactions.count() == n
