"""Compiled single-order search: the exact set-cover branch and bound of :class:`Router`, one order per call.

One call reads the order's lines against the live stock, prices every single-node plan, runs the
set-cover branch and bound when a split can beat the best single node, assigns units within the
chosen set and (optionally) consumes the stock and capacity it used. The search is the one described
in :class:`omnicore.allocation._single.Router`'s Notes, written as an explicit-stack depth-first
search so that it compiles with numba (``omnicore._jit.jit``); with ``NUMBA_DISABLE_JIT=1`` it runs
as plain Python with the same results.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from omnicore._jit import jit

__all__ = ["commit_order", "distance_rows", "explain_order", "solve_order"]

_TOL = 1e-9

# frame phases of the depth-first search
_ENTER, _SCAN, _GIVE_UP, _DONE = 0, 1, 2, 3

_Explained = tuple[
    npt.NDArray[np.int64],
    npt.NDArray[np.int64],
    bool,
    float,
    float,
    npt.NDArray[np.int64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.int64],
    npt.NDArray[np.int64],
]


@jit
def _assign(
    cols: npt.NDArray[np.int64],
    hs: npt.NDArray[np.float64],
    members: npt.NDArray[np.int64],
    q: npt.NDArray[np.int64],
    capu: npt.NDArray[np.int64],
) -> npt.NDArray[np.int64]:
    """Units per (line, member) for a fixed node set: cheapest unit cost first per line (ties in
    member order), then any excess over a node's unit capacity cut from the last lines up."""
    n_lines = cols.shape[0]
    m = len(members)
    take = np.zeros((n_lines, m), np.int64)
    order = np.empty(m, np.int64)
    for r in range(n_lines):
        # stable insertion sort of the members by unit cost
        for j in range(m):
            v = hs[r, members[j]]
            i = j
            while i > 0 and hs[r, members[order[i - 1]]] > v:
                order[i] = order[i - 1]
                i -= 1
            order[i] = j
        before = 0
        for t in range(m):
            j = order[t]
            a = cols[r, members[j]]
            want = q[r] - before
            if want < 0:
                want = 0
            take[r, j] = a if a < want else want
            before += a
    for j in range(m):
        excess = -capu[members[j]]
        for r in range(n_lines):
            excess += take[r, j]
        if excess > 0:
            for r in range(n_lines - 1, -1, -1):
                cut = excess if excess < take[r, j] else take[r, j]
                take[r, j] -= cut
                excess -= cut
                if excess == 0:
                    break
    return take


@jit
def _bound(
    csum: float,
    cover: npt.NDArray[np.int64],
    target: npt.NDArray[np.int64],
    banned: npt.NDArray[np.bool_],
    holders: npt.NDArray[np.int64],
    n_holders: npt.NDArray[np.int64],
    c: npt.NDArray[np.float64],
    units: int,
    unit_rate: float,
    gap_rate: float,
    penalty: float,
) -> float:
    """Lower bound of a search node: shipments so far, the cheapest unit rate on the target units,
    the penalty on the rest, plus the dearest of (next holder's shipment, giving the line up)."""
    tsum = 0
    for r in range(len(target)):
        tsum += target[r]
    lb = csum + unit_rate * tsum + penalty * (units - tsum)
    extra = 0.0
    for r in range(len(target)):
        if cover[r] < target[r]:
            cheapest = np.inf
            for t in range(n_holders[r]):
                k = holders[r, t]
                if not banned[k]:
                    cheapest = c[k]
                    break
            gap = gap_rate * float(target[r] - cover[r])
            v = cheapest if cheapest < gap else gap
            if v > extra:
                extra = v
    return lb + extra


