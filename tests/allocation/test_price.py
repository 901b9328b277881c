"""Shadow mode: pricing an external allocation by hand-computed costs, and catching violations."""

from __future__ import annotations

import pytest

from omnicore.allocation import (
    Allocation,
    CostModel,
    Network,
    Orders,
    distance_km,
    optimise,
    price_allocation,
)
from omnicore.data import Inventory


def _setup():
    net = Network(
        node=["DC", "S1"],
        kind=["dc", "store"],
        lat=[31.0, 31.2],
        lon=[121.0, 121.4],
        fixed_cost_per_shipment=[4.0, 6.0],
        cost_per_km=[0.01, 0.02],
        handling_cost_per_unit=[0.5, 1.0],
        capacity_orders=[10, 1],
    )
    inv = Inventory(sku=["A", "B", "B"], node=["DC", "DC", "S1"], on_hand=[5, 1, 5])
    orders = Orders.from_lines(
        order_id=["o1", "o1", "o2"],
        sku=["A", "B", "B"],
        quantity=[2, 1, 3],
        lat=[31.1, 31.1, 31.2],
        lon=[121.2, 121.2, 121.3],
    )
    return net, inv, orders


def test_prices_an_allocation_by_hand():
    net, inv, orders = _setup()
    alloc = Allocation(
        order_id=["o1", "o1", "o2"], sku=["A", "B", "B"], node=["DC", "DC", "S1"], quantity=[2, 1, 2]
    )
    priced = price_allocation(alloc, orders, net, inv, cost=CostModel(unfilled_penalty_per_unit=10))
    d1 = float(distance_km(31.1, 121.2, 31.0, 121.0))
    d2 = float(distance_km(31.2, 121.3, 31.2, 121.4))
    expected = (4 + 0.01 * d1 + 3 * 0.5) + (6 + 0.02 * d2 + 2 * 1.0) + 10 * 1
    assert priced.cost.total == pytest.approx(expected)
    assert priced.violations == ()
    assert priced.unfilled.to_records() == [{"order_id": "o2", "sku": "B", "quantity": 1}]
    best = optimise(orders, net, inv, cost=CostModel(unfilled_penalty_per_unit=10))
    shadow = price_allocation(
        alloc, orders, net, inv, cost=CostModel(unfilled_penalty_per_unit=10), lower_bound=best.lower_bound
    )
    assert shadow.gap >= best.gap >= 0


def test_reports_every_violation():
    net, inv, orders = _setup()
    alloc = Allocation(
        order_id=["o1", "o1", "o2", "o1"],
        sku=["A", "B", "B", "A"],
        node=["DC", "S1", "S1", "S1"],
        quantity=[2, 1, 3, 1],
    )
    priced = price_allocation(alloc, orders, net, inv)
    text = " ".join(priced.violations)
    assert priced.status == "infeasible"
    assert "beyond the quantity ordered" in text
    assert "beyond available to promise" in text
    assert "beyond shipment capacity" in text
