"""Result types: single-order plans with explanations, and columnar allocations for many orders."""

from __future__ import annotations

from typing import Any, ClassVar

import attrs
import numpy as np
import numpy.typing as npt

from omnicore.data._columns import as_id_column, as_int_column, column_field
from omnicore.data._table import Table

__all__ = [
    "Allocation",
    "AllocationResult",
    "Alternative",
    "CostBreakdown",
    "NodeVerdict",
    "PlanLine",
    "RoutingPlan",
    "Unfilled",
]


@attrs.frozen(kw_only=True)
class CostBreakdown:
    """The cost of a plan, by component.

    Parameters
    ----------
    shipment
        Fixed cost per shipment, summed.
    distance
        Distance cost (per km or per band), summed over shipments.
    handling
        Per-unit handling cost, summed.
    unfilled
        Penalty for units not filled.
    """

    shipment: float = 0.0
    distance: float = 0.0
    handling: float = 0.0
    unfilled: float = 0.0

    @property
    def total(self) -> float:
        """Sum of the components."""
        return self.shipment + self.distance + self.handling + self.unfilled

    def __add__(self, other: CostBreakdown) -> CostBreakdown:
        return CostBreakdown(
            shipment=self.shipment + other.shipment,
            distance=self.distance + other.distance,
            handling=self.handling + other.handling,
            unfilled=self.unfilled + other.unfilled,
        )


@attrs.frozen
class PlanLine:
    """Units of one sku sourced from one node for one order."""

    sku: Any
    node: Any
    quantity: int


@attrs.frozen(kw_only=True)
class Alternative:
    """A candidate node set considered for an order, with its cost (``inf`` when infeasible).

    Parameters
    ----------
    nodes
        The nodes that would ship.
    cost
        Total cost of the best assignment over those nodes (unfilled penalty included).
    filled_units
        Units it fills.
    note
        Why it lost (``"costlier by 3.20"``) or why it is infeasible (``"partial fill not allowed"``).
    """

    nodes: tuple[Any, ...]
    cost: float
    filled_units: int
    note: str = ""


@attrs.frozen(kw_only=True)
class NodeVerdict:
    """Why one node was or was not used for an order.

    ``status`` is one of ``"chosen"``, ``"costlier"``, ``"no_stock"``, ``"over_capacity"``,
    ``"incapable"`` (lacks the method's capability, or is not the pick-up node), ``"too_far"``,
    ``"excluded"`` (by a rule, a tier not reached or a channel pool) or ``"policy"`` (it could only
    ship part of the order and the split policy forbids that).
    """

    node: Any
    status: str
    reason: str
    cost_alone: float = float("inf")


@attrs.frozen(kw_only=True)
class RoutingPlan:
    """The plan for one order: where each unit comes from, what it costs and why.

    Parameters
    ----------
    order_id
        The order.
    lines
        Sourced units, one per (sku, node).
    unfilled
        ``(sku, units)`` left unfilled (backordered or lost).
    cost
        The cost breakdown under the cost model.
    exact
        True when the plan is proven cheapest for the order given the stock at routing time;
        False when the search hit its size bound and the heuristic answer is returned.
    alternatives
        The cheapest candidate node sets considered, best first (the plan's own set first).
    verdicts
        One verdict per network node (when routed with ``explain=True``).
    """

    order_id: Any
    lines: tuple[PlanLine, ...]
    unfilled: tuple[tuple[Any, int], ...]
    cost: CostBreakdown
    exact: bool
    alternatives: tuple[Alternative, ...] = ()
    verdicts: tuple[NodeVerdict, ...] = ()

    @property
    def nodes(self) -> tuple[Any, ...]:
        """The nodes that ship, in order of first use."""
        return tuple(dict.fromkeys(line.node for line in self.lines))

    @property
    def shipments(self) -> int:
        """Number of shipments (distinct shipping nodes)."""
        return len(self.nodes)

    @property
    def filled_units(self) -> int:
        """Units sourced."""
        return sum(line.quantity for line in self.lines)

    @property
    def unfilled_units(self) -> int:
        """Units not sourced."""
        return sum(units for _, units in self.unfilled)


