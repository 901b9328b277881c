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

__all__ = ["codes_for", "factorize_columns", "latest_at_or_before", "pack"]

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
