"""Contract: decision log (exactly-once), consent ledger, key-value state, audit log."""

from __future__ import annotations

import numpy as np
import pytest

from omnicore import StorageError, ValidationError
from omnicore.storage import AuditEntry, ConsentRecords, DecisionRecords

T0 = np.datetime64("2024-06-01T00:00:00", "us")


def _decisions(keys: list[str], customers: list[int] | None = None) -> DecisionRecords:
    n = len(keys)
    return DecisionRecords(
        decision_key=keys,
        rule_id=[k.split("|")[0] for k in keys],
        customer_id=customers if customers is not None else list(range(n)),
        channel=["sms"] * n,
        status=["fired"] * n,
        decided_at=T0 + np.arange(n).astype("timedelta64[m]"),
        send_at=T0 + np.arange(n).astype("timedelta64[m]"),
        reason=[""] * n,
    )


def test_record_decisions_is_exactly_once(store) -> None:
    first = store.campaigns.record_decisions(_decisions(["r1|1", "r1|2", "r1|1"], [1, 2, 1]))
    assert first.tolist() == [True, True, False]
    second = store.campaigns.record_decisions(_decisions(["r1|2", "r2|3"], [2, 3]))
    assert second.tolist() == [False, True]
    logged = store.campaigns.decisions()
    assert logged.decision_key.tolist() == ["r1|1", "r1|2", "r2|3"]
    assert logged.customer_id.dtype == np.int64


def test_decision_filters(store) -> None:
    store.campaigns.record_decisions(_decisions([f"r{i % 2}|{i}" for i in range(6)]))
    assert store.campaigns.decisions(rule_ids=["r1"]).customer_id.tolist() == [1, 3, 5]
    assert store.campaigns.decisions(customer_ids=[0, 5]).customer_id.tolist() == [0, 5]
    assert len(store.campaigns.decisions(since=T0 + np.timedelta64(4, "m"))) == 2
    assert len(store.campaigns.decisions(statuses=["held_out"])) == 0
    with pytest.raises(ValidationError):
        store.campaigns.record_decisions(_decisions(["x|1"], ["c1"]))  # type: ignore[list-item]


def test_consent_is_the_latest_record_at_or_before(store) -> None:
    ledger = ConsentRecords(
        subject_id=[1, 1, 2, 1, 3],
        purpose=["sms", "sms", "sms", "sms", "push"],
        granted=[True, False, True, True, True],
        recorded_at=[T0, T0 + 10, T0 + 5, T0 + 20, T0],
        source=["pos", "unsubscribe_link", "mini_program", "pos", "app"],
    )
    assert store.campaigns.record_consent(ledger) == 5
    at = store.campaigns.consent
    assert at([1, 2, 3, 4], "sms", at=T0 + 15).tolist() == [False, True, False, False]
    assert at([1, 2, 3, 4], "sms", at=T0 + 20).tolist() == [True, True, False, False]
    assert at([1], "sms", at=T0 - 1).tolist() == [False]
    assert at([3], "push").tolist() == [True]
    assert store.campaigns.consent_ledger(subject_ids=[1]).granted.tolist() == [True, False, True]
    assert len(store.campaigns.consent_ledger()) == 5


def test_consent_ties_go_to_the_later_append(store) -> None:
    def one(granted: bool) -> ConsentRecords:
        return ConsentRecords(
            subject_id=["u"], purpose=["sms"], granted=[granted], recorded_at=[T0], source=[""]
        )

    store.campaigns.record_consent(one(True))
    store.campaigns.record_consent(one(False))
    assert store.campaigns.consent(["u"], "sms", at=T0).tolist() == [False]


def test_state_namespaces(store) -> None:
    store.campaigns.put_state("windows", {"c1": b"\x00\x01", "c2": b"two"})
    store.campaigns.put_state("caps", {"c1": b"cap"})
    store.campaigns.put_state("windows", {"c1": b"new"})
    assert store.campaigns.get_state("windows", ["c1", "c3"]) == {"c1": b"new"}
    assert store.campaigns.scan_state("windows") == {"c1": b"new", "c2": b"two"}
    assert store.campaigns.scan_state("windows", prefix="c2") == {"c2": b"two"}
    assert store.campaigns.delete_state("windows", ["c1", "zz"]) == 1
    assert store.campaigns.get_state("caps", ["c1"]) == {"c1": b"cap"}
    with pytest.raises(ValidationError):
        store.campaigns.put_state("windows", {"c": "text"})  # type: ignore[dict-item]
    assert store.campaigns.scan_state("windows") == {"c2": b"two"}


def test_campaign_erase_customers(store) -> None:
    store.campaigns.record_decisions(_decisions(["a|1", "a|2"], [1, 2]))
    store.campaigns.record_consent(
        ConsentRecords(
            subject_id=[1, 2], purpose=["sms"] * 2, granted=[True] * 2, recorded_at=[T0] * 2, source=["", ""]
        )
    )
    assert store.campaigns.erase_customers([1]) == 2
    assert store.campaigns.decisions().customer_id.tolist() == [2]
    assert store.campaigns.consent([1, 2], "sms").tolist() == [False, True]


def test_audit_log_is_append_only(store) -> None:
    entries = [
        AuditEntry(at=T0, actor="svc", action="identity.erase", subject="42", details={"links": 3}),
        AuditEntry(at=T0 + 5, actor="ops", action="inventory.reserve", details={"orders": ["o1", "o2"]}),
    ]
    assert store.audit.append(entries) == 2
    got = store.audit.entries()
    assert [e.action for e in got] == ["identity.erase", "inventory.reserve"]
    assert got[0].details == {"links": 3}
    assert got[1].details == {"orders": ["o1", "o2"]}
    assert [e.actor for e in store.audit.entries(since=T0 + 1)] == ["ops"]
    assert len(store.audit.entries(action="identity.erase", subject="42")) == 1
    assert not any(hasattr(store.audit, name) for name in ("update", "delete", "remove", "erase"))
    db = store._db  # below the API: the database itself refuses
    for sql in ("UPDATE oc_audit SET actor = 'x'", "DELETE FROM oc_audit"):
        with pytest.raises(StorageError, match="append-only"), store.atomic():
            db.execute(sql)
    assert len(store.audit.entries()) == 2


def test_consent_of_long_text_subject_ids(store) -> None:
    subjects = np.array([f"wx-openid-oX{i:020d}" for i in range(200)])
    store.campaigns.record_consent(
        ConsentRecords(
            subject_id=subjects,
            purpose=np.full(200, "marketing_push"),
            granted=np.arange(200) % 2 == 0,
            recorded_at=np.full(200, "2024-01-01"),
            source=np.full(200, "mini_program"),
        )
    )
    got = store.campaigns.consent(subjects[::-1].copy(), "marketing_push", at="2024-02-01")
    assert got.tolist() == (np.arange(200) % 2 == 0)[::-1].tolist()
