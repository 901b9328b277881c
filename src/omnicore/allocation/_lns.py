"""Large-neighbourhood search for batch allocation: free a cluster of orders, re-solve it exactly.

The incumbent plan is a set of (line, node, units) triples. One step takes a neighbourhood of orders
that compete for the same capacity (customers near each other, alternating with the orders around
one node whose shipment capacity is used up), gives their stock and capacity back,
and solves the MILP of just those orders over their candidate (order, node) pairs against what every
other order leaves (HiGHS with a time limit). The step is kept when it is cheaper; the incumbent's own
pairs are always candidates, so the sub-MILP can always reproduce the incumbent.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from omnicore.allocation._problem import Problem
from omnicore.data import searchsorted

__all__ = ["Incumbent", "improve_by_neighbourhoods", "neighbourhoods", "node_neighbourhoods", "triples_of"]

logger = logging.getLogger(__name__)

_Triples = tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]


def triples_of(
    p: Problem,
    allocation_order: npt.NDArray[Any],
    sku: npt.NDArray[Any],
    node: npt.NDArray[Any],
    quantity: npt.NDArray[np.int64],
) -> _Triples:
    """(line, node, units) triples of an allocation table given by (order id, sku, node, quantity) rows.

    Rows of an order whose sku sits on several lines are spread over those lines in line order.
    """
    if not len(quantity):
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.int64)
    o_sorted = np.argsort(p.orders.order_id, kind="stable")
    o_pos = o_sorted[searchsorted(p.orders.order_id[o_sorted], allocation_order)]
    n_pos = p.network.index_of(node)
    sku_code = np.clip(searchsorted(p.sku_values, sku), 0, len(p.sku_values) - 1)
    # key (order, sku) -> first line holding it
    line_key = p.line_order * len(p.sku_values) + p.line_sku
    row_key = o_pos * len(p.sku_values) + sku_code
    by_key = np.argsort(line_key, kind="stable")
    first = searchsorted(line_key[by_key], row_key)
    lines = by_key[np.clip(first, 0, len(by_key) - 1)].astype(np.int64)
    qty = np.asarray(quantity, np.int64)
    dup = bool(np.any(np.diff(line_key[by_key]) == 0))
    if not dup:
        return lines, n_pos.astype(np.int64), qty
    # rare: a sku on several lines of one order; fill the lines in order
    out_l, out_n, out_q = [], [], []
    left = p.line_qty.copy()
    keys_sorted = line_key[by_key]
    for k in range(len(qty)):
        i = int(first[k])
        need = int(qty[k])
        while need > 0 and i < len(by_key) and keys_sorted[i] == row_key[k]:
            line = int(by_key[i])
            take = min(need, int(left[line]))
            if take > 0:
                out_l.append(line)
                out_n.append(int(n_pos[k]))
                out_q.append(take)
                left[line] -= take
                need -= take
            i += 1
    return np.array(out_l, np.int64), np.array(out_n, np.int64), np.array(out_q, np.int64)


@attrs.define(kw_only=True, eq=False)
class Incumbent:
    """A plan with its live residual stock and capacity (mutable; LNS working state)."""

    lines: npt.NDArray[np.int64]
    nodes: npt.NDArray[np.int64]
    units: npt.NDArray[np.int64]
    atp: npt.NDArray[np.int64]
    cap_orders: npt.NDArray[np.int64]
    cap_units: npt.NDArray[np.int64]
    pool_left: npt.NDArray[np.int64]

    @classmethod
    def of(cls, p: Problem, triples: _Triples) -> Incumbent:
        lines, nodes, units = (np.asarray(a, np.int64) for a in triples)
        keep = units > 0
        inc = cls(
            lines=lines[keep],
            nodes=nodes[keep],
            units=units[keep],
            atp=p.atp.copy(),
            cap_orders=p.cap_orders.copy(),
            cap_units=p.cap_units.copy(),
            pool_left=p.pool_cap.copy(),
        )
        inc._apply(p, inc.lines, inc.nodes, inc.units, -1)
        return inc

    def _apply(
        self,
        p: Problem,
        lines: npt.NDArray[np.int64],
        nodes: npt.NDArray[np.int64],
        units: npt.NDArray[np.int64],
        sign: int,
    ) -> None:
        if not len(lines):
            return
        np.add.at(self.atp, (p.line_sku[lines], nodes), sign * units)
        pools = p.pool[p.line_order[lines]]
        has = pools >= 0
        if has.any():
            np.add.at(self.pool_left, (pools[has], p.line_sku[lines[has]], nodes[has]), sign * units[has])
        pairs = np.unique(p.line_order[lines] * p.n_nodes + nodes)
        np.add.at(self.cap_orders, pairs % p.n_nodes, sign)
        np.add.at(self.cap_units, nodes, sign * units)

    def replace(self, p: Problem, orders: npt.NDArray[np.int64], new: _Triples) -> None:
        """Swap the plan of ``orders`` for ``new`` (triples of those orders only)."""
        mine = np.zeros(p.n_orders, bool)
        mine[orders] = True
        out = mine[p.line_order[self.lines]]
        self._apply(p, self.lines[out], self.nodes[out], self.units[out], +1)
        nl, nn, nu = new
        self._apply(p, nl, nn, nu, -1)
        self.lines = np.concatenate([self.lines[~out], nl])
        self.nodes = np.concatenate([self.nodes[~out], nn])
        self.units = np.concatenate([self.units[~out], nu])

    def triples(self) -> _Triples:
        return self.lines, self.nodes, self.units


def _orders_cost(
    p: Problem,
    orders: npt.NDArray[np.int64],
    lines: npt.NDArray[np.int64],
    nodes: npt.NDArray[np.int64],
    units: npt.NDArray[np.int64],
) -> float:
    """Cost of the plan of ``orders`` (triples restricted to them) including their unfilled penalty."""
    from omnicore.allocation._batch import _pair_cost

    pairs = np.unique(p.line_order[lines] * p.n_nodes + nodes)
    ship = float(_pair_cost(p, pairs // p.n_nodes, pairs % p.n_nodes).sum()) if len(pairs) else 0.0
    filled = int(units.sum())
    demand = int(p.order_units[orders].sum())
    return (
        ship + float((p.handling[nodes] * units).sum()) + p.cost.unfilled_penalty_per_unit * (demand - filled)
    )


def neighbourhoods(p: Problem, size: int, rng: np.random.Generator) -> list[npt.NDArray[np.int64]]:
    """Clusters of about ``size`` orders whose customers live near each other (a random sweep)."""
    n = p.n_orders
    lat = np.asarray(p.orders.lat, np.float64)
    lon = np.asarray(p.orders.lon, np.float64)
    angle = rng.uniform(0, np.pi)
    # a space-filling order: sort along a random direction within coarse cells of the other one
    u = lat * np.cos(angle) + lon * np.sin(angle)
    v = -lat * np.sin(angle) + lon * np.cos(angle)
    cell = max((v.max() - v.min()) / max(np.sqrt(n / max(size, 1)), 1.0), 1e-9) if n else 1.0
    band = np.floor((v - v.min()) / cell).astype(np.int64)
    key = np.where(band % 2 == 0, u, -u)
    order = np.lexsort((key, band)).astype(np.int64)
    shift = int(rng.integers(0, max(size, 1)))
    order = np.roll(order, shift)
    return [order[i : i + size] for i in range(0, n, size)]


def node_neighbourhoods(
    p: Problem,
    incumbent: Incumbent,
    cand_po: npt.NDArray[np.int64],
    cand_pn: npt.NDArray[np.int64],
    size: int,
    rng: np.random.Generator,
) -> list[npt.NDArray[np.int64]]:
    """Per node whose shipment capacity is used up, about ``size`` orders around it: half of those it
    ships to, half of those that could use it, so capacity can move between distant customers."""
    n_nodes = p.n_nodes
    used = np.unique(p.line_order[incumbent.lines] * n_nodes + incumbent.nodes)
    u_order, u_node = used // n_nodes, used % n_nodes
    full = np.flatnonzero(incumbent.cap_orders <= 0)
    if not len(full):
        full = np.flatnonzero(np.bincount(u_node, minlength=n_nodes) > 0)
    by_cand = np.argsort(cand_pn, kind="stable")
    cand_at = searchsorted(cand_pn[by_cand], np.arange(n_nodes + 1))
    by_used = np.argsort(u_node, kind="stable")
    used_at = searchsorted(u_node[by_used], np.arange(n_nodes + 1))
    out = []
    for n in rng.permutation(full).tolist():
        users = np.unique(u_order[by_used[used_at[n] : used_at[n + 1]]])
        others = np.setdiff1d(np.unique(cand_po[by_cand[cand_at[n] : cand_at[n + 1]]]), users)
        half = max(size // 2, 1)
        take_users = rng.choice(users, min(half, len(users)), replace=False) if len(users) else users
        room = max(size - len(take_users), 0)
        take_others = rng.choice(others, min(room, len(others)), replace=False) if len(others) else others
        hood = np.union1d(take_users, take_others).astype(np.int64)
        if len(hood) >= 2:
            out.append(hood)
    return out


def improve_by_neighbourhoods(
    p: Problem,
    incumbent: Incumbent,
    cand_po: npt.NDArray[np.int64],
    cand_pn: npt.NDArray[np.int64],
    cand_cost: npt.NDArray[np.float64],
    *,
    deadline: float,
    size: int = 200,
    sub_seconds: float = 10.0,
    seed: int = 0,
    details: dict[str, Any] | None = None,
) -> Incumbent:
    """Re-solve neighbourhoods of the incumbent by sub-MILPs until the deadline; keep improvements.

    ``cand_*`` are the candidate (order, node) pairs with their shipment costs (sorted by order);
    the incumbent's own pairs are added to them per neighbourhood.
    """
    from omnicore.allocation._batch import _integral_flows, _milp, _pair_cost, _triples, build_model

    rng = np.random.default_rng(seed)
    n_nodes = p.n_nodes
    cand_key = cand_po * n_nodes + cand_pn
    if len(cand_key) and np.any(np.diff(cand_key) < 0):
        srt = np.argsort(cand_key, kind="stable")
        cand_po, cand_pn, cand_cost, cand_key = cand_po[srt], cand_pn[srt], cand_cost[srt], cand_key[srt]
    bounds_of = searchsorted(cand_po, np.arange(p.n_orders + 1))
    steps = tried = 0
    gained = 0.0
    sizes = max(1, min(size, p.n_orders))
    passes = 0
    while time.perf_counter() < deadline - 1.0:
        passes += 1
        improved_pass = 0
        if passes % 2:
            hoods = neighbourhoods(p, sizes, rng)
        else:
            hoods = node_neighbourhoods(p, incumbent, cand_po, cand_pn, sizes, rng)
        for hood in hoods:
            if time.perf_counter() > deadline - 1.0:
                break
            hood = np.sort(hood)
            mask = np.zeros(p.n_orders, bool)
            mask[hood] = True
            own = mask[p.line_order[incumbent.lines]]
            il, inn, iu = incumbent.lines[own], incumbent.nodes[own], incumbent.units[own]
            old = _orders_cost(p, hood, il, inn, iu)
            # candidate pairs of the hood plus the incumbent's pairs
            idx = np.concatenate([np.arange(bounds_of[o], bounds_of[o + 1]) for o in hood.tolist()])
            inc_keys = np.unique(p.line_order[il] * n_nodes + inn)
            keys = np.union1d(cand_key[idx], inc_keys)
            po, pn = keys // n_nodes, keys % n_nodes
            if not len(po):
                continue
            # residual: everything the other orders leave (the hood's use is given back in place
            # while the sub-model is built, then taken again)
            incumbent._apply(p, il, inn, iu, +1)
            residual = attrs.evolve(
                p,
                atp=incumbent.atp,
                cap_orders=incumbent.cap_orders,
                cap_units=incumbent.cap_units,
                pool_cap=incumbent.pool_left,
            )
            ok = (residual.cap_orders[pn] > 0) & (residual.cap_units[pn] > 0)
            po, pn = po[ok], pn[ok]
            if not len(po):
                incumbent._apply(p, il, inn, iu, -1)
                continue
            cost = _pair_cost(p, po, pn)
            sub = build_model(residual, po, pn, cost)
            incumbent._apply(p, il, inn, iu, -1)
            remaining = deadline - time.perf_counter()
            if remaining < 1.0:
                break
            tried += 1
            res = _milp(sub, time_limit=min(sub_seconds, remaining), gap=1e-4)
            if res.x is None:
                continue
            off = sub.offsets
            try:
                x = _integral_flows(sub, res.x[: off["x"]], res.x[off["w"] : off["end"]])
            except RuntimeError:
                continue
            nl, nn, nu = _triples(sub, x)
            # orders of the hood without any candidate pair stay unfilled in both plans
            new = _orders_cost(p, hood, nl, nn, nu)
            if new < old - 1e-6:
                incumbent.replace(p, hood, (nl, nn, nu))
                gained += old - new
                steps += 1
                improved_pass += 1
        logger.info(
            "LNS pass %d: %d improved neighbourhoods, gained %.2f so far", passes, improved_pass, gained
        )
        if not improved_pass:
            if sizes >= p.n_orders:
                break  # one neighbourhood holds every order: nothing left to find
            sizes = min(int(sizes * 1.5) + 1, p.n_orders)
    if details is not None:
        details.update(lns_passes=passes, lns_subproblems=tried, lns_improved=steps, lns_gain=gained)
    return incumbent
