"""RFM at warehouse scale: omnicore vs straightforward pandas and polars, in one run.

Each side runs in a fresh subprocess on the same seeded, time-ordered transaction log (10M rows and
~1M customers by default): it loads the columns into its own container (timed separately), then runs
summary + R/F/M scores + named segments ``--repeats`` times. Peak memory is each process's peak resident
set size while the pipeline runs (``VmHWM`` reset after loading; it sees polars' allocations, which
tracemalloc does not), and the resident size of the loaded inputs.

The peers are what an analyst would write: pandas ``groupby`` + ``rank(method="first")`` + ``qcut`` and
a dict map to names; polars ``group_by`` + ordinal ranks + ``replace_strict``. They compute less than
omnicore (no distinct purchase days, channel mix, returns or BTYD fields) and split ties by row order.

    PYTHONPATH=src /work/venv/bin/python benchmarks/rfm_vs_pandas_polars.py [--rows 10000000] [--shuffle]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rfm_data import CHANNELS, cached

OBSERVATION_END = "2025-01-01"
SIDES = ("omnicore", "polars", "pandas")


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def _peak_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _rf_names() -> dict[int, str]:
    from omnicore import rfm

    table = rfm.STANDARD_SEGMENTS.table
    names = rfm.STANDARD_SEGMENTS.names
    return {r * 10 + f: names[table[r - 1, f - 1, 0]] for r in range(1, 6) for f in range(1, 6)}


# -- the three pipelines ------------------------------------------------------------------------------
def load_omnicore(data: dict[str, Any]) -> Any:
    import omnicore

    channel = np.asarray(CHANNELS, dtype=np.dtypes.StringDType())[data["channel_code"]]
    return omnicore.Transactions(
        customer_id=data["customer_id"],
        timestamp=data["timestamp"],
        amount=data["amount"],
        channel=channel,
        allow_returns=True,
    )


def run_omnicore(tx: Any) -> dict[str, Any]:
    import omnicore
    from omnicore import rfm

    summary = omnicore.summarize(tx, observation_end=OBSERVATION_END)
    segments = rfm.segment(rfm.score(summary))
    one_order = summary.orders == 1
    return {
        "customers": len(segments),
        "one_order_f_gt_1": int((segments.frequency_score[one_order] > 1).sum()),
        "counts": segments.counts(),
    }


def load_pandas(data: dict[str, Any]) -> Any:
    import pandas as pd

    return pd.DataFrame(
        {
            "customer_id": data["customer_id"],
            "timestamp": data["timestamp"],
            "amount": data["amount"],
            "channel": pd.Categorical.from_codes(data["channel_code"], categories=list(CHANNELS)),
        }
    )


def run_pandas(df: Any) -> dict[str, Any]:
    import pandas as pd

    end = pd.Timestamp(OBSERVATION_END)
    purchases = df[df["amount"] >= 0]
    g = purchases.groupby("customer_id").agg(
        last=("timestamp", "max"), frequency=("amount", "size"), monetary=("amount", "sum")
    )
    recency_days = (end - g["last"]).dt.total_seconds() / 86400
    r = pd.qcut(recency_days.rank(method="first"), 5, labels=[5, 4, 3, 2, 1]).astype(int)
    f = pd.qcut(g["frequency"].rank(method="first"), 5, labels=[1, 2, 3, 4, 5]).astype(int)
    m = pd.qcut(g["monetary"].rank(method="first"), 5, labels=[1, 2, 3, 4, 5]).astype(int)
    segment = (r * 10 + f).map(_rf_names())
    out = pd.DataFrame({"r": r, "f": f, "m": m, "segment": segment})
    one_order = g["frequency"] == 1
    return {
        "customers": len(out),
        "one_order_f_gt_1": int((out["f"][one_order] > 1).sum()),
        "counts": {str(k): int(v) for k, v in out["segment"].value_counts().items()},
    }


def load_polars(data: dict[str, Any]) -> Any:
    import polars as pl

    return pl.DataFrame(
        {
            "customer_id": data["customer_id"],
            "timestamp": data["timestamp"],
            "amount": data["amount"],
            "channel": pl.Series(np.asarray(CHANNELS)[data["channel_code"]]).cast(pl.Categorical),
        }
    )


def run_polars(df: Any) -> dict[str, Any]:
    import datetime as dt

    import polars as pl

    end = dt.datetime.fromisoformat(OBSERVATION_END)
    names = _rf_names()

    def quintile(column: str, *, descending: bool = False) -> pl.Expr:
        rank = pl.col(column).rank("ordinal", descending=descending) - 1
        return (rank * 5 // pl.len() + 1).cast(pl.Int8)

    out = (
        df.lazy()
        .filter(pl.col("amount") >= 0)
        .group_by("customer_id")
        .agg(
            last=pl.col("timestamp").max(),
            frequency=pl.len(),
            monetary=pl.col("amount").sum(),
        )
        .with_columns(recency_days=(pl.lit(end) - pl.col("last")).dt.total_seconds() / 86400)
        .with_columns(
            r=quintile("recency_days", descending=True),
            f=quintile("frequency"),
            m=quintile("monetary"),
        )
        .with_columns(
            segment=(pl.col("r").cast(pl.Int32) * 10 + pl.col("f")).replace_strict(
                names, return_dtype=pl.String
            )
        )
        .collect()
    )
    counts = out.group_by("segment").len()
    return {
        "customers": out.height,
        "one_order_f_gt_1": int(out.filter((pl.col("frequency") == 1) & (pl.col("f") > 1)).height),
        "counts": dict(zip(counts["segment"].to_list(), counts["len"].to_list(), strict=True)),
    }


def worker(side: str, args: argparse.Namespace) -> None:
    load, run = {
        "omnicore": (load_omnicore, run_omnicore),
        "pandas": (load_pandas, run_pandas),
        "polars": (load_polars, run_polars),
    }[side]
    data = cached(args.rows, args.seed, Path(args.data_dir))
    if args.shuffle:
        order = np.random.default_rng(args.seed + 1).permutation(len(data["amount"]))
        data = {k: v[order] for k, v in data.items()}
    rows = len(data["amount"])
    start = time.perf_counter()
    table = load(data)
    load_seconds = time.perf_counter() - start
    del data
    run(table)  # warm-up, untimed: numba kernels load from their on-disk cache (or compile) once
    inputs_mb = _rss_mb()
    peak_reset = _reset_peak()
    seconds = []
    cpu_seconds = []
    result: dict[str, Any] = {}
    for _ in range(args.repeats):
        start, cpu_start = time.perf_counter(), time.process_time()
        result = run(table)
        seconds.append(time.perf_counter() - start)
        cpu_seconds.append(time.process_time() - cpu_start)
    print(
        json.dumps(
            {
                "side": side,
                "rows": rows,
                "load_seconds": load_seconds,
                "seconds": seconds,
                "cpu_seconds": cpu_seconds,
                "inputs_mb": inputs_mb,
                "peak_mb": _peak_mb(),
                "peak_is_pipeline_only": peak_reset,
                **result,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--shuffle", action="store_true", help="rows in random order instead of time order")
    parser.add_argument("--sides", default=",".join(SIDES))
    parser.add_argument("--data-dir", default=str(Path(tempfile.gettempdir()) / "omnicore-rfm-bench"))
    parser.add_argument("--worker", choices=SIDES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args)
        return
    start = time.perf_counter()
    data = cached(args.rows, args.seed, Path(args.data_dir))
    customers = len(np.unique(data["customer_id"]))
    rows = len(data["amount"])
    del data
    print(
        f"data: {rows:,} transactions, {customers:,} customers "
        f"({'shuffled' if args.shuffle else 'time-ordered'}; ready in {time.perf_counter() - start:.1f} s)"
    )
    results = {}
    for side in args.sides.split(","):
        command = [
            sys.executable,
            __file__,
            "--worker",
            side,
            "--rows",
            str(args.rows),
            "--seed",
            str(args.seed),
            "--repeats",
            str(args.repeats),
            "--data-dir",
            args.data_dir,
        ]
        if args.shuffle:
            command.append("--shuffle")
        done = subprocess.run(command, check=True, capture_output=True, text=True, env=os.environ.copy())
        results[side] = json.loads(done.stdout.strip().splitlines()[-1])
    base = min(results["omnicore"]["seconds"]) if "omnicore" in results else None
    print(
        f"\nsummary + scores + segments, best and median of {args.repeats} after one untimed warm-up run"
        f" (2-core machine, shared; load average {os.getloadavg()[0]:.1f})"
    )
    header = f"{'side':<10}{'best s':>9}{'median s':>10}{'x omnicore':>12}{'cpu s':>8}{'peak MB':>10}"
    header += f"{'inputs MB':>11}"
    header += f"{'load s':>8}{'1-order F>1':>13}"
    print(header)
    for side, r in results.items():
        best = min(r["seconds"])
        ratio = f"{best / base:.2f}" if base else "-"
        print(
            f"{side:<10}{best:>9.3f}{statistics.median(r['seconds']):>10.3f}{ratio:>12}"
            f"{min(r['cpu_seconds']):>8.2f}{r['peak_mb']:>10.0f}"
            f"{r['inputs_mb']:>11.0f}{r['load_seconds']:>8.2f}{r['one_order_f_gt_1']:>13,}"
        )
    print(
        "\ncpu s: least process CPU time of a run (all threads: polars uses both cores, numpy one);"
        "\npeak MB: the process's peak resident set while the pipeline ran (inputs included);"
        "\n1-order F>1: customers with exactly one order given F > 1 (ties split by row order)."
    )
    if "omnicore" in results:
        print("\nomnicore segments:", json.dumps(results["omnicore"]["counts"]))


if __name__ == "__main__":
    main()
