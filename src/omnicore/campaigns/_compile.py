"""Compile predicates to numpy column operations.

A compiled predicate is a function of a :class:`Columns` view (the property columns of a subset of
events, or the attribute columns of the profiles) returning one boolean per row. Text columns are
factorised once per view and shared by every predicate that reads them, so an equality test on text
costs one integer comparison per row, and keyword and tag tests run once per distinct value.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from omnicore.campaigns._keywords import compile_keywords, match_unique
from omnicore.campaigns._rules import (
    AllOf,
    AnyOf,
    Compare,
    Exists,
    HasTag,
    IsIn,
    Keywords,
    Not,
    Predicate,
)
from omnicore.data import STRING_DTYPE

__all__ = ["Columns", "CompiledPredicate", "compile_predicate", "factorize_text"]

Mask = npt.NDArray[np.bool_]
CompiledPredicate = Callable[["Columns"], Mask]

_TAG_SPLIT = re.compile(r"\s*[,|;]\s*")


def _is_text(array: npt.NDArray[Any]) -> bool:
    return array.dtype == STRING_DTYPE or array.dtype.kind in "UO"


def factorize_text(column: npt.NDArray[Any]) -> tuple[npt.NDArray[Any], npt.NDArray[np.intp]]:
    """Distinct values (in no particular order) and per-row codes of a text column.

    Short ASCII text (at most 32 bytes, the usual shape of event types, categories and segments) is
    viewed as fixed-width bytes, hashed word by word and coded by binary search against the distinct
    values of a probe, with every row verified exactly; anything else falls back to one sort.
    """
    n = column.size
    if n == 0:
        return column[:0], np.zeros(0, dtype=np.intp)
    try:
        width = int(np.strings.str_len(column).max())
        if width > 32:
            raise ValueError
        words = max(1, -(-width // 8))
        raw = column.astype(f"S{8 * words}").view(np.uint64).reshape(n, words)
    except (ValueError, TypeError, UnicodeError):
        uniques, codes = np.unique(column, return_inverse=True)
        return uniques, codes.reshape(-1).astype(np.intp)
    with np.errstate(over="ignore"):
        h = raw[:, 0].copy()
        for w in range(1, words):
            h = h * np.uint64(0x9E3779B97F4A7C15) + raw[:, w]
    probe_h, probe_rows = np.unique(h[:4096], return_index=True)
    codes = np.searchsorted(probe_h, h)
    np.minimum(codes, probe_h.size - 1, out=codes)
    probe_raw = raw[:4096][probe_rows]
    if probe_raw.shape[0] and (probe_raw[codes] == raw).all():
        return column[:4096][probe_rows], codes.astype(np.intp)
    uniques, codes = np.unique(column, return_inverse=True)
    return uniques, codes.reshape(-1).astype(np.intp)


class Columns:
    """A read-only view of named columns of equal length, with per-column caches.

    A view may select ``rows`` of a parent view (e.g. the events of one type); each view factorises
    the columns it reads once and shares that among every predicate evaluated on it.

    Parameters
    ----------
    columns
        Name -> column (all of length ``n``, or of the parent's length when ``rows`` is given).
    n
        Number of rows of this view.
    rows
        Row indices into the parent's columns.
    parent
        The view this one selects from.
    """

    def __init__(
        self,
        columns: Mapping[str, npt.NDArray[Any]],
        n: int,
        *,
        rows: npt.NDArray[np.intp] | None = None,
        parent: Columns | None = None,
    ) -> None:
        self._columns = columns
        self.n = n
        self._rows = rows
        self._parent = parent
        self._taken: dict[str, npt.NDArray[Any]] = {}
        self._factorized: dict[str, tuple[npt.NDArray[Any], npt.NDArray[np.intp]]] = {}
        self._unique_masks: dict[tuple[str, Any], Mask] = {}

    def select(self, rows: npt.NDArray[np.intp]) -> Columns:
        """A view of some rows of this one."""
        return Columns(self._columns, rows.size, rows=rows, parent=self)

    def get(self, name: str) -> npt.NDArray[Any] | None:
        """The column, or None when there is no such column."""
        column = self._columns.get(name)
        if column is None or self._rows is None:
            return column
        hit = self._taken.get(name)
        if hit is None:
            hit = column[self._rows]
            self._taken[name] = hit
        return hit

    def factorized(self, name: str) -> tuple[npt.NDArray[Any], npt.NDArray[np.intp]]:
        """Distinct values of a column and the code of each row (cached)."""
        hit = self._factorized.get(name)
        if hit is None:
            column = self.get(name)
            if column is None:
                raise KeyError(name)
            if column.dtype == STRING_DTYPE:
                hit = factorize_text(column)
            else:
                uniques, codes = np.unique(column, return_inverse=True)
                hit = (uniques, codes.reshape(-1).astype(np.intp))
            self._factorized[name] = hit
        return hit

    def unique_mask(self, name: str, key: Any, fn: Callable[[npt.NDArray[Any]], Mask]) -> Mask:
        """``fn`` of the distinct values of a column (cached)."""
        cache_key = (name, key)
        mask = self._unique_masks.get(cache_key)
        if mask is None:
            mask = fn(self.factorized(name)[0])
            self._unique_masks[cache_key] = mask
        return mask

    def per_unique(self, name: str, key: Any, fn: Callable[[npt.NDArray[Any]], Mask]) -> Mask:
        """``fn`` evaluated once on the distinct values of a column, spread back to the rows."""
        mask = self.unique_mask(name, key, fn)
        return mask[self.factorized(name)[1]]


def _const(value: bool) -> CompiledPredicate:
    def run(cols: Columns) -> Mask:
        return np.full(cols.n, value, dtype=bool)

    return run


_NUMERIC_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "eq": np.equal,
    "ne": np.not_equal,
    "gt": np.greater,
    "ge": np.greater_equal,
    "lt": np.less,
    "le": np.less_equal,
}


def _compile_compare(p: Compare) -> CompiledPredicate:
    field, op, value = p.field, p.op, p.value
    negate = op == "ne"

    def run(cols: Columns) -> Mask:
        column = cols.get(field)
        if column is None:
            return np.full(cols.n, negate, dtype=bool)
        if isinstance(value, str):
            if not _is_text(column):
                return np.full(cols.n, negate, dtype=bool)
            equal = cols.per_unique(field, ("eq", value), lambda u: u == value)
            return ~equal if negate else equal
        if isinstance(value, bool):
            if column.dtype.kind != "b":
                return np.full(cols.n, negate, dtype=bool)
            same: Mask = column == value
            return ~same if negate else same
        if column.dtype.kind != "f":
            return np.full(cols.n, negate, dtype=bool)
        result: Mask = _NUMERIC_OPS[op](column, value)
        return result

    return run


def _compile_in(p: IsIn) -> CompiledPredicate:
    field, values = p.field, p.values
    text = isinstance(values[0], str)
    wanted = np.array(values, dtype=STRING_DTYPE if text else None)

    def run(cols: Columns) -> Mask:
        column = cols.get(field)
        if column is None:
            return np.zeros(cols.n, dtype=bool)
        if text:
            if not _is_text(column):
                return np.zeros(cols.n, dtype=bool)
            return cols.per_unique(field, ("in", values), lambda u: np.isin(u, wanted))
        if isinstance(values[0], bool):
            if column.dtype.kind != "b":
                return np.zeros(cols.n, dtype=bool)
            return np.isin(column, wanted)
        if column.dtype.kind != "f":
            return np.zeros(cols.n, dtype=bool)
        return np.isin(column, wanted)

    return run


def _compile_exists(p: Exists) -> CompiledPredicate:
    field = p.field

    def run(cols: Columns) -> Mask:
        column = cols.get(field)
        if column is None:
            return np.zeros(cols.n, dtype=bool)
        present: Mask
        if column.dtype.kind == "f":
            present = ~np.isnan(column)
            return present
        if column.dtype.kind == "M":
            present = ~np.isnat(column)
            return present
        if _is_text(column):
            return cols.per_unique(field, "exists", lambda u: np.strings.str_len(u.astype(STRING_DTYPE)) > 0)
        return np.ones(cols.n, dtype=bool)

    return run


def _compile_keywords(p: Keywords) -> CompiledPredicate:
    field = p.field
    pattern = compile_keywords(p.keywords)

    def run(cols: Columns) -> Mask:
        column = cols.get(field)
        if column is None or not _is_text(column):
            return np.zeros(cols.n, dtype=bool)
        return cols.per_unique(field, ("kw", pattern.pattern), lambda u: match_unique(u, pattern))

    return run


def _compile_has_tag(p: HasTag) -> CompiledPredicate:
    field, tag = p.field, p.tag.strip().casefold()

    def has(uniques: npt.NDArray[Any]) -> Mask:
        return np.fromiter(
            (tag in {t.casefold() for t in _TAG_SPLIT.split(v.strip())} for v in uniques.tolist()),
            dtype=bool,
            count=uniques.size,
        )

    def run(cols: Columns) -> Mask:
        column = cols.get(field)
        if column is None or not _is_text(column):
            return np.zeros(cols.n, dtype=bool)
        return cols.per_unique(field, ("tag", tag), has)

    return run


def compile_predicate(predicate: Predicate | None) -> CompiledPredicate:
    """Turn a predicate into a function of :class:`Columns` returning a boolean mask.

    ``None`` compiles to "always true".

    Examples
    --------
    >>> from omnicore.campaigns._rules import Compare, Keywords, AnyOf
    >>> cols = Columns({"price": np.array([10.0, 99.0, np.nan]),
    ...                 "text": np.array(["", "有防晒霜吗", "hi"], dtype=STRING_DTYPE)}, 3)
    >>> compile_predicate(AnyOf((Compare("price", "gt", 50), Keywords(("防晒",)))))(cols)
    array([False,  True, False])
    """
    if predicate is None:
        return _const(True)
    if isinstance(predicate, Compare):
        return _compile_compare(predicate)
    if isinstance(predicate, IsIn):
        return _compile_in(predicate)
    if isinstance(predicate, Exists):
        return _compile_exists(predicate)
    if isinstance(predicate, Keywords):
        return _compile_keywords(predicate)
    if isinstance(predicate, HasTag):
        return _compile_has_tag(predicate)
    if isinstance(predicate, AllOf):
        parts = [compile_predicate(p) for p in predicate.args]

        def run_all(cols: Columns) -> Mask:
            mask = parts[0](cols)
            for part in parts[1:]:
                if not mask.any():
                    break
                mask = mask & part(cols)
            return mask

        return run_all
    if isinstance(predicate, AnyOf):
        parts = [compile_predicate(p) for p in predicate.args]

        def run_any(cols: Columns) -> Mask:
            mask = parts[0](cols)
            for part in parts[1:]:
                mask = mask | part(cols)
            return mask

        return run_any
    if isinstance(predicate, Not):
        inner = compile_predicate(predicate.arg)

        def run_not(cols: Columns) -> Mask:
            return ~inner(cols)

        return run_not
    raise TypeError(f"not a predicate: {predicate!r}")
