"""The demo step runs on a small retailer-like dataset and reports decisions by rule and status."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from omnicore._demo import campaigns as demo
from omnicore._demo._base import DemoContext
from omnicore.data import Events, Transactions
from tests.campaigns._fake_store import FakeStore


def test_demo_step_reports_decisions_by_rule_and_status() -> None:
    rng = np.random.default_rng(0)
    n = 3_000
    t0 = np.datetime64("2024-01-01", "us")
    kinds = rng.choice(["browse", "add_to_cart", "purchase", "chat_message"], n)
    events = Events(
        customer_id=rng.integers(0, 200, n),
        event_type=kinds,
        timestamp=t0 + np.sort(rng.integers(0, 90 * 86400, n)).astype("timedelta64[s]"),
        event_id=[f"E{i:06d}" for i in range(n)],
        properties={
            "category": rng.choice(["baby", "skincare"], n),
            "price": rng.gamma(2.0, 60.0, n),
            "text": np.where(
                kinds == "chat_message", rng.choice(["请问这款防晒霜还有货吗？", "我的快递到哪里了"], n), ""
            ),
        },
    )
    purchases = events.take(np.flatnonzero(events.event_type == "purchase"))
    tx = Transactions(
        customer_id=purchases.customer_id, timestamp=purchases.timestamp, amount=np.full(len(purchases), 10.0)
    )
    data = SimpleNamespace(events=events, transactions=tx, observation_end=t0 + np.timedelta64(100, "D"))
    ctx = DemoContext(store=FakeStore(), data=data, seed=0)  # type: ignore[arg-type]
    section = demo.run(ctx)
    decisions = ctx.results["campaigns.decisions"]
    assert len(decisions) > 0
    header, *rows = section.table
    assert header[0] == "rule"
    assert "fired" in header
    assert {r[0] for r in rows} == {r.rule_id for r in demo.demo_rules().rules}
    total = sum(int(cell.replace(",", "")) for row in rows for cell in row[1:])
    assert total == len(decisions)
    # a second run over the same store fires nothing new (replay)
    again = demo.CampaignEngine(ctx.store, demo.demo_rules(), name="demo").process(events)
    assert len(again) == 0
