"""summarize and calibration_holdout against an independent pandas version of lifetimes' definitions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omnicore import Transactions, ValidationError, calibration_holdout, summarize


def lifetimes_reference(frame: pd.DataFrame, end: str, freq: str) -> pd.DataFrame:
    """lifetimes' summary_data_from_transaction_data, re-derived step by step with pandas."""
    end_ts = pd.Timestamp(end).to_period(freq).to_timestamp()
    df = frame.copy()
    df["p"] = df["timestamp"].dt.to_period(freq).dt.to_timestamp()
    df = df[df["p"] <= end_ts]
    per = df.groupby(["customer_id", "p"], as_index=False)["amount"].sum().sort_values(["customer_id", "p"])
    per["first"] = ~per.duplicated("customer_id")
    g = per.groupby("customer_id")
    out = pd.DataFrame({"min": g["p"].min(), "max": g["p"].max(), "count": g["p"].count()})
    unit = pd.Timedelta(days=7 if freq == "W" else 1)
    out["frequency"] = out["count"] - 1
    out["T"] = (end_ts - out["min"]) / unit
    out["recency"] = (out["max"] - out["min"]) / unit
    repeat = per[~per["first"]].groupby("customer_id")["amount"].mean()
    out["monetary_value"] = repeat.reindex(out.index).fillna(0.0)
    return out


transactions_strategy = st.lists(
    st.tuples(
        st.integers(0, 12),  # customer
        st.integers(0, 400 * 24),  # hours after start
        st.floats(0, 500, allow_nan=False).map(lambda x: round(x, 2)),
    ),
    min_size=1,
    max_size=80,
)


@settings(max_examples=60, deadline=None)
@given(rows=transactions_strategy, freq=st.sampled_from(["D", "W"]))
def test_btyd_fields_match_lifetimes_definitions(rows: list[tuple[int, int, float]], freq: str) -> None:
    start = np.datetime64("2023-03-01T00:00", "us")
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    stamps = start + np.array([r[1] for r in rows], dtype="timedelta64[h]")
    amounts = np.array([r[2] for r in rows])
    end = "2024-04-30"
    ours = summarize(
        Transactions(customer_id=ids, timestamp=stamps, amount=amounts), observation_end=end, period=freq
    )
    ref = lifetimes_reference(
        pd.DataFrame({"customer_id": ids, "timestamp": pd.to_datetime(stamps), "amount": amounts}), end, freq
    )
    assert ours.customer_id.tolist() == ref.index.tolist()
    np.testing.assert_array_equal(ours.frequency, ref["frequency"].to_numpy())
    np.testing.assert_allclose(ours.recency, ref["recency"].to_numpy())
    np.testing.assert_allclose(ours.T, ref["T"].to_numpy())
    np.testing.assert_allclose(ours.monetary_value, ref["monetary_value"].to_numpy(), rtol=1e-12, atol=1e-9)


@given(rows=transactions_strategy, seed=st.integers(0, 2**32 - 1))
@settings(max_examples=30, deadline=None)
def test_invariant_to_row_order(rows: list[tuple[int, int, float]], seed: int) -> None:
    ids = np.array([r[0] for r in rows])
    stamps = np.datetime64("2023-01-01", "us") + np.array([r[1] for r in rows], dtype="timedelta64[h]")
    amounts = np.array([r[2] for r in rows])
    perm = np.random.default_rng(seed).permutation(len(rows))
    a = summarize(
        Transactions(customer_id=ids, timestamp=stamps, amount=amounts), observation_end="2024-06-01"
    )
    b = summarize(
        Transactions(customer_id=ids[perm], timestamp=stamps[perm], amount=amounts[perm]),
        observation_end="2024-06-01",
    )
    assert a.frequency.tolist() == b.frequency.tolist()
    np.testing.assert_allclose(a.monetary_value, b.monetary_value)
    np.testing.assert_allclose(a.gross_spend, b.gross_spend)


def test_returns_are_reported_not_counted_as_purchases() -> None:
    tx = Transactions(
        customer_id=["a", "a", "a", "b"],
        timestamp=["2024-01-01", "2024-01-05", "2024-01-09", "2024-01-02"],
        amount=[100.0, 50.0, -30.0, -10.0],
        order_id=["o1", "o2", "o2", "o3"],
        allow_returns=True,
    )
    s = summarize(tx, observation_end="2024-01-31")
    assert s.customer_id.tolist() == ["a"]  # b only returned something
    assert s.frequency.tolist() == [1]
    assert s.recency.tolist() == [4.0]
    assert s.gross_spend.tolist() == [150.0]
    assert s.returned.tolist() == [30.0]
    assert s.net_spend.tolist() == [120.0]
    assert s.orders.tolist() == [2]


