"""Reservations on top of the InventoryStore Protocol: reserve a plan, confirm, release, reroute."""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

import attrs
import numpy as np

from omnicore._errors import ValidationError
from omnicore.allocation._network import CostModel, Network
from omnicore.allocation._orders import Orders
from omnicore.allocation._plan import Allocation, AllocationResult, RoutingPlan
from omnicore.allocation._rules import SourcingRules
from omnicore.storage import InsufficientStockError, InventoryStore, Reservation, ReservationLine, Store

__all__ = ["ReservationOutcome", "confirm", "release", "reroute", "reserve", "route_and_reserve"]

logger = logging.getLogger(__name__)


@attrs.frozen(kw_only=True)
class ReservationOutcome:
    """What :func:`reserve` held and what it could not.

    Parameters
    ----------
    held
        One reservation per order whose lines were all held.
    failed
        ``(order_id, reason)`` for orders that could not be held (another process took the stock
        first); nothing is held for them.
    """

    held: tuple[Reservation, ...] = ()
    failed: tuple[tuple[str, str], ...] = ()

    @property
    def units(self) -> int:
        """Units held over all reservations."""
        return sum(r.units for r in self.held)


def _lines_by_order(plan: RoutingPlan | AllocationResult) -> dict[str, list[ReservationLine]]:
    grouped: dict[str, dict[tuple[Any, Any], int]] = defaultdict(lambda: defaultdict(int))
    if isinstance(plan, RoutingPlan):
        for line in plan.lines:
            grouped[str(plan.order_id)][(line.sku, line.node)] += line.quantity
    else:
        alloc = plan.allocation
        for order_id, sku, node, qty in zip(
            alloc.order_id.tolist(),
            alloc.sku.tolist(),
            alloc.node.tolist(),
            alloc.quantity.tolist(),
            strict=True,
        ):
            grouped[str(order_id)][(sku, node)] += int(qty)
    return {
        order: [ReservationLine(sku, node, qty) for (sku, node), qty in lines.items()]
        for order, lines in grouped.items()
    }


def reserve(
    inventory: InventoryStore,
    plan: RoutingPlan | AllocationResult,
    *,
    ttl_seconds: float = 900.0,
    now: Any = None,
) -> ReservationOutcome:
    """Claim the stock of a plan in the inventory store, all lines of an order or none.

    Idempotent by order id: reserving the same plan again returns the reservations already held.
    Unconfirmed reservations expire after ``ttl_seconds`` (the store's :meth:`expire` frees them).

    Parameters
    ----------
    inventory
        Any :class:`~omnicore.storage.InventoryStore` (``store.inventory``: memory, SQLite, PostgreSQL).
    plan
        One order's :class:`RoutingPlan` or a whole :class:`AllocationResult`.
    ttl_seconds
        Time to live of the hold.
    now
        The current time (default: the store's clock).

    Returns
    -------
    ReservationOutcome
        Held reservations, and the orders that lost a race for stock (nothing held for those).

    Raises
    ------
    ValidationError
        For a non-positive TTL.
    ConflictError
        When an order id is already held with other lines.
    """
    if not ttl_seconds > 0:
        raise ValidationError("ttl must be positive", field="ttl_seconds", value=ttl_seconds)
    held: list[Reservation] = []
    failed: list[tuple[str, str]] = []
    for order_id, lines in _lines_by_order(plan).items():
        try:
            held.append(inventory.reserve(order_id, lines, ttl_seconds=ttl_seconds, now=now))
        except InsufficientStockError as exc:
            logger.info("reservation of %s failed: %s", order_id, exc)
            failed.append((order_id, str(exc)))
    return ReservationOutcome(held=tuple(held), failed=tuple(failed))


def confirm(inventory: InventoryStore, order_id: str, *, now: Any = None) -> Reservation:
    """Confirm an order's reservation, re-routed parts included (one per order): the stock ships.

    Returns
    -------
    Reservation
        The confirmed reservation.
    """
    return inventory.confirm(str(order_id), now=now)


def release(inventory: InventoryStore, order_id: str, *, now: Any = None) -> Reservation:
    """Release an order's reservation (cancelled, or paid too late): the stock is free again.

    Returns
    -------
    Reservation
        The released reservation.
    """
    return inventory.release(str(order_id), now=now)


