import json

import attrs
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omnicore import NotFoundError, ValidationError
from omnicore.data import Events, IdentifierRecords, Transactions
from omnicore.identity import Identifier, add_records
from omnicore.privacy import (
    Subject,
    erase_subject,
    erase_subjects,
    export_subject,
    find_subject,
)
from omnicore.storage import ConsentRecords, DecisionRecords, Store, open_store

EMAIL_A = "ann.lee@example.com"
PHONE_A = "13912345678"
CARD_A = "MC0001"
EMAIL_B = "bo.wu@example.com"


def _records(rows: list[tuple[str, str, str, str]]) -> IdentifierRecords:
    return IdentifierRecords.from_records(
        [
            {"record_id": r, "source": s, "id_type": t, "value": v, "observed_at": "2024-01-01"}
            for r, s, t, v in rows
        ]
    )


def _people(store: Store) -> tuple[int, int, int]:
    """Ann first appears as two customers (e-mail; phone + card), merged by a later record; Bo is apart.

    Returns Ann's surviving id, the id merged into it, and Bo's id.
    """
    first = add_records(
        store,
        _records(
            [
                ("r1", "online", "email", EMAIL_A),
                ("r2", "pos", "phone", PHONE_A),
                ("r2", "pos", "member_card", CARD_A),
                ("r3", "online", "email", EMAIL_B),
            ]
        ),
    )
    ids = dict(zip(first.assignment.value.tolist(), first.assignment.customer_id.tolist(), strict=True))
    second = add_records(
        store, _records([("r4", "online", "email", EMAIL_A), ("r4", "online", "phone", PHONE_A)])
    )
    assert second.events.kind.tolist() == ["merge"]
    ann = int(second.events.to_customer[0])
    old = int(second.events.from_customer[0])
    assert {ann, old} == {ids[EMAIL_A], ids[CARD_A]}
    return ann, old, int(ids[EMAIL_B])


def _logs(store: Store, keys: dict[str, list[object]]) -> None:
    """Two purchases, one event, one decision and one consent record under each key."""
    flat = [k for ks in keys.values() for k in ks]
    store.transactions.append(
        Transactions(
            customer_id=np.array(flat * 2),
            timestamp=np.array(["2024-02-01"] * 2 * len(flat), dtype="datetime64[us]"),
            amount=np.arange(2 * len(flat), dtype=np.float64) + 1,
        )
    )
    store.events.append(
        Events(
            customer_id=np.array(flat),
            event_type=np.array(["browse"] * len(flat)),
            timestamp=np.array(["2024-02-02"] * len(flat), dtype="datetime64[us]"),
        )
    )
    store.campaigns.record_decisions(
        DecisionRecords(
            decision_key=np.array([f"d-{k}" for k in flat]),
            rule_id=np.array(["welcome"] * len(flat)),
            customer_id=np.array(flat),
            channel=np.array(["sms"] * len(flat)),
            status=np.array(["fired"] * len(flat)),
            decided_at=np.array(["2024-02-03"] * len(flat), dtype="datetime64[us]"),
            send_at=np.array(["2024-02-03"] * len(flat), dtype="datetime64[us]"),
            reason=np.array([""] * len(flat)),
        )
    )
    store.campaigns.record_consent(
        ConsentRecords(
            subject_id=np.array(flat),
            purpose=np.array(["marketing"] * len(flat)),
            granted=np.ones(len(flat), dtype=bool),
            recorded_at=np.array(["2024-01-15"] * len(flat), dtype="datetime64[us]"),
            source=np.array([""] * len(flat)),
        )
    )


def _held(store: Store) -> dict[str, int]:
    return {
        "identifiers": len(store.identity.members()[0]),
        "transactions": store.transactions.count(),
        "events": store.events.count(),
        "decisions": len(store.campaigns.decisions()),
        "consent": len(store.campaigns.consent_ledger()),
    }


def test_find_follows_the_merge_history(store: Store) -> None:
    ann, old, bo = _people(store)
    subject = find_subject(store, Identifier("member_card", CARD_A))
    assert subject.customer_id == ann
    assert subject.merged_from == (old,)
    assert subject.customer_ids == (ann, old)
    assert {(i.id_type, i.value) for i in subject.identifiers} == {
        ("email", EMAIL_A),
        ("phone", "+8613912345678"),
        ("member_card", CARD_A),
    }
    assert find_subject(store, bo).identifiers == (Identifier("email", EMAIL_B),)
    with pytest.raises(NotFoundError):
        find_subject(store, Identifier("email", "nobody@example.com"))


def test_export_holds_the_subject_and_nobody_else(store: Store) -> None:
    ann, old, bo = _people(store)
    _logs(store, {"ann": [ann, old], "bo": [bo]})
    export = export_subject(store, Identifier("phone", "+86 139 1234 5678"), now="2024-03-01")
    assert export.subject.customer_id == ann
    assert sorted(set(export.transactions.customer_id.tolist())) == sorted([ann, old])
    counts = export.counts()
    assert (counts["transactions"], counts["events"], counts["decisions"], counts["consent"]) == (4, 2, 2, 2)
    assert counts["identifiers"] == 3
    assert set(export.identifier_records.record_id.tolist()) == {"r1", "r2", "r4"}
    assert EMAIL_B not in export.to_json()
    data = json.loads(export.to_json())
    assert data["customer_id"] == ann
    assert len(data["transactions"]) == 4
    assert data["exported_at"] == "2024-03-01T00:00:00Z"
    assert [e.action for e in store.audit.entries(action="privacy.export")] == ["privacy.export"]
    assert export.audit[-1].action == "privacy.export"


