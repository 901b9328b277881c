"""Compiled per-row passes of :func:`omnicore.summarize` (numba, GIL released).

Rows are grouped by customer without a global sort and without a per-row random access into
per-customer tables that do not fit in cache: :func:`count_buckets` and :func:`scatter_buckets` copy
the rows into buckets of consecutive customer keys (a radix partition: each bucket's customers and
rows fit in cache), then :func:`fold_buckets` groups each bucket's rows by customer (a counting
sort) and folds every customer's rows in time order. Each pass takes a range of rows or buckets, so
two threads share the work.

Per customer code ``c`` the kernels fill column ``c`` of three tables (a row per field, so that each
field is a contiguous column of the summary):

- ``times[:, c]``: first and last purchase time (microseconds);
- ``counts[:, c]``: distinct purchase periods, distinct purchase timestamps (0 when no purchase);
- ``spend[:, c]``: first-period spend, later-period spend, returned (positive), then gross spend by
  channel code.

A customer's rows are folded in time order when they come sorted, as they always do from a
time-ordered log (rows sharing a timestamp in row order). Unsorted ones (a shuffled log) are folded
in row order when there are few of them, each purchase comparing its timestamp and period with the
earlier ones, and sorted by time first otherwise: the same counts, and the same sums up to the order
of the additions.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from omnicore._jit import jit
from omnicore.summary._period import _MONDAY_OFFSET_DAYS, US_PER_DAY, US_PER_HOUR

__all__ = [
    "UNIT_CODES",
    "count_buckets",
    "fold_buckets",
    "scatter_buckets",
]

# Kernel code of each period unit ("h", "D", "W").
UNIT_CODES = {"h": 0, "D": 1, "W": 2}
# Unsorted segments up to this many rows are folded without sorting, longer ones sorted first (by
# insertion up to _INSERTION_ROWS rows).
_SMALL_SEGMENT = 24
_INSERTION_ROWS = 32

# Table rows (fields).
FIRST, LAST = 0, 1
PERIODS, ORDERS = 0, 1
FIRST_SPEND, REPEAT_SPEND, RETURNED, CHANNEL0 = 0, 1, 2, 3


@jit
def _period_of(stamp: int, unit: int) -> int:
    """The period index of a timestamp in microseconds (floor division, as ``period_index``)."""
    if unit == 0:
        return stamp // US_PER_HOUR
    days = stamp // US_PER_DAY
    if unit == 1:
        return days
    return (days + _MONDAY_OFFSET_DAYS) // 7


@jit
def count_buckets(
    keys: npt.NDArray[np.int64],
    low: int,
    shift: int,
    stamps: npt.NDArray[np.int64],
    cut: int,
    start: int,
    stop: int,
    present: npt.NDArray[np.bool_],
    sizes: npt.NDArray[np.int64],
    words: npt.NDArray[np.uint64],
    patterns: npt.NDArray[np.uint64],
    pattern_code: npt.NDArray[np.int8],
    channel: npt.NDArray[np.integer[Any]],
) -> bool:
    """For rows ``start..stop`` before time ``cut``: mark ``present[key - low]``, count the rows of
    each bucket ``(key - low) >> shift`` and, unless ``words`` is empty, code the row's channel.

    A channel is coded by matching the row's two 64-bit words (a ``StringDType`` cell) against
    ``patterns`` (``(p, 2)``). Returns False if some row matches no pattern (the codes are then
    incomplete and the caller falls back to another way of coding the channels).
    """
    has_words = words.shape[0] > 0
    n_patterns = patterns.shape[0]
    matched = True
    for i in range(start, stop):
        if stamps[i] >= cut:
            continue
        k = keys[i] - low
        present[k] = True
        sizes[k >> shift] += 1
        if has_words:
            lo = words[i, 0]
            hi = words[i, 1]
            found = False
            for j in range(n_patterns):
                if patterns[j, 0] == lo and patterns[j, 1] == hi:
                    channel[i] = pattern_code[j]
                    found = True
                    break
            matched &= found
    return matched


@jit
def scatter_buckets(
    keys: npt.NDArray[np.int64],
    low: int,
    shift: int,
    stamps: npt.NDArray[np.int64],
    amount: npt.NDArray[np.float64],
    channel: npt.NDArray[Any],
    cut: int,
    start: int,
    stop: int,
    first_bucket: int,
    last_bucket: int,
    fill: npt.NDArray[np.int64],
    out_key: npt.NDArray[np.uint16],
    out_stamp: npt.NDArray[np.int64],
    out_amount: npt.NDArray[np.float64],
    out_channel: npt.NDArray[Any],
) -> None:
    """Copy the rows ``start..stop`` before ``cut`` that fall in buckets ``first_bucket..last_bucket``
    to their bucket's next free slot ``fill[bucket - first_bucket]`` (row order is kept within a
    bucket), with the key's offset inside its bucket."""
    has_channel = channel.shape[0] > 0
    mask = (1 << shift) - 1
    for i in range(start, stop):
        t = stamps[i]
        if t >= cut:
            continue
        k = keys[i] - low
        b = (k >> shift) - first_bucket
        if b < 0 or b >= last_bucket - first_bucket:
            continue
        p = fill[b]
        fill[b] = p + 1
        out_key[p] = k & mask
        out_stamp[p] = t
        out_amount[p] = amount[i]
        if has_channel:
            out_channel[p] = channel[i]


