"""Orders to route: lines (sku, quantity) grouped by order, with method, location and policies."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import attrs
import numpy as np
import numpy.typing as npt

from omnicore._errors import ValidationError
from omnicore.allocation._network import _iter_columns
from omnicore.data._columns import (
    STRING_DTYPE,
    as_bool_column,
    as_float_column,
    as_id_column,
    as_int_column,
    as_string_column,
    column_field,
    freeze,
)

__all__ = ["METHODS", "OrderPolicy", "Orders"]

#: Fulfilment methods: ship to the customer, pick up in a chosen store, same-day delivery.
METHODS: Final = ("ship", "pickup", "same_day")
_ALIASES: Final = {
    "ship": "ship",
    "ship_to_home": "ship",
    "home": "ship",
    "delivery": "ship",
    "online": "ship",
    "pickup": "pickup",
    "pick_up": "pickup",
    "bopis": "pickup",
    "click_and_collect": "pickup",
    "click_collect": "pickup",
    "store_pickup": "pickup",
    "same_day": "same_day",
    "sameday": "same_day",
    "same-day": "same_day",
}


def _positive_int(_: Any, attribute: attrs.Attribute[Any], value: int | None) -> None:
    if value is not None and value < 1:
        raise ValidationError("must be at least 1", field=attribute.name, value=value)


@attrs.frozen(kw_only=True)
class OrderPolicy:
    """Default policies for orders that do not carry their own.

    Parameters
    ----------
    allow_split
        May an order ship from more than one node (and a line be split across nodes)?
    max_shipments
        Upper bound on shipments per order when splitting is allowed (None: no bound).
    allow_partial
        May an order be partly filled (the rest backordered), or is it all-or-nothing?
    """

    allow_split: bool = True
    max_shipments: int | None = attrs.field(default=None, validator=_positive_int)
    allow_partial: bool = True


def normalise_methods(values: npt.ArrayLike) -> npt.NDArray[Any]:
    """Map method labels and common aliases (``"bopis"``, ``"ship_to_home"``) to :data:`METHODS`."""
    array = np.asarray(values).astype(STRING_DTYPE)
    lowered = np.strings.lower(np.strings.strip(array))
    uniques, codes = np.unique(lowered, return_inverse=True)
    mapped = []
    for i, label in enumerate(uniques.tolist()):
        if label not in _ALIASES:
            row = int(np.flatnonzero(codes == i)[0])
            raise ValidationError(
                f"unknown fulfilment method; expected one of {METHODS}", field="method", row=row, value=label
            )
        mapped.append(_ALIASES[label])
    return np.asarray(mapped, dtype=STRING_DTYPE)[codes.reshape(-1)]


@attrs.frozen(kw_only=True, repr=False)
class Orders:
    """A set of orders: one row per order, plus their lines in order-contiguous blocks.

    Build it with :meth:`from_lines` (one row per line, order attributes repeated) or
    :meth:`from_table` (e.g. the synthetic retailer's ``open_orders``).

    Parameters
    ----------
    order_id
        Unique order ids (text or int64).
    lat, lon
        The customer's location (ignored for pick-up orders).
    method
        ``"ship"``, ``"pickup"`` or ``"same_day"`` per order.
    pickup_node
        The chosen pick-up node id as text ('' when not a pick-up order).
    channel
        Sales channel, for per-channel stock pools ('' when unknown).
    allow_split, max_shipments, allow_partial
        Per-order policies (see :class:`OrderPolicy`); ``max_shipments`` 0 means no bound.
    line_start
        Lines of order ``i`` are ``line_start[i]:line_start[i + 1]`` (length ``n_orders + 1``).
    sku, quantity
        Per line: the product and the units ordered (positive).
    """

    order_id: npt.NDArray[Any] = column_field(as_id_column())
    lat: npt.NDArray[np.float64] = column_field(as_float_column())
    lon: npt.NDArray[np.float64] = column_field(as_float_column())
    method: npt.NDArray[Any] = column_field(as_string_column())
    pickup_node: npt.NDArray[Any] = column_field(as_string_column(allow_empty=True))
    channel: npt.NDArray[Any] = column_field(as_string_column(allow_empty=True))
    allow_split: npt.NDArray[np.bool_] = column_field(as_bool_column())
    max_shipments: npt.NDArray[np.int64] = column_field(as_int_column(nonnegative=True))
    allow_partial: npt.NDArray[np.bool_] = column_field(as_bool_column())
    line_start: npt.NDArray[np.int64] = column_field(as_int_column(nonnegative=True))
    sku: npt.NDArray[Any] = column_field(as_id_column())
    quantity: npt.NDArray[np.int64] = column_field(as_int_column(nonnegative=True))

    def __attrs_post_init__(self) -> None:
        n = len(self.order_id)
        for name in (
            "lat",
            "lon",
            "method",
            "pickup_node",
            "channel",
            "allow_split",
            "max_shipments",
            "allow_partial",
        ):
            if len(getattr(self, name)) != n:
                raise ValidationError(f"column has {len(getattr(self, name))} rows, expected {n}", field=name)
        if len(self.line_start) != n + 1 or (n + 1 and self.line_start[0] != 0):
            raise ValidationError(
                "line_start must have n_orders + 1 entries starting at 0", field="line_start"
            )
        if np.any(np.diff(self.line_start) <= 0):
            row = int(np.flatnonzero(np.diff(self.line_start) <= 0)[0])
            raise ValidationError("every order needs at least one line", field="line_start", row=row)
        if len(self.sku) != int(self.line_start[-1]) or len(self.quantity) != len(self.sku):
            raise ValidationError("sku and quantity must have line_start[-1] rows", field="sku")
        if np.any(self.quantity <= 0):
            row = int(np.flatnonzero(self.quantity <= 0)[0])
            raise ValidationError(
                "quantity must be positive", field="quantity", row=row, value=self.quantity[row]
            )
        bad_method = ~np.isin(self.method, np.asarray(METHODS, dtype=STRING_DTYPE))
        if bad_method.any():
            row = int(np.flatnonzero(bad_method)[0])
            raise ValidationError(
                f"method must be one of {METHODS}", field="method", row=row, value=self.method[row]
            )
        needs_node = (self.method == "pickup") & (np.strings.str_len(self.pickup_node) == 0)
        if needs_node.any():
            row = int(np.flatnonzero(needs_node)[0])
            raise ValidationError("pick-up order without a pickup_node", field="pickup_node", row=row)
        if len(self.sku) > 1:
            _, sku_codes = np.unique(self.sku, return_inverse=True)
            pair = self.line_order * (int(sku_codes.max()) + 1) + sku_codes.reshape(-1)
            if len(np.unique(pair)) < len(pair):
                raise ValidationError("an order has two lines of the same sku (merge them)", field="sku")
        if n > 1 and len(np.unique(self.order_id)) < n:
            raise ValidationError("duplicate order id", field="order_id")
        bad = (np.abs(self.lat) > 90) | (np.abs(self.lon) > 180)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise ValidationError("coordinates out of range", field="lat", row=row)

    def __len__(self) -> int:
        return len(self.order_id)

    def __repr__(self) -> str:
        return f"Orders(orders={len(self)}, lines={self.n_lines}, units={int(self.quantity.sum())})"

    @property
    def n_lines(self) -> int:
        """Number of lines over all orders."""
        return len(self.sku)

    @property
    def line_order(self) -> npt.NDArray[np.int64]:
        """Per line, the position of its order."""
        out: npt.NDArray[np.int64] = np.repeat(np.arange(len(self), dtype=np.int64), np.diff(self.line_start))
        return freeze(out)

    def take(self, positions: npt.ArrayLike) -> Orders:
        """The orders at these positions (integer array), with their lines, in the given order."""
        pos = np.asarray(positions, dtype=np.int64)
        counts = np.diff(self.line_start)[pos]
        starts = self.line_start[:-1][pos]
        line_index = np.repeat(starts - np.concatenate(([0], np.cumsum(counts)[:-1])), counts) + np.arange(
            int(counts.sum())
        )
        return Orders(
            order_id=self.order_id[pos],
            lat=self.lat[pos],
            lon=self.lon[pos],
            method=self.method[pos],
            pickup_node=self.pickup_node[pos],
            channel=self.channel[pos],
            allow_split=self.allow_split[pos],
            max_shipments=self.max_shipments[pos],
            allow_partial=self.allow_partial[pos],
            line_start=np.concatenate(([0], np.cumsum(counts))),
            sku=self.sku[line_index],
            quantity=self.quantity[line_index],
        )

    @classmethod
    def from_lines(
        cls,
        *,
        order_id: npt.ArrayLike,
        sku: npt.ArrayLike,
        quantity: npt.ArrayLike,
        lat: npt.ArrayLike | None = None,
        lon: npt.ArrayLike | None = None,
        method: npt.ArrayLike | None = None,
        pickup_node: npt.ArrayLike | None = None,
        channel: npt.ArrayLike | None = None,
        allow_split: npt.ArrayLike | None = None,
        max_shipments: npt.ArrayLike | None = None,
        allow_partial: npt.ArrayLike | None = None,
        policy: OrderPolicy | None = None,
    ) -> Orders:
        """Build from one row per line; order attributes are taken from each order's first line.

        Lines of the same order need not be adjacent; orders keep the order of first appearance and
        repeated (order, sku) lines are merged into one line with the quantities summed.

        Parameters
        ----------
        order_id, sku, quantity
            Per line.
        lat, lon
            Customer location per line (default 0; needed for ship and same-day orders).
        method
            Per line: ``"ship"`` (default), ``"pickup"``, ``"same_day"`` or an alias such as ``"bopis"``.
        pickup_node
            Per line: the pick-up node of pick-up orders (None or '' otherwise).
        channel
            Per line: sales channel.
        allow_split, max_shipments, allow_partial
            Per-line policies (the first line of an order wins); missing ones come from ``policy``.
        policy
            Defaults for missing policies.

        Returns
        -------
        Orders

        Examples
        --------
        >>> orders = Orders.from_lines(order_id=["o1", "o1", "o2"], sku=["A", "B", "A"], quantity=[1, 2, 1],
        ...                            lat=[31.2] * 3, lon=[121.5] * 3)
        >>> len(orders), orders.n_lines, orders.line_start.tolist()
        (2, 3, [0, 2, 3])
        """
        policy = policy or OrderPolicy()
        ids = np.asarray(order_id)
        n_lines = len(ids)
        if n_lines == 0:
            raise ValidationError("no order lines", field="order_id")
        if ids.dtype == object:
            ids = np.asarray(ids.tolist())
        uniques, first, codes = np.unique(ids, return_index=True, return_inverse=True)
        codes = codes.reshape(-1)
        # renumber orders by first appearance
        rank = np.empty(len(uniques), np.int64)
        rank[np.argsort(first, kind="stable")] = np.arange(len(uniques))
        codes = rank[codes]
        first_line = np.sort(first)
        sku_array = np.asarray(sku)
        qty_array = np.asarray(quantity)
        if len(sku_array) != n_lines or len(qty_array) != n_lines:
            raise ValidationError(f"sku and quantity need {n_lines} rows", field="sku")
        # merge repeated (order, sku) lines: one line per sku per order, quantities summed
        _, sku_codes = np.unique(sku_array, return_inverse=True)
        pair = codes * (int(sku_codes.max()) + 1) + sku_codes.reshape(-1)
        _, pair_first, pair_codes = np.unique(pair, return_index=True, return_inverse=True)
        pair_codes = pair_codes.reshape(-1)
        if len(pair_first) < n_lines:
            merged_qty = np.bincount(pair_codes, weights=qty_array.astype(np.float64)).astype(np.int64)
            keep = np.sort(pair_first)
            qty_array = merged_qty[pair_codes[keep]]
            sku_array = sku_array[keep]
            codes = codes[keep]
        line_perm = np.argsort(codes, kind="stable")
        counts = np.bincount(codes, minlength=len(uniques))

        def per_order(value: npt.ArrayLike | None, default: Any, dtype: Any = None) -> npt.NDArray[Any]:
            if value is None:
                return np.full(len(uniques), default, dtype=dtype)
            array = np.asarray(value)
            if array.ndim == 0:
                return np.full(len(uniques), array.item(), dtype=dtype)
            if len(array) != n_lines:
                raise ValidationError(f"expected {n_lines} rows, got {len(array)}", field="order attribute")
            return array[first_line]

        pickup = per_order(pickup_node, "", object)
        pickup = np.asarray(
            ["" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v) for v in pickup.tolist()],
            dtype=STRING_DTYPE,
        )
        chan = per_order(channel, "", object)
        chan = np.asarray(["" if v is None else str(v) for v in chan.tolist()], dtype=STRING_DTYPE)
        max_ship = per_order(max_shipments, policy.max_shipments or 0, object)
        max_ship = np.asarray([0 if v is None or v != v else int(v) for v in max_ship.tolist()], np.int64)
        return cls(
            order_id=ids[first_line],
            lat=per_order(lat, 0.0, np.float64),
            lon=per_order(lon, 0.0, np.float64),
            method=normalise_methods(per_order(method, "ship", object)),
            pickup_node=pickup,
            channel=chan,
            allow_split=per_order(allow_split, policy.allow_split, bool).astype(bool),
            max_shipments=max_ship,
            allow_partial=per_order(allow_partial, policy.allow_partial, bool).astype(bool),
            line_start=np.concatenate(([0], np.cumsum(counts))),
            sku=sku_array[line_perm],
            quantity=qty_array[line_perm],
        )

    @classmethod
    def from_table(
        cls, table: Any, *, policy: OrderPolicy | None = None, columns: Mapping[str, str] | None = None
    ) -> Orders:
        """Build from a table of lines (dataframe, mapping of columns, or the retailer's ``open_orders``).

        Reads ``order_id``, ``sku``, ``quantity``, ``lat``, ``lon``, ``method``, ``pickup_node``,
        ``channel`` and, when present, ``allow_split``, ``max_shipments``, ``allow_partial``; other
        columns (``customer_id``, ``created_at``) are ignored.

        Parameters
        ----------
        table
            The source table, one row per line.
        policy
            Defaults for missing policy columns.
        columns
            Renames, source name -> parameter name of :meth:`from_lines`.

        Returns
        -------
        Orders
        """
        wanted = {
            "order_id",
            "sku",
            "quantity",
            "lat",
            "lon",
            "method",
            "pickup_node",
            "channel",
            "allow_split",
            "max_shipments",
            "allow_partial",
        }
        renames = dict(columns or {})
        data: dict[str, Any] = {}
        for source, value in _iter_columns(table):
            name = renames.get(source, source)
            if name in wanted:
                data[name] = value
        for required in ("order_id", "sku", "quantity"):
            if required not in data:
                raise ValidationError("column is required", field=required)
        return cls.from_lines(policy=policy, **data)
