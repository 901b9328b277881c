"""The library's one cattrs converter: numpy columns, timestamps and enums to and from JSON.

Capabilities register hooks for their own types here (``converter.register_...``) and never use the
global cattrs converter, so embedding applications keep theirs untouched.
"""

from __future__ import annotations

import json
import math
from typing import Any, TypeVar, get_origin

import cattrs
import numpy as np
import numpy.typing as npt
from cattrs.preconf.json import make_converter

from omnicore._errors import ValidationError
from omnicore.data._columns import STRING_DTYPE, TIME_DTYPE

__all__ = ["converter", "from_json", "structure", "to_json", "unstructure"]

T = TypeVar("T")

converter: cattrs.Converter = make_converter()

# Arrays travel as {"dtype": tag, "data": [...]} so that int ids stay ints, text stays text and
# timestamps stay timestamps; floats write NaN as null (JSON has no NaN).
_TAGS = {"i": "int64", "u": "int64", "f": "float64", "b": "bool", "M": "datetime64[us]"}


def _is_ndarray(tp: Any) -> bool:
    return tp is np.ndarray or get_origin(tp) is np.ndarray


def _unstructure_array(array: npt.NDArray[Any]) -> dict[str, Any]:
    if array.dtype == STRING_DTYPE or array.dtype.kind in "USO":
        return {"dtype": "string", "data": [str(v) for v in array.tolist()]}
    tag = _TAGS.get(array.dtype.kind)
    if tag is None:
        raise ValidationError("cannot serialise array", field="dtype", value=str(array.dtype))
    if tag == "datetime64[us]":
        data: list[Any] = np.datetime_as_string(array.astype(TIME_DTYPE), unit="us").tolist()
    elif tag == "float64":
        data = [None if math.isnan(v) else v for v in array.tolist()]
    else:
        data = array.tolist()
    return {"dtype": tag, "data": data}


def _structure_array(value: Any, _: Any) -> npt.NDArray[Any]:
    if isinstance(value, list):
        return np.asarray(value)
    if not isinstance(value, dict) or "data" not in value:
        raise ValidationError("expected {'dtype': ..., 'data': [...]}", field="array", value=value)
    tag, data = value.get("dtype"), value["data"]
    if tag == "string":
        return np.array(data, dtype=STRING_DTYPE)
    if tag == "float64":
        return np.array([np.nan if v is None else v for v in data], dtype=np.float64)
    if tag in {"int64", "bool", "datetime64[us]"}:
        return np.array(data, dtype=tag)
    raise ValidationError("unknown array dtype tag", field="dtype", value=tag)


def _unstructure_datetime64(value: np.datetime64) -> str:
    return str(np.datetime_as_string(value.astype(TIME_DTYPE), unit="us"))


converter.register_unstructure_hook_func(_is_ndarray, _unstructure_array)
converter.register_structure_hook_func(_is_ndarray, _structure_array)
converter.register_unstructure_hook(np.datetime64, _unstructure_datetime64)
converter.register_structure_hook(np.datetime64, lambda v, _: np.datetime64(v, "us"))


def unstructure(value: Any) -> Any:
    """Turn an omnicore value into JSON-ready builtins."""
    return converter.unstructure(value)


def structure(data: Any, cls: type[T]) -> T:
    """Build an omnicore value of type ``cls`` from builtins, reporting every bad field at once.

    Raises
    ------
    ValidationError
        With one entry in ``problems`` per bad field, each naming its path.
    """
    try:
        return converter.structure(data, cls)
    except cattrs.ClassValidationError as exc:
        raise _grouped(exc, cls.__name__) from exc


def to_json(value: Any, *, indent: int | None = None) -> str:
    """Serialise an omnicore value to JSON text."""
    return json.dumps(unstructure(value), indent=indent, ensure_ascii=False, allow_nan=False)


def from_json(text: str | bytes, cls: type[T]) -> T:
    """Parse JSON text into an omnicore value of type ``cls`` (see :func:`structure`)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"invalid JSON: {exc.msg}", field="$", row=exc.lineno) from None
    return structure(data, cls)


def _grouped(exc: cattrs.ClassValidationError, root: str) -> ValidationError:
    problems: list[ValidationError] = []
    for message in cattrs.transform_error(exc, path=root):
        description, _, path = message.partition(" @ ")
        problems.append(ValidationError(description, field=path or None))
    first = problems[0] if problems else ValidationError("invalid value", field=root)
    return ValidationError(
        f"{len(problems)} invalid field(s) in {root}", field=first.field, problems=problems
    )
