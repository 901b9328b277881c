"""The public routing verbs: route one order, route a stream, optimise a wave, price an allocation."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import numpy.typing as npt

from omnicore._errors import ValidationError
from omnicore._progress import Progress, null_progress
from omnicore.allocation._baselines import greedy_allocation
from omnicore.allocation._batch import solve_batch
from omnicore.allocation._network import CostModel, Network
from omnicore.allocation._orders import Orders
from omnicore.allocation._plan import Allocation, AllocationResult, RoutingPlan
from omnicore.allocation._problem import compile_problem, subproblem
from omnicore.allocation._rules import SourcingRules
from omnicore.allocation._single import Router, collect
from omnicore.data import Inventory, searchsorted

__all__ = ["allocate_greedy", "optimise", "price_allocation", "route_order", "route_orders"]


def _position(orders: Orders, order_id: Any) -> int:
    if order_id is None:
        if len(orders) != 1:
            raise ValidationError("several orders given: name one with order_id", field="order_id")
        return 0
    hits = np.flatnonzero(orders.order_id == order_id)
    if not len(hits):
        raise ValidationError("unknown order", field="order_id", value=order_id)
    return int(hits[0])


def route_order(
    orders: Orders,
    network: Network,
    inventory: Inventory,
    *,
    order_id: Any = None,
    cost: CostModel | None = None,
    rules: SourcingRules | None = None,
    explain: bool = True,
    max_set_size: int = 4,
) -> RoutingPlan:
    """The cheapest feasible plan for one order, with its cost breakdown and why each node lost.

    Parameters
    ----------
    orders
        The order (or several, with ``order_id`` naming one).
    network
        The fulfilment nodes.
    inventory
        Stock positions; ATP is ``on_hand - safety_stock - reserved`` (see :func:`available_to_promise`).
    order_id
        Which order to route when ``orders`` holds several.
    cost
        The cost model (default :class:`CostModel`).
    rules
        Sourcing rules (default: every node open).
    explain
        Fill ``alternatives`` and ``verdicts``. The plan is the same either way; without them the
        search logs nothing and no per-node verdicts are built (the fast path of real-time routing).
    max_set_size
        Largest number of shipments searched exactly.

    Returns
    -------
    RoutingPlan
        Lines (sku, node, quantity), unfilled units, the cost breakdown, ``exact``, and when
        ``explain`` the ranked alternatives and one :class:`NodeVerdict` per node.

    Raises
    ------
    ValidationError
        For an unknown order, node or pick-up node.

    Examples
    --------
    >>> net = Network(node=["DC", "S1", "S2"], kind=["dc", "store", "store"],
    ...               lat=[31.0, 31.2, 31.3], lon=[121.0, 121.4, 121.5],
    ...               fixed_cost_per_shipment=[4.0, 6.0, 6.0], cost_per_km=[0.01, 0.02, 0.02])
    >>> inv = Inventory(sku=["A", "B", "A"], node=["DC", "S1", "S2"], on_hand=[5, 5, 5])
    >>> order = Orders.from_lines(order_id=["o1", "o1"], sku=["A", "B"], quantity=[1, 1],
    ...                           lat=[31.25] * 2, lon=[121.45] * 2)
    >>> plan = route_order(order, net, inv)
    >>> sorted((line.sku, line.node) for line in plan.lines)
    [('A', 'DC'), ('B', 'S1')]
    >>> plan.shipments, plan.exact
    (2, True)
    >>> [(v.node, v.status) for v in plan.verdicts]
    [('DC', 'chosen'), ('S1', 'chosen'), ('S2', 'costlier')]

    Notes
    -----
    Exact for sets of up to ``max_set_size`` shipments by set-cover branch and bound (see
    :class:`Router`); a plan found when the search budget runs out is flagged ``exact=False``. The
    search runs as one compiled (numba) call per order; the first call in a fresh environment compiles
    it (then cached on disk).
    """
    position = _position(orders, order_id)
    problem = compile_problem(network, inventory, orders.take([position]), cost=cost, rules=rules)
    return Router(problem, max_set_size=max_set_size).route(0, explain=explain)


def route_orders(
    orders: Orders,
    network: Network,
    inventory: Inventory,
    *,
    cost: CostModel | None = None,
    rules: SourcingRules | None = None,
    max_set_size: int = 4,
    window: int = 1,
    window_seconds: float = 5.0,
    progress: Progress = null_progress,
) -> AllocationResult:
    """Route orders one at a time, in the given order, each consuming stock and capacity (real time).

    Parameters
    ----------
    orders, network, inventory, cost, rules
        As for :func:`route_order`.
    max_set_size
        Largest number of shipments searched exactly per order.
    window
        Orders decided together: 1 routes each order alone (true real time); ``k > 1`` holds
        orders for a short window and optimises each window of ``k`` with :func:`optimise` against the
        stock earlier windows left, which stops early orders taking the units later ones need.
    window_seconds
        Optimisation budget per window.
    progress
        Progress callback.

    Returns
    -------
    AllocationResult
        ``method="sequential"`` (or ``"windows of k"``). Sequential routing reports in ``details``
        the orders routed with a proven per-order optimum (``exact_orders``), the wall time of each
        order's routing call (``latency_p50_us``, ``latency_p99_us``; the vectorised distance setup of
        each block of 2,048 orders counts on the call that triggers it) and ``orders_per_second``.

    Examples
    --------
    >>> from omnicore.allocation import random_instance
    >>> inst = random_instance(50, 10, 40, seed=3)
    >>> result = route_orders(inst.orders, inst.network, inst.inventory, cost=inst.cost)
    >>> result.n_orders, result.unfilled_units >= 0
    (50, True)
    """
    problem = compile_problem(network, inventory, orders, cost=cost, rules=rules)
    if window <= 1:
        return Router(problem, max_set_size=max_set_size).route_all(progress=progress)
    return _route_in_windows(problem, window=window, seconds=window_seconds, progress=progress)


def _route_in_windows(p: Any, *, window: int, seconds: float, progress: Progress) -> AllocationResult:
    """Optimise consecutive windows of orders against the stock earlier windows left."""
    start = time.perf_counter()
    atp = p.atp.copy()
    cap_orders = p.cap_orders.copy()
    cap_units = p.cap_units.copy()
    pool_cap = p.pool_cap.copy()
    parts: list[Allocation] = []
    n = p.n_orders
    for lo in range(0, n, window):
        pos = np.arange(lo, min(lo + window, n), dtype=np.int64)
        sub = subproblem(
            p,
            pos,
            atp=atp.copy(),
            pool_cap=pool_cap.copy(),
            cap_orders=cap_orders.copy(),
            cap_units=cap_units.copy(),
        )
        sub_orders = sub.orders
        result = solve_batch(sub, time_limit_seconds=seconds)
        alloc = result.allocation
        if len(alloc):
            parts.append(alloc)
            node = p.network.index_of(alloc.node)
            sku = searchsorted(p.sku_values, alloc.sku)
            qty = np.asarray(alloc.quantity)
            np.subtract.at(atp, (sku, node), qty)
            order_pos = searchsorted(np.sort(sub_orders.order_id), alloc.order_id)
            owner = np.argsort(sub_orders.order_id, kind="stable")[order_pos]
            pools = sub.pool[owner]
            has = pools >= 0
            if has.any():
                np.subtract.at(pool_cap, (pools[has], sku[has], node[has]), qty[has])
            pairs = np.unique(owner * p.n_nodes + node)
            np.subtract.at(cap_orders, pairs % p.n_nodes, 1)
            np.subtract.at(cap_units, node, qty)
        progress(int(pos[-1]) + 1, n, "windows")
    allocation = (
        Allocation.concat(parts)
        if parts
        else Allocation(
            order_id=p.orders.order_id[:0],
            sku=p.orders.sku[:0],
            node=p.network.node[:0],
            quantity=np.zeros(0, np.int64),
        )
    )
    line_index, node_index, quantity = _triples_of(p, allocation)
    return collect(
        p,
        line_index,
        node_index,
        quantity,
        method=f"windows of {window}",
        status="feasible",
        seconds=time.perf_counter() - start,
    )


def _triples_of(p: Any, allocation: Allocation) -> tuple[npt.NDArray[np.int64], ...]:
    """(line, node, units) positions of an allocation whose (order, sku) pairs are lines of ``p``."""
    if not len(allocation):
        empty = np.empty(0, np.int64)
        return empty, empty, empty
    order_sorted = np.argsort(p.orders.order_id, kind="stable")
    o = order_sorted[searchsorted(p.orders.order_id[order_sorted], allocation.order_id)]
    sku = searchsorted(p.sku_values, allocation.sku)
    key = p.line_order * len(p.sku_values) + p.line_sku
    key_sorted = np.argsort(key, kind="stable")
    line = key_sorted[searchsorted(key[key_sorted], o * len(p.sku_values) + sku)]
    return (
        line.astype(np.int64),
        p.network.index_of(allocation.node),
        np.asarray(allocation.quantity, np.int64),
    )


def optimise(
    orders: Orders,
    network: Network,
    inventory: Inventory,
    *,
    cost: CostModel | None = None,
    rules: SourcingRules | None = None,
    time_limit_seconds: float = 60.0,
    mip_rel_gap: float = 1e-4,
    progress: Progress = null_progress,
) -> AllocationResult:
    """Cost-minimising allocation of a wave of orders competing for the same stock and capacity.

    Solves the mixed-integer programme

    .. math::

        \\min \\sum_{o,n} c_{on} y_{on} + \\sum_{l,n} h_n x_{ln} + p \\sum_l u_l

    subject to demand (``sum_n x_ln + u_l = q_l``), stock (``sum x <= ATP`` per sku and node),
    shipment and unit capacity per node, shipments per order, channel pools, and the strong linking
    constraint ``x_ln <= min(q_l, ATP) * y_on``, which keeps the LP relaxation tight. All-or-nothing
    orders get a binary "unfilled" variable instead of ``u``.

    Small waves (up to 5,000 useful (order, node) pairs) are solved as one MILP with HiGHS
    (``scipy.optimize.milp``). Larger ones are decomposed: column generation over (order, node) pairs
    on the LP relaxation (``scipy.optimize.linprog``, starting from the two most promising pairs per
    order plus the warm start's) for up to 35% of the budget; then a Lagrangian relaxation of the
    stock and capacity rows, priced first with the LP duals and improved by projected subgradient
    steps (Polyak steps, halved after three without progress) up to half of the budget, whose
    per-order problems are solved for every order (a compiled pass over every useful (order, node)
    pair for the single-node plans and a floor on split plans, the exact single-order search where a
    split could be cheaper) ([1]_, [5]_). The price-independent part of those per-order problems
    (which nodes may serve which line, and how many units) is built once per wave. The plan starts
    from the cheapest of the warm start, routing priced by those multipliers and LP-guided fixing
    (keep the orders the LP routes integrally, re-route the rest exactly), and is
    improved by large-neighbourhood search until the deadline: clusters of about 150 orders (nearby
    customers, alternating with the orders around a node whose shipment capacity is used up) are
    freed and re-solved exactly by a small MILP over their column-pool pairs against what the other
    orders leave, keeping every improvement ([6]_). The warm start and fallback, which the
    result never exceeds, is the better of the nearest-node rule and sequential exact routing in
    arrival order, plus, up to 1,000 orders, sequential routing of the largest orders first. The
    certified bound is the larger of the column-generation bound (restricted LP value
    plus every negative reduced cost, [4]_) and the best Lagrangian value. Waves with more than
    20 million (order, node) combinations keep only the 24 most promising pairs per order in the
    column pool for the neighbourhood search and skip the LP (at 50,000 orders it does not fit a
    10-minute budget): their bound is the Lagrangian one alone, which prices every node, ascending
    from zero prices.

    Parameters
    ----------
    orders, network, inventory, cost, rules
        As for :func:`route_order`.
    time_limit_seconds
        Wall-time budget (HiGHS ``time_limit``); the best plan found is returned.
    mip_rel_gap
        Relative gap at which HiGHS stops.
    progress
        Progress callback.

    Returns
    -------
    AllocationResult
        With ``lower_bound`` (certified: the LP optimum when column generation converged over every
        pair, else the larger of the column-generation and Lagrangian bounds), ``gap``, ``status``
        (``"optimal"`` when proven, ``"feasible"``, or ``"fallback"`` when the warm start was best),
        ``details`` (rounds, pairs, solver messages) and the unfilled demand line by line.

    Examples
    --------
    >>> from omnicore.allocation import random_instance
    >>> inst = random_instance(30, 8, 40, seed=2)
    >>> result = optimise(inst.orders, inst.network, inst.inventory, cost=inst.cost, time_limit_seconds=20)
    >>> result.status, result.gap is not None and result.cost.total >= result.lower_bound - 1e-6
    ('optimal', True)

    References
    ----------
    .. [1] Geoffrion, A. M. (1974). Lagrangean relaxation for integer programming. Mathematical
       Programming Study 2, 82-114.
    .. [2] Desaulniers, G., Desrosiers, J., Solomon, M. M. (eds.) (2005). Column Generation. Springer.
    .. [3] Huangfu, Q., Hall, J. A. J. (2018). Parallelizing the dual revised simplex method.
       Mathematical Programming Computation 10, 119-142 (HiGHS).
    .. [4] Lasdon, L. S. (1970). Optimization Theory for Large Systems. Macmillan (the bound
       ``z_RMP + sum of negative reduced costs`` of column generation with bounded columns).
    .. [5] Held, M., Wolfe, P., Crowder, H. P. (1974). Validation of subgradient optimization.
       Mathematical Programming 6, 62-88.
    .. [6] Shaw, P. (1998). Using constraint programming and local search methods to solve vehicle
       routing problems. CP 1998, LNCS 1520, 417-431 (large-neighbourhood search).
    """
    problem = compile_problem(network, inventory, orders, cost=cost, rules=rules)
    return solve_batch(
        problem, time_limit_seconds=time_limit_seconds, mip_rel_gap=mip_rel_gap, progress=progress
    )


def allocate_greedy(
    orders: Orders,
    network: Network,
    inventory: Inventory,
    *,
    rule: str = "nearest",
    cost: CostModel | None = None,
    rules: SourcingRules | None = None,
) -> AllocationResult:
    """A rule-based baseline: ``"nearest"`` node or ``"cheapest"`` full-fill node, orders in sequence.

    Parameters
    ----------
    orders, network, inventory, cost, rules
        As for :func:`route_order`.
    rule
        ``"nearest"``: the nearest node that fills the whole order, else each line from the nearest
        nodes holding it. ``"cheapest"``: the cheapest node that fills the whole order, else the same
        nearest-node split.

    Returns
    -------
    AllocationResult

    Examples
    --------
    >>> from omnicore.allocation import random_instance
    >>> inst = random_instance(40, 10, 40, seed=4)
    >>> near = allocate_greedy(inst.orders, inst.network, inst.inventory, cost=inst.cost)
    >>> best = optimise(inst.orders, inst.network, inst.inventory, cost=inst.cost, time_limit_seconds=20)
    >>> best.cost.total <= near.cost.total
    True
    """
    problem = compile_problem(network, inventory, orders, cost=cost, rules=rules)
    return greedy_allocation(problem, rule=rule)


def price_allocation(
    allocation: Allocation,
    orders: Orders,
    network: Network,
    inventory: Inventory,
    *,
    cost: CostModel | None = None,
    rules: SourcingRules | None = None,
    lower_bound: float | None = None,
) -> AllocationResult:
    """Shadow mode: price an allocation made elsewhere with the same cost model, and check it.

    Parameters
    ----------
    allocation
        Rows (order_id, sku, node, quantity), e.g. exported from the live order-management system.
    orders, network, inventory, cost, rules
        As for :func:`route_order`.
    lower_bound
        A certified bound for these orders (``optimise(...).lower_bound``) to report the gap against.

    Returns
    -------
    AllocationResult
        ``method="priced"``; ``violations`` lists every broken constraint (stock, capacity,
        capability, rules, split policy, over-filled lines) in words.

    Raises
    ------
    ValidationError
        For an order, sku or node in the allocation that is not in the inputs.

    Examples
    --------
    >>> from omnicore.allocation import random_instance
    >>> inst = random_instance(30, 8, 40, seed=5)
    >>> near = allocate_greedy(inst.orders, inst.network, inst.inventory, cost=inst.cost)
    >>> priced = price_allocation(near.allocation, inst.orders, inst.network, inst.inventory, cost=inst.cost)
    >>> round(priced.cost.total, 6) == round(near.cost.total, 6), priced.violations
    (True, ())
    """
    start = time.perf_counter()
    p = compile_problem(network, inventory, orders, cost=cost, rules=rules)
    order_sorted = np.argsort(orders.order_id, kind="stable")
    keys = np.asarray(allocation.order_id)
    if len(keys) and (keys.dtype.kind in "iu") != (orders.order_id.dtype.kind in "iu"):
        raise ValidationError("order ids differ in type from the orders'", field="order_id")
    pos = np.clip(searchsorted(orders.order_id[order_sorted], keys), 0, max(len(orders) - 1, 0))
    found = orders.order_id[order_sorted][pos] == keys if len(keys) else np.ones(0, bool)
    if not np.all(found):
        row = int(np.flatnonzero(~found)[0])
        raise ValidationError("unknown order", field="order_id", row=row, value=keys[row])
    o_idx = order_sorted[pos]
    n_idx = network.index_of(allocation.node, field="node")
    violations: list[str] = []
    left = p.line_qty.copy()
    lines, nodes, units = [], [], []
    for row, (o, n, sku, qty) in enumerate(
        zip(
            o_idx.tolist(), n_idx.tolist(), allocation.sku.tolist(), allocation.quantity.tolist(), strict=True
        )
    ):
        l0, l1 = int(p.line_start[o]), int(p.line_start[o + 1])
        match = [line for line in range(l0, l1) if orders.sku[line] == sku]
        if not match:
            raise ValidationError("sku not in the order", field="sku", row=row, value=sku)
        need = qty
        for line in match:
            got = min(need, int(left[line])) if line != match[-1] else need
            if got > 0:
                lines.append(line)
                nodes.append(n)
                units.append(got)
                left[line] -= got
                need -= got
            if need == 0:
                break
    li = np.asarray(lines, np.int64)
    ni = np.asarray(nodes, np.int64)
    qi = np.asarray(units, np.int64)
    if (left < 0).any():
        violations.append(f"{int((left < 0).sum())} line(s) sourced beyond the quantity ordered")
    used = np.zeros(p.atp.shape, np.int64)
    np.add.at(used, (p.line_sku[li], ni), qi)
    over = used > p.atp
    if over.any():
        violations.append(f"{int(over.sum())} (sku, node) position(s) beyond available to promise")
    pairs = np.unique(p.line_order[li] * p.n_nodes + ni)
    po, pn = pairs // p.n_nodes, pairs % p.n_nodes
    shipments = np.bincount(pn, minlength=p.n_nodes)
    if (shipments > p.cap_orders).any():
        violations.append(f"{int((shipments > p.cap_orders).sum())} node(s) beyond shipment capacity")
    node_units = np.bincount(ni, weights=qi, minlength=p.n_nodes)
    if (node_units > p.cap_units).any():
        violations.append(f"{int((node_units > p.cap_units).sum())} node(s) beyond unit capacity")
    if len(po):
        closed = _closed_pairs(p, po, pn)
        if (closed != 0).any():
            violations.append(
                f"{int((closed != 0).sum())} shipment(s) from a node closed to the order "
                "(capability, distance, rules or pool)"
            )
        per_order = np.bincount(po, minlength=p.n_orders)
        limit = np.where(orders.allow_split, orders.max_shipments, 1)
        limit = np.where(limit == 0, np.iinfo(np.int64).max, limit)
        if (per_order > limit).any():
            violations.append(f"{int((per_order > limit).sum())} order(s) beyond their shipment limit")
        got = np.bincount(p.line_order[li], weights=qi, minlength=p.n_orders)
        strict = ~orders.allow_partial & (got > 0) & (got < p.order_units)
        if strict.any():
            violations.append(f"{int(strict.sum())} all-or-nothing order(s) partly filled")
    result = collect(
        p,
        li,
        ni,
        qi,
        method="priced",
        status="feasible" if not violations else "infeasible",
        seconds=time.perf_counter() - start,
        lower_bound=lower_bound,
    )
    return AllocationResult(
        allocation=result.allocation,
        unfilled=result.unfilled,
        cost=result.cost,
        lower_bound=lower_bound,
        method="priced",
        status=result.status,
        seconds=result.seconds,
        n_orders=result.n_orders,
        shipments=result.shipments,
        violations=tuple(violations),
    )


def _closed_pairs(p: Any, po: npt.NDArray[np.int64], pn: npt.NDArray[np.int64]) -> npt.NDArray[np.int8]:
    out = np.zeros(len(po), np.int8)
    for lo in range(0, len(po), 4096):
        o = po[lo : lo + 4096]
        flags = p.closed(o)
        out[lo : lo + 4096] = flags[np.arange(len(o)), pn[lo : lo + 4096]]
    return out