def reroute(
    store: Store,
    plan: RoutingPlan,
    rejected_node: Any,
    orders: Orders,
    network: Network,
    *,
    cost: CostModel | None = None,
    rules: SourcingRules | None = None,
    ttl_seconds: float = 900.0,
    now: Any = None,
) -> RoutingPlan:
    """Re-plan only the lines a node rejected (e.g. a store cannot pick), and hold the new stock.

    In one transaction: read live ATP from the store, route the rejected node's lines alone with that
    node excluded, and amend the order's reservation so it gives those
    units back and holds the new ones (:meth:`~omnicore.storage.InventoryStore.amend`): the order
    keeps one reservation under its own id.

    Parameters
    ----------
    store
        The store holding the reservation.
    plan
        The order's current plan (as reserved).
    rejected_node
        The node that cannot fulfil its part.
    orders
        Orders holding this order (for its location, method and policies).
    network
        The network.
    cost, rules
        As for routing; the rejected node is added to ``rules.excluded_nodes``.
    ttl_seconds, now
        As for :func:`reserve`.

    Returns
    -------
    RoutingPlan
        The full new plan of the order: untouched lines plus the re-routed ones.

    Raises
    ------
    ValidationError
        When the node is not in the plan.
    """
    from omnicore.allocation._api import price_allocation, route_order

    order_id = str(plan.order_id)
    moved = [line for line in plan.lines if line.node == rejected_node]
    if not moved:
        raise ValidationError("node not in the plan", field="rejected_node", value=rejected_node)
    kept = [line for line in plan.lines if line.node != rejected_node]
    rules = rules or SourcingRules()
    rules = attrs.evolve(rules, excluded_nodes=(*rules.excluded_nodes, str(rejected_node)))
    position = int(np.flatnonzero(orders.order_id == plan.order_id)[0])
    one = orders.take([position])
    give_back = [ReservationLine(line.sku, line.node, line.quantity) for line in moved]
    need: dict[Any, int] = defaultdict(int)
    for line in moved:
        need[line.sku] += line.quantity
    sub = Orders.from_lines(
        order_id=[one.order_id[0]] * len(need),
        sku=list(need),
        quantity=list(need.values()),
        lat=[one.lat[0]] * len(need),
        lon=[one.lon[0]] * len(need),
        method=[one.method[0]] * len(need),
        pickup_node=[one.pickup_node[0]] * len(need),
        channel=[one.channel[0]] * len(need),
        allow_split=[bool(one.allow_split[0])] * len(need),
        max_shipments=[int(one.max_shipments[0])] * len(need),
        allow_partial=[bool(one.allow_partial[0])] * len(need),
    )
    with store.atomic():
        inventory = store.inventory
        live = inventory.get(skus=np.asarray(list(need)), now=now)
        new = route_order(sub, network, live, cost=cost, rules=rules, explain=False)
        inventory.amend(
            order_id,
            release=give_back,
            hold=[ReservationLine(line.sku, line.node, line.quantity) for line in new.lines],
            ttl_seconds=ttl_seconds,
            now=now,
        )
    lines = tuple(kept) + new.lines
    priced = price_allocation(
        Allocation(
            order_id=np.asarray([plan.order_id] * len(lines), dtype=object),
            sku=np.asarray([line.sku for line in lines], dtype=object),
            node=np.asarray([line.node for line in lines], dtype=object),
            quantity=np.asarray([line.quantity for line in lines], dtype=np.int64),
        ),
        one,
        network,
        live,
        cost=cost,
    )
    return attrs.evolve(
        plan,
        lines=lines,
        unfilled=new.unfilled,
        cost=priced.cost,
        exact=new.exact,
        alternatives=(),
        verdicts=(),
    )


def route_and_reserve(
    store: Store,
    orders: Orders,
    network: Network,
    *,
    cost: CostModel | None = None,
    rules: SourcingRules | None = None,
    ttl_seconds: float = 900.0,
    optimise_wave: bool = False,
    time_limit_seconds: float = 30.0,
    now: Any = None,
) -> tuple[AllocationResult, ReservationOutcome]:
    """Read live ATP from the store, allocate the orders and hold their stock, in one transaction.

    Parameters
    ----------
    store
        The store (its ``inventory`` gives positions with active reservations subtracted).
    orders, network, cost, rules
        As for routing.
    ttl_seconds, now
        As for :func:`reserve`.
    optimise_wave
        Use :func:`optimise` (batch) instead of sequential :func:`route_orders`.
    time_limit_seconds
        Budget of the batch optimisation.

    Returns
    -------
    (AllocationResult, ReservationOutcome)
    """
    from omnicore.allocation._api import optimise, route_orders

    with store.atomic():
        skus = np.unique(orders.sku)
        live = store.inventory.get(skus=skus, now=now)
        if optimise_wave:
            result = optimise(
                orders, network, live, cost=cost, rules=rules, time_limit_seconds=time_limit_seconds
            )
        else:
            result = route_orders(orders, network, live, cost=cost, rules=rules)
        outcome = reserve(store.inventory, result, ttl_seconds=ttl_seconds, now=now)
    return result, outcome
