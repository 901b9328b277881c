import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omnicore import ValidationError
from omnicore.identity import _graph, constrained_components


def _partition(labels: np.ndarray) -> set[frozenset[int]]:
    groups: dict[int, set[int]] = {}
    for node, label in enumerate(labels.tolist()):
        groups.setdefault(label, set()).add(node)
    return {frozenset(g) for g in groups.values()}


@st.composite
def graphs(draw):
    n = draw(st.integers(1, 40))
    m = draw(st.integers(0, 80))
    left = draw(st.lists(st.integers(0, n - 1), min_size=m, max_size=m))
    right = draw(st.lists(st.integers(0, n - 1), min_size=m, max_size=m))
    return n, np.array(left, dtype=np.int64), np.array(right, dtype=np.int64)


@settings(max_examples=60)
@given(graphs())
def test_without_limits_equals_networkx_components(g):
    n, left, right = g
    res = constrained_components(left, right, n_nodes=n)
    ref = nx.Graph()
    ref.add_nodes_from(range(n))
    ref.add_edges_from(zip(left.tolist(), right.tolist(), strict=True))
    assert _partition(res.labels) == {frozenset(c) for c in nx.connected_components(ref)}
    assert (res.refusal == 0).all()
    # labels are numbered by each component's smallest node
    firsts = [int(np.flatnonzero(res.labels == k)[0]) for k in range(res.n_components)]
    assert firsts == sorted(firsts)


@settings(max_examples=60)
@given(graphs(), st.integers(1, 3), st.randoms(use_true_random=False))
def test_limits_hold_and_order_does_not_matter(g, limit, rnd):
    n, left, right = g
    node_type = np.arange(n, dtype=np.int64) % 2
    limits = np.array([limit, 0])
    rank = (left + right) % 3
    res = constrained_components(
        left, right, n_nodes=n, node_type=node_type, type_limits=limits, edge_rank=rank
    )
    for k in range(res.n_components):
        members = res.labels == k
        assert (node_type[members] == 0).sum() <= limit
    # accepted edges connect nodes of one component, and they alone rebuild the partition
    ok = res.refusal == 0
    assert (res.labels[left[ok]] == res.labels[right[ok]]).all()
    again = constrained_components(left[ok], right[ok], n_nodes=n)
    assert _partition(again.labels) == _partition(res.labels)
    # a refused edge really would break the limit
    for i in np.flatnonzero(~ok).tolist():
        a, b = res.labels[left[i]], res.labels[right[i]]
        assert a != b
        together = (res.labels == a) | (res.labels == b)
        assert (node_type[together] == 0).sum() > limit
    perm = np.array(rnd.sample(range(left.size), left.size), dtype=np.int64)
    swapped = constrained_components(
        right[perm], left[perm], n_nodes=n, node_type=node_type, type_limits=limits, edge_rank=rank[perm]
    )
    assert np.array_equal(swapped.labels, res.labels)
    assert np.array_equal(swapped.refusal, res.refusal[perm])


def test_stronger_edge_wins_and_must_not_link():
    # cards 0, 1 (limit 1) both linked to phone 2; edge 1-2 is stronger
    res = constrained_components(
        np.array([0, 1]),
        np.array([2, 2]),
        n_nodes=3,
        node_type=np.array([0, 0, 1]),
        type_limits=np.array([1, 0]),
        edge_rank=np.array([1, 0]),
    )
    assert res.labels.tolist() == [0, 1, 1]
    assert res.refusal.tolist() == [1, 0]
    assert res.limit_type.tolist() == [0, -1]
    # a chain 0-1-2 where 0 and 2 must not link: the weaker edge goes
    res = constrained_components(
        np.array([0, 1]),
        np.array([1, 2]),
        n_nodes=3,
        edge_rank=np.array([0, 1]),
        cannot_link=(np.array([0]), np.array([2])),
    )
    assert res.labels.tolist() == [0, 0, 1]
    assert res.refusal.tolist() == [0, 2]


def test_bad_codes_rejected():
    with pytest.raises(ValidationError):
        constrained_components(np.array([0]), np.array([5]), n_nodes=3)
    with pytest.raises(ValidationError):
        constrained_components(np.array([0, 1]), np.array([1]), n_nodes=3)
    with pytest.raises(ValidationError):
        constrained_components(np.array([0, -1]), np.array([1, 2]), n_nodes=3)
    with pytest.raises(ValidationError):
        constrained_components(np.array([0]), np.array([0]), n_nodes=0)
    empty = constrained_components(np.empty(0, np.int64), np.empty(0, np.int64), n_nodes=0)
    assert empty.labels.size == 0
    assert empty.n_components == 0
    with pytest.raises(ValidationError):
        constrained_components(
            np.array([0]), np.array([1]), n_nodes=3, cannot_link=(np.array([0]), np.array([3]))
        )
    with pytest.raises(ValidationError):
        constrained_components(
            np.array([0]), np.array([1]), n_nodes=2, node_type=np.array([0, -1]), type_limits=np.array([1])
        )


