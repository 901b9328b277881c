"""Transactions: one row per purchase line (or per order where lines are not known)."""

from __future__ import annotations

from typing import Any, ClassVar

import attrs
import numpy as np
import numpy.typing as npt

from omnicore._errors import ValidationError
from omnicore.data._columns import (
    as_float_column,
    as_id_column,
    as_int_column,
    as_string_column,
    as_time_column,
    column_field,
)
from omnicore.data._table import Table

__all__ = ["Transactions"]


@attrs.frozen(kw_only=True, repr=False)
class Transactions(Table):
    """Purchase transactions as validated, read-only numpy columns.

    Parameters
    ----------
    customer_id
        Who bought: int64 or text ids.
    timestamp
        When, as UTC ``datetime64[us]`` (datetimes, ISO text and tz-aware values are converted).
    amount
        Money paid for the row, finite. A negative amount is a return and needs ``allow_returns=True``.
    channel
        Where it happened, e.g. ``"online"``, ``"store"``, ``"community"`` (optional).
    order_id
        The order the row belongs to (optional; several rows of an order share it).
    sku
        The product (optional).
    quantity
        Units (optional, integer; negative only on returns).
    allow_returns
        Accept negative amounts as returns. Off by default so that a sign error is caught, not summed.

    Raises
    ------
    ValidationError
        On a wrong dtype, NaN or infinite amount, timestamp out of range, empty id, mismatched column
        lengths, or a negative amount without ``allow_returns``; the error names the column, the first bad
        row and its value.

    Examples
    --------
    >>> tx = Transactions(
    ...     customer_id=[1, 1, 2],
    ...     timestamp=["2024-01-05", "2024-02-01T10:30:00", "2024-01-20"],
    ...     amount=[120.0, 80.5, 42.0],
    ...     channel=["online", "store", "community"],
    ... )
    >>> len(tx), float(tx.amount.sum())
    (3, 242.5)
    >>> Transactions(customer_id=[1], timestamp=["2024-01-05"], amount=[float("nan")])
    Traceback (most recent call last):
    ...
    omnicore._errors.ValidationError: field 'amount', row 0: NaN or infinite value (got nan)
    """

    _length_anchor: ClassVar[str] = "customer_id"

    customer_id: npt.NDArray[Any] = column_field(as_id_column())
    timestamp: npt.NDArray[np.datetime64] = column_field(as_time_column())
    amount: npt.NDArray[np.float64] = column_field(as_float_column())
    channel: npt.NDArray[Any] | None = column_field(as_string_column(optional=True), optional=True)
    order_id: npt.NDArray[Any] | None = column_field(as_id_column(optional=True), optional=True)
    sku: npt.NDArray[Any] | None = column_field(as_id_column(optional=True), optional=True)
    quantity: npt.NDArray[np.int64] | None = column_field(as_int_column(optional=True), optional=True)
    allow_returns: bool = attrs.field(default=False, converter=bool)

    def _validate(self) -> None:
        negative = self.amount < 0
        if negative.any() and not self.allow_returns:
            row = int(np.flatnonzero(negative)[0])
            raise ValidationError(
                "negative amount; pass allow_returns=True if these rows are returns",
                field="amount",
                row=row,
                value=float(self.amount[row]),
            )
        if self.quantity is not None:
            bad = (self.quantity < 0) & ~negative
            if bad.any():
                row = int(np.flatnonzero(bad)[0])
                raise ValidationError(
                    "negative quantity on a row that is not a return",
                    field="quantity",
                    row=row,
                    value=int(self.quantity[row]),
                )

    @property
    def is_return(self) -> npt.NDArray[np.bool_]:
        """Rows with a negative amount."""
        return self.amount < 0

    def time_range(self) -> tuple[np.datetime64, np.datetime64] | None:
        """First and last timestamp, or None when empty."""
        if not len(self):
            return None
        return self.timestamp.min(), self.timestamp.max()

    @classmethod
    def empty(cls, **options: Any) -> Transactions:
        """A container with no rows."""
        return cls(
            customer_id=np.empty(0, np.int64),
            timestamp=np.empty(0, "datetime64[us]"),
            amount=np.empty(0),
            **options,
        )
