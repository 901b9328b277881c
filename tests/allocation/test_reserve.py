"""Reservations: reserve, confirm, release, reroute, expiry; on the real adapters (memory, SQLite) when
present and on a small reference implementation of the Protocol (tests/allocation/fake_store.py)."""

from __future__ import annotations

import importlib.util
import os
import uuid

import numpy as np
import pytest

from omnicore.allocation import (
    CostModel,
    Network,
    Orders,
    confirm,
    release,
    reroute,
    reserve,
    route_and_reserve,
    route_order,
)
from omnicore.data import Inventory
from omnicore.storage import open_store

from .fake_store import FakeStore

POSTGRES_URL = os.environ.get("OMNICORE_TEST_POSTGRES_URL", "")
BACKENDS = [
    pytest.param("fake"),
    pytest.param(
        "memory",
        marks=pytest.mark.skipif(
            importlib.util.find_spec("omnicore.storage.memory") is None, reason="memory adapter not available"
        ),
    ),
    pytest.param(
        "sqlite",
        marks=pytest.mark.skipif(
            importlib.util.find_spec("omnicore.storage.sqlite") is None, reason="SQLite adapter not available"
        ),
    ),
    pytest.param(
        "postgres",
        marks=[
            pytest.mark.postgres,
            pytest.mark.skipif(not POSTGRES_URL, reason="needs OMNICORE_TEST_POSTGRES_URL"),
        ],
    ),
]
NOW = np.datetime64("2025-06-01T10:00:00", "us")


@pytest.fixture(params=BACKENDS)
def store(request, tmp_path):
    if request.param == "fake":
        yield FakeStore()
        return
    tenant = f"alloc-{uuid.uuid4().hex[:10]}"
    if request.param == "memory":
        with open_store(f"memory://alloc-{uuid.uuid4().hex}", tenant=tenant) as handle:
            yield handle
    elif request.param == "sqlite":
        with open_store(f"sqlite:///{tmp_path / 'alloc.db'}", tenant=tenant) as handle:
            yield handle
    else:
        schema = f"omnicore_alloc_{uuid.uuid4().hex[:12]}"
        try:
            with open_store(POSTGRES_URL, tenant=tenant, schema=schema) as handle:
                yield handle
        finally:
            import psycopg

            with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
                connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _world():
    net = Network(
        node=["DC", "S1", "S2"],
        kind=["dc", "store", "store"],
        lat=[31.0, 31.2, 31.3],
        lon=[121.0, 121.4, 121.5],
        fixed_cost_per_shipment=[4.0, 6.0, 6.0],
        cost_per_km=[0.01, 0.02, 0.02],
        handling_cost_per_unit=[0.5, 1.0, 1.0],
    )
    inv = Inventory(sku=["A", "B", "B", "A"], node=["DC", "S1", "S2", "S2"], on_hand=[5, 2, 2, 2])
    orders = Orders.from_lines(
        order_id=["o1", "o1", "o2"],
        sku=["A", "B", "B"],
        quantity=[1, 2, 2],
        lat=[31.25] * 3,
        lon=[121.45] * 3,
    )
    return net, inv, orders


def _atp(store, sku, node):
    inv = store.inventory.get(skus=[sku], nodes=[node], now=NOW)
    return int(inv.available.sum())


