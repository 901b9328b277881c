"""pyspark, imported only when a Spark function is called, with the one warning omnicore silences."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from typing import Any

from omnicore._errors import DependencyError, ValidationError

__all__ = ["quiet_udfs", "require_columns", "spark_modules"]


def spark_modules() -> tuple[Any, Any]:
    """``(pyspark.sql.functions, pyspark.sql.types)``, or a DependencyError naming the extra."""
    try:
        from pyspark.sql import functions, types
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise DependencyError("Spark support needs pyspark: pip install 'omnicore[spark]'") from exc
    return functions, types


@contextlib.contextmanager
def quiet_udfs() -> Iterator[None]:
    """Build Arrow UDFs without pyspark's warning about pandas 3: omnicore's UDFs never use pandas."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="PySpark does not yet fully support pandas", category=FutureWarning
        )
        yield


def require_columns(df: Any, columns: dict[str, str]) -> None:
    """Raise a ValidationError naming the argument when a column is missing from ``df``."""
    present = set(df.columns)
    for argument, name in columns.items():
        if name not in present:
            raise ValidationError(
                f"no such column in the DataFrame (columns: {', '.join(sorted(present))})",
                field=argument,
                value=name,
            )
