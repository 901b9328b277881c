"""Inventory-allocation routing: real-time order sourcing and batch optimisation over stores and
warehouses, with reservations that never oversell.

Model a :class:`Network` of nodes, :class:`Orders` and stock (:class:`omnicore.Inventory`), then

- :func:`route_order` - the cheapest plan for one order, with ranked alternatives and one verdict per
  node saying why it was or was not used;
- :func:`route_orders` - route a stream of orders one at a time against live stock (real time);
- :func:`optimise` - the cost-minimising allocation of a wave (MILP with HiGHS, column generation,
  certified lower bound and gap);
- :func:`price_allocation` - shadow mode: price and check an allocation made elsewhere;
- :func:`reserve`, :func:`confirm`, :func:`release`, :func:`reroute` - hold the stock of a plan in
  any :class:`~omnicore.storage.InventoryStore`.
"""

from omnicore.allocation._api import allocate_greedy, optimise, price_allocation, route_order, route_orders
from omnicore.allocation._instances import SIZES, Instance, instance_from_retailer, random_instance
from omnicore.allocation._network import UNLIMITED, CostModel, Network, distance_km
from omnicore.allocation._orders import METHODS, OrderPolicy, Orders
from omnicore.allocation._plan import (
    Allocation,
    AllocationResult,
    Alternative,
    CostBreakdown,
    NodeVerdict,
    PlanLine,
    RoutingPlan,
    Unfilled,
)
from omnicore.allocation._problem import available_to_promise
from omnicore.allocation._reserve import (
    ReservationOutcome,
    confirm,
    release,
    reroute,
    reserve,
    route_and_reserve,
)
from omnicore.allocation._rules import ChannelPool, SafetyStock, SourcingRules, SourcingTier

__all__ = [
    "METHODS",
    "SIZES",
    "UNLIMITED",
    "Allocation",
    "AllocationResult",
    "Alternative",
    "ChannelPool",
    "CostBreakdown",
    "CostModel",
    "Instance",
    "Network",
    "NodeVerdict",
    "OrderPolicy",
    "Orders",
    "PlanLine",
    "ReservationOutcome",
    "RoutingPlan",
    "SafetyStock",
    "SourcingRules",
    "SourcingTier",
    "Unfilled",
    "allocate_greedy",
    "available_to_promise",
    "confirm",
    "distance_km",
    "instance_from_retailer",
    "optimise",
    "price_allocation",
    "random_instance",
    "release",
    "reroute",
    "reserve",
    "route_and_reserve",
    "route_order",
    "route_orders",
]
