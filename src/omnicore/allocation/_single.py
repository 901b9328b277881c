"""Single-order (real-time) routing: exact small set-cover search with a documented fallback."""

from __future__ import annotations

import heapq
import logging
import time
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from omnicore._progress import Progress, null_progress
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
from omnicore.allocation._problem import (
    CLOSED_EXCLUDED,
    CLOSED_INCAPABLE,
    CLOSED_POOL,
    CLOSED_TOO_FAR,
    Problem,
)
from omnicore.allocation._route_kernel import commit_order, distance_rows, explain_order, solve_order

__all__ = ["Router"]

logger = logging.getLogger(__name__)
_INF = float("inf")
_CHUNK = 2048


@attrs.define(kw_only=True, eq=False)
class _Choice:
    nodes: npt.NDArray[np.int64]  # shipping nodes
    take: npt.NDArray[np.int64]  # [lines, len(nodes)]
    exact: bool
    value: float  # objective of the plan under the (possibly priced) costs
    bound: float  # a lower bound on the order's optimum (== value when exact)
    explained: _Explanation | None = None


@attrs.define(kw_only=True, eq=False)
class _Explanation:
    """What the search saw, kept only when explaining."""

    acap: npt.NDArray[np.int64]  # [lines, nodes] units each node can give each line, zero where closed
    handling: npt.NDArray[np.float64]  # [lines, nodes] cost per unit (handling, plus prices)
    single: npt.NDArray[np.float64]  # [nodes] cost of the node alone, inf where infeasible
    log_cost: npt.NDArray[np.float64]  # multi-node sets priced: cost (inf when infeasible)
    log_nodes: npt.NDArray[np.int64]  # their shipping nodes, -1 padded
    log_filled: npt.NDArray[np.int64]  # units they fill

    def evaluated(self, cap_units: npt.NDArray[np.int64]) -> list[tuple[float, tuple[int, ...], int]]:
        """Every set priced: ``(cost or inf when infeasible, nodes, units filled)``, single nodes first."""
        filled = np.minimum(self.acap.sum(axis=0), cap_units)
        out: list[tuple[float, tuple[int, ...], int]] = [
            (float(self.single[i]), (int(i),), int(filled[i])) for i in np.flatnonzero(filled > 0)
        ]
        for cost, nodes, got in zip(
            self.log_cost.tolist(), self.log_nodes.tolist(), self.log_filled.tolist(), strict=True
        ):
            out.append((cost, tuple(n for n in nodes if n >= 0), got))
        return out


@attrs.define(kw_only=True, eq=False)
class _Context:
    """What the search needs about one order."""

    o: int
    skus: npt.NDArray[np.int64]
    q: npt.NDArray[np.int64]
    units: int
    closed: npt.NDArray[np.int8]  # [nodes] closure flags
    allowed: npt.NDArray[np.bool_]  # [nodes] opened by the sourcing tiers reached
    ship: npt.NDArray[np.float64]  # [nodes] fixed + distance (+ shipment price)
    pool: int
    penalty: float
    max_set: int
    truncated: bool  # max_set is the search bound, below the order's own limit
    allow_partial: bool


