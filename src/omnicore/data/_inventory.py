"""Inventory positions: on-hand and safety stock per (sku, node)."""

from __future__ import annotations

from typing import Any, ClassVar

import attrs
import numpy as np
import numpy.typing as npt

from omnicore._errors import ValidationError
from omnicore.data._columns import as_id_column, as_int_column, column_field
from omnicore.data._grouping import factorize_pairs
from omnicore.data._table import Table

__all__ = ["Inventory"]


@attrs.frozen(kw_only=True, repr=False)
class Inventory(Table):
    """Stock positions per (sku, node), one row each.

    Parameters
    ----------
    sku
        The product.
    node
        The store, warehouse or other fulfilment node.
    on_hand
        Units physically there (non-negative integers).
    safety_stock
        Units held back from promising (non-negative; default 0).
    reserved
        Units held by active reservations (non-negative; default 0; filled in by stores).

    Examples
    --------
    >>> inv = Inventory(sku=["A", "A"], node=["DC1", "S01"], on_hand=[100, 3], safety_stock=[10, 1])
    >>> inv.available.tolist()
    [90, 2]
    """

    _length_anchor: ClassVar[str] = "sku"

    sku: npt.NDArray[Any] = column_field(as_id_column())
    node: npt.NDArray[Any] = column_field(as_id_column())
    on_hand: npt.NDArray[np.int64] = column_field(as_int_column(nonnegative=True))
    safety_stock: npt.NDArray[np.int64] | None = column_field(
        as_int_column(optional=True, nonnegative=True), optional=True
    )
    reserved: npt.NDArray[np.int64] | None = column_field(
        as_int_column(optional=True, nonnegative=True), optional=True
    )

    def _validate(self) -> None:
        if len(self) < 2:
            return
        _, first_rows = factorize_pairs(self.sku, self.node)
        if len(first_rows) < len(self):
            seen_first = np.zeros(len(self), bool)
            seen_first[first_rows] = True
            row = int(np.flatnonzero(~seen_first)[0])
            raise ValidationError(
                "duplicate (sku, node) position",
                field="sku",
                row=row,
                value=(self.sku[row], self.node[row]),
            )

    @property
    def available(self) -> npt.NDArray[np.int64]:
        """Available to promise: on hand minus safety stock minus reserved, floored at zero."""
        held = np.zeros(len(self), np.int64)
        if self.safety_stock is not None:
            held = held + self.safety_stock
        if self.reserved is not None:
            held = held + self.reserved
        available: npt.NDArray[np.int64] = np.maximum(self.on_hand - held, 0)
        return available

    @classmethod
    def empty(cls) -> Inventory:
        """A container with no rows."""
        return cls(sku=np.empty(0, np.int64), node=np.empty(0, np.int64), on_hand=np.empty(0, np.int64))

    def with_values(self, **columns: Any) -> Inventory:
        """A copy with some columns replaced."""
        return attrs.evolve(self, **columns)
