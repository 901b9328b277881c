"""The fulfilment network: nodes with coordinates, capabilities, capacities and a cost model."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Final

import attrs
import numpy as np
import numpy.typing as npt

from omnicore._errors import ValidationError
from omnicore.data import searchsorted
from omnicore.data._columns import (
    as_bool_column,
    as_float_column,
    as_id_column,
    as_int_column,
    as_string_column,
    column_field,
)
from omnicore.data._table import Table

__all__ = ["UNLIMITED", "CostModel", "Network", "distance_km"]

#: Capacity meaning "no limit" (orders or units per day).
UNLIMITED: Final = np.iinfo(np.int64).max // 4
_EARTH_RADIUS_KM: Final = 6371.0088

#: Node kinds the library knows by name; others are accepted as free text.
NODE_KINDS: Final = ("dc", "store", "dark_store", "dropship")


def _text(values: Any) -> npt.NDArray[Any]:
    """Ids or labels as ``StringDType`` text (ints become their decimal text)."""
    array = np.asarray(values) if not isinstance(values, tuple | list) else np.asarray(values, dtype=object)
    if array.dtype == np.dtypes.StringDType():
        return array
    if array.dtype.kind == "O":
        return np.asarray([str(v) for v in array.tolist()], dtype=np.dtypes.StringDType())
    return array.astype(np.dtypes.StringDType())


def distance_km(
    lat1: npt.ArrayLike, lon1: npt.ArrayLike, lat2: npt.ArrayLike, lon2: npt.ArrayLike
) -> npt.NDArray[np.float64]:
    """Great-circle (haversine) distance in kilometres, broadcasting like numpy.

    Parameters
    ----------
    lat1, lon1, lat2, lon2
        Coordinates in decimal degrees.

    Returns
    -------
    numpy.ndarray
        Distances in km on a sphere of radius 6371.0088 km (the IUGG mean Earth radius).

    Examples
    --------
    >>> round(float(distance_km(31.2304, 121.4737, 39.9042, 116.4074)), 0)  # Shanghai - Beijing
    1067.0

    References
    ----------
    .. [1] Sinnott, R. W. (1984). Virtues of the haversine. Sky and Telescope, 68(2), 159.
    """
    p1 = np.radians(np.asarray(lat1, dtype=np.float64))
    p2 = np.radians(np.asarray(lat2, dtype=np.float64))
    dp = p2 - p1
    dl = np.radians(np.asarray(lon2, dtype=np.float64) - np.asarray(lon1, dtype=np.float64))
    h = np.sin(dp / 2.0) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2.0) ** 2
    out: npt.NDArray[np.float64] = 2.0 * _EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))
    return out


def _float_tuple(value: Any) -> tuple[float, ...]:
    return tuple(float(v) for v in value)


def _check_bands(instance: CostModel, attribute: attrs.Attribute[Any], value: tuple[float, ...]) -> None:
    if not value:
        return
    edges = np.asarray(value)
    if not np.all(np.isfinite(edges)) or np.any(edges <= 0) or np.any(np.diff(edges) <= 0):
        raise ValidationError("band edges must be positive and increasing", field=attribute.name, value=value)


def _nonnegative(_: Any, attribute: attrs.Attribute[Any], value: float | None) -> None:
    if value is not None and not (np.isfinite(value) and value >= 0):
        raise ValidationError("must be a finite non-negative number", field=attribute.name, value=value)


@attrs.frozen(kw_only=True)
class CostModel:
    """How a plan is priced, beyond the per-node costs held by :class:`Network`.

    The cost of a shipment from node ``n`` to a customer ``d`` km away is
    ``fixed_cost_per_shipment[n] + cost_per_km[n] * d`` (or, with distance bands,
    ``fixed_cost_per_shipment[n] + band_costs[band(d)]``), plus ``handling_cost_per_unit[n]`` per unit.
    A pick-up order collected at the node pays no distance cost. Each unit left unfilled costs
    ``unfilled_penalty_per_unit``.

    Parameters
    ----------
    unfilled_penalty_per_unit
        Cost of one unit not filled (lost sale or backorder); it makes "fill or not" part of the optimum.
    band_edges_km
        Upper edges of distance bands, increasing; empty for a per-km tariff.
    band_costs
        One cost per band, ``len(band_edges_km) + 1`` values (the last is for beyond the last edge).
    max_distance_km
        Nodes farther than this from the customer are not used for ship-to-home ("too far").
    same_day_radius_km
        Same-day orders are served only by same-day nodes within this distance.

    Examples
    --------
    >>> model = CostModel(band_edges_km=(10, 50), band_costs=(3.0, 5.0, 9.0))
    >>> model.distance_cost(np.array([0.0, 20.0, 80.0]), np.zeros(3)).tolist()
    [3.0, 5.0, 9.0]
    """

    unfilled_penalty_per_unit: float = attrs.field(default=50.0, converter=float, validator=_nonnegative)
    band_edges_km: tuple[float, ...] = attrs.field(default=(), converter=_float_tuple, validator=_check_bands)
    band_costs: tuple[float, ...] = attrs.field(default=(), converter=_float_tuple)
    max_distance_km: float | None = attrs.field(default=None, validator=_nonnegative)
    same_day_radius_km: float = attrs.field(default=30.0, converter=float, validator=_nonnegative)

    def __attrs_post_init__(self) -> None:
        if self.band_edges_km and len(self.band_costs) != len(self.band_edges_km) + 1:
            raise ValidationError(
                "need one cost per band: len(band_edges_km) + 1 values",
                field="band_costs",
                value=self.band_costs,
            )
        if self.band_costs and not self.band_edges_km and len(self.band_costs) != 1:
            raise ValidationError("band_costs given without band_edges_km", field="band_costs")
        if any(not np.isfinite(c) or c < 0 for c in self.band_costs):
            raise ValidationError("band costs must be finite and non-negative", field="band_costs")

    def distance_cost(
        self, distance: npt.NDArray[np.float64], cost_per_km: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.float64]:
        """Distance part of a shipment's cost (broadcasts ``distance`` against ``cost_per_km``)."""
        if self.band_costs:
            band = searchsorted(np.asarray(self.band_edges_km), distance, side="left")
            costs: npt.NDArray[np.float64] = np.asarray(self.band_costs)[band]
            return costs + 0.0 * cost_per_km
        out: npt.NDArray[np.float64] = distance * cost_per_km
        return out


