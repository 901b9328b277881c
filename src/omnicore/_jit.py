"""Compiled loops for the hot paths that numpy cannot vectorise (sequential state, early exits).

``jit`` wraps :func:`numba.njit` in nopython mode with an on-disk cache (compiled once per machine)
and the GIL released, so a compiled kernel can run beside another thread. The wrapper keeps the
function's own signature for mypy. Set ``NUMBA_DISABLE_JIT=1`` to run kernels as plain Python
(for debugging and coverage); results must not depend on it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import numba

__all__ = ["jit"]

F = TypeVar("F", bound=Callable[..., Any])


def jit(func: F) -> F:
    """Compile ``func`` with numba (nopython, cached, GIL released) and keep its type."""
    return cast(F, numba.njit(cache=True, nogil=True)(func))
