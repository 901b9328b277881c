"""The compiled single-order router against the pure-Python exact search it replaced, and its explain flag."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omnicore.allocation import (
    ChannelPool,
    CostModel,
    SourcingRules,
    SourcingTier,
    random_instance,
    route_orders,
)
from omnicore.allocation._problem import compile_problem
from omnicore.allocation._single import Router
from tests.jit_parity import outputs_with_and_without_jit

from .checks import check_feasible
from .reference_router import ReferenceRouter
from .strategies import instances

_RULES = [
    None,
    SourcingRules(pools=(ChannelPool(channel="", share=0.5, kinds=("dc",)),)),
    SourcingRules(tiers=(SourcingTier(name="stores", kinds=("store",)), SourcingTier(name="any"))),
    SourcingRules(excluded_nodes=("N0",), tiers=(SourcingTier(name="near", within_km=40.0),)),
]


def _fast(router: Router, o: int) -> tuple[np.ndarray, np.ndarray, bool, float, float]:
    _, _, closed, tiers, ship = router._order_rows(o)
    ctx, _ = router._context(o, ship, closed, tiers)
    choice = router._solve(ctx, record=False, commit=True)
    return choice.nodes, choice.take, choice.exact, choice.value, choice.bound


@settings(max_examples=80, deadline=None)
@given(
    instances(max_nodes=6, max_orders=6, max_skus=4),
    st.sampled_from(range(len(_RULES))),
    st.sampled_from([1, 2, 3, 4]),
    st.sampled_from([1, 3, 2000]),
    st.booleans(),
    st.sampled_from(["per_km", "bands", "max_distance"]),
)
def test_compiled_search_matches_the_python_reference(
    case, rules_at, max_set_size, max_evaluations, priced, tariff
):
    """Same nodes, units, exactness, objective and bound, order after order, and the same stock left."""
    network, inventory, orders, cost = case
    penalty = cost.unfilled_penalty_per_unit
    if tariff == "bands":
        cost = CostModel(unfilled_penalty_per_unit=penalty, band_edges_km=(30, 80), band_costs=(1, 2.5, 4))
    elif tariff == "max_distance":
        cost = CostModel(unfilled_penalty_per_unit=penalty, max_distance_km=60.0)
    problem = compile_problem(network, inventory, orders, cost=cost, rules=_RULES[rules_at])
    prices: dict[str, np.ndarray] = {}
    if priced:
        rng = np.random.default_rng(len(orders))
        prices = {
            "stock_price": rng.uniform(0, 3, problem.atp.shape),
            "shipment_price": rng.uniform(0, 2, problem.n_nodes),
            "unit_price": rng.uniform(0, 1, problem.n_nodes),
        }
    options = {"max_set_size": max_set_size, "max_evaluations": max_evaluations, **prices}
    reference = ReferenceRouter(problem, **options)
    fast = Router(problem, **options)
    for o in range(problem.n_orders):
        want = reference.route(o)
        nodes, take, exact, value, bound = _fast(fast, o)
        np.testing.assert_array_equal(nodes, want.nodes)
        np.testing.assert_array_equal(take, want.take)
        assert exact == want.exact
        assert value == pytest.approx(want.value, abs=1e-9)
        assert bound == pytest.approx(want.bound, abs=1e-9)
    np.testing.assert_array_equal(fast.atp, reference.atp)
    np.testing.assert_array_equal(fast.pool_left, reference.pool_left)
    np.testing.assert_array_equal(fast.cap_orders, reference.cap_orders)
    np.testing.assert_array_equal(fast.cap_units, reference.cap_units)
    np.testing.assert_array_equal(fast.node_open, reference.node_open)


def test_compiled_search_matches_the_reference_on_a_seeded_instance():
    """400 orders x 30 nodes: many multi-line orders, splits and searches cut by the size bound."""
    inst = random_instance(400, 30, 120, seed=11)
    problem = compile_problem(inst.network, inst.inventory, inst.orders, cost=inst.cost)
    reference = ReferenceRouter(problem)
    fast = Router(problem)
    split = 0
    for o in range(problem.n_orders):
        want = reference.route(o)
        nodes, take, exact, value, _ = _fast(fast, o)
        np.testing.assert_array_equal(nodes, want.nodes)
        np.testing.assert_array_equal(take, want.take)
        assert exact == want.exact
        assert value == pytest.approx(want.value, abs=1e-9)
        split += len(nodes) > 1
    assert split > 0  # the set search, not only single nodes, was compared
    np.testing.assert_array_equal(fast.atp, reference.atp)


@settings(max_examples=40, deadline=None)
@given(instances(), st.sampled_from(range(len(_RULES))))
def test_explained_and_fast_plans_are_identical(case, rules_at):
    """``explain=True`` adds alternatives and verdicts but never changes the plan."""
    network, inventory, orders, cost = case
    problem = compile_problem(network, inventory, orders, cost=cost, rules=_RULES[rules_at])
    fast, explained = Router(problem), Router(problem)
    for o in range(problem.n_orders):
        a = fast.route(o, explain=False)
        b = explained.route(o, explain=True)
        assert (a.order_id, a.lines, a.unfilled, a.cost, a.exact) == (
            b.order_id,
            b.lines,
            b.unfilled,
            b.cost,
            b.exact,
        )
        assert a.alternatives == ()
        assert a.verdicts == ()
        assert len(b.verdicts) == problem.n_nodes
        assert b.alternatives[0].note == "chosen"
        assert b.alternatives[0].cost == pytest.approx(b.cost.total)
        # every alternative listed is feasible-and-dearer or infeasible
        assert all(alt.cost >= b.cost.total - 1e-6 for alt in b.alternatives[1:])
    np.testing.assert_array_equal(fast.atp, explained.atp)


@settings(max_examples=40, deadline=None)
@given(instances())
def test_sequential_routing_never_exceeds_stock(case):
    """Routed one by one with ``route``, the orders together stay within ATP and capacity."""
    network, inventory, orders, cost = case
    problem = compile_problem(network, inventory, orders, cost=cost)
    router = Router(problem)
    for o in range(problem.n_orders):
        router.route(o, explain=False)
    assert (router.atp >= 0).all()
    assert (router.cap_orders >= 0).all()
    assert (router.cap_units >= 0).all()
    # and route_orders' allocation, checked independently against the raw inputs
    result = route_orders(orders, network, inventory, cost=cost)
    check_feasible(result, network, inventory, orders)


def test_results_do_not_depend_on_compilation():
    """The kernel run as plain Python (``NUMBA_DISABLE_JIT=1``) routes a small wave identically."""
    code = (
        "from omnicore.allocation import random_instance, route_orders\n"
        "inst = random_instance(60, 8, 30, seed=7)\n"
        "r = route_orders(inst.orders, inst.network, inst.inventory, cost=inst.cost)\n"
        "print(repr(r.cost.total), r.details['exact_orders'], r.allocation.quantity.tolist())\n"
    )
    compiled, plain = outputs_with_and_without_jit(code)
    assert compiled == plain
