"""Factorising id columns into dense integer codes: the first step of every vectorised group-by."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["factorize", "factorize_pairs"]


def factorize(values: npt.NDArray[Any]) -> tuple[npt.NDArray[Any], npt.NDArray[np.int64]]:
    """Sorted unique values and, per element, the code of its value.

    Parameters
    ----------
    values
        A one-dimensional column (int64 ids, text ids, anything ``np.unique`` sorts).

    Returns
    -------
    uniques, codes
        ``uniques[codes]`` equals ``values``; codes run from 0 to ``len(uniques) - 1``.

    Examples
    --------
    >>> uniques, codes = factorize(np.array(["b", "a", "b"]))
    >>> uniques.tolist(), codes.tolist()
    (['a', 'b'], [1, 0, 1])

    Notes
    -----
    O(n log n) by sorting; equal inputs always get equal codes, whatever their order.
    """
    uniques, codes = np.unique(values, return_inverse=True)
    return uniques, codes.astype(np.int64, copy=False).reshape(-1)


def factorize_pairs(
    left: npt.NDArray[Any], right: npt.NDArray[Any]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Dense codes for the pairs ``(left[i], right[i])`` and the first row of each distinct pair.

    Returns
    -------
    codes, first_rows
        ``codes[i]`` identifies the pair of row ``i``; ``first_rows[k]`` is a row holding pair ``k``.
    """
    _, left_codes = factorize(left)
    right_uniques, right_codes = factorize(right)
    combined = left_codes * max(len(right_uniques), 1) + right_codes
    _, first_rows, codes = np.unique(combined, return_index=True, return_inverse=True)
    return codes.astype(np.int64, copy=False).reshape(-1), first_rows.astype(np.int64)
