"""Blocking rules and comparison levels for probabilistic record linkage, vectorised over pairs.

Tables are mappings of field name to column (a pandas/polars frame works too); text is compared after
trimming, and ``""``/None/NaN count as missing. String similarity comes from rapidfuzz's compiled
``cpdist`` (element-wise over pairs, multi-threaded), never a Python loop over pairs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt
from rapidfuzz.distance import JaroWinkler, Levenshtein
from rapidfuzz.process import cpdist

from omnicore._errors import ValidationError
from omnicore.data import STRING_DTYPE
from omnicore.identity._text import unique_text_full

__all__ = ["BlockingRule", "Comparison", "block", "compare", "text_columns"]

_KINDS = ("exact", "jaro_winkler", "levenshtein", "date", "numeric")


def _fields(value: Any) -> tuple[str, ...]:
    out = (value,) if isinstance(value, str) else tuple(value)
    if not out or not all(isinstance(v, str) and v for v in out):
        raise ValidationError("expected one or more field names", field="fields", value=value)
    return out


@attrs.frozen
class BlockingRule:
    """Candidate pairs agree exactly on every one of ``fields`` (none of them missing).

    Parameters
    ----------
    fields
        Field names, e.g. ``("surname",)`` or ``("postcode", "date_of_birth")``.
    prefix
        Compare only the first ``prefix`` characters of each field (None: whole values).

    Examples
    --------
    >>> BlockingRule(("surname", "postcode"))
    BlockingRule(fields=('surname', 'postcode'), prefix=None)
    """

    fields: tuple[str, ...] = attrs.field(converter=_fields)
    prefix: int | None = None


def _levels_ok(instance: Comparison, attribute: attrs.Attribute[Any], value: tuple[float, ...]) -> None:
    if instance.kind == "jaro_winkler" and not all(0 < t <= 1 for t in value):
        raise ValidationError("Jaro-Winkler thresholds lie in (0, 1]", field=attribute.name, value=value)
    if instance.kind in ("levenshtein", "date", "numeric") and not all(t >= 0 for t in value):
        raise ValidationError("thresholds must be non-negative", field=attribute.name, value=value)
    if instance.kind == "jaro_winkler" and list(value) != sorted(value, reverse=True):
        raise ValidationError(
            "Jaro-Winkler thresholds go from strict to loose", field=attribute.name, value=value
        )
    if instance.kind in ("levenshtein", "date", "numeric") and list(value) != sorted(value):
        raise ValidationError(
            "distance thresholds go from strict to loose", field=attribute.name, value=value
        )


@attrs.frozen(kw_only=True)
class Comparison:
    """How one field is compared: ordered agreement levels from exact to "else".

    Levels: 0 = a value is missing (no evidence), 1 = exact, then one level per threshold, and a last
    "else" level. For ``"date"`` there is also a day/month transposition level after exact.

    Parameters
    ----------
    field
        The field name.
    kind
        ``"exact"``, ``"jaro_winkler"`` (thresholds: similarity, e.g. ``(0.92, 0.88)``),
        ``"levenshtein"`` (thresholds: edit distance, e.g. ``(1, 2)``), ``"date"`` (values as
        ``YYYYMMDD`` or ISO text; thresholds: edit distance on the digits, then ``days`` apart) or
        ``"numeric"`` (thresholds: absolute difference).
    thresholds
        See ``kind``.
    days
        For dates: a further level for dates at most this many days apart (None: no such level).
    term_frequency
        Adjust the exact level's weight by how common the value is (a match on a rare surname is
        stronger evidence than one on "Smith").

    Examples
    --------
    >>> c = Comparison(field="surname", kind="jaro_winkler", thresholds=(0.92, 0.8))
    >>> c.level_names()
    ('null', 'exact', 'jaro_winkler >= 0.92', 'jaro_winkler >= 0.8', 'else')
    """

    field: str = attrs.field(validator=attrs.validators.min_len(1))
    kind: str = attrs.field(validator=attrs.validators.in_(_KINDS))
    thresholds: tuple[float, ...] = attrs.field(default=(), converter=tuple, validator=_levels_ok)
    days: int | None = None
    term_frequency: bool = False

    def level_names(self) -> tuple[str, ...]:
        """Names of the levels, index = level."""
        names = ["null", "exact"]
        if self.kind == "date":
            names.append("day/month transposed")
        names += [
            f"{self.kind} {'>=' if self.kind == 'jaro_winkler' else '<='} {t:g}" for t in self.thresholds
        ]
        if self.kind == "date" and self.days is not None:
            names.append(f"within {self.days} days")
        names.append("else")
        return tuple(names)

    @property
    def n_levels(self) -> int:
        """Number of levels, the null level included."""
        return len(self.level_names())


def text_columns(table: Any, fields: Sequence[str]) -> dict[str, npt.NDArray[Any]]:
    """The named fields of a table as trimmed text columns, ``""`` for missing.

    Parameters
    ----------
    table
        A mapping of field name to column, or a pandas/polars frame.
    fields
        Field names.

    Returns
    -------
    dict
        Field name to ``StringDType`` column.

    Raises
    ------
    ValidationError
        For a missing field or columns of different lengths.
    """
    out: dict[str, npt.NDArray[Any]] = {}
    n: int | None = None
    for name in fields:
        try:
            column = table[name]
        except (KeyError, IndexError):
            raise ValidationError("no such field in the table", field=name) from None
        to_numpy = getattr(column, "to_numpy", None)
        raw = np.asarray(to_numpy() if callable(to_numpy) else column)
        if raw.dtype.kind == "O":
            text = np.array(
                [v if isinstance(v, str) else ("" if _missing(v) else str(v)) for v in raw.tolist()],
                dtype=STRING_DTYPE,
            )
        elif raw.dtype.kind == "f":
            text = np.array(["" if np.isnan(v) else f"{v:g}" for v in raw.tolist()], dtype=STRING_DTYPE)
        else:
            text = raw.astype(STRING_DTYPE)
        text = np.strings.strip(text)
        if n is not None and text.size != n:
            raise ValidationError("columns differ in length", field=name)
        n = text.size
        out[name] = text
    return out


def _missing(value: Any) -> bool:
    return (
        value is None or (isinstance(value, float) and np.isnan(value)) or str(value).strip() in ("", "nan")
    )


def _block_keys(columns: Mapping[str, npt.NDArray[Any]], rule: BlockingRule) -> npt.NDArray[Any]:
    key: npt.NDArray[Any] | None = None
    present: npt.NDArray[np.bool_] | None = None
    for name in rule.fields:
        col = columns[name]
        if rule.prefix is not None:
            col = np.strings.slice(col, 0, rule.prefix)
        ok = np.strings.str_len(col) > 0
        present = ok if present is None else present & ok
        key = col if key is None else np.strings.add(np.strings.add(key, "\x1f"), col)
    if key is None or present is None:  # unreachable: a rule has at least one field
        raise ValidationError("a blocking rule needs at least one field", field="fields")
    return np.where(present, key, np.array("", dtype=STRING_DTYPE)).astype(STRING_DTYPE)


def _pairs_within(codes: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """All pairs i < j of rows sharing a code (codes < 0 never pair)."""
    rows = np.flatnonzero(codes >= 0)
    order = rows[np.argsort(codes[rows], kind="stable")]
    c = codes[order]
    if c.size == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    starts = np.flatnonzero(np.r_[True, c[1:] != c[:-1]])
    sizes = np.diff(np.r_[starts, c.size])
    # for each row at position p in its group of size s: pairs with the following s - 1 - offset rows
    group_start = np.repeat(starts, sizes)
    offset = np.arange(c.size) - group_start
    n_after = np.repeat(sizes, sizes) - 1 - offset
    first = np.repeat(np.arange(c.size), n_after)
    within = np.arange(first.size) - np.repeat(np.cumsum(n_after) - n_after, n_after)
    second = first + 1 + within
    a, b = order[first], order[second]
    return np.minimum(a, b).astype(np.int64), np.maximum(a, b).astype(np.int64)


def _pairs_across(
    left_codes: npt.NDArray[np.int64], right_codes: npt.NDArray[np.int64], n_codes: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """All pairs (i, j) with left_codes[i] == right_codes[j] >= 0."""
    r_rows = np.flatnonzero(right_codes >= 0)
    r_order = r_rows[np.argsort(right_codes[r_rows], kind="stable")]
    r_count = np.bincount(right_codes[r_rows], minlength=n_codes)
    r_start = np.cumsum(r_count) - r_count
    l_rows = np.flatnonzero(left_codes >= 0)
    reps = r_count[left_codes[l_rows]]
    i = np.repeat(l_rows, reps)
    within = np.arange(i.size) - np.repeat(np.cumsum(reps) - reps, reps)
    j = r_order[np.repeat(r_start[left_codes[l_rows]], reps) + within]
    return i.astype(np.int64), j.astype(np.int64)


def block(
    left: Any, right: Any | None = None, *, rules: Sequence[BlockingRule]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Candidate pairs: the union, without duplicates, of the pairs each blocking rule yields.

    Parameters
    ----------
    left
        The table (deduplication) or the left table (linkage).
    right
        The right table for linkage; None to deduplicate ``left``.
    rules
        Blocking rules; a pair is a candidate when any rule holds.

    Returns
    -------
    i, j
        Row positions, sorted by ``(i, j)``; for deduplication ``i < j``.

    Examples
    --------
    >>> t = {"name": ["ann", "ann", "bob", "ann"], "zip": ["1", "2", "1", "1"]}
    >>> i, j = block(t, rules=[BlockingRule("name"), BlockingRule("zip")])
    >>> list(zip(i.tolist(), j.tolist()))
    [(0, 1), (0, 2), (0, 3), (1, 3), (2, 3)]
    """
    if not rules:
        raise ValidationError("at least one blocking rule is needed", field="rules")
    fields = sorted({f for rule in rules for f in rule.fields})
    lcols = text_columns(left, fields)
    rcols = text_columns(right, fields) if right is not None else None
    n_left = next(iter(lcols.values())).size
    n_right = next(iter(rcols.values())).size if rcols is not None else n_left
    codes_all: list[npt.NDArray[np.int64]] = []
    for rule in rules:
        lk = _block_keys(lcols, rule)
        if rcols is None:
            uniq, _, inv, _ = unique_text_full(lk)
            inv = np.where(lk == "", -1, inv)
            i, j = _pairs_within(inv)
        else:
            rk = _block_keys(rcols, rule)
            uniq, _, inv, _ = unique_text_full(np.concatenate([lk, rk]))
            inv = np.where(np.concatenate([lk, rk]) == "", -1, inv)
            i, j = _pairs_across(inv[:n_left], inv[n_left:], uniq.size)
        codes_all.append(i * n_right + j)
    codes = np.unique(np.concatenate(codes_all))
    return codes // n_right, codes % n_right


