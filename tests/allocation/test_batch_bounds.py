"""Batch internals: the Lagrangian bound is below the exact optimum at any prices; neighbourhood search
keeps the plan feasible and never makes it dearer; allocation tables convert back to triples."""

from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omnicore.allocation import optimise, random_instance, route_orders
from omnicore.allocation._batch import useful_pairs
from omnicore.allocation._lagrange import Prices, lagrangian_value, optimise_bound
from omnicore.allocation._lns import Incumbent, improve_by_neighbourhoods, triples_of
from omnicore.allocation._problem import compile_problem
from omnicore.allocation._single import collect
from tests.jit_parity import outputs_with_and_without_jit

from .checks import check_feasible
from .strategies import instances


def _random_prices(p, rng: np.random.Generator, scale: float) -> Prices:
    return Prices(
        stock=rng.exponential(scale, p.atp.shape) * (rng.random(p.atp.shape) < 0.5),
        shipment=rng.exponential(scale, p.n_nodes) * (rng.random(p.n_nodes) < 0.5),
        unit=rng.exponential(scale, p.n_nodes) * (rng.random(p.n_nodes) < 0.5),
    ).clipped(p)


@settings(max_examples=30, deadline=None)
@given(
    instances(max_nodes=4, max_orders=5, max_skus=3), st.integers(0, 2**31), st.sampled_from([0.0, 1.0, 10.0])
)
def test_lagrangian_value_is_below_the_exact_optimum_at_any_prices(case, seed, scale):
    network, inventory, orders, cost = case
    p = compile_problem(network, inventory, orders, cost=cost)
    exact = optimise(orders, network, inventory, cost=cost, time_limit_seconds=30)
    assert exact.status == "optimal"
    prices = _random_prices(p, np.random.default_rng(seed), scale)
    searched = lagrangian_value(p, prices, deadline=time.perf_counter() + 60)
    vectorised_only = lagrangian_value(p, prices, deadline=time.perf_counter() - 1)
    assert searched.value <= exact.cost.total + 1e-6
    assert vectorised_only.value <= searched.value + 1e-6  # the search only tightens order bounds
    bound, _ = optimise_bound(p, prices, upper=exact.cost.total, deadline=time.perf_counter() + 5)
    assert searched.value - 1e-6 <= bound <= exact.cost.total + 1e-6
    from_zero, _ = optimise_bound(
        p, prices, upper=exact.cost.total, deadline=time.perf_counter() + 5, try_zero=True
    )
    assert searched.value - 1e-6 <= from_zero <= exact.cost.total + 1e-6


def test_lagrangian_at_zero_prices_is_the_sum_of_lone_order_optima():
    # with nothing priced, every order's bound is its cheapest plan against all of the stock
    inst = random_instance(40, 8, 30, seed=3)
    p = compile_problem(inst.network, inst.inventory, inst.orders, cost=inst.cost)
    zero = Prices(stock=np.zeros(p.atp.shape), shipment=np.zeros(p.n_nodes), unit=np.zeros(p.n_nodes))
    ev = lagrangian_value(p, zero, deadline=time.perf_counter() + 60)
    from omnicore.allocation._single import Router

    lone, exact = Router(p).order_bounds()
    assert exact.all()
    assert ev.exact_orders == p.n_orders
    assert ev.value == pytest.approx(float(lone.sum()), rel=1e-9)


@settings(max_examples=20, deadline=None)
@given(instances(max_nodes=5, max_orders=10, max_skus=4))
def test_allocation_converts_back_to_the_same_plan(case):
    network, inventory, orders, cost = case
    p = compile_problem(network, inventory, orders, cost=cost)
    result = route_orders(orders, network, inventory, cost=cost)
    a = result.allocation
    again = collect(
        p, *triples_of(p, a.order_id, a.sku, a.node, a.quantity), method="x", status="x", seconds=0
    )
    assert again.cost.total == pytest.approx(result.cost.total, abs=1e-9)


