"""Batch (wave) optimisation: a MILP with the strong linking constraint, column generation over
(order, node) pairs, a Lagrangian lower bound, LP-guided fixing and large-neighbourhood search."""

from __future__ import annotations

import logging
import time
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from scipy.optimize import LinearConstraint, linprog, milp

from omnicore._progress import Progress, null_progress
from omnicore.allocation._lagrange import Prices, Relaxation, optimise_bound
from omnicore.allocation._lns import Incumbent, improve_by_neighbourhoods, triples_of
from omnicore.allocation._plan import AllocationResult
from omnicore.allocation._problem import METHOD_PICKUP, Problem
from omnicore.allocation._single import Router, _cat, collect
from omnicore.data import searchsorted

__all__ = ["solve_batch"]

logger = logging.getLogger(__name__)
_CHUNK_LINES = 8192


@attrs.define(kw_only=True, eq=False)
class _Model:
    """A (restricted) MILP over given (order, node) pairs, in scipy's matrix form."""

    po: npt.NDArray[np.int64]  # pair -> order
    pn: npt.NDArray[np.int64]  # pair -> node
    e_pair: npt.NDArray[np.int64]  # entry -> pair
    e_line: npt.NDArray[np.int64]  # entry -> line
    e_ub: npt.NDArray[np.float64]
    partial_lines: npt.NDArray[np.int64]  # lines with a continuous unfilled variable
    strict_orders: npt.NDArray[np.int64]  # all-or-nothing orders with a binary "unfilled" variable
    c: npt.NDArray[np.float64]
    a_ub: sp.csr_array
    b_ub: npt.NDArray[np.float64]
    a_eq: sp.csr_array
    b_eq: npt.NDArray[np.float64]
    upper: npt.NDArray[np.float64]
    integrality: npt.NDArray[np.int64]
    row_stock: npt.NDArray[np.int64]  # stock rows: key sku * N + node
    row_cap_orders: npt.NDArray[np.int64]  # nodes
    row_cap_units: npt.NDArray[np.int64]  # nodes
    row_max_ship: npt.NDArray[np.int64]  # orders
    row_pool: npt.NDArray[np.int64]  # key (pool * S + sku) * N + node
    offsets: dict[str, int]

    @property
    def n_pairs(self) -> int:
        return len(self.po)


