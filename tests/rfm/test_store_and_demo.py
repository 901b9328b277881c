"""segment_customers and the demo step, against a minimal store holding a transaction log."""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np
import pytest

import omnicore
from omnicore import rfm
from omnicore._demo._base import DemoContext
from omnicore._demo.rfm import run


class ListLog:
    """The one TransactionLog method segment_customers needs: load(end=...) with an exclusive end."""

    def __init__(self, tx: omnicore.Transactions) -> None:
        self.tx = tx
        self.calls: list[Any] = []

    def load(self, *, start: Any = None, end: Any = None, customer_ids: Any = None) -> omnicore.Transactions:
        self.calls.append(end)
        keep = np.ones(len(self.tx), bool) if end is None else self.tx.timestamp < np.datetime64(end, "us")
        return self.tx.take(keep)


@attrs.define
class FakeStore:
    transactions: ListLog


def make_transactions(seed: int = 0) -> omnicore.Transactions:
    rng = np.random.default_rng(seed)
    n = 4000
    return omnicore.Transactions(
        customer_id=rng.integers(0, 300, n),
        timestamp=np.datetime64("2024-01-01", "us")
        + rng.integers(0, 360 * 86_400, n).astype("timedelta64[s]"),
        amount=rng.gamma(2, 30, n).round(2),
    )


def test_segment_customers_equals_the_pure_pipeline() -> None:
    tx = make_transactions()
    store = FakeStore(ListLog(tx))
    got = rfm.segment_customers(store, as_of="2024-09-30T12:00")  # type: ignore[arg-type]
    # the whole of the as-of day is loaded, nothing after it
    assert store.transactions.calls == [np.datetime64("2024-10-01T00:00:00", "us")]
    expected = rfm.segment(rfm.score(omnicore.summarize(tx, observation_end="2024-09-30T12:00")))
    assert np.array_equal(got.customer_id, expected.customer_id)
    assert np.array_equal(got.segment_code, expected.segment_code)


def test_demo_step_reports_segments_and_migration() -> None:
    tx = make_transactions(1)

    @attrs.define
    class Data:
        observation_end: np.datetime64

    ctx = DemoContext(store=FakeStore(ListLog(tx)), data=Data(np.datetime64("2024-12-31", "us")), seed=0)  # type: ignore[arg-type]
    section = run(ctx)
    assert section.title == "RFM segments"
    assert section.table[0][0] == "segment"
    shown = sum(int(row[1].replace(",", "")) for row in section.table[1:])
    assert shown == len(ctx.results["rfm.segments"])
    moves = ctx.results["rfm.migration"]
    assert isinstance(moves, rfm.SegmentMigration)
    assert int(moves.counts.sum()) == len(set(tx.customer_id.tolist()))
    assert any("90 days earlier" in line for line in section.lines)


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_with_real_stores(kind: str, tmp_path: Any) -> None:
    url = "memory://" if kind == "memory" else f"sqlite:///{tmp_path / 'rfm.db'}"
    tx = make_transactions(2)
    with omnicore.open_store(url) as store:
        store.transactions.append(tx)
        got = rfm.segment_customers(store, as_of="2024-11-30")
    expected = rfm.segment(rfm.score(omnicore.summarize(tx, observation_end="2024-11-30")))
    assert np.array_equal(got.customer_id, expected.customer_id)
    assert np.array_equal(got.segment_code, expected.segment_code)
