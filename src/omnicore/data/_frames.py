"""Dataframe interop by duck typing: pandas, polars and pyarrow are never imported unless used."""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from omnicore._errors import DependencyError, ValidationError
from omnicore.data._columns import STRING_DTYPE
from omnicore.data._grouping import unique_sorted
from omnicore.data._text_codes import keep_codes

__all__ = ["frame_columns", "frame_kind", "to_frame"]


def frame_kind(frame: Any) -> str:
    """Name the library a table comes from: ``"pandas"``, ``"polars"``, ``"pyarrow"`` or ``"mapping"``."""
    module = type(frame).__module__.split(".", 1)[0]
    if module in {"pandas", "polars", "pyarrow"}:
        return module
    if isinstance(frame, Mapping):
        return "mapping"
    raise ValidationError(
        "expected a pandas, polars or pyarrow table, or a mapping of column name to array",
        field="frame",
        value=type(frame).__name__,
    )


def frame_columns(frame: Any) -> dict[str, npt.NDArray[Any]]:
    """Every column of ``frame`` as a numpy array, keyed by column name.

    Timezone-aware timestamps are converted to UTC and made naive, so that nothing is lost on the way in.
    """
    kind = frame_kind(frame)
    if kind == "mapping":
        return {str(k): np.asarray(v) for k, v in frame.items()}
    if kind == "pandas":
        return {str(name): _pandas_column(frame[name]) for name in frame.columns}
    if kind == "polars":
        return {name: _polars_column(frame.get_column(name)) for name in frame.columns}
    table = frame if hasattr(frame, "column_names") else frame.to_table()
    return {name: _arrow_column(table.column(name)) for name in table.column_names}


def _coded_text(codes: Any, values: Any) -> npt.NDArray[Any] | None:
    """The text column ``values[codes]`` with its codes kept, from a categorical or dictionary column;
    None (take the general path) when a value is missing or the dictionary repeats a value."""
    codes = np.asarray(codes).astype(np.intp, copy=False)
    uniques = np.asarray(values, dtype=STRING_DTYPE)
    if (codes.size and int(codes.min()) < 0) or unique_sorted(uniques).size != uniques.size:
        return None
    column: npt.NDArray[Any] = uniques[codes]
    keep_codes(column, uniques, codes)
    return column


def _pandas_column(series: Any) -> npt.NDArray[Any]:
    text_categories = str(series.dtype) == "category" and series.cat.categories.inferred_type in {
        "string",
        "empty",
    }
    if text_categories:
        coded = _coded_text(series.cat.codes.to_numpy(), series.cat.categories.to_numpy(dtype=object))
        if coded is not None:
            return coded
    tz = (
        getattr(getattr(series, "dt", None), "tz", None) if str(series.dtype).startswith("datetime") else None
    )
    if tz is not None:
        series = series.dt.tz_convert("UTC").dt.tz_localize(None)
    if text_categories or str(series.dtype) in {"string", "str"} or series.dtype == object:
        return np.asarray(series.to_numpy(dtype=object, na_value=None))
    return np.asarray(series.to_numpy())


def _polars_column(series: Any) -> npt.NDArray[Any]:
    dtype = series.dtype
    if getattr(dtype, "time_zone", None):
        series = series.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
    if str(dtype).startswith(("Categorical", "Enum")) and importlib.util.find_spec("pyarrow") is not None:
        import pyarrow as pa

        return _arrow_column(pa.chunked_array([series.to_arrow()]))  # a dictionary array in Arrow
    if str(dtype).startswith(("String", "Utf8", "Categorical", "Enum")):
        return np.array(series.to_list(), dtype=object)
    return np.asarray(series.to_numpy())


def _arrow_column(column: Any) -> npt.NDArray[Any]:
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_timestamp(column.type) and column.type.tz is not None:
        column = pc.cast(column, pa.timestamp(column.type.unit))
    kind = column.type
    if pa.types.is_dictionary(kind) and (
        pa.types.is_string(kind.value_type) or pa.types.is_large_string(kind.value_type)
    ):
        if column.num_chunks and column.null_count == 0:
            unified = column.unify_dictionaries()
            codes = np.concatenate([chunk.indices.to_numpy(zero_copy_only=False) for chunk in unified.chunks])
            coded = _coded_text(codes, unified.chunk(0).dictionary.to_pylist())
            if coded is not None:
                return coded
        column = pc.cast(column, kind.value_type)  # decoded, with its nulls
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        return np.array(column.to_pylist(), dtype=object)
    return np.asarray(column.to_numpy(zero_copy_only=False))


def _export(array: npt.NDArray[Any]) -> npt.NDArray[Any]:
    # Frame libraries understand object arrays of str, not numpy's StringDType.
    return array.astype(object) if array.dtype == STRING_DTYPE else np.asarray(array)


def to_frame(columns: Mapping[str, npt.NDArray[Any]], library: str) -> Any:
    """Build a pandas, polars or pyarrow table from numpy columns."""
    try:
        module = importlib.import_module(library)
    except ImportError as exc:
        raise DependencyError(
            f"{library} is not installed; install it or `pip install omnicore[frames]`"
        ) from exc
    exported = {name: _export(array) for name, array in columns.items()}
    if library == "pandas":
        return module.DataFrame(exported)
    if library == "polars":
        return module.DataFrame({k: v.tolist() if v.dtype == object else v for k, v in exported.items()})
    if library == "pyarrow":
        return module.table({k: module.array(v) for k, v in exported.items()})
    raise ValidationError("unknown table library", field="library", value=library)
