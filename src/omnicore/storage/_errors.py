"""Storage-specific errors (all derive from :class:`omnicore.StorageError`)."""

from __future__ import annotations

from omnicore._errors import ConflictError

__all__ = ["InsufficientStockError"]


class InsufficientStockError(ConflictError):
    """A reservation line asks for more than is available to promise.

    Attributes
    ----------
    sku, node
        The first line that does not fit.
    requested, available
        Units asked for and units available to promise at that moment.
    """

    def __init__(self, sku: object, node: object, requested: int, available: int) -> None:
        self.sku = sku
        self.node = node
        self.requested = requested
        self.available = available
        super().__init__(
            f"insufficient stock for sku {sku!r} at node {node!r}: requested {requested}, "
            f"available {available}"
        )
