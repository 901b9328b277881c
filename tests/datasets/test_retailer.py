"""The generator as a whole: determinism, arguments, progress, serialisation."""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from omnicore import ValidationError, from_json, to_json
from omnicore.datasets import (
    FulfilmentNetwork,
    GroundTruth,
    IdentifierNoise,
    OpenOrders,
    SyntheticPurchases,
    SyntheticRetailer,
    TrueParameters,
    synthetic_retailer,
    synthetic_transactions,
)

SMALL: dict[str, Any] = {"n_stores": 8, "n_skus": 60, "n_open_orders": 40}


def _tables(data: SyntheticRetailer) -> dict[str, object]:
    return {f.name: getattr(data, f.name) for f in attrs.fields(SyntheticRetailer)}


def test_same_seed_same_data() -> None:
    a = synthetic_retailer(800, seed=4, **SMALL)
    b = synthetic_retailer(800, seed=4, **SMALL)
    for name, value in _tables(a).items():
        assert value == _tables(b)[name], name
    assert a == b


def test_different_seed_different_data() -> None:
    a = synthetic_retailer(800, seed=4, **SMALL)
    b = synthetic_retailer(800, seed=5, **SMALL)
    for name in ("transactions", "events", "identifiers", "truth", "network", "inventory", "open_orders"):
        assert getattr(a, name) != getattr(b, name), name


def test_persons_do_not_depend_on_the_catalog_size() -> None:
    a = synthetic_retailer(500, seed=9, n_skus=40, n_open_orders=10)
    b = synthetic_retailer(500, seed=9, n_skus=90, n_open_orders=10)
    assert np.array_equal(a.truth.lambda_, b.truth.lambda_)
    assert np.array_equal(a.truth.birth, b.truth.birth)

    def purchase_times(data: SyntheticRetailer) -> np.ndarray:
        tx = data.transactions
        return np.unique(tx.timestamp[tx.amount > 0])

    assert np.array_equal(purchase_times(a), purchase_times(b))


def test_arguments_shape_the_data() -> None:
    data = synthetic_retailer(
        300,
        seed=1,
        start="2024-01-01",
        end="2024-07-01",
        n_stores=3,
        n_warehouses=1,
        n_skus=5,
        n_open_orders=7,
    )
    assert len(data.truth.person_id) == 300
    assert data.observation_start == np.datetime64("2024-01-01T00:00:00", "us")
    assert data.observation_end == np.datetime64("2024-07-01T00:00:00", "us")
    assert data.transactions.timestamp.min() >= data.observation_start
    assert data.transactions.timestamp.max() < data.observation_end
    assert len(data.catalog) == 5
    assert len(data.network) == 4
    assert len(np.unique(data.open_orders.order_id)) == 7
    assert isinstance(data.open_orders, OpenOrders)
    assert "persons=300" in repr(data)


