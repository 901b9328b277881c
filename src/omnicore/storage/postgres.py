"""The PostgreSQL adapter (psycopg 3, the ``postgres`` extra).

Open it with ``open_store("postgresql://user:password@host:5432/dbname", tenant=...)``. Tables live in
the connection's ``search_path`` schema, or in ``schema=...`` (created when missing). Writers to the
same tenant's inventory or decision log are serialised with transaction-scoped advisory locks; bulk
appends use ``COPY``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from omnicore._errors import DependencyError, StorageError, ValidationError
from omnicore.storage._db import Database, Dialect, Row
from omnicore.storage._open import check_tenant
from omnicore.storage._schema import migrate
from omnicore.storage._sql_store import SqlStore

__all__ = ["connect", "dialect", "redact_url"]

_SCHEMA = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError as exc:
        raise DependencyError(
            "the PostgreSQL store needs psycopg 3: pip install 'omnicore[postgres]'"
        ) from exc
    return psycopg


def _executemany(connection: Any, sql: str, rows: Iterable[Row]) -> Any:
    cursor = connection.cursor()
    cursor.executemany(sql, list(rows))
    return cursor


def _bulk_insert(connection: Any, table: str, columns: Sequence[str], rows: Iterable[Row]) -> None:
    with (
        connection.cursor() as cursor,
        cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row(row)


def dialect() -> Dialect:
    """The PostgreSQL dialect (imports psycopg)."""
    psycopg = _psycopg()
    return Dialect(
        name="postgresql",
        types={
            "bigint": "BIGINT",
            "double": "DOUBLE PRECISION",
            "text": "TEXT",
            "blob": "BYTEA",
            "boolean": "BOOLEAN",
        },
        begin_write="BEGIN",
        begin_read="BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
        in_chunk=5000,
        placeholder="%s",
        lock_sql="SELECT pg_advisory_xact_lock(hashtextextended(?, 0))",
        executemany=_executemany,
        bulk_insert=_bulk_insert,
        errors=(psycopg.Error,),
        integrity_errors=(psycopg.errors.IntegrityError,),
    )


def redact_url(url: str) -> str:
    """The URL without its password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


def connect(
    url: str, *, tenant: str, schema: str | None = None, connect_timeout_seconds: int = 10
) -> SqlStore:
    """Open a PostgreSQL store (used by :func:`omnicore.storage.open_store`).

    Parameters
    ----------
    url
        ``"postgresql://user:password@host:port/dbname"`` (``postgresql+psycopg://`` also accepted).
    tenant
        The tenant the handle is bound to.
    schema
        A schema to keep omnicore's tables in (created if missing); default: the ``search_path``.
    connect_timeout_seconds
        How long to wait for the server.

    Returns
    -------
    SqlStore
        A tenant-bound store; the schema is migrated to the current version when needed.

    Raises
    ------
    DependencyError
        When psycopg is not installed.
    StorageError
        When the server cannot be reached, or the database was written by a newer omnicore.

    Examples
    --------
    >>> from omnicore.storage import open_store
    >>> store = open_store(  # doctest: +SKIP
    ...     "postgresql://omnicore:omnicore@127.0.0.1:5432/omnicore_test", tenant="acme", schema="retail"
    ... )
    >>> store.url  # doctest: +SKIP
    'postgresql://omnicore:***@127.0.0.1:5432/omnicore_test'
    """
    check_tenant(tenant)
    psycopg = _psycopg()
    pg = dialect()
    if schema is not None and not (isinstance(schema, str) and _SCHEMA.fullmatch(schema)):
        raise ValidationError(
            "schema names are lower-case letters, digits and '_'", field="schema", value=schema
        )
    parts = urlsplit(url)
    conninfo = urlunsplit(parts._replace(scheme="postgresql"))
    try:
        connection = psycopg.connect(conninfo, autocommit=True, connect_timeout=connect_timeout_seconds)
    except psycopg.Error as exc:
        raise StorageError(f"cannot connect to PostgreSQL at {redact_url(url)}: {exc}") from exc
    db = Database(connection, pg)
    try:
        if schema is not None:
            db.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            db.execute(f'SET search_path TO "{schema}"')
        migrate(db)
    except BaseException:
        db.close()
        raise
    return SqlStore(db, url=redact_url(url), tenant=tenant)
