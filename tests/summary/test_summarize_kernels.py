"""summarize's compiled bucket/sweep/thread paths, forced onto small logs, against pandas group-bys."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from omnicore import Transactions, summarize
from omnicore.summary import _summarize
from omnicore.summary._period import Period, period_index

DAY_US = 86_400_000_000
END = "2024-07-01"


def make_log(seed: int, rows: int = 6000, customers: int = 400, *, start: str = "2024-01-01") -> pd.DataFrame:
    """A random log with shared timestamps, one-day buyers, returns and three channels."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, customers, rows) * 7 + 1000  # gaps between ids
    base = np.datetime64(start, "us").astype(np.int64)
    stamps = base + rng.integers(0, 200, rows) * DAY_US + rng.integers(0, 4, rows) * 3_600_000_000
    amount = np.round(rng.gamma(2.0, 30.0, rows), 2)
    amount[rng.random(rows) < 0.05] *= -0.5
    channel = np.array(["online", "store", "community"])[rng.integers(0, 3, rows)]
    frame = pd.DataFrame({"id": ids, "stamp": stamps, "amount": amount, "channel": channel})
    return frame.sort_values("stamp", kind="stable", ignore_index=True)


def transactions(frame: pd.DataFrame) -> Transactions:
    return Transactions(
        customer_id=frame["id"].to_numpy(),
        timestamp=frame["stamp"].to_numpy().astype("datetime64[us]"),
        amount=frame["amount"].to_numpy(),
        channel=frame["channel"].to_numpy().astype(str),
        allow_returns=True,
    )


def pandas_reference(frame: pd.DataFrame, period: str, end: str = END) -> pd.DataFrame:
    """The summary fields by pandas group-bys, from their definitions."""
    unit = Period.parse(period)
    end_period = int(period_index(np.array([np.datetime64(end, "us")]), unit)[0])
    frame = frame.assign(period=period_index(frame["stamp"].to_numpy().astype("datetime64[us]"), unit))
    frame = frame[frame["period"] <= end_period]
    buys = frame[frame["amount"] >= 0]
    per_period = buys.groupby(["id", "period"])["amount"].sum().reset_index()
    first_period = per_period.groupby("id")["period"].min()
    later = per_period[per_period["period"] > per_period["id"].map(first_period)]
    by_id = buys.groupby("id")
    out = pd.DataFrame(
        {
            "frequency": per_period.groupby("id").size() - 1,
            "recency": (per_period.groupby("id")["period"].max() - first_period).astype(float),
            "T": (end_period - first_period).astype(float),
            "monetary_value": later.groupby("id")["amount"].mean(),
            "first": by_id["stamp"].min(),
            "last": by_id["stamp"].max(),
            "orders": by_id["stamp"].nunique(),
            "gross": by_id["amount"].sum(),
        }
    )
    out["monetary_value"] = out["monetary_value"].fillna(0.0)
    returns = frame[frame["amount"] < 0].groupby("id")["amount"].sum()
    out["returned"] = -returns.reindex(out.index, fill_value=0.0)
    shares = buys.pivot_table(index="id", columns="channel", values="amount", aggfunc="sum", fill_value=0.0)
    for channel in shares.columns:
        out["share_" + channel] = (shares[channel] / out["gross"].where(out["gross"] > 0)).fillna(0.0)
    return out.sort_index()


def check(frame: pd.DataFrame, period: str, end: str = END) -> None:
    ours = summarize(transactions(frame), observation_end=end, period=period)
    ref = pandas_reference(frame, period, end)
    assert ours.customer_id.tolist() == ref.index.tolist()
    np.testing.assert_array_equal(ours.frequency, ref["frequency"])
    np.testing.assert_array_equal(ours.recency, ref["recency"])
    np.testing.assert_array_equal(ours.T, ref["T"])
    np.testing.assert_allclose(ours.monetary_value, ref["monetary_value"], rtol=1e-12, atol=1e-9)
    np.testing.assert_array_equal(ours.first_purchase.view(np.int64), ref["first"])
    np.testing.assert_array_equal(ours.last_purchase.view(np.int64), ref["last"])
    np.testing.assert_array_equal(ours.orders, ref["orders"])
    np.testing.assert_allclose(ours.gross_spend, ref["gross"], rtol=1e-12)
    np.testing.assert_allclose(ours.returned, ref["returned"], rtol=1e-12, atol=1e-9)
    for channel, share in ours.channel_share.items():
        np.testing.assert_allclose(share, ref["share_" + channel], rtol=1e-12, atol=1e-12)