@jit
def fold_buckets(
    bounds: npt.NDArray[np.int64],
    bucket_offset: int,
    first_bucket: int,
    last_bucket: int,
    shift: int,
    key: npt.NDArray[np.uint16],
    stamp: npt.NDArray[np.int64],
    amount: npt.NDArray[np.float64],
    channel: npt.NDArray[Any],
    first_code: npt.NDArray[np.int64],
    unit: int,
    times: npt.NDArray[np.int64],
    counts: npt.NDArray[np.int64],
    spend: npt.NDArray[np.float64],
) -> None:
    """Fold the rows of buckets ``first_bucket..last_bucket`` (rows ``bounds[b]..bounds[b + 1]``) into
    the tables of their customers: the customers of bucket ``bucket_offset + b`` are coded from
    ``first_code[bucket_offset + b]`` on, in key order (a customer is a key with rows).

    Within a bucket a counting sort groups the rows by customer (stable), each customer's rows are
    sorted by time (stable; already sorted ones in one check), then folded in time order. A bucket's
    rows and customers fit in cache, so nothing here waits on memory.
    """
    has_channel = channel.shape[0] > 0
    width = 1 << shift
    largest = 0
    for b in range(first_bucket, last_bucket):
        largest = max(largest, bounds[b + 1] - bounds[b])
    seg = np.empty(width + 1, np.int64)
    fill = np.empty(width, np.int64)
    s_stamp = np.empty(largest, np.int64)
    s_amount = np.empty(largest, np.float64)
    s_channel = np.empty(largest if has_channel else 0, channel.dtype)
    s_period = np.empty(largest, np.int64)
    for b in range(first_bucket, last_bucket):
        begin = bounds[b]
        end = bounds[b + 1]
        if begin == end:
            continue
        seg[:] = 0
        for r in range(begin, end):
            seg[key[r] + 1] += 1
        for j in range(width):
            seg[j + 1] += seg[j]
        fill[:] = seg[:width]
        for r in range(begin, end):
            j = key[r]
            q = fill[j]
            fill[j] = q + 1
            s_stamp[q] = stamp[r]
            s_amount[q] = amount[r]
            if has_channel:
                s_channel[q] = channel[r]
        c = first_code[bucket_offset + b] - 1
        for j in range(width):
            lo = seg[j]
            hi = seg[j + 1]
            if lo == hi:
                continue
            c += 1
            if _is_sorted(s_stamp, lo, hi):
                _fold_customer(
                    s_stamp, s_amount, s_channel, lo, hi, has_channel, unit, c, times, counts, spend
                )
            elif hi - lo <= _SMALL_SEGMENT:
                _fold_unsorted(
                    s_stamp, s_amount, s_channel, s_period, lo, hi, has_channel, unit, c, times, counts, spend
                )
            else:
                _sort_segment(s_stamp, s_amount, s_channel, lo, hi, has_channel)
                _fold_customer(
                    s_stamp, s_amount, s_channel, lo, hi, has_channel, unit, c, times, counts, spend
                )


@jit
def _fold_customer(
    stamp: npt.NDArray[np.int64],
    amount: npt.NDArray[np.float64],
    channel: npt.NDArray[Any],
    begin: int,
    end: int,
    has_channel: bool,
    unit: int,
    c: int,
    times: npt.NDArray[np.int64],
    counts: npt.NDArray[np.int64],
    spend: npt.NDArray[np.float64],
) -> None:
    """Fold one customer's time-ordered rows ``begin..end`` into column ``c`` of the tables."""
    periods = 0
    orders = 0
    last = 0
    last_period = 0
    first_spend = 0.0
    repeat_spend = 0.0
    returned = 0.0
    for r in range(begin, end):
        a = amount[r]
        if a < 0:
            returned -= a
            continue
        t = stamp[r]
        if periods == 0:
            times[FIRST, c] = t
            periods = 1
            orders = 1
            last = t
            last_period = _period_of(t, unit)
        elif t != last:
            orders += 1
            last = t
            p = _period_of(t, unit)
            if p != last_period:
                periods += 1
                last_period = p
        if periods == 1:
            first_spend += a
        else:
            repeat_spend += a
        if has_channel:
            spend[CHANNEL0 + channel[r], c] += a
    times[LAST, c] = last
    counts[PERIODS, c] = periods
    counts[ORDERS, c] = orders
    spend[FIRST_SPEND, c] = first_spend
    spend[REPEAT_SPEND, c] = repeat_spend
    spend[RETURNED, c] = returned