def test_reserve_is_atomic_idempotent_and_never_oversells(store):
    net, inv, orders = _world()
    store.inventory.put(inv)
    plan = route_order(orders, net, store.inventory.get(now=NOW), order_id="o1", explain=False)
    first = reserve(store.inventory, plan, ttl_seconds=60, now=NOW)
    again = reserve(store.inventory, plan, ttl_seconds=60, now=NOW)
    assert [r.lines for r in first.held] == [r.lines for r in again.held]
    assert first.units == 3
    # o2 wants the two B units o1 holds at its node: routing against live ATP goes elsewhere
    _result, outcome = route_and_reserve(store, orders.take([1]), net, now=NOW)
    assert outcome.failed == ()
    for sku, node in [("A", "DC"), ("B", "S1"), ("B", "S2"), ("A", "S2")]:
        assert _atp(store, sku, node) >= 0
    held_b = sum(
        line.quantity for r in store.inventory.active(now=NOW) for line in r.lines if line.sku == "B"
    )
    assert held_b == 4
    # nothing is left for a third order of B: the plan reports it unfilled instead of overselling
    more = Orders.from_lines(order_id=["o3"], sku=["B"], quantity=[1], lat=[31.25], lon=[121.45])
    result3, outcome3 = route_and_reserve(store, more, net, now=NOW)
    assert result3.unfilled_units == 1
    assert outcome3.held == ()


def test_confirm_release_and_expiry(store):
    net, inv, orders = _world()
    store.inventory.put(inv)
    plan = route_order(orders, net, inv, order_id="o1", explain=False)
    reserve(store.inventory, plan, ttl_seconds=60, now=NOW)
    before = _atp(store, "A", plan.lines[0].node) if plan.lines[0].sku == "A" else None
    confirm(store.inventory, "o1", now=NOW)
    assert store.inventory.reservation("o1").status.value == "confirmed"
    plan2 = route_order(orders, net, store.inventory.get(now=NOW), order_id="o2", explain=False)
    reserve(store.inventory, plan2, ttl_seconds=60, now=NOW)
    release(store.inventory, "o2", now=NOW)
    assert store.inventory.reservation("o2").status.value == "released"
    reserve(store.inventory, attrs_evolve_order(plan2, "o2b"), ttl_seconds=1, now=NOW)
    later = NOW + np.timedelta64(5, "s")
    assert store.inventory.expire(now=later) == 1
    assert store.inventory.active(now=later) == []
    del before


def attrs_evolve_order(plan, order_id):
    import attrs

    return attrs.evolve(plan, order_id=order_id)


def test_reroute_replans_only_the_rejected_lines(store):
    net, inv, orders = _world()
    store.inventory.put(inv)
    plan = route_order(orders, net, inv, order_id="o1", explain=False, cost=CostModel())
    reserve(store.inventory, plan, ttl_seconds=60, now=NOW)
    rejected = next(line.node for line in plan.lines if line.sku == "B")
    new = reroute(store, plan, rejected, orders, net, ttl_seconds=60, now=NOW)
    assert all(line.node != rejected for line in new.lines)
    kept = [line for line in plan.lines if line.node != rejected]
    assert all(line in new.lines for line in kept)
    held = [line for r in store.inventory.active(now=NOW) for line in r.lines]
    assert sum(line.quantity for line in held) == new.filled_units
    assert all(line.node != rejected for line in held)
    # one reservation under the order's own id holds the whole new plan; confirming ships all of it
    assert [r.order_id for r in store.inventory.active(now=NOW)] == ["o1"]
    as_held = {(line.sku, line.node): line.quantity for line in store.inventory.reservation("o1").lines}
    planned: dict = {}
    for line in new.lines:
        planned[(line.sku, line.node)] = planned.get((line.sku, line.node), 0) + line.quantity
    assert as_held == planned
    assert confirm(store.inventory, "o1", now=NOW).status.value == "confirmed"
    assert store.inventory.active(now=NOW) == []


def test_reroute_prices_the_new_plan(store):
    net, inv, orders = _world()
    store.inventory.put(inv)
    plan = route_order(orders, net, inv, order_id="o1", explain=False)
    reserve(store.inventory, plan, ttl_seconds=60, now=NOW)
    rejected = plan.lines[0].node
    new = reroute(store, plan, rejected, orders, net, ttl_seconds=60, now=NOW)
    alone = route_order(orders, net, inv, order_id="o1", explain=False)
    assert new.cost.total >= alone.cost.total - 1e-9  # the first plan was the cheapest
    assert all(line.node != rejected for line in new.lines)
