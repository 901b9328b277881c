"""Typed columnar containers shared by every capability, with validation and dataframe interop.

Every container is a frozen attrs class of read-only numpy columns. Build one from arrays (the
constructor), from records (:meth:`~Transactions.from_records`) or from a pandas, polars or pyarrow
table (:meth:`~Transactions.from_frame`); convert back with ``to_pandas``, ``to_polars``, ``to_arrow``.
"""

from omnicore.data._columns import STRING_DTYPE, TIME_DTYPE, TIME_MAX, TIME_MIN, to_datetime64
from omnicore.data._events import Events
from omnicore.data._grouping import factorize, factorize_pairs, first_occurrences, searchsorted, unique_sorted
from omnicore.data._identifiers import IdentifierRecords
from omnicore.data._inventory import Inventory
from omnicore.data._table import Table
from omnicore.data._transactions import Transactions

__all__ = [
    "STRING_DTYPE",
    "TIME_DTYPE",
    "TIME_MAX",
    "TIME_MIN",
    "Events",
    "IdentifierRecords",
    "Inventory",
    "Table",
    "Transactions",
    "factorize",
    "factorize_pairs",
    "first_occurrences",
    "searchsorted",
    "to_datetime64",
    "unique_sorted",
]
