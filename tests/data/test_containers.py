"""Validation at the edge, dataframe interop and JSON round-trips of the shared containers."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omnicore import (
    Events,
    IdentifierRecords,
    Inventory,
    Transactions,
    ValidationError,
    from_json,
    to_json,
)


def _tx(**overrides: Any) -> Transactions:
    columns: dict[str, Any] = {
        "customer_id": [1, 2],
        "timestamp": ["2024-01-01", "2024-01-02"],
        "amount": [10.0, 20.0],
    }
    columns.update(overrides)
    return Transactions(**columns)


@pytest.mark.parametrize(
    ("overrides", "field", "row", "needle"),
    [
        ({"amount": [1.0, float("nan")]}, "amount", 1, "NaN"),
        ({"amount": [float("inf"), 1.0]}, "amount", 0, "infinite"),
        ({"amount": [1.0, -5.0]}, "amount", 1, "allow_returns"),
        ({"amount": ["a", 1.0]}, "amount", 0, "numbers"),
        ({"customer_id": [1, ""]}, "customer_id", 1, "empty"),
        ({"customer_id": ["x", "  "]}, "customer_id", 1, "blank"),
        ({"customer_id": [1.5, 2.0]}, "customer_id", None, "floats"),
        ({"timestamp": ["2024-01-01", "1900-01-01"]}, "timestamp", 1, "outside"),
        ({"timestamp": ["2024-01-01", "9999-12-31"]}, "timestamp", 1, "outside"),
        ({"timestamp": ["2024-01-01", "not a date"]}, "timestamp", 1, "not a timestamp"),
        ({"timestamp": [1, 2]}, "timestamp", None, "expected timestamps"),
        ({"amount": [1.0]}, "amount", None, "rows"),
        ({"quantity": [1, -1]}, "quantity", 1, "negative quantity"),
        ({"quantity": [1.5, 1]}, "quantity", 0, "whole"),
    ],
)
def test_bad_input_names_column_row_and_value(
    overrides: dict[str, Any], field: str, row: int | None, needle: str
) -> None:
    with pytest.raises(ValidationError, match=needle) as info:
        _tx(**overrides)
    assert info.value.field == field
    assert info.value.row == row


def test_returns_allowed_when_explicit() -> None:
    tx = _tx(amount=[10.0, -4.0], allow_returns=True)
    assert tx.is_return.tolist() == [False, True]


def test_columns_are_read_only_and_callers_arrays_stay_writable() -> None:
    amounts = np.array([1.0, 2.0])
    tx = _tx(amount=amounts)
    with pytest.raises(ValueError, match="read-only"):
        tx.amount[0] = 5.0
    amounts[0] = 3.0  # the caller's own array is untouched by freezing


def test_timestamps_are_utc() -> None:
    aware = dt.datetime(2024, 1, 1, 8, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    tx = _tx(timestamp=[aware, "2024-01-01T00:00:00Z"])
    assert tx.timestamp.tolist() == [dt.datetime(2024, 1, 1, 0, 0), dt.datetime(2024, 1, 1, 0, 0)]


def test_ids_keep_their_type() -> None:
    assert _tx().customer_id.dtype == np.int64
    assert _tx(customer_id=["a", "b"]).customer_id.dtype == np.dtypes.StringDType()


@pytest.mark.parametrize("library", ["pandas", "polars", "pyarrow"])
def test_frame_round_trip(library: str) -> None:
    tx = _tx(customer_id=["a", "b"], channel=["online", "store"], amount=[1.0, -2.0], allow_returns=True)
    frame = getattr(tx, f"to_{'arrow' if library == 'pyarrow' else library}")()
    assert Transactions.from_frame(frame, allow_returns=True) == tx


def test_from_frame_with_timezone_and_rename() -> None:
    frame = pd.DataFrame(
        {
            "member": [7, 8],
            "ts": pd.to_datetime(["2024-01-01 08:00", "2024-01-02 08:00"]).tz_localize("Asia/Shanghai"),
            "amount": [1.0, 2.0],
        }
    )
    tx = Transactions.from_frame(frame, rename={"member": "customer_id", "ts": "timestamp"})
    assert tx.timestamp[0] == np.datetime64("2024-01-01T00:00", "us")
    pl_frame = pl.from_pandas(frame)
    assert Transactions.from_frame(pl_frame, rename={"member": "customer_id", "ts": "timestamp"}) == tx
    arrow = pa.Table.from_pandas(frame)
    assert Transactions.from_frame(arrow, rename={"member": "customer_id", "ts": "timestamp"}) == tx


def test_from_frame_reports_missing_and_unknown_columns() -> None:
    with pytest.raises(ValidationError, match="missing required"):
        Transactions.from_frame({"customer_id": [1], "amount": [1.0]})
    with pytest.raises(ValidationError, match="unknown columns"):
        Inventory.from_frame({"sku": [1], "node": [1], "on_hand": [1], "colour": ["red"]})


def test_events_records_and_properties() -> None:
    ev = Events.from_records(
        [
            {"customer_id": "u1", "event_type": "browse", "timestamp": "2024-01-01", "category": "baby"},
            {"customer_id": "u2", "event_type": "add_to_cart", "timestamp": "2024-01-02", "price": 9.5},
        ]
    )
    assert ev.properties["category"].tolist() == ["baby", ""]
    assert np.isnan(ev.properties["price"][0])
    assert ev.to_records()[1]["properties.price"] == 9.5
    assert Events.from_frame(ev.to_pandas()) == ev


def test_inventory_rejects_duplicates_and_negative_stock() -> None:
    with pytest.raises(ValidationError, match="duplicate") as info:
        Inventory(sku=["A", "B", "A"], node=["x", "x", "x"], on_hand=[1, 2, 3])
    assert info.value.row == 2
    with pytest.raises(ValidationError, match="negative"):
        Inventory(sku=["A"], node=["x"], on_hand=[-1])
    inv = Inventory(sku=["A", "B"], node=["x", "x"], on_hand=[5, 5], safety_stock=[2, 0], reserved=[4, 1])
    assert inv.available.tolist() == [0, 4]


def test_take_and_concat() -> None:
    tx = _tx(channel=["a", "b"])
    both = Transactions.concat([tx, tx.take([1])])
    assert both.customer_id.tolist() == [1, 2, 2]
    assert both.channel is not None
    assert both.channel.tolist() == ["a", "b", "b"]
    with pytest.raises(ValidationError, match="optional column"):
        Transactions.concat([tx, _tx()])


ids = st.one_of(
    st.lists(st.integers(-(2**62), 2**62), min_size=1, max_size=20),
    st.lists(st.text(min_size=1, max_size=8).filter(lambda s: s.strip() != ""), min_size=1, max_size=20),
)


@settings(max_examples=50, deadline=None)
@given(
    customer_ids=ids,
    data=st.data(),
)
def test_json_round_trip(customer_ids: list[Any], data: st.DataObject) -> None:
    n = len(customer_ids)
    stamps = data.draw(
        st.lists(
            st.datetimes(min_value=dt.datetime(1970, 1, 1), max_value=dt.datetime(2099, 12, 31)),
            min_size=n,
            max_size=n,
        )
    )
    amounts = data.draw(st.lists(st.floats(-1e9, 1e9, allow_nan=False), min_size=n, max_size=n))
    prices = data.draw(st.lists(st.one_of(st.none(), st.floats(0, 1e6)), min_size=n, max_size=n))
    tx = Transactions(customer_id=customer_ids, timestamp=stamps, amount=amounts, allow_returns=True)
    assert from_json(to_json(tx), Transactions) == tx
    ev = Events(
        customer_id=customer_ids,
        event_type=["e"] * n,
        timestamp=stamps,
        properties={"price": prices, "text": ["你好"] * n},
    )
    assert from_json(to_json(ev), Events) == ev
    recs = IdentifierRecords(
        record_id=customer_ids, source=["pos"] * n, id_type=["phone"] * n, value=["1"] * n, observed_at=stamps
    )
    assert from_json(to_json(recs), IdentifierRecords) == recs


def test_from_json_reports_every_bad_field() -> None:
    with pytest.raises(ValidationError) as info:
        from_json(
            '{"customer_id": 3, "timestamp": "x", "amount": {"dtype": "float64", "data": [1.0]}}',
            Transactions,
        )
    assert len(info.value.problems) >= 2
    with pytest.raises(ValidationError, match="invalid JSON"):
        from_json("{", Transactions)


@settings(max_examples=80, deadline=None)
@given(
    values=st.one_of(
        st.lists(st.integers(-5, 5), min_size=1, max_size=50),
        st.lists(st.integers(-(2**60), 2**60), min_size=1, max_size=50),
        st.lists(st.sampled_from(["online", "store", "社群", ""]), min_size=1, max_size=50),
        st.lists(st.text(max_size=4), min_size=1, max_size=50),
    )
)
def test_factorize_matches_sorted_unique(values: list[Any]) -> None:
    from omnicore.data import factorize, factorize_pairs, first_occurrences, unique_sorted

    array = np.array(values, dtype=np.dtypes.StringDType() if isinstance(values[0], str) else np.int64)
    uniques, codes = factorize(array)
    expected = sorted(set(values))
    assert uniques.tolist() == expected
    assert uniques[codes].tolist() == values
    assert unique_sorted(array).tolist() == expected
    assert first_occurrences(array).tolist() == [values.index(v) for v in expected]
    pair_codes, first = factorize_pairs(array, array[::-1].copy())
    pairs = list(zip(values, values[::-1], strict=True))
    assert len(first) == len(set(pairs))
    for i, pair in enumerate(pairs):
        assert pairs[first[pair_codes[i]]] == pair
        assert first[pair_codes[i]] == pairs.index(pair)


def test_factorize_many_text_values_beyond_the_probe() -> None:
    from omnicore.data import factorize

    values = np.array(["a"] * 9000 + ["b"], dtype=np.dtypes.StringDType())
    uniques, codes = factorize(values)
    assert uniques.tolist() == ["a", "b"]
    assert codes[-1] == 1


def test_concat_of_int_and_text_ids_gives_text() -> None:
    both = Transactions.concat([_tx(), _tx(customer_id=["a", "b"])])
    assert both.customer_id.dtype == np.dtypes.StringDType()
    assert both.customer_id.tolist() == ["1", "2", "a", "b"]


def test_factorize_text_with_many_duplicates() -> None:
    from omnicore.data import factorize

    rng = np.random.default_rng(0)
    values = np.array([f"id{v}" for v in rng.integers(0, 40, 200_000)], dtype=np.dtypes.StringDType())
    uniques, codes = factorize(values)
    assert len(uniques) == 40
    assert (uniques[codes] == values).all()


def test_bool_columns_from_python_bools() -> None:
    from omnicore.storage import IdentityLinks

    row = {
        "left_type": "phone",
        "left_value": "+86138",
        "right_type": "email",
        "right_value": "a@b.cn",
        "kind": "deterministic",
        "probability": 1.0,
        "record_id": "r1",
        "reason": "",
        "created_at": "2024-01-01",
    }
    links = IdentityLinks.from_records([{**row, "accepted": True}, {**row, "accepted": False}])
    assert links.accepted.tolist() == [True, False]
    with pytest.raises(ValidationError, match="boolean"):
        IdentityLinks.from_records([{**row, "accepted": "yes"}])


def test_concat_events_with_different_properties() -> None:
    a = Events(customer_id=[1], event_type=["chat"], timestamp=["2024-01-01"], properties={"text": ["hi"]})
    b = Events(customer_id=[2], event_type=["buy"], timestamp=["2024-01-02"], properties={"price": [3.0]})
    both = Events.concat([a, b])
    assert both.properties["text"].tolist() == ["hi", ""]
    assert np.isnan(both.properties["price"][0])


def test_searchsorted_of_long_text() -> None:
    from omnicore.data import searchsorted

    keys = np.array(sorted(f"phone:+86139{i:08d}" for i in range(500)), dtype=np.dtypes.StringDType())
    wanted = keys[::-1].copy()
    assert (keys[searchsorted(keys, wanted)] == wanted).all()
    assert searchsorted(np.arange(5), 3) == 3
