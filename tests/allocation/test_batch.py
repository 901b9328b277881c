"""Batch optimisation: optimal against joint brute force, bound below cost, never worse than greedy."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from scipy.optimize import Bounds, LinearConstraint, milp

from omnicore.allocation import (
    ChannelPool,
    CostModel,
    Network,
    Orders,
    SourcingRules,
    allocate_greedy,
    distance_km,
    optimise,
    random_instance,
    route_orders,
)
from omnicore.data import Inventory

from .checks import check_feasible, total_cost
from .strategies import instances


def brute_force_wave(network: Network, inventory: Inventory, orders: Orders, cost: CostModel) -> float:
    """Optimum of a tiny wave: every combination of per-order node sets, each priced by one joint LP."""
    pen = cost.unfilled_penalty_per_unit
    stock = {}
    for sku, node, avail in zip(
        inventory.sku.tolist(), inventory.node.tolist(), inventory.available.tolist(), strict=True
    ):
        stock[(sku, node)] = avail
    n_nodes = len(network)
    options = []
    for o in range(len(orders)):
        method = str(orders.method[o])
        ok = []
        for n, node in enumerate(network.node.tolist()):
            if method == "pickup" and (node != str(orders.pickup_node[o]) or not network.can_pickup[n]):
                continue
            if method == "ship" and not network.can_ship[n]:
                continue
            ok.append(n)
        limit = 1 if not orders.allow_split[o] else (int(orders.max_shipments[o]) or len(ok))
        sets = [()]
        for size in range(1, min(limit, len(ok)) + 1):
            sets.extend(itertools.combinations(ok, size))
        options.append(sets)
    best = np.inf
    for choice in itertools.product(*options):
        use = np.zeros(n_nodes, int)
        for subset in choice:
            for n in subset:
                use[n] += 1
        if np.any(use > network.capacity_orders):
            continue
        c, bounds, var = [], [], []
        fixed = 0.0
        for o, subset in enumerate(choice):
            method = str(orders.method[o])
            for n in subset:
                d = (
                    0.0
                    if method == "pickup"
                    else float(distance_km(orders.lat[o], orders.lon[o], network.lat[n], network.lon[n]))
                )
                fixed += network.fixed_cost_per_shipment[n] + network.cost_per_km[n] * d
            for line in range(orders.line_start[o], orders.line_start[o + 1]):
                for n in subset:
                    var.append(("x", o, line, n))
                    c.append(network.handling_cost_per_unit[n])
                    bounds.append((0, stock.get((orders.sku[line], network.node[n]), 0)))
                var.append(("u", o, line, -1))
                c.append(pen)
                bounds.append((0, orders.quantity[line]))
            if not orders.allow_partial[o]:
                var.append(("z", o, -1, -1))
                c.append(0.0)
                bounds.append((0, 1))
        index = {v: i for i, v in enumerate(var)}
        a_eq, b_eq, a_ub, b_ub = [], [], [], []
        for o in range(len(orders)):
            lines = range(orders.line_start[o], orders.line_start[o + 1])
            for line in lines:
                row = np.zeros(len(var))
                for v, i in index.items():
                    if v[0] in "xu" and v[1] == o and v[2] == line:
                        row[i] = 1
                a_eq.append(row)
                b_eq.append(orders.quantity[line])
            if not orders.allow_partial[o]:
                # all or nothing: u_l = q_l * z_o with z_o binary
                for line in lines:
                    row = np.zeros(len(var))
                    row[index[("u", o, line, -1)]] = 1
                    row[index[("z", o, -1, -1)]] = -orders.quantity[line]
                    a_eq.append(row)
                    b_eq.append(0)
        for (sku, node), avail in stock.items():
            n = int(np.flatnonzero(network.node == node)[0])
            row = np.zeros(len(var))
            for v, i in index.items():
                if v[0] == "x" and v[3] == n and orders.sku[v[2]] == sku:
                    row[i] = 1
            if row.any():
                a_ub.append(row)
                b_ub.append(avail)
        for n in range(n_nodes):
            row = np.zeros(len(var))
            for v, i in index.items():
                if v[0] == "x" and v[3] == n:
                    row[i] = 1
            if row.any():
                a_ub.append(row)
                b_ub.append(network.capacity_units[n])
        integrality = [1 if v[0] in "uz" else 0 for v in var]
        cons = []
        if a_eq:
            cons.append(LinearConstraint(np.array(a_eq), b_eq, b_eq))
        if a_ub:
            cons.append(LinearConstraint(np.array(a_ub), -np.inf, b_ub))
        lo = np.array([b[0] for b in bounds], float)
        hi = np.array([b[1] for b in bounds], float)
        res = milp(c, integrality=integrality, bounds=Bounds(lo, hi), constraints=cons)
        if res.status == 0:
            best = min(best, res.fun + fixed)
    return float(best)


@settings(max_examples=25)
@given(instances(max_nodes=3, max_orders=3, max_skus=2))
def test_optimise_matches_joint_brute_force(case):
    network, inventory, orders, cost = case
    result = optimise(orders, network, inventory, cost=cost, time_limit_seconds=30)
    check_feasible(result, network, inventory, orders)
    expected = brute_force_wave(network, inventory, orders, cost)
    assert result.status == "optimal"
    assert result.cost.total == pytest.approx(expected, abs=1e-6)
    assert result.lower_bound <= result.cost.total + 1e-6


@settings(max_examples=25)
@given(instances(max_nodes=5, max_orders=8, max_skus=4))
def test_optimise_is_feasible_bounded_and_no_worse_than_sequential(case):
    network, inventory, orders, cost = case
    result = optimise(orders, network, inventory, cost=cost, time_limit_seconds=30)
    check_feasible(result, network, inventory, orders)
    assert result.cost.total == pytest.approx(total_cost(result, network, orders, cost), abs=1e-6)
    assert result.lower_bound is not None
    assert result.lower_bound <= result.cost.total + 1e-6
    sequential = route_orders(orders, network, inventory, cost=cost)
    assert result.cost.total <= sequential.cost.total + 1e-6
    nearest = allocate_greedy(orders, network, inventory, cost=cost)
    check_feasible(nearest, network, inventory, orders)
    assert result.cost.total <= nearest.cost.total + 1e-6


def test_small_benchmark_instance_is_proven_optimal_and_beats_nearest_node():
    inst = random_instance(100, 20, 200, seed=1)
    result = optimise(inst.orders, inst.network, inst.inventory, cost=inst.cost, time_limit_seconds=60)
    assert result.status == "optimal"
    assert 0 <= result.gap < 0.05
    nearest = allocate_greedy(inst.orders, inst.network, inst.inventory, cost=inst.cost)
    check_feasible(result, inst.network, inst.inventory, inst.orders)
    assert result.cost.total < nearest.cost.total


def test_channel_pool_caps_a_channel_share():
    net = Network(
        node=["DC"], kind=["dc"], lat=[31.0], lon=[121.0], fixed_cost_per_shipment=[1.0], cost_per_km=[0.0]
    )
    inv = Inventory(sku=["A"], node=["DC"], on_hand=[10])
    orders = Orders.from_lines(
        order_id=["m1", "m2", "w1"],
        sku=["A"] * 3,
        quantity=[3, 3, 3],
        channel=["marketplace", "marketplace", "web"],
    )
    rules = SourcingRules(pools=(ChannelPool(channel="marketplace", share=0.5),))
    for result in (optimise(orders, net, inv, rules=rules), route_orders(orders, net, inv, rules=rules)):
        by_order = dict(
            zip(result.allocation.order_id.tolist(), result.allocation.quantity.tolist(), strict=True)
        )
        assert by_order.get("m1", 0) + by_order.get("m2", 0) <= 5
        assert by_order["w1"] == 3


@settings(max_examples=20)
@given(instances(max_nodes=5, max_orders=10, max_skus=4))
def test_decomposition_path_is_feasible_and_bounded(case):
    # force the large-wave path (column generation, fixing, re-routing, local repair) on small waves
    from omnicore.allocation._batch import solve_batch
    from omnicore.allocation._problem import compile_problem

    network, inventory, orders, cost = case
    problem = compile_problem(network, inventory, orders, cost=cost)
    result = solve_batch(problem, time_limit_seconds=30, full_model_pairs=0, pairs_per_order=1)
    check_feasible(result, network, inventory, orders)
    assert result.cost.total == pytest.approx(total_cost(result, network, orders, cost), abs=1e-6)
    assert result.lower_bound <= result.cost.total + 1e-6
    exact = optimise(orders, network, inventory, cost=cost, time_limit_seconds=30)
    assert result.lower_bound <= exact.cost.total + 1e-6  # a certified bound is below the optimum
