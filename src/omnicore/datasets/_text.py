"""Vectorised text building: numbered ids, random tokens, choices from small vocabularies."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from omnicore.data import STRING_DTYPE

__all__ = ["numbered", "pick", "random_tokens", "strings", "to_text", "uuids"]

_ALPHANUMERIC = np.frombuffer(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_", np.uint8)
_HEX = np.frombuffer(b"0123456789ABCDEF", np.uint8)


def strings(values: Sequence[str]) -> npt.NDArray[Any]:
    """A small vocabulary as a ``StringDType`` array."""
    return np.array(list(values), dtype=STRING_DTYPE)


def to_text(numbers: npt.NDArray[np.integer[Any]]) -> npt.NDArray[Any]:
    """Integers as decimal text."""
    return np.asarray(numbers).astype(np.int64).astype(STRING_DTYPE)


def numbered(prefix: str, numbers: npt.NDArray[np.integer[Any]], width: int) -> npt.NDArray[Any]:
    """``prefix`` followed by each number zero-padded to ``width`` digits (``"S-" , 7, 3 -> "S-007"``)."""
    return np.strings.add(prefix, np.strings.zfill(to_text(numbers), width))


def pick(
    vocabulary: Sequence[str] | npt.NDArray[Any], codes: npt.NDArray[np.integer[Any]]
) -> npt.NDArray[Any]:
    """``vocabulary[codes]`` as ``StringDType`` text."""
    vocab = np.asarray(vocabulary, dtype=STRING_DTYPE)
    # Gathering fixed-width bytes (Python objects when the words are not ASCII) and converting once is
    # several times faster than gathering StringDType elements.
    width = max(int(np.strings.str_len(vocab).max(initial=0)), 1)
    try:
        compact = vocab.astype(f"S{width}")
    except UnicodeEncodeError:
        compact = vocab.astype(object)
    result: npt.NDArray[Any] = compact[codes].astype(STRING_DTYPE)
    return result


def random_tokens(rng: np.random.Generator, n: int, length: int, prefix: str = "") -> npt.NDArray[Any]:
    """``n`` random url-safe tokens of ``length`` characters after ``prefix`` (WeChat-style ids)."""
    if n == 0:
        return np.empty(0, dtype=STRING_DTYPE)
    chars = _ALPHANUMERIC[rng.integers(0, len(_ALPHANUMERIC), size=(n, length))]
    tokens = np.ascontiguousarray(chars).view(f"S{length}").ravel().astype(STRING_DTYPE)
    return np.strings.add(prefix, tokens) if prefix else tokens


def uuids(rng: np.random.Generator, n: int) -> npt.NDArray[Any]:
    """``n`` random upper-case UUID-shaped device ids (``8-4-4-4-12`` hex digits)."""
    if n == 0:
        return np.empty(0, dtype=STRING_DTYPE)
    chars = _HEX[rng.integers(0, 16, size=(n, 36))]
    chars[:, [8, 13, 18, 23]] = ord("-")
    return np.ascontiguousarray(chars).view("S36").ravel().astype(STRING_DTYPE)
