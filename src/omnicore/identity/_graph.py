"""Connected components with guardrails: vectorised everywhere, a greedy merge only where limits bite.

The hot path is :func:`constrained_components` over integer node codes. Components are found with
``scipy.sparse.csgraph.connected_components``; per component and node type the number of distinct
nodes is a single ``bincount``. Only components that break a per-type limit or hold both ends of a
must-not-link pair are re-merged edge by edge, strongest evidence first, with a union-find that
refuses any union that would break a limit.
"""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np
import numpy.typing as npt
from scipy.sparse import coo_array
from scipy.sparse.csgraph import connected_components

from omnicore._errors import ValidationError

__all__ = ["REFUSED_LIMIT", "REFUSED_MUST_NOT_LINK", "ComponentResult", "constrained_components"]

#: Reason codes in :attr:`ComponentResult.refusal`.
ACCEPTED = 0
REFUSED_LIMIT = 1
REFUSED_MUST_NOT_LINK = 2


def _frozen_int(value: Any) -> npt.NDArray[Any]:
    array = np.asarray(value)
    array.flags.writeable = False
    return array


@attrs.frozen(kw_only=True)
class ComponentResult:
    """Output of :func:`constrained_components`.

    Attributes
    ----------
    labels
        Component of each node, ``0 .. n_components - 1``, numbered by each component's smallest node.
    refusal
        Per edge: 0 accepted, 1 refused by a per-type limit, 2 refused by a must-not-link pair.
    limit_type
        Per edge: the node type whose limit refused it (-1 otherwise).
    n_components
        Number of components.
    n_constrained_edges
        Edges that went through the greedy merge (those of components where a guardrail bit).
    """

    labels: npt.NDArray[np.int64] = attrs.field(converter=_frozen_int, eq=attrs.cmp_using(eq=np.array_equal))
    refusal: npt.NDArray[np.int8] = attrs.field(converter=_frozen_int, eq=attrs.cmp_using(eq=np.array_equal))
    limit_type: npt.NDArray[np.int64] = attrs.field(
        converter=_frozen_int, eq=attrs.cmp_using(eq=np.array_equal)
    )
    n_components: int
    n_constrained_edges: int


def _canonical(raw: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.int64], int]:
    """Relabel so that components are numbered in order of their smallest node."""
    n = raw.size
    if n == 0:
        return np.empty(0, np.int64), 0
    running = np.maximum.accumulate(raw)
    steps = np.diff(running)
    if raw[0] == 0 and bool(((steps == 0) | (steps == 1)).all()):
        return raw, int(running[-1]) + 1  # new labels already appear in increasing order
    order = np.argsort(raw, kind="stable")
    sorted_raw = raw[order]
    starts = np.flatnonzero(np.r_[True, sorted_raw[1:] != sorted_raw[:-1]])
    first_node = order[starts]
    rank = np.empty(starts.size, dtype=np.int64)
    rank[np.argsort(first_node, kind="stable")] = np.arange(starts.size, dtype=np.int64)
    group = np.cumsum(np.r_[True, sorted_raw[1:] != sorted_raw[:-1]]) - 1
    labels = np.empty(n, dtype=np.int64)
    labels[order] = rank[group]
    return labels, int(starts.size)


