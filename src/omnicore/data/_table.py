"""Shared behaviour of the columnar containers: length checks, records and dataframe interop."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar, Self

import attrs
import numpy as np
import numpy.typing as npt

from omnicore._errors import ValidationError
from omnicore.data._columns import STRING_DTYPE
from omnicore.data._frames import frame_columns, to_frame
from omnicore.data._text_codes import carry_codes

__all__ = ["Table"]


class Table:
    """Mixin for attrs classes whose fields are equal-length columns.

    Subclasses mark column fields with :func:`omnicore.data._columns.column_field` and may hold one
    mapping of extra property columns (:func:`~omnicore.data._columns.properties_field`).
    """

    #: Column name used for the length reported in errors.
    _length_anchor: ClassVar[str]

    def __attrs_post_init__(self) -> None:
        lengths = {name: len(column) for name, column in self._columns().items()}
        expected = lengths[self._length_anchor]
        for name, size in lengths.items():
            if size != expected:
                raise ValidationError(
                    f"column has {size} rows but {self._length_anchor!r} has {expected}",
                    field=name,
                )
        self._validate()

    def _validate(self) -> None:
        """Cross-column checks; subclasses override."""

    # -- introspection -------------------------------------------------------------------------
    @classmethod
    def column_names(cls) -> tuple[str, ...]:
        """Names of the fixed columns, in declaration order."""
        return tuple(f.name for f in attrs.fields(cls) if f.metadata.get("column"))  # type: ignore[arg-type]

    @classmethod
    def required_columns(cls) -> tuple[str, ...]:
        """Names of the columns that must be given."""
        return tuple(
            f.name
            for f in attrs.fields(cls)  # type: ignore[arg-type]
            if f.metadata.get("column") and not f.metadata.get("optional")
        )

    @classmethod
    def _properties_name(cls) -> str | None:
        for f in attrs.fields(cls):  # type: ignore[arg-type]
            if f.metadata.get("properties"):
                return str(f.name)
        return None

    def _columns(self) -> dict[str, npt.NDArray[Any]]:
        columns: dict[str, npt.NDArray[Any]] = {}
        for name in self.column_names():
            value = getattr(self, name)
            if value is not None:
                columns[name] = value
        prop_name = self._properties_name()
        if prop_name is not None:
            for key, value in getattr(self, prop_name).items():
                columns[f"{prop_name}.{key}"] = value
        return columns

    def __len__(self) -> int:
        return len(getattr(self, self._length_anchor))

    def __repr__(self) -> str:
        columns = ", ".join(f"{n}: {c.dtype}" for n, c in self._columns().items())
        return f"{type(self).__name__}(rows={len(self)}, {columns})"

    # -- construction --------------------------------------------------------------------------
    @classmethod
    def from_arrays(cls, **columns: Any) -> Self:
        """Build from keyword columns (numpy arrays or sequences); same as the constructor."""
        return cls(**columns)

    @classmethod
    def from_records(cls, records: Iterable[Mapping[str, Any] | Any], **options: Any) -> Self:
        """Build from an iterable of mappings (or objects with attributes), one per row.

        Keys that are not columns become properties where the container has them.
        """
        names = cls.column_names()
        prop_name = cls._properties_name()
        data: dict[str, list[Any]] = {n: [] for n in names}
        props: dict[str, list[Any]] = {}
        for count, record in enumerate(records):
            row = record if isinstance(record, Mapping) else _as_mapping(record)
            for name in names:
                data[name].append(row.get(name))
            if prop_name is not None:
                extra = dict(row.get(prop_name) or {})
                extra.update({k: v for k, v in row.items() if k not in names and k != prop_name})
                for key, value in extra.items():
                    props.setdefault(key, [None] * count).append(value)
            for column in props.values():
                if len(column) <= count:
                    column.append(None)
        kwargs: dict[str, Any] = {}
        for name, values in data.items():
            if all(v is None for v in values) and name not in cls.required_columns():
                continue
            kwargs[name] = _as_array(values)
        if prop_name is not None and props:
            kwargs[prop_name] = {k: _as_array(v) for k, v in props.items()}
        return cls(**kwargs, **options)

    @classmethod
    def from_frame(
        cls,
        frame: Any,
        *,
        rename: Mapping[str, str] | None = None,
        **options: Any,
    ) -> Self:
        """Build from a pandas, polars or pyarrow table (or a mapping of column name to array).

        Parameters
        ----------
        frame
            The table. Its column names are matched to this container's columns after ``rename``.
        rename
            Map from the table's column names to this container's, e.g. ``{"member_id": "customer_id"}``.
        **options
            Passed to the constructor (e.g. ``allow_returns=True``).
        """
        columns = frame_columns(frame)
        if rename:
            columns = {rename.get(k, k): v for k, v in columns.items()}
        names = set(cls.column_names())
        prop_name = cls._properties_name()
        kwargs: dict[str, Any] = {k: v for k, v in columns.items() if k in names}
        extra = {k: v for k, v in columns.items() if k not in names}
        if prop_name is not None:
            prefix = f"{prop_name}."
            kwargs[prop_name] = {k.removeprefix(prefix): v for k, v in extra.items()}
        elif extra:
            raise ValidationError(
                f"unknown columns for {cls.__name__}: expected some of {sorted(names)}",
                field=sorted(extra)[0],
            )
        missing = [n for n in cls.required_columns() if n not in kwargs]
        if missing:
            raise ValidationError(f"missing required column(s) {missing}", field=missing[0])
        return cls(**kwargs, **options)

    # -- export --------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, npt.NDArray[Any]]:
        """The columns as a plain dict of numpy arrays (properties as ``properties.<name>``)."""
        return dict(self._columns())

    def to_pandas(self) -> Any:
        """Convert to a :class:`pandas.DataFrame` (needs pandas)."""
        return to_frame(self._columns(), "pandas")

    def to_polars(self) -> Any:
        """Convert to a :class:`polars.DataFrame` (needs polars)."""
        return to_frame(self._columns(), "polars")

    def to_arrow(self) -> Any:
        """Convert to a :class:`pyarrow.Table` (needs pyarrow)."""
        return to_frame(self._columns(), "pyarrow")

    def to_records(self) -> list[dict[str, Any]]:
        """One dict of Python values per row (for small tables, tests and JSON)."""
        columns = {k: v.tolist() for k, v in self._columns().items()}
        return [dict(zip(columns, row, strict=True)) for row in zip(*columns.values(), strict=True)]

    # -- selection -----------------------------------------------------------------------------
    def take(self, indices: npt.ArrayLike) -> Self:
        """Rows at ``indices`` (integer positions or a boolean mask), as a new container."""
        index = np.asarray(indices)
        changes: dict[str, Any] = {}
        for name in self.column_names():
            value = getattr(self, name)
            if value is not None:
                changes[name] = _take(value, index)
        prop_name = self._properties_name()
        if prop_name is not None:
            changes[prop_name] = {k: _take(v, index) for k, v in getattr(self, prop_name).items()}
        return attrs.evolve(self, **changes)  # type: ignore[misc]

    @classmethod
    def concat(cls, tables: Sequence[Self]) -> Self:
        """Stack tables of this type row-wise; optional columns must be present in all or none."""
        if not tables:
            raise ValidationError("nothing to concatenate", field="tables")
        first = tables[0]
        changes: dict[str, Any] = {}
        for name in cls.column_names():
            parts = [getattr(t, name) for t in tables]
            present = [p is not None for p in parts]
            if all(present):
                changes[name] = _concat(parts)
            elif any(present):
                raise ValidationError("optional column present in some tables only", field=name)
        prop_name = cls._properties_name()
        if prop_name is not None:
            all_props = [getattr(t, prop_name) for t in tables]
            keys = set().union(*(p.keys() for p in all_props))
            changes[prop_name] = {
                k: _concat(
                    [
                        _property_or_missing(all_props, p, k, len(t))
                        for p, t in zip(all_props, tables, strict=True)
                    ]
                )
                for k in keys
            }
        return attrs.evolve(first, **changes)  # type: ignore[misc]


def _take(column: npt.NDArray[Any], index: npt.NDArray[Any]) -> npt.NDArray[Any]:
    taken: npt.NDArray[Any] = column[index]
    carry_codes(column, taken, index)  # dictionary codes of text follow the rows
    return taken


def _concat(parts: Sequence[npt.NDArray[Any]]) -> npt.NDArray[Any]:
    kinds = {p.dtype.kind for p in parts if len(p)}
    if len(kinds) > 1:
        # mixing integer and text ids: text wins
        return np.concatenate([p.astype(STRING_DTYPE) for p in parts])
    nonempty = [p for p in parts if len(p)] or list(parts[:1])
    return np.concatenate(nonempty)


def _property_or_missing(
    props_of_all: Sequence[Mapping[str, npt.NDArray[Any]]],
    props: Mapping[str, npt.NDArray[Any]],
    key: str,
    n: int,
) -> npt.NDArray[Any]:
    if key in props:
        return props[key]
    # Fill with the missing value of the column's type, as the container defines it for each kind.
    template = next(p[key] for p in props_of_all if key in p)
    if template.dtype == STRING_DTYPE:
        return np.full(n, "", dtype=STRING_DTYPE)
    if template.dtype.kind == "M":
        return np.full(n, np.datetime64("NaT"), dtype=template.dtype)
    if template.dtype.kind == "b":
        return np.zeros(n, bool)
    return np.full(n, np.nan)


def _as_mapping(record: Any) -> Mapping[str, Any]:
    if attrs.has(type(record)):
        return attrs.asdict(record, recurse=False)
    return dict(vars(record))


def _as_array(values: list[Any]) -> npt.NDArray[Any]:
    array = np.empty(len(values), dtype=object)
    array[:] = values
    return array