@attrs.frozen(kw_only=True, repr=False)
class Network(Table):
    """The fulfilment nodes, one row each.

    Parameters
    ----------
    node
        Node id (text or int64), unique.
    kind
        ``"dc"`` (distribution centre), ``"store"``, ``"dark_store"``, ``"dropship"`` or any other label.
    lat, lon
        Coordinates in decimal degrees.
    can_ship
        Can ship to a customer's home.
    can_pickup
        Can hand orders over for pick-up in store.
    same_day
        Can fulfil same-day delivery (within :attr:`CostModel.same_day_radius_km`).
    capacity_orders
        Shipments (order parcels) a node can send per day; default :data:`UNLIMITED`.
    capacity_units
        Units a node can pick per day; default :data:`UNLIMITED`.
    fixed_cost_per_shipment
        Parcel and pick cost per shipment.
    cost_per_km
        Transport cost per km of great-circle distance (ignored under distance bands).
    handling_cost_per_unit
        Picking and packing cost per unit.
    priority
        Tie-break between equal costs: lower is preferred (default 0).
    city
        City or region label used by same-city sourcing rules ('' where unknown).

    Examples
    --------
    >>> net = Network(node=["DC1", "S01"], kind=["dc", "store"], lat=[31.2, 31.23], lon=[121.4, 121.47],
    ...               fixed_cost_per_shipment=[4.0, 6.0], cost_per_km=[0.05, 0.2])
    >>> len(net), net.capacity_orders.tolist() == [UNLIMITED, UNLIMITED]
    (2, True)
    """

    _length_anchor: ClassVar[str] = "node"

    node: npt.NDArray[Any] = column_field(as_id_column())
    kind: npt.NDArray[Any] = column_field(as_string_column())
    lat: npt.NDArray[np.float64] = column_field(as_float_column())
    lon: npt.NDArray[np.float64] = column_field(as_float_column())
    fixed_cost_per_shipment: npt.NDArray[np.float64] = column_field(as_float_column(nonnegative=True))
    cost_per_km: npt.NDArray[np.float64] = column_field(as_float_column(nonnegative=True))
    handling_cost_per_unit: npt.NDArray[np.float64] = column_field(
        as_float_column(optional=True, nonnegative=True), optional=True
    )
    can_ship: npt.NDArray[np.bool_] = column_field(as_bool_column(optional=True), optional=True)
    can_pickup: npt.NDArray[np.bool_] = column_field(as_bool_column(optional=True), optional=True)
    same_day: npt.NDArray[np.bool_] = column_field(as_bool_column(optional=True), optional=True)
    capacity_orders: npt.NDArray[np.int64] = column_field(
        as_int_column(optional=True, nonnegative=True), optional=True
    )
    capacity_units: npt.NDArray[np.int64] = column_field(
        as_int_column(optional=True, nonnegative=True), optional=True
    )
    priority: npt.NDArray[np.int64] = column_field(as_int_column(optional=True), optional=True)
    city: npt.NDArray[Any] = column_field(as_string_column(optional=True, allow_empty=True), optional=True)

    def __attrs_post_init__(self) -> None:
        n = len(self.node)
        defaults: dict[str, npt.NDArray[Any]] = {
            "handling_cost_per_unit": np.zeros(n),
            "can_ship": np.ones(n, bool),
            "can_pickup": (np.asarray(self.kind) != "dc") & (np.asarray(self.kind) != "dropship"),
            "same_day": np.zeros(n, bool),
            "capacity_orders": np.full(n, UNLIMITED, np.int64),
            "capacity_units": np.full(n, UNLIMITED, np.int64),
            "priority": np.zeros(n, np.int64),
            "city": np.full(n, "", dtype=np.dtypes.StringDType()),
        }
        for name, value in defaults.items():
            if getattr(self, name) is None:
                value.flags.writeable = False
                object.__setattr__(self, name, value)
        super().__attrs_post_init__()

    def _validate(self) -> None:
        _, index = np.unique(self.node, return_index=True)
        if len(index) < len(self.node):
            seen = np.zeros(len(self.node), bool)
            seen[index] = True
            row = int(np.flatnonzero(~seen)[0])
            raise ValidationError("duplicate node id", field="node", row=row, value=self.node[row])
        bad = (np.abs(self.lat) > 90) | (np.abs(self.lon) > 180)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise ValidationError(
                "coordinates out of range", field="lat", row=row, value=(self.lat[row], self.lon[row])
            )

    def index_of(self, nodes: npt.ArrayLike, *, field: str = "node") -> npt.NDArray[np.int64]:
        """Row position of each node id; raises :class:`~omnicore.ValidationError` for unknown ids."""
        wanted = np.asarray(nodes)
        if wanted.size == 0:
            return np.empty(0, np.int64)
        if self.node.dtype.kind in "iu":
            if wanted.dtype.kind not in "iu":
                raise ValidationError("node ids are integers here", field=field, value=wanted.flat[0])
            keys = wanted.astype(np.int64)
        else:
            keys = wanted.astype(self.node.dtype)
        order = np.argsort(self.node, kind="stable")
        sorted_nodes = self.node[order]
        pos = searchsorted(sorted_nodes, keys)
        pos = np.clip(pos, 0, len(sorted_nodes) - 1)
        found = sorted_nodes[pos] == keys
        if not np.all(found):
            row = int(np.flatnonzero(~found)[0])
            raise ValidationError("unknown node", field=field, row=row, value=wanted[row])
        out: npt.NDArray[np.int64] = order[pos].astype(np.int64)
        return out

    @classmethod
    def from_table(cls, table: Any, *, columns: Mapping[str, str] | None = None) -> Network:
        """Build from any table-like object: a dataframe, a mapping of columns or an object with attributes.

        Accepts the synthetic retailer's ``data.network`` (``node_id``, ``kind``, ``city``, ``lat``,
        ``lon``, ``can_ship``, ``can_pickup``, ``same_day``, ``capacity_orders``, ``capacity_units``,
        ``fixed_cost_per_shipment``, ``cost_per_km``, ``handling_cost_per_unit``).

        Parameters
        ----------
        table
            The source; column ``node_id`` is read as ``node``.
        columns
            Extra renames, source name -> field name.

        Returns
        -------
        Network
        """
        renames = {"node_id": "node", **(columns or {})}
        fields = {f.name for f in attrs.fields(cls)}
        data: dict[str, Any] = {}
        for source, value in _iter_columns(table):
            name = renames.get(source, source)
            if name in fields:
                data[name] = value
        return cls(**data)


def _iter_columns(table: Any) -> list[tuple[str, Any]]:
    if isinstance(table, Mapping):
        return list(table.items())
    to_columns = getattr(table, "_columns", None)
    if callable(to_columns):
        return list(to_columns().items())
    if attrs.has(type(table)):
        return [(f.name, getattr(table, f.name)) for f in attrs.fields(type(table))]
    names = getattr(table, "columns", None)
    if names is not None:  # pandas / polars / pyarrow
        out = []
        for name in list(names):
            column = table[name]
            to_numpy = getattr(column, "to_numpy", None)
            out.append((str(name), to_numpy() if callable(to_numpy) else column))
        return out
    return [(k, v) for k, v in vars(table).items() if not k.startswith("_")]
