"""Pairwise and cluster precision, recall and F1 of a predicted partition against ground truth."""

from __future__ import annotations

import attrs
import numpy as np
import numpy.typing as npt

from omnicore._errors import ValidationError
from omnicore.identity._text import unique_text_full

__all__ = ["ClusterMetrics", "evaluate_clusters"]


@attrs.frozen(kw_only=True)
class ClusterMetrics:
    """Agreement of a predicted clustering with the truth.

    Attributes
    ----------
    pair_precision, pair_recall, pair_f1
        Over pairs of items: a pair is predicted when both items share a predicted cluster, true when
        they share a true cluster.
    cluster_precision, cluster_recall, cluster_f1
        Over clusters: the share of predicted clusters that equal a true cluster exactly, and of true
        clusters recovered exactly.
    n_items, n_predicted, n_true
        Items, predicted clusters, true clusters.
    """

    pair_precision: float
    pair_recall: float
    pair_f1: float
    cluster_precision: float
    cluster_recall: float
    cluster_f1: float
    n_items: int
    n_predicted: int
    n_true: int


def _f1(p: float, r: float) -> float:
    return 0.0 if p + r == 0 else 2 * p * r / (p + r)


def _pairs(counts: npt.NDArray[np.int64]) -> int:
    c = counts.astype(np.int64)
    return int((c * (c - 1) // 2).sum())


def evaluate_clusters(predicted: npt.ArrayLike, truth: npt.ArrayLike) -> ClusterMetrics:
    """Pairwise and exact-cluster precision/recall/F1.

    Parameters
    ----------
    predicted
        Predicted cluster of each item (e.g. customer id per record); negative values mean
        "unassigned" and count as singletons.
    truth
        True cluster of each item (e.g. person id per record).

    Returns
    -------
    ClusterMetrics
        The scores (1.0 where a denominator is zero).

    Raises
    ------
    ValidationError
        If the two columns differ in length.

    Examples
    --------
    >>> m = evaluate_clusters([1, 1, 2, 2], [7, 7, 7, 8])
    >>> round(m.pair_precision, 3), round(m.pair_recall, 3)
    (0.5, 0.333)

    References
    ----------
    .. [1] Christen, "Data Matching", Springer, 2012, ch. 7 (pairwise and cluster quality measures).
       https://doi.org/10.1007/978-3-642-31164-2
    """
    pred = (
        np.asarray(predicted).astype(np.int64, copy=True)
        if np.asarray(predicted).dtype.kind in "iu"
        else None
    )
    pred_raw = np.asarray(predicted)
    true_raw = np.asarray(truth)
    if pred_raw.shape != true_raw.shape or pred_raw.ndim != 1:
        raise ValidationError(
            "predicted and truth must be one-dimensional and of equal length", field="truth"
        )
    n = pred_raw.size
    if pred is None:
        pred = unique_text_full(pred_raw)[2]
    else:
        singles = pred < 0
        # unassigned items become their own clusters
        pred[singles] = (pred.max(initial=0) + 1) + np.arange(int(singles.sum()))
    _, p = np.unique(pred, return_inverse=True)
    t = unique_text_full(true_raw)[2]
    p, t = p.reshape(-1).astype(np.int64), t.reshape(-1).astype(np.int64)
    n_p = int(p.max()) + 1 if n else 0
    n_t = int(t.max()) + 1 if n else 0
    p_sizes = np.bincount(p, minlength=n_p)
    t_sizes = np.bincount(t, minlength=n_t)
    _, cell_counts = np.unique(p * max(n_t, 1) + t, return_counts=True)
    tp = _pairs(cell_counts)
    pp, tt = _pairs(p_sizes), _pairs(t_sizes)
    precision = tp / pp if pp else 1.0
    recall = tp / tt if tt else 1.0
    # exact clusters: a predicted cluster equals a true one when the cell holds both clusters whole
    _, first, cnt = np.unique(p * max(n_t, 1) + t, return_index=True, return_counts=True)
    exact = (cnt == p_sizes[p[first]]) & (cnt == t_sizes[t[first]])
    n_exact = int(exact.sum())
    c_precision = n_exact / n_p if n_p else 1.0
    c_recall = n_exact / n_t if n_t else 1.0
    return ClusterMetrics(
        pair_precision=float(precision),
        pair_recall=float(recall),
        pair_f1=_f1(precision, recall),
        cluster_precision=c_precision,
        cluster_recall=c_recall,
        cluster_f1=_f1(c_precision, c_recall),
        n_items=n,
        n_predicted=n_p,
        n_true=n_t,
    )