@jit
def explain_order(
    skus: npt.NDArray[np.int64],
    q: npt.NDArray[np.int64],
    units: int,
    atp: npt.NDArray[np.int64],
    pool_left: npt.NDArray[np.int64],
    pool: int,
    closed: npt.NDArray[np.int8],
    node_open: npt.NDArray[np.bool_],
    allowed: npt.NDArray[np.bool_],
    ship: npt.NDArray[np.float64],
    unit_price: npt.NDArray[np.float64],
    stock_price: npt.NDArray[np.float64],
    cap_orders: npt.NDArray[np.int64],
    cap_units: npt.NDArray[np.int64],
    priority: npt.NDArray[np.int64],
    penalty: float,
    max_set: int,
    truncated: bool,
    allow_partial: bool,
    max_evaluations: int,
    record: bool,
    commit: bool,
) -> _Explained:
    """Route one order exactly (within the size and evaluation bounds) against the live stock.

    Parameters
    ----------
    skus, q, units
        The order's line skus (rows of ``atp``), line quantities and total units.
    atp, pool_left, pool
        Live available-to-promise ``[skus, nodes]``, channel pools ``[pools, skus, nodes]`` and the
        order's pool (-1: none).
    closed, node_open, allowed
        Per node: closure flags (non-zero closes), capacity left, and the sourcing-tier mask.
    ship, unit_price, stock_price
        Shipment cost per node, unit cost per node, and an extra price per (sku, node) (shape
        ``(0, 0)`` when there is none).
    cap_orders, cap_units, priority
        Shipment and unit capacity left per node; tie-break priority (lower first).
    penalty, max_set, truncated, allow_partial, max_evaluations
        Unfilled penalty per unit, largest set searched, whether ``max_set`` is below the order's
        own shipment limit, the partial-fill policy and the evaluation budget.
    record
        Log every multi-node set priced (for explanations).
    commit
        Consume the plan's stock and capacity from ``atp``, ``pool_left``, ``cap_orders``,
        ``cap_units`` and ``node_open`` (in place).

    Returns
    -------
    tuple
        ``(nodes, take[lines, nodes], exact, value, bound, acap[lines, nodes], h[lines, nodes],
        single_cost[nodes], log_cost[k], log_nodes[k, max_set], log_filled[k])``; single-node costs
        are ``inf`` where a node alone is infeasible, and log costs ``inf`` where a set is.
    """
    n_lines = len(q)
    n_nodes = len(ship)
    acap = np.zeros((n_lines, n_nodes), np.int64)
    h = np.empty((n_lines, n_nodes), np.float64)
    priced = stock_price.shape[0] > 0
    for r in range(n_lines):
        s = skus[r]
        for n in range(n_nodes):
            h[r, n] = unit_price[n] + stock_price[s, n] if priced else unit_price[n]
    for n in range(n_nodes):
        if closed[n] != 0 or not node_open[n] or not allowed[n]:
            continue
        for r in range(n_lines):
            a = atp[skus[r], n]
            if pool >= 0 and pool_left[pool, skus[r], n] < a:
                a = pool_left[pool, skus[r], n]
            acap[r, n] = a if a < q[r] else q[r]

    # -- single nodes ----------------------------------------------------------------------------
    filled = np.zeros(n_nodes, np.int64)
    single = np.full(n_nodes, np.inf)
    best = penalty * units
    best_nodes = np.empty(max(max_set, 1), np.int64)
    n_best = 0
    j_best = -1
    for n in range(n_nodes):
        raw = 0
        unit_part = 0.0
        for r in range(n_lines):
            raw += acap[r, n]
            unit_part += h[r, n] * acap[r, n]
        got = raw if raw < cap_units[n] else cap_units[n]
        filled[n] = got
        if got < raw:
            unit_part = unit_part * (got / raw if raw > 0 else 0.0)
        if got > 0 and (allow_partial or got >= units):
            single[n] = ship[n] + unit_part + penalty * (units - got)
            if j_best < 0 or single[n] < single[j_best]:
                j_best = n
    if j_best >= 0 and single[j_best] < best - _TOL:
        best = single[j_best]
        best_nodes[0] = j_best
        n_best = 1

    exact = True
    bound = best
    n_log = 0
    cap_log = max_evaluations if record else 0
    log_cost = np.empty(cap_log, np.float64)
    log_nodes = np.full((cap_log, max(max_set, 1)), -1, np.int64)
    log_filled = np.empty(cap_log, np.int64)

    # -- node sets: set-cover branch and bound ---------------------------------------------------
    n_useful = 0
    for n in range(n_nodes):
        if filled[n] > 0:
            n_useful += 1
    if max_set >= 2 and n_useful >= 2:
        useful = np.empty(n_useful, np.int64)
        k = 0
        for n in range(n_nodes):
            if filled[n] > 0:
                useful[k] = n
                k += 1
        q_cov = np.empty(n_lines, np.int64)
        hmin_u = np.inf
        for r in range(n_lines):
            tot = 0
            for u in useful:
                tot += acap[r, u]
                if h[r, u] < hmin_u:
                    hmin_u = h[r, u]
            q_cov[r] = q[r] if q[r] < tot else tot
        coverable = 0
        for r in range(n_lines):
            coverable += q_cov[r]
        rate0 = hmin_u if hmin_u < penalty else penalty
        lbh = rate0 * coverable + penalty * (units - coverable)
        s1 = np.inf
        s2 = np.inf
        for u in useful:
            if ship[u] < s1:
                s2 = s1
                s1 = ship[u]
            elif ship[u] < s2:
                s2 = ship[u]
        if s1 + s2 + lbh < best - _TOL:
            # a node whose shipment alone, plus the unavoidable unit costs, reaches the incumbent is useless
            floor = lbh
            n_cand = 0
            for u in useful:
                if ship[u] + floor < best - _TOL:
                    n_cand += 1
            if n_cand > 0:
                kept = np.empty(n_cand, np.int64)
                k = 0
                for u in useful:
                    if ship[u] + floor < best - _TOL:
                        kept[k] = u
                        k += 1
                # candidates by (shipment cost, priority, node), as np.lexsort((priority, ship))
                by_priority = kept[np.argsort(priority[kept], kind="mergesort")]
                cand = by_priority[np.argsort(ship[by_priority], kind="mergesort")]
                c = ship[cand]
                cols = np.empty((n_lines, n_cand), np.int64)
                hs = np.empty((n_lines, n_cand), np.float64)
                capu = cap_units[cand]
                hmin = np.inf
                hmax = -np.inf
                for r in range(n_lines):
                    for k in range(n_cand):
                        cols[r, k] = acap[r, cand[k]]
                        hs[r, k] = h[r, cand[k]]
                        if hs[r, k] < hmin:
                            hmin = hs[r, k]
                        if hs[r, k] > hmax:
                            hmax = hs[r, k]
                q3 = np.empty(n_lines, np.int64)
                for r in range(n_lines):
                    tot = 0
                    for k in range(n_cand):
                        tot += cols[r, k]
                    q3[r] = q[r] if q[r] < tot else tot
                # per line, the candidates holding it, in candidate order
                holders = np.empty((n_lines, n_cand), np.int64)
                n_holders = np.zeros(n_lines, np.int64)
                for r in range(n_lines):
                    for k in range(n_cand):
                        if cols[r, k] > 0:
                            holders[r, n_holders[r]] = k
                            n_holders[r] += 1
                unit_rate = hmin if hmin < penalty else penalty
                gap_rate = (penalty - hmin if penalty > hmin else 0.0) if allow_partial else np.inf
                # giving a line up bans its holders only when filling is never dearer than the penalty
                ban_on_give_up = penalty >= hmax

                depth = max_set + n_lines + 2
                f_csum = np.zeros(depth, np.float64)
                f_cover = np.zeros((depth, n_lines), np.int64)
                f_target = np.zeros((depth, n_lines), np.int64)
                f_banned = np.zeros((depth, n_cand), np.bool_)
                f_local = np.zeros((depth, n_cand), np.bool_)
                f_nmem = np.zeros(depth, np.int64)
                f_row = np.zeros(depth, np.int64)
                f_next = np.zeros(depth, np.int64)
                f_lb = np.zeros(depth, np.float64)
                f_phase = np.zeros(depth, np.int64)
                f_nsib = np.zeros(depth, np.int64)
                f_sib = np.zeros((depth, n_cand), np.int64)
                members = np.zeros(depth, np.int64)
                evals = 0
                root = _bound(
                    0.0,
                    f_cover[0],
                    q3,
                    f_banned[0],
                    holders,
                    n_holders,
                    c,
                    units,
                    unit_rate,
                    gap_rate,
                    penalty,
                )
                f_target[0, :] = q3
                f_phase[0] = _ENTER
                d = 0
                while d >= 0:
                    phase = f_phase[d]
                    if phase == _ENTER:
                        if evals >= max_evaluations:
                            exact = False
                            d -= 1
                            continue
                        nmem = f_nmem[d]
                        row = -1
                        fewest = n_cand + 1
                        for r in range(n_lines):
                            if f_cover[d, r] < f_target[d, r]:
                                free = 0
                                for t in range(n_holders[r]):
                                    if not f_banned[d, holders[r, t]]:
                                        free += 1
                                if free < fewest:
                                    fewest = free
                                    row = r
                        at_limit = nmem >= max_set
                        if row < 0 or at_limit:
                            if nmem >= 2 and (row < 0 or allow_partial):
                                # price the set: assign units, then shipments + units + penalty
                                evals += 1
                                mem = members[:nmem]
                                take = _assign(cols, hs, mem, q3, capu)
                                got = 0
                                ship_sum = 0.0
                                n_used = 0
                                for j in range(nmem):
                                    col = 0
                                    for r in range(n_lines):
                                        col += take[r, j]
                                    got += col
                                    if col > 0:
                                        ship_sum += c[mem[j]]
                                        n_used += 1
                                unit_sum = 0.0
                                for r in range(n_lines):
                                    for j in range(nmem):
                                        unit_sum += take[r, j] * hs[r, mem[j]]
                                cost = ship_sum + unit_sum + penalty * (units - got)
                                ok = allow_partial or got >= units
                                if record:
                                    log_cost[n_log] = cost if ok else np.inf
                                    log_filled[n_log] = got
                                    t = 0
                                    for j in range(nmem):
                                        col = 0
                                        for r in range(n_lines):
                                            col += take[r, j]
                                        if col > 0:
                                            log_nodes[n_log, t] = cand[mem[j]]
                                            t += 1
                                    n_log += 1
                                if ok and cost < best - _TOL:
                                    best = cost
                                    n_best = 0
                                    for j in range(nmem):
                                        col = 0
                                        for r in range(n_lines):
                                            col += take[r, j]
                                        if col > 0:
                                            best_nodes[n_best] = cand[mem[j]]
                                            n_best += 1
                            if row >= 0 and truncated:
                                exact = False
                            d -= 1
                            continue
                        tsum = 0
                        for r in range(n_lines):
                            tsum += f_target[d, r]
                        f_lb[d] = f_csum[d] + unit_rate * tsum + penalty * (units - tsum)
                        f_row[d] = row
                        f_next[d] = 0
                        f_nsib[d] = 0
                        f_local[d, :] = f_banned[d, :]
                        f_phase[d] = _SCAN
                        continue
                    if phase == _SCAN:
                        row = f_row[d]
                        t = f_next[d]
                        while t < n_holders[row] and f_banned[d, holders[row, t]]:
                            t += 1
                        if t >= n_holders[row] or f_lb[d] + c[holders[row, t]] >= best - _TOL:
                            f_phase[d] = _GIVE_UP
                            continue
                        k = holders[row, t]
                        f_next[d] = t + 1
                        dominated = False
                        for t in range(f_nsib[d]):
                            j = f_sib[d, t]
                            # j (cheaper, earlier) stands in for k in any set at no extra cost
                            if j < k:
                                covers = True
                                worse = 0.0
                                for r in range(n_lines):
                                    if cols[r, j] < cols[r, k]:
                                        covers = False
                                        break
                                    diff = hs[r, j] - hs[r, k]
                                    if diff > worse:
                                        worse = diff
                                if covers and c[j] + worse * units <= c[k]:
                                    dominated = True
                                    break
                        f_local[d, k] = True
                        if dominated:
                            continue
                        child = d + 1
                        for r in range(n_lines):
                            v = f_cover[d, r] + cols[r, k]
                            f_cover[child, r] = v if v < f_target[d, r] else f_target[d, r]
                        f_sib[d, f_nsib[d]] = k
                        f_nsib[d] += 1
                        if (
                            _bound(
                                f_csum[d] + c[k],
                                f_cover[child],
                                f_target[d],
                                f_local[d],
                                holders,
                                n_holders,
                                c,
                                units,
                                unit_rate,
                                gap_rate,
                                penalty,
                            )
                            < best - _TOL
                        ):
                            f_csum[child] = f_csum[d] + c[k]
                            f_target[child, :] = f_target[d, :]
                            f_banned[child, :] = f_local[d, :]
                            f_nmem[child] = f_nmem[d] + 1
                            members[f_nmem[d]] = k
                            f_phase[child] = _ENTER
                            d = child
                        continue
                    if phase == _GIVE_UP:
                        f_phase[d] = _DONE
                        if allow_partial:
                            child = d + 1
                            row = f_row[d]
                            f_target[child, :] = f_target[d, :]
                            f_target[child, row] = f_cover[d, row]
                            if ban_on_give_up:
                                f_banned[child, :] = f_local[d, :]
                            else:
                                f_banned[child, :] = f_banned[d, :]
                            if (
                                _bound(
                                    f_csum[d],
                                    f_cover[d],
                                    f_target[child],
                                    f_banned[child],
                                    holders,
                                    n_holders,
                                    c,
                                    units,
                                    unit_rate,
                                    gap_rate,
                                    penalty,
                                )
                                < best - _TOL
                            ):
                                f_csum[child] = f_csum[d]
                                f_cover[child, :] = f_cover[d, :]
                                f_nmem[child] = f_nmem[d]
                                f_phase[child] = _ENTER
                                d = child
                                continue
                        d -= 1
                        continue
                    d -= 1
                bound = best if exact else min(root, best)

    # -- the plan: assign the chosen set's units, drop unused nodes ------------------------------
    nodes = best_nodes[:n_best].copy()
    take = _assign(acap, h, nodes, q, cap_units)
    n_keep = 0
    for j in range(n_best):
        col = 0
        for r in range(n_lines):
            col += take[r, j]
        if col > 0:
            n_keep += 1
    if n_keep < n_best:
        keep = np.empty(n_keep, np.int64)
        t = 0
        for j in range(n_best):
            col = 0
            for r in range(n_lines):
                col += take[r, j]
            if col > 0:
                keep[t] = j
                t += 1
        nodes = nodes[keep]
        take = take[:, keep].copy()
    if commit:
        commit_order(skus, take, nodes, atp, pool_left, pool, cap_orders, cap_units, node_open)
    return (
        nodes,
        take,
        exact,
        best,
        bound,
        acap,
        h,
        single,
        log_cost[:n_log],
        log_nodes[:n_log],
        log_filled[:n_log],
    )


