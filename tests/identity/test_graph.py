import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omnicore import ValidationError
from omnicore.identity import constrained_components


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


@settings(max_examples=60)
@given(graphs())
def test_scipy_numbers_components_by_smallest_node(g):
    """The contract constrained_components relies on to skip relabelling (O(n) passes at 10M nodes)."""
    from scipy.sparse import coo_array
    from scipy.sparse.csgraph import connected_components

    n, left, right = g
    graph = coo_array((np.ones(left.size, dtype=np.int8), (left, right)), shape=(n, n)).tocsr()
    _, labels = connected_components(graph, directed=False)
    firsts = [int(np.flatnonzero(labels == k)[0]) for k in range(int(labels.max()) + 1)]
    assert firsts == sorted(firsts)


@settings(max_examples=40)
@given(graphs(), st.randoms(use_true_random=False))
def test_labels_canonical_with_limits(g, rnd):
    n, left, right = g
    node_type = np.arange(n, dtype=np.int64) % 3
    res = constrained_components(left, right, n_nodes=n, node_type=node_type, type_limits=np.array([1, 1, 0]))
    firsts = [int(np.flatnonzero(res.labels == k)[0]) for k in range(res.n_components)]
    assert firsts == sorted(firsts)
    assert res.labels.max(initial=-1) + 1 == res.n_components
