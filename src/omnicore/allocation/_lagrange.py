"""Lagrangian lower bound of the wave problem, with subgradient optimisation of the multipliers.

Relaxing the coupling rows (stock per (sku, node), shipments and units per node) with prices
``pi >= 0`` splits the wave into one small problem per order: the cost of any allocation is at least
``L(pi) = sum_o v_o(pi) - pi . rhs``, where ``v_o`` is the cheapest plan of order ``o`` alone under
the priced costs against all of the static stock (Geoffrion, 1974). Any lower bound on each ``v_o``
keeps ``L`` a valid bound, so the per-order values are computed in vectorised numpy for all orders
(exact for every order whose cheapest single-node plan provably beats any multi-node plan) and the
few remaining orders go to the exact single-order search while time allows; an order left out keeps
its vectorised lower bound. The prices are improved by projected subgradient steps (Polyak steps
towards the best known plan's cost; Held, Wolfe and Crowder, 1974).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from omnicore.allocation._problem import Problem
from omnicore.allocation._single import Router

__all__ = ["Prices", "lagrangian_value", "optimise_bound"]

logger = logging.getLogger(__name__)
_INF = np.inf


@attrs.define(kw_only=True, eq=False)
class Prices:
    """Non-negative multipliers of the coupling rows."""

    stock: npt.NDArray[np.float64]  # [skus, nodes]
    shipment: npt.NDArray[np.float64]  # [nodes]
    unit: npt.NDArray[np.float64]  # [nodes]

    def clipped(self, p: Problem) -> Prices:
        """Project onto ``pi >= 0``, zero on rows that cannot bind, and unit prices no dearer than the
        unfilled penalty (``handling + prices <= penalty``), which keeps every order's search exact."""
        pen = p.cost.unfilled_penalty_per_unit
        ship_rows, unit_rows = _binding_rows(p)
        unit = np.clip(self.unit, 0.0, np.maximum(pen - p.handling, 0.0)) * unit_rows
        room = np.maximum(pen - p.handling - unit, 0.0)
        stock = np.clip(self.stock, 0.0, room[None, :])
        return Prices(stock=stock, shipment=np.maximum(self.shipment, 0.0) * ship_rows, unit=unit)


def _binding_rows(p: Problem) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    ship_rows = p.cap_orders < p.n_orders
    unit_rows = p.cap_units < int(p.order_units.sum())
    return ship_rows, unit_rows


@attrs.define(kw_only=True, eq=False)
class _Evaluation:
    value: float  # L(pi), a valid lower bound
    exact_orders: int
    usage_stock: npt.NDArray[np.float64]
    usage_ship: npt.NDArray[np.float64]
    usage_units: npt.NDArray[np.float64]


