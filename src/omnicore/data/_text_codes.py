"""Dictionary codes of text columns, computed once where they are cheap and kept beside the column.

numpy's variable-width text (``StringDType``) costs tens of nanoseconds per element for any pass, a
comparison, a cast or a gather, while the fixed-width numpy text that callers usually hand over (the
``<U`` arrays of ``np.array(["browse", ...])``, or bytes) can be hashed as machine words in a few
nanoseconds. So a large text column built from fixed-width input is coded on the way in, a column
that arrives coded (a pandas categorical, an Arrow dictionary array as Parquet yields for repetitive
text, a polars categorical or enum) keeps the codes it came with, and every later group-by, equality
test or keyword match on it reads the integer codes instead of the text.

The codes live in a registry keyed by the (read-only) column object, not in the containers, so they
follow a column wherever it goes: :meth:`~omnicore.data.Table.take` carries them over to the rows it
takes. A column's codes are only valid while the column is unchanged; containers hold read-only
columns, and making one writable again and writing to it is not supported.
"""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np
import numpy.typing as npt

from omnicore._jit import jit
from omnicore.data._grouping import factorize

__all__ = [
    "carry_codes",
    "encode_fixed_width",
    "factorize_text",
    "factorize_words",
    "keep_codes",
    "text_codes",
]

I64 = npt.NDArray[np.int64]
Codes = tuple[npt.NDArray[Any], npt.NDArray[np.intp]]

#: Text columns shorter than this are coded when needed, not on construction (it would not pay).
ENCODE_MIN_ROWS = 65_536
#: Wider fixed-width text (long free text) is not coded on construction.
ENCODE_MAX_BYTES = 256

_registry: dict[int, tuple[weakref.ref[npt.NDArray[Any]], npt.NDArray[Any], npt.NDArray[np.intp]]] = {}


# No lock: single dict operations are atomic, and a lock taken here could deadlock when a column
# dies (and its callback runs) while the lock is held.
def _forget(key: int) -> Any:
    def drop(_: object) -> None:
        entry = _registry.get(key)
        if entry is not None and entry[0]() is None:
            _registry.pop(key, None)

    return drop


def _register(column: npt.NDArray[Any], uniques: npt.NDArray[Any], codes: npt.NDArray[np.intp]) -> None:
    key = id(column)
    _registry[key] = (weakref.ref(column, _forget(key)), uniques, codes)


def keep_codes(column: npt.NDArray[Any], uniques: npt.NDArray[Any], codes: npt.NDArray[np.intp]) -> None:
    """Keep the codes of a text column that came with them (a categorical or dictionary column):
    ``uniques`` distinct, ``uniques[codes]`` equal to ``column``."""
    _register(column, uniques, codes)


def text_codes(column: npt.NDArray[Any]) -> Codes | None:
    """The dictionary codes kept for a text column: distinct values and per-row codes, or None.

    The distinct values are unique but may include values that no row holds (after a ``take``).
    """
    entry = _registry.get(id(column))
    if entry is None or entry[0]() is not column:
        return None
    return entry[1], entry[2]


def carry_codes(source: npt.NDArray[Any], target: npt.NDArray[Any], rows: Any = None) -> None:
    """Give ``target`` the codes of ``source`` (of ``source[rows]`` when ``rows`` is given)."""
    hit = text_codes(source)
    if hit is None:
        return
    uniques, codes = hit
    _register(target, uniques, codes if rows is None else codes[rows])


def encode_fixed_width(source: npt.NDArray[Any], column: npt.NDArray[Any]) -> None:
    """Code ``column`` (the ``StringDType`` copy of the fixed-width text ``source``) from ``source``.

    Does nothing for short columns and wide text (see :data:`ENCODE_MIN_ROWS`, :data:`ENCODE_MAX_BYTES`).
    """
    small = source.size < ENCODE_MIN_ROWS
    if small or source.dtype.kind not in "US" or source.dtype.itemsize > ENCODE_MAX_BYTES:
        return
    words = _words(source)
    codes, firsts = factorize_words(words)
    _register(column, column[firsts], codes.astype(np.intp, copy=False))