class Router:
    """The real-time sourcing engine: routes orders one at a time against live stock and capacity.

    Each routed order consumes available-to-promise, shipment capacity and unit capacity, so later
    orders see what is left, as an order-management system would. Build it once per wave or day
    (:func:`route_order` and :func:`route_orders` do that for you): it keeps the live stock and
    capacity as dense arrays and computes the orders' distance, shipment-cost and closure rows
    vectorised, a block of orders at a time, the first time an order of the block is routed.

    Parameters
    ----------
    problem
        The compiled problem (network, stock, orders, cost model, rules).
    max_set_size
        Largest number of shipments the exact search considers for one order.
    max_evaluations
        Node sets evaluated per order before the search stops and returns its best plan so far
        (flagged ``exact=False``).

    Notes
    -----
    For one order the problem is a small facility-location / set-cover problem: pick the set of
    shipping nodes ``S`` minimising ``sum_{n in S} (f_n + d_n) + sum h_n x_n + p * unfilled``. Single
    nodes are priced in one pass. Larger sets are searched by set-cover branch and bound:
    branch on the uncovered line with the fewest holders (or, when partial fill is allowed, on giving
    it up), bound by ``cost(S) + min(h, p) * units + max over open lines of min(cheapest holder,
    penalty gap)``, and skip a holder that an earlier sibling covers at no higher cost. The search is
    exact up to ``max_set_size`` shipments and ``max_evaluations`` priced sets; beyond either bound the
    best plan found is returned with ``exact=False``. Within a set, each line takes units from its
    cheapest node first, which is optimal for the set when unit capacities do not bind (when they do,
    the excess is cut and left unfilled, so such plans may be suboptimal). The whole per-order search,
    and the stock update after it, is one compiled call (``omnicore.allocation._route_kernel``).
    """

    def __init__(
        self,
        problem: Problem,
        *,
        max_set_size: int = 4,
        max_evaluations: int = 2000,
        stock_price: npt.NDArray[np.float64] | None = None,
        shipment_price: npt.NDArray[np.float64] | None = None,
        unit_price: npt.NDArray[np.float64] | None = None,
    ) -> None:
        self.problem = problem
        self.stock_price = stock_price
        self.shipment_price = shipment_price
        self.unit_price = problem.handling if unit_price is None else problem.handling + unit_price
        self.max_set_size = max_set_size
        self.max_evaluations = max_evaluations
        self.atp = problem.atp.copy()
        self.cap_orders = problem.cap_orders.copy()
        self.cap_units = problem.cap_units.copy()
        self.pool_left = problem.pool_cap.copy()
        self.node_open = (self.cap_orders > 0) & (self.cap_units > 0)
        n_nodes = problem.n_nodes
        self._unit_price = np.ascontiguousarray(self.unit_price, np.float64)
        self._stock_price = (
            np.zeros((0, 0), np.float64)
            if stock_price is None
            else np.ascontiguousarray(stock_price, np.float64)
        )
        self._priority = np.ascontiguousarray(problem.network.priority, np.int64)
        self._all_nodes = np.ones(n_nodes, bool)
        orders = problem.orders
        max_ship = np.where(
            orders.allow_split, np.where(orders.max_shipments != 0, orders.max_shipments, 1_000_000), 1
        ).astype(np.int64)
        # per-order scalars as Python lists: the hot path reads one of each per order
        self._line_start: list[int] = problem.line_start.tolist()
        self._order_units: list[int] = problem.order_units.tolist()
        self._pool: list[int] = problem.pool.tolist()
        self._max_set: list[int] = np.minimum(max_ship, max_set_size).tolist()
        self._truncated: list[bool] = (max_ship > max_set_size).tolist()
        self._allow_partial: list[bool] = np.asarray(orders.allow_partial, bool).tolist()
        self._penalty = float(problem.cost.unfilled_penalty_per_unit)
        self._handling_list: list[float] = problem.handling.tolist()
        self._label_lists: tuple[list[Any], list[Any], list[Any]] | None = None
        self._block = (-1, -1)
        self._rows: tuple[Any, ...] = ()

    # -- public ----------------------------------------------------------------------------------
    def route(self, position: int, *, explain: bool = True, commit: bool = True) -> RoutingPlan:
        """Route the order at ``position`` of the problem's orders and (by default) consume its stock."""
        fixed, dcost, closed, tiers, ship = self._order_rows(position)
        ctx, tier_used = self._context(position, ship, closed, tiers)
        choice = self._solve(ctx, record=explain, commit=commit)
        return self._plan(position, ctx, choice, fixed, dcost, closed, tiers, tier_used, explain)

    def route_all(self, *, progress: Progress = null_progress) -> AllocationResult:
        """Route every order of the problem in sequence (input order) and collect the allocation.

        ``details`` reports ``exact_orders`` and the wall time of each order's routing call
        (``latency_p50_us``, ``latency_p99_us``, ``orders_per_second``), including the share of the
        vectorised per-block setup that falls on the order that triggers it.
        """
        p = self.problem
        start = time.perf_counter()
        n = p.n_orders
        out_lines: list[npt.NDArray[np.int64]] = []
        out_nodes: list[npt.NDArray[np.int64]] = []
        out_qty: list[npt.NDArray[np.int64]] = []
        exact = 0
        latency = np.zeros(n)
        line_start = p.line_start
        for o in range(n):
            tick = time.perf_counter()
            _, _, closed, tiers, ship = self._order_rows(o)
            ctx, _ = self._context(o, ship, closed, tiers)
            choice = self._solve(ctx, record=False, commit=True)
            latency[o] = time.perf_counter() - tick
            exact += choice.exact
            if len(choice.nodes):
                rows, cols = np.nonzero(choice.take)
                out_lines.append(line_start[o] + rows)
                out_nodes.append(choice.nodes[cols])
                out_qty.append(choice.take[rows, cols])
            if (o + 1) % _CHUNK == 0 or o + 1 == n:
                progress(o + 1, n, "routing")
        result = collect(
            p,
            _cat(out_lines),
            _cat(out_nodes),
            _cat(out_qty),
            method="sequential",
            status="feasible",
            seconds=time.perf_counter() - start,
        )
        result.details["exact_orders"] = exact
        if n:
            result.details["latency_p50_us"] = float(np.percentile(latency, 50) * 1e6)
            result.details["latency_p99_us"] = float(np.percentile(latency, 99) * 1e6)
            result.details["orders_per_second"] = n / max(float(latency.sum()), 1e-12)
        return result

    def order_bounds(self) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
        """Per order, a lower bound on its cheapest plan against the router's stock (nothing consumed),
        under the router's prices, and whether that bound is exact (the search finished)."""
        n = self.problem.n_orders
        out = np.empty(n)
        exact = np.empty(n, bool)
        for o in range(n):
            _, _, closed, tiers, ship = self._order_rows(o)
            ctx, _ = self._context(o, ship, closed, tiers)
            choice = self._solve(ctx, record=False, commit=False)
            out[o] = choice.bound
            exact[o] = choice.exact
        return out, exact

    # -- internals -------------------------------------------------------------------------------
    def _order_rows(
        self, o: int
    ) -> tuple[
        npt.NDArray[np.float64],
        npt.NDArray[np.float64],
        npt.NDArray[np.int8],
        list[npt.NDArray[np.bool_]],
        npt.NDArray[np.float64],
    ]:
        """``(fixed, distance cost, closure flags, tier masks, fixed + distance)`` of order ``o`` per
        node, from the block of :data:`_CHUNK` orders holding it (computed vectorised on first use)."""
        lo, hi = self._block
        if not lo <= o < hi:
            p = self.problem
            lo = o - o % _CHUNK
            hi = min(lo + _CHUNK, p.n_orders)
            pos = np.arange(lo, hi, dtype=np.int64)
            net = p.network
            dist = distance_rows(p.orders.lat[pos], p.orders.lon[pos], net.lat, net.lon)
            fixed, dcost = p.shipment_cost(pos, dist)
            ship = fixed + dcost
            self._rows = (fixed, dcost, p.closed(pos, dist), p.tier_masks(pos, dist), ship)
            self._block = (lo, hi)
        k = o - lo
        fixed, dcost, closed, tiers, ship = self._rows
        return fixed[k], dcost[k], closed[k], [m[k] for m in tiers], ship[k]

    def _labels(self) -> tuple[list[Any], list[Any], list[Any]]:
        """Node, line sku and order ids as Python values (converted once, on first use)."""
        if self._label_lists is None:
            p = self.problem
            self._label_lists = (p.network.node.tolist(), p.orders.sku.tolist(), p.orders.order_id.tolist())
        return self._label_lists

    def _context(
        self,
        o: int,
        ship: npt.NDArray[np.float64],
        closed: npt.NDArray[np.int8],
        tiers: list[npt.NDArray[np.bool_]],
    ) -> tuple[_Context, int]:
        p = self.problem
        lo, hi = self._line_start[o], self._line_start[o + 1]
        skus = p.line_sku[lo:hi]
        q = p.line_qty[lo:hi]
        pool = self._pool[o]
        tier_used = -1
        allowed = self._all_nodes
        if tiers:
            # the first tier (with the ones before it) that can fill every line opens its nodes
            avail = self.atp[skus]
            if pool >= 0:
                avail = np.minimum(avail, self.pool_left[pool][skus])
            open_ = (closed == 0) & self.node_open
            acap = np.minimum(avail, q[:, None])
            union = np.zeros(len(open_), bool)
            tier_used = len(tiers) - 1
            for t, mask in enumerate(tiers):
                union |= mask
                if np.all((acap * (open_ & union)).sum(axis=1) >= q):
                    tier_used = t
                    break
            allowed = union
        if self.shipment_price is not None:
            ship = ship + self.shipment_price
        ctx = _Context(
            o=o,
            skus=skus,
            q=q,
            units=self._order_units[o],
            closed=closed,
            allowed=allowed,
            ship=ship,
            pool=pool,
            penalty=self._penalty,
            max_set=self._max_set[o],
            truncated=self._truncated[o],
            allow_partial=self._allow_partial[o],
        )
        return ctx, tier_used

    def _solve(self, ctx: _Context, *, record: bool, commit: bool) -> _Choice:
        args = (
            ctx.skus,
            ctx.q,
            ctx.units,
            self.atp,
            self.pool_left,
            ctx.pool,
            ctx.closed,
            self.node_open,
            ctx.allowed,
            ctx.ship,
            self._unit_price,
            self._stock_price,
            self.cap_orders,
            self.cap_units,
            self._priority,
            ctx.penalty,
            ctx.max_set,
            ctx.truncated,
            ctx.allow_partial,
            self.max_evaluations,
            record,
            commit,
        )
        if not record:
            nodes, take, exact, value, bound = solve_order(*args)
            return _Choice(nodes=nodes, take=take, exact=exact, value=value, bound=bound)
        nodes, take, exact, value, bound, acap, h, single, log_cost, log_nodes, log_filled = explain_order(
            *args
        )
        return _Choice(
            nodes=nodes,
            take=take,
            exact=exact,
            value=value,
            bound=bound,
            explained=_Explanation(
                acap=acap,
                handling=h,
                single=single,
                log_cost=log_cost,
                log_nodes=log_nodes,
                log_filled=log_filled,
            ),
        )

    def _search(self, ctx: _Context, *, explain: bool) -> _Choice:
        """The cheapest plan for the order of ``ctx`` against the live stock, nothing consumed."""
        return self._solve(ctx, record=explain, commit=False)

    def _commit(self, o: int, choice: _Choice) -> None:
        """Consume a plan of order ``o`` (from :meth:`_search`) from the live stock and capacity."""
        if not len(choice.nodes):
            return
        p = self.problem
        lo, hi = int(p.line_start[o]), int(p.line_start[o + 1])
        commit_order(
            p.line_sku[lo:hi],
            choice.take,
            choice.nodes,
            self.atp,
            self.pool_left,
            int(p.pool[o]),
            self.cap_orders,
            self.cap_units,
            self.node_open,
        )

    def _plan(
        self,
        o: int,
        ctx: _Context,
        choice: _Choice,
        fixed: npt.NDArray[np.float64],
        dcost: npt.NDArray[np.float64],
        closed: npt.NDArray[np.int8],
        tiers: list[npt.NDArray[np.bool_]],
        tier_used: int,
        explain: bool,
    ) -> RoutingPlan:
        lo = self._line_start[o]
        node_ids, sku_ids, order_ids = self._labels()
        nodes = choice.nodes.tolist()
        take = choice.take.tolist()
        q = ctx.q.tolist()
        lines = []
        unfilled = []
        shipped = [0] * len(nodes)
        short = 0
        for r, row in enumerate(take):
            sku = sku_ids[lo + r]
            got = 0
            for k, units in enumerate(row):
                if units > 0:
                    lines.append(PlanLine(sku, node_ids[nodes[k]], units))
                    got += units
                    shipped[k] += units
            if got < q[r]:
                unfilled.append((sku, q[r] - got))
                short += q[r] - got
        handling = self._handling_list
        shipment = distance = handling_cost = 0.0
        for n, units in zip(nodes, shipped, strict=True):
            shipment += float(fixed[n])
            distance += float(dcost[n])
            handling_cost += handling[n] * units
        cost = CostBreakdown(
            shipment=shipment,
            distance=distance,
            handling=handling_cost,
            unfilled=float(self._penalty * short),
        )
        if not explain or choice.explained is None:
            return RoutingPlan(
                order_id=order_ids[o],
                lines=tuple(lines),
                unfilled=tuple(unfilled),
                cost=cost,
                exact=choice.exact,
            )
        n = choice.nodes
        got = choice.take.sum(axis=1)
        total = cost.total
        explained = choice.explained
        ranked = heapq.nsmallest(10, explained.evaluated(self.cap_units), key=lambda e: (e[0], len(e[1])))
        chosen_set = tuple(sorted(n.tolist()))
        alternatives = [
            Alternative(
                nodes=tuple(node_ids[i] for i in n.tolist()),
                cost=total,
                filled_units=int(got.sum()),
                note="chosen",
            )
        ]
        for value, members, filled in ranked:
            if tuple(sorted(members)) == chosen_set:
                continue
            note = "partial fill not allowed" if value == _INF else f"costlier by {value - total:.2f}"
            alternatives.append(
                Alternative(
                    nodes=tuple(node_ids[i] for i in members), cost=value, filled_units=filled, note=note
                )
            )
        verdicts = self._verdicts(o, ctx, choice, explained, closed, tiers, tier_used, total)
        return RoutingPlan(
            order_id=order_ids[o],
            lines=tuple(lines),
            unfilled=tuple(unfilled),
            cost=cost,
            exact=choice.exact,
            alternatives=tuple(alternatives),
            verdicts=verdicts,
        )

    def _verdicts(
        self,
        o: int,
        ctx: _Context,
        choice: _Choice,
        explained: _Explanation,
        closed: npt.NDArray[np.int8],
        tiers: list[npt.NDArray[np.bool_]],
        tier_used: int,
        total: float,
    ) -> tuple[NodeVerdict, ...]:
        p = self.problem
        acap = explained.acap
        filled = np.minimum(acap.sum(axis=0), self.cap_units)
        alone = ctx.ship + (explained.handling * acap).sum(axis=0) + ctx.penalty * (ctx.units - filled)
        chosen = set(choice.nodes.tolist())
        names = [t.name or f"tier {i}" for i, t in enumerate(p.rules.tiers)]
        out = []
        raw = np.minimum(self.atp[ctx.skus], ctx.q[:, None]).sum(axis=0)
        node_ids = self._labels()[0]
        for n in range(p.n_nodes):
            node = node_ids[n]
            flag = int(closed[n])
            cost_alone = float(alone[n]) if filled[n] > 0 else _INF
            if n in chosen:
                shipped = int(choice.take[:, list(choice.nodes).index(n)].sum())
                status, reason = "chosen", f"ships {shipped} unit{'' if shipped == 1 else 's'}"
            elif flag & CLOSED_EXCLUDED:
                status, reason = "excluded", "excluded by the sourcing rules"
            elif flag & CLOSED_INCAPABLE:
                method = str(p.orders.method[o])
                status = "incapable"
                reason = (
                    "not the chosen pick-up node or cannot hand over"
                    if method == "pickup"
                    else (f"cannot fulfil method {method!r}")
                )
            elif flag & CLOSED_TOO_FAR:
                status, reason = "too_far", "beyond the distance limit for this method"
            elif flag & CLOSED_POOL:
                status, reason = "excluded", "outside the channel's stock pool"
            elif tiers and not any(m[n] for m in tiers[: tier_used + 1]):
                status, reason = "excluded", f"sourcing tier not reached (filled within {names[tier_used]!r})"
            elif not self.node_open[n]:
                status, reason = "over_capacity", "daily shipment or unit capacity used up"
            elif raw[n] == 0:
                status, reason = "no_stock", "no available-to-promise for any line"
            elif filled[n] < ctx.units and ctx.max_set == 1 and not ctx.allow_partial:
                status, reason = "policy", f"has {int(filled[n])} of {ctx.units} units; split not allowed"
            else:
                status = "costlier"
                if filled[n] < ctx.units:
                    reason = f"has {int(filled[n])} of {ctx.units} units; alone costs {cost_alone:.2f}"
                else:
                    reason = f"alone costs {cost_alone:.2f} vs {total:.2f}"
            out.append(NodeVerdict(node=node, status=status, reason=reason, cost_alone=cost_alone))
        return tuple(out)


