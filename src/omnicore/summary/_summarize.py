"""``summarize``: per-customer summaries from raw transactions in a few vectorised passes."""

from __future__ import annotations

import itertools
import logging
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from omnicore._errors import ValidationError
from omnicore.data import Transactions, factorize, to_datetime64
from omnicore.summary._customer_summary import CustomerSummary
from omnicore.summary._period import US_PER_DAY, Period, period_index, period_start_us

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

    Rows are processed in time order: a log that is already time-ordered (as stores return it) is used
    as is, otherwise it is sorted once by timestamp (O(n log n)). Then everything is O(n): integer
    customer ids of modest span are grouped by direct indexing (others by one sort), per-customer
    extremes and sums are scattered into per-customer tables, and distinct purchase periods are counted
    one period at a time (a loop over periods, never over customers or rows). One helper thread
    factorises the channel column beside the customer ids and counts orders beside the period walk
    (numpy releases the GIL in those loops; the ``np.add.at`` / ``np.maximum.at`` passes, which hold
    it, stay on the calling thread).

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
    stamps = transactions.timestamp.view(np.int64)
    order = None
    if not bool(np.all(stamps[1:] >= stamps[:-1])):
        order, stamps = _time_order(stamps)
    with ThreadPoolExecutor(max_workers=1) as helper:
        # Side work runs in one helper thread (numpy releases the GIL in its loops): first the channel
        # column is factorised, in the caller's row order, beside the customer ids.
        channel_codes = None
        if transactions.channel is not None:
            channel_codes = helper.submit(_factorize_text, transactions.channel, order)
        customers, codes = _factorize_ids(transactions.customer_id)
        amount, order_id = transactions.amount, transactions.order_id
        if order is not None:
            # Not time-ordered: one sort by timestamp; only numeric columns are permuted.
            codes, amount = codes[order], amount[order]
            order_id = None if order_id is None else order_id[order]
            del order  # the helper thread keeps its own reference while it needs one
        stop = int(np.searchsorted(stamps, period_start_us(end_period + 1, unit), side="left"))
        stamps, codes, amount = stamps[:stop], codes[:stop], amount[:stop]
        order_id = None if order_id is None else order_id[:stop]
        is_return = amount < 0
        if not stop or bool(is_return.all()):
            raise ValidationError(
                "no purchases at or before observation_end", field="observation_end", value=str(end)
            )
        # Row-sized arrays travel in a list the body empties, so that it can free them as it goes.
        rows: list[npt.NDArray[Any]] = [codes, is_return]
        del codes, is_return
        return _summarize_ordered(
            stamps, customers, rows, amount, channel_codes, order_id, end, end_period, unit, helper
        )