@attrs.frozen(kw_only=True, repr=False)
class Allocation(Table):
    """Sourced units of many orders, one row per (order, sku, node).

    This is also the input of :func:`price_allocation`, so an allocation made by another system can be
    priced with the same cost model.

    Parameters
    ----------
    order_id, sku, node
        What is sourced where.
    quantity
        Units (positive).
    """

    _length_anchor: ClassVar[str] = "order_id"

    order_id: npt.NDArray[Any] = column_field(as_id_column())
    sku: npt.NDArray[Any] = column_field(as_id_column())
    node: npt.NDArray[Any] = column_field(as_id_column())
    quantity: npt.NDArray[np.int64] = column_field(as_int_column(nonnegative=True))


@attrs.frozen(kw_only=True, repr=False)
class Unfilled(Table):
    """Demand not filled, one row per (order, line)."""

    _length_anchor: ClassVar[str] = "order_id"

    order_id: npt.NDArray[Any] = column_field(as_id_column())
    sku: npt.NDArray[Any] = column_field(as_id_column())
    quantity: npt.NDArray[np.int64] = column_field(as_int_column(nonnegative=True))


@attrs.frozen(kw_only=True)
class AllocationResult:
    """The allocation of a set of orders, with its cost, quality and what could not be filled.

    Parameters
    ----------
    allocation
        Sourced units.
    unfilled
        Demand left unfilled, reported line by line (never silently dropped).
    cost
        Cost breakdown of the whole allocation.
    lower_bound
        A certified lower bound on the cost of any allocation of these orders (the LP relaxation),
        or None when not computed.
    method
        How it was made: ``"milp"``, ``"decomposition"``, ``"greedy"``, ``"sequential"``, ``"nearest"``,
        ``"priced"``.
    status
        ``"optimal"`` (proven), ``"feasible"`` (a plan with a gap), ``"time_limit"`` or ``"fallback"``.
    seconds
        Wall time.
    n_orders
        Orders in the input.
    shipments
        Shipments over all orders.
    violations
        Constraint violations found when pricing an external allocation (empty for plans made here).
    details
        Solver facts: LP rounds, columns, fixed pairs, MILP status.
    """

    allocation: Allocation
    unfilled: Unfilled
    cost: CostBreakdown
    lower_bound: float | None
    method: str
    status: str
    seconds: float
    n_orders: int
    shipments: int
    violations: tuple[str, ...] = ()
    details: dict[str, Any] = attrs.field(factory=dict)

    @property
    def gap(self) -> float | None:
        """Relative gap ``(cost - bound) / bound`` (None without a bound; 0 for a zero bound and cost)."""
        if self.lower_bound is None:
            return None
        total = self.cost.total
        if self.lower_bound <= 0:
            return 0.0 if total <= 1e-9 else float("inf")
        return max(total - self.lower_bound, 0.0) / self.lower_bound

    @property
    def shipments_per_order(self) -> float:
        """Mean shipments per order (unfilled orders count zero)."""
        return self.shipments / self.n_orders if self.n_orders else 0.0

    @property
    def unfilled_units(self) -> int:
        """Units not filled."""
        return int(self.unfilled.quantity.sum())

    def summary(self) -> dict[str, Any]:
        """The headline figures as a dict (for tables and logs)."""
        return {
            "method": self.method,
            "status": self.status,
            "total_cost": round(self.cost.total, 2),
            "lower_bound": None if self.lower_bound is None else round(self.lower_bound, 2),
            "gap": self.gap,
            "shipments_per_order": round(self.shipments_per_order, 4),
            "unfilled_units": self.unfilled_units,
            "seconds": round(self.seconds, 3),
        }
