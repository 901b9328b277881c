"""omnicore.summarize's RFM-side fields and fast paths, against an obviously-correct loop.

The loop re-derives every field from its definition, one customer at a time. Inputs come time-ordered
(the O(n) path) and shuffled (sorted first), with duplicate timestamps, returns and channels.
"""

from __future__ import annotations

import warnings
from collections import defaultdict

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omnicore import Transactions, summarize

START = np.datetime64("2024-01-01T00:00", "us")
END = "2024-03-01"
DAY_US = 86_400_000_000


def period_of(stamp_us: int, period: str) -> int:
    """Index of the hour, day or Monday-to-Sunday week of a timestamp (1970-01-01 was a Thursday)."""
    if period == "h":
        return stamp_us // 3_600_000_000
    if period == "D":
        return stamp_us // DAY_US
    return (stamp_us // DAY_US + 3) // 7


def reference(
    rows: list[tuple[int, int, float, str, int]], end: str, period: str = "D"
) -> dict[int, dict[str, object]]:
    """Per customer, from the definitions (rows after END's period are ignored)."""
    end_us = int(np.datetime64(end, "us").astype(np.int64))
    end_day = period_of(end_us, period)
    out: dict[int, dict[str, object]] = {}
    by_customer: dict[int, list[tuple[int, float, str, int]]] = defaultdict(list)
    for cid, minute, amount, channel, order in rows:
        stamp = int(START.astype(np.int64)) + minute * 60_000_000
        if period_of(stamp, period) <= end_day:
            by_customer[cid].append((stamp, amount, channel, order))
    for cid, items in by_customer.items():
        buys = [it for it in items if it[1] >= 0]
        if not buys:
            continue
        days = sorted({period_of(s, period) for s, *_ in buys})
        per_day: dict[int, float] = defaultdict(float)
        for s, a, *_ in buys:
            per_day[period_of(s, period)] += a
        repeat = [per_day[d] for d in days[1:]]
        gross = sum(a for _, a, *_ in buys)
        channel_spend: dict[str, float] = defaultdict(float)
        for _, a, ch, _ in buys:
            channel_spend[ch] += a
        out[cid] = {
            "frequency": len(days) - 1,
            "recency": days[-1] - days[0],
            "T": end_day - days[0],
            "monetary_value": sum(repeat) / len(repeat) if repeat else 0.0,
            "first": min(s for s, *_ in buys),
            "last": max(s for s, *_ in buys),
            "days_since_last": max(end_us - max(s for s, *_ in buys), 0) / DAY_US,
            "orders_by_time": len({s for s, *_ in buys}),
            "orders_by_id": len({o for *_, o in buys}),
            "gross": gross,
            "returned": -sum(a for _, a, *_ in items if a < 0),
            "shares": {ch: (v / gross if gross > 0 else 0.0) for ch, v in channel_spend.items()},
        }
    return out


rows_strategy = st.lists(
    st.tuples(
        st.integers(0, 8),  # customer
        st.integers(0, 70 * 24 * 60).map(lambda m: m - m % 720) | st.integers(0, 70 * 24 * 60),  # minutes
        st.one_of(
            st.floats(0, 300).map(lambda x: round(x, 2)), st.floats(-50, -0.01).map(lambda x: round(x, 2))
        ),
        st.sampled_from(["online", "store", "community"]),
        st.integers(0, 30),  # order id
    ),
    min_size=1,
    max_size=60,
)


def build(rows: list[tuple[int, int, float, str, int]], *, by_order: bool, order: np.ndarray) -> Transactions:
    ids = np.array([r[0] for r in rows], np.int64)[order]
    stamps = (START + np.array([r[1] for r in rows], "timedelta64[m]"))[order]
    amounts = np.array([r[2] for r in rows])[order]
    channels = np.array([r[3] for r in rows])[order]
    orders = np.array([r[0] * 1000 + r[4] for r in rows], np.int64)[order] if by_order else None
    return Transactions(
        customer_id=ids,
        timestamp=stamps,
        amount=amounts,
        channel=channels,
        order_id=orders,
        allow_returns=True,
    )


@settings(max_examples=80)
@given(
    rows=rows_strategy,
    by_order=st.booleans(),
    shuffle=st.booleans(),
    seed=st.integers(0, 2**16),
    period=st.sampled_from(["D", "W", "h"]),
)
def test_fields_match_the_definitions(
    rows: list[tuple[int, int, float, str, int]], by_order: bool, shuffle: bool, seed: int, period: str
) -> None:
    minutes = np.array([r[1] for r in rows])
    order = (
        np.random.default_rng(seed).permutation(len(rows)) if shuffle else np.argsort(minutes, kind="stable")
    )
    ref = reference(rows, END, period)
    tx = build(rows, by_order=by_order, order=order)
    if not ref:
        with pytest.raises(Exception):  # noqa: B017, PT011 - only returns or nothing before END
            summarize(tx, observation_end=END, period=period)
        return
    s = summarize(tx, observation_end=END, period=period)
    assert s.customer_id.tolist() == sorted(ref)
    for i, cid in enumerate(s.customer_id.tolist()):
        r = ref[cid]
        assert s.frequency[i] == r["frequency"]
        assert s.recency[i] == r["recency"]
        assert s.T[i] == r["T"]
        assert s.monetary_value[i] == pytest.approx(r["monetary_value"], rel=1e-12, abs=1e-9)
        assert int(s.first_purchase[i].astype(np.int64)) == r["first"]
        assert int(s.last_purchase[i].astype(np.int64)) == r["last"]
        assert s.days_since_last[i] == pytest.approx(r["days_since_last"])
        assert s.orders[i] == (r["orders_by_id"] if by_order else r["orders_by_time"])
        assert s.gross_spend[i] == pytest.approx(r["gross"], abs=1e-9)
        assert s.returned[i] == pytest.approx(r["returned"], abs=1e-9)
        assert s.net_spend[i] == pytest.approx(r["gross"] - r["returned"], abs=1e-9)
        for channel, share in s.channel_share.items():
            assert share[i] == pytest.approx(r["shares"].get(channel, 0.0), abs=1e-9)


def test_many_rows_channel_fast_path_and_fallbacks() -> None:
    rng = np.random.default_rng(2)
    n = 20_000
    ids = rng.integers(0, 500, n)
    stamps = np.sort(START + rng.integers(0, 60 * DAY_US, n).astype("timedelta64[us]"))
    amounts = rng.gamma(2, 20, n)
    names = np.array(["online", "store", "community", "a private-domain community group chat"])
    channel = names[rng.choice(4, n, p=[0.5, 0.3, 0.2 - 1e-4, 1e-4])]
    channel[n // 2] = "rare-channel"  # missed by the sample: must fall back, not be lost
    tx = Transactions(customer_id=ids, timestamp=stamps, amount=amounts, channel=channel)
    s = summarize(tx, observation_end=END)
    frame = pd.DataFrame({"c": ids, "ch": channel, "a": amounts})
    expected = frame.pivot_table(index="c", columns="ch", values="a", aggfunc="sum", fill_value=0.0)
    expected = expected.div(expected.sum(axis=1), axis=0)
    assert sorted(s.channel_share) == sorted(expected.columns)
    for channel_name, share in s.channel_share.items():
        np.testing.assert_allclose(share, expected[channel_name].to_numpy(), atol=1e-12)


def test_matches_lifetimes_on_generated_data() -> None:
    lifetimes_utils = pytest.importorskip("lifetimes.utils")
    rng = np.random.default_rng(11)
    n = 3000
    ids = rng.integers(0, 400, n)
    stamps = START + rng.integers(0, 200 * DAY_US, n).astype("timedelta64[us]")
    amounts = np.round(rng.gamma(2.0, 30.0, n), 2)
    for freq in ("D", "W"):
        ours = summarize(
            Transactions(customer_id=ids, timestamp=stamps, amount=amounts),
            observation_end="2024-06-30",
            period=freq,
        )
        frame = pd.DataFrame({"id": ids, "date": pd.to_datetime(stamps), "amount": amounts})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # lifetimes is old and warns under pandas 2
            theirs = lifetimes_utils.summary_data_from_transaction_data(
                frame,
                "id",
                "date",
                monetary_value_col="amount",
                observation_period_end="2024-06-30",
                freq=freq,
            )
        assert ours.customer_id.tolist() == theirs.index.tolist()
        np.testing.assert_array_equal(ours.frequency, theirs["frequency"].to_numpy())
        np.testing.assert_array_equal(ours.recency, theirs["recency"].to_numpy())
        np.testing.assert_array_equal(ours.T, theirs["T"].to_numpy())
        np.testing.assert_allclose(ours.monetary_value, theirs["monetary_value"].to_numpy(), rtol=1e-12)