@attrs.frozen
class Encoded:
    """Fields of one or two tables as integer codes into a shared vocabulary (-1 = missing)."""

    left: dict[str, npt.NDArray[np.int64]]
    right: dict[str, npt.NDArray[np.int64]]
    vocab: dict[str, npt.NDArray[Any]]  # object arrays of str


def encode(left: Any, right: Any | None, fields: Sequence[str]) -> Encoded:
    """Factorise each field over both tables once; pairs are then compared through their codes."""
    lcols = text_columns(left, fields)
    rcols = text_columns(right, fields) if right is not None else None
    out_l: dict[str, npt.NDArray[np.int64]] = {}
    out_r: dict[str, npt.NDArray[np.int64]] = {}
    vocab: dict[str, npt.NDArray[Any]] = {}
    for name in fields:
        col = lcols[name] if rcols is None else np.concatenate([lcols[name], rcols[name]])
        values, _, codes, _ = unique_text_full(col)
        codes = np.where(np.strings.str_len(col) == 0, -1, codes)
        n_left = lcols[name].size
        out_l[name] = codes[:n_left]
        out_r[name] = codes[n_left:] if rcols is not None else codes
        vocab[name] = np.array(values.tolist(), dtype=object)
    return Encoded(out_l, out_r, vocab)