@settings(max_examples=20, deadline=None)
@given(instances(max_nodes=5, max_orders=10, max_skus=4), st.integers(1, 4))
def test_neighbourhood_search_keeps_the_plan_feasible_and_never_dearer(case, size):
    network, inventory, orders, cost = case
    p = compile_problem(network, inventory, orders, cost=cost)
    start = route_orders(orders, network, inventory, cost=cost)
    a = start.allocation
    inc = Incumbent.of(p, triples_of(p, a.order_id, a.sku, a.node, a.quantity))
    po, pn, pc = useful_pairs(p)
    inc = improve_by_neighbourhoods(
        p, inc, po[::2], pn[::2], pc[::2], deadline=time.perf_counter() + 20, size=size
    )
    better = collect(p, *inc.triples(), method="x", status="x", seconds=0)
    check_feasible(better, network, inventory, orders)
    assert better.cost.total <= start.cost.total + 1e-6
    assert (inc.atp >= 0).all()
    assert (inc.cap_orders >= 0).all()
    assert (inc.cap_units >= 0).all()


def test_neighbourhood_search_improves_a_greedy_plan_on_a_contended_wave():
    inst = random_instance(120, 12, 60, seed=5)
    p = compile_problem(inst.network, inst.inventory, inst.orders, cost=inst.cost)
    from omnicore.allocation._baselines import greedy_allocation

    start = greedy_allocation(p, rule="nearest")
    a = start.allocation
    inc = Incumbent.of(p, triples_of(p, a.order_id, a.sku, a.node, a.quantity))
    po, pn, pc = useful_pairs(p)
    details: dict[str, float] = {}
    inc = improve_by_neighbourhoods(
        p, inc, po, pn, pc, deadline=time.perf_counter() + 10, size=40, details=details
    )
    better = collect(p, *inc.triples(), method="x", status="x", seconds=0)
    check_feasible(better, inst.network, inst.inventory, inst.orders)
    assert better.cost.total < start.cost.total - 1.0
    assert details["lns_improved"] >= 1


@settings(max_examples=15, deadline=None)
@given(instances(max_nodes=5, max_orders=8, max_skus=4))
def test_pruned_column_pool_keeps_the_bound_certified(case):
    # the large-wave path: one pair per order in the pool, bound from the Lagrangian relaxation only
    from omnicore.allocation._batch import solve_batch

    network, inventory, orders, cost = case
    problem = compile_problem(network, inventory, orders, cost=cost)
    result = solve_batch(
        problem,
        time_limit_seconds=20,
        full_model_pairs=0,
        prune_above=0,
        pool_per_order=1,
    )
    check_feasible(result, network, inventory, orders)
    assert result.details["pairs_pruned"]
    if result.details["pairs"]:
        assert result.status != "optimal"
    exact = optimise(orders, network, inventory, cost=cost, time_limit_seconds=30)
    assert result.lower_bound <= exact.cost.total + 1e-6
    assert exact.cost.total <= result.cost.total + 1e-6


def test_lagrangian_value_does_not_depend_on_compilation():
    """The compiled per-order evaluation run as plain Python (``NUMBA_DISABLE_JIT=1``) gives the
    same bound, exact orders and subgradient."""
    code = (
        "import time, numpy as np\n"
        "from omnicore.allocation import random_instance\n"
        "from omnicore.allocation._problem import compile_problem\n"
        "from omnicore.allocation._lagrange import Prices, lagrangian_value\n"
        "inst = random_instance(80, 10, 40, seed=11)\n"
        "p = compile_problem(inst.network, inst.inventory, inst.orders, cost=inst.cost)\n"
        "rng = np.random.default_rng(3)\n"
        "pr = Prices(stock=rng.exponential(0.5, p.atp.shape), shipment=rng.exponential(0.5, p.n_nodes),\n"
        "            unit=rng.exponential(0.2, p.n_nodes)).clipped(p)\n"
        "for dl in (60, -1):\n"
        "    ev = lagrangian_value(p, pr, deadline=time.perf_counter() + dl)\n"
        "    print(repr(ev.value), ev.exact_orders, ev.usage_cells.tolist(), ev.usage_ship.tolist())\n"
    )
    compiled, plain = outputs_with_and_without_jit(code)
    assert compiled == plain
    assert compiled.strip()