@settings(max_examples=40)
@given(graphs(), st.randoms(use_true_random=False))
def test_labels_canonical_with_limits(g, rnd):
    n, left, right = g
    node_type = np.arange(n, dtype=np.int64) % 3
    res = constrained_components(left, right, n_nodes=n, node_type=node_type, type_limits=np.array([1, 1, 0]))
    firsts = [int(np.flatnonzero(res.labels == k)[0]) for k in range(res.n_components)]
    assert firsts == sorted(firsts)
    assert res.labels.max(initial=-1) + 1 == res.n_components


def _reference(n, left, right, node_type, limits, rank, cannot_link):
    """The definition, written plainly: every edge in (rank, lo, hi) order over sets of nodes."""
    comp = {x: frozenset([x]) for x in range(n)}
    refusal = [0] * left.size
    limit_type = [-1] * left.size
    lo, hi = np.minimum(left, right), np.maximum(left, right)
    pairs = list(zip(cannot_link[0].tolist(), cannot_link[1].tolist(), strict=True))
    for i in np.lexsort((hi, lo, rank)).tolist():
        a, b = comp[int(left[i])], comp[int(right[i])]
        if a == b:
            continue
        union = a | b
        over = [t for t in range(len(limits)) if 0 < limits[t] < sum(node_type[x] == t for x in union)]
        if over:
            refusal[i], limit_type[i] = 1, over[0]
            continue
        if any((x in a and y in b) or (x in b and y in a) for x, y in pairs):
            refusal[i] = 2
            continue
        for x in union:
            comp[x] = union
    smallest = sorted({min(c) for c in comp.values()})
    labels = [smallest.index(min(comp[x])) for x in range(n)]
    return labels, refusal, limit_type


@st.composite
def constrained_graphs(draw):
    n, left, right = draw(graphs())
    n_types = draw(st.integers(1, 3))
    node_type = np.array(draw(st.lists(st.integers(0, n_types - 1), min_size=n, max_size=n)), dtype=np.int64)
    limits = np.array(draw(st.lists(st.integers(0, 3), min_size=n_types, max_size=n_types)), dtype=np.int64)
    rank = np.array(draw(st.lists(st.integers(0, 3), min_size=left.size, max_size=left.size)), dtype=np.int64)
    k = draw(st.integers(0, 4))
    cl = (
        np.array(draw(st.lists(st.integers(0, n - 1), min_size=k, max_size=k)), dtype=np.int64),
        np.array(draw(st.lists(st.integers(0, n - 1), min_size=k, max_size=k)), dtype=np.int64),
    )
    return n, left, right, node_type, limits, rank, cl


@settings(max_examples=80)
@given(constrained_graphs())
def test_equals_the_plain_greedy_definition(g):
    """Labels, refusals and limit types equal a plain set-based greedy over all edges.

    The greedy merge only revisits components where a guardrail bites; elsewhere every edge is
    accepted, which is what the plain definition does too (no subset of such a component can break
    a limit or hold a must-not-link pair).
    """
    n, left, right, node_type, limits, rank, cl = g
    res = constrained_components(
        left, right, n_nodes=n, node_type=node_type, type_limits=limits, edge_rank=rank, cannot_link=cl
    )
    labels, refusal, limit_type = _reference(n, left, right, node_type, limits, rank, cl)
    assert res.labels.tolist() == labels
    assert res.refusal.tolist() == refusal
    assert res.limit_type.tolist() == limit_type
    assert res.n_components == max(labels, default=-1) + 1


@settings(max_examples=20)
@given(constrained_graphs())
def test_compiled_kernels_equal_their_python_source(g):
    """The numba kernels give what their plain Python source gives (as with NUMBA_DISABLE_JIT=1)."""
    n, left, right, node_type, limits, rank, cl = g
    kw = {"n_nodes": n, "node_type": node_type, "type_limits": limits, "edge_rank": rank, "cannot_link": cl}
    compiled = constrained_components(left, right, **kw)
    with pytest.MonkeyPatch.context() as mp:
        for name in (
            "_find",
            "_union_all",
            "_label_by_smallest",
            "_mark_over_limit",
            "_edges_of",
            "_greedy_merge",
        ):
            kernel = getattr(_graph, name)
            mp.setattr(_graph, name, getattr(kernel, "py_func", kernel))
        plain = constrained_components(left, right, **kw)
    assert compiled == plain