def compare(
    left: Any,
    right: Any | None,
    i: npt.NDArray[np.int64],
    j: npt.NDArray[np.int64],
    comparisons: Sequence[Comparison],
    *,
    workers: int = -1,
    encoded: Encoded | None = None,
) -> npt.NDArray[np.int8]:
    """Comparison vectors: the agreement level of every field for every pair.

    Parameters
    ----------
    left, right
        Tables (``right=None`` compares ``left`` with itself).
    i, j
        Row positions of the pairs.
    comparisons
        One comparison per field.
    workers
        Threads for rapidfuzz (-1: all cores).
    encoded
        The tables already encoded with :func:`encode` (saves work when comparing several pair sets).

    Returns
    -------
    numpy.ndarray
        ``int8`` matrix of shape ``(n_pairs, len(comparisons))``; see :class:`Comparison` for levels.

    Notes
    -----
    Values are factorised once per field, so missing and exact agreement are integer comparisons;
    similarities are computed only for the remaining pairs, with rapidfuzz ``cpdist``.

    Examples
    --------
    >>> t = {"name": ["martha", "marhta", ""]}
    >>> c = Comparison(field="name", kind="jaro_winkler", thresholds=(0.9,))
    >>> compare(t, None, np.array([0, 0]), np.array([1, 2]), [c]).ravel().tolist()
    [2, 0]
    """
    enc = encoded if encoded is not None else encode(left, right, sorted({c.field for c in comparisons}))
    i = np.asarray(i, dtype=np.int64)
    j = np.asarray(j, dtype=np.int64)
    gamma = np.zeros((i.size, len(comparisons)), dtype=np.int8)
    for k, comp in enumerate(comparisons):
        gamma[:, k] = _levels(
            comp, enc.left[comp.field][i], enc.right[comp.field][j], enc.vocab[comp.field], workers
        )
    return gamma


