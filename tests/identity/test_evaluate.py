import itertools

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from omnicore.identity import evaluate_clusters


def _brute(pred, truth):
    pairs = list(itertools.combinations(range(len(pred)), 2))
    same_p = {(i, j) for i, j in pairs if pred[i] == pred[j] and pred[i] >= 0}
    same_t = {(i, j) for i, j in pairs if truth[i] == truth[j]}
    tp = len(same_p & same_t)
    return (tp / len(same_p) if same_p else 1.0), (tp / len(same_t) if same_t else 1.0)


@given(st.lists(st.tuples(st.integers(-1, 4), st.integers(0, 4)), min_size=1, max_size=30))
def test_pairwise_against_brute_force(items):
    pred = [p for p, _ in items]
    truth = [t for _, t in items]
    m = evaluate_clusters(np.array(pred), np.array(truth))
    p, r = _brute(pred, truth)
    assert np.isclose(m.pair_precision, p)
    assert np.isclose(m.pair_recall, r)


def test_exact_clusters():
    m = evaluate_clusters([1, 1, 2, 3], [5, 5, 6, 6])
    assert m.cluster_precision == 1 / 3  # {0,1} exact; {2} and {3} are halves of a true cluster
    assert m.cluster_recall == 1 / 2
    assert m.n_predicted == 3
    assert m.n_true == 2
    text = evaluate_clusters(np.array(["a", "a", "b"]), np.array([1, 1, 2]))
    assert text.pair_f1 == 1.0
    assert text.cluster_f1 == 1.0
