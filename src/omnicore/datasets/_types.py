"""Result types of the synthetic retailer: ground truth, network, catalog, open orders."""

from __future__ import annotations

from typing import Any, ClassVar

import attrs
import numpy as np
import numpy.typing as npt

from omnicore._errors import ValidationError
from omnicore.data import (
    STRING_DTYPE,
    Events,
    IdentifierRecords,
    Inventory,
    Table,
    Transactions,
    searchsorted,
)
from omnicore.data._columns import (
    array_equal,
    as_bool_column,
    as_float_column,
    as_id_column,
    as_int_column,
    as_string_column,
    as_time_column,
    column_field,
    freeze,
)
from omnicore.datasets._params import TrueParameters

__all__ = [
    "NODE_KINDS",
    "Catalog",
    "FulfilmentNetwork",
    "GroundTruth",
    "OpenOrders",
    "SyntheticPurchases",
    "SyntheticRetailer",
]

#: The kinds of fulfilment node.
NODE_KINDS = ("dc", "store", "dark_store")


def _fixed(dtype: Any) -> attrs.Converter[Any, npt.NDArray[Any]]:
    def convert(value: Any, field: attrs.Attribute[Any]) -> npt.NDArray[Any]:
        try:
            array = np.asarray(value).astype(dtype)
        except (TypeError, ValueError) as exc:
            raise ValidationError(f"cannot convert to {dtype}: {exc}", field=field.name) from None
        if array.ndim != 1:
            raise ValidationError(
                f"expected a one-dimensional array, got shape {array.shape}", field=field.name
            )
        return freeze(array)

    return attrs.Converter(convert, takes_field=True)


def _equal(a: npt.NDArray[Any], b: npt.NDArray[Any]) -> bool:
    """Arrays equal by value; NaN equals NaN and NaT equals NaT."""
    if a.dtype.kind == "M" and b.dtype.kind == "M" and a.shape == b.shape:
        both_nat = np.isnat(a) & np.isnat(b)
        return bool(np.all((a == b) | both_nat))
    return array_equal(a, b)


def _array_field(dtype: Any, doc: str = "") -> Any:
    return attrs.field(
        converter=_fixed(dtype),
        eq=attrs.cmp_using(eq=_equal),
        hash=False,
        repr=False,
        metadata={"doc": doc},
    )


def _same_length(instance: Any, names: tuple[str, ...]) -> None:
    sizes = {name: len(getattr(instance, name)) for name in names}
    expected = sizes[names[0]]
    for name, size in sizes.items():
        if size != expected:
            raise ValidationError(f"has {size} entries but {names[0]!r} has {expected}", field=name)


_PERSON_FIELDS = (
    "person_id",
    "lambda_",
    "dropout_p",
    "nu",
    "birth",
    "dropout_at",
    "alive_at_end",
    "n_purchases",
    "household_id",
)
_RECORD_FIELDS = ("record_id", "record_person")
_ROW_FIELDS = ("row_person", "canonical_value", "is_placeholder", "is_shared", "has_typo")


