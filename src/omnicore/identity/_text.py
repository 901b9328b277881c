"""Sorting-based set operations on text columns that only use stable sorts.

numpy 2.4's default (intro)sort on ``StringDType`` arrays with many duplicates can crash the
interpreter; ``np.unique(..., return_inverse=True)`` and ``np.sort`` use it. Every text column in this
package goes through these helpers instead, which sort with ``kind="stable"`` only.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["unique_text", "unique_text_full"]


def unique_text_full(
    values: npt.NDArray[Any],
) -> tuple[npt.NDArray[Any], npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Sorted distinct values, index of first occurrence, inverse codes and counts."""
    n = values.size
    if n == 0:
        empty = np.empty(0, np.int64)
        return values[:0], empty, empty, empty
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    change = np.empty(n, dtype=bool)
    change[0] = True
    change[1:] = ordered[1:] != ordered[:-1]
    starts = np.flatnonzero(change)
    inverse = np.empty(n, dtype=np.int64)
    inverse[order] = np.cumsum(change) - 1
    counts = np.diff(np.r_[starts, n]).astype(np.int64)
    return ordered[starts], order[starts].astype(np.int64), inverse, counts


def unique_text(values: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """Sorted distinct values."""
    return unique_text_full(values)[0]