@pytest.fixture
def small_sweeps(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two threads, many buckets and several sweeps, on a few thousand rows."""
    monkeypatch.setattr(_summarize, "_PARALLEL_ROWS", 100)
    monkeypatch.setattr(_summarize, "_BUCKET_ROWS", 64)
    monkeypatch.setattr(_summarize, "_SWEEP_ROWS", 700)


@pytest.mark.parametrize("period", ["h", "D", "W"])
@pytest.mark.parametrize("shuffled", [False, True])
def test_threads_buckets_and_sweeps_match_pandas(small_sweeps: None, period: str, shuffled: bool) -> None:
    frame = make_log(3)
    if shuffled:
        frame = frame.sample(frac=1.0, random_state=4, ignore_index=True)
    check(frame, period)


def test_default_paths_match_pandas_from_the_epoch() -> None:
    # The first (partial) Monday-to-Sunday week starts before 1970-01-01.
    check(make_log(5, start="1970-01-01"), "W", end="1970-07-01")
    check(
        make_log(6, start="1970-01-01").sample(frac=1.0, random_state=1, ignore_index=True),
        "D",
        end="1970-07-01",
    )


def test_text_ids_and_long_unsorted_histories() -> None:
    # A few customers with hundreds of rows each: unsorted segments too long to fold unsorted are
    # sorted first (insertion sort, then mergesort beyond _INSERTION_ROWS).
    frame = make_log(7, rows=3000, customers=6)
    shuffled = frame.sample(frac=1.0, random_state=2, ignore_index=True)
    check(shuffled, "D")
    text = shuffled.assign(id="c" + shuffled["id"].astype(str))
    ours = summarize(
        Transactions(
            customer_id=text["id"].to_numpy().astype(str),
            timestamp=text["stamp"].to_numpy().astype("datetime64[us]"),
            amount=text["amount"].to_numpy(),
            allow_returns=True,
        ),
        observation_end=END,
    )
    ref = pandas_reference(shuffled, "D")
    assert ours.customer_id.tolist() == sorted("c" + str(i) for i in ref.index)
    order = np.argsort(["c" + str(i) for i in ref.index], kind="stable")
    np.testing.assert_array_equal(ours.frequency, ref["frequency"].to_numpy()[order])
    np.testing.assert_array_equal(ours.orders, ref["orders"].to_numpy()[order])


def test_ordered_and_shuffled_logs_agree(small_sweeps: None) -> None:
    frame = make_log(9)
    a = summarize(transactions(frame), observation_end=END)
    b = summarize(
        transactions(frame.sample(frac=1.0, random_state=5, ignore_index=True)), observation_end=END
    )
    for name in ("customer_id", "frequency", "recency", "T", "first_purchase", "last_purchase", "orders"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    for name in ("monetary_value", "gross_spend", "returned", "net_spend", "days_since_last"):
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=1e-12)


def test_same_results_without_the_compiler(tmp_path: Path) -> None:
    """The kernels run as plain Python under NUMBA_DISABLE_JIT=1 and give the same summary."""
    frame = make_log(11, rows=300, customers=40).sample(frac=1.0, random_state=3, ignore_index=True)
    frame.to_pickle(tmp_path / "log.pkl")
    script = f"""
import json, pandas as pd
from omnicore import Transactions, summarize
frame = pd.read_pickle({str(tmp_path / "log.pkl")!r})
tx = Transactions(
    customer_id=frame["id"].to_numpy(),
    timestamp=frame["stamp"].to_numpy().astype("datetime64[us]"),
    amount=frame["amount"].to_numpy(),
    channel=frame["channel"].to_numpy().astype(str),
    allow_returns=True,
)
s = summarize(tx, observation_end={END!r}, period="W")
print(json.dumps({{k: v.tolist() for k, v in s.to_dict().items() if v.dtype.kind != "M"}}))
"""
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True)
    plain = json.loads(done.stdout)
    compiled = summarize(transactions(frame), observation_end=END, period="W").to_dict()
    for name, values in plain.items():
        np.testing.assert_array_equal(np.asarray(values), compiled[name], err_msg=name)


@pytest.mark.parametrize("shuffled", [False, True])
def test_a_channel_the_sample_misses_is_still_counted(small_sweeps: None, shuffled: bool) -> None:
    # 9000 rows: channels are sampled every other row, so a channel seen only on odd rows is missed
    # by the fast coding and the column is coded again the slow way.
    frame = make_log(13, rows=9000)
    if shuffled:
        frame = frame.sample(frac=1.0, random_state=6, ignore_index=True)
    frame.loc[[1001, 4003], "channel"] = "wechat mini-program"
    frame.loc[2001, "channel"] = "live"
    check(frame, "D")
