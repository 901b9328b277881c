"""Rule-based baselines: nearest node and cheapest full-fill node, as order-management systems ship them."""

from __future__ import annotations

import time

import numpy as np
import numpy.typing as npt

from omnicore.allocation._plan import AllocationResult
from omnicore.allocation._problem import Problem
from omnicore.allocation._single import _CHUNK, _cat, collect

__all__ = ["greedy_allocation"]


def greedy_allocation(p: Problem, *, rule: str = "nearest") -> AllocationResult:
    """Route orders in sequence with a fixed rule.

    ``"nearest"``: the nearest open node that can fill the whole order; failing that, each line from
    the nearest nodes holding it. ``"cheapest"``: the cheapest single node that fills the whole order
    (shipment + handling); failing that, the nearest-node split. Capacity, capability, rules and
    stock are respected as by the optimiser.
    """
    if rule not in ("nearest", "cheapest"):
        from omnicore._errors import ValidationError

        raise ValidationError("rule must be 'nearest' or 'cheapest'", field="rule", value=rule)
    start = time.perf_counter()
    atp = p.atp.copy()
    pool_left = p.pool_cap.copy()
    cap_orders = p.cap_orders.copy()
    cap_units = p.cap_units.copy()
    out_l: list[npt.NDArray[np.int64]] = []
    out_n: list[npt.NDArray[np.int64]] = []
    out_q: list[npt.NDArray[np.int64]] = []
    n = p.n_orders
    for lo in range(0, n, _CHUNK):
        pos = np.arange(lo, min(lo + _CHUNK, n), dtype=np.int64)
        dist = p.distances(pos)
        fixed, dcost = p.shipment_cost(pos, dist)
        ship = fixed + dcost
        closed = p.closed(pos, dist)
        tiers = p.tier_masks(pos, dist)
        for k, o in enumerate(pos.tolist()):
            l0, l1 = int(p.line_start[o]), int(p.line_start[o + 1])
            skus = p.line_sku[l0:l1]
            q = p.line_qty[l0:l1].copy()
            avail = atp[skus]
            pool = int(p.pool[o])
            if pool >= 0:
                avail = np.minimum(avail, pool_left[pool][skus])
            open_ = (closed[k] == 0) & (cap_orders > 0) & (cap_units > 0)
            if tiers:
                union = np.zeros(p.n_nodes, bool)
                for mask in tiers:
                    union |= mask[k]
                    if np.all((np.minimum(avail, q[:, None]) * (open_ & union)).sum(axis=1) >= q):
                        break
                open_ &= union
            units = int(q.sum())
            full = open_ & np.all(avail >= q[:, None], axis=0) & (cap_units >= units)
            if rule == "nearest":
                score = np.where(full, dist[k], np.inf)
            else:
                score = np.where(full, ship[k] + p.handling * units, np.inf)
            best = int(np.argmin(score))
            take_lines: list[int] = []
            take_nodes: list[int] = []
            take_qty: list[int] = []
            if np.isfinite(score[best]):
                take_lines = list(range(l0, l1))
                take_nodes = [best] * (l1 - l0)
                take_qty = q.tolist()
            elif p.orders.allow_split[o] or not p.orders.allow_partial[o]:
                by_distance = np.argsort(np.where(open_, dist[k], np.inf), kind="stable")
                by_distance = by_distance[open_[by_distance]]
                limit = int(p.orders.max_shipments[o]) or 1_000_000
                if not p.orders.allow_split[o]:
                    limit = 1
                used: list[int] = []
                left_units = cap_units.copy()
                for r in range(l1 - l0):
                    need = int(q[r])
                    for node in by_distance.tolist():
                        if need == 0:
                            break
                        if node not in used and len(used) >= limit:
                            continue
                        got = min(need, int(avail[r, node]), int(left_units[node]))
                        if got > 0:
                            take_lines.append(l0 + r)
                            take_nodes.append(node)
                            take_qty.append(got)
                            left_units[node] -= got
                            need -= got
                            if node not in used:
                                used.append(node)
                if not p.orders.allow_partial[o] and sum(take_qty) < units:
                    take_lines, take_nodes, take_qty = [], [], []
            if take_qty:
                tl = np.asarray(take_lines)
                tn = np.asarray(take_nodes)
                tq = np.asarray(take_qty)
                np.subtract.at(atp, (p.line_sku[tl], tn), tq)
                if pool >= 0:
                    np.subtract.at(pool_left[pool], (p.line_sku[tl], tn), tq)
                nodes = np.unique(tn)
                cap_orders[nodes] -= 1
                np.subtract.at(cap_units, tn, tq)
                out_l.append(tl)
                out_n.append(tn)
                out_q.append(tq)
    return collect(
        p,
        _cat(out_l),
        _cat(out_n),
        _cat(out_q),
        method=rule,
        status="feasible",
        seconds=time.perf_counter() - start,
    )
