"""Vectorised per-customer window arithmetic: sorted keys and binary search, no Python loops.

Every temporal question the engine asks ("how many matching events did this customer have in the
last hour, up to this one?", "is there a follow-up within 24 h?", "what is the latest consent record
before this time?") becomes a search in one array sorted by ``(group, position)``. Groups and
positions are packed into a single int64 key, so one ``np.searchsorted`` answers all queries.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from omnicore.campaigns._kernels import mark_present, offset_lookup
from omnicore.data import factorize

__all__ = ["codes_for", "count_in_range", "count_upto", "factorize_columns", "latest_at_or_before", "pack"]

I64 = npt.NDArray[np.int64]


def codes_for(*columns: npt.NDArray[Any]) -> list[I64]:
    """Dense codes of the values of several columns over their union (equal values, equal codes).

    Codes follow the sort order of the values, so they order customers the same way in every batch.
    Columns of different kinds (int ids against text ids) are compared as text.
    """
    return factorize_columns(*columns)[1]


def factorize_columns(*columns: npt.NDArray[Any]) -> tuple[npt.NDArray[Any] | None, list[I64]]:
    """:func:`codes_for`, and the distinct values (code ``c`` is ``uniques[c]``; None when no column
    has a value). Columns of different kinds are compared, and their distinct values given, as text."""
    kinds = {c.dtype.kind for c in columns if c.size}
    if len(kinds) > 1:
        text = np.dtypes.StringDType()
        columns = tuple(c if c.dtype == text else c.astype(str).astype(text) for c in columns)
    sizes = [c.size for c in columns]
    non_empty = [c for c in columns if c.size]
    if not non_empty:
        return None, [np.zeros(0, np.int64) for _ in columns]
    if all(c.dtype == np.int64 for c in non_empty):
        lo = min(int(c.min()) for c in non_empty)
        span = max(int(c.max()) for c in non_empty) - lo + 1
        if span <= 4 * sum(sizes) + 1024:
            # integer ids in a short range: codes by direct addressing, no sort and no concatenation
            present = np.zeros(span, dtype=bool)
            for c in non_empty:
                mark_present(c, lo, present)
            code_of = np.cumsum(present, dtype=np.int64) - 1
            uniques = np.flatnonzero(present).astype(np.int64) + lo
            return uniques, [offset_lookup(c, lo, code_of) for c in columns]
    joined = np.concatenate(non_empty)
    uniques, inverse = factorize(joined)
    out: list[I64] = []
    start = 0
    for size in sizes:
        out.append(inverse[start : start + size])
        start += size
    return uniques, out


def pack(group: I64, value: I64, *, value_min: int, value_span: int) -> I64:
    """``group * span + (value - value_min)``: one int64 key ordered by (group, value)."""
    return group * np.int64(value_span) + (value - np.int64(value_min))


def _span(*arrays: I64) -> tuple[int, int]:
    present = [a for a in arrays if a.size]
    if not present:
        return 0, 1
    lo = min(int(a.min()) for a in present)
    hi = max(int(a.max()) for a in present)
    return lo, hi - lo + 2


def count_in_range(
    ref_group: I64,
    ref_time: I64,
    q_group: I64,
    q_lo: I64,
    q_hi: I64,
    *,
    lo_inclusive: bool,
    hi_inclusive: bool,
) -> I64:
    """For each query, the number of reference rows of its group with time in the given range.

    Parameters
    ----------
    ref_group, ref_time
        Reference rows (any order).
    q_group, q_lo, q_hi
        Queries: group and time bounds.
    lo_inclusive, hi_inclusive
        Whether the bounds are closed.

    Examples
    --------
    >>> g = np.array([0, 0, 0, 1]); t = np.array([1, 5, 9, 5])
    >>> count_in_range(g, t, np.array([0, 1]), np.array([1, 0]), np.array([5, 4]),
    ...                lo_inclusive=True, hi_inclusive=True).tolist()
    [2, 0]
    """
    if q_group.size == 0:
        return np.zeros(0, np.int64)
    if ref_group.size == 0:
        return np.zeros(q_group.size, np.int64)
    value_min, span = _span(ref_time, q_lo, q_hi)
    n_groups = int(max(ref_group.max(), q_group.max())) + 1
    if n_groups * span < 2**62:
        keys = np.sort(pack(ref_group, ref_time, value_min=value_min, value_span=span))
        lo_keys = pack(q_group, q_lo, value_min=value_min, value_span=span)
        hi_keys = pack(q_group, q_hi, value_min=value_min, value_span=span)
    else:  # very long time spans: rank-transform the times first
        times = np.unique(np.concatenate([ref_time, q_lo, q_hi]))
        span = times.size + 1

        def rank(x: I64) -> I64:
            return np.searchsorted(times, x).astype(np.int64)

        keys = np.sort(ref_group * np.int64(span) + rank(ref_time))
        lo_keys = q_group * np.int64(span) + rank(q_lo)
        hi_keys = q_group * np.int64(span) + rank(q_hi)
    lo = np.searchsorted(keys, lo_keys, side="left" if lo_inclusive else "right")
    hi = np.searchsorted(keys, hi_keys, side="right" if hi_inclusive else "left")
    result: I64 = np.maximum(hi - lo, 0).astype(np.int64)
    return result


def latest_at_or_before(ref_group: I64, ref_time: I64, q_group: I64, q_time: I64) -> npt.NDArray[np.intp]:
    """Index (into the reference) of the last row of the query's group at or before its time; -1 if none.

    Among reference rows with equal group and time, the last in reference order wins.

    Examples
    --------
    >>> latest_at_or_before(np.array([0, 0, 1]), np.array([1, 5, 2]),
    ...                     np.array([0, 0, 1, 2]), np.array([4, 9, 1, 9])).tolist()
    [0, 1, -1, -1]
    """
    if q_group.size == 0 or ref_group.size == 0:
        return np.full(q_group.size, -1, dtype=np.intp)
    value_min, span = _span(ref_time, q_time)
    n_groups = int(max(ref_group.max(), q_group.max())) + 1
    if n_groups * span >= 2**62:
        times = np.unique(np.concatenate([ref_time, q_time]))
        ref_time = np.searchsorted(times, ref_time).astype(np.int64)
        q_time = np.searchsorted(times, q_time).astype(np.int64)
        value_min, span = 0, times.size + 1
    keys = pack(ref_group, ref_time, value_min=value_min, value_span=span)
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    pos = (
        np.searchsorted(
            sorted_keys, pack(q_group, q_time, value_min=value_min, value_span=span), side="right"
        )
        - 1
    )
    found = pos >= 0
    same = np.zeros(q_group.size, dtype=bool)
    same[found] = ref_group[order[pos[found]]] == q_group[found]
    out = np.full(q_group.size, -1, dtype=np.intp)
    out[same] = order[pos[same]]
    return out


def count_upto(
    ref_group: I64,
    ref_seq: I64,
    ref_time: I64,
    q_group: I64,
    q_seq: I64,
    q_time_lo: I64,
) -> I64:
    """Per query, reference rows of its group with ``seq <= q_seq`` and ``time >= q_time_lo``.

    ``seq`` is the processing order (unique); time must not decrease along it within a group, which
    holds for events processed in time order.

    Examples
    --------
    >>> count_upto(np.array([0, 0, 0]), np.array([0, 1, 2]), np.array([1, 5, 5]),
    ...            np.array([0, 0]), np.array([1, 2]), np.array([2, 0])).tolist()
    [1, 3]
    """
    if q_group.size == 0:
        return np.zeros(0, np.int64)
    if ref_group.size == 0:
        return np.zeros(q_group.size, np.int64)
    seq_min, seq_span = _span(ref_seq, q_seq)
    time_min, time_span = _span(ref_time, q_time_lo)
    n_groups = int(max(ref_group.max(), q_group.max())) + 1
    if n_groups * time_span >= 2**62:
        times = np.unique(np.concatenate([ref_time, q_time_lo]))
        ref_time = np.searchsorted(times, ref_time).astype(np.int64)
        q_time_lo = np.searchsorted(times, q_time_lo).astype(np.int64)
        time_min, time_span = 0, times.size + 1
    seq_keys = pack(ref_group, ref_seq, value_min=seq_min, value_span=seq_span)
    order = np.argsort(seq_keys, kind="stable")
    seq_keys = seq_keys[order]
    time_keys = pack(ref_group[order], ref_time[order], value_min=time_min, value_span=time_span)
    hi = np.searchsorted(seq_keys, pack(q_group, q_seq, value_min=seq_min, value_span=seq_span), side="right")
    lo = np.searchsorted(time_keys, pack(q_group, q_time_lo, value_min=time_min, value_span=time_span))
    result: I64 = np.maximum(hi - lo, 0).astype(np.int64)
    return result
