"""Independent checks of an allocation against the raw inputs (no omnicore routing code)."""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from omnicore.allocation import AllocationResult, CostModel, Network, Orders, distance_km
from omnicore.data import Inventory


def check_feasible(result: AllocationResult, network: Network, inventory: Inventory, orders: Orders) -> None:
    """Assert every constraint the routers promise, recomputed from the inputs."""
    alloc = result.allocation
    atp = defaultdict(int)
    for sku, node, avail in zip(
        inventory.sku.tolist(), inventory.node.tolist(), inventory.available.tolist(), strict=True
    ):
        atp[(sku, node)] += avail
    used = defaultdict(int)
    per_node_orders = defaultdict(set)
    per_node_units = defaultdict(int)
    per_order_nodes = defaultdict(set)
    got = defaultdict(int)
    info = {}
    for i, oid in enumerate(orders.order_id.tolist()):
        info[oid] = i
    node_row = {n: i for i, n in enumerate(network.node.tolist())}
    for oid, sku, node, qty in zip(
        alloc.order_id.tolist(), alloc.sku.tolist(), alloc.node.tolist(), alloc.quantity.tolist(), strict=True
    ):
        assert qty > 0
        used[(sku, node)] += qty
        per_node_orders[node].add(oid)
        per_node_units[node] += qty
        per_order_nodes[oid].add(node)
        got[(oid, sku)] += qty
        o = info[oid]
        n = node_row[node]
        method = str(orders.method[o])
        if method == "pickup":
            assert node == str(orders.pickup_node[o]), "pick-up order sourced away from its store"
            assert network.can_pickup[n]
        elif method == "ship":
            assert network.can_ship[n], "node lacks ship capability"
        else:
            assert network.same_day[n]
    for key, units in used.items():
        assert units <= atp[key], f"over ATP at {key}: {units} > {atp[key]}"
    for node, ids in per_node_orders.items():
        assert len(ids) <= network.capacity_orders[node_row[node]]
        assert per_node_units[node] <= network.capacity_units[node_row[node]]
    demand = {}
    for o, oid in enumerate(orders.order_id.tolist()):
        lo, hi = orders.line_start[o], orders.line_start[o + 1]
        nodes = per_order_nodes.get(oid, set())
        if not orders.allow_split[o]:
            assert len(nodes) <= 1
        if orders.max_shipments[o]:
            assert len(nodes) <= orders.max_shipments[o]
        filled = 0
        for line in range(lo, hi):
            sku = orders.sku[line]
            demand[(oid, sku)] = int(orders.quantity[line])
            assert got[(oid, sku)] <= orders.quantity[line]
            filled += got[(oid, sku)]
        if not orders.allow_partial[o]:
            assert filled in (0, int(orders.quantity[lo:hi].sum())), "all-or-nothing order partly filled"
    # every line it claims to fill is filled; unfilled reports exactly the rest
    short = defaultdict(int)
    for oid, sku, qty in zip(
        result.unfilled.order_id.tolist(),
        result.unfilled.sku.tolist(),
        result.unfilled.quantity.tolist(),
        strict=True,
    ):
        short[(oid, sku)] += qty
    for key, qty in demand.items():
        assert got[key] + short[key] == qty, f"line {key} not accounted for"


def total_cost(result: AllocationResult, network: Network, orders: Orders, cost: CostModel) -> float:
    """The cost of an allocation, recomputed by hand: parcels, km, handling, penalty."""
    node_row = {n: i for i, n in enumerate(network.node.tolist())}
    order_row = {o: i for i, o in enumerate(orders.order_id.tolist())}
    total = 0.0
    pairs = set()
    for oid, node, qty in zip(
        result.allocation.order_id.tolist(),
        result.allocation.node.tolist(),
        result.allocation.quantity.tolist(),
        strict=True,
    ):
        n = node_row[node]
        total += network.handling_cost_per_unit[n] * qty
        pairs.add((oid, node))
    for oid, node in pairs:
        n, o = node_row[node], order_row[oid]
        total += network.fixed_cost_per_shipment[n]
        if str(orders.method[o]) != "pickup":
            d = float(distance_km(orders.lat[o], orders.lon[o], network.lat[n], network.lon[n]))
            total += network.cost_per_km[n] * d
    total += cost.unfilled_penalty_per_unit * int(np.sum(result.unfilled.quantity))
    return total