def test_erasure_removes_every_trace_and_keeps_others(store: Store) -> None:
    ann, old, bo = _people(store)
    _logs(store, {"ann": [ann, old], "bo": [bo]})
    before = _held(store)
    erasure = erase_subject(store, Identifier("email", EMAIL_A), reason="ticket 17", now="2024-03-01")
    assert erasure.customer_id == ann
    assert erasure.erased_customer_ids == (ann, old)
    assert erasure.counts["identifiers"] == 3
    assert erasure.counts["records"] == 5  # identifier rows on r1, r2 (two) and r4 (two)
    assert (erasure.counts["transactions"], erasure.counts["events"], erasure.counts["campaigns"]) == (
        4,
        2,
        4,
    )
    after = _held(store)
    assert after == {
        "identifiers": before["identifiers"] - 3,
        "transactions": before["transactions"] - 4,
        "events": before["events"] - 2,
        "decisions": before["decisions"] - 2,
        "consent": before["consent"] - 2,
    }
    assert store.identity.lookup(["email", "member_card"], [EMAIL_A, CARD_A]).tolist() == [-1, -1]
    assert set(store.transactions.load().customer_id.tolist()) == {bo}
    assert find_subject(store, Identifier("email", EMAIL_B)).customer_id == bo
    (entry,) = store.audit.entries(action="privacy.erase")
    assert entry.subject == str(ann)
    assert entry.details["reason"] == "ticket 17"
    assert entry.details["transactions"] == 4
    text = json.dumps(entry.details)
    for secret in (EMAIL_A, CARD_A, "3912345678"):
        assert secret not in text
    with pytest.raises(NotFoundError):
        erase_subject(store, Identifier("email", EMAIL_A), reason="again")


def test_a_failed_batch_erases_nothing(store: Store) -> None:
    ann, old, bo = _people(store)
    _logs(store, {"ann": [ann, old], "bo": [bo]})
    before = _held(store)
    with pytest.raises(NotFoundError):
        erase_subjects(
            store, [Identifier("email", EMAIL_B), Identifier("email", "x@example.com")], reason="t"
        )
    assert _held(store) == before
    with pytest.raises(ValidationError) as raised:
        erase_subjects(store, [bo, ann], reason="t", log_keys={"transactions": "member_card"})
    assert raised.value.field == "log_keys[transactions]"
    assert _held(store) == before
    assert store.audit.entries(action="privacy.erase") == []


def test_logs_keyed_by_an_identifier_type(store: Store) -> None:
    _people(store)
    _logs(store, {"ann": [CARD_A], "bo": ["MC0002"]})
    keys = {"transactions": "member_card", "events": "member_card", "campaigns": "member_card"}
    export = export_subject(store, Identifier("email", EMAIL_A), log_keys=keys)
    assert export.transactions.customer_id.tolist() == [CARD_A, CARD_A]
    erasure = erase_subject(store, Identifier("email", EMAIL_A), reason="t", log_keys=keys)
    assert (erasure.counts["transactions"], erasure.counts["events"], erasure.counts["campaigns"]) == (
        2,
        1,
        2,
    )
    assert store.transactions.load().customer_id.tolist() == ["MC0002", "MC0002"]


def test_extra_log_ids_and_unknown_customers(store: Store) -> None:
    _logs(store, {"src": [9001, 9002]})
    subject = find_subject(store, 9001)
    assert subject.identifiers == ()
    assert subject.customer_ids == (9001,)
    erasure = erase_subject(store, attrs.evolve(subject, extra_log_ids=(9002,)), reason="t")
    assert erasure.counts["transactions"] == 4
    assert store.transactions.count() == 0


def test_pseudonymised_identifiers_are_found_by_their_raw_value(store: Store) -> None:
    key = b"tenant-secret-key-0123"
    add_records(
        store, _records([("r1", "online", "email", EMAIL_A), ("r1", "online", "phone", PHONE_A)]), key=key
    )
    subject = find_subject(store, Identifier("phone", PHONE_A), key=key)
    assert len(subject.identifiers) == 2
    assert all(len(i.value) == 64 for i in subject.identifiers)
    assert erase_subject(store, Identifier("email", EMAIL_A), reason="t", key=key).counts["identifiers"] == 2


def test_bad_requests_name_the_field() -> None:
    store = open_store("memory://privacy-bad-requests")
    with pytest.raises(ValidationError) as raised:
        erase_subjects(store, [1], reason=" ")
    assert raised.value.field == "reason"
    with pytest.raises(ValidationError) as raised:
        erase_subjects(store, [1], reason="t", log_keys={"orders": "customer_id"})
    assert raised.value.field == "log_keys"
    with pytest.raises(ValidationError) as raised:
        find_subject(store, "13912345678")  # type: ignore[arg-type]
    assert raised.value.field == "subjects"
    with pytest.raises(ValidationError):
        Subject(customer_id=1, extra_log_ids=(1.5,))  # type: ignore[arg-type]


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.integers(1, 12), min_size=1, max_size=60),
    st.sets(st.integers(1, 12), max_size=6),
)
def test_erasure_removes_exactly_the_subjects_rows(owners: list[int], erased: set[int]) -> None:
    store = open_store("memory://")
    store.transactions.append(
        Transactions(
            customer_id=np.array(owners, dtype=np.int64),
            timestamp=np.datetime64("2024-01-01", "us") + np.arange(len(owners)).astype("timedelta64[s]"),
            amount=np.ones(len(owners)),
        )
    )
    batch = erase_subjects(store, sorted(erased), reason="property")
    kept = store.transactions.load().customer_id.tolist()
    assert sorted(kept) == sorted(o for o in owners if o not in erased)
    assert batch.totals["transactions"] == len(owners) - len(kept)
    assert [e.customer_id for e in batch.erasures] == sorted(erased)
    assert [e.counts["transactions"] for e in batch.erasures] == [owners.count(c) for c in sorted(erased)]
