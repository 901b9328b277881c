"""The demo step runs on a small synthetic retailer and reports what it did."""

from __future__ import annotations

import pytest

from omnicore._demo._base import DemoContext
from omnicore._demo.allocation import run
from omnicore.datasets import synthetic_retailer

from .fake_store import FakeStore


@pytest.mark.slow
def test_demo_step_routes_optimises_and_reserves():
    data = synthetic_retailer(n_customers=2_000, seed=3)
    ctx = DemoContext(store=FakeStore(), data=data, seed=3)
    section = run(ctx)
    wave = ctx.results["allocation.wave"]
    held = ctx.results["allocation.reservations"]
    assert wave.n_orders == len(set(data.open_orders.order_id.tolist()))
    assert held.failed == ()
    assert held.units == int(wave.allocation.quantity.sum())  # every allocated unit is held
    assert section.title == "Inventory allocation"
    assert any(line.startswith("orders routed") for line in section.lines)
    assert section.table[0][0] == "method"
    assert len(section.table) == 4
