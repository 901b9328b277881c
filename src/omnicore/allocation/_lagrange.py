"""Lagrangian lower bound of the wave problem, with subgradient optimisation of the multipliers.

Relaxing the coupling rows (stock per (sku, node), shipments and units per node) with prices
``pi >= 0`` splits the wave into one small problem per order: the cost of any allocation is at least
``L(pi) = sum_o v_o(pi) - pi . rhs``, where ``v_o`` is the cheapest plan of order ``o`` alone under
the priced costs against all of the static stock (Geoffrion, 1974). Any lower bound on each ``v_o``
keeps ``L`` a valid bound, so the per-order values are computed for all orders by one compiled pass
over the useful (order, node) pairs of a :class:`Relaxation` built once per wave (exact for every
order whose cheapest single-node plan provably beats any multi-node plan) and the few remaining
orders go to the exact single-order search while time allows; an order left out keeps its compiled
lower bound. Stock prices live on the (sku, node) cells some order can draw on; elsewhere they are
zero, which only raises ``L``. The prices are improved by projected subgradient steps (Polyak steps
towards a target a little above the best bound; Held, Wolfe and Crowder, 1974).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from omnicore.allocation._lagrange_kernel import evaluate_orders
from omnicore.allocation._problem import Problem
from omnicore.allocation._single import Router
from omnicore.data import searchsorted

__all__ = ["Prices", "Relaxation", "lagrangian_value", "optimise_bound"]

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
    usage_cells: npt.NDArray[np.float64]  # per cell of the relaxation
    order_values: npt.NDArray[np.float64]  # per order: a lower bound on its priced optimum
    usage_ship: npt.NDArray[np.float64]
    usage_units: npt.NDArray[np.float64]


@attrs.define(kw_only=True, eq=False)
class Relaxation:
    """The price-independent part of the per-order problems, computed once for a wave: every
    (order, node) pair open to the order where the node holds units of one of its lines (sorted by
    order, then node), with its shipment cost, and per pair the lines it can serve and how many units.
    """

    pair_start: npt.NDArray[np.int64]
    pair_node: npt.NDArray[np.int32]
    pair_ship: npt.NDArray[np.float64]
    pair_filled: npt.NDArray[np.int32]
    pair_binds: npt.NDArray[np.bool_]
    pair_feasible: npt.NDArray[np.bool_]
    entry_start: npt.NDArray[np.int64]
    entry_cell: npt.NDArray[np.int32]  # -> cell
    entry_cap: npt.NDArray[np.int32]
    cell_sku: npt.NDArray[np.int64]  # the (sku, node) stock rows any pair can draw on, sorted by key
    cell_node: npt.NDArray[np.int64]
    cell_atp: npt.NDArray[np.float64]
    order_units: npt.NDArray[np.float64]
    order_coverable: npt.NDArray[np.float64]
    order_strict: npt.NDArray[np.bool_]
    order_multi: npt.NDArray[np.bool_]
    order_trusted: npt.NDArray[np.bool_]

    @classmethod
    def of(cls, p: Problem, *, chunk_lines: int = 8192) -> Relaxation:
        """Build the relaxation of ``p`` (one vectorised pass over all orders and nodes)."""
        n, n_nodes = p.n_orders, p.n_nodes
        max_ship = np.where(p.orders.allow_split, p.orders.max_shipments, 1)
        max_ship = np.where(max_ship == 0, n_nodes, max_ship)
        counts = np.zeros(n, np.int64)
        coverable = np.zeros(n)
        trusted = np.ones(n, bool)
        used = np.zeros(p.atp.shape, bool)  # the (sku, node) cells some pair draws on
        parts: dict[str, list[npt.NDArray[Any]]] = {
            k: [] for k in ("node", "ship", "raw", "ecount", "esku", "enode", "ecap")
        }
        step = max(1, chunk_lines * 8 // max(n_nodes, 1))
        for lo in range(0, n, step):
            pos = np.arange(lo, min(lo + step, n), dtype=np.int64)
            k = len(pos)
            dist = p.distances(pos)
            fixed, dcost = p.shipment_cost(pos, dist)
            base_ship = fixed + dcost
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
            starts = p.line_start[pos] - l0
            raw = np.add.reduceat(acap, starts, axis=0)
            cover_line = np.minimum(q, acap.sum(axis=1))
            coverable[pos] = np.bincount(local, weights=cover_line, minlength=k)
            trusted[pos] = ~(raw > p.cap_units[None, :]).any(axis=1)
            o_idx, node = np.nonzero(raw > 0)
            counts[pos] = np.bincount(o_idx, minlength=k)
            parts["node"].append(node.astype(np.int32))
            parts["ship"].append(base_ship[o_idx, node])
            parts["raw"].append(raw[o_idx, node].astype(np.int64))
            # entries: lines with units at the pair's node, grouped by pair (pairs in order, node order)
            at = np.full((k, n_nodes), -1, np.int64)
            at[o_idx, node] = np.arange(len(o_idx))
            e_line, e_node = np.nonzero(acap > 0)
            e_pair = at[local[e_line], e_node]
            srt = np.argsort(e_pair, kind="stable")
            e_line, e_node = e_line[srt], e_node[srt]
            used[sku[e_line], e_node] = True
            parts["ecount"].append(np.bincount(e_pair, minlength=len(o_idx)))
            parts["esku"].append(sku[e_line].astype(np.int32))
            parts["enode"].append(e_node.astype(np.int32))
            parts["ecap"].append(acap[e_line, e_node].astype(np.int32))

        def cat(key: str, dtype: type) -> npt.NDArray[Any]:
            chunks = parts.pop(key)
            return np.concatenate(chunks).astype(dtype, copy=False) if chunks else np.empty(0, dtype)

        cell_key = np.flatnonzero(used)
        del used
        cell_sku, cell_node = cell_key // n_nodes, cell_key % n_nodes
        cell_of = np.full(p.atp.shape, -1, np.int32)
        cell_of[cell_sku, cell_node] = np.arange(len(cell_key), dtype=np.int32)
        entry_cell = np.concatenate(
            [cell_of[a, b] for a, b in zip(parts.pop("esku"), parts.pop("enode"), strict=True)]
            or [np.empty(0, np.int32)]
        )
        del cell_of
        raw_all = cat("raw", np.int64)
        pair_node = cat("node", np.int32)
        filled = np.minimum(raw_all, p.cap_units[pair_node])
        strict = ~np.asarray(p.orders.allow_partial, bool)
        units = p.order_units.astype(np.float64)
        pair_order = np.repeat(np.arange(n), counts)
        feasible = (filled > 0) & (~strict[pair_order] | (filled >= p.order_units[pair_order]))
        del pair_order
        entry_start = np.concatenate(([0], np.cumsum(cat("ecount", np.int64)))).astype(np.int64)
        return cls(
            pair_start=np.concatenate(([0], np.cumsum(counts))).astype(np.int64),
            pair_node=pair_node,
            pair_ship=cat("ship", np.float64),
            pair_filled=filled.astype(np.int32),
            pair_binds=filled < raw_all,
            pair_feasible=feasible,
            entry_start=entry_start,
            entry_cell=entry_cell,
            entry_cap=cat("ecap", np.int32),
            cell_sku=cell_sku,
            cell_node=cell_node,
            cell_atp=p.atp[cell_sku, cell_node].astype(np.float64),
            order_units=units,
            order_coverable=coverable,
            order_strict=strict,
            order_multi=max_ship >= 2,
            order_trusted=trusted,
        )


def lagrangian_value(
    p: Problem,
    prices: Prices,
    *,
    deadline: float,
    chunk_lines: int = 8192,
    relaxation: Relaxation | None = None,
) -> _Evaluation:
    """``L(pi)`` (a valid lower bound on any allocation's cost) and the resource use of the per-order
    plans behind it (a subgradient direction). ``prices`` must be :meth:`Prices.clipped`.

    Every order gets the compiled single-node / multi-node floor of :func:`evaluate_orders`; the
    orders whose multi-node plans may win go to the exact single-order search until ``deadline``.
    ``relaxation`` (the price-independent part, :meth:`Relaxation.of`) is built when not given.
    """
    rel = Relaxation.of(p, chunk_lines=chunk_lines) if relaxation is None else relaxation
    ev = _evaluate(
        p,
        rel,
        prices.stock[rel.cell_sku, rel.cell_node],
        prices.shipment,
        prices.unit,
        deadline=deadline,
        dense_stock=prices.stock,
    )
    # prices on stock rows no order can draw on only lower the bound (they are zero in the ascent)
    extra = float((prices.stock * p.atp).sum()) - float(
        (prices.stock[rel.cell_sku, rel.cell_node] * rel.cell_atp).sum()
    )
    return attrs.evolve(ev, value=ev.value - extra)


def _evaluate(
    p: Problem,
    rel: Relaxation,
    cell_price: npt.NDArray[np.float64],
    ship_price: npt.NDArray[np.float64],
    unit_price: npt.NDArray[np.float64],
    *,
    deadline: float,
    dense_stock: npt.NDArray[np.float64] | None = None,
) -> _Evaluation:
    """``L(pi)`` with the stock prices given per cell of ``rel`` (zero elsewhere)."""
    pen = p.cost.unfilled_penalty_per_unit
    use_cells = np.zeros(len(rel.cell_sku))
    use_ship = np.zeros(p.n_nodes)
    use_units = np.zeros(p.n_nodes)
    unit_base = np.ascontiguousarray(p.handling + unit_price, np.float64)
    values, exact, hard = evaluate_orders(
        rel.pair_start,
        rel.pair_node,
        rel.pair_ship,
        rel.pair_filled,
        rel.pair_binds,
        rel.pair_feasible,
        rel.entry_start,
        rel.entry_cell,
        rel.entry_cap,
        rel.order_units,
        rel.order_coverable,
        rel.order_strict,
        rel.order_multi,
        rel.order_trusted,
        unit_base,
        np.ascontiguousarray(cell_price, np.float64),
        np.ascontiguousarray(ship_price, np.float64),
        float(pen),
        use_cells,
        use_ship,
        use_units,
    )
    # the orders whose multi-node plans may win: exact search while time allows; the search prices
    # units at handling + prices, which is exact only while that is below the penalty (and its plan
    # costs assume unit capacity does not bind, so only trusted orders are searched)
    hard_orders = np.flatnonzero(hard)
    if len(hard_orders) and bool(np.all(unit_base <= pen)) and time.perf_counter() <= deadline:
        if dense_stock is None:
            dense_stock = np.zeros(p.atp.shape)
            dense_stock[rel.cell_sku, rel.cell_node] = cell_price
        router = Router(p, stock_price=dense_stock, shipment_price=ship_price, unit_price=unit_price)
        cell_key = rel.cell_sku * p.n_nodes + rel.cell_node
        block = 256
        for lo in range(0, len(hard_orders), block):
            if time.perf_counter() > deadline:
                break
            pos = hard_orders[lo : lo + block]
            dist = p.distances(pos)
            fixed, dcost = p.shipment_cost(pos, dist)
            base_ship = fixed + dcost
            closed = p.closed(pos, dist)
            tiers = p.tier_masks(pos, dist)
            for kk, o in enumerate(pos.tolist()):
                if time.perf_counter() > deadline:
                    break
                ctx, _ = router._context(o, base_ship[kk], closed[kk], [m[kk] for m in tiers])
                choice = router._search(ctx, explain=False)
                values[o] = max(values[o], choice.bound)
                exact[o] = choice.exact
                if len(choice.nodes):
                    lo_ = int(p.line_start[o])
                    rows, cols = np.nonzero(choice.take)
                    got = choice.take[rows, cols].astype(np.float64)
                    nodes = choice.nodes[cols]
                    cells = searchsorted(cell_key, p.line_sku[lo_ + rows] * p.n_nodes + nodes)
                    np.add.at(use_cells, cells, got)
                    np.add.at(use_ship, choice.nodes, 1.0)
                    np.add.at(use_units, nodes, got)
    ship_rows, unit_rows = _binding_rows(p)
    rhs = float((cell_price * rel.cell_atp).sum())
    rhs += float((ship_price[ship_rows] * p.cap_orders[ship_rows]).sum())
    rhs += float((unit_price[unit_rows] * p.cap_units[unit_rows]).sum())
    return _Evaluation(
        value=float(values.sum()) - rhs,
        exact_orders=int(exact.sum()),
        order_values=values,
        usage_cells=use_cells,
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
    patience: int = 2,
    min_step: float = 0.0,
    relaxation: Relaxation | None = None,
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
    rel = Relaxation.of(p) if relaxation is None else relaxation
    pen = p.cost.unfilled_penalty_per_unit
    unit_cap = np.maximum(pen - p.handling, 0.0)

    def clip(
        cells: npt.NDArray[np.float64], ship: npt.NDArray[np.float64], unit: npt.NDArray[np.float64]
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        # as Prices.clipped, on the cells of the relaxation (prices elsewhere stay zero)
        unit = np.clip(unit, 0.0, unit_cap) * unit_rows
        room = np.maximum(pen - p.handling - unit, 0.0)
        return np.clip(cells, 0.0, room[rel.cell_node]), np.maximum(ship, 0.0) * ship_rows, unit

    given = prices.clipped(p)
    cur = clip(given.stock[rel.cell_sku, rel.cell_node], given.shipment, given.unit)
    best_value, best = -_INF, cur
    first = deadline if first_deadline is None else first_deadline
    if try_zero:
        # duals of an LP far from converged can price rows far above their worth: start from zero
        # prices (every order alone against all the stock) when those give the better bound
        zero = (np.zeros(len(rel.cell_sku)), np.zeros(p.n_nodes), np.zeros(p.n_nodes))
        at_zero = _evaluate(p, rel, *zero, deadline=first)
        at_given = _evaluate(p, rel, *cur, deadline=first)
        if at_zero.value > at_given.value:
            cur = zero
        best_value = max(at_zero.value, at_given.value)
        best = cur
    theta = step
    stall = 0
    iterations = 0
    last_seconds = 0.0
    while iterations == 0 or (
        iterations < max_iterations and time.perf_counter() + 1.2 * last_seconds < deadline
    ):
        tick = time.perf_counter()
        ev = _evaluate(p, rel, *cur, deadline=deadline if iterations else first)
        iterations += 1
        last_seconds = time.perf_counter() - tick
        if ev.value > best_value + 1e-9:
            best_value, best = ev.value, cur
            stall = 0
        else:
            stall += 1
            if stall >= patience:
                theta *= 0.5
                stall = 0
        c_cells, c_ship, c_unit = cur
        g_cells = ev.usage_cells - rel.cell_atp
        g_ship = np.where(ship_rows, ev.usage_ship - p.cap_orders, 0.0)
        g_units = np.where(unit_rows, ev.usage_units - p.cap_units, 0.0)
        # projected direction: a zero price with slack stays at zero
        g_cells = np.where((c_cells <= 0) & (g_cells < 0), 0.0, g_cells)
        g_ship = np.where((c_ship <= 0) & (g_ship < 0), 0.0, g_ship)
        g_units = np.where((c_unit <= 0) & (g_units < 0), 0.0, g_units)
        norm = float((g_cells**2).sum() + (g_ship**2).sum() + (g_units**2).sum())
        logger.info(
            "Lagrangian iteration %d: %.2f (best %.2f), step %.3f", iterations, ev.value, best_value, theta
        )
        if norm <= 1e-12:
            break  # the per-order plans fit together: the bound is the optimum of the relaxation
        # Polyak step towards a target a little above the best bound (the known plan is often far)
        target = min(upper, best_value + target_gap * abs(best_value))
        t = theta * max(target - ev.value, 0.0) / norm
        if t <= 0 or theta < min_step:
            break  # no progress left to make at this step size
        cur = clip(c_cells + t * g_cells, c_ship + t * g_ship, c_unit + t * g_units)
    if details is not None:
        details.update(lagrangian_iterations=iterations)
    stock = np.zeros(p.atp.shape)
    stock[rel.cell_sku, rel.cell_node] = best[0]
    return best_value, Prices(stock=stock, shipment=best[1], unit=best[2])