def constrained_components(
    left: npt.NDArray[np.int64],
    right: npt.NDArray[np.int64],
    *,
    n_nodes: int,
    node_type: npt.NDArray[np.int64] | None = None,
    type_limits: npt.NDArray[np.int64] | None = None,
    edge_rank: npt.NDArray[np.int64] | None = None,
    cannot_link: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]] | None = None,
) -> ComponentResult:
    """Connected components of an undirected graph where links may not break per-type limits.

    Parameters
    ----------
    left, right
        Edge endpoints, node codes in ``[0, n_nodes)``.
    n_nodes
        Number of nodes; nodes without edges form their own component.
    node_type
        Type code of each node (``0 .. n_types - 1``); needed with ``type_limits``.
    type_limits
        At most this many nodes of each type in one component; 0 or less means no limit.
    edge_rank
        Strength of each edge, lower first: where a guardrail bites, edges are merged in order of
        ``(edge_rank, min(left, right), max(left, right))`` and an edge that would break a limit is
        refused. Equal ranks everywhere when None.
    cannot_link
        Pairs of nodes that must end in different components.

    Returns
    -------
    ComponentResult
        Labels per node and the refusal of each edge.

    Raises
    ------
    ValidationError
        For out-of-range codes or mismatched lengths.

    Examples
    --------
    Two member cards (type 0, at most one per customer) joined through one phone (type 1): the
    stronger edge (rank 0) wins, the other is refused.

    >>> res = constrained_components(
    ...     np.array([0, 1]), np.array([2, 2]), n_nodes=3,
    ...     node_type=np.array([0, 0, 1]), type_limits=np.array([1, 0]), edge_rank=np.array([1, 0]),
    ... )
    >>> res.labels.tolist(), res.refusal.tolist()
    ([0, 1, 1], [1, 0])

    Notes
    -----
    Components take O(V + E) (scipy's csgraph); limit checks O(V). The greedy merge costs
    O(E' alpha(V')) Python steps over the E' edges of constrained components only: cheap when
    guardrails bite locally (a family phone, two member cards on one record), slow when one
    component holds most of the graph and breaks a limit.

    References
    ----------
    .. [1] Tarjan, "Efficiency of a Good But Not Linear Set Union Algorithm", J. ACM 22(2), 1975.
       https://doi.org/10.1145/321879.321884
    """
    left = np.asarray(left, dtype=np.int64)
    right = np.asarray(right, dtype=np.int64)
    if left.shape != right.shape or left.ndim != 1:
        raise ValidationError("left and right must be one-dimensional and of equal length", field="right")
    n_edges = left.size
    if n_edges and (min(left.min(), right.min()) < 0 or max(left.max(), right.max()) >= n_nodes):
        raise ValidationError("node code out of range", field="left", value=n_nodes)
    refusal = np.zeros(n_edges, dtype=np.int8)
    limit_type = np.full(n_edges, -1, dtype=np.int64)
    if n_nodes == 0:
        return ComponentResult(
            labels=np.empty(0, np.int64),
            refusal=refusal,
            limit_type=limit_type,
            n_components=0,
            n_constrained_edges=0,
        )
    graph = coo_array((np.ones(n_edges, dtype=np.int8), (left, right)), shape=(n_nodes, n_nodes)).tocsr()
    _, comp_raw = connected_components(graph, directed=False)
    comp: npt.NDArray[np.int64] = comp_raw.astype(np.int64, copy=False)
    n_comp = int(comp.max()) + 1
    bad = np.zeros(n_comp, dtype=bool)
    has_limits = (
        node_type is not None and type_limits is not None and bool((np.asarray(type_limits) > 0).any())
    )
    if has_limits and node_type is not None and type_limits is not None:
        node_type = np.asarray(node_type, dtype=np.int64)
        limits = np.asarray(type_limits, dtype=np.int64)
        n_types = limits.size
        if node_type.shape != (n_nodes,):
            raise ValidationError("node_type must have one entry per node", field="node_type")
        counts = np.bincount(comp * n_types + node_type, minlength=n_comp * n_types).reshape(n_comp, n_types)
        bad |= ((counts > limits) & (limits > 0)).any(axis=1)
    cl_left = cl_right = np.empty(0, np.int64)
    if cannot_link is not None and len(cannot_link[0]):
        cl_left = np.asarray(cannot_link[0], dtype=np.int64)
        cl_right = np.asarray(cannot_link[1], dtype=np.int64)
        same = comp[cl_left] == comp[cl_right]
        bad[comp[cl_left[same]]] = True
    if not bad.any():
        labels, n_components = comp, n_comp  # scipy numbers components by their smallest node
        return ComponentResult(
            labels=labels,
            refusal=refusal,
            limit_type=limit_type,
            n_components=n_components,
            n_constrained_edges=0,
        )

    edge_bad = np.flatnonzero(bad[comp[left]])
    node_bad = np.flatnonzero(bad[comp])
    local = np.full(n_nodes, -1, dtype=np.int64)
    local[node_bad] = np.arange(node_bad.size, dtype=np.int64)
    lo = np.minimum(left[edge_bad], right[edge_bad])
    hi = np.maximum(left[edge_bad], right[edge_bad])
    rank = (
        np.zeros(edge_bad.size, np.int64) if edge_rank is None else np.asarray(edge_rank, np.int64)[edge_bad]
    )
    order = np.lexsort((hi, lo, rank))
    sub_labels, sub_refusal, sub_type = _greedy(
        local[left[edge_bad]][order],
        local[right[edge_bad]][order],
        node_bad.size,
        node_type[node_bad] if has_limits and node_type is not None else None,
        np.asarray(type_limits, np.int64) if has_limits and type_limits is not None else None,
        local,
        cl_left,
        cl_right,
    )
    refusal[edge_bad[order]] = sub_refusal
    limit_type[edge_bad[order]] = sub_type
    labels, n_components = _relabel(comp, node_bad, sub_labels)
    return ComponentResult(
        labels=labels,
        refusal=refusal,
        limit_type=limit_type,
        n_components=n_components,
        n_constrained_edges=int(edge_bad.size),
    )


