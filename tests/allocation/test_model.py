"""The model: network, orders, cost model, rules, safety stock, JSON round trips."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from omnicore import ValidationError, from_json, to_json
from omnicore.allocation import (
    UNLIMITED,
    ChannelPool,
    CostModel,
    Network,
    Orders,
    SafetyStock,
    SourcingRules,
    SourcingTier,
    available_to_promise,
    distance_km,
)
from omnicore.data import Inventory


def test_distance_reference_values():
    # one degree of latitude on a sphere of radius 6371.0088 km, and half the circumference
    assert distance_km(0, 0, 1, 0) == pytest.approx(6371.0088 * math.pi / 180)
    assert distance_km(0, 0, 0, 180) == pytest.approx(6371.0088 * math.pi)
    assert distance_km(31.2, 121.4, 31.2, 121.4) == 0.0


def test_cost_model_bands_and_validation():
    model = CostModel(band_edges_km=(10, 50), band_costs=(3, 5, 9))
    assert model.distance_cost(np.array([10.0, 10.5, 50.0, 51.0]), np.ones(4)).tolist() == [
        3.0,
        5.0,
        5.0,
        9.0,
    ]
    with pytest.raises(ValidationError, match="one cost per band"):
        CostModel(band_edges_km=(10,), band_costs=(3,))
    with pytest.raises(ValidationError, match="increasing"):
        CostModel(band_edges_km=(10, 5), band_costs=(1, 2, 3))
    with pytest.raises(ValidationError):
        CostModel(unfilled_penalty_per_unit=-1)


def test_network_defaults_and_validation():
    net = Network(
        node=["DC", "S1"],
        kind=["dc", "store"],
        lat=[31, 31.1],
        lon=[121, 121.1],
        fixed_cost_per_shipment=[4, 6],
        cost_per_km=[0.01, 0.02],
    )
    assert net.capacity_orders.tolist() == [UNLIMITED, UNLIMITED]
    assert net.can_pickup.tolist() == [False, True]
    assert net.index_of(["S1", "DC"]).tolist() == [1, 0]
    with pytest.raises(ValidationError, match="unknown node"):
        net.index_of(["S9"])
    with pytest.raises(ValidationError, match="duplicate node"):
        Network(
            node=["A", "A"],
            kind=["dc"] * 2,
            lat=[0, 0],
            lon=[0, 0],
            fixed_cost_per_shipment=[1, 1],
            cost_per_km=[0, 0],
        )
    with pytest.raises(ValidationError, match="coordinates"):
        Network(node=["A"], kind=["dc"], lat=[91], lon=[0], fixed_cost_per_shipment=[1], cost_per_km=[0])
    with pytest.raises(ValidationError, match="negative"):
        Network(node=["A"], kind=["dc"], lat=[0], lon=[0], fixed_cost_per_shipment=[-1], cost_per_km=[0])


def test_network_from_retailer_style_table():
    table = {
        "node_id": ["DC-01"],
        "kind": ["dc"],
        "city": ["Shanghai"],
        "lat": [31.1],
        "lon": [121.3],
        "can_ship": [True],
        "can_pickup": [False],
        "same_day": [False],
        "capacity_orders": [5000],
        "capacity_units": [15000],
        "fixed_cost_per_shipment": [8.0],
        "cost_per_km": [0.02],
        "handling_cost_per_unit": [0.8],
    }
    net = Network.from_table(table)
    assert net.node.tolist() == ["DC-01"]
    assert net.capacity_units.tolist() == [15000]


def test_orders_group_merge_and_validate():
    orders = Orders.from_lines(
        order_id=["b", "a", "b", "b"],
        sku=["X", "Y", "Z", "X"],
        quantity=[1, 2, 3, 4],
        method=["ship", "bopis", "ship", "ship"],
        pickup_node=[None, "S1", None, None],
    )
    assert orders.order_id.tolist() == ["b", "a"]
    assert orders.line_start.tolist() == [0, 2, 3]
    assert list(zip(orders.sku.tolist(), orders.quantity.tolist(), strict=True)) == [
        ("X", 5),
        ("Z", 3),
        ("Y", 2),
    ]
    assert orders.method.tolist() == ["ship", "pickup"]
    assert orders.take([1]).sku.tolist() == ["Y"]
    with pytest.raises(ValidationError, match="method"):
        Orders.from_lines(order_id=["a"], sku=["X"], quantity=[1], method=["teleport"])
    with pytest.raises(ValidationError, match="pickup_node"):
        Orders.from_lines(order_id=["a"], sku=["X"], quantity=[1], method=["pickup"])
    with pytest.raises(ValidationError, match="quantity"):
        Orders.from_lines(order_id=["a"], sku=["X"], quantity=[0])


def test_safety_stock_takes_the_most_cautious_rule():
    net = Network(
        node=["DC", "S1"],
        kind=["dc", "store"],
        lat=[31, 31.1],
        lon=[121, 121.1],
        fixed_cost_per_shipment=[4, 6],
        cost_per_km=[0.01, 0.02],
    )
    inv = Inventory(
        sku=["A", "A", "B"],
        node=["DC", "S1", "S1"],
        on_hand=[10, 3, 3],
        safety_stock=[0, 0, 2],
        reserved=[1, 0, 0],
    )
    policy = SafetyStock(by_kind={"store": 1}, by_sku={"A": 2})
    atp = available_to_promise(inv, net, safety=policy)
    assert atp.safety_stock.tolist() == [2, 2, 2]
    assert atp.available.tolist() == [7, 1, 1]
    with pytest.raises(ValidationError, match="network"):
        available_to_promise(inv, safety=policy)


names = st.text(alphabet="abcdefgh-", min_size=1, max_size=6)


@given(
    tiers=st.lists(
        st.builds(
            SourcingTier,
            name=names,
            kinds=st.lists(names, max_size=2).map(tuple),
            nodes=st.lists(names, max_size=2).map(tuple),
            same_city=st.booleans(),
            within_km=st.none() | st.floats(1, 500),
        ),
        max_size=3,
    ),
    excluded=st.lists(names, max_size=3),
    pools=st.lists(
        st.builds(ChannelPool, channel=names, share=st.floats(0, 1), kinds=st.just(())), max_size=1
    ),
)
def test_rules_round_trip_through_json(tiers, excluded, pools):
    rules = SourcingRules(tiers=tuple(tiers), excluded_nodes=tuple(excluded), pools=tuple(pools))
    assert from_json(to_json(rules), SourcingRules) == rules


def test_cost_model_round_trips_and_reports_bad_fields():
    model = CostModel(band_edges_km=(10,), band_costs=(3, 5), max_distance_km=800)
    assert from_json(to_json(model), CostModel) == model
    with pytest.raises(ValidationError):
        from_json('{"tiers": [{"within_km": -3}]}', SourcingRules)
