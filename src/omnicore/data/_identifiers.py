"""Identifier records: which identifiers each source record carried, one row per (record, identifier)."""

from __future__ import annotations

from typing import Any, ClassVar

import attrs
import numpy as np
import numpy.typing as npt

from omnicore.data._columns import as_id_column, as_string_column, as_time_column, column_field
from omnicore.data._table import Table

__all__ = ["IdentifierRecords"]


@attrs.frozen(kw_only=True, repr=False)
class IdentifierRecords(Table):
    """Identifiers observed on source records, in long format.

    A record (an online account, a POS member sign-up, a mini-program login, a guest order) carries
    several identifiers; each becomes one row sharing the ``record_id``. Identifiers that share a record
    are evidence that they belong to one person.

    Parameters
    ----------
    record_id
        The source record.
    source
        The channel or system the record comes from (``"online"``, ``"pos"``, ``"mini_program"``, ...).
    id_type
        The identifier's type (``"phone"``, ``"email"``, ``"member_card"``, ``"wechat_openid"``, ...).
    value
        The identifier as seen (normalisation happens in :mod:`omnicore.identity`).
    observed_at
        When the record was seen, UTC.

    Examples
    --------
    >>> recs = IdentifierRecords(
    ...     record_id=["pos-1", "pos-1", "web-9"],
    ...     source=["pos", "pos", "online"],
    ...     id_type=["member_card", "phone", "phone"],
    ...     value=["MC0001", "138 0013 8000", "+8613800138000"],
    ...     observed_at=["2024-05-01", "2024-05-01", "2024-05-03"],
    ... )
    >>> len(recs)
    3
    """

    _length_anchor: ClassVar[str] = "record_id"

    record_id: npt.NDArray[Any] = column_field(as_id_column())
    source: npt.NDArray[Any] = column_field(as_string_column())
    id_type: npt.NDArray[Any] = column_field(as_string_column())
    value: npt.NDArray[Any] = column_field(as_string_column())
    observed_at: npt.NDArray[np.datetime64] = column_field(as_time_column())

    @classmethod
    def empty(cls) -> IdentifierRecords:
        """A container with no rows."""
        nothing = np.empty(0, dtype=object)
        return cls(
            record_id=nothing,
            source=nothing,
            id_type=nothing,
            value=nothing,
            observed_at=np.empty(0, "datetime64[us]"),
        )
