"""Event properties stored column-wise: one block per (append, property), indexed by event number.

An append of ``n`` events numbered ``first .. first + n - 1`` stores each property column as one
binary block (in blocks of at most :data:`BLOCK_ROWS` events), so writing and reading millions of
property values costs a few statements and numpy copies instead of a row per value. Block ``k`` of a
property holds the values of events ``first_seq .. first_seq + n - 1`` in number order. Erasing
events rewrites the blocks that hold them with missing values.

Encodings: float64, bool (one byte) and time (int64 microseconds, NaT kept) as little-endian bytes;
text as a JSON array of strings.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from omnicore.data import STRING_DTYPE, TIME_DTYPE
from omnicore.storage._db import Scope

__all__ = ["BLOCK_ROWS", "PropertyBlocks", "empty_property", "property_kind"]

#: Events per block: large appends are split so no single value exceeds a few hundred megabytes.
BLOCK_ROWS = 1_000_000

_TABLE = "oc_event_property_blocks"


def property_kind(column: npt.NDArray[Any]) -> str:
    """The stored kind of a property column: ``float``, ``bool``, ``time`` or ``text``."""
    kind = column.dtype.kind
    if kind == "b":
        return "bool"
    if kind == "M":
        return "time"
    if kind == "f":
        return "float"
    return "text"


def empty_property(kind: str, n: int) -> npt.NDArray[Any]:
    """A column of ``n`` missing values: NaN, False, NaT or ''."""
    if kind == "text":
        return np.full(n, "", dtype=STRING_DTYPE)
    if kind == "bool":
        return np.zeros(n, bool)
    if kind == "time":
        return np.full(n, np.datetime64("NaT"), TIME_DTYPE)
    return np.full(n, np.nan)


def _encode(column: npt.NDArray[Any], kind: str) -> bytes:
    if kind == "text":
        return json.dumps(column.tolist(), ensure_ascii=False).encode("utf-8")
    if kind == "time":
        return column.astype(TIME_DTYPE).view(np.int64).astype("<i8").tobytes()
    if kind == "bool":
        return column.astype(np.uint8).tobytes()
    return column.astype("<f8").tobytes()


def _decode(data: bytes, kind: str) -> npt.NDArray[Any]:
    if kind == "text":
        return np.asarray(json.loads(bytes(data).decode("utf-8")), dtype=STRING_DTYPE)
    if kind == "time":
        return np.frombuffer(data, dtype="<i8").astype(np.int64).view(TIME_DTYPE)
    if kind == "bool":
        return np.frombuffer(data, dtype=np.uint8).astype(bool)
    return np.frombuffer(data, dtype="<f8").astype(np.float64)


class PropertyBlocks:
    """Write, read and erase the property blocks of one tenant's event log."""

    def __init__(self, scope: Scope) -> None:
        self._scope = scope

    def write(self, first: int, properties: Mapping[str, npt.NDArray[Any]]) -> None:
        """Store property columns of events numbered ``first, first + 1, ...`` (in that order)."""
        scope = self._scope
        rows = []
        for name, column in properties.items():
            kind = property_kind(column)
            for start in range(0, len(column), BLOCK_ROWS):
                part = column[start : start + BLOCK_ROWS]
                rows.append((scope.tenant, first + start, name, len(part), _encode(part, kind)))
        if rows:
            scope.db.executemany(
                f"INSERT INTO {_TABLE} (tenant, first_seq, name, n, data) VALUES (?, ?, ?, ?, ?)", rows
            )

    def read(
        self, seqs: npt.NDArray[np.int64], kinds: Mapping[str, str], cache: dict[tuple[int, str], Any]
    ) -> dict[str, npt.NDArray[Any]]:
        """Property columns for events ``seqs`` (any order); ``cache`` keeps decoded blocks across calls."""
        n = len(seqs)
        out = {name: empty_property(kind, n) for name, kind in kinds.items()}
        if not n or not kinds:
            return out
        low, high = int(seqs.min()), int(seqs.max())
        for first, size, name in self._blocks(low, high):
            if name not in out:
                continue
            inside = (seqs >= first) & (seqs < first + size)
            if not inside.any():
                continue
            block = self._block(first, name, kinds[name], cache)
            out[name][inside] = block[seqs[inside] - first]
        return out

    def _blocks(self, low: int, high: int) -> Iterable[tuple[int, int, str]]:
        scope = self._scope
        return [
            (int(first), int(size), str(name))
            for first, size, name in scope.rows(
                f"SELECT first_seq, n, name FROM {_TABLE} WHERE tenant = ? AND first_seq <= ? "
                "AND first_seq + n > ?",
                (scope.tenant, high, low),
            )
        ]

    def _block(self, first: int, name: str, kind: str, cache: dict[tuple[int, str], Any]) -> Any:
        key = (first, name)
        if key not in cache:
            scope = self._scope
            ((data,),) = scope.rows(
                f"SELECT data FROM {_TABLE} WHERE tenant = ? AND first_seq = ? AND name = ?",
                (scope.tenant, first, name),
            )
            cache[key] = _decode(data, kind)
        return cache[key]

    def erase(self, seqs: npt.NDArray[np.int64], kinds: Mapping[str, str]) -> None:
        """Overwrite the property values of events ``seqs`` with missing values."""
        if not len(seqs) or not kinds:
            return
        scope = self._scope
        for first, size, name in self._blocks(int(seqs.min()), int(seqs.max())):
            inside = seqs[(seqs >= first) & (seqs < first + size)]
            if not len(inside) or name not in kinds:
                continue
            kind = kinds[name]
            block = self._block(first, name, kind, {}).copy()
            block[inside - first] = empty_property(kind, 1)[0]
            scope.execute(
                f"UPDATE {_TABLE} SET data = ? WHERE tenant = ? AND first_seq = ? AND name = ?",
                (_encode(block, kind), scope.tenant, first, name),
            )