@jit
def finish(
    times: npt.NDArray[np.int64],
    counts: npt.NDArray[np.int64],
    spend: npt.NDArray[np.float64],
    end_us: int,
    end_period: int,
    unit: int,
    recency: npt.NDArray[np.float64],
    age: npt.NDArray[np.float64],
    days_since_last: npt.NDArray[np.float64],
    net_spend: npt.NDArray[np.float64],
) -> None:
    """The derived fields of every customer (with a purchase), in one pass over the tables.

    Fills ``recency``, ``age`` (``T``), ``days_since_last`` and ``net_spend``, and turns the tables'
    rows into summary columns in place: periods into ``frequency`` (periods - 1), first-period spend
    into gross spend, later-period spend into its mean per repeat period (``monetary_value``; 0
    without one) and channel spend into shares of gross spend (0 when gross spend is 0).
    """
    for c in range(times.shape[1]):
        first_period = _period_of(times[FIRST, c], unit)
        last = times[LAST, c]
        recency[c] = _period_of(last, unit) - first_period
        age[c] = end_period - first_period
        days_since_last[c] = max(end_us - last, 0) / US_PER_DAY
        frequency = counts[PERIODS, c] - 1
        counts[PERIODS, c] = frequency
        repeat = spend[REPEAT_SPEND, c]
        gross = spend[FIRST_SPEND, c] + repeat
        spend[FIRST_SPEND, c] = gross
        if frequency > 0:
            spend[REPEAT_SPEND, c] = repeat / frequency
        net_spend[c] = gross - spend[RETURNED, c]
        if gross > 0:
            for j in range(CHANNEL0, spend.shape[0]):
                spend[j, c] = spend[j, c] / gross


@jit
def _is_sorted(stamp: npt.NDArray[np.int64], begin: int, end: int) -> bool:
    """Whether rows ``begin..end`` are in time order."""
    for r in range(begin + 1, end):  # noqa: SIM110 - a loop numba compiles, with an early exit
        if stamp[r] < stamp[r - 1]:
            return False
    return True


@jit
def _fold_unsorted(
    stamp: npt.NDArray[np.int64],
    amount: npt.NDArray[np.float64],
    channel: npt.NDArray[Any],
    period: npt.NDArray[np.int64],
    begin: int,
    end: int,
    has_channel: bool,
    unit: int,
    c: int,
    times: npt.NDArray[np.int64],
    counts: npt.NDArray[np.int64],
    spend: npt.NDArray[np.float64],
) -> None:
    """Fold one customer's few rows ``begin..end``, in any order, into column ``c`` of the tables.

    Instead of sorting (whose branches a shuffled log makes unpredictable), each purchase looks back
    over the earlier ones for its timestamp and its period: O(rows**2) comparisons that almost never
    match, for the small segments this is used for. Spend is summed in row order.
    """
    first = np.iinfo(np.int64).max
    last = np.iinfo(np.int64).min
    for r in range(begin, end):
        if amount[r] >= 0:
            t = stamp[r]
            first = min(first, t)
            last = max(last, t)
            period[r] = _period_of(t, unit)
    first_period = _period_of(first, unit)
    periods = 0
    orders = 0
    first_spend = 0.0
    repeat_spend = 0.0
    returned = 0.0
    for r in range(begin, end):
        a = amount[r]
        if a < 0:
            returned -= a
            continue
        t = stamp[r]
        p = period[r]
        new_stamp = True
        new_period = True
        for q in range(begin, r):
            if amount[q] >= 0 and period[q] == p:
                new_period = False
                if stamp[q] == t:
                    new_stamp = False
                    break
        orders += new_stamp
        periods += new_period
        if p == first_period:
            first_spend += a
        else:
            repeat_spend += a
        if has_channel:
            spend[CHANNEL0 + channel[r], c] += a
    if periods:
        times[FIRST, c] = first
        times[LAST, c] = last
    counts[PERIODS, c] = periods
    counts[ORDERS, c] = orders
    spend[FIRST_SPEND, c] = first_spend
    spend[REPEAT_SPEND, c] = repeat_spend
    spend[RETURNED, c] = returned


@jit
def _sort_segment(
    stamp: npt.NDArray[np.int64],
    amount: npt.NDArray[np.float64],
    channel: npt.NDArray[np.int8],
    begin: int,
    end: int,
    has_channel: bool,
) -> None:
    """Stable sort of rows ``begin..end`` by ``stamp``, carrying ``amount`` and ``channel`` along."""
    if end - begin <= _INSERTION_ROWS:
        for r in range(begin + 1, end):
            t = stamp[r]
            a = amount[r]
            ch = channel[r] if has_channel else 0
            q = r - 1
            while q >= begin and stamp[q] > t:
                stamp[q + 1] = stamp[q]
                amount[q + 1] = amount[q]
                if has_channel:
                    channel[q + 1] = channel[q]
                q -= 1
            stamp[q + 1] = t
            amount[q + 1] = a
            if has_channel:
                channel[q + 1] = ch
        return
    order = np.argsort(stamp[begin:end], kind="mergesort")
    stamp[begin:end] = stamp[begin:end][order]
    amount[begin:end] = amount[begin:end][order]
    if has_channel:
        channel[begin:end] = channel[begin:end][order]
