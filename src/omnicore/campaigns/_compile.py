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

from omnicore.campaigns._kernels import group_rows
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
from omnicore.data._text_codes import factorize_text, text_codes

__all__ = ["Columns", "CompiledPredicate", "RowSelector", "compile_predicate", "factorize_text"]

Mask = npt.NDArray[np.bool_]
CompiledPredicate = Callable[["Columns"], Mask]

_TAG_SPLIT = re.compile(r"\s*[,|;]\s*")


class Columns:
    """A read-only view of named columns of equal length, with per-column caches.

    A view may select ``rows`` of the root view (e.g. the events of one type). A text column is
    factorised once: by the root when the view covers a large share of it (every view then shares
    those codes), else by the view itself; equality tests, keywords and tags then run once per
    distinct value. Columns may also be given already coded (``coded``: name -> (distinct values,
    per-row codes)), so a text column need not be materialised at all.

    Parameters
    ----------
    columns
        Name -> column (all of the root's length).
    n
        Number of rows of this view.
    rows
        Row indices into the parent's rows (None: this is the root).
    parent
        The view this one selects from.
    coded
        Name -> (distinct values, codes of the root's rows), for columns held as codes.
    shared
        Columns every view takes its codes from the root's factorisation of (a root option).
    """

    def __init__(
        self,
        columns: Mapping[str, npt.NDArray[Any]],
        n: int,
        *,
        rows: npt.NDArray[np.intp] | None = None,
        parent: Columns | None = None,
        coded: Mapping[str, tuple[npt.NDArray[Any], npt.NDArray[np.intp]]] | None = None,
        shared: frozenset[str] = frozenset(),
    ) -> None:
        self._columns = columns
        self.n = n
        self._rows = rows
        self._parent = parent
        self._root: Columns = self if parent is None else parent._root
        inherited: Mapping[str, tuple[npt.NDArray[Any], npt.NDArray[np.intp]]] = (
            parent._coded if parent is not None else {}
        )
        self._coded: Mapping[str, tuple[npt.NDArray[Any], npt.NDArray[np.intp]]] = (
            coded if coded is not None else inherited
        )
        self._shared = shared
        self._taken: dict[str, npt.NDArray[Any]] = {}
        self._factorized: dict[str, tuple[npt.NDArray[Any], npt.NDArray[np.intp]]] = {}
        self._unique_masks: dict[tuple[str, Any], Mask] = {}
        self._groups: dict[str, tuple[npt.NDArray[np.intp], npt.NDArray[np.int64], dict[str, int]]] = {}

    def select(self, rows: npt.NDArray[np.intp]) -> Columns:
        """A view of some rows of this one."""
        return Columns(self._columns, rows.size, rows=rows, parent=self)

    def _root_rows(self) -> npt.NDArray[np.intp] | None:
        """This view's rows as rows of the root (None for the root)."""
        if self._parent is None or self._rows is None:
            return None
        hit = self._taken.get("\x00rows")
        if hit is None:
            above = self._parent._root_rows()
            hit = self._rows if above is None else above[self._rows]
            self._taken["\x00rows"] = hit
        return hit

    def dtype(self, name: str) -> np.dtype[Any] | None:
        """The dtype of a column, or None when there is no such column."""
        column = self._columns.get(name)
        if column is not None:
            return column.dtype
        coded = self._coded.get(name)
        return None if coded is None else coded[0].dtype

    def is_text(self, name: str) -> bool:
        """Whether the column exists and holds text."""
        dtype = self.dtype(name)
        return dtype is not None and (dtype == STRING_DTYPE or dtype.kind in "UO")

    def get(self, name: str) -> npt.NDArray[Any] | None:
        """The column, or None when there is no such column."""
        column = self._columns.get(name)
        if column is None:
            if name not in self._coded:
                return None
            hit = self._taken.get(name)
            if hit is None:
                uniques, codes = self.factorized(name)
                hit = uniques[codes]
                self._taken[name] = hit
            return hit
        if self._rows is None or self._parent is None:
            return column
        hit = self._taken.get(name)
        if hit is None:
            above = self._parent.get(name)  # the parent's copy is taken once and shared by its views
            hit = column[self._rows] if above is None else above[self._rows]
            self._taken[name] = hit
        return hit

    def factorized(self, name: str) -> tuple[npt.NDArray[Any], npt.NDArray[np.intp]]:
        """Distinct values of a column and the code of each row (cached).

        The distinct values may include values no row of this view holds.
        """
        hit = self._factorized.get(name)
        if hit is None:
            coded = self._coded.get(name)
            parent = self._parent
            if coded is not None:
                root_rows = self._root_rows()
                hit = coded if root_rows is None else (coded[0], coded[1][root_rows])
            elif (
                parent is not None
                and self._rows is not None
                and name in self._columns
                and (
                    name in self._root._shared
                    or 4 * self.n >= self._root.n
                    or name in parent._factorized
                    or text_codes(self._columns[name]) is not None  # coded already: a gather of codes
                )
            ):
                uniques, codes = parent.factorized(name)
                hit = (uniques, codes[self._rows])
            else:
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

    def rows_equal(self, name: str, value: str) -> npt.NDArray[np.intp]:
        """Rows (ascending) whose text column ``name`` equals ``value``; none if it is not text.

        The rows of every value come from one counting sort of the column's codes (cached), so many
        equality tests on one column cost one pass over it.
        """
        if not self.is_text(name):
            return np.zeros(0, dtype=np.intp)
        grouped = self._groups.get(name)
        if grouped is None:
            uniques, codes = self.factorized(name)
            order, bounds = group_rows(codes.astype(np.int64, copy=False), int(uniques.size))
            index: dict[str, int] = {}
            for position, u in enumerate(uniques.tolist()):
                index.setdefault(str(u), position)
            grouped = (order, bounds, index)
            self._groups[name] = grouped
        order, bounds, index = grouped
        code = index.get(value)
        if code is None:
            return np.zeros(0, dtype=np.intp)
        return order[bounds[code] : bounds[code + 1]]

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
        if cols.dtype(field) is None:
            return np.full(cols.n, negate, dtype=bool)
        if isinstance(value, str):
            if not cols.is_text(field):
                return np.full(cols.n, negate, dtype=bool)
            equal = cols.per_unique(field, ("eq", value), lambda u: u == value)
            return ~equal if negate else equal
        column = cols.get(field)
        if column is None:
            return np.full(cols.n, negate, dtype=bool)
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
        if text:
            if not cols.is_text(field):
                return np.zeros(cols.n, dtype=bool)
            return cols.per_unique(field, ("in", values), lambda u: np.isin(u, wanted))
        column = cols.get(field)
        if column is None:
            return np.zeros(cols.n, dtype=bool)
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
        if cols.is_text(field):
            return cols.per_unique(field, "exists", lambda u: np.strings.str_len(u.astype(STRING_DTYPE)) > 0)
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
        return np.ones(cols.n, dtype=bool)

    return run


