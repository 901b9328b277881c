"""The SQLite adapter, omnicore's embedded default: one file, WAL journal, ``BEGIN IMMEDIATE`` writes.

Open it with ``open_store("sqlite:///path.db", tenant=...)``; ``"sqlite://"`` is a private in-memory
database. Several processes may write one file: writers queue on SQLite's lock for up to
``timeout_seconds``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

from omnicore._errors import StorageError, ValidationError
from omnicore.storage._db import Database, Dialect, Row
from omnicore.storage._open import check_tenant
from omnicore.storage._schema import migrate
from omnicore.storage._sql_store import SqlStore

__all__ = ["SQLITE", "connect", "connect_database"]

#: Page cache per connection (KiB): bulk appends maintain several indexes, which thrash a small cache.
_CACHE_KIB = 64 * 1024


def _executemany(connection: Any, sql: str, rows: Iterable[Row]) -> Any:
    return connection.executemany(sql, rows)


def _bulk_insert(connection: Any, table: str, columns: Sequence[str], rows: Iterable[Row]) -> None:
    marks = ", ".join("?" * len(columns))
    connection.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)


#: The SQLite dialect: dynamic types, one writer at a time (``BEGIN IMMEDIATE``).
SQLITE = Dialect(
    name="sqlite",
    types={"bigint": "INTEGER", "double": "REAL", "text": "TEXT", "blob": "BLOB", "boolean": "INTEGER"},
    begin_write="BEGIN IMMEDIATE",
    begin_read="BEGIN DEFERRED",
    in_chunk=500,
    placeholder="?",
    lock_sql=None,
    executemany=_executemany,
    bulk_insert=_bulk_insert,
    errors=(sqlite3.Error,),
    integrity_errors=(sqlite3.IntegrityError,),
)


def sqlite_path(url: str) -> str:
    """The file path of a ``sqlite:///`` URL (``":memory:"`` for ``sqlite://``)."""
    parts = urlsplit(url)
    if parts.netloc:
        raise StorageError(
            f"sqlite URLs have no host: use sqlite:///relative.db or sqlite:////abs.db, not {url!r}"
        )
    path = parts.path[1:] if parts.path.startswith("/") else parts.path
    return path or ":memory:"


_WAL_CHECKPOINT_PAGES = 16_384


def connect_database(path: str, *, timeout_seconds: float = 30.0) -> Database:
    """A migrated :class:`Database` on one SQLite file (or ``":memory:"``)."""
    if not isinstance(timeout_seconds, int | float) or timeout_seconds < 0:
        raise ValidationError("must be a non-negative number", field="timeout_seconds", value=timeout_seconds)
    try:
        connection = sqlite3.connect(
            path, timeout=timeout_seconds, isolation_level=None, check_same_thread=False
        )
        connection.execute(f"PRAGMA busy_timeout = {int(timeout_seconds * 1000)}")
        if path != ":memory:":
            connection.execute("PRAGMA journal_mode = WAL")
            connection.execute("PRAGMA synchronous = NORMAL")
            # Checkpoint (and fsync) every 64 MiB of WAL instead of SQLite's 4 MiB: a stream of small
            # commits that each rewrite hundreds of index pages otherwise flushes every other commit.
            connection.execute(f"PRAGMA wal_autocheckpoint = {_WAL_CHECKPOINT_PAGES}")
        connection.execute(f"PRAGMA cache_size = -{_CACHE_KIB}")
    except sqlite3.Error as exc:
        raise StorageError(f"cannot open SQLite database {path!r}: {exc}") from exc
    db = Database(connection, SQLITE)
    try:
        migrate(db)
    except BaseException:
        db.close()
        raise
    return db


def connect(url: str, *, tenant: str, timeout_seconds: float = 30.0) -> SqlStore:
    """Open a SQLite store (used by :func:`omnicore.storage.open_store`).

    Parameters
    ----------
    url
        ``"sqlite:///relative/path.db"``, ``"sqlite:////absolute/path.db"`` or ``"sqlite://"``.
    tenant
        The tenant the handle is bound to.
    timeout_seconds
        How long a writer waits for another writer's lock before failing.

    Returns
    -------
    SqlStore
        A tenant-bound store; the file is created and migrated to the current schema when needed.

    Raises
    ------
    StorageError
        When the file cannot be opened, or was written by a newer omnicore.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from omnicore import Transactions
    >>> from omnicore.storage import open_store
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "shop.db"
    >>> with open_store(f"sqlite:///{path}", tenant="acme") as store:
    ...     store.transactions.append(
    ...         Transactions(customer_id=[1, 2], timestamp=["2024-01-02", "2024-01-01"], amount=[5.0, 7.5])
    ...     )
    2
    >>> with open_store(f"sqlite:///{path}", tenant="acme") as store:
    ...     store.transactions.load().customer_id.tolist()
    [2, 1]
    """
    check_tenant(tenant)
    return SqlStore(
        connect_database(sqlite_path(url), timeout_seconds=timeout_seconds), url=url, tenant=tenant
    )
