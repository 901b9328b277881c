"""Pluggable storage: typed Protocols per concern and adapters (memory, SQLite, PostgreSQL).

Open a store with :func:`open_store`; every handle is bound to one tenant.
"""

from omnicore.storage._errors import InsufficientStockError
from omnicore.storage._open import DEFAULT_TENANT, check_tenant, open_store
from omnicore.storage._protocols import (
    AuditLog,
    CampaignStore,
    EventLog,
    IdentityStore,
    InventoryStore,
    Store,
    TransactionLog,
)
from omnicore.storage._records import (
    AuditEntry,
    ConsentRecords,
    DecisionRecords,
    IdentityLinks,
    MergeEvents,
    Reservation,
    ReservationLine,
    ReservationStatus,
)

__all__ = [
    "DEFAULT_TENANT",
    "AuditEntry",
    "AuditLog",
    "CampaignStore",
    "ConsentRecords",
    "DecisionRecords",
    "EventLog",
    "IdentityLinks",
    "IdentityStore",
    "InsufficientStockError",
    "InventoryStore",
    "MergeEvents",
    "Reservation",
    "ReservationLine",
    "ReservationStatus",
    "Store",
    "TransactionLog",
    "check_tenant",
    "open_store",
]
