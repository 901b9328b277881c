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
    evaluated: list[tuple[float, tuple[int, ...], int]]


@attrs.define(kw_only=True, eq=False)
class _Context:
    """What the search needs about one order."""

    q: npt.NDArray[np.int64]
    units: int
    acap: npt.NDArray[np.int64]  # [lines, nodes], zero where closed
    ship: npt.NDArray[np.float64]  # [nodes] fixed + distance
    handling: npt.NDArray[np.float64]  # [lines, nodes] cost per unit (handling, plus prices)
    cap_units: npt.NDArray[np.int64]
    penalty: float
    max_set: int
    truncated: bool  # max_set is the search bound, below the order's own limit
    allow_partial: bool


class Router:
    """The real-time sourcing engine: routes orders one at a time against live stock and capacity.

    Each routed order consumes available-to-promise, shipment capacity and unit capacity, so later
    orders see what is left, as an order-management system would. Build it once per wave or day
    (:func:`route_order` and :func:`route_orders` do that for you).

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
    nodes are priced in one vectorised pass. Larger sets are searched by set-cover branch and bound:
    branch on the uncovered line with the fewest holders (or, when partial fill is allowed, on giving
    it up), bound by ``cost(S) + min(h, p) * units + max over open lines of min(cheapest holder,
    penalty gap)``, and skip a holder that an earlier sibling covers at no higher cost. The search is
    exact up to ``max_set_size`` shipments and ``max_evaluations`` priced sets; beyond either bound the
    best plan found is returned with ``exact=False``. Within a set, each line takes units from its
    cheapest node first, which is optimal for the set when unit capacities do not bind (when they do,
    the excess is cut and left unfilled, so such plans may be suboptimal).
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

    # -- public ----------------------------------------------------------------------------------
    def route(self, position: int, *, explain: bool = True, commit: bool = True) -> RoutingPlan:
        """Route the order at ``position`` of the problem's orders and (by default) consume its stock."""
        pos = np.array([position], np.int64)
        p = self.problem
        dist = p.distances(pos)
        fixed, dcost = p.shipment_cost(pos, dist)
        closed = p.closed(pos, dist)[0]
        tiers = [m[0] for m in p.tier_masks(pos, dist)]
        ctx, tier_used = self._context(position, fixed[0] + dcost[0], closed, tiers)
        choice = self._search(ctx, explain=explain)
        if commit:
            self._commit(position, choice)
        return self._plan(position, ctx, choice, fixed[0], dcost[0], closed, tiers, tier_used, explain)

    def route_all(self, *, progress: Progress = null_progress) -> AllocationResult:
        """Route every order of the problem in sequence (input order) and collect the allocation."""
        p = self.problem
        start = time.perf_counter()
        n = p.n_orders
        out_lines: list[npt.NDArray[np.int64]] = []
        out_nodes: list[npt.NDArray[np.int64]] = []
        out_qty: list[npt.NDArray[np.int64]] = []
        exact = 0
        latency = np.zeros(n)
        for lo in range(0, n, _CHUNK):
            chunk_start = time.perf_counter()
            pos = np.arange(lo, min(lo + _CHUNK, n), dtype=np.int64)
            dist = p.distances(pos)
            fixed, dcost = p.shipment_cost(pos, dist)
            ship = fixed + dcost
            closed = p.closed(pos, dist)
            tiers = p.tier_masks(pos, dist)
            chunk_setup = (time.perf_counter() - chunk_start) / len(pos)
            for k, o in enumerate(pos.tolist()):
                tick = time.perf_counter()
                ctx, _ = self._context(o, ship[k], closed[k], [m[k] for m in tiers])
                choice = self._search(ctx, explain=False)
                exact += choice.exact
                self._commit(o, choice)
                latency[o] = time.perf_counter() - tick + chunk_setup
                if len(choice.nodes):
                    rows, cols = np.nonzero(choice.take)
                    out_lines.append(p.line_start[o] + rows)
                    out_nodes.append(choice.nodes[cols])
                    out_qty.append(choice.take[rows, cols])
            progress(int(pos[-1]) + 1, n, "routing")
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
        p = self.problem
        n = p.n_orders
        out = np.empty(n)
        exact = np.empty(n, bool)
        for lo in range(0, n, _CHUNK):
            pos = np.arange(lo, min(lo + _CHUNK, n), dtype=np.int64)
            dist = p.distances(pos)
            fixed, dcost = p.shipment_cost(pos, dist)
            ship = fixed + dcost
            closed = p.closed(pos, dist)
            tiers = p.tier_masks(pos, dist)
            for k, o in enumerate(pos.tolist()):
                ctx, _ = self._context(o, ship[k], closed[k], [m[k] for m in tiers])
                choice = self._search(ctx, explain=False)
                out[o] = choice.bound
                exact[o] = choice.exact
        return out, exact

    # -- internals -------------------------------------------------------------------------------
    def _context(
        self,
        o: int,
        ship: npt.NDArray[np.float64],
        closed: npt.NDArray[np.int8],
        tiers: list[npt.NDArray[np.bool_]],
    ) -> tuple[_Context, int]:
        p = self.problem
        lo, hi = int(p.line_start[o]), int(p.line_start[o + 1])
        skus = p.line_sku[lo:hi]
        q = p.line_qty[lo:hi]
        avail = self.atp[skus]
        pool = int(p.pool[o])
        if pool >= 0:
            avail = np.minimum(avail, self.pool_left[pool][skus])
        open_ = (closed == 0) & self.node_open
        acap = np.minimum(avail, q[:, None])
        tier_used = -1
        if tiers:
            union = np.zeros(len(open_), bool)
            tier_used = len(tiers) - 1
            for t, mask in enumerate(tiers):
                union |= mask
                if np.all((acap * (open_ & union)).sum(axis=1) >= q):
                    tier_used = t
                    break
            open_ &= union
        acap = acap * open_
        if self.shipment_price is not None:
            ship = ship + self.shipment_price
        max_ship = int(p.orders.max_shipments[o]) or 1_000_000
        if not p.orders.allow_split[o]:
            max_ship = 1
        ctx = _Context(
            q=q,
            units=int(p.order_units[o]),
            acap=acap,
            ship=ship,
            handling=self._unit_costs(skus),
            cap_units=self.cap_units,
            penalty=p.cost.unfilled_penalty_per_unit,
            max_set=min(max_ship, self.max_set_size),
            truncated=max_ship > self.max_set_size,
            allow_partial=bool(p.orders.allow_partial[o]),
        )
        return ctx, tier_used

    def _unit_costs(self, skus: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        if self.stock_price is None:
            return np.broadcast_to(self.unit_price, (len(skus), len(self.unit_price)))
        out: npt.NDArray[np.float64] = self.unit_price[None, :] + self.stock_price[skus]
        return out

    def _search(self, ctx: _Context, *, explain: bool) -> _Choice:
        q, units, acap, ship, h = ctx.q, ctx.units, ctx.acap, ctx.ship, ctx.handling
        pen = ctx.penalty
        raw = acap.sum(axis=0)
        filled = np.minimum(raw, ctx.cap_units)
        unit_part = (h * acap).sum(axis=0)
        if (filled < raw).any():
            unit_part = unit_part * np.where(raw > 0, filled / np.maximum(raw, 1), 0.0)
        cost1 = ship + unit_part + pen * (units - filled)
        feasible1 = filled > 0
        if not ctx.allow_partial:
            feasible1 &= filled >= units
        best_cost = pen * units
        best_nodes: tuple[int, ...] = ()
        masked = np.where(feasible1, cost1, _INF)
        j = int(np.argmin(masked))
        if masked[j] < best_cost - 1e-9:
            best_cost, best_nodes = float(masked[j]), (j,)
        evaluated: list[tuple[float, tuple[int, ...], int]] = []
        if explain:
            evaluated = [
                (float(cost1[i]) if feasible1[i] else _INF, (int(i),), int(filled[i]))
                for i in np.flatnonzero(filled > 0)
            ]
        exact = True
        bound = best_cost
        if ctx.max_set >= 2:
            useful = np.flatnonzero(filled > 0)
            if len(useful) >= 2:
                coverable = int(np.minimum(q, acap[:, useful].sum(axis=1)).sum())
                lbh = min(float(h[:, useful].min()), pen) * coverable + pen * (units - coverable)
                c = ship[useful]
                two = np.partition(c, 1)[:2].sum() if len(c) > 2 else c.sum()
                if two + lbh < best_cost - 1e-9:
                    best_cost, best_nodes, exact, root = self._deep(
                        ctx, useful, best_cost, best_nodes, evaluated if explain else None
                    )
                    bound = best_cost if exact else min(root, best_cost)
        if best_nodes:
            nodes = np.asarray(best_nodes, np.int64)
            take = _assign(acap[:, nodes], h[:, nodes], q, ctx.cap_units[nodes])
            keep = take.sum(axis=0) > 0
            nodes, take = nodes[keep], take[:, keep]
        else:
            nodes, take = np.empty(0, np.int64), np.zeros((len(q), 0), np.int64)
        return _Choice(nodes=nodes, take=take, exact=exact, value=best_cost, bound=bound, evaluated=evaluated)

    def _deep(
        self,
        ctx: _Context,
        useful: npt.NDArray[np.intp],
        best_cost: float,
        best_nodes: tuple[int, ...],
        evaluated: list[tuple[float, tuple[int, ...], int]] | None,
    ) -> tuple[float, tuple[int, ...], bool, float]:
        """Exact search over node sets by set-cover branching (see the class Notes)."""
        units, acap, ship, h, pen = ctx.units, ctx.acap, ctx.ship, ctx.handling, ctx.penalty
        # units no node set can fill cost the penalty whatever we choose: target the coverable part
        q = np.minimum(ctx.q, acap[:, useful].sum(axis=1))
        # a node whose shipment alone, plus the unavoidable unit costs, reaches the incumbent is useless
        floor = min(float(h[:, useful].min()), pen) * int(q.sum()) + pen * (units - int(q.sum()))
        useful = useful[ship[useful] + floor < best_cost - 1e-9]
        if len(useful) == 0:
            return best_cost, best_nodes, True, best_cost
        q = np.minimum(ctx.q, acap[:, useful].sum(axis=1))
        order = useful[np.lexsort((self.problem.network.priority[useful], ship[useful]))]
        cand = order.tolist()
        c_arr = ship[order]
        c = c_arr.tolist()
        cols = acap[:, order]
        hs = h[:, order]
        capu = ctx.cap_units[order]
        n_cand = len(cand)
        hmin = float(hs.min())
        unit_rate = min(hmin, pen)
        gap_rate = max(pen - hmin, 0.0) if ctx.allow_partial else _INF
        # giving a line up bans its holders only when filling is never dearer than the penalty
        ban_on_give_up = pen >= float(hs.max())
        holds = cols > 0
        # dominates[j, i]: j (cheaper, earlier) can stand in for i in any set, at no extra cost
        covers = np.all(cols[:, :, None] >= cols[:, None, :], axis=0)
        worse = np.maximum(np.max(hs[:, :, None] - hs[:, None, :], axis=0), 0.0)
        dearer = c_arr[:, None] + worse * units <= c_arr[None, :]
        dominates = np.triu(covers & dearer, k=1)
        state: dict[str, Any] = {"evals": 0, "exact": True, "best": best_cost, "nodes": best_nodes}

        def price(members: list[int]) -> None:
            state["evals"] += 1
            idx = np.asarray(members)
            take = _assign(cols[:, idx], hs[:, idx], q, capu[idx])
            used = take.sum(axis=0) > 0
            got = int(take.sum())
            cost = float(c_arr[idx][used].sum() + (take * hs[:, idx]).sum() + pen * (units - got))
            ok = ctx.allow_partial or got >= units
            chosen = tuple(cand[k] for k in idx[used].tolist())
            if evaluated is not None:
                evaluated.append((cost if ok else _INF, chosen, got))
            if ok and cost < state["best"] - 1e-9:
                state["best"], state["nodes"] = cost, chosen

        def bound(
            csum: float,
            cover: npt.NDArray[np.int64],
            target: npt.NDArray[np.int64],
            banned: npt.NDArray[np.bool_],
        ) -> float:
            tsum = int(target.sum())
            lb = csum + unit_rate * tsum + pen * (units - tsum)
            extra = 0.0
            for r in np.flatnonzero(cover < target).tolist():
                free = np.flatnonzero(holds[r] & ~banned)
                cheapest = c[int(free[0])] if len(free) else _INF
                extra = max(extra, min(cheapest, gap_rate * float(target[r] - cover[r])))
            return lb + extra

        def branch(
            members: list[int],
            csum: float,
            cover: npt.NDArray[np.int64],
            target: npt.NDArray[np.int64],
            banned: npt.NDArray[np.bool_],
        ) -> None:
            if state["evals"] >= self.max_evaluations:
                state["exact"] = False
                return
            open_lines = np.flatnonzero(cover < target)
            if len(open_lines) == 0:
                if len(members) >= 2:
                    price(members)
                return
            if len(members) >= ctx.max_set:
                if len(members) >= 2 and ctx.allow_partial:
                    price(members)
                if ctx.truncated:
                    state["exact"] = False
                return
            free_counts = (holds[open_lines] & ~banned).sum(axis=1)
            r = int(open_lines[int(np.argmin(free_counts))])
            lb_here = csum + unit_rate * int(target.sum()) + pen * (units - int(target.sum()))
            local = banned.copy()
            siblings: list[int] = []
            for k in np.flatnonzero(holds[r] & ~banned).tolist():
                if lb_here + c[k] >= state["best"] - 1e-9:
                    break
                if siblings and dominates[siblings, k].any():
                    local[k] = True
                    continue
                new_cover = np.minimum(cover + cols[:, k], target)
                local[k] = True
                if bound(csum + c[k], new_cover, target, local) < state["best"] - 1e-9:
                    branch([*members, k], csum + c[k], new_cover, target, local.copy())
                siblings.append(k)
            if ctx.allow_partial:
                given_up = target.copy()
                given_up[r] = cover[r]
                after = local if ban_on_give_up else banned
                if bound(csum, cover, given_up, after) < state["best"] - 1e-9:
                    branch(members, csum, cover, given_up, after)

        zero = np.zeros(len(q), np.int64)
        root = bound(0.0, zero, q, np.zeros(n_cand, bool))
        branch([], 0.0, zero, q.copy(), np.zeros(n_cand, bool))
        return float(state["best"]), tuple(state["nodes"]), bool(state["exact"]), root

    def _commit(self, o: int, choice: _Choice) -> None:
        if not len(choice.nodes):
            return
        p = self.problem
        lo, hi = int(p.line_start[o]), int(p.line_start[o + 1])
        skus = p.line_sku[lo:hi]
        rows, cols = np.nonzero(choice.take)
        nodes = choice.nodes[cols]
        qty = choice.take[rows, cols]
        np.subtract.at(self.atp, (skus[rows], nodes), qty)
        pool = int(p.pool[o])
        if pool >= 0:
            np.subtract.at(self.pool_left[pool], (skus[rows], nodes), qty)
        self.cap_orders[choice.nodes] -= 1
        self.cap_units[choice.nodes] -= choice.take.sum(axis=0)
        shut = (self.cap_orders[choice.nodes] <= 0) | (self.cap_units[choice.nodes] <= 0)
        if shut.any():
            self.node_open[choice.nodes[shut]] = False

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
        p = self.problem
        lo = int(p.line_start[o])
        node_ids = p.network.node
        lines = []
        rows, cols = np.nonzero(choice.take)
        for r, k in zip(rows.tolist(), cols.tolist(), strict=True):
            lines.append(
                PlanLine(_py(p.orders.sku[lo + r]), _py(node_ids[choice.nodes[k]]), int(choice.take[r, k]))
            )
        got = choice.take.sum(axis=1)
        short = ctx.q - got
        unfilled = tuple((_py(p.orders.sku[lo + r]), int(short[r])) for r in np.flatnonzero(short > 0))
        n = choice.nodes
        h_units = choice.take.sum(axis=0)
        cost = CostBreakdown(
            shipment=float(fixed[n].sum()),
            distance=float(dcost[n].sum()),
            handling=float((p.handling[n] * h_units).sum()),
            unfilled=float(p.cost.unfilled_penalty_per_unit * short.sum()),
        )
        if not explain:
            return RoutingPlan(
                order_id=_py(p.orders.order_id[o]),
                lines=tuple(lines),
                unfilled=unfilled,
                cost=cost,
                exact=choice.exact,
            )
        total = cost.total
        ranked = heapq.nsmallest(10, choice.evaluated, key=lambda e: (e[0], len(e[1])))
        chosen_set = tuple(sorted(n.tolist()))
        alternatives = [
            Alternative(
                nodes=tuple(_py(node_ids[i]) for i in n),
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
                    nodes=tuple(_py(node_ids[i]) for i in members), cost=value, filled_units=filled, note=note
                )
            )
        verdicts = self._verdicts(o, ctx, choice, closed, tiers, tier_used, total)
        return RoutingPlan(
            order_id=_py(p.orders.order_id[o]),
            lines=tuple(lines),
            unfilled=unfilled,
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
        closed: npt.NDArray[np.int8],
        tiers: list[npt.NDArray[np.bool_]],
        tier_used: int,
        total: float,
    ) -> tuple[NodeVerdict, ...]:
        p = self.problem
        filled = np.minimum(ctx.acap.sum(axis=0), ctx.cap_units)
        alone = ctx.ship + (ctx.handling * ctx.acap).sum(axis=0) + ctx.penalty * (ctx.units - filled)
        chosen = set(choice.nodes.tolist())
        names = [t.name or f"tier {i}" for i, t in enumerate(p.rules.tiers)]
        out = []
        lo, hi = int(p.line_start[o]), int(p.line_start[o + 1])
        raw = np.minimum(self.atp[p.line_sku[lo:hi]], ctx.q[:, None]).sum(axis=0)
        for n in range(p.n_nodes):
            node = _py(p.network.node[n])
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


def _assign(
    acap: npt.NDArray[np.int64],
    h: npt.NDArray[np.float64],
    q: npt.NDArray[np.int64],
    capu: npt.NDArray[np.int64],
) -> npt.NDArray[np.int64]:
    """Units per (line, node) for a fixed node set: cheapest unit cost first per line, within capacity."""
    order = np.argsort(h, axis=1, kind="stable")
    a = np.take_along_axis(acap, order, axis=1)
    before = np.cumsum(a, axis=1) - a
    sorted_take = np.minimum(a, np.maximum(q[:, None] - before, 0))
    take = np.empty_like(sorted_take)
    np.put_along_axis(take, order, sorted_take, axis=1)
    over = take.sum(axis=0) - capu
    if (over > 0).any():
        for k in np.flatnonzero(over > 0).tolist():
            excess = int(over[k])
            for r in range(take.shape[0] - 1, -1, -1):
                cut = min(excess, int(take[r, k]))
                take[r, k] -= cut
                excess -= cut
                if excess == 0:
                    break
    return take


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
