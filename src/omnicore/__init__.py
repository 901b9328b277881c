"""omnicore: omnichannel retail and private-domain customer operations.

Identity-graph merging, inventory-allocation routing, RFM segmentation, LTV estimation and campaign
triggers over one typed data model and pluggable stores (memory, SQLite, PostgreSQL).
"""

from omnicore._errors import (
    ConflictError,
    ConvergenceError,
    DependencyError,
    NotFoundError,
    OmnicoreError,
    StorageError,
    TenantError,
    ValidationError,
)
from omnicore._serde import from_json, structure, to_json, unstructure
from omnicore._version import __version__
from omnicore.data import Events, IdentifierRecords, Inventory, Transactions
from omnicore.storage import open_store
from omnicore.summary import CalibrationHoldout, CustomerSummary, Period, calibration_holdout, summarize

__all__ = [
    "CalibrationHoldout",
    "ConflictError",
    "ConvergenceError",
    "CustomerSummary",
    "DependencyError",
    "Events",
    "IdentifierRecords",
    "Inventory",
    "NotFoundError",
    "OmnicoreError",
    "Period",
    "StorageError",
    "TenantError",
    "Transactions",
    "ValidationError",
    "__version__",
    "calibration_holdout",
    "from_json",
    "open_store",
    "structure",
    "summarize",
    "to_json",
    "unstructure",
]
