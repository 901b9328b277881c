"""Bulk append and columnar load of transactions: omnicore stores vs pandas ``to_sql``/``read_sql``.

Both sides write the same seeded transactions (int64 customer ids, timestamps, amounts, channel, text
sku, quantity) into a fresh database and read every row back into columns, in one run:

- omnicore ``store.transactions.append`` / ``store.transactions.load`` on SQLite (and on PostgreSQL
  when ``OMNICORE_TEST_POSTGRES_URL`` is set; omnicore appends with ``COPY`` there). omnicore also keeps
  the tenant key, a time index, a customer index, the id-kind metadata and validates what it reads.
- pandas ``DataFrame.to_sql`` / ``pandas.read_sql`` into a plain table (no tenant, no index) on the same
  engines: sqlite3, and for PostgreSQL (where ``to_sql`` needs SQLAlchemy) the equivalent psycopg
  ``executemany`` of ``itertuples`` rows.

Run: ``PYTHONPATH=src /work/venv/bin/python benchmarks/storage_vs_pandas.py [--size 1000000]``.
Prints wall and CPU seconds (CPU of this process: the PostgreSQL server's work is not in it), rows per
wall second, the omnicore/pandas ratio, and the peak RSS of the process.
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import sqlite3
import tempfile
import time
import uuid
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pandas as pd

from omnicore import Transactions, open_store

T0 = np.datetime64("2023-01-01T00:00:00", "us")


@attrs.frozen(kw_only=True)
class Measure:
    engine: str
    library: str
    append_wall: float
    append_cpu: float
    load_wall: float
    load_cpu: float
    peak_rss_mb: float


def make_transactions(n: int, seed: int) -> Transactions:
    rng = np.random.default_rng(seed)
    return Transactions(
        customer_id=rng.integers(1, max(n // 10, 2), n),
        timestamp=T0 + rng.integers(0, 365 * 86_400, n).astype("timedelta64[s]"),
        amount=np.round(rng.gamma(2.0, 40.0, n), 2),
        channel=rng.choice(np.array(["online", "store", "community"]), n),
        sku=np.char.add("SKU-", rng.integers(0, 5000, n).astype(str)),
        quantity=rng.integers(1, 5, n),
    )


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    """Wall seconds, CPU seconds of this process, and the result of ``fn()``."""
    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def omnicore_side(engine: str, url: str, tx: Transactions, options: dict[str, Any]) -> Measure:
    with open_store(url, tenant=f"bench-{uuid.uuid4().hex[:8]}", **options) as store:
        append_wall, append_cpu, _ = timed(lambda: store.transactions.append(tx))
        load_wall, load_cpu, loaded = timed(store.transactions.load)
    if len(loaded) != len(tx) or not np.isclose(loaded.amount.sum(), tx.amount.sum()):
        raise SystemExit("omnicore read back different rows")
    return Measure(
        engine=engine, library="omnicore", append_wall=append_wall, append_cpu=append_cpu,
        load_wall=load_wall, load_cpu=load_cpu, peak_rss_mb=peak_rss_mb(),
    )  # fmt: skip


def pandas_side(engine: str, connect: Callable[[], Any], tx: Transactions) -> Measure:
    frame = pd.DataFrame(
        {
            "customer_id": tx.customer_id,
            "ts": tx.timestamp.view(np.int64),
            "amount": tx.amount,
            "channel": tx.channel.astype(object),
            "sku": tx.sku.astype(object),
            "quantity": tx.quantity,
        }
    )
    table = f"bench_{uuid.uuid4().hex[:8]}"
    connection = connect()
    postgres = engine == "postgresql"
    try:
        if postgres:
            connection.execute(
                f"CREATE TABLE {table} (customer_id BIGINT, ts BIGINT, amount DOUBLE PRECISION, "
                "channel TEXT, sku TEXT, quantity BIGINT)"
            )

            def write() -> None:
                rows = list(frame.itertuples(index=False, name=None))
                with connection.cursor() as cursor:
                    cursor.executemany(f"INSERT INTO {table} VALUES (%s, %s, %s, %s, %s, %s)", rows)

        else:

            def write() -> None:
                frame.to_sql(table, connection, index=False, chunksize=100_000)
                connection.commit()

        append_wall, append_cpu, _ = timed(write)
        with warnings.catch_warnings():  # pandas warns that it tests no raw DBAPI driver but sqlite3
            warnings.simplefilter("ignore", UserWarning)
            load_wall, load_cpu, back = timed(
                lambda: pd.read_sql(f"SELECT * FROM {table} ORDER BY ts", connection)
            )
        if len(back) != len(tx):
            raise SystemExit("pandas read back different rows")
        if postgres:
            connection.execute(f"DROP TABLE {table}")
    finally:
        connection.close()
    return Measure(
        engine=engine, library="pandas", append_wall=append_wall, append_cpu=append_cpu,
        load_wall=load_wall, load_cpu=load_cpu, peak_rss_mb=peak_rss_mb(),
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000, help="transactions to write and read")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    tx = make_transactions(args.size, args.seed)
    results: list[Measure] = []
    with tempfile.TemporaryDirectory() as tmp:
        results.append(omnicore_side("sqlite", f"sqlite:///{Path(tmp) / 'omnicore.db'}", tx, {}))
        results.append(pandas_side("sqlite", lambda: sqlite3.connect(Path(tmp) / "pandas.db"), tx))
    pg_url = os.environ.get("OMNICORE_TEST_POSTGRES_URL")
    if pg_url:
        import psycopg

        schema = f"bench_{uuid.uuid4().hex[:8]}"
        try:
            results.append(omnicore_side("postgresql", pg_url, tx, {"schema": schema}))
            results.append(pandas_side("postgresql", lambda: psycopg.connect(pg_url, autocommit=True), tx))
        finally:
            with psycopg.connect(pg_url, autocommit=True) as connection:
                connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    else:
        print("(set OMNICORE_TEST_POSTGRES_URL to include PostgreSQL)")
    n = len(tx)
    print(f"{n:,} transactions, seed {args.seed}; load average {os.getloadavg()[0]:.1f}")
    print(
        f"{'engine':<11} {'library':<9} {'append s':>9} {'(cpu)':>7} {'rows/s':>10} "
        f"{'load s':>7} {'(cpu)':>7} {'rows/s':>10} {'peak RSS MB':>12}"
    )
    for m in results:
        print(
            f"{m.engine:<11} {m.library:<9} {m.append_wall:>9.2f} {m.append_cpu:>7.2f} "
            f"{n / m.append_wall:>10,.0f} {m.load_wall:>7.2f} {m.load_cpu:>7.2f} {n / m.load_wall:>10,.0f} "
            f"{m.peak_rss_mb:>12,.0f}"
        )
    for engine in dict.fromkeys(m.engine for m in results):
        ours = next(m for m in results if m.engine == engine and m.library == "omnicore")
        theirs = next(m for m in results if m.engine == engine and m.library == "pandas")
        append_ratio = ours.append_wall / theirs.append_wall
        load_ratio = ours.load_wall / theirs.load_wall
        print(
            f"{engine}: omnicore/pandas wall-time ratio: append {append_ratio:.2f}x, "
            f"load {load_ratio:.2f}x (above 1 means omnicore is slower)"
        )


if __name__ == "__main__":
    main()
