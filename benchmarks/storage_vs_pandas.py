"""Bulk append and columnar load of transactions: omnicore stores vs pandas ``to_sql``/``read_sql``.

Both sides write the same seeded transactions (int64 customer ids, timestamps, amounts, channel, text
sku, quantity) into a fresh database and read every row back into columns, in one run:

- omnicore ``store.transactions.append`` / ``store.transactions.load`` on SQLite (and on PostgreSQL
  when ``OMNICORE_TEST_POSTGRES_URL`` is set; omnicore appends with ``COPY`` there);
- pandas ``DataFrame.to_sql(..., method=None)`` / ``pandas.read_sql`` on the same engines (sqlite3 and
  psycopg connections, no SQLAlchemy). The omnicore side also checks types, tenants and id kinds.

Run: ``PYTHONPATH=src /work/venv/bin/python benchmarks/storage_vs_pandas.py [--size 1000000]``.
Prints a table of seconds, rows per second, the ratio pandas/omnicore, and peak RSS growth.
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

import numpy as np
import pandas as pd

from omnicore import Transactions, open_store

T0 = np.datetime64("2023-01-01T00:00:00", "us")


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


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    gc.collect()
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def omnicore_side(url: str, tx: Transactions, options: dict[str, Any]) -> tuple[float, float, int]:
    with open_store(url, tenant=f"bench-{uuid.uuid4().hex[:8]}", **options) as store:
        append_s, _ = timed(lambda: store.transactions.append(tx))
        load_s, loaded = timed(store.transactions.load)
        if len(loaded) != len(tx) or not np.isclose(loaded.amount.sum(), tx.amount.sum()):
            raise SystemExit("omnicore read back different rows")
        return append_s, load_s, len(loaded)


def pandas_side(connect: Callable[[], Any], tx: Transactions, *, postgres: bool) -> tuple[float, float, int]:
    """pandas writes a plain table (no tenant, no index, no id-kind metadata) and reads it back."""
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
    try:
        if postgres:  # pandas.to_sql needs SQLAlchemy for PostgreSQL: the equivalent executemany
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

        append_s, _ = timed(write)
        with warnings.catch_warnings():  # pandas warns that it only tests sqlite3 among raw DBAPI drivers
            warnings.simplefilter("ignore", UserWarning)
            load_s, back = timed(lambda: pd.read_sql(f"SELECT * FROM {table} ORDER BY ts", connection))
        if postgres:
            connection.execute(f"DROP TABLE {table}")
        return append_s, load_s, len(back)
    finally:
        connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000, help="transactions to write and read")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    tx = make_transactions(args.size, args.seed)
    base_rss = peak_rss_mb()
    results: list[tuple[str, str, float, float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        path_ours, path_theirs = Path(tmp) / "omnicore.db", Path(tmp) / "pandas.db"
        a, b, _ = omnicore_side(f"sqlite:///{path_ours}", tx, {})
        results.append(("sqlite", "omnicore", a, b, peak_rss_mb() - base_rss))
        a, b, _ = pandas_side(lambda: sqlite3.connect(path_theirs), tx, postgres=False)
        results.append(("sqlite", "pandas", a, b, peak_rss_mb() - base_rss))
    pg_url = os.environ.get("OMNICORE_TEST_POSTGRES_URL")
    if pg_url:
        import psycopg

        schema = f"bench_{uuid.uuid4().hex[:8]}"
        try:
            a, b, _ = omnicore_side(pg_url, tx, {"schema": schema})
            results.append(("postgresql", "omnicore", a, b, peak_rss_mb() - base_rss))
            a, b, _ = pandas_side(lambda: psycopg.connect(pg_url, autocommit=True), tx, postgres=True)
            results.append(("postgresql", "pandas", a, b, peak_rss_mb() - base_rss))
        finally:
            with psycopg.connect(pg_url, autocommit=True) as connection:
                connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    n = len(tx)
    print(f"{n:,} transactions, seed {args.seed}")
    print(
        f"{'engine':<11} {'library':<9} {'append s':>9} {'rows/s':>11} {'load s':>8} {'rows/s':>11} "
        f"{'peak RSS +MB':>13}"
    )
    for engine, library, append_s, load_s, rss in results:
        print(
            f"{engine:<11} {library:<9} {append_s:>9.2f} {n / append_s:>11,.0f} {load_s:>8.2f} "
            f"{n / load_s:>11,.0f} {rss:>13,.0f}"
        )
    for engine in dict.fromkeys(r[0] for r in results):
        ours = next(r for r in results if r[0] == engine and r[1] == "omnicore")
        theirs = next(r for r in results if r[0] == engine and r[1] == "pandas")
        print(
            f"{engine}: omnicore/pandas time ratio append {ours[2] / theirs[2]:.2f}x, "
            f"load {ours[3] / theirs[3]:.2f}x (above 1: omnicore slower)"
        )


if __name__ == "__main__":
    main()
