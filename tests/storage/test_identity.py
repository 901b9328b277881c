"""Contract: the identity store (records, links, customer ids, assignments, history, erasure)."""

from __future__ import annotations

import numpy as np
import pytest

from omnicore import IdentifierRecords, ValidationError
from omnicore.storage import IdentityLinks, MergeEvents

T0 = np.datetime64("2024-05-01T00:00:00", "us")


def _records() -> IdentifierRecords:
    return IdentifierRecords(
        record_id=["pos-1", "pos-1", "web-9", "web-9", "mp-3"],
        source=["pos", "pos", "online", "online", "mini_program"],
        id_type=["member_card", "phone", "phone", "email", "wechat_openid"],
        value=["MC1", "13800138000", "13800138000", "a@x.cn", "oX1"],
        observed_at=[T0, T0, T0 + 1, T0 + 1, T0 + 2],
    )


def _links(n: int = 2, *, accepted: bool = True) -> IdentityLinks:
    return IdentityLinks(
        left_type=["phone"] * n,
        left_value=[f"1380013800{i}" for i in range(n)],
        right_type=["email"] * n,
        right_value=[f"p{i}@x.cn" for i in range(n)],
        kind=["deterministic"] * n,
        probability=[1.0] * n,
        record_id=[f"web-{i}" for i in range(n)],
        accepted=[accepted] * n,
        reason=[""] * n,
        created_at=[T0] * n,
    )


def test_records_by_record_id_and_by_identifier(store) -> None:
    recs = _records()
    assert store.identity.append_records(recs) == 5
    assert store.identity.records() == recs
    assert store.identity.records(record_ids=["web-9"]) == recs.take([2, 3])
    carrying_phone = store.identity.records(id_type=["phone"], value=["13800138000"])
    assert carrying_phone == recs.take([1, 2])
    assert len(store.identity.records(record_ids=["nope"])) == 0
    with pytest.raises(ValidationError):
        store.identity.records(id_type=["phone"])


def test_integer_record_ids_keep_their_type(store) -> None:
    recs = IdentifierRecords(
        record_id=[10, 10],
        source=["pos"] * 2,
        id_type=["phone", "email"],
        value=["1", "e"],
        observed_at=[T0] * 2,
    )
    store.identity.append_records(recs)
    assert store.identity.records(record_ids=[10]).record_id.dtype == np.int64
    with pytest.raises(ValidationError):
        store.identity.append_records(_records())
    assert len(store.identity.records()) == 2


def test_links_are_stored_once_and_found_from_either_side(store) -> None:
    assert store.identity.append_links(_links(3)) == 3
    assert store.identity.append_links(_links(3)) == 0
    assert len(store.identity.links()) == 3
    touching = store.identity.links(id_type=["email", "phone"], value=["p1@x.cn", "13800138002"])
    assert sorted(touching.record_id.tolist()) == ["web-1", "web-2"]
    refused = _links(1, accepted=False)
    refused = IdentityLinks(
        **{**{k: getattr(refused, k) for k in IdentityLinks.column_names()}, "kind": ["manual"]}
    )
    store.identity.append_links(refused)
    assert len(store.identity.links(accepted=False)) == 1
    assert len(store.identity.links(accepted=True)) == 3
    assert store.identity.remove_links(_links(2)) == 2
    assert store.identity.links(accepted=True).record_id.tolist() == ["web-2"]


def test_customer_ids_are_never_reused(store, other) -> None:
    first = store.identity.allocate_customer_ids(3)
    second = store.identity.allocate_customer_ids(2)
    assert first.dtype == np.int64
    assert len(set(first.tolist()) | set(second.tolist())) == 5
    assert second.min() > first.max()
    assert other.identity.allocate_customer_ids(1).tolist() == [1]  # per-tenant sequence
    assert len(store.identity.allocate_customer_ids(0)) == 0
    with pytest.raises(ValidationError):
        store.identity.allocate_customer_ids(-1)


def test_assign_lookup_members(store) -> None:
    types = np.array(["phone", "email", "phone"])
    values = np.array(["1", "a@x", "2"])
    assert store.identity.assign(types, values, [7, 7, 8]) == 3
    got = store.identity.lookup(["phone", "email", "phone", "phone"], ["2", "a@x", "1", "unknown"])
    assert got.tolist() == [8, 7, 7, -1]
    store.identity.assign(["phone"], ["2"], [7])  # overwrite: a merge
    id_type, value, customer = store.identity.members([7])
    assert list(zip(id_type.tolist(), value.tolist(), customer.tolist(), strict=True)) == [
        ("email", "a@x", 7),
        ("phone", "1", 7),
        ("phone", "2", 7),
    ]
    assert len(store.identity.members()[0]) == 3
    with pytest.raises(ValidationError):
        store.identity.assign(["phone"], ["1", "2"], [1, 2])
    assert store.identity.lookup([], []).tolist() == []


def test_history_since(store) -> None:
    events = MergeEvents(
        at=[T0, T0 + np.timedelta64(1, "h"), T0 + np.timedelta64(2, "h")],
        kind=["create", "merge", "split"],
        from_customer=[-1, 2, 1],
        to_customer=[1, 1, 3],
        reason=["", "phone 1", ""],
    )
    assert store.identity.append_history(events) == 3
    assert store.identity.history() == events
    assert store.identity.history(since=T0 + np.timedelta64(1, "h")) == events.take([1, 2])


def test_erase_customer(store) -> None:
    store.identity.append_records(_records())
    store.identity.assign(["phone", "member_card", "wechat_openid"], ["13800138000", "MC1", "oX1"], [1, 1, 2])
    store.identity.append_links(
        IdentityLinks(
            left_type=["member_card", "wechat_openid"],
            left_value=["MC1", "oX1"],
            right_type=["phone", "email"],
            right_value=["13800138000", "zz"],
            kind=["deterministic"] * 2,
            probability=[1.0, 1.0],
            record_id=["pos-1", "mp-3"],
            accepted=[True, True],
            reason=["", ""],
            created_at=[T0, T0],
        )
    )
    counts = store.identity.erase_customer(1)
    assert dict(counts) == {"identifiers": 2, "links": 1, "records": 4}
    assert store.identity.lookup(["phone", "wechat_openid"], ["13800138000", "oX1"]).tolist() == [-1, 2]
    assert store.identity.records().record_id.tolist() == ["mp-3"]
    assert len(store.identity.links()) == 1
    last = store.identity.history()
    assert last.kind.tolist() == ["erase"]
    assert last.from_customer.tolist() == [1]


def test_lookup_of_long_text_identifiers(store) -> None:
    # numpy 2.4's StringDType searchsorted goes wrong past 15 bytes; lookups must not.
    values = np.array([f"+8613900{i:06d}@household.example.cn" for i in range(300)])
    store.identity.assign(np.full(300, "email"), values, np.arange(1, 301))
    got = store.identity.lookup(np.full(300, "email"), values[::-1].copy())
    assert got.tolist() == list(range(300, 0, -1))


def test_unassigned_identifiers_are_no_ones_members(store) -> None:
    store.identity.assign(["phone", "phone"], ["1", "2"], [5, -1])
    assert store.identity.members()[1].tolist() == ["1"]
    assert store.identity.lookup(["phone"], ["2"]).tolist() == [-1]
