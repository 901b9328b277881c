"""``summarize``: per-customer summaries from raw transactions in a few compiled O(n) passes."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from omnicore._errors import ValidationError
from omnicore.data import Transactions, factorize, to_datetime64
from omnicore.summary import _kernels as _k
from omnicore.summary._customer_summary import CustomerSummary
from omnicore.summary._period import Period, period_index, period_start_us

__all__ = ["summarize"]

logger = logging.getLogger(__name__)


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
        If there are no transactions, no purchase at or before ``observation_end``, or
        ``observation_end`` is not a valid timestamp.

    Notes
    -----
    Returns (negative amounts) are not purchases: they do not count towards ``frequency``, ``recency``,
    ``orders`` or ``monetary_value``, and are reported in ``returned`` and ``net_spend``. Zero-amount rows
    (free gifts) count as purchases. With no returns the BTYD fields equal lifetimes'
    ``summary_data_from_transaction_data(..., freq=period)``: transactions are grouped into periods, a
    customer's ``frequency`` is the number of purchase periods minus one, ``recency`` and ``T`` are
    differences of period indices, and ``monetary_value`` the mean of the per-period spend totals after
    the first period.

    The work is O(n) and the row order does not matter (a shuffled log costs about as much as a
    time-ordered one, and gives the same summary up to the order in which a customer's purchases at one
    timestamp are added). Integer customer ids of modest span are their own keys (others are
    factorised first). Compiled kernels (numba) copy the rows into buckets of consecutive customer keys
    (a radix partition: one bucket's rows and customers fit in cache), then group each bucket's rows by
    customer with a counting sort and fold each customer's purchases in time order. The copy goes in
    sweeps of at most a few million rows, so the extra memory is a fraction of the log's. Two threads
    share every pass (the kernels release the GIL); logs under 200,000 rows use one.

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
    end_period = int(period_index(np.array([end]), unit)[0])
    cut = int(period_start_us(end_period + 1, unit))
    stamps = transactions.timestamp.view(np.int64)
    keys, low, span, uniques = _customer_keys(transactions.customer_id)
    with ThreadPoolExecutor(max_workers=1) as helper:
        bucketed = _bucket_rows(transactions, keys, low, span, cut, helper)
        if bucketed is None:
            raise ValidationError(
                "no purchases at or before observation_end", field="observation_end", value=str(end)
            )
        n = int(np.count_nonzero(bucketed.is_customer))
        times, counts, spend = _fold(bucketed, n, unit, helper)
    channels, is_customer = bucketed.channels, bucketed.is_customer
    del bucketed
    customers = uniques(is_customer)
    if transactions.order_id is not None:
        purchase = transactions.amount >= 0
        purchase &= stamps < cut
        bought = np.flatnonzero(purchase)
        del purchase
        code_of = np.cumsum(is_customer, dtype=np.int32)
        code_of -= 1
        codes = code_of[keys[bought] - low]
        counts[_k.ORDERS] = _distinct_pairs(codes, transactions.order_id[bought], n)
    if not bool(counts[_k.PERIODS].any()):
        raise ValidationError(
            "no purchases at or before observation_end", field="observation_end", value=str(end)
        )
    return _assemble(customers, times, counts, spend, channels, end, end_period, unit)


class _Bucketed(NamedTuple):
    """How the rows before the cut fall into buckets of customer keys, ready to be copied sweep by sweep."""

    transactions: Transactions
    keys: npt.NDArray[np.int64]
    low: int
    shift: int  # bucket of a key: (key - low) >> shift
    cut: int
    middle: int  # the helper thread takes rows middle.., the caller rows ..middle
    bounds: npt.NDArray[np.int64]  # rows of bucket b, once copied: bounds[b]..bounds[b + 1]
    first_half: npt.NDArray[np.int64]  # rows of each bucket among rows ..middle
    channels: npt.NDArray[Any]  # channel names
    channel_codes: npt.NDArray[np.integer[Any]]  # per row; empty without channels
    is_customer: npt.NDArray[np.bool_]  # keys with a row before the cut


def _bucket_rows(
    transactions: Transactions,
    keys: npt.NDArray[np.int64],
    low: int,
    span: int,
    cut: int,
    helper: ThreadPoolExecutor,
) -> _Bucketed | None:
    """Count the rows before ``cut`` of each bucket of customer keys; None when there are none.

    Two threads take half of the rows each (one thread for small logs), and code the channels of
    their rows on the way.
    """
    stamps = transactions.timestamp.view(np.int64)
    rows = len(stamps)
    shift = _bucket_shift(span, rows)
    n_buckets = ((span - 1) >> shift) + 1
    middle = rows // 2 if rows >= _PARALLEL_ROWS else rows
    present = [np.zeros(span, bool), np.zeros(span, bool)]
    sizes = [np.zeros(n_buckets, np.int64), np.zeros(n_buckets, np.int64)]
    channels, channel_codes, words, patterns, pattern_code = _channel_plan(transactions.channel)
    columns = (keys, low, shift, stamps, cut)
    coding = (words, patterns, pattern_code, channel_codes)
    second = helper.submit(_k.count_buckets, *columns, middle, rows, present[1], sizes[1], *coding)
    matched = _k.count_buckets(*columns, 0, middle, present[0], sizes[0], *coding)
    if not (second.result() and matched) and transactions.channel is not None:
        # A channel the sample missed: code the column the slow way.
        channels, channel_codes = _small_codes(transactions.channel)
    present[0] |= present[1]
    bounds = np.zeros(n_buckets + 1, np.int64)
    np.cumsum(sizes[0] + sizes[1], out=bounds[1:])
    if not bounds[-1]:
        return None
    return _Bucketed(
        transactions, keys, low, shift, cut, middle, bounds, sizes[0], channels, channel_codes, present[0]
    )


def _fold(
    bucketed: _Bucketed, n: int, unit: Period, helper: ThreadPoolExecutor
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """The per-customer tables (times, counts, spend; a row per field) from the rows, bucket by bucket.

    The rows are copied into a buffer grouped by bucket (row order kept within a bucket) and folded,
    in sweeps of consecutive buckets holding at most about ``_SWEEP_ROWS`` rows, so the buffer stays
    a fraction of the log. In each sweep two threads copy half of the rows each, then fold about half
    of the copied rows each, in whole buckets.
    """
    bounds = bucketed.bounds
    shift = bucketed.shift
    # Code of the first customer of each bucket (customers are coded in key order), summed by rows
    # of a (buckets, keys per bucket) view: no key-sized temporary.
    is_customer, width = bucketed.is_customer, 1 << shift
    whole = len(is_customer) // width
    per_bucket = np.zeros(len(bounds) - 1, np.int64)
    per_bucket[:whole] = is_customer[: whole * width].reshape(whole, width).sum(axis=1, dtype=np.int64)
    per_bucket[whole:] = np.count_nonzero(is_customer[whole * width :])
    first_code = np.zeros(len(per_bucket), np.int64)
    np.cumsum(per_bucket[:-1], out=first_code[1:])
    times = np.zeros((2, n), np.int64)
    counts = np.zeros((2, n), np.int64)
    spend = np.zeros((_k.CHANNEL0 + len(bucketed.channels), n))
    n_buckets = len(bounds) - 1
    kept = int(bounds[-1])
    sweeps = -(-kept // _SWEEP_ROWS)
    edges = np.searchsorted(bounds, np.arange(sweeps + 1) * (kept / sweeps), side="left")
    edges[0], edges[-1] = 0, n_buckets
    edges = np.unique(edges)
    room = int(np.diff(bounds[edges]).max())
    buffer = (
        np.empty(room, np.uint16),
        np.empty(room, np.int64),
        np.empty(room, np.float64),
        np.empty(room if len(bucketed.channel_codes) else 0, bucketed.channel_codes.dtype),
    )
    tx, middle = bucketed.transactions, bucketed.middle
    rows = len(tx)
    columns = (
        bucketed.keys,
        bucketed.low,
        shift,
        tx.timestamp.view(np.int64),
        tx.amount,
        bucketed.channel_codes,
        bucketed.cut,
    )
    unit_code = _k.UNIT_CODES[unit.value]
    for first, last in itertools.pairwise(edges.tolist()):
        local = bounds[first : last + 1] - bounds[first]
        fills = (local[:-1].copy(), local[:-1] + bucketed.first_half[first:last])
        second = helper.submit(_k.scatter_buckets, *columns, middle, rows, first, last, fills[1], *buffer)
        _k.scatter_buckets(*columns, 0, middle, first, last, fills[0], *buffer)
        second.result()
        copied = int(local[-1])
        split = last - first
        if middle < rows:
            split = min(int(np.searchsorted(local, copied // 2)), split)
        arguments = (shift, *buffer, first_code, unit_code, times, counts, spend)
        second = helper.submit(_k.fold_buckets, local, first, split, last - first, *arguments)
        _k.fold_buckets(local, first, 0, split, *arguments)
        second.result()
    return times, counts, spend


def _customer_keys(
    values: npt.NDArray[Any],
) -> tuple[npt.NDArray[np.int64], int, int, Callable[[npt.NDArray[np.bool_]], npt.NDArray[Any]]]:
    """Integer keys ``low..low + span - 1`` of the customer ids, in id order, and a function from a mask
    of the keys to the ids they stand for.

    Integer ids of modest span are their own keys (no pass over the rows); others are factorised.
    """
    dense = _dense_span(values)
    if dense is not None and values.dtype.kind == "i" and dense[1] < np.iinfo(np.int32).max:
        low, span = dense

        def dense_ids(mask: npt.NDArray[np.bool_]) -> npt.NDArray[Any]:
            return (np.flatnonzero(mask) + low).astype(values.dtype, copy=False)

        return values.astype(np.int64, copy=False), low, span, dense_ids
    distinct, codes = factorize(values)
    return codes, 0, len(distinct), lambda mask: distinct[mask]


def _bucket_shift(span: int, rows: int) -> int:
    """log2 of the keys per bucket: about ``_BUCKET_ROWS`` rows per bucket, at most 2**16 keys."""
    buckets = max(rows // _BUCKET_ROWS, 1)
    per_bucket = -(-span // buckets)
    return min(max(per_bucket - 1, 1).bit_length(), 16)


def _assemble(
    customers: npt.NDArray[Any],
    times: npt.NDArray[np.int64],
    counts: npt.NDArray[np.int64],
    spend: npt.NDArray[np.float64],
    channels: npt.NDArray[Any],
    end: np.datetime64,
    end_period: int,
    unit: Period,
) -> CustomerSummary:
    """The summary of the customers with a purchase, from the per-customer tables of the kernels."""
    buyers = counts[_k.PERIODS] > 0
    dropped = int(np.count_nonzero(~buyers))
    if dropped:
        logger.info("summarize: %d customers without a purchase up to observation_end left out", dropped)
        customers = customers[buyers]
        times, counts, spend = times[:, buyers], counts[:, buyers], spend[:, buyers]
    n = len(customers)
    recency, age, days_since_last, net_spend = np.empty(n), np.empty(n), np.empty(n), np.empty(n)
    end_us = int(np.asarray(end).astype("datetime64[us]").view(np.int64))
    # In place: periods become frequency, first-period spend gross spend, later spend the monetary
    # value, channel spend channel shares.
    unit_code = _k.UNIT_CODES[unit.value]
    _k.finish(times, counts, spend, end_us, end_period, unit_code, recency, age, days_since_last, net_spend)
    return CustomerSummary(
        customer_id=customers,
        frequency=counts[_k.PERIODS],
        recency=recency,
        T=age,
        monetary_value=spend[_k.REPEAT_SPEND],
        first_purchase=times[_k.FIRST].view("datetime64[us]"),
        last_purchase=times[_k.LAST].view("datetime64[us]"),
        days_since_last=days_since_last,
        orders=counts[_k.ORDERS],
        gross_spend=spend[_k.FIRST_SPEND],
        returned=spend[_k.RETURNED],
        net_spend=net_spend,
        channel_share={str(name): spend[_k.CHANNEL0 + j] for j, name in enumerate(channels)},
        period=unit,
        observation_end=end,
    )


# Integer keys whose span is at most this many times the row count are grouped by direct indexing.
_DENSE_SPAN_FACTOR = 4


def _dense_span(values: npt.NDArray[Any]) -> tuple[int, int] | None:
    """``(low, span)`` when integer ``values`` can index a table of ``span`` slots, else None."""
    if values.dtype.kind not in "iu" or not len(values):
        return None
    low, high = int(values.min()), int(values.max())
    span = high - low + 1
    if span > _DENSE_SPAN_FACTOR * len(values) + 1024:
        return None
    return low, span


def _distinct_pairs(
    codes: npt.NDArray[np.integer[Any]], values: npt.NDArray[Any], n: int
) -> npt.NDArray[np.int64]:
    """Number of distinct ``values`` per customer code by one sort of (code, value) pairs."""
    if not len(codes):
        return np.zeros(n, np.int64)
    _, value_codes = factorize(values)
    width = int(value_codes.max()) + 1
    distinct = np.unique(codes.astype(np.int64) * width + value_codes)
    return np.bincount(distinct // width, minlength=n).astype(np.int64)


def _channel_plan(
    values: npt.NDArray[Any] | None,
) -> tuple[
    npt.NDArray[Any],
    npt.NDArray[np.integer[Any]],
    npt.NDArray[np.uint64],
    npt.NDArray[np.uint64],
    npt.NDArray[np.int8],
]:
    """How the row count codes the channels: ``(names, codes, words, patterns, pattern_code)``.

    Equal 16-byte cells of a ``StringDType`` array hold equal strings (short strings are stored inline;
    longer ones point into the array's own arena), so a low-cardinality text column is coded by
    matching each row's two ``uint64`` words against the patterns seen in a sample (each pattern is
    decoded once): the codes array is then filled by :func:`_kernels.count_buckets`. Otherwise (no
    channels, another dtype, many patterns) the codes come filled and ``words`` is empty.
    """
    no_words = np.zeros((0, 2), np.uint64)
    no_patterns = np.zeros(0, np.int8)
    if values is None:
        return np.zeros(0, str), np.zeros(0, np.int8), no_words, no_words, no_patterns
    if values.dtype.kind == "T" and len(values) >= 4096 and values.flags.c_contiguous:
        try:
            words = np.frombuffer(values, dtype=np.uint64).reshape(-1, 2)
        except (TypeError, ValueError, BufferError):
            words = None
        if words is not None:
            step = max(len(values) // 4096, 1)
            patterns, first_row = np.unique(words[::step], axis=0, return_index=True)
            if len(patterns) <= 16:
                names = [str(values[i * step]) for i in first_row]
                uniques = sorted(set(names))
                pattern_code = np.array([uniques.index(name) for name in names], np.int8)
                codes: npt.NDArray[np.integer[Any]] = np.zeros(len(values), np.int8)
                distinct = np.asarray(uniques, dtype=values.dtype)
                return distinct, codes, words, np.ascontiguousarray(patterns), pattern_code
    distinct, codes = _small_codes(values)
    return distinct, codes, no_words, no_words, no_patterns


def _small_codes(values: npt.NDArray[Any]) -> tuple[npt.NDArray[Any], npt.NDArray[np.integer[Any]]]:
    """Sorted distinct values and each row's code, in the smallest of int8 / int32."""
    distinct, row_codes = factorize(values)
    small = np.int8 if len(distinct) <= np.iinfo(np.int8).max else np.int32
    return distinct, row_codes.astype(small)


# Rows from which the per-row passes split their work with a helper thread.
_PARALLEL_ROWS = 200_000
# Rows per bucket aimed at: a bucket's rows and customers stay in cache while it is folded.
_BUCKET_ROWS = 1 << 15
# Rows copied and folded per sweep at most (about, in whole buckets): bounds the buffer (19 bytes a row).
_SWEEP_ROWS = 3_000_000