def _levels(
    comp: Comparison,
    ca: npt.NDArray[np.int64],
    cb: npt.NDArray[np.int64],
    vocab: npt.NDArray[Any],
    workers: int,
) -> npt.NDArray[np.int8]:
    null = (ca < 0) | (cb < 0)
    exact = (ca == cb) & ~null
    level = np.full(ca.size, comp.n_levels - 1, dtype=np.int8)
    level[exact] = 1
    level[null] = 0
    todo = np.flatnonzero(~null & ~exact)
    if todo.size == 0:
        return level
    pa, pb = ca[todo], cb[todo]
    pair_level = np.full(todo.size, comp.n_levels - 1, dtype=np.int8)
    next_level = 2
    remaining = np.arange(todo.size)
    if comp.kind == "date":
        digits = np.array([v.replace("-", "") for v in vocab.tolist()], dtype=object)
        swapped = np.array(
            [d[:4] + d[6:8] + d[4:6] if len(d) == 8 else "" for d in digits.tolist()], dtype=object
        )
        hit = (swapped[pa] == digits[pb]) & (swapped[pa] != "")
        pair_level[hit] = next_level
        next_level += 1
        remaining = remaining[~hit]
        strings = digits
    else:
        strings = vocab
    if comp.kind in ("jaro_winkler", "levenshtein", "date"):
        a_list = strings[pa[remaining]].tolist()
        b_list = strings[pb[remaining]].tolist()
        if comp.kind == "jaro_winkler":
            # score_cutoff lets rapidfuzz stop early on pairs below the loosest threshold
            score = cpdist(
                a_list,
                b_list,
                scorer=JaroWinkler.normalized_similarity,
                workers=workers,
                dtype=np.float32,
                score_cutoff=min(comp.thresholds) - 1e-6 if comp.thresholds else None,
            )
            passes = [score >= np.float32(t) - 1e-6 for t in comp.thresholds]
        else:
            dist = cpdist(
                a_list,
                b_list,
                scorer=Levenshtein.distance,
                workers=workers,
                dtype=np.int32,
                score_cutoff=int(max(comp.thresholds)) if comp.thresholds else None,
            )
            passes = [dist <= t for t in comp.thresholds]
        assigned = np.zeros(remaining.size, dtype=bool)
        for hit in passes:
            new = hit & ~assigned
            pair_level[remaining[new]] = next_level
            assigned |= new
            next_level += 1
        remaining = remaining[~assigned]
        if comp.kind == "date" and comp.days is not None:
            dates = _as_dates(strings)
            da, db = dates[pa[remaining]], dates[pb[remaining]]
            ok = ~np.isnat(da) & ~np.isnat(db)
            near = np.zeros(remaining.size, dtype=bool)
            near[ok] = np.abs((da[ok] - db[ok]).astype(np.int64)) <= comp.days
            pair_level[remaining[near]] = next_level
    elif comp.kind == "numeric":
        numbers = _as_numbers(vocab)
        diff = np.abs(numbers[pa] - numbers[pb])
        assigned = np.zeros(todo.size, dtype=bool)
        for t in comp.thresholds:
            hit = ~assigned & (diff <= t)
            pair_level[hit] = next_level
            assigned |= hit
            next_level += 1
    level[todo] = pair_level
    return level


def _as_dates(vocab: npt.NDArray[Any]) -> npt.NDArray[np.datetime64]:
    """Parse ``YYYYMMDD`` digit strings (one per distinct value); NaT where invalid."""
    out = np.full(vocab.size, np.datetime64("NaT"), dtype="datetime64[D]")
    for k, d in enumerate(vocab.tolist()):
        if len(d) == 8 and d.isdigit():
            with contextlib.suppress(ValueError):
                out[k] = np.datetime64(f"{d[:4]}-{d[4:6]}-{d[6:]}", "D")
    return out


def _as_numbers(vocab: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
    """Parse numbers (one per distinct value); NaN where invalid."""
    out = np.full(vocab.size, np.nan)
    for k, text in enumerate(vocab.tolist()):
        with contextlib.suppress(ValueError):
            out[k] = float(text)
    return out
