"""Compiled loops for the hot paths that numpy cannot vectorise (sequential state, early exits).

``jit`` wraps :func:`numba.njit` in nopython mode with an on-disk cache (compiled once per machine)
and the GIL released, so a compiled kernel can run beside another thread. The wrapper keeps the
function's own signature for mypy. Set ``NUMBA_DISABLE_JIT=1`` to run kernels as plain Python
(for debugging and coverage); results must not depend on it.

numba takes about half a second to import, so ``import omnicore`` does not import it: a kernel
decorated before numba is loaded is a stand-in, and the first call of any stand-in imports numba,
makes every pending kernel a numba dispatcher and puts the dispatchers in place of the stand-ins in
the globals of the omnicore modules. Kernels that call one another then see dispatchers when numba
compiles them, and later calls skip the stand-in.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import Any, TypeVar, cast

__all__ = ["jit"]

F = TypeVar("F", bound=Callable[..., Any])

_lock = threading.Lock()
_pending: list[_PendingKernel] = []
_njit: Callable[[Callable[..., Any]], Any] | None = None


class _PendingKernel:
    """A kernel whose numba dispatcher is made on the first call of any kernel."""

    __slots__ = ("__dict__", "dispatcher", "func")

    def __init__(self, func: Callable[..., Any]) -> None:
        self.func = func
        self.dispatcher: Any = None
        self.__dict__.update(getattr(func, "__dict__", {}))
        self.__dict__["__wrapped__"] = func
        self.__dict__["__doc__"] = func.__doc__
        self.__dict__["__name__"] = func.__name__
        self.__dict__["__qualname__"] = func.__qualname__
        self.__dict__["__module__"] = func.__module__

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.dispatcher is None:
            _load_numba()
        return self.dispatcher(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<omnicore kernel {self.func.__module__}.{self.func.__qualname__} (not yet loaded)>"


def _load_numba() -> None:
    global _njit
    with _lock:
        if _njit is not None:
            return
        import numba

        njit = numba.njit(cache=True, nogil=True)
        swaps: dict[int, Any] = {}
        for kernel in _pending:
            kernel.dispatcher = njit(kernel.func)
            swaps[id(kernel)] = kernel.dispatcher
        for module in list(sys.modules.values()):
            namespace = getattr(module, "__dict__", None)
            if not isinstance(namespace, dict):
                continue
            for attr, value in list(namespace.items()):
                if isinstance(value, _PendingKernel) and id(value) in swaps:
                    namespace[attr] = swaps[id(value)]
        _pending.clear()
        _njit = njit


def jit(func: F) -> F:
    """Compile ``func`` with numba (nopython, cached, GIL released) and keep its type."""
    with _lock:
        if _njit is not None:
            return cast(F, _njit(func))
        kernel = _PendingKernel(func)
        _pending.append(kernel)
        return cast(F, kernel)
