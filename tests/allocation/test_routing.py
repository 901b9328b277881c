"""Single-order and sequential routing: exactness against brute force, constraints, explanations."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from scipy.optimize import linprog

from omnicore import ValidationError
from omnicore.allocation import (
    CostModel,
    Network,
    Orders,
    SourcingRules,
    SourcingTier,
    distance_km,
    route_order,
    route_orders,
)
from omnicore.data import Inventory

from .checks import check_feasible, total_cost
from .strategies import instances


def brute_force_order(
    network: Network, inventory: Inventory, orders: Orders, o: int, cost: CostModel
) -> float:
    """Cheapest plan of order ``o`` by enumerating node sets and solving each transport LP with scipy."""
    lo, hi = orders.line_start[o], orders.line_start[o + 1]
    skus = orders.sku[lo:hi].tolist()
    q = orders.quantity[lo:hi].astype(float)
    units = q.sum()
    pen = cost.unfilled_penalty_per_unit
    stock = {}
    for sku, node, avail in zip(
        inventory.sku.tolist(), inventory.node.tolist(), inventory.available.tolist(), strict=True
    ):
        stock[(sku, node)] = avail
    method = str(orders.method[o])
    nodes = []
    for n, node in enumerate(network.node.tolist()):
        if network.capacity_orders[n] < 1 or network.capacity_units[n] < 1:
            continue
        if method == "pickup" and (node != str(orders.pickup_node[o]) or not network.can_pickup[n]):
            continue
        if method == "ship" and not network.can_ship[n]:
            continue
        d = (
            0.0
            if method == "pickup"
            else float(distance_km(orders.lat[o], orders.lon[o], network.lat[n], network.lon[n]))
        )
        nodes.append((n, node, network.fixed_cost_per_shipment[n] + network.cost_per_km[n] * d))
    limit = len(nodes)
    if not orders.allow_split[o]:
        limit = 1
    elif orders.max_shipments[o]:
        limit = min(limit, int(orders.max_shipments[o]))
    best = pen * units  # ship nothing
    for size in range(1, limit + 1):
        for subset in itertools.combinations(nodes, size):
            k = len(subset)
            n_x = len(skus) * k
            c = [network.handling_cost_per_unit[n] for _ in skus for (n, _, _) in subset]
            bounds = [(0, stock.get((sku, node), 0)) for sku in skus for (_, node, _) in subset]
            a_eq, b_eq = [], []
            for r in range(len(skus)):
                row = [0.0] * n_x
                for j in range(k):
                    row[r * k + j] = 1.0
                a_eq.append(row)
                b_eq.append(q[r])
            a_ub = []
            b_ub = []
            for j, (n, _, _) in enumerate(subset):
                row = [0.0] * n_x
                for r in range(len(skus)):
                    row[r * k + j] = 1.0
                a_ub.append(row)
                b_ub.append(network.capacity_units[n])
            if orders.allow_partial[o]:
                # unfilled units: u_r in [0, q_r] at the penalty
                c = c + [pen] * len(skus)
                bounds = bounds + [(0, q[r]) for r in range(len(skus))]
                a_eq = [
                    row + [1.0 if i == r else 0.0 for i in range(len(skus))] for r, row in enumerate(a_eq)
                ]
                a_ub = [row + [0.0] * len(skus) for row in a_ub]
            res = linprog(c, A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=b_eq, bounds=bounds, method="highs")
            if res.status == 0:
                best = min(best, res.fun + sum(s[2] for s in subset))
    return best


@settings(max_examples=60)
@given(instances(max_nodes=5, max_orders=1, max_skus=3, unit_caps=False))
def test_single_order_matches_brute_force(case):
    network, inventory, orders, cost = case
    plan = route_order(orders, network, inventory, cost=cost, max_set_size=5)
    assert plan.exact
    expected = brute_force_order(network, inventory, orders, 0, cost)
    assert plan.cost.total == pytest.approx(expected, abs=1e-6)


@settings(max_examples=60)
@given(instances())
def test_sequential_routing_respects_every_constraint(case):
    network, inventory, orders, cost = case
    result = route_orders(orders, network, inventory, cost=cost)
    check_feasible(result, network, inventory, orders)
    assert result.cost.total == pytest.approx(total_cost(result, network, orders, cost), abs=1e-6)


def _network() -> Network:
    return Network(
        node=["DC", "S1", "S2", "FAR"],
        kind=["dc", "store", "store", "store"],
        lat=[31.00, 31.20, 31.30, 39.90],
        lon=[121.00, 121.40, 121.50, 116.40],
        city=["SH", "SH", "SH", "BJ"],
        fixed_cost_per_shipment=[4.0, 6.0, 6.0, 6.0],
        cost_per_km=[0.01, 0.02, 0.02, 0.02],
        handling_cost_per_unit=[0.5, 1.0, 1.0, 1.0],
        can_pickup=[False, True, True, True],
        capacity_orders=[100, 100, 0, 100],
    )


def test_explains_why_each_node_lost():
    net = _network()
    inv = Inventory(sku=["A", "A", "B", "A"], node=["DC", "S2", "S1", "FAR"], on_hand=[1, 9, 9, 9])
    order = Orders.from_lines(
        order_id=["o"],
        sku=["A"],
        quantity=[2],
        lat=[31.25],
        lon=[121.45],
        allow_split=[False],
        allow_partial=[False],
    )
    plan = route_order(order, net, inv, cost=CostModel(max_distance_km=300))
    status = {v.node: v.status for v in plan.verdicts}
    # DC has 1 of 2 units and the order may not split; S1 lacks A; S2 is out of capacity; FAR is too far
    assert status == {"DC": "policy", "S1": "no_stock", "S2": "over_capacity", "FAR": "too_far"}
    assert plan.lines == ()
    assert plan.unfilled == (("A", 2),)


def test_pickup_uses_only_the_chosen_store():
    net = _network()
    inv = Inventory(sku=["A", "A"], node=["DC", "S1"], on_hand=[10, 1])
    order = Orders.from_lines(order_id=["o"], sku=["A"], quantity=[1], method=["bopis"], pickup_node=["S1"])
    plan = route_order(order, net, inv)
    assert [(line.node, line.quantity) for line in plan.lines] == [("S1", 1)]
    assert plan.cost.distance == 0.0
    assert {v.node: v.status for v in plan.verdicts}["DC"] == "incapable"


def test_split_when_no_single_node_has_everything():
    net = _network()
    inv = Inventory(sku=["A", "B"], node=["DC", "S1"], on_hand=[5, 5])
    order = Orders.from_lines(
        order_id=["o", "o"], sku=["A", "B"], quantity=[1, 2], lat=[31.2] * 2, lon=[121.4] * 2
    )
    plan = route_order(order, net, inv)
    assert sorted((line.node, line.sku, line.quantity) for line in plan.lines) == [
        ("DC", "A", 1),
        ("S1", "B", 2),
    ]
    assert plan.shipments == 2
    assert plan.alternatives[0].note == "chosen"
    no_split = Orders.from_lines(
        order_id=["o", "o"],
        sku=["A", "B"],
        quantity=[1, 2],
        lat=[31.2] * 2,
        lon=[121.4] * 2,
        allow_split=[False, False],
    )
    partial = route_order(no_split, net, inv, cost=CostModel(unfilled_penalty_per_unit=100))
    assert partial.shipments == 1
    assert partial.unfilled_units == 1  # keeps the two B units from S1, backorders A


def test_sourcing_tiers_fall_back_in_order():
    net = _network()
    rules = SourcingRules(
        tiers=(
            SourcingTier(name="same-city stores", kinds=("store",), same_city=True),
            SourcingTier(name="dc", kinds=("dc",)),
        )
    )
    inv = Inventory(sku=["A", "A"], node=["DC", "S1"], on_hand=[10, 10])
    order = Orders.from_lines(order_id=["o"], sku=["A"], quantity=[3], lat=[31.25], lon=[121.45])
    # the DC is cheaper, but the same-city store tier can fill it, so it is used
    plan = route_order(order, net, inv, rules=rules)
    assert plan.nodes == ("S1",)
    assert {v.node: v.status for v in plan.verdicts}["DC"] == "excluded"
    short = Inventory(sku=["A", "A"], node=["DC", "S1"], on_hand=[10, 1])
    assert route_order(order, net, short, rules=rules).nodes == ("DC",)
    excluded = SourcingRules(excluded_nodes=("DC",))
    assert route_order(
        order, net, short, rules=excluded, cost=CostModel(unfilled_penalty_per_unit=100)
    ).nodes == ("S1",)


def test_routing_consumes_stock_in_sequence():
    net = _network()
    inv = Inventory(sku=["A"], node=["DC"], on_hand=[3])
    orders = Orders.from_lines(
        order_id=["o1", "o2"], sku=["A", "A"], quantity=[2, 2], lat=[31.2] * 2, lon=[121.4] * 2
    )
    result = route_orders(orders, net, inv)
    assert result.allocation.quantity.sum() == 3
    assert result.unfilled.to_records() == [{"order_id": "o2", "sku": "A", "quantity": 1}]


def test_unknown_order_and_pickup_node_are_reported():
    net = _network()
    inv = Inventory(sku=["A"], node=["DC"], on_hand=[3])
    orders = Orders.from_lines(order_id=["o1", "o2"], sku=["A", "A"], quantity=[1, 1])
    with pytest.raises(ValidationError, match="several orders"):
        route_order(orders, net, inv)
    with pytest.raises(ValidationError, match="unknown order"):
        route_order(orders, net, inv, order_id="o9")
    bad = Orders.from_lines(order_id=["o"], sku=["A"], quantity=[1], method=["pickup"], pickup_node=["S9"])
    with pytest.raises(ValidationError, match="pick-up node"):
        route_order(bad, net, inv)


def test_same_day_needs_a_same_day_node_within_the_radius():
    net = Network(
        node=["DC", "DS1", "DS2"],
        kind=["dc", "dark_store", "dark_store"],
        lat=[31.0, 31.21, 32.5],
        lon=[121.0, 121.41, 121.4],
        fixed_cost_per_shipment=[1.0, 5.0, 5.0],
        cost_per_km=[0.0, 0.0, 0.0],
        same_day=[False, True, True],
    )
    inv = Inventory(sku=["A", "A", "A"], node=["DC", "DS1", "DS2"], on_hand=[9, 9, 9])
    order = Orders.from_lines(
        order_id=["o"], sku=["A"], quantity=[1], lat=[31.2], lon=[121.4], method=["same_day"]
    )
    plan = route_order(order, net, inv, cost=CostModel(same_day_radius_km=30))
    assert plan.nodes == ("DS1",)
    status = {v.node: v.status for v in plan.verdicts}
    assert status == {"DC": "incapable", "DS1": "chosen", "DS2": "too_far"}


@settings(max_examples=20)
@given(instances(max_nodes=4, max_orders=7, max_skus=3))
def test_windowed_routing_respects_every_constraint(case):
    network, inventory, orders, cost = case
    result = route_orders(orders, network, inventory, cost=cost, window=3)
    check_feasible(result, network, inventory, orders)
    assert result.cost.total == pytest.approx(total_cost(result, network, orders, cost), abs=1e-6)
