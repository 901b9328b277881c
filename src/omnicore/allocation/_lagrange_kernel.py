"""Compiled evaluation of the vectorised part of the Lagrangian bound (see ``_lagrange``).

One call prices every (order, node) pair of a precomputed sparse relaxation under given
multipliers: per order, the cheapest single-node plan, the floor on any plan with two or more
shipments, the order's lower bound and whether it is exact, and the resource use of the chosen
single-node plan (the subgradient direction). With ``NUMBA_DISABLE_JIT=1`` it runs as plain Python
with the same results.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from omnicore._jit import jit

__all__ = ["evaluate_orders"]


@jit
def evaluate_orders(
    pair_start: npt.NDArray[np.int64],  # [orders + 1] -> pairs, pairs sorted by node within an order
    pair_node: npt.NDArray[np.int32],
    pair_ship: npt.NDArray[np.float64],  # shipment cost before prices
    pair_filled: npt.NDArray[np.int32],  # min(units the node holds for the order, unit capacity)
    pair_binds: npt.NDArray[np.bool_],  # unit capacity cuts what the node holds
    pair_feasible: npt.NDArray[np.bool_],
    entry_start: npt.NDArray[np.int64],  # [pairs + 1] -> entries (lines with units at the node)
    entry_cell: npt.NDArray[np.int32],
    entry_cap: npt.NDArray[np.int32],
    order_units: npt.NDArray[np.float64],
    order_coverable: npt.NDArray[np.float64],
    order_strict: npt.NDArray[np.bool_],
    order_multi: npt.NDArray[np.bool_],  # may ship from two or more nodes
    order_trusted: npt.NDArray[np.bool_],  # no unit capacity binds for the order
    unit_base: npt.NDArray[np.float64],  # [nodes] handling + unit price
    cell_price: npt.NDArray[np.float64],  # per (sku, node) cell
    shipment_price: npt.NDArray[np.float64],  # [nodes]
    penalty: float,
    use_cells: npt.NDArray[np.float64],  # out, per cell, added to
    use_ship: npt.NDArray[np.float64],  # out, [nodes], added to
    use_units: npt.NDArray[np.float64],  # out, [nodes], added to
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """Per order: lower bound, exact flag and "hard" flag (an exact search could tighten it)."""
    n = len(order_units)
    inf = np.inf
    values = np.empty(n)
    exact = np.zeros(n, np.bool_)
    hard = np.zeros(n, np.bool_)
    for o in range(n):
        units = order_units[o]
        strict = order_strict[o]
        best = inf
        best_k = -1
        s1 = inf
        s2 = inf
        min_rate_all = inf
        for k in range(pair_start[o], pair_start[o + 1]):
            node = pair_node[k]
            ship = pair_ship[k] + shipment_price[node]
            base = unit_base[node]
            unit_sum = 0.0
            min_rate = inf
            for e in range(entry_start[k], entry_start[k + 1]):
                rate = base + cell_price[entry_cell[e]]
                if not strict and rate > penalty:
                    rate = penalty
                unit_sum += float(entry_cap[e]) * rate
                if rate < min_rate:
                    min_rate = rate
            filled = float(pair_filled[k])
            floor_units = unit_sum
            if pair_binds[k]:  # unit capacity cuts the node's units: the cheapest rate on what it gives
                floor_units = (min_rate if min_rate < inf else 0.0) * filled
            if pair_feasible[k]:
                cost = ship + floor_units + penalty * (units - filled)
                if cost < best:
                    best = cost
                    best_k = k
            if ship < s1:
                s2 = s1
                s1 = ship
            elif ship < s2:
                s2 = ship
            if min_rate < min_rate_all:
                min_rate_all = min_rate
        empty = penalty * units
        lone = best if best < empty else empty
        multi = inf
        if order_multi[o] and s2 < inf:
            floor_rate = min_rate_all if min_rate_all < penalty else penalty
            cover = order_coverable[o]
            multi = s1 + s2 + floor_rate * cover + penalty * (units - cover)
        values[o] = lone if lone < multi else multi
        done = multi >= lone - 1e-9 and order_trusted[o]
        exact[o] = done
        hard[o] = not done and order_trusted[o]
        if done and best < empty and best_k >= 0:
            node = pair_node[best_k]
            got_all = 0.0
            for e in range(entry_start[best_k], entry_start[best_k + 1]):
                use_cells[entry_cell[e]] += float(entry_cap[e])
                got_all += float(entry_cap[e])
            use_ship[node] += 1.0
            use_units[node] += got_all
    return values, exact, hard