@jit
def solve_order(
    skus: npt.NDArray[np.int64],
    q: npt.NDArray[np.int64],
    units: int,
    atp: npt.NDArray[np.int64],
    pool_left: npt.NDArray[np.int64],
    pool: int,
    closed: npt.NDArray[np.int8],
    node_open: npt.NDArray[np.bool_],
    allowed: npt.NDArray[np.bool_],
    ship: npt.NDArray[np.float64],
    unit_price: npt.NDArray[np.float64],
    stock_price: npt.NDArray[np.float64],
    cap_orders: npt.NDArray[np.int64],
    cap_units: npt.NDArray[np.int64],
    priority: npt.NDArray[np.int64],
    penalty: float,
    max_set: int,
    truncated: bool,
    allow_partial: bool,
    max_evaluations: int,
    record: bool,
    commit: bool,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], bool, float, float]:
    """The hot path of :func:`explain_order`: ``(nodes, take, exact, value, bound)`` only.

    It calls the same compiled search with the same argument types (``record`` is an argument, not a
    constant, so numba does not specialise a second copy), so the two never differ in their plans and
    compiling this wrapper compiles (and caches) the search :func:`explain_order` uses. Pass
    ``record=False``: the log is dropped."""
    out = explain_order(
        skus,
        q,
        units,
        atp,
        pool_left,
        pool,
        closed,
        node_open,
        allowed,
        ship,
        unit_price,
        stock_price,
        cap_orders,
        cap_units,
        priority,
        penalty,
        max_set,
        truncated,
        allow_partial,
        max_evaluations,
        record,
        commit,
    )
    return out[0], out[1], out[2], out[3], out[4]


