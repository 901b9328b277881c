"""The pure-Python single-order search omnicore shipped before the compiled kernel (numpy plus a
recursive branch and bound, as on main before round 3), kept as an independent reference: the
compiled :class:`omnicore.allocation._single.Router` must return the same plan, objective, bound and
exactness for every order, and leave the same stock."""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from omnicore.allocation._problem import Problem

_INF = float("inf")


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


class ReferenceRouter:
    """Sequential exact routing with numpy and a recursive Python branch and bound."""

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

    def route(self, o: int, *, commit: bool = True, explain: bool = False) -> _Choice:
        """The plan of order ``o`` against the live stock (consumed when ``commit``)."""
        p = self.problem
        pos = np.array([o], np.int64)
        dist = p.distances(pos)
        fixed, dcost = p.shipment_cost(pos, dist)
        closed = p.closed(pos, dist)[0]
        tiers = [m[0] for m in p.tier_masks(pos, dist)]
        ctx, _ = self._context(o, fixed[0] + dcost[0], closed, tiers)
        choice = self._search(ctx, explain=explain)
        if commit:
            self._commit(o, choice)
        return choice

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