def _relabel(
    comp: npt.NDArray[np.int64], node_bad: npt.NDArray[np.int64], sub_roots: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.int64], int]:
    """Canonical labels after re-merging some components, in O(n).

    scipy numbers components in order of their smallest node (it starts a new component at each
    unvisited node, scanning nodes in order; ``tests/identity/test_graph.py`` checks this contract),
    so the smallest node of scipy component ``k`` is where label ``k`` first occurs. Every node is
    keyed by the smallest node of its final component and keys are ranked by scattering.
    """
    n = comp.size
    n_comp = int(comp.max()) + 1
    first_node = np.empty(n_comp, dtype=np.int64)
    is_first = np.empty(n, dtype=bool)
    is_first[0] = True
    np.greater(comp[1:], np.maximum.accumulate(comp)[:-1], out=is_first[1:])
    first_node[comp[is_first]] = np.flatnonzero(is_first)
    key = first_node[comp]
    # smallest node of each greedy sub-component (node_bad is sorted, so the smallest local index)
    order = np.argsort(sub_roots, kind="stable")
    roots_sorted = sub_roots[order]
    starts = np.flatnonzero(np.r_[True, roots_sorted[1:] != roots_sorted[:-1]])
    smallest_local = np.empty(sub_roots.size, dtype=np.int64)
    smallest_local[order] = np.repeat(order[starts], np.diff(np.r_[starts, order.size]))
    key[node_bad] = node_bad[smallest_local]
    is_min = np.zeros(n, dtype=bool)
    is_min[key] = True
    minima = np.flatnonzero(is_min)  # sorted smallest nodes, one per final component
    rank = np.empty(n, dtype=np.int64)
    rank[minima] = np.arange(minima.size, dtype=np.int64)
    return rank[key], int(minima.size)


def _greedy(
    left: npt.NDArray[np.int64],
    right: npt.NDArray[np.int64],
    n: int,
    node_type: npt.NDArray[np.int64] | None,
    limits: npt.NDArray[np.int64] | None,
    local: npt.NDArray[np.int64],
    cl_left: npt.NDArray[np.int64],
    cl_right: npt.NDArray[np.int64],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int8], npt.NDArray[np.int64]]:
    """Union-find over local nodes, edges in the given order; refuse unions that break a guardrail.

    Per-type counts of a component are packed into one integer, 16 bits per limited type, with a
    bias of ``2**15 - 1 - limit`` per field: a union breaks a limit exactly when the biased sum sets
    a field's top bit (SWAR), so the check is one addition and one mask whatever the number of types.
    """
    parent = list(range(n))
    size = [1] * n
    limited = [] if limits is None else [int(t) for t in np.flatnonzero(limits > 0)]
    if limits is not None and limited and int(limits[limited].max()) >= 2**14:
        raise ValidationError("per-type limits must be below 16384", field="type_limits")
    shift = {t: 16 * k for k, t in enumerate(limited)}
    bias = sum(((1 << 15) - 1 - int(limits[t])) << shift[t] for t in limited) if limits is not None else 0
    high = sum(1 << (shift[t] + 15) for t in limited)
    if node_type is not None and limited:
        unit = {t: 1 << shift[t] for t in limited}
        counts = [unit.get(t, 0) for t in node_type.tolist()]
    else:
        counts = [0] * n
    forbid: dict[int, set[int]] = {}
    for a, b in zip(local[cl_left].tolist(), local[cl_right].tolist(), strict=True):
        if a >= 0 and b >= 0 and a != b:
            forbid.setdefault(a, set()).add(b)
            forbid.setdefault(b, set()).add(a)

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    m = left.size
    refused_rows: list[int] = []
    refused_kind: list[int] = []
    refused_type: list[int] = []
    for i, (a, b) in enumerate(zip(left.tolist(), right.tolist(), strict=True)):
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        while parent[b] != b:
            parent[b] = parent[parent[b]]
            b = parent[b]
        if a == b:
            continue
        total = counts[a] + counts[b]
        if high and (total + bias) & high:
            refused_rows.append(i)
            refused_kind.append(REFUSED_LIMIT)
            over = total + bias
            refused_type.append(next(t for t in limited if over >> (shift[t] + 15) & 1))
            continue
        if forbid:
            fa = forbid.get(a)
            if fa is not None and b in forbid and any(find(x) == b for x in fa):
                refused_rows.append(i)
                refused_kind.append(REFUSED_MUST_NOT_LINK)
                refused_type.append(-1)
                continue
        if size[a] < size[b]:
            a, b = b, a
        parent[b] = a
        size[a] += size[b]
        counts[a] = total
        if forbid:
            fb = forbid.pop(b, None)
            if fb is not None:
                forbid.setdefault(a, set()).update(fb)
    refusal = np.zeros(m, dtype=np.int8)
    limit_type = np.full(m, -1, dtype=np.int64)
    if refused_rows:
        rows = np.array(refused_rows, dtype=np.int64)
        refusal[rows] = refused_kind
        limit_type[rows] = refused_type
    # final roots by vectorised pointer jumping (path halving kept the trees shallow)
    roots = np.array(parent, dtype=np.int64)
    while True:
        jumped = roots[roots]
        if np.array_equal(jumped, roots):
            break
        roots = jumped
    return roots, refusal, limit_type