def test_days_since_last_and_channel_share() -> None:
    tx = Transactions(
        customer_id=[1, 1, 2],
        timestamp=["2024-01-01T00:00", "2024-01-20T12:00", "2024-01-30T00:00"],
        amount=[30.0, 90.0, 10.0],
        channel=["online", "store", "community"],
    )
    s = summarize(tx, observation_end="2024-01-31T00:00")
    assert s.days_since_last.tolist() == [10.5, 1.0]
    assert set(s.channel_share) == {"community", "online", "store"}
    assert s.channel_share["store"].tolist() == [0.75, 0.0]
    assert s.channel_share["online"].tolist() == [0.25, 0.0]
    assert s.channel_share["community"].tolist() == [0.0, 1.0]


def test_rows_after_observation_end_are_ignored() -> None:
    tx = Transactions(
        customer_id=[1, 1, 2], timestamp=["2024-01-01", "2024-03-01", "2024-03-02"], amount=[1.0, 2, 3]
    )
    s = summarize(tx, observation_end="2024-02-01")
    assert s.customer_id.tolist() == [1]
    assert s.frequency.tolist() == [0]
    assert s.T.tolist() == [31.0]


def test_no_purchase_before_end_is_an_error() -> None:
    tx = Transactions(customer_id=[1], timestamp=["2024-03-01"], amount=[1.0])
    with pytest.raises(ValidationError, match="observation_end"):
        summarize(tx, observation_end="2024-02-01")


def test_calibration_holdout_matches_lifetimes_definitions() -> None:
    tx = Transactions(
        customer_id=[1, 1, 1, 1, 2, 2, 3],
        timestamp=[
            "2024-01-01",
            "2024-01-15",
            "2024-02-02",
            "2024-02-02T20:00",
            "2024-01-20",
            "2024-02-20",
            "2024-02-10",
        ],
        amount=[10.0, 20.0, 5.0, 7.0, 8.0, 9.0, 100.0],
    )
    ch = calibration_holdout(tx, calibration_end="2024-01-31", observation_end="2024-02-29")
    assert ch.calibration.customer_id.tolist() == [1, 2]  # 3 first bought in the holdout
    assert ch.frequency_holdout.tolist() == [1.0, 1.0]  # two rows on one day count once
    assert ch.monetary_value_holdout.tolist() == [6.0, 9.0]
    assert ch.duration_holdout == 29.0
    with pytest.raises(ValidationError, match="calibration_end"):
        calibration_holdout(tx, calibration_end="2024-03-01", observation_end="2024-02-29")


@given(rows=transactions_strategy, offset=st.sampled_from([-(10**6), -7, 0, 10**6, 10**12]))
@settings(max_examples=30, deadline=None)
def test_id_values_do_not_change_the_summary(rows: list[tuple[int, int, float]], offset: int) -> None:
    # Small non-negative ids, negative ids and sparse large ids take different grouping paths.
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    stamps = np.datetime64("2023-01-01", "us") + np.array([r[1] for r in rows], dtype="timedelta64[h]")
    amounts = np.array([r[2] for r in rows])
    channel = np.array(["online", "store", "community"])[ids % 3]
    a = summarize(Transactions(customer_id=ids, timestamp=stamps, amount=amounts, channel=channel))
    b = summarize(Transactions(customer_id=ids + offset, timestamp=stamps, amount=amounts, channel=channel))
    assert (a.customer_id + offset).tolist() == b.customer_id.tolist()
    for name in ("frequency", "recency", "T", "monetary_value", "orders", "gross_spend", "days_since_last"):
        assert getattr(a, name).tolist() == getattr(b, name).tolist(), name
    assert a.channel_share.keys() == b.channel_share.keys()
    for key, share in a.channel_share.items():
        assert share.tolist() == b.channel_share[key].tolist()


@given(micros=st.integers(0, 4_000_000_000_000_000), period=st.sampled_from(["h", "D", "W"]))
def test_period_start_inverts_period_index(micros: int, period: str) -> None:
    from omnicore.summary import Period, period_index
    from omnicore.summary._period import period_start_us

    unit = Period.parse(period)
    index = int(period_index(np.array([micros], dtype="datetime64[us]"), unit)[0])
    start = period_start_us(index, unit)
    assert start <= micros < period_start_us(index + 1, unit)
    assert int(period_index(np.array([start], dtype="datetime64[us]"), unit)[0]) == index
