"""The tenant-bound store handle shared by every SQL adapter (memory, SQLite, PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from omnicore.storage._db import Database, Scope
from omnicore.storage._protocols import Store
from omnicore.storage._sql_campaigns import SqlAuditLog, SqlCampaignStore
from omnicore.storage._sql_identity import SqlIdentityStore
from omnicore.storage._sql_inventory import SqlInventoryStore
from omnicore.storage._sql_logs import SqlEventLog, SqlTransactionLog

__all__ = ["SqlStore"]


class SqlStore:
    """A :class:`~omnicore.storage.Store` over one SQL connection, bound to one tenant.

    Thread-safe: the connection's lock is held by each call and by a whole :meth:`atomic` block.
    """

    def __init__(self, db: Database, *, url: str, tenant: str) -> None:
        self._db = db
        self._url = url
        self._tenant = tenant
        scope = Scope(db, tenant)
        self._transactions = SqlTransactionLog(scope)
        self._events = SqlEventLog(scope)
        self._identity = SqlIdentityStore(scope)
        self._inventory = SqlInventoryStore(scope)
        self._campaigns = SqlCampaignStore(scope)
        self._audit = SqlAuditLog(scope)

    def __repr__(self) -> str:
        state = "closed" if self._db.closed else "open"
        return f"<{type(self).__name__} {self._url!r} tenant={self._tenant!r} {state}>"

    @property
    def url(self) -> str:
        """The URL the store was opened with (password removed)."""
        return self._url

    @property
    def tenant(self) -> str:
        """The tenant this handle is bound to."""
        return self._tenant

    @property
    def transactions(self) -> SqlTransactionLog:
        """The purchase log."""
        return self._transactions

    @property
    def events(self) -> SqlEventLog:
        """The behavioural event log."""
        return self._events

    @property
    def identity(self) -> SqlIdentityStore:
        """Identifier records, links, assignments and merge history."""
        return self._identity

    @property
    def inventory(self) -> SqlInventoryStore:
        """Stock positions and reservations."""
        return self._inventory

    @property
    def campaigns(self) -> SqlCampaignStore:
        """Decision log, consent ledger and key-value state."""
        return self._campaigns

    @property
    def audit(self) -> SqlAuditLog:
        """The append-only audit log."""
        return self._audit

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """Group calls (across concerns) into one transaction: all take effect, or on an exception none.

        Nested blocks are savepoints.
        """
        with self._db.transaction(write=True):
            yield

    def close(self) -> None:
        """Release the connection; the handle cannot be used afterwards."""
        self._db.close()

    def __enter__(self) -> SqlStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getstate__(self) -> Any:
        from omnicore._errors import StorageError

        raise StorageError("a store handle cannot be pickled; open the URL again in the other process")


def _conforms(store: SqlStore) -> Store:
    """Static check (mypy): the SQL store satisfies the :class:`~omnicore.storage.Store` Protocol."""
    return store
