"""The in-process adapter: ``memory://`` (private) and ``memory://name`` (shared by name in the process).

It runs the same SQL as the SQLite and PostgreSQL adapters on an in-memory SQLite database, so its
semantics are those of the contract suite to the letter: real transactions (``atomic()`` rolls back),
tenant isolation, typed ids. Handles opened with the same name share one database and one lock (so two
tenants can be tested side by side); the database lives until its last handle is closed.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

from omnicore._errors import StorageError
from omnicore.storage._db import Database
from omnicore.storage._open import check_tenant
from omnicore.storage._sql_store import SqlStore
from omnicore.storage.sqlite import connect_database

__all__ = ["connect"]

_shared: dict[str, tuple[Database, int]] = {}
_registry_lock = threading.Lock()


def _release(name: str) -> None:
    with _registry_lock:
        db, handles = _shared[name]
        if handles > 1:
            _shared[name] = (db, handles - 1)
            return
        del _shared[name]
        db.connection.close()


class _Handle(Database):
    """A reference to a shared in-memory database; closing it closes the database with its last handle."""

    def __init__(self, shared: Database, name: str) -> None:
        super().__init__(shared.connection, shared.dialect, on_close=lambda: _release(name))
        self.lock = shared.lock
        self._shared = shared

    @contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[None]:
        """Transactions go through the shared database, which tracks nesting for every handle."""
        if self.closed:
            raise StorageError("the store is closed")
        with self._shared.transaction(write=write):
            yield


def connect(url: str, *, tenant: str) -> SqlStore:
    """Open an in-process store (used by :func:`omnicore.storage.open_store`).

    Parameters
    ----------
    url
        ``"memory://"`` for a private store, ``"memory://name"`` for one shared by every handle opened
        with that name in this process.
    tenant
        The tenant the handle is bound to.

    Returns
    -------
    SqlStore
        A tenant-bound store.

    Examples
    --------
    >>> from omnicore.storage import open_store
    >>> with open_store("memory://shop", tenant="a") as a, open_store("memory://shop", tenant="b") as b:
    ...     a.campaigns.put_state("caps", {"c1": b"3"})
    ...     a.campaigns.get_state("caps", ["c1"]), b.campaigns.get_state("caps", ["c1"])
    ({'c1': b'3'}, {})
    """
    check_tenant(tenant)
    parts = urlsplit(url)
    name = (parts.netloc + parts.path).strip("/")
    if not name:
        return SqlStore(connect_database(":memory:"), url=url, tenant=tenant)
    with _registry_lock:
        if name in _shared:
            db, handles = _shared[name]
            _shared[name] = (db, handles + 1)
        else:
            db = connect_database(":memory:")
            _shared[name] = (db, 1)
    return SqlStore(_Handle(db, name), url=url, tenant=tenant)
