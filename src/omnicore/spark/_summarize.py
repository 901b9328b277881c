"""Customer summaries of a Spark purchase log: omnicore.summarize on every customer, in parallel."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa

from omnicore._errors import ValidationError
from omnicore.data import Transactions, to_datetime64
from omnicore.spark._session import quiet_udfs, require_columns, spark_modules
from omnicore.summary import CustomerSummary, summarize

__all__ = ["SUMMARY_COLUMNS", "summarize_spark"]

#: Columns of the summary DataFrame, with their Spark types (``customer_id`` keeps the log's type).
SUMMARY_COLUMNS: tuple[tuple[str, str], ...] = (
    ("frequency", "long"),
    ("recency", "double"),
    ("T", "double"),
    ("monetary_value", "double"),
    ("first_purchase", "timestamp"),
    ("last_purchase", "timestamp"),
    ("days_since_last", "double"),
    ("orders", "long"),
    ("gross_spend", "double"),
    ("returned", "double"),
    ("net_spend", "double"),
)
_UTC = pa.timestamp("us", tz="UTC")
_ARROW = {"long": pa.int64(), "double": pa.float64(), "timestamp": _UTC}
_PERIOD_STEP = {"D": np.timedelta64(1, "D"), "W": np.timedelta64(7, "D"), "h": np.timedelta64(1, "h")}


def _period_end(observation_end: np.datetime64, period: str) -> np.datetime64:
    """The first instant after ``observation_end``'s period (weeks run Monday to Sunday)."""
    if period not in _PERIOD_STEP:
        raise ValidationError("expected 'D', 'W' or 'h'", field="period", value=period)
    unit = "h" if period == "h" else "D"
    start = observation_end.astype(f"datetime64[{unit}]")
    if period == "W":
        start = start - (start.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday
    end: np.datetime64 = (start + _PERIOD_STEP[period]).astype("datetime64[us]")
    return end


def _naive_times(column: pa.ChunkedArray) -> np.ndarray:
    """UTC datetime64[us] from a Spark timestamp column (Arrow keeps UTC instants under any zone)."""
    if pa.types.is_timestamp(column.type) and column.type.tz is not None:
        column = column.cast(pa.timestamp(column.type.unit))
    return np.asarray(column.cast(pa.timestamp("us")).to_numpy(zero_copy_only=False), dtype="datetime64[us]")


def _summary_table(summary: CustomerSummary, id_type: pa.DataType) -> pa.Table:
    columns: dict[str, pa.Array] = {
        "customer_id": pa.array(np.asarray(summary.customer_id).tolist(), id_type)
    }
    for name, kind in SUMMARY_COLUMNS:
        values = np.asarray(getattr(summary, name))
        columns[name] = pa.array(values, _UTC) if kind == "timestamp" else pa.array(values, _ARROW[kind])
    return pa.table(columns)


def _summarizer(
    observation_end: np.datetime64, period: str, id_type: pa.DataType, allow_returns: bool, has_orders: bool
) -> Callable[[pa.Table], pa.Table]:
    empty = pa.table(
        {"customer_id": pa.array([], id_type), **{n: pa.array([], _ARROW[k]) for n, k in SUMMARY_COLUMNS}}
    )

    def summarize_group(table: pa.Table) -> pa.Table:
        amount = np.asarray(table.column("amount").to_numpy(zero_copy_only=False), dtype=np.float64)
        if not (amount >= 0).any():  # only returns in this bucket: no customer to summarise
            return empty
        ids = table.column("customer_id").to_numpy(zero_copy_only=False)
        transactions = Transactions(
            customer_id=ids.astype(np.int64) if pa.types.is_integer(id_type) else ids.astype(str),
            timestamp=_naive_times(table.column("timestamp")),
            amount=amount,
            order_id=table.column("order_id").to_numpy(zero_copy_only=False).astype(str)
            if has_orders
            else None,
            allow_returns=allow_returns,
        )
        return _summary_table(
            summarize(transactions, observation_end=observation_end, period=period), id_type
        )

    return summarize_group


def _observation_end(log: Any, observation_end: Any, instants: bool, functions: Any) -> np.datetime64:
    if observation_end is not None:
        return to_datetime64(observation_end)
    column = functions.col("timestamp")
    latest = log.agg(functions.max(functions.unix_micros(column) if instants else column)).collect()[0][0]
    if latest is None:
        raise ValidationError("the log is empty", field="df", value=0)
    if instants:
        return np.datetime64(int(latest), "us")
    return np.datetime64(latest, "us")


def summarize_spark(
    df: Any,
    *,
    observation_end: Any = None,
    period: str = "D",
    customer_id: str = "customer_id",
    timestamp: str = "timestamp",
    amount: str = "amount",
    order_id: str | None = None,
    allow_returns: bool = False,
    buckets: int | None = None,
) -> Any:
    """Per-customer summaries of a Spark purchase log, computed by :func:`omnicore.summarize` in parallel.

    Rows are spread over ``buckets`` groups by a hash of the customer id, so every customer's rows
    meet in one group, and each group is summarised with omnicore's compiled kernels in a Python
    worker (Arrow in, Arrow out). The result is the same as ``omnicore.summarize`` on the whole log.

    Parameters
    ----------
    df
        A ``pyspark.sql.DataFrame`` with a customer id (long or string), a timestamp and an amount.
    observation_end
        The as-of instant (UTC); rows in later periods are ignored. Default: the log's last timestamp.
    period
        ``"D"``, ``"W"`` or ``"h"``, as for :func:`omnicore.summarize`.
    customer_id, timestamp, amount, order_id
        Column names in ``df`` (``order_id`` optional: rows of one order count once).
    allow_returns
        Accept negative amounts (returns), as ``Transactions(allow_returns=True)``.
    buckets
        Number of groups (default: ``spark.sql.shuffle.partitions``).

    Returns
    -------
    pyspark.sql.DataFrame
        The customer id column (under its name in ``df``) plus :data:`SUMMARY_COLUMNS` (channel
        shares are not included), one row per customer with a purchase up to ``observation_end``.

    Raises
    ------
    ValidationError
        For a missing column, an id column that is neither integer nor string, or a bad period.
    DependencyError
        When pyspark is not installed.

    Examples
    --------
    >>> summary = summarize_spark(spark_log, observation_end="2024-06-30", period="W")  # doctest: +SKIP
    """
    functions, types = spark_modules()
    names = {"customer_id": customer_id, "timestamp": timestamp, "amount": amount}
    if order_id is not None:
        names["order_id"] = order_id
    require_columns(df, names)
    id_field = df.schema[customer_id].dataType
    if isinstance(id_field, types.IntegralType):
        id_type, id_ddl = pa.int64(), "long"
    elif isinstance(id_field, types.StringType):
        id_type, id_ddl = pa.string(), "string"
    else:
        raise ValidationError(
            "customer ids must be integers or strings", field="customer_id", value=str(id_field)
        )
    time_field = df.schema[timestamp].dataType
    if not isinstance(time_field, types.TimestampType | types.TimestampNTZType):
        raise ValidationError("expected a timestamp column", field="timestamp", value=str(time_field))
    instants = isinstance(time_field, types.TimestampType)
    log = df.select(*(functions.col(source).alias(target) for target, source in names.items()))
    end = _observation_end(log, observation_end, instants, functions)
    cutoff = _period_end(end, period)
    # Typed literals: an instant from epoch microseconds, or a UTC wall time with no zone, so that the
    # session time zone never shifts the cut.
    if instants:
        limit = functions.timestamp_micros(functions.lit(int(cutoff.astype(np.int64))))
    else:
        limit = functions.lit(str(cutoff)).cast("timestamp_ntz")
    log = log.where(functions.col("timestamp") < limit)
    n_buckets = buckets or int(df.sparkSession.conf.get("spark.sql.shuffle.partitions"))
    if n_buckets <= 0:
        raise ValidationError("must be positive", field="buckets", value=n_buckets)
    bucketed = log.withColumn(
        "_bucket", functions.pmod(functions.xxhash64("customer_id"), functions.lit(n_buckets))
    )
    schema = ", ".join([f"customer_id {id_ddl}", *(f"`{n}` {k}" for n, k in SUMMARY_COLUMNS)])
    fn = _summarizer(end, period, id_type, allow_returns, order_id is not None)

    def drop_bucket(table: pa.Table) -> pa.Table:
        return fn(table.drop_columns(["_bucket"]))

    with quiet_udfs():
        summary = bucketed.groupBy("_bucket").applyInArrow(drop_bucket, schema)
    return summary if customer_id == "customer_id" else summary.withColumnRenamed("customer_id", customer_id)
