"""``open_store(url)``: choose a storage adapter by URL, like SQLAlchemy's ``create_engine``."""

from __future__ import annotations

import importlib
import re
from typing import Any
from urllib.parse import urlsplit

from omnicore._errors import StorageError, TenantError
from omnicore.storage._protocols import Store

__all__ = ["DEFAULT_TENANT", "check_tenant", "open_store"]

#: The tenant a handle is bound to when none is given.
DEFAULT_TENANT = "default"
_TENANT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")

# scheme -> module with a ``connect(url: str, *, tenant: str, **options) -> Store`` function
_BACKENDS = {
    "memory": "omnicore.storage.memory",
    "sqlite": "omnicore.storage.sqlite",
    "postgresql": "omnicore.storage.postgres",
    "postgres": "omnicore.storage.postgres",
}


def check_tenant(tenant: str) -> str:
    """Return ``tenant`` if it is a valid tenant name, else raise :class:`~omnicore.TenantError`."""
    if not isinstance(tenant, str) or not _TENANT.fullmatch(tenant):
        raise TenantError(
            f"invalid tenant {tenant!r}: 1-64 characters of letters, digits, '_', '.', '-', "
            "starting with a letter or digit"
        )
    return tenant


def open_store(url: str = "sqlite:///omnicore.db", *, tenant: str = DEFAULT_TENANT, **options: Any) -> Store:
    """Open a store by URL, bound to one tenant.

    Parameters
    ----------
    url
        ``"memory://"`` (a private in-process store), ``"memory://name"`` (an in-process store shared by
        every handle opened with that name), ``"sqlite:///relative/path.db"``,
        ``"sqlite:////absolute/path.db"``, ``"sqlite://"`` (in-memory SQLite) or
        ``"postgresql://user:password@host:port/dbname"`` (needs the ``postgres`` extra).
    tenant
        The tenant every call of the returned handle is bound to.
    **options
        Passed to the adapter: ``timeout_seconds`` for SQLite (how long a writer waits for the lock),
        ``schema`` and ``connect_timeout_seconds`` for PostgreSQL.

    Returns
    -------
    Store
        A handle with ``transactions``, ``events``, ``identity``, ``inventory``, ``campaigns`` and
        ``audit``; use it as a context manager or call ``close()``.

    Raises
    ------
    StorageError
        For an unknown scheme or a store that cannot be opened or migrated.
    TenantError
        For an invalid tenant name.

    Examples
    --------
    >>> with open_store("memory://", tenant="acme") as store:
    ...     store.tenant
    'acme'
    """
    check_tenant(tenant)
    scheme = urlsplit(url).scheme.split("+", 1)[0].lower()
    module_name = _BACKENDS.get(scheme)
    if module_name is None:
        raise StorageError(
            f"unknown store URL scheme {scheme!r} in {url!r}; expected one of {sorted(_BACKENDS)}"
        )
    module = importlib.import_module(module_name)
    store: Store = module.connect(url, tenant=tenant, **options)
    return store
