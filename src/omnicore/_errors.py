"""The omnicore exception hierarchy: every error the library raises derives from `OmnicoreError`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "ConflictError",
    "ConvergenceError",
    "DependencyError",
    "NotFoundError",
    "OmnicoreError",
    "StorageError",
    "TenantError",
    "ValidationError",
]


class OmnicoreError(Exception):
    """Base class of every error raised by omnicore."""


class ValidationError(OmnicoreError, ValueError):
    """Input failed validation.

    Parameters
    ----------
    message
        What is wrong, in words.
    field
        The column, attribute or JSON path that failed (``"amount"``, ``"rules[3].window"``).
    row
        The first offending row, where the input is columnar.
    value
        The offending value.
    problems
        Further problems found in the same input, so one error reports every bad field at once.
    """

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        row: int | None = None,
        value: Any = None,
        problems: Sequence[ValidationError] = (),
    ) -> None:
        self.message = message
        self.field = field
        self.row = row
        # numpy scalars read better as Python values: 'got nan', not 'got np.float64(nan)'
        self.value = value.item() if isinstance(value, np.generic) else value
        self.problems = tuple(problems)
        super().__init__(self._render())

    def _render(self) -> str:
        where = []
        if self.field is not None:
            where.append(f"field {self.field!r}")
        if self.row is not None:
            where.append(f"row {self.row}")
        head = f"{', '.join(where)}: " if where else ""
        text = f"{head}{self.message}"
        if self.value is not None:
            text += f" (got {self.value!r})"
        for extra in self.problems:
            text += f"\n  - {extra}"
        return text


class StorageError(OmnicoreError):
    """A store could not be opened, migrated, read or written."""


class ConflictError(StorageError):
    """An optimistic-concurrency check or an idempotency key conflicted with existing state."""


class NotFoundError(StorageError, KeyError):
    """A requested object does not exist in the store."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class TenantError(StorageError):
    """A call tried to cross a tenant boundary, or named an invalid tenant."""


class ConvergenceError(OmnicoreError):
    """A numerical fit or optimisation did not converge; the message says what to try."""


class DependencyError(OmnicoreError, ImportError):
    """An optional dependency is needed for this call; the message names the extra to install."""
