"""cattrs hooks for allocation values on the library's converter (rules travel as JSON)."""

from __future__ import annotations

from typing import Any

from omnicore._serde import converter

__all__ = ["register_hooks"]


def _float_or_none(value: Any, _: Any) -> float | None:
    return None if value is None else float(value)


def register_hooks() -> None:
    """Register structure hooks for the allocation rule and cost types (idempotent)."""
    converter.register_structure_hook(float | None, _float_or_none)