def _summarize_ordered(
    stamps: npt.NDArray[np.int64],
    customers: npt.NDArray[Any],
    rows: list[npt.NDArray[Any]],
    amount: npt.NDArray[np.float64],
    channel_codes: Future[tuple[npt.NDArray[Any], npt.NDArray[Any]]] | None,
    order_id: npt.NDArray[Any] | None,
    end: np.datetime64,
    end_period: int,
    unit: Period,
    helper: ThreadPoolExecutor,
) -> CustomerSummary:
    """The body of :func:`summarize` on time-ordered columns; ``helper`` runs side work in a thread.

    ``rows`` holds the customer codes and the return mask of each row; it is emptied here.
    """
    is_return = rows.pop()
    codes = rows.pop()
    n = len(customers)
    returned = np.zeros(n)
    if bool(is_return.any()):
        # Returns are not purchases: they count towards `returned` and `net_spend` only. From here on
        # they belong to an extra slot n, so purchase-only passes need no filtering.
        return_rows = np.flatnonzero(is_return)
        returned = -np.bincount(codes[return_rows], weights=amount[return_rows], minlength=n).astype(
            np.float64
        )
        if not codes.flags.writeable:
            codes = codes.copy()
        codes[return_rows] = n
    del is_return
    # The helper thread takes passes that release the GIL (numpy's `ufunc.at` holds it, so those stay
    # here), leaving this thread free to run the period walk's many small calls.
    pending_orders = helper.submit(_count_orders, codes, stamps, order_id, n)
    walk = _walk_periods(codes, stamps, amount, n, unit)
    shares = _channel_shares(channel_codes, codes, amount, n)
    last_ts = _last_purchase(codes, stamps, n)
    frequency = np.maximum(walk.periods - 1, 0)
    monetary = np.divide(walk.repeat_spend, frequency, out=np.zeros(n), where=frequency > 0)
    gross = walk.repeat_spend + walk.first_spend
    first_ts = walk.first_ts
    del walk
    orders = pending_orders.result()
    del codes
    for name, spent in shares.items():
        shares[name] = np.divide(spent, gross, out=np.zeros(n), where=gross > 0)

    buyers = last_ts != np.iinfo(np.int64).min
    first_period = period_index(np.where(buyers, first_ts, 0).view("datetime64[us]"), unit)
    last_period = period_index(np.where(buyers, last_ts, 0).view("datetime64[us]"), unit)
    end_us = int(np.asarray(end).astype("datetime64[us]").view(np.int64))
    days_since_last = np.maximum(end_us - last_ts, 0) / US_PER_DAY
    dropped = int(np.count_nonzero(~buyers))
    if dropped:
        logger.info("summarize: %d customers without a purchase up to observation_end left out", dropped)

    def pick(values: npt.NDArray[Any]) -> npt.NDArray[Any]:
        return values if not dropped else values[buyers]

    return CustomerSummary(
        customer_id=pick(customers),
        frequency=pick(frequency),
        recency=pick(last_period - first_period).astype(np.float64),
        T=pick(end_period - first_period).astype(np.float64),
        monetary_value=pick(monetary),
        first_purchase=pick(first_ts).view("datetime64[us]"),
        last_purchase=pick(last_ts).view("datetime64[us]"),
        days_since_last=pick(days_since_last),
        orders=pick(orders),
        gross_spend=pick(gross),
        returned=pick(returned),
        net_spend=pick(gross - returned),
        channel_share={k: pick(v) for k, v in shares.items()},
        period=unit,
        observation_end=end,
    )


def _last_purchase(
    codes: npt.NDArray[np.integer[Any]], stamps: npt.NDArray[np.int64], n: int
) -> npt.NDArray[np.int64]:
    """Latest purchase time per customer code (returns carry code ``n``); int64 min when none."""
    last_ts = np.full(n + 1, np.iinfo(np.int64).min)
    np.maximum.at(last_ts, codes, stamps)
    return last_ts[:n]


def _time_order(stamps: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.int64]]:
    """A permutation that puts ``stamps`` in time order, and the ordered stamps.

    A radix sort by day, then a sort within each day.

    Faster than one comparison sort of all rows, and cache-friendly (each day's rows fit in cache).
    """
    days = stamps // US_PER_DAY
    first = int(days.min())
    span = int(days.max()) - first + 1
    if span > np.iinfo(np.uint16).max:
        order = np.argsort(stamps)
        return order, stamps[order]
    days -= first
    day_of_row = days.astype(np.uint16)
    del days
    order = np.argsort(day_of_row, kind="stable")  # radix sort for 16-bit keys
    bounds = np.concatenate([[0], np.cumsum(np.bincount(day_of_row, minlength=span))]).tolist()
    del day_of_row
    grouped = stamps[order]
    for start, stop in itertools.pairwise(bounds):
        if stop - start > 1:
            within = np.argsort(grouped[start:stop])
            order[start:stop] = order[start:stop][within]
            grouped[start:stop] = grouped[start:stop][within]
    return order, grouped


class _Walk(NamedTuple):
    periods: npt.NDArray[np.int64]
    repeat_spend: npt.NDArray[np.float64]
    first_spend: npt.NDArray[np.float64]
    first_ts: npt.NDArray[np.int64]