def _pair_cost(p: Problem, po: npt.NDArray[np.int64], pn: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    from omnicore.allocation._network import distance_km

    net = p.network
    dist = distance_km(p.orders.lat[po], p.orders.lon[po], net.lat[pn], net.lon[pn])
    d = p.cost.distance_cost(dist, net.cost_per_km[pn])
    d = np.where(p.method[po] == METHOD_PICKUP, 0.0, d)
    out: npt.NDArray[np.float64] = p.fixed[pn] + d
    return out


def _line_caps(
    p: Problem, lines: npt.NDArray[np.int64], nodes: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    """min(quantity, ATP, pool ATP) per (line, node) entry."""
    cap = np.minimum(p.line_qty[lines], p.atp[p.line_sku[lines], nodes])
    pools = p.pool[p.line_order[lines]]
    has = pools >= 0
    if has.any():
        cap[has] = np.minimum(cap[has], p.pool_cap[pools[has], p.line_sku[lines[has]], nodes[has]])
    return cap


def useful_pairs(
    p: Problem, *, max_per_order: int | None = None, progress: Progress = null_progress
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Every (order, node) pair open to the order with stock for at least one of its lines.

    Returns ``(order, node, cost)`` arrays sorted by order then node. Sourcing tiers are resolved
    against the static ATP: an order may use the first tiers that can fill it. With
    ``max_per_order``, only that many pairs per order are kept, the cheapest by their single-node
    cost estimate (shipment, handling of what the node holds, penalty for the rest).
    """
    out_o, out_n = [], []
    n = p.n_orders
    step = max(1, _CHUNK_LINES * 8 // max(p.n_nodes, 1))
    for lo in range(0, n, step):
        pos = np.arange(lo, min(lo + step, n), dtype=np.int64)
        dist = p.distances(pos)
        open_ = p.closed(pos, dist) == 0
        open_ &= (p.cap_orders > 0)[None, :] & (p.cap_units > 0)[None, :]
        l0, l1 = int(p.line_start[lo]), int(p.line_start[pos[-1] + 1])
        lines = np.arange(l0, l1)
        local_order = p.line_order[lines] - lo
        acap = np.minimum(p.atp[p.line_sku[lines]], p.line_qty[lines, None])
        pools = p.pool[p.line_order[lines]]
        if (pools >= 0).any():
            has = pools >= 0
            acap[has] = np.minimum(acap[has], p.pool_cap[pools[has], p.line_sku[lines[has]]])
        tiers = p.tier_masks(pos, dist)
        if tiers:
            union = np.zeros_like(open_)
            settled = np.zeros(len(pos), bool)
            allowed = np.zeros_like(open_)
            for mask in tiers:
                union |= mask
                reach = (acap * (open_ & union)[local_order]).sum(axis=1) >= p.line_qty[lines]
                full = np.bincount(local_order, weights=~reach, minlength=len(pos)) == 0
                newly = full & ~settled
                allowed[newly] = union[newly]
                settled |= full
            allowed[~settled] = union[~settled]
            open_ &= allowed
        has_stock = np.zeros_like(open_)
        np.logical_or.at(has_stock, local_order, acap > 0)
        ok = open_ & has_stock
        if max_per_order is not None and p.n_nodes > max_per_order:
            ship = _pair_cost_dense(p, pos, dist)
            held = np.zeros(open_.shape)
            np.add.at(held, local_order, acap)
            units = p.order_units[pos][:, None]
            est = ship + p.handling[None, :] * held + p.cost.unfilled_penalty_per_unit * (units - held)
            est = np.where(ok, est, np.inf)
            cut = np.partition(est, max_per_order - 1, axis=1)[:, max_per_order - 1 : max_per_order]
            ok &= est <= cut
        k, m = np.nonzero(ok)
        out_o.append(k + lo)
        out_n.append(m)
        progress(int(pos[-1]) + 1, n, "pairs")
    po = np.concatenate(out_o).astype(np.int64) if out_o else np.empty(0, np.int64)
    pn = np.concatenate(out_n).astype(np.int64) if out_n else np.empty(0, np.int64)
    return po, pn, _pair_cost(p, po, pn)


def _pair_cost_dense(
    p: Problem, pos: npt.NDArray[np.int64], dist: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    fixed, dcost = p.shipment_cost(pos, dist)
    out: npt.NDArray[np.float64] = fixed + dcost
    return out


def build_model(
    p: Problem,
    po: npt.NDArray[np.int64],
    pn: npt.NDArray[np.int64],
    pair_cost: npt.NDArray[np.float64],
) -> _Model:
    """The MILP over the given pairs (sorted by order): y per pair, x per (line, node), unfilled vars."""
    n_nodes = p.n_nodes
    P = len(po)
    counts = np.diff(p.line_start)[po]
    e_pair = np.repeat(np.arange(P), counts)
    first = p.line_start[po]
    e_line = np.repeat(first - np.concatenate(([0], np.cumsum(counts)[:-1])), counts) + np.arange(
        int(counts.sum())
    )
    e_node = pn[e_pair]
    e_cap = _line_caps(p, e_line, e_node)
    keep = e_cap > 0
    e_pair, e_line, e_node, e_cap = e_pair[keep], e_line[keep], e_node[keep], e_cap[keep]
    E = len(e_pair)
    orders_in = np.unique(po)
    order_mask = np.zeros(p.n_orders, bool)
    order_mask[orders_in] = True
    strict_all = ~p.orders.allow_partial
    lines_in = np.flatnonzero(order_mask[p.line_order])
    partial_lines = lines_in[~strict_all[p.line_order[lines_in]]]
    strict_orders = np.flatnonzero(order_mask & strict_all)
    U, W = len(partial_lines), len(strict_orders)
    off = {"y": 0, "x": P, "u": P + E, "w": P + E + U, "end": P + E + U + W}
    pen = p.cost.unfilled_penalty_per_unit
    c = np.concatenate(
        [
            pair_cost,
            p.handling[e_node],
            np.full(U, pen),
            pen * p.order_units[strict_orders].astype(np.float64),
        ]
    )
    upper = np.concatenate(
        [np.ones(P), e_cap.astype(np.float64), p.line_qty[partial_lines].astype(np.float64), np.ones(W)]
    )
    integrality = np.concatenate([np.ones(P, np.int64), np.zeros(E + U, np.int64), np.ones(W, np.int64)])

    # equality: demand per line of the included orders
    line_row = -np.ones(len(p.line_qty), np.int64)
    line_row[lines_in] = np.arange(len(lines_in))
    w_index = -np.ones(p.n_orders, np.int64)
    w_index[strict_orders] = np.arange(W)
    strict_lines = lines_in[strict_all[p.line_order[lines_in]]]
    eq_rows = np.concatenate([line_row[e_line], line_row[partial_lines], line_row[strict_lines]])
    eq_cols = np.concatenate(
        [off["x"] + np.arange(E), off["u"] + np.arange(U), off["w"] + w_index[p.line_order[strict_lines]]]
    )
    eq_vals = np.concatenate([np.ones(E + U), p.line_qty[strict_lines].astype(np.float64)])
    a_eq = sp.csr_array((eq_vals, (eq_rows, eq_cols)), shape=(len(lines_in), off["end"]))
    b_eq = p.line_qty[lines_in].astype(np.float64)

    rows: list[npt.NDArray[np.int64]] = []
    cols: list[npt.NDArray[np.int64]] = []
    vals: list[npt.NDArray[np.float64]] = []
    rhs: list[npt.NDArray[np.float64]] = []
    n_rows = 0

    def add(
        r: npt.NDArray[np.int64],
        col: npt.NDArray[np.int64],
        v: npt.NDArray[np.float64],
        b: npt.NDArray[np.float64],
    ) -> None:
        nonlocal n_rows
        rows.append(r + n_rows)
        cols.append(col)
        vals.append(v)
        rhs.append(b)
        n_rows += len(b)

    # stock per (sku, node)
    key = p.line_sku[e_line] * n_nodes + e_node
    row_stock, stock_row = np.unique(key, return_inverse=True)
    stock_row = stock_row.reshape(-1)
    add(
        stock_row,
        off["x"] + np.arange(E),
        np.ones(E),
        p.atp[row_stock // n_nodes, row_stock % n_nodes].astype(np.float64),
    )
    # strong linking: x <= min(q, stock) * y
    add(np.arange(E), off["x"] + np.arange(E), np.ones(E), np.zeros(E))
    rows[-1] = np.concatenate([rows[-1], rows[-1]])
    cols[-1] = np.concatenate([cols[-1], off["y"] + e_pair])
    vals[-1] = np.concatenate([vals[-1], -e_cap.astype(np.float64)])
    # shipment capacity per node (only where it can bind)
    per_node = np.bincount(pn, minlength=n_nodes)
    row_cap_orders = np.flatnonzero(p.cap_orders < per_node)
    if len(row_cap_orders):
        r_of = -np.ones(n_nodes, np.int64)
        r_of[row_cap_orders] = np.arange(len(row_cap_orders))
        sel = np.flatnonzero(r_of[pn] >= 0)
        add(
            r_of[pn[sel]],
            off["y"] + sel,
            np.ones(len(sel)),
            p.cap_orders[row_cap_orders].astype(np.float64),
        )
    # unit capacity per node
    units_at = np.bincount(e_node, weights=e_cap, minlength=n_nodes)
    row_cap_units = np.flatnonzero(p.cap_units < units_at)
    if len(row_cap_units):
        r_of = -np.ones(n_nodes, np.int64)
        r_of[row_cap_units] = np.arange(len(row_cap_units))
        sel = np.flatnonzero(r_of[e_node] >= 0)
        add(
            r_of[e_node[sel]],
            off["x"] + sel,
            np.ones(len(sel)),
            p.cap_units[row_cap_units].astype(np.float64),
        )
    # shipments per order
    pairs_of = np.bincount(po, minlength=p.n_orders)
    limit = np.where(p.orders.allow_split, p.orders.max_shipments, 1)
    limit = np.where(limit == 0, np.iinfo(np.int64).max, limit)
    row_max_ship = np.flatnonzero((limit < pairs_of) & order_mask)
    if len(row_max_ship):
        r_of = -np.ones(p.n_orders, np.int64)
        r_of[row_max_ship] = np.arange(len(row_max_ship))
        sel = np.flatnonzero(r_of[po] >= 0)
        add(r_of[po[sel]], off["y"] + sel, np.ones(len(sel)), limit[row_max_ship].astype(np.float64))
    # channel pools
    e_pool = p.pool[p.line_order[e_line]]
    row_pool = np.empty(0, np.int64)
    if (e_pool >= 0).any():
        sel = np.flatnonzero(e_pool >= 0)
        S = len(p.sku_values)
        pkey = (e_pool[sel] * S + p.line_sku[e_line[sel]]) * n_nodes + e_node[sel]
        row_pool, prow = np.unique(pkey, return_inverse=True)
        pool_i, rest = row_pool // (S * n_nodes), row_pool % (S * n_nodes)
        add(
            prow.reshape(-1),
            off["x"] + sel,
            np.ones(len(sel)),
            p.pool_cap[pool_i, rest // n_nodes, rest % n_nodes].astype(np.float64),
        )
    a_ub = sp.csr_array(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n_rows, off["end"])
    )
    return _Model(
        po=po,
        pn=pn,
        e_pair=e_pair,
        e_line=e_line,
        e_ub=e_cap.astype(np.float64),
        partial_lines=partial_lines,
        strict_orders=strict_orders,
        c=c,
        a_ub=a_ub,
        b_ub=np.concatenate(rhs),
        a_eq=a_eq,
        b_eq=b_eq,
        upper=upper,
        integrality=integrality,
        row_stock=row_stock,
        row_cap_orders=row_cap_orders,
        row_cap_units=row_cap_units,
        row_max_ship=row_max_ship,
        row_pool=row_pool,
        offsets=off,
    )


@attrs.define(kw_only=True, eq=False)
class _LP:
    value: float
    x: npt.NDArray[np.float64]
    dual_ub: npt.NDArray[np.float64]
    dual_eq: npt.NDArray[np.float64]


def solve_lp(model: _Model, *, time_limit: float | None = None) -> _LP:
    """The LP relaxation (HiGHS dual simplex) with its duals."""
    options: dict[str, Any] = {"presolve": True}
    if time_limit is not None:
        options["time_limit"] = max(time_limit, 1.0)
    res = linprog(  # type: ignore[call-overload]
        model.c,
        A_ub=model.a_ub,
        b_ub=model.b_ub,
        A_eq=model.a_eq,
        b_eq=model.b_eq,
        bounds=np.column_stack([np.zeros(len(model.c)), model.upper]),
        method="highs-ipm",
        options=options,
    )
    if res.status != 0:
        raise RuntimeError(f"LP relaxation failed: {res.message}")
    return _LP(
        value=float(res.fun),
        x=np.asarray(res.x),
        dual_ub=np.asarray(res.ineqlin.marginals),
        dual_eq=np.asarray(res.eqlin.marginals),
    )


def price_pairs(
    p: Problem,
    model: _Model,
    lp: _LP,
    po: npt.NDArray[np.int64],
    pn: npt.NDArray[np.int64],
    pair_cost: npt.NDArray[np.float64],
) -> npt.NDArray[np.float64]:
    """Reduced cost of each candidate pair's column block (y and its x entries, with linking)."""
    n_nodes = p.n_nodes
    off_rows = 0
    duals = lp.dual_ub
    n_stock = len(model.row_stock)
    stock_dual = duals[:n_stock]
    off_rows = n_stock + len(model.e_pair)
    cap_o = np.zeros(n_nodes)
    cap_o[model.row_cap_orders] = duals[off_rows : off_rows + len(model.row_cap_orders)]
    off_rows += len(model.row_cap_orders)
    cap_u = np.zeros(n_nodes)
    cap_u[model.row_cap_units] = duals[off_rows : off_rows + len(model.row_cap_units)]
    off_rows += len(model.row_cap_units)
    ship = np.zeros(p.n_orders)
    ship[model.row_max_ship] = duals[off_rows : off_rows + len(model.row_max_ship)]
    off_rows += len(model.row_max_ship)
    pool_dual = duals[off_rows : off_rows + len(model.row_pool)]
    lines_in = np.unique(model.e_line) if False else None  # noqa: F841
    # demand duals per line (lines of orders in the model; others have no row yet)
    line_dual = np.zeros(len(p.line_qty))
    orders_in = np.zeros(p.n_orders, bool)
    orders_in[model.po] = True
    lines_model = np.flatnonzero(orders_in[p.line_order])
    line_dual[lines_model] = lp.dual_eq
    counts = np.diff(p.line_start)[po]
    e_pair = np.repeat(np.arange(len(po)), counts)
    first = p.line_start[po]
    e_line = np.repeat(first - np.concatenate(([0], np.cumsum(counts)[:-1])), counts) + np.arange(
        int(counts.sum())
    )
    e_node = pn[e_pair]
    e_cap = _line_caps(p, e_line, e_node).astype(np.float64)
    key = p.line_sku[e_line] * n_nodes + e_node
    pos = np.clip(searchsorted(model.row_stock, key), 0, max(n_stock - 1, 0))
    s_dual = np.where((n_stock > 0) & (model.row_stock[pos] == key), stock_dual[pos], 0.0) if n_stock else 0.0
    rc_x = p.handling[e_node] - line_dual[e_line] - s_dual - cap_u[e_node]
    if len(model.row_pool):
        e_pool = p.pool[p.line_order[e_line]]
        S = len(p.sku_values)
        pkey = (np.maximum(e_pool, 0) * S + p.line_sku[e_line]) * n_nodes + e_node
        ppos = np.clip(searchsorted(model.row_pool, pkey), 0, len(model.row_pool) - 1)
        rc_x = rc_x - np.where((e_pool >= 0) & (model.row_pool[ppos] == pkey), pool_dual[ppos], 0.0)
    gain = np.bincount(e_pair, weights=np.minimum(rc_x, 0.0) * e_cap, minlength=len(po))
    out: npt.NDArray[np.float64] = pair_cost - cap_o[pn] - ship[po] + gain
    return out


def _milp(
    model: _Model, *, time_limit: float, gap: float, lower: npt.NDArray[np.float64] | None = None
) -> Any:
    a = sp.vstack([model.a_ub, model.a_eq]).tocsr()
    lo = np.concatenate([np.full(len(model.b_ub), -np.inf), model.b_eq])
    hi = np.concatenate([model.b_ub, model.b_eq])
    from scipy.optimize import Bounds

    lb = np.zeros(len(model.c)) if lower is None else lower
    return milp(
        model.c,
        integrality=model.integrality,
        bounds=Bounds(lb, model.upper),
        constraints=LinearConstraint(a, lo, hi),
        options={"time_limit": max(time_limit, 1.0), "mip_rel_gap": gap, "presolve": True},
    )


def _integral_flows(
    model: _Model, y: npt.NDArray[np.float64], w: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """Re-solve the units with shipments fixed: a network-flow LP whose vertex solutions are integral."""
    lower = np.zeros(len(model.c))
    upper = model.upper.copy()
    off = model.offsets
    lower[off["y"] : off["x"]] = upper[off["y"] : off["x"]] = np.round(y)
    lower[off["w"] : off["end"]] = upper[off["w"] : off["end"]] = np.round(w)
    res = linprog(  # type: ignore[call-overload]
        model.c,
        A_ub=model.a_ub,
        b_ub=model.b_ub,
        A_eq=model.a_eq,
        b_eq=model.b_eq,
        bounds=np.column_stack([lower, upper]),
        method="highs-ds",
    )
    if res.status != 0:
        raise RuntimeError(f"flow LP failed: {res.message}")
    return np.asarray(res.x)


def _triples(model: _Model, x: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.int64], ...]:
    off = model.offsets
    units = np.round(x[off["x"] : off["u"]]).astype(np.int64)
    keep = units > 0
    return model.e_line[keep], model.pn[model.e_pair[keep]], units[keep]


def _greedy(p: Problem, order: npt.NDArray[np.int64] | None = None) -> AllocationResult:
    """Sequential exact single-order routing in the given order (default: largest orders first)."""
    if order is None:
        order = np.argsort(-p.order_units, kind="stable")
    router = Router(_reordered(p, order))
    return router.route_all()


def _reordered(p: Problem, order: npt.NDArray[np.int64]) -> Problem:
    from omnicore.allocation._problem import subproblem

    return subproblem(p, order)


def _prices(
    p: Problem, model: _Model, lp: _LP
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Non-negative prices of stock (per sku, node), shipments and units (per node) from LP duals."""
    n_nodes = p.n_nodes
    duals = np.maximum(-lp.dual_ub, 0.0)
    n_stock = len(model.row_stock)
    stock_price = np.zeros(p.atp.shape)
    stock_price[model.row_stock // n_nodes, model.row_stock % n_nodes] = duals[:n_stock]
    k = n_stock + len(model.e_pair)
    ship_price = np.zeros(n_nodes)
    ship_price[model.row_cap_orders] = duals[k : k + len(model.row_cap_orders)]
    k += len(model.row_cap_orders)
    unit_price = np.zeros(n_nodes)
    unit_price[model.row_cap_units] = duals[k : k + len(model.row_cap_units)]
    return stock_price, ship_price, unit_price


def solve_batch(
    p: Problem,
    *,
    time_limit_seconds: float = 60.0,
    mip_rel_gap: float = 1e-4,
    pairs_per_order: int = 2,
    full_model_pairs: int = 5_000,
    lns_orders: int = 150,
    bound_share: float = 0.5,
    bound_iterations: int = 200,
    price_scales: tuple[float, ...] = (1.0,),
    cg_min_gain: float = 1e-3,
    prune_above: int = 20_000_000,
    pool_per_order: int = 24,
    progress: Progress = null_progress,
) -> AllocationResult:
    """Cost-minimising allocation of all orders at once (see :func:`omnicore.allocation.optimise`)."""
    start = time.perf_counter()
    deadline = start + time_limit_seconds
    pen = p.cost.unfilled_penalty_per_unit
    # very large waves keep only the most promising pairs per order as the column pool; the bound
    # then comes from the Lagrangian relaxation alone, which prices every node
    pruned = p.n_orders * p.n_nodes > prune_above
    po_all, pn_all, cost_all = useful_pairs(p, max_per_order=pool_per_order if pruned else None)
    has_pairs = np.zeros(p.n_orders, bool)
    has_pairs[po_all] = True
    constant = float(pen * p.order_units[~has_pairs].sum())
    details: dict[str, Any] = {"pairs": len(po_all), "pairs_pruned": pruned}
    # warm start: the best of sequential exact routing in arrival order, the nearest-node rule and,
    # for small waves, sequential routing of the largest orders first
    from omnicore.allocation._baselines import greedy_allocation

    starts = [greedy_allocation(p, rule="nearest"), Router(p).route_all()]
    if p.n_orders <= 1_000:
        starts.append(_greedy(p))
    greedy = min(starts, key=lambda r: r.cost.total)
    details["greedy_cost"] = greedy.cost.total
    if pruned and len(po_all):  # the pool must hold the warm starts' pairs, so the LP can reproduce them
        keys = np.union1d(po_all * p.n_nodes + pn_all, np.concatenate([_pair_keys_of(p, w) for w in starts]))
        po_all, pn_all = keys // p.n_nodes, keys % p.n_nodes
        cost_all = _pair_cost(p, po_all, pn_all)
        details["pairs"] = len(po_all)
    progress(1, 5, "greedy warm start")

    def fallback(status: str, bound: float | None) -> AllocationResult:
        return attrs.evolve(
            greedy,
            lower_bound=bound,
            method="dual-priced" if greedy.method == "dual-priced" else "greedy",
            status=status,
            seconds=time.perf_counter() - start,
            details={**greedy.details, **details},
        )

    if not len(po_all):
        return fallback("optimal", constant)
    full = len(po_all) <= full_model_pairs
    # -- restricted master: every pair when small, else the best pairs per order plus the greedy plan's
    in_rmp = np.zeros(len(po_all), bool)
    if full:
        in_rmp[:] = True
    else:
        filled = _single_node_fill(p, po_all, pn_all)
        est = cost_all + p.handling[pn_all] * filled + pen * (p.order_units[po_all] - filled)
        rank = np.lexsort((est, po_all))
        first_of = searchsorted(po_all[rank], po_all[rank], side="left")
        in_rmp[rank[(np.arange(len(rank)) - first_of) < pairs_per_order]] = True
        for warm in starts:  # every warm start's pairs, so the first LP can reproduce each of them
            in_rmp |= np.isin(po_all * p.n_nodes + pn_all, _pair_keys_of(p, warm))
    lns_pool = in_rmp.copy()
    rounds = 0
    last_lp = np.inf
    lower_bound = -np.inf
    converged = False
    lp: _LP | None = None
    model: _Model | None = None
    rc = np.zeros(len(po_all))
    budget_lp = 0.35 * time_limit_seconds
    round_seconds = 0.0
    while not pruned:  # a pruned (very large) wave's LP does not fit its budget: prices start at zero
        rounds += 1
        round_start = time.perf_counter()
        sel = np.flatnonzero(in_rmp)
        candidate = build_model(p, po_all[sel], pn_all[sel], cost_all[sel])
        now = time.perf_counter()
        if full:
            lp_limit = deadline - now
        elif lp is None:  # the first LP matters most (duals, bound, fixing): it may take 70%
            lp_limit = start + 0.7 * time_limit_seconds - now
        else:  # later rounds leave the bound and the neighbourhood search their share
            lp_limit = start + 0.45 * time_limit_seconds - now
        try:
            candidate_lp = solve_lp(candidate, time_limit=max(lp_limit, 1.0))
        except RuntimeError as exc:
            logger.warning("LP round %d stopped: %s", rounds, exc)
            if lp is None:
                if full:
                    return fallback("fallback", None)
                details["lp_failed"] = str(exc)
                break
            in_rmp[:] = False
            in_rmp[np.isin(po_all * p.n_nodes + pn_all, model.po * p.n_nodes + model.pn)] = True  # type: ignore[union-attr]
            break
        model, lp = candidate, candidate_lp
        rc = price_pairs(p, model, lp, po_all, pn_all, cost_all)
        outside = ~in_rmp
        negative = outside & (rc < -1e-6)
        if not pruned:
            lower_bound = max(lower_bound, lp.value + float(np.minimum(rc[outside], 0.0).sum()) + constant)
        logger.info(
            "CG round %d: %d pairs, LP %.2f, bound %.2f, %d negative",
            rounds,
            len(sel),
            lp.value + constant,
            lower_bound,
            int(negative.sum()),
        )
        if not negative.any():
            converged = True
            if not pruned:
                lower_bound = lp.value + constant
            break
        round_seconds = time.perf_counter() - round_start
        elapsed = time.perf_counter() - start
        if rounds >= 3 and last_lp - lp.value < cg_min_gain * abs(lp.value):
            break  # the LP has stalled: the Lagrangian bound from its duals is the stronger one
        last_lp = lp.value
        if elapsed + 1.2 * round_seconds > budget_lp and not (
            rounds < 2 and elapsed < 0.3 * time_limit_seconds
        ):
            break
        cand = np.flatnonzero(negative)
        rank = cand[np.lexsort((rc[cand], po_all[cand]))]
        first_of = searchsorted(po_all[rank], po_all[rank], side="left")
        in_rmp[rank[(np.arange(len(rank)) - first_of) < 2]] = True
    details.update(cg_rounds=rounds, rmp_pairs=int(in_rmp.sum()), cg_converged=converged)
    progress(2, 5, "LP relaxation")
    if lp is not None and model is not None:
        details["lp_value"] = lp.value + constant
        stock_price, ship_price, unit_price = _prices(p, model, lp)
        prices = Prices(stock=stock_price, shipment=ship_price, unit=unit_price)
    else:  # no LP in time: the subgradient starts from zero prices (the lone-order optima)
        zero = np.zeros(p.n_nodes)
        prices = Prices(stock=np.zeros(p.atp.shape), shipment=zero, unit=zero.copy())
    if not converged or pruned:
        # Lagrangian bound from the LP duals, improved by subgradient steps up to about half the budget
        relaxation = Relaxation.of(p)
        lagrange, prices = optimise_bound(
            p,
            prices,
            upper=greedy.cost.total,
            deadline=max(start + bound_share * time_limit_seconds, time.perf_counter()),
            first_deadline=deadline - 0.25 * time_limit_seconds,
            max_iterations=bound_iterations,
            # from LP duals the ascent starts near the top: short steps; from zero prices, long ones
            target_gap=0.02 if lp is None else 0.005,
            patience=3 if lp is None else 5,
            min_step=0.004,
            relaxation=relaxation,
            try_zero=lp is not None,
            details=details,
        )
        details["lagrangian_bound"] = lagrange
        lower_bound = max(lower_bound, lagrange)
    progress(3, 5, "lower bound")
    # -- integer phase
    if full and lp is not None and model is not None and time.perf_counter() < deadline:
        res = _milp(model, time_limit=max(deadline - time.perf_counter(), 1.0), gap=mip_rel_gap)
        details["milp_status"] = str(res.message)
        progress(4, 5, "MILP")
        if res.x is not None:
            off = model.offsets
            x = _integral_flows(model, res.x[: off["x"]], res.x[off["w"] : off["end"]])
            lines, nodes, units = _triples(model, x)
            result = collect(
                p,
                lines,
                nodes,
                units,
                method="milp",
                status="feasible",
                seconds=time.perf_counter() - start,
                lower_bound=lower_bound,
                details=details,
            )
            solved = res.status == 0 and res.mip_gap is not None and res.mip_gap <= mip_rel_gap
            proven = converged and not pruned and solved
            if proven:
                result = attrs.evolve(result, status="optimal")
            if result.cost.total <= greedy.cost.total + 1e-9:
                progress(5, 5, "done")
                return attrs.evolve(result, seconds=time.perf_counter() - start)
        return fallback("fallback", lower_bound)
    # -- primal phase: the best of the warm starts, dual-priced routing and LP-guided fixing, then
    # large-neighbourhood search (sub-MILPs over clusters of nearby orders) until the deadline
    plans: list[tuple[str, AllocationResult]] = [("greedy", greedy)]
    priced_costs: list[float] = []
    for scale in price_scales:
        if time.perf_counter() > deadline - 0.3 * time_limit_seconds:
            break
        # dual-priced sequential routing: each order pays the shadow prices (Lagrange multipliers) of
        # the stock and capacity it takes, so early orders leave scarce units to the orders that need
        # them; the multipliers are only estimates, so a few scalings of them are tried
        priced_router = Router(
            p,
            stock_price=scale * prices.stock,
            shipment_price=scale * prices.shipment,
            unit_price=scale * prices.unit,
        )
        priced = priced_router.route_all()
        priced_costs.append(priced.cost.total)
        plans.append(("dual-priced", priced))
    if priced_costs:
        details["dual_priced_cost"] = min(priced_costs)
        details["dual_priced_costs"] = priced_costs
    if lp is not None and model is not None:
        fixed_plan = _fix_and_route(p, model, lp, details=details)
        details["lp_fixing_cost"] = fixed_plan.cost.total
        plans.append(("decomposition", fixed_plan))
    start_name, start_plan = min(plans, key=lambda item: item[1].cost.total)
    details["lns_start"] = start_name
    a = start_plan.allocation
    incumbent = Incumbent.of(p, triples_of(p, a.order_id, a.sku, a.node, a.quantity))
    sel = np.flatnonzero(in_rmp | lns_pool)
    incumbent = improve_by_neighbourhoods(
        p,
        incumbent,
        po_all[sel],
        pn_all[sel],
        cost_all[sel],
        deadline=deadline,
        size=lns_orders,
        details=details,
    )
    progress(4, 5, "neighbourhood search")
    result = collect(
        p,
        *incumbent.triples(),
        method="decomposition",
        status="feasible",
        seconds=time.perf_counter() - start,
        lower_bound=lower_bound,
        details=details,
    )
    progress(5, 5, "done")
    if result.cost.total > greedy.cost.total + 1e-9:
        return fallback("fallback", lower_bound)
    return attrs.evolve(result, seconds=time.perf_counter() - start)


def _fix_and_route(p: Problem, model: _Model, lp: _LP, *, details: dict[str, Any]) -> AllocationResult:
    """LP-guided fixing: keep the orders the LP routes integrally and re-route the rest exactly,
    largest first, against the stock and capacity the fixed part leaves."""
    off = model.offsets
    y = lp.x[: off["x"]]
    x = lp.x[off["x"] : off["u"]]
    w = lp.x[off["w"] : off["end"]]
    tol = 1e-6
    frac = np.zeros(p.n_orders, bool)
    frac[model.po[np.abs(y - np.round(y)) > tol]] = True
    frac[p.line_order[model.e_line[np.abs(x - np.round(x)) > tol]]] = True
    frac[model.strict_orders[np.abs(w - np.round(w)) > tol]] = True
    in_model = np.zeros(p.n_orders, bool)
    in_model[model.po] = True
    frac &= in_model
    keep = ~frac[p.line_order[model.e_line]] & (np.round(x) > 0)
    lines = model.e_line[keep]
    nodes = model.pn[model.e_pair[keep]]
    units = np.round(x[keep]).astype(np.int64)
    router = Router(p)
    _consume(router, p, lines, nodes, units)
    rest = np.flatnonzero(frac)
    rest = rest[np.argsort(-p.order_units[rest], kind="stable")]
    r_lines, r_nodes, r_units = _route_subset(router, rest)
    details.update(fractional_orders=len(rest))
    return collect(
        p,
        np.concatenate([lines, r_lines]),
        np.concatenate([nodes, r_nodes]),
        np.concatenate([units, r_units]),
        method="decomposition",
        status="feasible",
        seconds=0.0,
    )


def _consume(
    router: Router,
    p: Problem,
    lines: npt.NDArray[np.int64],
    nodes: npt.NDArray[np.int64],
    units: npt.NDArray[np.int64],
) -> None:
    """Take fixed (line, node, units) out of a router's live stock and capacity."""
    if not len(lines):
        return
    np.subtract.at(router.atp, (p.line_sku[lines], nodes), units)
    pools = p.pool[p.line_order[lines]]
    has = pools >= 0
    if has.any():
        np.subtract.at(router.pool_left, (pools[has], p.line_sku[lines[has]], nodes[has]), units[has])
    pairs = np.unique(p.line_order[lines] * p.n_nodes + nodes)
    np.subtract.at(router.cap_orders, pairs % p.n_nodes, 1)
    np.subtract.at(router.cap_units, nodes, units)
    router.node_open &= (router.cap_orders > 0) & (router.cap_units > 0)


def _route_subset(router: Router, positions: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.int64], ...]:
    p = router.problem
    out_l: list[npt.NDArray[np.int64]] = []
    out_n: list[npt.NDArray[np.int64]] = []
    out_q: list[npt.NDArray[np.int64]] = []
    for lo in range(0, len(positions), 2048):
        pos = positions[lo : lo + 2048]
        dist = p.distances(pos)
        fixed, dcost = p.shipment_cost(pos, dist)
        ship = fixed + dcost
        closed = p.closed(pos, dist)
        tiers = p.tier_masks(pos, dist)
        for k, o in enumerate(pos.tolist()):
            ctx, _ = router._context(o, ship[k], closed[k], [m[k] for m in tiers])
            choice = router._search(ctx, explain=False)
            router._commit(o, choice)
            if len(choice.nodes):
                rows, cols = np.nonzero(choice.take)
                out_l.append(p.line_start[o] + rows)
                out_n.append(choice.nodes[cols])
                out_q.append(choice.take[rows, cols])
    return _cat(out_l), _cat(out_n), _cat(out_q)


def _single_node_fill(
    p: Problem, po: npt.NDArray[np.int64], pn: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    counts = np.diff(p.line_start)[po]
    e_pair = np.repeat(np.arange(len(po)), counts)
    first = p.line_start[po]
    e_line = np.repeat(first - np.concatenate(([0], np.cumsum(counts)[:-1])), counts) + np.arange(
        int(counts.sum())
    )
    cap = _line_caps(p, e_line, pn[e_pair])
    out: npt.NDArray[np.int64] = np.bincount(e_pair, weights=cap, minlength=len(po)).astype(np.int64)
    return out


def _pair_keys_of(p: Problem, result: AllocationResult) -> npt.NDArray[np.int64]:
    if not len(result.allocation):
        return np.empty(0, np.int64)
    o_sorted = np.argsort(p.orders.order_id)
    o_pos = o_sorted[searchsorted(p.orders.order_id[o_sorted], result.allocation.order_id)]
    n_pos = p.network.index_of(result.allocation.node)
    out: npt.NDArray[np.int64] = np.unique(o_pos * p.n_nodes + n_pos)
    return out