@jit
def commit_order(
    skus: npt.NDArray[np.int64],
    take: npt.NDArray[np.int64],
    nodes: npt.NDArray[np.int64],
    atp: npt.NDArray[np.int64],
    pool_left: npt.NDArray[np.int64],
    pool: int,
    cap_orders: npt.NDArray[np.int64],
    cap_units: npt.NDArray[np.int64],
    node_open: npt.NDArray[np.bool_],
) -> None:
    """Consume a plan's units from the live stock (and pool) and its shipments and units from the
    nodes' capacity; close nodes whose capacity runs out."""
    for j in range(len(nodes)):
        n = nodes[j]
        shipped = 0
        for r in range(take.shape[0]):
            units = take[r, j]
            if units > 0:
                atp[skus[r], n] -= units
                if pool >= 0:
                    pool_left[pool, skus[r], n] -= units
                shipped += units
        cap_orders[n] -= 1
        cap_units[n] -= shipped
        if cap_orders[n] <= 0 or cap_units[n] <= 0:
            node_open[n] = False


@jit
def distance_rows(
    lat: npt.NDArray[np.float64],
    lon: npt.NDArray[np.float64],
    node_lat: npt.NDArray[np.float64],
    node_lon: npt.NDArray[np.float64],
) -> npt.NDArray[np.float64]:
    """Haversine distance in km from each customer ``(lat, lon)`` to every node ``[customers, nodes]``.

    The formula of :func:`omnicore.allocation.distance_km` in one pass without temporaries (equal to
    it within a few units in the last place: the sine and arcsine come from a different math library).
    """
    radius_km = 6371.0088
    n_nodes = len(node_lat)
    out = np.empty((len(lat), n_nodes), np.float64)
    p2 = np.radians(node_lat)
    cos2 = np.cos(p2)
    for i in range(len(lat)):
        p1 = np.radians(lat[i])
        cos1 = np.cos(p1)
        for j in range(n_nodes):
            dp = p2[j] - p1
            dl = np.radians(node_lon[j] - lon[i])
            s_dp = np.sin(dp / 2.0)
            s_dl = np.sin(dl / 2.0)
            h = s_dp * s_dp + cos1 * cos2[j] * (s_dl * s_dl)
            h = min(max(h, 0.0), 1.0)
            out[i, j] = 2.0 * radius_km * np.arcsin(np.sqrt(h))
    return out