def _py(value: Any) -> Any:
    """A numpy scalar as a Python value (text from StringDType arrays is already ``str``)."""
    item = getattr(value, "item", None)
    return item() if callable(item) else value


def _cat(parts: list[npt.NDArray[np.int64]]) -> npt.NDArray[np.int64]:
    return np.concatenate(parts).astype(np.int64) if parts else np.empty(0, np.int64)


def collect(
    p: Problem,
    line_index: npt.NDArray[np.int64],
    node_index: npt.NDArray[np.int64],
    quantity: npt.NDArray[np.int64],
    *,
    method: str,
    status: str,
    seconds: float,
    lower_bound: float | None = None,
    details: dict[str, Any] | None = None,
) -> AllocationResult:
    """Price an allocation given as (line, node, units) triples and build the result."""
    keep = quantity > 0
    line_index, node_index, quantity = line_index[keep], node_index[keep], quantity[keep]
    orders = p.line_order[line_index]
    # shipments: distinct (order, node)
    pair = orders * p.n_nodes + node_index
    upair, _first = np.unique(pair, return_index=True)
    ship_orders, ship_nodes = upair // p.n_nodes, upair % p.n_nodes
    fixed = float(p.fixed[ship_nodes].sum())
    dcost = 0.0
    if len(upair):
        dist = _pair_distances(p, ship_orders, ship_nodes)
        d = p.cost.distance_cost(dist, p.network.cost_per_km[ship_nodes])
        d = np.where(p.method[ship_orders] == 1, 0.0, d)
        dcost = float(d.sum())
    handling = float((p.handling[node_index] * quantity).sum())
    got = np.bincount(line_index, weights=quantity, minlength=len(p.line_qty)).astype(np.int64)
    short = np.maximum(p.line_qty - got, 0)
    cost = CostBreakdown(
        shipment=fixed,
        distance=dcost,
        handling=handling,
        unfilled=float(p.cost.unfilled_penalty_per_unit * short.sum()),
    )
    order_ids = p.orders.order_id
    allocation = Allocation(
        order_id=order_ids[orders],
        sku=p.orders.sku[line_index],
        node=p.network.node[node_index],
        quantity=quantity,
    )
    missing = np.flatnonzero(short > 0)
    unfilled = Unfilled(
        order_id=order_ids[p.line_order[missing]], sku=p.orders.sku[missing], quantity=short[missing]
    )
    return AllocationResult(
        allocation=allocation,
        unfilled=unfilled,
        cost=cost,
        lower_bound=lower_bound,
        method=method,
        status=status,
        seconds=seconds,
        n_orders=p.n_orders,
        shipments=len(upair),
        details=dict(details or {}),
    )


def _pair_distances(
    p: Problem, orders: npt.NDArray[np.int64], nodes: npt.NDArray[np.int64]
) -> npt.NDArray[np.float64]:
    from omnicore.allocation._network import distance_km

    net = p.network
    return distance_km(p.orders.lat[orders], p.orders.lon[orders], net.lat[nodes], net.lon[nodes])
