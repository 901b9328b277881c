"""Shared hypothesis strategies: small random routing instances."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st

from omnicore.allocation import CostModel, Network, Orders
from omnicore.data import Inventory


@st.composite
def instances(
    draw: Any,
    *,
    max_nodes: int = 5,
    max_orders: int = 6,
    max_skus: int = 4,
    policies: bool = True,
    unit_caps: bool = True,
) -> tuple[Network, Inventory, Orders, CostModel]:
    """A small network, stock and orders with random capabilities, capacities and policies."""
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    n_nodes = draw(st.integers(1, max_nodes))
    n_orders = draw(st.integers(1, max_orders))
    n_skus = draw(st.integers(1, max_skus))
    kinds = rng.choice(["dc", "store"], n_nodes)
    network = Network(
        node=[f"N{i}" for i in range(n_nodes)],
        kind=kinds.tolist(),
        lat=rng.uniform(30, 31, n_nodes),
        lon=rng.uniform(120, 121, n_nodes),
        fixed_cost_per_shipment=np.round(rng.uniform(1, 8, n_nodes), 2),
        cost_per_km=np.round(rng.uniform(0, 0.05, n_nodes), 3),
        handling_cost_per_unit=np.round(rng.uniform(0, 2, n_nodes), 2),
        can_ship=rng.random(n_nodes) < 0.85,
        can_pickup=rng.random(n_nodes) < 0.7,
        capacity_orders=rng.integers(0, n_orders + 1, n_nodes),
        capacity_units=rng.integers(0, 3 * n_orders + 2, n_nodes) if unit_caps else None,
    )
    pos_s, pos_n = np.nonzero(rng.random((n_skus, n_nodes)) < 0.6)
    inventory = Inventory(
        sku=[f"K{s}" for s in pos_s] or ["K0"],
        node=[f"N{n}" for n in pos_n] or ["N0"],
        on_hand=rng.integers(0, 5, len(pos_s)).tolist() or [0],
        safety_stock=rng.integers(0, 2, len(pos_s)).tolist() or [0],
    )
    order_id, sku, qty, lat, lon, method, pickup = [], [], [], [], [], [], []
    split, max_ship, partial = [], [], []
    for o in range(n_orders):
        skus = rng.choice(n_skus, rng.integers(1, n_skus + 1), replace=False)
        is_pickup = rng.random() < 0.2
        node = f"N{rng.integers(n_nodes)}"
        o_split = bool(rng.random() < 0.7) if policies else True
        o_max = int(rng.integers(0, 3)) if policies else 0
        o_partial = bool(rng.random() < 0.7) if policies else True
        o_lat, o_lon = rng.uniform(30, 31), rng.uniform(120, 121)
        for s in skus:
            order_id.append(f"O{o}")
            sku.append(f"K{s}")
            qty.append(int(rng.integers(1, 4)))
            lat.append(o_lat)
            lon.append(o_lon)
            method.append("pickup" if is_pickup else "ship")
            pickup.append(node if is_pickup else "")
            split.append(o_split)
            max_ship.append(o_max)
            partial.append(o_partial)
    orders = Orders.from_lines(
        order_id=order_id,
        sku=sku,
        quantity=qty,
        lat=lat,
        lon=lon,
        method=method,
        pickup_node=pickup,
        allow_split=split,
        max_shipments=max_ship,
        allow_partial=partial,
    )
    cost = CostModel(unfilled_penalty_per_unit=float(draw(st.sampled_from([5.0, 20.0, 60.0]))))
    return network, inventory, orders, cost