def lagrangian_value(p: Problem, prices: Prices, *, deadline: float, chunk_lines: int = 8192) -> _Evaluation:
    """``L(pi)`` (a valid lower bound on any allocation's cost) and the resource use of the per-order
    plans behind it (a subgradient direction). ``prices`` must be :meth:`Prices.clipped`."""
    n, n_nodes = p.n_orders, p.n_nodes
    pen = p.cost.unfilled_penalty_per_unit
    values = np.zeros(n)
    exact = np.zeros(n, bool)
    use_stock = np.zeros(p.atp.shape)
    use_ship = np.zeros(n_nodes)
    use_units = np.zeros(n_nodes)
    max_ship = np.where(p.orders.allow_split, p.orders.max_shipments, 1)
    max_ship = np.where(max_ship == 0, n_nodes, max_ship)
    unit_base = p.handling + prices.unit
    router = Router(p, stock_price=prices.stock, shipment_price=prices.shipment, unit_price=prices.unit)
    hard: list[tuple[int, npt.NDArray[np.float64], npt.NDArray[np.int8], list[npt.NDArray[np.bool_]]]] = []
    step = max(1, chunk_lines * 8 // max(n_nodes, 1))
    for lo in range(0, n, step):
        pos = np.arange(lo, min(lo + step, n), dtype=np.int64)
        k = len(pos)
        dist = p.distances(pos)
        fixed, dcost = p.shipment_cost(pos, dist)
        base_ship = fixed + dcost
        ship = base_ship + prices.shipment[None, :]
        closed = p.closed(pos, dist)
        open_ = (closed == 0) & ((p.cap_orders > 0) & (p.cap_units > 0))[None, :]
        tiers = p.tier_masks(pos, dist)
        if tiers:  # any tier's node may serve: a relaxation of the tier rules, so still a bound
            union = np.zeros_like(open_)
            for mask in tiers:
                union |= mask
            open_ &= union
        l0, l1 = int(p.line_start[lo]), int(p.line_start[pos[-1] + 1])
        lines = np.arange(l0, l1)
        local = p.line_order[lines] - lo
        sku = p.line_sku[lines]
        q = p.line_qty[lines]
        avail = p.atp[sku]
        pools = p.pool[p.line_order[lines]]
        has = pools >= 0
        if has.any():
            avail = avail.copy()
            avail[has] = np.minimum(avail[has], p.pool_cap[pools[has], sku[has]])
        acap = np.minimum(avail, q[:, None]) * open_[local]
        rate = unit_base[None, :] + prices.stock[sku]
        strict_line = ~p.orders.allow_partial[p.line_order[lines]]
        # a partial order leaves a unit unfilled rather than pay more than the penalty for it
        rate = np.where(strict_line[:, None], rate, np.minimum(rate, pen))
        starts = p.line_start[pos] - l0
        raw = np.add.reduceat(acap, starts, axis=0).astype(np.float64)
        unit_sum = np.add.reduceat(acap * rate, starts, axis=0)
        min_rate = np.minimum.reduceat(np.where(acap > 0, rate, _INF), starts, axis=0)
        units = p.order_units[pos].astype(np.float64)
        cap_u = p.cap_units[None, :].astype(np.float64)
        filled = np.minimum(raw, cap_u)
        binds = filled < raw
        floor_units = np.where(binds, np.where(np.isfinite(min_rate), min_rate, 0.0) * filled, unit_sum)
        cost1 = ship + floor_units + pen * (units[:, None] - filled)
        strict = ~p.orders.allow_partial[pos]
        feasible = (filled > 0) & (~strict[:, None] | (filled >= units[:, None]))
        cost1 = np.where(feasible, cost1, _INF)
        best_n = np.argmin(cost1, axis=1)
        single = cost1[np.arange(k), best_n]
        empty = pen * units
        best = np.minimum(single, empty)
        # any plan with two or more shipments costs at least the two cheapest useful shipments plus
        # the cheapest unit rate on every unit it can cover and the penalty on the rest
        useful = raw > 0
        ship_u = np.where(useful, ship, _INF)
        two = np.partition(ship_u, 1, axis=1)[:, :2].sum(axis=1) if n_nodes >= 2 else np.full(k, _INF)
        cover_line = np.minimum(q, acap.sum(axis=1))
        coverable = np.bincount(local, weights=cover_line, minlength=k)
        floor_rate = np.minimum(np.where(useful, min_rate, _INF).min(axis=1), pen)
        multi = two + floor_rate * coverable + pen * (units - coverable)
        multi = np.where(max_ship[pos] >= 2, multi, _INF)
        lb = np.minimum(best, multi)
        values[pos] = lb
        done = (multi >= best - 1e-9) & ~binds.any(axis=1)
        exact[pos] = done
        # resource use of the single-node or empty plan (the subgradient direction)
        take = (single < empty) & done
        if take.any():
            o_idx = np.flatnonzero(take)
            node = best_n[o_idx]
            sel = take[local]
            l_node = best_n[local[sel]]
            got = acap[np.flatnonzero(sel), l_node]
            np.add.at(use_stock, (sku[sel], l_node), got)
            np.add.at(use_ship, node, 1.0)
            np.add.at(use_units, l_node, got)
        # the search's plan costs assume unit capacity does not bind; where it does, its value is not
        # a bound, so such orders keep the vectorised bound
        trusted = ~binds.any(axis=1)
        for kk in np.flatnonzero(~done & trusted).tolist():
            hard.append((int(pos[kk]), base_ship[kk], closed[kk], [m[kk] for m in tiers]))
    # the orders whose multi-node plans may win: exact search while time allows
    # the search prices units at handling + prices, which is exact only while that is below the penalty
    search_ok = bool(np.all(unit_base <= pen))
    for o, base, closed_o, tiers_o in hard:
        if not search_ok or time.perf_counter() > deadline:
            break
        ctx, _ = router._context(o, base, closed_o, tiers_o)
        choice = router._search(ctx, explain=False)
        values[o] = max(values[o], choice.bound)
        exact[o] = choice.exact
        if len(choice.nodes):
            lo_ = int(p.line_start[o])
            rows, cols = np.nonzero(choice.take)
            got = choice.take[rows, cols].astype(np.float64)
            nodes = choice.nodes[cols]
            np.add.at(use_stock, (p.line_sku[lo_ + rows], nodes), got)
            np.add.at(use_ship, choice.nodes, 1.0)
            np.add.at(use_units, nodes, got)
    ship_rows, unit_rows = _binding_rows(p)
    rhs = float((prices.stock * p.atp).sum())
    rhs += float((prices.shipment[ship_rows] * p.cap_orders[ship_rows]).sum())
    rhs += float((prices.unit[unit_rows] * p.cap_units[unit_rows]).sum())
    return _Evaluation(
        value=float(values.sum()) - rhs,
        exact_orders=int(exact.sum()),
        usage_stock=use_stock,
        usage_ship=use_ship,
        usage_units=use_units,
    )


def optimise_bound(
    p: Problem,
    prices: Prices,
    *,
    upper: float,
    deadline: float,
    max_iterations: int = 30,
    step: float = 1.0,
    target_gap: float = 0.02,
    first_deadline: float | None = None,
    try_zero: bool = False,
    details: dict[str, Any] | None = None,
) -> tuple[float, Prices]:
    """Projected subgradient ascent on ``L(pi)`` from ``prices``; the best bound seen and its prices.

    ``upper`` is the cost of a known plan; the Polyak step aims at the smaller of it and the best
    bound plus ``target_gap`` of it, scaled by ``step`` (halved after two iterations without
    progress). The first evaluation always
    runs, searching the hard orders until ``first_deadline`` (default ``deadline``). With
    ``try_zero``, zero prices are tried too and the ascent starts from the better point.
    """
    ship_rows, unit_rows = _binding_rows(p)
    cur = prices.clipped(p)
    best_value, best_prices = -_INF, cur
    if try_zero:
        # duals of an LP far from converged can price rows far above their worth: start from zero
        # prices (every order alone against all the stock) when those give the better bound
        zero = Prices(stock=np.zeros(p.atp.shape), shipment=np.zeros(p.n_nodes), unit=np.zeros(p.n_nodes))
        at_zero = lagrangian_value(p, zero, deadline=deadline if first_deadline is None else first_deadline)
        at_given = lagrangian_value(p, cur, deadline=deadline if first_deadline is None else first_deadline)
        if at_zero.value > at_given.value:
            cur = zero
        best_value = max(at_zero.value, at_given.value)
        best_prices = cur
    theta = step
    stall = 0
    iterations = 0
    last_seconds = 0.0
    while iterations == 0 or (
        iterations < max_iterations and time.perf_counter() + 1.2 * last_seconds < deadline
    ):
        tick = time.perf_counter()
        ev = lagrangian_value(
            p, cur, deadline=deadline if iterations or first_deadline is None else first_deadline
        )
        iterations += 1
        last_seconds = time.perf_counter() - tick
        if ev.value > best_value + 1e-9:
            best_value, best_prices = ev.value, cur
            stall = 0
        else:
            stall += 1
            if stall >= 2:
                theta *= 0.5
                stall = 0
        g_stock = ev.usage_stock - p.atp
        g_ship = np.where(ship_rows, ev.usage_ship - p.cap_orders, 0.0)
        g_units = np.where(unit_rows, ev.usage_units - p.cap_units, 0.0)
        # projected direction: a zero price with slack stays at zero
        g_stock = np.where((cur.stock <= 0) & (g_stock < 0), 0.0, g_stock)
        g_ship = np.where((cur.shipment <= 0) & (g_ship < 0), 0.0, g_ship)
        g_units = np.where((cur.unit <= 0) & (g_units < 0), 0.0, g_units)
        norm = float((g_stock**2).sum() + (g_ship**2).sum() + (g_units**2).sum())
        logger.info(
            "Lagrangian iteration %d: %.2f (best %.2f), step %.3f", iterations, ev.value, best_value, theta
        )
        if norm <= 1e-12:
            break  # the per-order plans fit together: the bound is the optimum of the relaxation
        # Polyak step towards a target a little above the best bound (the known plan is often far)
        target = min(upper, best_value + target_gap * abs(best_value))
        t = theta * max(target - ev.value, 0.0) / norm
        if t <= 0:
            break
        cur = Prices(
            stock=cur.stock + t * g_stock, shipment=cur.shipment + t * g_ship, unit=cur.unit + t * g_units
        ).clipped(p)
    if details is not None:
        details.update(lagrangian_iterations=iterations)
    return best_value, best_prices
