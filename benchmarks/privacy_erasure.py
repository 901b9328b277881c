"""Erasure requests on SQLite: omnicore.privacy against hand-written SQL on the same database.

There is no peer library that erases a data subject across an identity graph, purchase and event
logs and a campaign store, so the reference is the floor: a hand-written sqlite3 script over
omnicore's own schema that looks up each subject's customer, its identifiers and records, and
deletes the same rows (identity assignments, links, whole records, transactions, events, decisions
and consent) in one transaction, with no checks, no merge-history walk and no audit entries.

Both sides start from byte-identical copies of one SQLite file holding the synthetic retailer
(``--customers``; its logs keyed by the generator's person id, given to omnicore as each subject's
``extra_log_ids``) and erase the same ``--requests`` subjects, each asked for by one member card or
account id. The script checks that both leave exactly the same rows in every data table, then prints
wall and CPU seconds, requests per second and the omnicore / SQL time ratio.

Run: ``PYTHONPATH=src /work/venv/bin/python benchmarks/privacy_erasure.py``
(``--customers 20000 --requests 500 --repeats 3`` by default).
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from omnicore.datasets import synthetic_retailer
from omnicore.identity import DEFAULT_RULES, Identifier, add_records
from omnicore.privacy import erase_subjects, find_subjects
from omnicore.storage import open_store

TENANT = "bench"
DATA_TABLES = (
    "oc_transactions",
    "oc_events",
    "oc_identifier_records",
    "oc_identity_links",
    "oc_identity_assignments",
    "oc_decisions",
    "oc_consent",
)
LOG_KEYS = {"transactions": "extra_log_ids", "events": "extra_log_ids", "campaigns": "extra_log_ids"}


def build(path: Path, customers: int, seed: int) -> tuple[list[tuple[str, str]], list[int]]:
    """The retailer in a SQLite file, plus erasure requests: (id_type, stored value) and person id."""
    data = synthetic_retailer(n_customers=customers, seed=seed)
    store = open_store(f"sqlite:///{path}", tenant=TENANT)
    store.transactions.append(data.transactions)
    store.events.append(data.events)
    resolution = add_records(store, data.identifiers, DEFAULT_RULES)
    record_id, customer = resolution.customer_of_records()
    person_of = dict(
        zip(data.truth.record_id.tolist(), np.asarray(data.truth.record_person).tolist(), strict=True)
    )
    person = np.array([person_of[r] for r in record_id.tolist()], dtype=np.int64)
    pairs = np.unique(np.stack([customer, person]), axis=1)
    per_customer = np.bincount(pairs[0][pairs[0] >= 0])
    pure = {int(c): int(p) for c, p in pairs.T.tolist() if c >= 0 and p >= 0 and per_customer[c] == 1}
    asked: dict[int, tuple[str, str]] = {}
    a = resolution.assignment
    for t, v, c in zip(a.id_type.tolist(), a.value.tolist(), a.customer_id.tolist(), strict=True):
        if c in pure and t in ("member_card", "account_id"):
            asked.setdefault(c, (t, v))
    # Decisions and consent keyed by person id, as the demo's campaign step writes them.
    from omnicore.storage import ConsentRecords, DecisionRecords

    people = np.unique(data.transactions.customer_id)
    n = people.size
    day = np.full(n, np.datetime64("2024-06-01", "us"))
    store.campaigns.record_decisions(
        DecisionRecords(
            decision_key=np.array([f"welcome:{p}" for p in people.tolist()]),
            rule_id=np.array(["welcome"] * n),
            customer_id=people,
            channel=np.array(["sms"] * n),
            status=np.array(["fired"] * n),
            decided_at=day,
            send_at=day,
            reason=np.array(["first purchase"] * n),
        )
    )
    store.campaigns.record_consent(
        ConsentRecords(
            subject_id=people,
            purpose=np.array(["marketing"] * n),
            granted=np.ones(n, dtype=bool),
            recorded_at=day,
            source=np.array(["signup"] * n),
        )
    )
    store.close()
    chosen = sorted(asked)
    return [asked[c] for c in chosen], [pure[c] for c in chosen]


def run_omnicore(path: Path, requests: list[tuple[str, str]], people: list[int]) -> tuple[float, float]:
    store = open_store(f"sqlite:///{path}", tenant=TENANT)
    wall, cpu = time.perf_counter(), time.process_time()
    subjects = find_subjects(store, [Identifier(t, v) for t, v in requests])
    subjects = tuple(attrs.evolve(s, extra_log_ids=(p,)) for s, p in zip(subjects, people, strict=True))
    erase_subjects(store, subjects, reason="benchmark", log_keys=LOG_KEYS)
    result = time.perf_counter() - wall, time.process_time() - cpu
    store.close()
    return result


def run_sql(path: Path, requests: list[tuple[str, str]], people: list[int]) -> tuple[float, float]:
    """The floor: the same deletions as plain statements, one transaction, no checks or audit."""
    wall, cpu = time.perf_counter(), time.process_time()
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("BEGIN IMMEDIATE")
    for (id_type, value), person in zip(requests, people, strict=True):
        (customer,) = db.execute(
            "SELECT customer_id FROM oc_identity_assignments WHERE tenant = ? AND id_type = ? AND value = ?",
            (TENANT, id_type, value),
        ).fetchone()
        members = db.execute(
            "SELECT id_type, value FROM oc_identity_assignments WHERE tenant = ? AND customer_id = ?",
            (TENANT, customer),
        ).fetchall()
        records: set[str] = set()
        for t, v in members:
            for side in ("left", "right"):
                where = f"tenant = ? AND {side}_type = ? AND {side}_value = ?"
                db.execute(f"DELETE FROM oc_identity_links WHERE {where}", (TENANT, t, v))
            records.update(
                r
                for (r,) in db.execute(
                    "SELECT record_id FROM oc_identifier_records "
                    "WHERE tenant = ? AND id_type = ? AND value = ?",
                    (TENANT, t, v),
                )
            )
        db.executemany(
            "DELETE FROM oc_identifier_records WHERE tenant = ? AND record_id = ?",
            [(TENANT, r) for r in records],
        )
        db.execute(
            "DELETE FROM oc_identity_assignments WHERE tenant = ? AND customer_id = ?", (TENANT, customer)
        )
        key = str(person)
        for table, column in (
            ("oc_transactions", "customer_id"),
            ("oc_events", "customer_id"),
            ("oc_decisions", "customer_id"),
            ("oc_consent", "subject_id"),
        ):
            db.execute(f"DELETE FROM {table} WHERE tenant = ? AND {column} = ?", (TENANT, key))
    db.execute("COMMIT")
    db.close()
    return time.perf_counter() - wall, time.process_time() - cpu


def table_rows(path: Path) -> dict[str, list[Any]]:
    db = sqlite3.connect(path)
    rows = {}
    for table in DATA_TABLES:
        columns = [c[1] for c in db.execute(f"PRAGMA table_info({table})") if c[1] not in ("seq",)]
        rows[table] = sorted(db.execute(f"SELECT {', '.join(columns)} FROM {table}").fetchall(), key=repr)
    db.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="omnicore-privacy-"))
    try:
        base = work / "base.db"
        began = time.perf_counter()
        requests, people = build(base, args.customers, args.seed)
        pick = np.random.default_rng(args.seed).permutation(len(requests))[: args.requests]
        requests = [requests[i] for i in sorted(pick)]
        people = [people[i] for i in sorted(pick)]
        print(f"store: {args.customers:,} customers on SQLite, built in {time.perf_counter() - began:.1f} s")
        print(f"requests: {len(requests):,} subjects, each asked for by one member card or account id")
        # Warm-up: numba kernels and imports on a throwaway copy.
        shutil.copy(base, work / "warm.db")
        run_omnicore(work / "warm.db", requests[:5], people[:5])
        times: dict[str, list[tuple[float, float]]] = {"omnicore": [], "sql": []}
        for repeat in range(args.repeats):
            for side, runner in (("omnicore", run_omnicore), ("sql", run_sql)):
                copy = work / f"{side}-{repeat}.db"
                shutil.copy(base, copy)
                times[side].append(runner(copy, requests, people))
        same = table_rows(work / "omnicore-0.db") == table_rows(work / "sql-0.db")
        print(f"rows left in every data table identical on both sides: {same}")
        print(
            f"{'side':10} {'best wall s':>12} {'median wall s':>14} {'median CPU s':>13} {'requests/s':>11}"
        )
        for side, got in times.items():
            walls = [w for w, _ in got]
            cpus = [c for _, c in got]
            wall = statistics.median(walls)
            print(
                f"{side:10} {min(walls):12.3f} {wall:14.3f} {statistics.median(cpus):13.3f} "
                f"{len(requests) / wall:11.0f}"
            )
        ratio = statistics.median(w for w, _ in times["omnicore"]) / statistics.median(
            w for w, _ in times["sql"]
        )
        print(f"omnicore / hand-written SQL (median wall): {ratio:.2f}x")
        if not same:
            raise SystemExit("the two sides left different rows")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