@attrs.frozen(kw_only=True, repr=False)
class GroundTruth:
    """What really happened behind the synthetic data: persons, their parameters and their records.

    Three groups of equal-length arrays: per person, per identifier record, and per row of
    :attr:`SyntheticRetailer.identifiers`.

    Parameters
    ----------
    person_id
        The true person ids (``customer_id`` in the transactions and events).
    lambda_
        Each person's BG/NBD purchase rate while alive (purchases per day).
    dropout_p
        Each person's BG/NBD dropout probability after a repeat purchase.
    nu
        Each person's Gamma-Gamma spend rate (mean spend per purchase is ``p / nu``).
    birth
        Each person's first purchase (the start of the relationship).
    dropout_at
        When the person dropped out (the time of their last purchase), ``NaT`` if alive at the end.
    alive_at_end
        Whether the person is still alive at the observation end.
    n_purchases
        Purchases (orders) in the window, the first included.
    household_id
        Persons sharing a household share this id (and a phone); otherwise it is the person id.
    record_id, record_person
        Each identifier record and the person it belongs to, ``-1`` for test and placeholder records.
    row_person
        Per identifier row, the person its record belongs to (``-1`` for nobody).
    canonical_value
        Per identifier row, the correct normalised value: phone as 11 digits, email in lower case
        without whitespace, other ids as issued. For a typo row it is the value that was meant.
    is_placeholder
        Per identifier row: the value is a placeholder (a store's default phone, ``test@test.com``).
    is_shared
        Per identifier row: the value is really used by two or more persons (a family phone).
    has_typo
        Per identifier row: the raw value carries a typo.
    """

    person_id: npt.NDArray[np.int64] = _array_field(np.int64)
    lambda_: npt.NDArray[np.float64] = _array_field(np.float64)
    dropout_p: npt.NDArray[np.float64] = _array_field(np.float64)
    nu: npt.NDArray[np.float64] = _array_field(np.float64)
    birth: npt.NDArray[np.datetime64] = _array_field("datetime64[us]")
    dropout_at: npt.NDArray[np.datetime64] = _array_field("datetime64[us]")
    alive_at_end: npt.NDArray[np.bool_] = _array_field(np.bool_)
    n_purchases: npt.NDArray[np.int64] = _array_field(np.int64)
    household_id: npt.NDArray[np.int64] = _array_field(np.int64)
    record_id: npt.NDArray[Any] = _array_field(STRING_DTYPE)
    record_person: npt.NDArray[np.int64] = _array_field(np.int64)
    row_person: npt.NDArray[np.int64] = _array_field(np.int64)
    canonical_value: npt.NDArray[Any] = _array_field(STRING_DTYPE)
    is_placeholder: npt.NDArray[np.bool_] = _array_field(np.bool_)
    is_shared: npt.NDArray[np.bool_] = _array_field(np.bool_)
    has_typo: npt.NDArray[np.bool_] = _array_field(np.bool_)

    def __attrs_post_init__(self) -> None:
        _same_length(self, _PERSON_FIELDS)
        _same_length(self, _RECORD_FIELDS)
        _same_length(self, _ROW_FIELDS)

    def __repr__(self) -> str:
        return (
            f"GroundTruth(persons={len(self.person_id)}, records={len(self.record_id)}, "
            f"identifier_rows={len(self.row_person)})"
        )

    def person_of(self, record_id: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """The true person behind each of ``record_id`` (``-1`` for records that belong to nobody).

        Raises
        ------
        ValidationError
            If a record id is not one of :attr:`record_id`.

        Examples
        --------
        >>> from omnicore.datasets import synthetic_retailer
        >>> data = synthetic_retailer(50, seed=0, n_skus=20, n_open_orders=0)
        >>> person = data.truth.person_of(data.identifiers.record_id)
        >>> bool((person == data.truth.row_person).all())
        True
        """
        wanted = np.asarray(record_id, dtype=STRING_DTYPE).reshape(-1)
        order = np.argsort(self.record_id, kind="stable")
        known = self.record_id[order]
        if len(known) == 0:
            at = np.zeros(len(wanted), dtype=np.int64)
            missing = np.ones(len(wanted), dtype=bool)
        else:
            at = np.minimum(searchsorted(known, wanted), len(known) - 1)
            missing = known[at] != wanted
        if missing.any():
            row = int(np.flatnonzero(missing)[0])
            raise ValidationError("unknown record id", field="record_id", row=row, value=str(wanted[row]))
        person: npt.NDArray[np.int64] = self.record_person[order][at]
        return person

    @property
    def dropped_out(self) -> npt.NDArray[np.bool_]:
        """Persons who dropped out before the observation end."""
        return ~self.alive_at_end


@attrs.frozen(kw_only=True, repr=False)
class FulfilmentNetwork(Table):
    """Fulfilment nodes: distribution centres, stores and dark stores, one row each.

    Parameters
    ----------
    node_id
        ``"DC-01"``, ``"S-001"``, ``"DS-01"``.
    kind
        ``"dc"``, ``"store"`` or ``"dark_store"``.
    city
        The city the node serves.
    lat, lon
        Coordinates in degrees (WGS84).
    can_ship
        The node ships parcels to customers.
    can_pickup
        Customers can pick orders up at the node.
    same_day
        The node can deliver on the same day.
    capacity_orders, capacity_units
        Orders and units the node can handle per day.
    fixed_cost_per_shipment
        Cost of one shipment from the node, CNY.
    cost_per_km
        Transport cost per km of a shipment from the node, CNY.
    handling_cost_per_unit
        Picking and packing cost per unit, CNY.

    Examples
    --------
    >>> net = FulfilmentNetwork(
    ...     node_id=["DC-01"], kind=["dc"], city=["Shanghai"], lat=[31.1], lon=[121.3], can_ship=[True],
    ...     can_pickup=[False], same_day=[False], capacity_orders=[5000], capacity_units=[15000],
    ...     fixed_cost_per_shipment=[8.0], cost_per_km=[0.02], handling_cost_per_unit=[0.8],
    ... )
    >>> len(net), net.kind.tolist()
    (1, ['dc'])
    """

    _length_anchor: ClassVar[str] = "node_id"

    node_id: npt.NDArray[Any] = column_field(as_string_column())
    kind: npt.NDArray[Any] = column_field(as_string_column())
    city: npt.NDArray[Any] = column_field(as_string_column())
    lat: npt.NDArray[np.float64] = column_field(as_float_column())
    lon: npt.NDArray[np.float64] = column_field(as_float_column())
    can_ship: npt.NDArray[np.bool_] = column_field(as_bool_column())
    can_pickup: npt.NDArray[np.bool_] = column_field(as_bool_column())
    same_day: npt.NDArray[np.bool_] = column_field(as_bool_column())
    capacity_orders: npt.NDArray[np.int64] = column_field(as_int_column(nonnegative=True))
    capacity_units: npt.NDArray[np.int64] = column_field(as_int_column(nonnegative=True))
    fixed_cost_per_shipment: npt.NDArray[np.float64] = column_field(as_float_column(nonnegative=True))
    cost_per_km: npt.NDArray[np.float64] = column_field(as_float_column(nonnegative=True))
    handling_cost_per_unit: npt.NDArray[np.float64] = column_field(as_float_column(nonnegative=True))

    def _validate(self) -> None:
        bad = ~np.isin(self.kind, np.array(NODE_KINDS, dtype=STRING_DTYPE))
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise ValidationError(
                f"kind must be one of {NODE_KINDS}", field="kind", row=row, value=self.kind[row]
            )
        for name, bound in (("lat", 90.0), ("lon", 180.0)):
            column = getattr(self, name)
            outside = np.abs(column) > bound
            if outside.any():
                row = int(np.flatnonzero(outside)[0])
                raise ValidationError(
                    "coordinate out of range", field=name, row=row, value=float(column[row])
                )
        _, counts = np.unique(self.node_id, return_counts=True)
        if (counts > 1).any():
            raise ValidationError("duplicate node_id", field="node_id")


@attrs.frozen(kw_only=True, repr=False)
class Catalog(Table):
    """The products: one row per SKU.

    Parameters
    ----------
    sku
        ``"SKU-00001"``.
    category
        Product category (``"sunscreen"``, ``"baby"``, ...).
    unit_price
        List price per unit, CNY.
    popularity
        Share of demand the SKU draws (sums to one over the catalog).
    """

    _length_anchor: ClassVar[str] = "sku"

    sku: npt.NDArray[Any] = column_field(as_string_column())
    category: npt.NDArray[Any] = column_field(as_string_column())
    unit_price: npt.NDArray[np.float64] = column_field(as_float_column(nonnegative=True))
    popularity: npt.NDArray[np.float64] = column_field(as_float_column(nonnegative=True))


@attrs.frozen(kw_only=True, repr=False)
class OpenOrders(Table):
    """A wave of open orders waiting for allocation, one row per order line.

    Parameters
    ----------
    order_id
        The order (several lines share it).
    sku
        The product.
    quantity
        Units wanted (positive).
    customer_id
        Who ordered (the true person id).
    lat, lon
        Delivery (or customer) location in degrees.
    method
        ``"ship"`` or ``"pickup"``.
    pickup_node
        The store chosen for pickup, ``''`` for shipped orders.
    channel
        Where the order was placed.
    created_at
        When the order was placed, UTC.

    Examples
    --------
    >>> orders = OpenOrders(
    ...     order_id=["W-1", "W-1"], sku=["SKU-1", "SKU-2"], quantity=[1, 2], customer_id=[7, 7],
    ...     lat=[31.2, 31.2], lon=[121.4, 121.4], method=["ship", "ship"], pickup_node=["", ""],
    ...     channel=["online", "online"], created_at=["2025-01-01T08:00", "2025-01-01T08:00"],
    ... )
    >>> int(orders.quantity.sum())
    3
    """

    _length_anchor: ClassVar[str] = "order_id"

    order_id: npt.NDArray[Any] = column_field(as_string_column())
    sku: npt.NDArray[Any] = column_field(as_string_column())
    quantity: npt.NDArray[np.int64] = column_field(as_int_column(nonnegative=True))
    customer_id: npt.NDArray[Any] = column_field(as_id_column())
    lat: npt.NDArray[np.float64] = column_field(as_float_column())
    lon: npt.NDArray[np.float64] = column_field(as_float_column())
    method: npt.NDArray[Any] = column_field(as_string_column())
    pickup_node: npt.NDArray[Any] = column_field(as_string_column(allow_empty=True))
    channel: npt.NDArray[Any] = column_field(as_string_column())
    created_at: npt.NDArray[np.datetime64] = column_field(as_time_column())

    def _validate(self) -> None:
        zero = self.quantity == 0
        if zero.any():
            row = int(np.flatnonzero(zero)[0])
            raise ValidationError("quantity must be positive", field="quantity", row=row, value=0)
        bad = ~np.isin(self.method, np.array(["ship", "pickup"], dtype=STRING_DTYPE))
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise ValidationError(
                "method must be 'ship' or 'pickup'", field="method", row=row, value=self.method[row]
            )
        pickup = self.method == "pickup"
        mismatch = pickup == (self.pickup_node == "")
        if mismatch.any():
            row = int(np.flatnonzero(mismatch)[0])
            raise ValidationError(
                "pickup_node must be set exactly on pickup orders",
                field="pickup_node",
                row=row,
                value=self.pickup_node[row],
            )


@attrs.frozen(kw_only=True, repr=False)
class SyntheticRetailer:
    """A synthetic omnichannel retailer and the truth behind it (see :func:`synthetic_retailer`).

    Attributes
    ----------
    transactions
        Order lines (``customer_id`` is the true person id), returns as negative rows.
    events
        Behavioural events: browse, add_to_cart, purchase, chat_message.
    identifiers
        Noisy identifier records from every source.
    truth
        The true persons, parameters, record owners and noise flags.
    network
        Fulfilment nodes.
    catalog
        Products with category, price and popularity.
    inventory
        Stock per (sku, node) consistent with ``network`` and ``catalog``.
    open_orders
        A wave of open order lines competing for stock.
    observation_end
        End of the observation window (exclusive), UTC.
    params
        The true parameters the data were drawn from.
    seed
        The seed that reproduces this dataset.
    """

    transactions: Transactions
    events: Events
    identifiers: IdentifierRecords
    truth: GroundTruth
    network: FulfilmentNetwork
    catalog: Catalog
    inventory: Inventory
    open_orders: OpenOrders
    observation_end: np.datetime64
    observation_start: np.datetime64
    params: TrueParameters
    seed: int

    def __repr__(self) -> str:
        return (
            f"SyntheticRetailer(seed={self.seed}, persons={len(self.truth.person_id)}, "
            f"transactions={len(self.transactions)}, events={len(self.events)}, "
            f"identifiers={len(self.identifiers)}, nodes={len(self.network)}, "
            f"inventory={len(self.inventory)}, open_order_lines={len(self.open_orders)}, "
            f"window=[{self.observation_start}, {self.observation_end}))"
        )


@attrs.frozen(kw_only=True, repr=False)
class SyntheticPurchases:
    """The purchases of a synthetic retailer alone (see :func:`synthetic_transactions`).

    Attributes
    ----------
    transactions
        Order lines (``customer_id`` is the true person id), returns as negative rows.
    catalog
        Products with category, price and popularity.
    truth
        The per-person truth; its identifier fields are empty.
    observation_start, observation_end
        The observation window ``[start, end)``, UTC.
    params
        The true parameters the purchases were drawn from.
    seed
        The seed that reproduces them.
    """

    transactions: Transactions
    catalog: Catalog
    truth: GroundTruth
    observation_end: np.datetime64
    observation_start: np.datetime64
    params: TrueParameters
    seed: int

    def __repr__(self) -> str:
        return (
            f"SyntheticPurchases(seed={self.seed}, persons={len(self.truth.person_id)}, "
            f"transactions={len(self.transactions)}, "
            f"window=[{self.observation_start}, {self.observation_end}))"
        )
