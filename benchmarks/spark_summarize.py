"""Customer summaries on Spark: omnicore.spark.summarize_spark against hand-written PySpark aggregations.

The peer is what a data team writes without omnicore: Spark SQL aggregations that compute the BTYD
fields (frequency, recency, T and monetary value, as lifetimes defines them) in the JVM, from
per-(customer, day) purchase totals. omnicore instead hashes customers into groups and runs its
compiled ``summarize`` in the Spark Python workers over Arrow, and also returns first and last
purchase, days since the last purchase, orders, gross / returned / net spend.

Both run on the same cached DataFrame of the synthetic retailer's purchases (``--customers``, with
returns), on a local Spark session (``--cores``); each side is warmed up once (Python workers,
compiled kernels), then timed ``--repeats`` times by writing its result to Spark's no-op sink. The
script checks that the four BTYD columns agree, then prints best and median seconds, rows per
second and the omnicore / Spark SQL time ratio.

Run: ``PYTHONPATH=src /work/venv/bin/python benchmarks/spark_summarize.py [--customers 1000000]``
(needs pyspark and Java 17+).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings
from typing import Any

import numpy as np
import pyarrow as pa

END = "2024-12-31"
DAY_MICROS = 86_400_000_000


def spark_session(cores: int) -> Any:
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master(f"local[{cores}]")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", str(4 * cores))
        .config("spark.driver.memory", "4g")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    return session


def spark_sql_summary(df: Any) -> Any:
    """BTYD fields with plain Spark SQL aggregations (daily periods, UTC)."""
    from pyspark.sql import functions as sf

    end_day = int(np.datetime64(END, "D").astype(np.int64))
    purchases = df.where(
        (sf.col("amount") >= 0)
        & (sf.col("timestamp") < sf.lit(f"{END} 00:00:00").cast("timestamp") + sf.expr("INTERVAL 1 DAY"))
    )
    days = purchases.withColumn("day", sf.floor(sf.unix_micros("timestamp") / DAY_MICROS).cast("long"))
    per_day = days.groupBy("customer_id", "day").agg(sf.sum("amount").alias("spend"))
    per_customer = per_day.groupBy("customer_id").agg(
        sf.min("day").alias("first_day"),
        sf.max("day").alias("last_day"),
        sf.count("*").alias("days"),
        sf.sum("spend").alias("total"),
        sf.min_by("spend", "day").alias("first_spend"),
    )
    return per_customer.select(
        "customer_id",
        (sf.col("days") - 1).alias("frequency"),
        (sf.col("last_day") - sf.col("first_day")).cast("double").alias("recency"),
        (sf.lit(end_day) - sf.col("first_day")).cast("double").alias("T"),
        sf.when(sf.col("days") > 1, (sf.col("total") - sf.col("first_spend")) / (sf.col("days") - 1))
        .otherwise(0.0)
        .alias("monetary_value"),
    )


def omnicore_summary(df: Any) -> Any:
    from omnicore.spark import summarize_spark

    return summarize_spark(df, observation_end=END, period="D", allow_returns=True)


def timed(frame: Any) -> float:
    began = time.perf_counter()
    frame.write.format("noop").mode("overwrite").save()
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas")
    from omnicore.datasets import synthetic_transactions

    print(f"load: {os.getloadavg()[0]:.1f}")
    log = synthetic_transactions(n_customers=args.customers, seed=args.seed).transactions
    spark = spark_session(args.cores)
    table = pa.table(
        {
            "customer_id": pa.array(log.customer_id),
            "timestamp": pa.array(log.timestamp, pa.timestamp("us", tz="UTC")),
            "amount": pa.array(log.amount),
        }
    )
    df = spark.createDataFrame(table).repartition(4 * args.cores).cache()
    rows = df.count()
    print(f"log: {rows:,} rows, {args.customers:,} customers, local[{args.cores}]")
    sides = {"omnicore": omnicore_summary, "spark sql": spark_sql_summary}
    small = df.limit(10_000)
    for build in sides.values():  # warm-up: Python workers, compiled kernels, code generation
        timed(build(small))
    times: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(args.repeats):
        for name, build in sides.items():
            times[name].append(timed(build(df)))
    ours = omnicore_summary(df).select("customer_id", "frequency", "recency", "T", "monetary_value")
    theirs = spark_sql_summary(df)
    a = ours.orderBy("customer_id").toArrow()
    b = theirs.orderBy("customer_id").toArrow()
    same = (
        a.num_rows == b.num_rows
        and all(
            np.array_equal(a.column(c).to_numpy(), b.column(c).to_numpy())
            for c in ("customer_id", "frequency", "recency", "T")
        )
        and np.allclose(
            a.column("monetary_value").to_numpy(), b.column("monetary_value").to_numpy(), rtol=1e-9
        )
    )
    print(f"customers: {a.num_rows:,}; BTYD columns agree: {same}")
    print(f"{'side':10} {'best s':>8} {'median s':>9} {'rows/s':>12}")
    for name, got in times.items():
        print(
            f"{name:10} {min(got):8.2f} {statistics.median(got):9.2f} {rows / statistics.median(got):12,.0f}"
        )
    ratio = statistics.median(times["omnicore"]) / statistics.median(times["spark sql"])
    print(f"omnicore / Spark SQL (median): {ratio:.2f}x")
    print(f"load: {os.getloadavg()[0]:.1f}")
    spark.stop()
    if not same:
        raise SystemExit("the two sides disagree")


if __name__ == "__main__":
    main()
