"""Opening stores: URLs, tenants, sharing, closing, missing drivers, schema migrations."""

from __future__ import annotations

import sqlite3
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest

from omnicore import DependencyError, StorageError, TenantError, Transactions
from omnicore.storage import Store, open_store
from omnicore.storage._db import Database
from omnicore.storage._schema import MIGRATIONS, migrate, schema_version
from omnicore.storage.sqlite import SQLITE

from .conftest import Backend

T0 = np.datetime64("2024-01-01", "us")
ONE = Transactions(customer_id=[1], timestamp=[T0], amount=[1.0])


def test_every_adapter_satisfies_the_protocols(store) -> None:
    from omnicore.storage import (
        AuditLog,
        CampaignStore,
        EventLog,
        IdentityStore,
        InventoryStore,
        TransactionLog,
    )

    assert isinstance(store, Store)
    assert isinstance(store.transactions, TransactionLog)
    assert isinstance(store.events, EventLog)
    assert isinstance(store.identity, IdentityStore)
    assert isinstance(store.inventory, InventoryStore)
    assert isinstance(store.campaigns, CampaignStore)
    assert isinstance(store.audit, AuditLog)


def test_closed_store_refuses_calls(backend: Backend) -> None:
    store = backend.open("closing")
    with store:
        store.transactions.append(ONE)
    with pytest.raises(StorageError, match="closed"):
        store.transactions.count()
    store.close()  # idempotent


def test_memory_by_name_is_shared_and_private_is_not() -> None:
    name = f"memory://shared-{uuid.uuid4().hex}"
    with open_store(name, tenant="t") as first, open_store(name, tenant="t") as second:
        first.transactions.append(ONE)
        assert second.transactions.count() == 1
        with open_store("memory://", tenant="t") as private:
            assert private.transactions.count() == 0
    with open_store(name, tenant="t") as again:  # the last handle closed: the database is gone
        assert again.transactions.count() == 0


def test_in_memory_sqlite_url() -> None:
    with open_store("sqlite://", tenant="t") as store:
        store.transactions.append(ONE)
        assert store.transactions.count() == 1


def test_sqlite_file_persists_and_uses_wal(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    with open_store(url, tenant="t") as store:
        store.transactions.append(ONE)
    with open_store(url, tenant="t") as store:
        assert store.transactions.count() == 1
    connection = sqlite3.connect(tmp_path / "a.db")
    assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    connection.close()


def test_bad_urls_and_tenants(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="scheme"):
        open_store("mysql://x")
    with pytest.raises(TenantError):
        open_store("memory://", tenant="")
    with pytest.raises(TenantError):
        open_store("memory://", tenant="a'; DROP TABLE x; --")
    with pytest.raises(StorageError):
        open_store("sqlite://host/x.db")
    with pytest.raises(StorageError):
        open_store(f"sqlite:///{tmp_path / 'missing-dir' / 'x.db'}")


def test_postgres_without_psycopg_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(DependencyError, match=r"omnicore\[postgres\]"):
        open_store("postgresql://u:p@127.0.0.1:5432/db")


def test_postgres_url_hides_the_password(backend: Backend) -> None:
    store = backend.open()
    if backend.kind == "postgres":
        assert ":***@" in store.url
        assert "omnicore:omnicore@" not in store.url


# -- migrations --------------------------------------------------------------------------------


def _sqlite_db(path: Path) -> Database:
    return Database(sqlite3.connect(path, isolation_level=None, check_same_thread=False), SQLITE)


def test_opening_an_older_database_migrates_it(tmp_path: Path) -> None:
    db = _sqlite_db(tmp_path / "old.db")
    assert migrate(db, target=1) == 1
    db.execute("INSERT INTO oc_audit VALUES ('t', 1, 0, 'a', 'x', '', '{}')")
    db.execute("UPDATE oc_audit SET actor = 'b'")  # version 1 has no append-only trigger yet
    db.close()
    with open_store(f"sqlite:///{tmp_path / 'old.db'}", tenant="t") as store:
        assert [e.actor for e in store.audit.entries()] == ["b"]
    db = _sqlite_db(tmp_path / "old.db")
    assert schema_version(db) == max(m.version for m in MIGRATIONS)
    with pytest.raises(StorageError, match="append-only"):
        db.execute("UPDATE oc_audit SET actor = 'c'")
    assert migrate(db) == schema_version(db)  # applying again changes nothing
    db.close()


def test_a_newer_database_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    open_store(url, tenant="t").close()
    db = _sqlite_db(tmp_path / "new.db")
    db.execute("INSERT INTO oc_schema_version VALUES (999, 'from the future', 0)")
    db.close()
    with pytest.raises(StorageError, match="999"):
        open_store(url, tenant="t")


def test_a_failing_migration_leaves_the_previous_version(tmp_path: Path) -> None:
    from omnicore.storage._schema import Migration

    db = _sqlite_db(tmp_path / "m.db")
    broken = (*MIGRATIONS, Migration(99, "broken", {"": ("CREATE TABLE oc_ok (x INTEGER)", "NOT SQL")}))
    with pytest.raises(StorageError):
        migrate(db, broken)
    assert schema_version(db) == max(m.version for m in MIGRATIONS)
    assert not db.execute("SELECT name FROM sqlite_master WHERE name = 'oc_ok'").fetchall()
    db.close()


def test_postgres_migrations_in_a_fresh_schema(postgres_url: str) -> None:
    import psycopg

    schema = f"omnicore_mig_{uuid.uuid4().hex[:10]}"
    try:
        with open_store(postgres_url, tenant="t", schema=schema) as store:
            store.transactions.append(ONE)
        with psycopg.connect(postgres_url, autocommit=True) as connection:
            connection.execute(f'SET search_path TO "{schema}"')
            versions = [v for (v,) in connection.execute("SELECT version FROM oc_schema_version ORDER BY 1")]
            assert versions == [m.version for m in MIGRATIONS]
            connection.execute("INSERT INTO oc_schema_version VALUES (999, 'future', 0)")
        with pytest.raises(StorageError, match="999"):
            open_store(postgres_url, tenant="t", schema=schema)
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
