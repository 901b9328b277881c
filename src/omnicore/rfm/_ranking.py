"""Tie-safe ranking kernels: how many values lie strictly below each value, in O(n) or O(n log n)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from omnicore._jit import jit

__all__ = ["count_above", "count_below", "quantile_scores"]

# Integer inputs whose span is at most this many times the row count are ranked by counting (O(n)).
_COUNTING_SPAN_FACTOR = 4


def count_below(values: npt.NDArray[Any]) -> npt.NDArray[np.int64]:
    """For each element, the number of elements strictly smaller (its minimum rank minus one).

    Equal values always get equal counts, whatever their order, so a score built on it cannot split a
    tie by row order. Integers with a small span are counted with ``bincount`` in O(n); anything else is
    sorted once (O(n log n)).
    """
    n = values.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if values.dtype.kind == "f" and _is_integral(values):
        values = values.astype(np.int64)
    if values.dtype.kind in "iub":
        as_int = values.astype(np.int64, copy=False)
        low = int(as_int.min())
        span = int(as_int.max()) - low + 1
        if span <= _COUNTING_SPAN_FACTOR * n + 1024:
            shifted = as_int - low
            counts = np.bincount(shifted, minlength=span)
            below = np.cumsum(counts) - counts
            return below[shifted]
    # Any sort will do: ties are resolved below by run starts, not by their order in the sort.
    order = np.argsort(values)
    ordered = values[order]
    starts = np.zeros(n, dtype=np.int64)
    new_value = np.empty(n, dtype=bool)
    new_value[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=new_value[1:])
    starts[new_value] = np.flatnonzero(new_value)
    np.maximum.accumulate(starts, out=starts)
    result = np.empty(n, dtype=np.int64)
    result[order] = starts
    return result


def _is_integral(values: npt.NDArray[Any]) -> bool:
    # Whole-number floats (orders, days) take the O(n) counting path; the bounds keep int64 exact.
    return bool(np.abs(values).max() < 2.0**52 and np.array_equal(values, np.floor(values)))


def count_above(values: npt.NDArray[Any]) -> npt.NDArray[np.int64]:
    """For each element, the number of elements strictly greater."""
    if values.dtype.kind == "u":
        values = values.astype(np.int64)
    if values.dtype.kind == "b":
        values = values.astype(np.int64)
    return count_below(-values)


def quantile_scores(values: npt.NDArray[Any], bins: int, *, higher_is_better: bool) -> npt.NDArray[np.int8]:
    """Scores 1..bins from the share of customers strictly worse: ``1 + bins * worse // n``.

    With distinct values this cuts the customers into ``bins`` equal-sized groups (sizes differ by at
    most one); a tie keeps all its members in the score of its lowest member, so the one-time buyers who
    make up a third of a customer base all get F=1.

    Notes
    -----
    O(n): a score reaches ``s + 1`` exactly when at least ``c_s = ceil(s * n / bins)`` customers are
    strictly worse, i.e. when the value beats the ``c_s``-th worst value. Those ``bins - 1`` order
    statistics come from counting (whole numbers of modest span), a compiled histogram selection
    (other floats; three passes) or one :func:`numpy.partition` (small or very skewed columns), and
    each value's score is one plus the number of them it beats (``bins - 1`` comparisons per value).
    This equals ``1 + bins * count_below(values) // n`` exactly.
    """
    n = values.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int8)
    steps = np.arange(1, bins, dtype=np.int64)
    needed = -((-steps * n) // bins)  # ceil(s * n / bins), at least 1
    kth = needed - 1 if higher_is_better else n - needed
    cuts = _order_statistics(values, kth)
    # A score counts the cut points a value beats: `bins - 1` vectorised comparisons, cheaper than a
    # binary search per value (equal to ``searchsorted`` on the sorted cuts for NaN-free values).
    scores = np.ones(n, dtype=np.int8)
    beats = np.empty(n, dtype=bool)
    for cut in cuts.tolist():
        if higher_is_better:
            np.greater(values, cut, out=beats)  # side="left": cuts strictly below the value
        else:
            np.less(values, cut, out=beats)  # cuts strictly above the value
        scores += beats
    return scores


def _order_statistics(values: npt.NDArray[Any], kth: npt.NDArray[np.int64]) -> npt.NDArray[Any]:
    """The ``kth`` smallest values (0-based): by counting for integral values of modest span, else
    one :func:`numpy.partition`."""
    if not len(kth):
        return values[:0]
    if values.dtype.kind == "f" and _is_integral(values):
        as_int = values.astype(np.int64)
        low = int(as_int.min())
        span = int(as_int.max()) - low + 1
        if span <= _COUNTING_SPAN_FACTOR * len(values) + 1024:
            as_int -= low
            below_or_at = np.cumsum(np.bincount(as_int, minlength=span))
            # The k-th smallest (0-based) is the first value with more than k values at or below it.
            picked = np.searchsorted(below_or_at, kth, side="right") + low
            return picked.astype(values.dtype)
    if values.dtype == np.float64 and len(values) >= _HISTOGRAM_ROWS:
        chosen = np.empty(len(kth), np.float64)
        if _select_by_histogram(values, np.sort(kth), chosen):
            return chosen
    return np.sort(np.partition(values, kth)[kth])


@jit
def _select_by_histogram(
    values: npt.NDArray[np.float64], kth: npt.NDArray[np.int64], out: npt.NDArray[np.float64]
) -> bool:
    """The ``kth`` smallest of finite ``values`` (``kth`` sorted) into ``out``, in three passes.

    A histogram of equal-width bins between the extremes finds the bin of each order statistic (the
    bin of a value is monotone in the value); the values of those few bins are gathered and sorted.
    Returns False, leaving the work to a partition, when those bins hold more than an eighth of the
    values (a very skewed column).
    """
    n = values.shape[0]
    low = values[0]
    high = values[0]
    for i in range(n):
        v = values[i]
        low = min(low, v)
        high = max(high, v)
    if low == high:
        out[:] = low
        return True
    bins = n // 16 + 1
    scale = bins / (high - low)
    counts = np.zeros(bins, np.int64)
    for i in range(n):
        counts[min(int((values[i] - low) * scale), bins - 1)] += 1
    # The bin of each order statistic, and how many values lie in earlier bins.
    wanted = np.full(bins, -1, np.int64)
    target = np.empty(len(kth), np.int64)
    before = np.empty(len(kth), np.int64)
    seen = 0
    j = 0
    gathered = 0
    for b in range(bins):
        while j < len(kth) and kth[j] < seen + counts[b]:
            if wanted[b] < 0:
                wanted[b] = gathered
                gathered += counts[b]
            target[j] = b
            before[j] = seen
            j += 1
        seen += counts[b]
    if gathered * 8 > n:
        return False
    pool = np.empty(gathered, np.float64)
    fill = np.zeros(bins, np.int64)
    for i in range(n):
        b = min(int((values[i] - low) * scale), bins - 1)
        if wanted[b] >= 0:
            pool[wanted[b] + fill[b]] = values[i]
            fill[b] += 1
    for j in range(len(kth)):
        b = target[j]
        start = wanted[b]
        segment = np.sort(pool[start : start + counts[b]])
        out[j] = segment[kth[j] - before[j]]
    return True


# Float columns from which order statistics come from a histogram instead of a partition.
_HISTOGRAM_ROWS = 4096
