"""Column converters: the one boundary where raw user input becomes clean, read-only numpy columns.

Each converter is an :class:`attrs.Converter` that receives the field, so a failure names the column, the
first offending row and its value. Inside the library every column is trusted.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, Final

import attrs
import numpy as np
import numpy.typing as npt

from omnicore._errors import ValidationError
from omnicore.data._text_codes import carry_codes, encode_fixed_width, text_codes

__all__ = [
    "STRING_DTYPE",
    "TIME_DTYPE",
    "TIME_MAX",
    "TIME_MIN",
    "array_equal",
    "as_bool_column",
    "as_float_column",
    "as_id_column",
    "as_int_column",
    "as_property_columns",
    "as_string_column",
    "as_time_column",
    "column_field",
    "freeze",
    "to_datetime64",
]

#: Variable-width UTF-8 strings: compact for millions of short ids, unlike fixed-width ``<U``.
STRING_DTYPE: Final = np.dtypes.StringDType()
#: Every timestamp is UTC, microsecond resolution, timezone-naive.
TIME_DTYPE: Final = np.dtype("datetime64[us]")
#: Timestamps before this are treated as placeholders or unit mistakes (e.g. seconds read as days).
TIME_MIN: Final = np.datetime64("1970-01-01T00:00:00", "us")
#: Timestamps from this on are treated as placeholders (``9999-12-31``) or unit mistakes.
TIME_MAX: Final = np.datetime64("2100-01-01T00:00:00", "us")


def freeze(array: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """Return a read-only view of ``array`` (the caller's array stays writable)."""
    view = array.view()
    view.flags.writeable = False
    carry_codes(array, view)
    return view


def array_equal(a: npt.NDArray[Any] | None, b: npt.NDArray[Any] | None) -> bool:
    """Equality for optional columns: same dtype kind, same shape, equal values (NaN equals NaN)."""
    if a is None or b is None:
        return a is b
    if a.shape != b.shape or a.dtype.kind != b.dtype.kind:
        return False
    if a.dtype.kind == "f":
        return bool(np.array_equal(a, b, equal_nan=True))
    return bool(np.array_equal(a, b))


def _first_bad(mask: npt.NDArray[np.bool_]) -> int:
    return int(np.flatnonzero(mask)[0])


def _fail(name: str, message: str, values: Any, mask: npt.NDArray[np.bool_]) -> ValidationError:
    row = _first_bad(mask)
    count = int(mask.sum())
    more = f" ({count} rows)" if count > 1 else ""
    return ValidationError(message + more, field=name, row=row, value=values[row])


def _one_dimensional(name: str, value: Any) -> npt.NDArray[Any]:
    if isinstance(value, str | bytes) or np.isscalar(value):
        raise ValidationError(
            "expected a column (a sequence or array), not a scalar", field=name, value=value
        )
    array = value if isinstance(value, np.ndarray) else np.asarray(_materialise(value))
    if array.ndim != 1:
        raise ValidationError(f"expected a one-dimensional column, got shape {array.shape}", field=name)
    return array


def _materialise(value: Any) -> Any:
    # pandas/polars/pyarrow columns expose to_numpy(); generators become lists.
    to_numpy = getattr(value, "to_numpy", None)
    if callable(to_numpy):
        return to_numpy()
    if not hasattr(value, "__len__"):
        return list(value)
    return value


def _strings(
    name: str, array: npt.NDArray[Any], *, allow_empty: bool, encode: bool = False
) -> npt.NDArray[Any]:
    if array.dtype == STRING_DTYPE:
        result = array
    elif array.dtype.kind in "US":
        result = array.astype(STRING_DTYPE)
        if encode:
            encode_fixed_width(array, result)
    elif array.dtype.kind == "O" or array.size == 0:
        bad = np.fromiter((not isinstance(v, str) for v in array), dtype=bool, count=array.size)
        if bad.any():
            raise _fail(name, "expected text", array, bad)
        result = array.astype(STRING_DTYPE)
    else:
        raise ValidationError(f"expected text, got dtype {array.dtype}", field=name)
    if not allow_empty and result.size:
        coded = text_codes(result)
        if coded is not None:  # test each distinct value once
            uniques, codes = coded
            blank = (np.strings.str_len(uniques) == 0) | np.strings.isspace(uniques)
            if blank.any() and blank[codes].any():  # (a value may be in the codes' values, not in rows)
                coded = None
        if coded is None:
            empty = (np.strings.str_len(result) == 0) | np.strings.isspace(result)
            if empty.any():
                raise _fail(name, "empty or blank value", result, empty)
    return result


def _id_array(name: str, value: Any) -> npt.NDArray[Any]:
    array = _one_dimensional(name, value)
    if array.dtype.kind in "iu":
        if array.dtype.kind == "u" and array.size and int(array.max()) > np.iinfo(np.int64).max:
            raise ValidationError("integer id does not fit in int64", field=name)
        return array.astype(np.int64, copy=False)
    if array.dtype.kind == "f":
        raise ValidationError(
            "ids must be integers or text, not floats (a float id loses digits and cannot be missing)",
            field=name,
            value=array[0] if array.size else None,
        )
    if array.dtype.kind == "O" and array.size:
        is_int = np.fromiter(
            (isinstance(v, int | np.integer) and not isinstance(v, bool) for v in array),
            bool,
            array.size,
        )
        if is_int.all():
            return array.astype(np.int64)
    return _strings(name, array, allow_empty=False)


def _time_array(name: str, value: Any) -> npt.NDArray[np.datetime64]:
    array = _one_dimensional(name, value)
    if array.dtype.kind == "M":
        result = array.astype(TIME_DTYPE, copy=False)
    elif array.dtype.kind in "OUT" or array.dtype == STRING_DTYPE:
        result = _parse_times(name, array)
    else:
        raise ValidationError(
            f"expected timestamps (datetime64, datetime or ISO-8601 text), got dtype {array.dtype}",
            field=name,
            value=array[0] if array.size else None,
        )
    missing = np.isnat(result)
    if missing.any():
        raise _fail(name, "missing timestamp", array, missing)
    out_of_range = (result < TIME_MIN) | (result >= TIME_MAX)
    if out_of_range.any():
        raise _fail(name, f"timestamp outside [{TIME_MIN}, {TIME_MAX})", result, out_of_range)
    return result


def to_datetime64(value: Any, *, field: str = "timestamp") -> np.datetime64:
    """Convert one timestamp (datetime, date, ISO text or datetime64) to UTC ``datetime64[us]``."""
    return _time_array(field, [value])[0]  # type: ignore[no-any-return]


def _parse_times(name: str, array: npt.NDArray[Any]) -> npt.NDArray[np.datetime64]:
    out = np.empty(array.size, dtype=TIME_DTYPE)
    for i, item in enumerate(array):
        try:
            out[i] = _one_time(item)
        except (TypeError, ValueError) as exc:
            raise ValidationError(f"not a timestamp: {exc}", field=name, row=i, value=item) from None
    return out


def _one_time(item: Any) -> np.datetime64:
    if item is None:
        return np.datetime64("NaT", "us")
    if isinstance(item, _dt.datetime):
        if item.tzinfo is not None:
            item = item.astimezone(_dt.UTC).replace(tzinfo=None)
        return np.datetime64(item, "us")
    if isinstance(item, _dt.date):
        return np.datetime64(item, "us")
    if isinstance(item, np.datetime64):
        return item.astype(TIME_DTYPE)
    if isinstance(item, str):
        return _one_time(_dt.datetime.fromisoformat(item.strip().replace("Z", "+00:00")))
    to_pydatetime = getattr(item, "to_pydatetime", None)  # pandas.Timestamp
    if callable(to_pydatetime):
        return _one_time(to_pydatetime())
    raise TypeError(f"unsupported type {type(item).__name__}")


def _float_array(name: str, value: Any, *, nonnegative: bool = False) -> npt.NDArray[np.float64]:
    array = _one_dimensional(name, value)
    if array.dtype.kind not in "iuf" and not (array.dtype.kind == "O" and array.size == 0):
        if array.dtype.kind == "O":
            try:
                array = array.astype(np.float64)
            except (TypeError, ValueError):
                bad = np.fromiter((not isinstance(v, int | float) for v in array), bool, array.size)
                raise _fail(name, "expected a number", array, bad) from None
        else:
            raise ValidationError(
                f"expected numbers, got dtype {array.dtype}",
                field=name,
                row=0 if array.size else None,
                value=array[0] if array.size else None,
            )
    result = array.astype(np.float64, copy=False)
    not_finite = ~np.isfinite(result)
    if not_finite.any():
        raise _fail(name, "NaN or infinite value", result, not_finite)
    if nonnegative:
        negative = result < 0
        if negative.any():
            raise _fail(name, "negative value", result, negative)
    return result


def _int_array(name: str, value: Any, *, nonnegative: bool = False) -> npt.NDArray[np.int64]:
    array = _one_dimensional(name, value)
    if array.dtype.kind == "f":
        whole = np.isfinite(array) & (array == np.round(array))
        if not whole.all():
            raise _fail(name, "expected whole numbers", array, ~whole)
    elif array.dtype.kind == "O":
        bad = np.fromiter(
            (not isinstance(v, int | np.integer) or isinstance(v, bool) for v in array),
            bool,
            array.size,
        )
        if bad.any():
            raise _fail(name, "expected an integer", array, bad)
    elif array.dtype.kind not in "iu" and array.size:
        raise ValidationError(f"expected integers, got dtype {array.dtype}", field=name)
    result = array.astype(np.int64)
    if nonnegative:
        negative = result < 0
        if negative.any():
            raise _fail(name, "negative value", result, negative)
    return result


def _bool_array(name: str, value: Any) -> npt.NDArray[np.bool_]:
    array = _one_dimensional(name, value)
    if array.dtype.kind != "b" and array.size:
        if array.dtype.kind in "iu" and np.isin(array, (0, 1)).all():
            return array.astype(bool)
        if array.dtype.kind == "O":
            bad = np.fromiter((not isinstance(v, bool | np.bool_) for v in array), bool, array.size)
            if not bad.any():
                return array.astype(bool)
            raise _fail(name, "expected a boolean", array, bad)
        raise ValidationError(f"expected booleans, got dtype {array.dtype}", field=name)
    return array.astype(bool, copy=False)


def _optional(
    convert: Callable[[str, Any], npt.NDArray[Any]],
) -> Callable[[Any, attrs.Attribute[Any]], npt.NDArray[Any] | None]:
    def run(value: Any, field: attrs.Attribute[Any]) -> npt.NDArray[Any] | None:
        if value is None:
            return None
        return freeze(convert(field.name, value))

    return run


def _required(
    convert: Callable[[str, Any], npt.NDArray[Any]],
) -> Callable[[Any, attrs.Attribute[Any]], npt.NDArray[Any]]:
    def run(value: Any, field: attrs.Attribute[Any]) -> npt.NDArray[Any]:
        if value is None:
            raise ValidationError("column is required", field=field.name)
        return freeze(convert(field.name, value))

    return run


def _pick(convert: Callable[[str, Any], npt.NDArray[Any]], optional: bool) -> attrs.Converter[Any, Any]:
    fn = _optional(convert) if optional else _required(convert)
    return attrs.Converter(fn, takes_field=True)


def as_id_column(*, optional: bool = False) -> attrs.Converter[Any, Any]:
    """Ids: int64 when every value is an integer, otherwise non-empty UTF-8 text."""
    return _pick(_id_array, optional)


def as_time_column(*, optional: bool = False) -> attrs.Converter[Any, Any]:
    """Timestamps: UTC ``datetime64[us]`` within [`TIME_MIN`, `TIME_MAX`)."""
    return _pick(_time_array, optional)


def as_float_column(*, optional: bool = False, nonnegative: bool = False) -> attrs.Converter[Any, Any]:
    """Finite float64 values."""

    def convert(name: str, value: Any) -> npt.NDArray[Any]:
        return _float_array(name, value, nonnegative=nonnegative)

    return _pick(convert, optional)


def as_int_column(*, optional: bool = False, nonnegative: bool = False) -> attrs.Converter[Any, Any]:
    """int64 values; floats are accepted only where they are whole."""

    def convert(name: str, value: Any) -> npt.NDArray[Any]:
        return _int_array(name, value, nonnegative=nonnegative)

    return _pick(convert, optional)


def as_string_column(
    *, optional: bool = False, allow_empty: bool = False, encode: bool = False
) -> attrs.Converter[Any, Any]:
    """UTF-8 text values (``StringDType``); ``encode``: keep dictionary codes of large fixed-width
    input (:mod:`omnicore.data._text_codes`)."""

    def convert(name: str, value: Any) -> npt.NDArray[Any]:
        return _strings(name, _one_dimensional(name, value), allow_empty=allow_empty, encode=encode)

    return _pick(convert, optional)


def as_bool_column(*, optional: bool = False) -> attrs.Converter[Any, Any]:
    """Boolean values (0/1 integers accepted)."""
    return _pick(_bool_array, optional)


def _property_array(name: str, value: Any) -> npt.NDArray[Any]:
    array = _one_dimensional(name, value)
    kind = array.dtype.kind
    if kind == "b":
        return array
    if kind in "iuf":
        return array.astype(np.float64, copy=False)
    if kind == "M":
        return array.astype(TIME_DTYPE)
    if kind in "US":
        text = array.astype(STRING_DTYPE)
        encode_fixed_width(array, text)
        return text
    if array.dtype == STRING_DTYPE:
        return array
    if kind == "O":
        present = [v for v in array if v is not None]
        if all(isinstance(v, bool) for v in present) and len(present) == array.size:
            return array.astype(bool)
        if all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
            return np.array([np.nan if v is None else v for v in array], dtype=np.float64)
        if all(isinstance(v, str) for v in present):
            return np.array(["" if v is None else v for v in array], dtype=STRING_DTYPE)
    raise ValidationError(
        "property columns hold numbers (NaN for missing), booleans, timestamps or text ('' for missing)",
        field=name,
        value=array[0] if array.size else None,
    )


def _properties(value: Any, field: attrs.Attribute[Any]) -> Mapping[str, npt.NDArray[Any]]:
    if value is None:
        return MappingProxyType({})
    if not isinstance(value, Mapping):
        raise ValidationError("expected a mapping of property name to column", field=field.name, value=value)
    out: dict[str, npt.NDArray[Any]] = {}
    for key in sorted(value):
        if not isinstance(key, str) or not key:
            raise ValidationError("property names must be non-empty text", field=field.name, value=key)
        out[key] = freeze(_property_array(f"{field.name}.{key}", value[key]))
    return MappingProxyType(out)


def as_property_columns() -> attrs.Converter[Any, Any]:
    """A mapping of property name to column; numbers become float64 with NaN for missing."""
    return attrs.Converter(_properties, takes_field=True)


def _mapping_equal(a: Mapping[str, npt.NDArray[Any]], b: Mapping[str, npt.NDArray[Any]]) -> bool:
    return a.keys() == b.keys() and all(array_equal(a[k], b[k]) for k in a)


def column_field(
    converter: attrs.Converter[Any, Any],
    *,
    optional: bool = False,
    doc: str = "",
) -> Any:
    """An attrs field holding one column: compared by value, excluded from hashing."""
    return attrs.field(
        converter=converter,
        default=None if optional else attrs.NOTHING,
        eq=attrs.cmp_using(eq=array_equal),
        hash=False,
        repr=False,
        metadata={"column": True, "optional": optional, "doc": doc},
    )


def properties_field() -> Any:
    """An attrs field holding a mapping of property columns."""
    return attrs.field(
        converter=as_property_columns(),
        factory=dict,
        eq=attrs.cmp_using(eq=_mapping_equal),
        hash=False,
        repr=False,
        metadata={"properties": True},
    )