def _walk_periods(
    group_of: npt.NDArray[np.integer[Any]],
    stamps: npt.NDArray[np.int64],
    amount: npt.NDArray[np.float64],
    n: int,
    unit: Period,
) -> _Walk:
    """One walk over the purchases, period by period: what needs "first period" versus "later".

    ``stamps`` are time-ordered, so each period is one slice. A customer not seen in an earlier period is
    in their first purchase period (first purchase time and first-period spend); one seen before makes a
    repeat purchase (repeat spend). ``seen[group] = before + 1`` with repeated indices adds one per
    customer present, which counts each purchase period once.
    """
    # Customer codes; returns carry code n, an extra slot that is dropped at the end.
    periods_seen = np.zeros(n + 1, np.int32)
    repeat_spend = np.zeros(n + 1)
    first_spend = np.zeros(n + 1)
    first_ts = np.full(n + 1, np.iinfo(np.int64).max)
    first_period = int(period_index(stamps[:1].view("datetime64[us]"), unit)[0])
    last_period = int(period_index(stamps[-1:].view("datetime64[us]"), unit)[0])
    bounds = np.searchsorted(
        stamps, period_start_us(np.arange(first_period, last_period + 2, dtype=np.int64), unit)
    )
    first_rows: list[npt.NDArray[np.intp]] = []
    for start, stop in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        if start == stop:
            continue
        # intp indices: numpy scatters with them several times faster than with int32 ones.
        group = group_of[start:stop].astype(np.intp)
        seen = np.take(periods_seen, group)
        # Duplicates of a customer all write the same value: one more period per customer present.
        periods_seen[group] = seen + 1
        first = np.flatnonzero(seen == 0)
        if len(first):
            first += start
            first_rows.append(first)
    # First-period rows, in row order: one accumulation each (the same sums, in the same order, as
    # period by period).
    in_first = np.concatenate(first_rows) if first_rows else np.zeros(0, np.intp)
    del first_rows
    new_group = group_of[in_first]
    np.add.at(first_spend, new_group, amount[in_first])
    np.minimum.at(first_ts, new_group, stamps[in_first])
    del new_group
    # Repeat spend sums the other rows directly (no subtraction), a chunk at a time.
    cuts = np.searchsorted(in_first, np.arange(0, len(amount) + _CHUNK_ROWS, _CHUNK_ROWS))
    for index, start in enumerate(range(0, len(amount), _CHUNK_ROWS)):
        weights = amount[start : start + _CHUNK_ROWS].copy()
        weights[in_first[cuts[index] : cuts[index + 1]] - start] = 0.0
        repeat_spend += np.bincount(group_of[start : start + _CHUNK_ROWS], weights, minlength=n + 1)
    return _Walk(periods_seen[:n].astype(np.int64), repeat_spend[:n], first_spend[:n], first_ts[:n])


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


def _factorize_ids(values: npt.NDArray[Any]) -> tuple[npt.NDArray[Any], npt.NDArray[np.integer[Any]]]:
    """Sorted unique ids and each row's code: O(n) by direct indexing for integer ids of modest span.

    Dense ids get int32 codes (half the memory traffic of int64) whenever the table fits.
    """
    dense = _dense_span(values)
    if dense is None or dense[1] >= np.iinfo(np.int32).max:
        return factorize(values)
    low, span = dense
    if low >= 0 and low + span <= _DENSE_SPAN_FACTOR * len(values) + 1024:
        # Small non-negative ids index the table as they are: no shifted copy of the column.
        low, span, keys = 0, low + span, values
    else:
        keys = values.astype(np.int64, copy=False) - low
    present = np.zeros(span, bool)
    present[keys] = True
    code_of = np.cumsum(present, dtype=np.int32)
    code_of -= 1
    uniques = np.flatnonzero(present) + low
    codes = np.empty(len(values), np.int32)
    np.take(code_of, keys, out=codes, mode="clip")
    return uniques.astype(values.dtype, copy=False), codes


def _count_orders(
    codes: npt.NDArray[np.integer[Any]],
    stamps: npt.NDArray[np.int64],
    order_id: npt.NDArray[Any] | None,
    n: int,
) -> npt.NDArray[np.int64]:
    """Distinct orders per customer among purchases (returns carry code ``n`` and are not counted).

    By order id when given, else by timestamp: rows are time-ordered, so only rows that share their
    timestamp with a neighbour can repeat an order, and only those few are sorted.
    """
    if order_id is not None:
        rows = np.flatnonzero(codes < n)
        return _distinct_pairs(codes[rows], order_id[rows], n)
    rows_per_customer = np.zeros(n + 1, np.int64)
    for start in range(0, len(codes), _CHUNK_ROWS):
        # In chunks: `bincount` copies int32 codes to intp first.
        rows_per_customer += np.bincount(codes[start : start + _CHUNK_ROWS], minlength=n + 1)
    rows_per_customer = rows_per_customer[:n]
    repeated = np.flatnonzero(stamps[1:] == stamps[:-1]) + 1
    if not len(repeated):
        return rows_per_customer.astype(np.int64)
    involved = np.union1d(repeated, repeated - 1)
    involved = involved[codes[involved] < n]
    run = np.searchsorted(stamps, stamps[involved], side="left")
    sub_codes = codes[involved]
    distinct = np.unique(run.astype(np.int64) * n + sub_codes) % n
    return (
        rows_per_customer - np.bincount(sub_codes, minlength=n) + np.bincount(distinct, minlength=n)
    ).astype(np.int64)


