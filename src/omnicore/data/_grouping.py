"""Factorising columns into dense integer codes: the first step of every vectorised group-by."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import numpy.typing as npt

__all__ = ["factorize", "factorize_pairs", "first_occurrences", "searchsorted", "unique_sorted"]

# Text columns with at most this many distinct values (channels, event types, id types) are coded by
# one equality pass per value, which beats sorting millions of strings by an order of magnitude.
_FEW_DISTINCT = 16
_PROBE_ROWS = 8192


def factorize(values: npt.NDArray[Any]) -> tuple[npt.NDArray[Any], npt.NDArray[np.int64]]:
    """Sorted unique values and, per element, the code of its value.

    Parameters
    ----------
    values
        A one-dimensional column: integers, booleans, timestamps, floats or text.

    Returns
    -------
    uniques, codes
        ``uniques[codes]`` equals ``values``; codes run from 0 to ``len(uniques) - 1`` in the sorted order
        of the values, so equal inputs get equal codes whatever their row order.

    Examples
    --------
    >>> uniques, codes = factorize(np.array(["b", "a", "b"]))
    >>> uniques.tolist(), codes.tolist()
    (['a', 'b'], [1, 0, 1])

    Notes
    -----
    Integers spanning a range at most about twice their count are coded in O(n) by direct addressing;
    text with few distinct values by one vectorised comparison per value; anything else by one sort,
    O(n log n).
    """
    values = np.asarray(values)
    if values.size == 0:
        return values[:0], np.empty(0, np.int64)
    kind = values.dtype.kind
    if kind == "M":
        uniques, codes = _factorize_integers(values.view(np.int64))
        return uniques.view(values.dtype), codes
    if kind in "iub":
        uniques, codes = _factorize_integers(values.astype(np.int64, copy=False))
        return uniques.astype(values.dtype, copy=False), codes
    if kind in "OUT" or values.dtype == np.dtypes.StringDType():
        few = _factorize_few(values)
        if few is not None:
            return few
    return _factorize_sorting(values)


def _factorize_integers(values: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    low, high = int(values.min()), int(values.max())
    span = high - low + 1
    if span <= 2 * values.size + 1024:
        offsets = values - low
        present = np.zeros(span, bool)
        present[offsets] = True
        code_of_offset = np.cumsum(present, dtype=np.int64) - 1
        return np.flatnonzero(present).astype(np.int64) + low, code_of_offset[offsets]
    return _factorize_sorting(values)


def _factorize_few(values: npt.NDArray[Any]) -> tuple[npt.NDArray[Any], npt.NDArray[np.int64]] | None:
    candidates = unique_sorted(values[:_PROBE_ROWS])
    if len(candidates) > _FEW_DISTINCT:
        return None
    codes = np.full(values.size, -1, np.int64)
    for code, candidate in enumerate(candidates):
        codes[values == candidate] = code
    if (codes < 0).any():  # a value the probe did not see: not a few-distinct column after all
        return None
    return candidates, codes


def _factorize_sorting(values: npt.NDArray[Any]) -> tuple[npt.NDArray[Any], npt.NDArray[np.int64]]:
    # A stable sort throughout: numpy 2.4's default quicksort can crash on StringDType columns with
    # many duplicates, and np.unique(return_inverse=True) uses it.
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    starts = np.empty(ordered.size, bool)
    starts[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=starts[1:])
    codes = np.empty(values.size, np.int64)
    codes[order] = np.cumsum(starts, dtype=np.int64) - 1
    return ordered[starts], codes


def unique_sorted(values: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """Sorted distinct values by one sort (numpy's hash-based ``np.unique`` is slower on large int arrays)."""
    ordered = np.sort(values, kind="stable")
    if ordered.size == 0:
        return ordered
    keep = np.empty(ordered.size, bool)
    keep[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return ordered[keep]


def factorize_pairs(
    left: npt.NDArray[Any], right: npt.NDArray[Any]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Dense codes for the pairs ``(left[i], right[i])`` and the first row of each distinct pair.

    Returns
    -------
    codes, first_rows
        ``codes[i]`` identifies the pair of row ``i`` (in sorted pair order); ``first_rows[k]`` is the first
        row holding pair ``k``.

    Examples
    --------
    >>> codes, first = factorize_pairs(np.array([1, 2, 1]), np.array(["x", "x", "x"]))
    >>> codes.tolist(), first.tolist()
    ([0, 1, 0], [0, 1])
    """
    _, left_codes = factorize(left)
    right_uniques, right_codes = factorize(right)
    combined = left_codes * max(len(right_uniques), 1) + right_codes
    _, codes = factorize(combined)
    return codes, _first_rows(codes)


def first_occurrences(values: npt.NDArray[Any]) -> npt.NDArray[np.int64]:
    """Row of the first occurrence of each distinct value, in the sorted order of the values.

    Like ``np.unique(values, return_index=True)[1]``, but safe for text (stable sorts only).

    Examples
    --------
    >>> first_occurrences(np.array(["b", "a", "b", "c"])).tolist()
    [1, 0, 3]
    """
    _, codes = factorize(np.asarray(values))
    return _first_rows(codes)


def _first_rows(codes: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    first_rows = np.full(int(codes.max(initial=-1)) + 1, len(codes), np.int64)
    np.minimum.at(first_rows, codes, np.arange(len(codes), dtype=np.int64))
    return first_rows


def searchsorted(
    a: npt.NDArray[Any], v: Any, side: Literal["left", "right"] = "left", sorter: Any = None
) -> Any:
    """:func:`numpy.searchsorted` that is also correct for text columns.

    numpy 2.4's search of one ``StringDType`` array in another can return wrong positions once strings
    are longer than 15 bytes; text is therefore compared as Python strings. Other dtypes go straight
    to numpy.

    Examples
    --------
    >>> keys = np.array(["phone:+8613900000001", "phone:+8613900000002"], dtype=np.dtypes.StringDType())
    >>> searchsorted(keys, np.array(["phone:+8613900000002"], dtype=np.dtypes.StringDType())).tolist()
    [1]
    """
    haystack = np.asarray(a)
    needles = np.asarray(v)
    if _is_text(haystack) or _is_text(needles):
        haystack = haystack.astype(object)
        needles = needles.astype(object)
    return np.searchsorted(haystack, needles, side=side, sorter=sorter)


def _is_text(array: npt.NDArray[Any]) -> bool:
    return array.dtype == np.dtypes.StringDType() or array.dtype.kind in "OUS"
