"""Demo step (opt-in): the summary and the BG/NBD fit again, on a local Spark session, checked equal."""

from __future__ import annotations

import os
import shutil
import sys
import time
import warnings

import numpy as np

from omnicore._demo._base import DemoContext, DemoSection

__all__ = ["run"]

_TITLE = "Spark: summaries and LTV on a Spark DataFrame"


def _unavailable() -> str | None:
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "pyspark is not installed: pip install 'omnicore[spark]'"
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        return "Spark needs Java 17 or newer on the PATH"
    return None


def run(ctx: DemoContext) -> DemoSection:
    """Summarise the stored log with Spark workers, fit and score BG/NBD there, compare with one machine."""
    if not ctx.spark:
        return DemoSection(
            title=_TITLE,
            lines=(
                "skipped: run `omnicore demo --spark` for this step (needs omnicore[spark] and Java 17+)",
            ),
        )
    missing = _unavailable()
    if missing is not None:
        return DemoSection(title=_TITLE, lines=(f"skipped: {missing}",))
    import pyarrow as pa
    from pyspark.sql import SparkSession

    from omnicore import ltv
    from omnicore.spark import fit_spark, score_spark, summarize_spark

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    began = time.perf_counter()
    ours = SparkSession.getActiveSession() is None  # a session the caller made is left running
    spark = (
        SparkSession.builder.master("local[2]")
        .appName("omnicore-demo")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "8")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    started = time.perf_counter() - began
    try:
        tx = ctx.store.transactions.load()
        table = pa.table(
            {
                "customer_id": pa.array(tx.customer_id),
                "timestamp": pa.array(tx.timestamp, pa.timestamp("us", tz="UTC")),
                "amount": pa.array(tx.amount),
            }
        )
        with warnings.catch_warnings():  # pyspark warns about pandas 3, which this call does not use
            warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas")
            frame = spark.createDataFrame(table)
        local = ctx.results["summary"]
        began = time.perf_counter()
        summary = summarize_spark(
            frame, observation_end=ctx.data.observation_end, allow_returns=tx.allow_returns
        ).cache()
        got = summary.orderBy("customer_id").toArrow()
        summary_seconds = time.perf_counter() - began
        same = all(
            np.array_equal(got.column(name).to_numpy(), getattr(local, name))
            for name in ("frequency", "recency", "T", "monetary_value")
        )
        began = time.perf_counter()
        bg = fit_spark(ltv.BetaGeo, summary, period="D")
        scored = score_spark(summary, bg, horizon=30).orderBy("customer_id").toArrow()
        ltv_seconds = time.perf_counter() - began
        local_bg = ltv.BetaGeo.fit(local)
        params_diff = float(np.max(np.abs(bg.params.to_array() / local_bg.params.to_array() - 1)))
        p_alive_diff = float(np.max(np.abs(scored.column("p_alive").to_numpy() - local_bg.p_alive(local))))
    finally:
        if ours:
            spark.stop()
    lines = (
        f"local Spark session (2 cores) started in {started:.1f} s",
        f"summarize_spark: {len(got):,} customers in {summary_seconds:.1f} s (the first call starts the "
        f"Python workers); equal to omnicore.summarize: {same}",
        f"fit_spark + score_spark (daily BG/NBD, 30-day horizon): {ltv_seconds:.1f} s; parameters within "
        f"{params_diff:.1e} of the one-machine fit, P(alive) within {p_alive_diff:.1e}",
    )
    return DemoSection(title=_TITLE, lines=lines)
