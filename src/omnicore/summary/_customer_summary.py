"""``CustomerSummary``: one row per customer, the input of RFM scoring and of the LTV models."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import attrs
import numpy as np
import numpy.typing as npt

from omnicore.data._columns import (
    as_float_column,
    as_id_column,
    as_int_column,
    as_time_column,
    column_field,
    properties_field,
    to_datetime64,
)
from omnicore.data._table import Table
from omnicore.summary._period import Period, parse_period

__all__ = ["CustomerSummary"]


@attrs.frozen(kw_only=True, repr=False)
class CustomerSummary(Table):
    """Per-customer purchase summary, sorted by ``customer_id``.

    The BTYD fields follow Fader, Hardie & Lee (2005) and are identical to lifetimes'
    ``summary_data_from_transaction_data`` on data without returns.

    Attributes
    ----------
    customer_id
        The customer.
    frequency
        Number of *repeat* purchase periods: periods with a purchase, minus one.
    recency
        Periods between the first and the last purchase period (``t_x``).
    T
        Periods between the first purchase period and the observation end's period (the customer's age).
    monetary_value
        Mean spend per repeat purchase period (the first period excluded); 0 when ``frequency`` is 0.
    first_purchase, last_purchase
        Timestamps of the first and the last purchase.
    days_since_last
        Days from the last purchase to ``observation_end`` (fractional).
    orders
        Distinct orders (by ``order_id``, else by timestamp) with a non-negative amount.
    gross_spend
        Sum of non-negative amounts.
    returned
        Sum of returns, as a positive number.
    net_spend
        ``gross_spend - returned``.
    channel_share
        Mapping of channel to the share of gross spend made there (rows sum to 1; empty without channels).
    period
        The unit of ``frequency``, ``recency`` and ``T``.
    observation_end
        The as-of date.
    """

    _length_anchor: ClassVar[str] = "customer_id"

    customer_id: npt.NDArray[Any] = column_field(as_id_column())
    frequency: npt.NDArray[np.int64] = column_field(as_int_column(nonnegative=True))
    recency: npt.NDArray[np.float64] = column_field(as_float_column(nonnegative=True))
    T: npt.NDArray[np.float64] = column_field(as_float_column(nonnegative=True))
    monetary_value: npt.NDArray[np.float64] = column_field(as_float_column())
    first_purchase: npt.NDArray[np.datetime64] = column_field(as_time_column())
    last_purchase: npt.NDArray[np.datetime64] = column_field(as_time_column())
    days_since_last: npt.NDArray[np.float64] = column_field(as_float_column(nonnegative=True))
    orders: npt.NDArray[np.int64] = column_field(as_int_column(nonnegative=True))
    gross_spend: npt.NDArray[np.float64] = column_field(as_float_column(nonnegative=True))
    returned: npt.NDArray[np.float64] = column_field(as_float_column(nonnegative=True))
    net_spend: npt.NDArray[np.float64] = column_field(as_float_column())
    channel_share: Mapping[str, npt.NDArray[Any]] = properties_field()
    period: Period = attrs.field(default=Period.DAY, converter=parse_period)
    observation_end: np.datetime64 = attrs.field(converter=to_datetime64)

    @property
    def average_spend(self) -> npt.NDArray[np.float64]:
        """Gross spend per order (0 where there are no orders)."""
        out: npt.NDArray[np.float64] = np.divide(
            self.gross_spend, self.orders, out=np.zeros(len(self)), where=self.orders > 0
        )
        return out