def _words(source: npt.NDArray[Any]) -> npt.NDArray[np.uint32]:
    """Fixed-width text as rows of uint32 words (equal rows <=> equal values: numpy pads with NULs)."""
    n = source.size
    if source.dtype.kind == "S" and source.dtype.itemsize % 4:
        source = source.astype(f"S{-(-source.dtype.itemsize // 4) * 4}")
    source = np.ascontiguousarray(source)
    return source.view(np.uint32).reshape(n, source.dtype.itemsize // 4)


def factorize_text(column: npt.NDArray[Any]) -> Codes:
    """Distinct values and per-row codes of a text column.

    The codes kept for the column (:func:`text_codes`) when there are any; else ASCII text of less
    than 64 bytes (the usual shape of event types, categories and segments) is cast to fixed-width
    bytes and coded by a compiled hash table over whole rows (every match verified), in order of
    first appearance; anything else falls back to :func:`omnicore.data.factorize`.
    """
    hit = text_codes(column)
    if hit is not None:
        return hit
    n = column.size
    if n == 0:
        return column[:0], np.zeros(0, dtype=np.intp)
    raw = _fixed_width(column)
    if raw is None:
        uniques, codes = factorize(column)
        return uniques, codes.astype(np.intp)
    codes64, firsts = factorize_words(raw)
    return column[firsts], codes64.astype(np.intp, copy=False)


def _fixed_width(column: npt.NDArray[Any]) -> npt.NDArray[np.uint64] | None:
    """ASCII text as rows of uint64 words (NUL-padded), or None when it is not ASCII or longer than
    64 bytes. The width is guessed from the first rows and widened until every row ends in a NUL
    byte, so no value can have been cut (a cast to fixed width would silently truncate)."""
    n = column.size
    try:
        words = max(1, -(-(int(np.strings.str_len(column[:256]).max()) + 1) // 8))
        while words <= 8:
            raw = column.astype(f"S{8 * words}")
            if not raw.view(np.uint8).reshape(n, 8 * words)[:, -1].any():
                return raw.view(np.uint64).reshape(n, words)
            words = words + 1 if words < 4 else (8 if words < 8 else 9)
    except (ValueError, TypeError, UnicodeError):
        return None
    return None


@jit
def _row_hash(raw: npt.NDArray[Any], i: int) -> np.uint64:
    """A hash of row ``i``, two words per multiply (the second word rotated by 32 bits, so two uint32
    words pack into one uint64 whole)."""
    words = raw.shape[1]
    h = np.uint64(0)
    w = 0
    while w + 1 < words:
        second = np.uint64(raw[i, w + 1])
        pair = np.uint64(raw[i, w]) ^ ((second << np.uint64(32)) | (second >> np.uint64(32)))
        h = (h ^ pair) * np.uint64(0x9E3779B97F4A7C15)
        w += 2
    if w < words:
        h = (h ^ np.uint64(raw[i, w])) * np.uint64(0x9E3779B97F4A7C15)
    return h


@jit
def factorize_words(raw: npt.NDArray[Any]) -> tuple[I64, I64]:
    """Codes (in order of first appearance) of the rows of a 2-d array of unsigned words, and each
    code's first row.

    An open-addressing hash table over whole rows; every match is verified word by word.
    """
    n, words = raw.shape
    bits = 6
    mask = (1 << bits) - 1
    table = np.full(1 << bits, -1, dtype=np.int64)
    codes = np.empty(n, dtype=np.int64)
    firsts = np.empty(n, dtype=np.int64)
    n_codes = 0
    for i in range(n):
        h = np.uint64(0)  # _row_hash, written out: a call per row costs a fifth more here
        w = 0
        while w + 1 < words:
            second = np.uint64(raw[i, w + 1])
            pair = np.uint64(raw[i, w]) ^ ((second << np.uint64(32)) | (second >> np.uint64(32)))
            h = (h ^ pair) * np.uint64(0x9E3779B97F4A7C15)
            w += 2
        if w < words:
            h = (h ^ np.uint64(raw[i, w])) * np.uint64(0x9E3779B97F4A7C15)
        slot = np.int64(h >> np.uint64(64 - bits))
        while True:
            code = table[slot]
            if code < 0:
                table[slot] = n_codes
                firsts[n_codes] = i
                codes[i] = n_codes
                n_codes += 1
                break
            row = firsts[code]
            same = True
            for w in range(words):
                if raw[row, w] != raw[i, w]:
                    same = False
                    break
            if same:
                codes[i] = code
                break
            slot = (slot + 1) & mask
        if n_codes * 2 > (1 << bits):
            # grow and rehash (only reached for columns with many distinct values)
            bits += 1
            mask = (1 << bits) - 1
            table = np.full(1 << bits, -1, dtype=np.int64)
            for c in range(n_codes):
                s = np.int64(_row_hash(raw, firsts[c]) >> np.uint64(64 - bits))
                while table[s] >= 0:
                    s = (s + 1) & mask
                table[s] = c
    return codes, firsts[:n_codes].copy()
