"""Compile network, stock, orders and rules into dense arrays: the shared input of every router."""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from omnicore._errors import ValidationError
from omnicore.allocation._network import CostModel, Network, _text, distance_km
from omnicore.allocation._orders import Orders
from omnicore.allocation._rules import SafetyStock, SourcingRules
from omnicore.data import Inventory, searchsorted

__all__ = ["Problem", "available_to_promise", "compile_problem", "subproblem"]

METHOD_SHIP, METHOD_PICKUP, METHOD_SAME_DAY = 0, 1, 2
_METHOD_CODES = {"ship": METHOD_SHIP, "pickup": METHOD_PICKUP, "same_day": METHOD_SAME_DAY}

# Reasons a node is closed to an order (bit flags, first set bit reported).
CLOSED_EXCLUDED = 1
CLOSED_INCAPABLE = 2
CLOSED_TOO_FAR = 4
CLOSED_POOL = 8


def available_to_promise(
    inventory: Inventory, network: Network | None = None, *, safety: SafetyStock | None = None
) -> Inventory:
    """Apply a safety-stock policy; the result's ``available`` column is available to promise.

    ATP per (sku, node) = on hand - safety stock - active reservations, floored at zero. The safety
    stock of a row becomes the largest of the row's own value and every rule of ``safety`` that
    applies (per node, per node kind, per sku).

    Parameters
    ----------
    inventory
        Positions (``reserved`` filled in by the store, when read from one).
    network
        Needed for per-kind rules (maps nodes to kinds).
    safety
        The policy; None keeps the inventory's own safety stock.

    Returns
    -------
    Inventory
        The same positions with ``safety_stock`` set.

    Raises
    ------
    ValidationError
        When per-kind rules are given without a network, or a node is not in the network.

    Examples
    --------
    >>> inv = Inventory(sku=["A", "A"], node=["DC1", "S01"], on_hand=[100, 3])
    >>> available_to_promise(inv, safety=SafetyStock(by_node={"S01": 1}, by_sku={"A": 5})).available.tolist()
    [95, 0]
    """
    if safety is None:
        return inventory
    if safety.by_kind and network is None:
        raise ValidationError("per-kind safety stock needs the network", field="network")
    if network is not None and len(inventory):
        kinds = np.asarray(network.kind)[network.index_of(inventory.node, field="inventory.node")]
    else:
        kinds = np.full(len(inventory), "", dtype=object)
    units = safety.units(inventory.sku, inventory.node, kinds)
    if inventory.safety_stock is not None:
        units = np.maximum(units, inventory.safety_stock)
    return inventory.with_values(safety_stock=units)