def test_no_open_orders_and_no_stores() -> None:
    data = synthetic_retailer(200, seed=2, n_stores=0, n_open_orders=0, n_skus=3)
    assert len(data.open_orders) == 0
    assert set(data.network.kind.tolist()) == {"dc"}


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"n_customers": 0}, "n_customers"),
        ({"n_customers": 2.5}, "n_customers"),
        ({"n_skus": 0}, "n_skus"),
        ({"n_warehouses": 0}, "n_warehouses"),
        ({"n_open_orders": -1}, "n_open_orders"),
        ({"seed": -3}, "seed"),
        ({"start": "2025-01-01", "end": "2024-01-01"}, "end"),
        ({"start": "not a date"}, "start"),
        ({"params": {"r": 1.0}}, "params"),
        ({"noise": 0.1}, "noise"),
    ],
)
def test_bad_arguments_raise_validation_error(kwargs: dict[str, object], field: str) -> None:
    arguments: dict[str, object] = {"n_customers": 10, **kwargs}
    with pytest.raises(ValidationError) as info:
        synthetic_retailer(**arguments)  # type: ignore[arg-type]
    assert info.value.field == field


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"r": 0.0}, "r"),
        ({"gamma": float("nan")}, "gamma"),
        ({"return_rate": 1.5}, "return_rate"),
        ({"channel_mix": (1.0, 0.0)}, "channel_mix"),
        ({"channel_mix": (0.0, 0.0, 0.0)}, "channel_mix"),
    ],
)
def test_bad_parameters_raise(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        TrueParameters(**kwargs)  # type: ignore[arg-type]
    assert info.value.field == field


def test_channel_mix_is_respected() -> None:
    data = synthetic_retailer(600, seed=3, params=TrueParameters(channel_mix=(1.0, 0.0, 0.0)), **SMALL)
    assert data.transactions.channel is not None
    assert set(data.transactions.channel.tolist()) == {"online"}


def test_progress_reports_every_stage() -> None:
    calls: list[tuple[int, int, str]] = []
    synthetic_retailer(
        100, seed=0, progress=lambda done, total, message="": calls.append((done, total, message)), **SMALL
    )
    assert [c[0] for c in calls] == list(range(1, len(calls) + 1))
    assert all(c[1] == len(calls) for c in calls)
    assert len(calls) >= 5


_share = st.floats(0.0, 1.0, allow_nan=False)
_positive = st.floats(1e-3, 1e3, allow_nan=False)


@given(
    st.builds(
        TrueParameters,
        r=_positive,
        alpha=_positive,
        a=_positive,
        b=_positive,
        p=_positive,
        q=_positive,
        gamma=_positive,
        return_rate=_share,
        channel_mix=st.tuples(_positive, _share, _share),
    )
)
def test_true_parameters_json_round_trip(params: TrueParameters) -> None:
    assert from_json(to_json(params), TrueParameters) == params


@given(
    st.builds(
        IdentifierNoise, typo_rate=_share, family_share=_share, placeholder_rate=_share, guest_rate=_share
    )
)
def test_noise_json_round_trip(noise: IdentifierNoise) -> None:
    assert from_json(to_json(noise), IdentifierNoise) == noise


def test_result_tables_json_round_trip(small: SyntheticRetailer) -> None:
    assert from_json(to_json(small.network), FulfilmentNetwork) == small.network
    assert from_json(to_json(small.open_orders), OpenOrders) == small.open_orders
    assert from_json(to_json(small.truth), GroundTruth) == small.truth
    tiny = synthetic_retailer(60, seed=2, n_skus=8, n_stores=2, n_open_orders=4)
    assert from_json(to_json(tiny), SyntheticRetailer) == tiny
    purchases = synthetic_transactions(60, seed=2, n_skus=8)
    assert from_json(to_json(purchases), SyntheticPurchases) == purchases


def test_truth_is_read_only(small: SyntheticRetailer) -> None:
    with pytest.raises(ValueError, match="read-only"):
        small.truth.lambda_[0] = 1.0
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        small.truth.lambda_ = np.zeros(3)  # type: ignore[misc]
    with pytest.raises(ValidationError):
        GroundTruth(
            **{**{f.name: getattr(small.truth, f.name) for f in attrs.fields(GroundTruth)}, "nu": np.zeros(2)}
        )


def test_synthetic_transactions_equal_the_retailer_purchases() -> None:
    purchases = synthetic_transactions(700, seed=12, n_skus=30)
    full = synthetic_retailer(700, seed=12, n_skus=30, n_stores=4, n_open_orders=5)
    assert purchases.transactions == full.transactions
    assert purchases.catalog == full.catalog
    for name in (
        "person_id",
        "lambda_",
        "dropout_p",
        "nu",
        "birth",
        "dropout_at",
        "alive_at_end",
        "n_purchases",
    ):
        assert (
            attrs.asdict(purchases.truth, recurse=False)[name].tolist() == getattr(full.truth, name).tolist()
        )
    assert len(purchases.truth.record_id) == 0
    assert len(purchases.truth.row_person) == 0
    assert purchases.params == full.params
    assert purchases.observation_end == full.observation_end
    assert "persons=700" in repr(purchases)
    with pytest.raises(ValidationError) as info:
        synthetic_transactions(0)
    assert info.value.field == "n_customers"
