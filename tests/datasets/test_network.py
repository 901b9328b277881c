"""Fulfilment network, inventory and the open-order wave."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from omnicore.datasets import NODE_KINDS, FulfilmentNetwork, SyntheticRetailer


def test_network_nodes(small: SyntheticRetailer) -> None:
    net = small.network
    kinds = net.kind.tolist()
    assert set(kinds) == set(NODE_KINDS)
    assert kinds.count("dc") == 3
    assert kinds.count("store") + kinds.count("dark_store") == 16
    assert net.node_id[net.kind == "dc"].tolist() == ["DC-01", "DC-02", "DC-03"]
    assert net.node_id[net.kind == "store"][0] == "S-001"
    # clustered around Chinese cities
    assert ((net.lat > 18) & (net.lat < 45) & (net.lon > 100) & (net.lon < 125)).all()
    assert len(set(net.city.tolist())) >= 5
    assert net.can_ship[net.kind == "dc"].all()
    assert not net.can_pickup[net.kind == "dc"].any()
    assert net.can_pickup[net.kind == "store"].all()
    assert net.same_day[net.kind == "dark_store"].all()
    assert (net.capacity_units >= net.capacity_orders).all()
    dc = net.kind == "dc"
    assert net.capacity_orders[dc].min() > net.capacity_orders[~dc].max()
    assert net.cost_per_km[dc].max() < net.cost_per_km[~dc].min()


def test_inventory_is_consistent_with_network_and_catalog(small: SyntheticRetailer) -> None:
    inv, net, catalog = small.inventory, small.network, small.catalog
    assert set(inv.node.tolist()) <= set(net.node_id.tolist())
    assert set(inv.sku.tolist()) <= set(catalog.sku.tolist())
    assert inv.safety_stock is not None
    assert (inv.safety_stock <= inv.on_hand).all()
    kind_of = dict(zip(net.node_id.tolist(), net.kind.tolist(), strict=True))
    kind = np.array([kind_of[n] for n in inv.node.tolist()])
    # DCs carry the whole catalog, deep; stores carry part of it, shallow, with many zeros
    for dc in net.node_id[net.kind == "dc"].tolist():
        assert set(inv.sku[inv.node == dc].tolist()) == set(catalog.sku.tolist())
    assert np.median(inv.on_hand[kind == "dc"]) > 10 * max(np.median(inv.on_hand[kind == "store"]), 1)
    assert 0.2 < np.mean(inv.on_hand[kind == "store"] == 0) < 0.8
    per_store = len(inv.sku[kind == "store"]) / (net.kind == "store").sum()
    assert per_store < 0.8 * len(catalog)
    # dark stores carry the same popular range, each with its own stock
    dark = net.node_id[net.kind == "dark_store"].tolist()
    assert len(dark) >= 2
    first, second = (inv.on_hand[inv.node == node] for node in dark[:2])
    assert len(first) == len(second)
    assert not np.array_equal(first, second)


def test_open_orders_compete_for_stock(small: SyntheticRetailer) -> None:
    orders, inv, net = small.open_orders, small.inventory, small.network
    assert len(np.unique(orders.order_id)) == 300
    _, lines = np.unique(orders.order_id, return_counts=True)
    assert (lines > 1).mean() > 0.3
    assert len(set(zip(orders.order_id.tolist(), orders.sku.tolist(), strict=True))) == len(orders)
    assert set(orders.sku.tolist()) <= set(small.catalog.sku.tolist())
    assert orders.customer_id.min() >= 0
    assert orders.customer_id.max() < len(small.truth.person_id)
    assert (orders.created_at < small.observation_end).all()
    assert (orders.created_at > small.observation_end - np.timedelta64(1, "D")).all()
    # some SKUs are wanted beyond everything available anywhere
    available: dict[str, int] = {}
    for sku, units in zip(inv.sku.tolist(), inv.available.tolist(), strict=True):
        available[sku] = available.get(sku, 0) + units
    demand: dict[str, int] = {}
    for sku, units in zip(orders.sku.tolist(), orders.quantity.tolist(), strict=True):
        demand[sku] = demand.get(sku, 0) + units
    assert any(units > available.get(sku, 0) for sku, units in demand.items())
    # pickups name a store that offers pickup; shipped orders name none
    pickup = orders.method == "pickup"
    assert 0.05 < pickup.mean() < 0.5
    pickup_nodes = set(net.node_id[net.can_pickup].tolist())
    assert set(orders.pickup_node[pickup].tolist()) <= pickup_nodes
    assert (orders.pickup_node[~pickup] == "").all()
    # each order is one customer, one place, one time
    for column in (orders.customer_id, orders.lat, orders.created_at, orders.method):
        first: dict[str, object] = {}
        for order_id, value in zip(orders.order_id.tolist(), column.tolist(), strict=True):
            assert first.setdefault(order_id, value) == value


def test_network_rejects_bad_rows() -> None:
    row: dict[str, Any] = {
        "node_id": ["X"],
        "kind": ["warehouse"],
        "city": ["Shanghai"],
        "lat": [31.0],
        "lon": [121.0],
        "can_ship": [True],
        "can_pickup": [False],
        "same_day": [False],
        "capacity_orders": [1],
        "capacity_units": [1],
        "fixed_cost_per_shipment": [1.0],
        "cost_per_km": [1.0],
        "handling_cost_per_unit": [1.0],
    }
    from omnicore import ValidationError

    with pytest.raises(ValidationError, match="kind"):
        FulfilmentNetwork(**row)
    with pytest.raises(ValidationError, match="lat"):
        FulfilmentNetwork(**{**row, "kind": ["dc"], "lat": [123.0]})