@attrs.define(kw_only=True, eq=False)
class Problem:
    """Dense arrays of one routing problem (internal; built by :func:`compile_problem`)."""

    network: Network
    orders: Orders
    cost: CostModel
    rules: SourcingRules
    sku_values: npt.NDArray[Any]
    atp: npt.NDArray[np.int64]  # [skus, nodes], static (before any routing)
    line_sku: npt.NDArray[np.int64]
    line_qty: npt.NDArray[np.int64]
    line_start: npt.NDArray[np.int64]
    line_order: npt.NDArray[np.int64]
    order_units: npt.NDArray[np.int64]
    method: npt.NDArray[np.int8]
    pickup: npt.NDArray[np.int64]
    pool: npt.NDArray[np.int64]  # per order, -1 when no pool
    pool_cap: npt.NDArray[np.int64]  # [pools, skus, nodes]
    pool_kind_ok: npt.NDArray[np.bool_]  # [pools, nodes]
    handling: npt.NDArray[np.float64]
    fixed: npt.NDArray[np.float64]
    cap_orders: npt.NDArray[np.int64]
    cap_units: npt.NDArray[np.int64]
    excluded: npt.NDArray[np.bool_]
    node_city: npt.NDArray[np.int64]
    tier_static: list[npt.NDArray[np.bool_]]  # per tier: node mask from kinds/nodes
    node_text: npt.NDArray[Any]

    @property
    def n_nodes(self) -> int:
        return len(self.fixed)

    @property
    def n_orders(self) -> int:
        return len(self.orders)

    def distances(self, orders: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        """Distance in km from each given order's customer to every node ``[k, nodes]``."""
        net = self.network
        return distance_km(
            self.orders.lat[orders, None], self.orders.lon[orders, None], net.lat[None, :], net.lon[None, :]
        )

    def shipment_cost(
        self, orders: npt.NDArray[np.int64], dist: npt.NDArray[np.float64] | None = None
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """``(fixed, distance)`` cost of one shipment from every node to each given order ``[k, nodes]``."""
        if dist is None:
            dist = self.distances(orders)
        dcost = self.cost.distance_cost(dist, self.network.cost_per_km[None, :])
        dcost = np.where((self.method[orders] == METHOD_PICKUP)[:, None], 0.0, dcost)
        fixed = np.broadcast_to(self.fixed[None, :], dist.shape)
        return fixed, dcost

    def closed(
        self, orders: npt.NDArray[np.int64], dist: npt.NDArray[np.float64] | None = None
    ) -> npt.NDArray[np.int8]:
        """Bit flags of why each node is closed to each order, before stock and capacity ``[k, nodes]``."""
        if dist is None:
            dist = self.distances(orders)
        net = self.network
        method = self.method[orders][:, None]
        flags = np.zeros(dist.shape, np.int8)
        flags |= np.where(self.excluded[None, :], CLOSED_EXCLUDED, 0).astype(np.int8)
        ship_ok = (method == METHOD_SHIP) & net.can_ship[None, :]
        same_ok = (method == METHOD_SAME_DAY) & net.same_day[None, :]
        pick_ok = (
            (method == METHOD_PICKUP)
            & (np.arange(self.n_nodes)[None, :] == self.pickup[orders][:, None])
            & net.can_pickup[None, :]
        )
        flags |= np.where(ship_ok | same_ok | pick_ok, 0, CLOSED_INCAPABLE).astype(np.int8)
        far = np.zeros(dist.shape, bool)
        if self.cost.max_distance_km is not None:
            far |= (method != METHOD_PICKUP) & (dist > self.cost.max_distance_km)
        far |= (method == METHOD_SAME_DAY) & (dist > self.cost.same_day_radius_km)
        flags |= np.where(far, CLOSED_TOO_FAR, 0).astype(np.int8)
        pools = self.pool[orders]
        if self.pool_kind_ok.shape[0]:
            kind_ok = np.where(pools[:, None] >= 0, self.pool_kind_ok[np.maximum(pools, 0)], True)
            flags |= np.where(kind_ok, 0, CLOSED_POOL).astype(np.int8)
        return flags

    def tier_masks(
        self, orders: npt.NDArray[np.int64], dist: npt.NDArray[np.float64] | None = None
    ) -> list[npt.NDArray[np.bool_]]:
        """Per tier, the nodes the tier opens to each given order ``[k, nodes]``; empty without tiers."""
        if not self.rules.tiers:
            return []
        if dist is None:
            dist = self.distances(orders)
        nearest = np.where(self.pickup[orders] >= 0, self.pickup[orders], np.argmin(dist, axis=1))
        home_city = self.node_city[nearest]
        masks = []
        for tier, static in zip(self.rules.tiers, self.tier_static, strict=True):
            mask = np.broadcast_to(static[None, :], dist.shape).copy()
            if tier.within_km is not None:
                mask &= dist <= tier.within_km
            if tier.same_city:
                mask &= self.node_city[None, :] == home_city[:, None]
            masks.append(mask)
        return masks


def _codes_for(values: npt.NDArray[Any], uniques: npt.NDArray[Any]) -> npt.NDArray[np.int64]:
    pos = np.clip(searchsorted(uniques, values), 0, max(len(uniques) - 1, 0))
    if len(uniques) == 0:
        return np.full(len(values), -1, np.int64)
    found = uniques[pos] == values
    return np.where(found, pos, -1).astype(np.int64)


def _same_id_kind(a: npt.NDArray[Any], b: npt.NDArray[Any], field: str) -> tuple[npt.NDArray[Any], ...]:
    if len(a) and len(b) and (a.dtype.kind in "iu") != (b.dtype.kind in "iu"):
        return _text(a), _text(b)
    return a, b


def compile_problem(
    network: Network,
    inventory: Inventory,
    orders: Orders,
    *,
    cost: CostModel | None = None,
    rules: SourcingRules | None = None,
) -> Problem:
    """Build the dense :class:`Problem` (validates node ids, maps skus, computes static ATP)."""
    cost = cost or CostModel()
    rules = rules or SourcingRules()
    n_nodes = len(network)
    inv_node = (
        network.index_of(inventory.node, field="inventory.node") if len(inventory) else np.empty(0, np.int64)
    )
    inv_sku, line_sku_values = _same_id_kind(np.asarray(inventory.sku), np.asarray(orders.sku), "sku")
    sku_values = (
        np.unique(np.concatenate([inv_sku, line_sku_values])) if len(inv_sku) else np.unique(line_sku_values)
    )
    atp = np.zeros((len(sku_values), n_nodes), np.int64)
    if len(inventory):
        np.add.at(atp, (_codes_for(inv_sku, sku_values), inv_node), inventory.available)
    line_sku = _codes_for(line_sku_values, sku_values)
    node_text = _text(network.node)
    order_text = np.argsort(node_text)
    pickup = np.full(len(orders), -1, np.int64)
    wants_pickup = orders.method == "pickup"
    if wants_pickup.any():
        labels = _text(orders.pickup_node[wants_pickup])
        pos = np.clip(searchsorted(node_text[order_text], labels), 0, n_nodes - 1)
        found = node_text[order_text][pos] == labels
        if not found.all():
            row = int(np.flatnonzero(wants_pickup)[np.flatnonzero(~found)[0]])
            raise ValidationError(
                "unknown pick-up node", field="pickup_node", row=row, value=str(orders.pickup_node[row])
            )
        pickup[wants_pickup] = order_text[pos]
    method = (
        np.array([_METHOD_CODES[m] for m in orders.method.tolist()], np.int8)
        if len(orders)
        else np.empty(0, np.int8)
    )
    excluded = np.isin(node_text, _text(rules.excluded_nodes))
    kinds = _text(network.kind)
    pools = rules.pools
    pool = np.full(len(orders), -1, np.int64)
    pool_cap = np.zeros((len(pools), len(sku_values), n_nodes), np.int64)
    pool_kind_ok = np.ones((len(pools), n_nodes), bool)
    channels = _text(orders.channel)
    for p, spec in enumerate(pools):
        pool[channels == spec.channel] = p
        pool_cap[p] = np.floor(spec.share * atp + 1e-9).astype(np.int64)
        if spec.kinds:
            pool_kind_ok[p] = np.isin(kinds, _text(spec.kinds))
    _, city_codes = np.unique(_text(network.city), return_inverse=True)
    tier_static = []
    for tier in rules.tiers:
        mask = np.ones(n_nodes, bool)
        if tier.kinds:
            mask &= np.isin(kinds, _text(tier.kinds))
        if tier.nodes:
            mask &= np.isin(node_text, _text(tier.nodes))
        tier_static.append(mask)
    line_qty = np.asarray(orders.quantity, np.int64)
    line_order = np.asarray(orders.line_order)
    return Problem(
        network=network,
        orders=orders,
        cost=cost,
        rules=rules,
        sku_values=sku_values,
        atp=atp,
        line_sku=line_sku,
        line_qty=line_qty,
        line_start=np.asarray(orders.line_start, np.int64),
        line_order=line_order,
        order_units=np.bincount(line_order, weights=line_qty, minlength=len(orders)).astype(np.int64),
        method=method,
        pickup=pickup,
        pool=pool,
        pool_cap=pool_cap,
        pool_kind_ok=pool_kind_ok,
        handling=np.asarray(network.handling_cost_per_unit, np.float64),
        fixed=np.asarray(network.fixed_cost_per_shipment, np.float64),
        cap_orders=np.asarray(network.capacity_orders, np.int64),
        cap_units=np.asarray(network.capacity_units, np.int64),
        excluded=excluded,
        node_city=city_codes.reshape(-1).astype(np.int64),
        tier_static=tier_static,
        node_text=node_text,
    )


def subproblem(p: Problem, positions: npt.NDArray[np.int64], **residual: Any) -> Problem:
    """The orders at ``positions`` (in that order) of a compiled problem, sharing its sku and node
    indexing; ``residual`` replaces stock or capacity arrays (``atp``, ``cap_orders``, ...)."""
    pos = np.asarray(positions, np.int64)
    orders = p.orders.take(pos)
    counts = np.diff(p.line_start)[pos]
    starts = p.line_start[:-1][pos]
    lines = np.repeat(starts - np.concatenate(([0], np.cumsum(counts)[:-1])), counts) + np.arange(
        int(counts.sum())
    )
    return attrs.evolve(
        p,
        orders=orders,
        line_sku=p.line_sku[lines],
        line_qty=p.line_qty[lines],
        line_start=np.asarray(orders.line_start, np.int64),
        line_order=np.asarray(orders.line_order),
        order_units=p.order_units[pos],
        method=p.method[pos],
        pickup=p.pickup[pos],
        pool=p.pool[pos],
        **residual,
    )
