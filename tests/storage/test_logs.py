"""Contract: transaction and event logs (append, typed round trip, scans, erasure, bad input)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from omnicore import Events, Transactions, ValidationError
from omnicore.data import STRING_DTYPE

from .conftest import Backend

T0 = np.datetime64("2024-01-01T00:00:00", "us")


def _transactions(n: int, *, text_ids: bool = False, seed: int = 0) -> Transactions:
    rng = np.random.default_rng(seed)
    customers = rng.integers(1, 50, n)
    return Transactions(
        customer_id=customers.astype(str).astype(STRING_DTYPE) if text_ids else customers,
        timestamp=T0 + rng.integers(0, 10**6, n).astype("timedelta64[s]"),
        amount=np.round(rng.gamma(2.0, 30.0, n), 2),
        channel=rng.choice(["online", "store", "community"], n),
        order_id=rng.integers(1, 10**12, n),
        sku=np.array([f"SKU-{i}" for i in rng.integers(0, 9, n)]),
        quantity=rng.integers(1, 4, n),
    )


def _sorted(tx: Transactions) -> Transactions:
    return tx.take(np.argsort(tx.timestamp, kind="stable"))


def test_transactions_round_trip_keeps_types_and_orders_by_time(store) -> None:
    tx = _transactions(300)
    assert store.transactions.append(tx) == 300
    loaded = store.transactions.load()
    assert loaded == _sorted(tx)
    assert loaded.customer_id.dtype == np.int64
    assert loaded.order_id.dtype == np.int64
    assert loaded.sku.dtype == STRING_DTYPE
    assert store.transactions.count() == 300


def test_text_ids_read_back_as_text(store) -> None:
    tx = _transactions(50, text_ids=True)
    store.transactions.append(tx)
    loaded = store.transactions.load()
    assert loaded.customer_id.dtype == STRING_DTYPE
    assert loaded == _sorted(tx)


def test_returns_and_minimal_columns(store) -> None:
    tx = Transactions(customer_id=[5, 5], timestamp=[T0, T0 + 1], amount=[10.0, -10.0], allow_returns=True)
    store.transactions.append(tx)
    loaded = store.transactions.load()
    assert loaded == tx
    assert loaded.channel is None
    assert loaded.quantity is None


def test_mixing_id_kinds_raises_and_writes_nothing(store) -> None:
    store.transactions.append(_transactions(10))
    with pytest.raises(ValidationError, match="customer_id"):
        store.transactions.append(_transactions(10, text_ids=True))
    assert store.transactions.count() == 10


def test_changing_the_optional_columns_raises(store) -> None:
    store.transactions.append(_transactions(5))
    bare = Transactions(customer_id=[1], timestamp=[T0], amount=[1.0])
    with pytest.raises(ValidationError) as info:
        store.transactions.append(bare)
    assert info.value.field == "channel"
    assert store.transactions.count() == 5


def test_append_rejects_other_types(store) -> None:
    with pytest.raises(ValidationError):
        store.transactions.append({"customer_id": [1]})  # type: ignore[arg-type]


def test_scan_half_open_range_batches_and_customer_filter(store) -> None:
    tx = _transactions(500, seed=3)
    store.transactions.append(tx.take(np.arange(0, 250)))
    store.transactions.append(tx.take(np.arange(250, 500)))
    start, end = T0 + np.timedelta64(200_000, "s"), T0 + np.timedelta64(700_000, "s")
    batches = list(store.transactions.scan(start=start, end=end, batch_rows=64))
    assert all(len(b) <= 64 for b in batches)
    got = Transactions.concat(batches)
    expected = _sorted(tx.take((tx.timestamp >= start) & (tx.timestamp < end)))
    assert got == expected
    wanted = np.array([3, 7, 11])
    by_customer = store.transactions.load(customer_ids=wanted)
    assert by_customer == _sorted(tx.take(np.isin(tx.customer_id, wanted)))
    assert len(store.transactions.load(customer_ids=[10_000])) == 0
    assert len(store.transactions.load(customer_ids=[])) == 0


def test_scan_with_a_long_customer_list(store) -> None:
    n = 6000
    tx = Transactions(
        customer_id=np.arange(n), timestamp=T0 + np.arange(n).astype("timedelta64[s]"), amount=np.ones(n)
    )
    store.transactions.append(tx)
    wanted = np.arange(0, n, 2)  # longer than any adapter's IN list
    got = store.transactions.load(customer_ids=wanted)
    assert np.array_equal(got.customer_id, wanted)


def test_filter_of_the_wrong_id_kind_raises(store) -> None:
    store.transactions.append(_transactions(5))
    with pytest.raises(ValidationError):
        store.transactions.load(customer_ids=["1"])


def test_empty_log_loads_empty(store) -> None:
    assert len(store.transactions.load()) == 0
    assert list(store.transactions.scan()) == []
    assert store.transactions.count() == 0
    assert store.transactions.append(Transactions.empty()) == 0


def test_erase_customers(store) -> None:
    tx = _transactions(200)
    store.transactions.append(tx)
    gone = np.isin(tx.customer_id, [1, 2, 3])
    assert store.transactions.erase_customers([1, 2, 3]) == int(gone.sum())
    assert store.transactions.load() == _sorted(tx.take(~gone))


@settings(max_examples=20, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=st.lists(
        st.tuples(st.integers(-(2**62), 2**62), st.integers(0, 10**9), st.floats(-1e6, 1e6, allow_nan=False)),
        min_size=1,
        max_size=40,
    ),
    cut=st.integers(0, 40),
)
def test_any_int64_ids_and_amounts_round_trip(backend: Backend, data, cut) -> None:
    store = backend.fresh()
    ids, seconds, amounts = zip(*data, strict=True)
    tx = Transactions(
        customer_id=np.array(ids, np.int64),
        timestamp=T0 + np.array(seconds).astype("timedelta64[s]"),
        amount=np.array(amounts),
        allow_returns=True,
    )
    cut = min(cut, len(tx))
    store.transactions.append(tx.take(np.arange(cut)))
    store.transactions.append(tx.take(np.arange(cut, len(tx))))
    assert store.transactions.load() == _sorted(tx)


# -- events ------------------------------------------------------------------------------------


def _events(n: int, seed: int = 0) -> Events:
    rng = np.random.default_rng(seed)
    price = np.round(rng.gamma(2.0, 20.0, n), 2)
    price[rng.random(n) < 0.3] = np.nan
    text = rng.choice(["", "有防晒霜吗", "size M?"], n)
    return Events(
        customer_id=rng.integers(1, 30, n),
        event_type=rng.choice(["browse", "add_to_cart", "chat_message"], n),
        timestamp=T0 + rng.integers(0, 10**5, n).astype("timedelta64[s]"),
        event_id=np.array([f"ev-{seed}-{i}" for i in range(n)]),
        properties={
            "price": price,
            "text": text,
            "loyal": rng.random(n) < 0.5,
            "seen_at": T0 + rng.integers(0, 10**5, n).astype("timedelta64[s]"),
        },
    )


def test_event_properties_keep_their_types(store) -> None:
    ev = _events(300)
    store.events.append(ev)
    loaded = store.events.load()
    expected = ev.take(np.argsort(ev.timestamp, kind="stable"))
    assert loaded == expected
    assert loaded.properties["loyal"].dtype == np.bool_
    assert loaded.properties["seen_at"].dtype == np.dtype("datetime64[us]")
    assert loaded.properties["text"].dtype == STRING_DTYPE
    assert np.isnan(loaded.properties["price"]).sum() == np.isnan(ev.properties["price"]).sum()


def test_event_batches_carry_their_own_properties(store) -> None:
    ev = _events(257, seed=5)
    store.events.append(ev)
    batches = list(store.events.scan(batch_rows=50))
    assert [len(b) for b in batches] == [50] * 5 + [7]
    assert Events.concat(batches) == ev.take(np.argsort(ev.timestamp, kind="stable"))


def test_events_filters_and_missing_properties(store) -> None:
    store.events.append(_events(40, seed=1))
    bare = Events(customer_id=[99], event_type=["purchase"], timestamp=[T0], event_id=["solo"])
    store.events.append(bare)
    solo = store.events.load(event_types=["purchase"])
    assert len(solo) == 1
    assert np.isnan(solo.properties["price"][0])
    assert solo.properties["text"][0] == ""
    assert not solo.properties["loyal"][0]
    assert np.isnat(solo.properties["seen_at"][0])
    only = store.events.load(customer_ids=[99], event_types=["purchase", "browse"])
    assert only.event_id.tolist() == ["solo"]
    assert len(store.events.load(event_types=[])) == 0


def test_event_property_kind_is_fixed(store) -> None:
    store.events.append(Events(customer_id=[1], event_type=["x"], timestamp=[T0], properties={"p": [1.0]}))
    with pytest.raises(ValidationError, match="p"):
        store.events.append(
            Events(customer_id=[1], event_type=["x"], timestamp=[T0], properties={"p": ["one"]})
        )
    assert store.events.count() == 1


def test_events_erase_customers(store) -> None:
    ev = _events(100, seed=2)
    store.events.append(ev)
    gone = np.isin(ev.customer_id, [4, 5])
    assert store.events.erase_customers(np.array([4, 5])) == int(gone.sum())
    left = store.events.load()
    assert len(left) == int((~gone).sum())
    assert not np.isin(left.customer_id, [4, 5]).any()


def test_equal_timestamps_keep_insertion_order(store) -> None:
    times = [T0 + 5, T0, T0 + 5, T0, T0 + 5]
    store.transactions.append(Transactions(customer_id=[0, 1, 2, 3, 4], timestamp=times, amount=np.ones(5)))
    store.transactions.append(Transactions(customer_id=[5, 6], timestamp=[T0, T0 + 5], amount=np.ones(2)))
    assert store.transactions.load().customer_id.tolist() == [1, 3, 5, 0, 2, 4, 6]
    batches = list(store.transactions.scan(batch_rows=2))
    assert np.concatenate([b.customer_id for b in batches]).tolist() == [1, 3, 5, 0, 2, 4, 6]
    store.events.append(Events(customer_id=[0, 1, 2], event_type=["e"] * 3, timestamp=[T0 + 1, T0, T0 + 1]))
    store.events.append(Events(customer_id=[3], event_type=["e"], timestamp=[T0]))
    assert store.events.load().customer_id.tolist() == [1, 3, 0, 2]


def test_erasure_removes_property_values_from_storage(store) -> None:
    ev = Events(
        customer_id=[41, 42, 43],
        event_type=["chat_message"] * 3,
        timestamp=[T0, T0 + 1, T0 + 2],
        properties={"text": ["hello", "secret-42 phone 13800138000", "bye"], "price": [1.0, 42.5, 3.0]},
    )
    store.events.append(ev)
    store.events.erase_customers([42])
    with store.atomic():
        blobs = b"".join(
            bytes(d) for (d,) in store._db.execute("SELECT data FROM oc_event_property_blocks").fetchall()
        )
    assert b"secret-42" not in blobs
    assert np.float64(42.5).tobytes() not in blobs
    left = store.events.load()
    assert left.properties["text"].tolist() == ["hello", "bye"]
    assert left.properties["price"].tolist() == [1.0, 3.0]


def test_large_appends_are_split_into_blocks(store, monkeypatch: pytest.MonkeyPatch) -> None:
    from omnicore.storage import _property_blocks

    monkeypatch.setattr(_property_blocks, "BLOCK_ROWS", 7)
    ev = _events(60, seed=9)
    store.events.append(ev)
    store.events.append(_events(5, seed=10))
    loaded = store.events.load(end=T0 + np.timedelta64(10**5, "s"))
    both = Events.concat([ev, _events(5, seed=10)])
    assert loaded == both.take(np.argsort(both.timestamp, kind="stable"))
    assert Events.concat(list(store.events.scan(batch_rows=9))) == loaded