def _distinct_pairs(
    codes: npt.NDArray[np.integer[Any]], values: npt.NDArray[Any], n: int
) -> npt.NDArray[np.int64]:
    """Number of distinct ``values`` per customer code by one sort of (code, value) pairs."""
    if not len(codes):
        return np.zeros(n, np.int64)
    _, value_codes = _factorize_ids(values)
    width = int(value_codes.max()) + 1
    distinct = np.unique(codes.astype(np.int64) * width + value_codes)
    return np.bincount(distinct // width, minlength=n).astype(np.int64)


def _factorize_text(
    values: npt.NDArray[Any], order: npt.NDArray[np.intp] | None = None
) -> tuple[npt.NDArray[Any], npt.NDArray[np.integer[Any]]]:
    """Sorted distinct values of a low-cardinality text column (channels), and codes in ``order``.

    Equal 16-byte cells of a ``StringDType`` array hold equal strings (short strings are stored inline;
    longer ones point into the array's own arena), so rows are matched by comparing two ``uint64`` words
    against the patterns seen in a sample, then each pattern is decoded once. Anything unexpected (many
    patterns, a pattern the sample missed, another dtype) falls back to a sort. The codes come permuted
    by ``order`` when given (small integers are cheap to permute; text is not).
    """
    uniques, codes = _text_codes(values)
    return uniques, codes if order is None else codes[order]


def _text_codes(values: npt.NDArray[Any]) -> tuple[npt.NDArray[Any], npt.NDArray[np.integer[Any]]]:
    if values.dtype.kind != "T" or len(values) < 4096 or not values.flags.c_contiguous:
        return factorize(values)
    try:
        words = np.frombuffer(values, dtype=np.uint64).reshape(-1, 2)
    except (TypeError, ValueError, BufferError):
        return factorize(values)
    low, high = words[:, 0], words[:, 1]
    step = max(len(values) // 4096, 1)
    patterns, first_row = np.unique(words[::step], axis=0, return_index=True)
    if len(patterns) > 16:
        return factorize(values)
    names = [str(values[i * step]) for i in first_row]
    uniques = sorted(set(names))
    codes = np.full(len(values), -1, np.int8)
    for (lo, hi), name in zip(patterns.tolist(), names, strict=True):
        match = low == lo
        match &= high == hi
        codes[match] = uniques.index(name)
    if bool((codes < 0).any()):
        return factorize(values)
    return np.asarray(uniques, dtype=values.dtype), codes


def _channel_shares(
    factorized: Future[tuple[npt.NDArray[Any], npt.NDArray[Any]]] | None,
    codes: npt.NDArray[np.integer[Any]],
    amount: npt.NDArray[np.float64],
    n: int,
) -> dict[str, npt.NDArray[np.float64]]:
    """Gross spend of each customer in each channel, accumulated in row chunks (returns: slot ``n``)."""
    if factorized is None:
        return {}
    channels, channel_codes = factorized.result()
    k = len(channels)
    table = np.zeros((n + 1) * k)
    for start in range(0, len(codes), _CHUNK_ROWS):
        stop = min(start + _CHUNK_ROWS, len(codes))  # channel codes may run on past the as-of cutoff
        cell = codes[start:stop].astype(np.intp)
        cell *= k
        cell += channel_codes[start:stop]
        np.add.at(table, cell, amount[start:stop])
    spend = table[: n * k].reshape(n, k)
    return {str(name): spend[:, j] for j, name in enumerate(channels)}


# Rows per chunk where a row-sized temporary would otherwise be needed.
_CHUNK_ROWS = 1 << 20
