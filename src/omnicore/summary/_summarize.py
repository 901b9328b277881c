"""``summarize``: per-customer summaries from raw transactions, vectorised with one sort."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import numpy.typing as npt

from omnicore._errors import ValidationError
from omnicore.data import Transactions, factorize, to_datetime64
from omnicore.summary._customer_summary import CustomerSummary
from omnicore.summary._period import Period, period_index

__all__ = ["summarize"]

logger = logging.getLogger(__name__)

_US_PER_DAY = 86_400_000_000


def summarize(
    transactions: Transactions,
    *,
    observation_end: Any = None,
    period: Period | str = Period.DAY,
) -> CustomerSummary:
    """Summarise transactions per customer: BTYD fields, recency in days, orders, spend and channel mix.

    Parameters
    ----------
    transactions
        The purchase log. Rows in periods after ``observation_end``'s period are ignored.
    observation_end
        The as-of date (datetime, ISO text or datetime64); defaults to the last transaction.
    period
        Unit of ``frequency``, ``recency`` and ``T``: ``"D"`` (days), ``"W"`` (Monday-Sunday weeks) or
        ``"h"`` (hours), aligned as pandas' ``to_period``.

    Returns
    -------
    CustomerSummary
        One row per customer with at least one purchase (a non-negative amount) up to ``observation_end``,
        sorted by customer id.

    Raises
    ------
    ValidationError
        If ``observation_end`` is before a customer's first purchase would allow no rows, or is invalid.

    Notes
    -----
    Returns (negative amounts) are not purchases: they do not count towards ``frequency``, ``recency``,
    ``orders`` or ``monetary_value``, and are reported in ``returned`` and ``net_spend``. Zero-amount rows
    (free gifts) count as purchases. With no returns the BTYD fields equal lifetimes'
    ``summary_data_from_transaction_data(..., freq=period)``: transactions are grouped into periods, a
    customer's ``frequency`` is the number of purchase periods minus one, ``recency`` and ``T`` are
    differences of period indices, and ``monetary_value`` the mean of the per-period spend totals after
    the first period.

    O(n log n) in the number of rows (one sort of customer codes); no Python loop over customers.

    References
    ----------
    Fader, P. S., Hardie, B. G. S., & Lee, K. L. (2005). "Counting your customers" the easy way: An
    alternative to the Pareto/NBD model. Marketing Science, 24(2), 275-284.
    https://doi.org/10.1287/mksc.1040.0098

    Examples
    --------
    >>> tx = Transactions(
    ...     customer_id=[1, 1, 1, 2],
    ...     timestamp=["2024-01-01", "2024-01-01T18:00", "2024-01-11", "2024-01-05"],
    ...     amount=[10.0, 5.0, 30.0, 20.0],
    ... )
    >>> s = summarize(tx, observation_end="2024-01-31")
    >>> s.frequency.tolist(), s.recency.tolist(), s.T.tolist(), s.monetary_value.tolist()
    ([1, 0], [10.0, 0.0], [30.0, 26.0], [30.0, 0.0])
    """
    unit = Period.parse(period)
    if not len(transactions):
        raise ValidationError("no transactions to summarise", field="transactions", value=0)
    end = (
        transactions.timestamp.max()
        if observation_end is None
        else to_datetime64(observation_end, field="observation_end")
    )
    periods = period_index(transactions.timestamp, unit)
    end_period = int(period_index(np.array([end]), unit)[0])
    keep = periods <= end_period
    purchase = keep & (transactions.amount >= 0)
    if not purchase.any():
        raise ValidationError(
            "no purchases at or before observation_end", field="observation_end", value=str(end)
        )
    customers, codes = factorize(transactions.customer_id[keep])
    rows = np.flatnonzero(keep)
    is_purchase = purchase[rows]
    amount = transactions.amount[rows]
    period_of_row = periods[rows]
    n = len(customers)

    # One sort by (customer, period) gives every per-customer quantity by reduceat over runs.
    span = int(period_of_row.max() - period_of_row.min()) + 1
    key = codes * span + (period_of_row - period_of_row.min())
    order = np.argsort(np.where(is_purchase, key, np.iinfo(np.int64).max), kind="stable")
    n_purchase_rows = int(is_purchase.sum())
    order = order[:n_purchase_rows]
    sorted_key = key[order]
    sorted_codes = codes[order]
    new_period = np.empty(n_purchase_rows, bool)
    new_period[0] = True
    np.not_equal(sorted_key[1:], sorted_key[:-1], out=new_period[1:])
    period_starts = np.flatnonzero(new_period)
    period_customer = sorted_codes[period_starts]
    period_number = period_of_row[order][period_starts]
    period_spend = np.add.reduceat(amount[order], period_starts)

    periods_per_customer = np.bincount(period_customer, minlength=n)
    buyers = periods_per_customer > 0
    first_of_customer = np.empty(len(period_starts), bool)
    first_of_customer[0] = True
    np.not_equal(period_customer[1:], period_customer[:-1], out=first_of_customer[1:])
    first_index = np.flatnonzero(first_of_customer)
    last_index = np.append(first_index[1:] - 1, len(period_starts) - 1)
    buyer_codes = period_customer[first_index]

    frequency = np.zeros(n, np.int64)
    frequency[buyer_codes] = periods_per_customer[buyer_codes] - 1
    first_period = np.zeros(n, np.int64)
    first_period[buyer_codes] = period_number[first_index]
    last_period = np.zeros(n, np.int64)
    last_period[buyer_codes] = period_number[last_index]
    spend_all_periods = _sum_by(period_customer, period_spend, n)
    first_spend = np.zeros(n)
    first_spend[buyer_codes] = period_spend[first_index]
    monetary = np.divide(spend_all_periods - first_spend, frequency, out=np.zeros(n), where=frequency > 0)

    stamps = transactions.timestamp[rows].view(np.int64)
    first_ts = np.full(n, np.iinfo(np.int64).max)
    last_ts = np.full(n, np.iinfo(np.int64).min)
    np.minimum.at(first_ts, codes[is_purchase], stamps[is_purchase])
    np.maximum.at(last_ts, codes[is_purchase], stamps[is_purchase])

    gross = _sum_by(codes, np.where(is_purchase, amount, 0.0), n)
    returned = -_sum_by(codes, np.where(is_purchase, 0.0, amount), n)
    orders = _count_orders(transactions, rows, codes, is_purchase, n)
    shares = _channel_shares(transactions, rows, codes, is_purchase, amount, gross)

    end_us = int(np.asarray(end).astype("datetime64[us]").view(np.int64))
    days_since_last = np.maximum(end_us - last_ts, 0) / _US_PER_DAY
    dropped = int((~buyers).sum())
    if dropped:
        logger.info("summarize: %d customers have only returns and are left out", dropped)
    return CustomerSummary(
        customer_id=customers[buyers],
        frequency=frequency[buyers],
        recency=(last_period - first_period)[buyers].astype(np.float64),
        T=(end_period - first_period)[buyers].astype(np.float64),
        monetary_value=monetary[buyers],
        first_purchase=first_ts[buyers].view("datetime64[us]"),
        last_purchase=last_ts[buyers].view("datetime64[us]"),
        days_since_last=days_since_last[buyers],
        orders=orders[buyers],
        gross_spend=gross[buyers],
        returned=returned[buyers],
        net_spend=(gross - returned)[buyers],
        channel_share={k: v[buyers] for k, v in shares.items()},
        period=unit,
        observation_end=end,
    )


def _count_orders(
    transactions: Transactions,
    rows: npt.NDArray[np.int64],
    codes: npt.NDArray[np.int64],
    is_purchase: npt.NDArray[np.bool_],
    n: int,
) -> npt.NDArray[np.int64]:
    order_key = (
        transactions.order_id[rows] if transactions.order_id is not None else transactions.timestamp[rows]
    )
    _, order_codes = factorize(order_key[is_purchase])
    pair = codes[is_purchase] * (int(order_codes.max(initial=0)) + 1) + order_codes
    distinct_pairs = np.unique(pair)
    owners = distinct_pairs // (int(order_codes.max(initial=0)) + 1)
    return np.bincount(owners, minlength=n).astype(np.int64)


def _channel_shares(
    transactions: Transactions,
    rows: npt.NDArray[np.int64],
    codes: npt.NDArray[np.int64],
    is_purchase: npt.NDArray[np.bool_],
    amount: npt.NDArray[np.float64],
    gross: npt.NDArray[np.float64],
) -> dict[str, npt.NDArray[np.float64]]:
    if transactions.channel is None:
        return {}
    channels, channel_codes = factorize(transactions.channel[rows])
    n = len(gross)
    spend = np.where(is_purchase, amount, 0.0)
    flat = _sum_by(codes * len(channels) + channel_codes, spend, n * len(channels))
    table = flat.reshape(n, len(channels))
    shares = np.divide(table, gross[:, None], out=np.zeros_like(table), where=gross[:, None] > 0)
    return {str(name): shares[:, j] for j, name in enumerate(channels)}


def _sum_by(
    groups: npt.NDArray[np.int64], weights: npt.NDArray[np.float64], n: int
) -> npt.NDArray[np.float64]:
    total: npt.NDArray[np.float64] = np.bincount(groups, weights=weights, minlength=n)  # type: ignore[assignment]
    return total