def _compile_keywords(p: Keywords) -> CompiledPredicate:
    field = p.field
    pattern = compile_keywords(p.keywords)

    def run(cols: Columns) -> Mask:
        if not cols.is_text(field):
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
        if not cols.is_text(field):
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


def _text_equality(predicate: Predicate | None) -> Compare | None:
    if isinstance(predicate, Compare) and predicate.op == "eq" and isinstance(predicate.value, str):
        return predicate
    return None


class RowSelector:
    """The rows of a view matching a predicate, answered from an index where the predicate allows.

    A predicate that is (or is a conjunction containing) an equality on a text column is split: the
    equality picks its rows from the column's value index (:meth:`Columns.rows_equal`), and only
    those rows are tested against the rest. Rules that test one category among many thus touch
    only that category's events.

    Examples
    --------
    >>> from omnicore.campaigns._rules import AllOf, Compare
    >>> cols = Columns({"category": np.array(["a", "b", "a"], dtype=STRING_DTYPE),
    ...                 "price": np.array([5.0, 50.0, 60.0])}, 3)
    >>> RowSelector(AllOf((Compare("price", "gt", 10), Compare("category", "eq", "a"))))(cols).tolist()
    [2]
    """

    def __init__(self, predicate: Predicate | None) -> None:
        self.field: str | None = None
        self.value = ""
        rest: Predicate | None = predicate
        equality = _text_equality(predicate)
        if equality is not None:
            self.field, self.value, rest = equality.field, str(equality.value), None
        elif isinstance(predicate, AllOf):
            for i, arg in enumerate(predicate.args):
                equality = _text_equality(arg)
                if equality is not None:
                    others = predicate.args[:i] + predicate.args[i + 1 :]
                    self.field, self.value = equality.field, str(equality.value)
                    rest = None if not others else others[0] if len(others) == 1 else AllOf(others)
                    break
        self.rest_predicate = rest
        self.rest = None if rest is None else compile_predicate(rest)

    def __call__(self, cols: Columns) -> npt.NDArray[np.intp]:
        """Ascending row numbers (of ``cols``) where the predicate holds."""
        if self.field is not None:
            local = cols.rows_equal(self.field, self.value)
            if self.rest is None or local.size == 0:
                return local
            return local[self.rest(cols.select(local))]
        if self.rest is None:
            return np.arange(cols.n, dtype=np.intp)
        return np.flatnonzero(self.rest(cols))
