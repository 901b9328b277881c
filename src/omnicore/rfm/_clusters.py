"""A clustering alternative to rule-based segments: k-means on log-scaled R, F and M."""

from __future__ import annotations

import logging
import warnings
from typing import Any, ClassVar

import attrs
import numpy as np
import numpy.typing as npt

from omnicore._errors import ConvergenceError, ValidationError
from omnicore.data import Table
from omnicore.data._columns import (
    STRING_DTYPE,
    as_float_column,
    as_id_column,
    as_int_column,
    as_string_column,
    column_field,
    freeze,
)
from omnicore.rfm._scores import RFMScores, convert_column

__all__ = ["ClusterProfile", "RFMClusters", "cluster"]

logger = logging.getLogger(__name__)


@attrs.frozen(kw_only=True, repr=False)
class ClusterProfile(Table):
    """One row per cluster, described in RFM terms (clusters ordered by revenue, largest first).

    Attributes
    ----------
    cluster
        Cluster number, 0 for the cluster with the most revenue.
    customers, share
        Size of the cluster and its share of customers.
    days_since_last, frequency, monetary
        The centroid mapped back to the input scale (a geometric-mean-like typical customer).
    revenue_share
        Share of total revenue.
    description
        The centroid against the terciles of all customers, e.g. ``"recent, frequent, high spend"``.
    """

    _length_anchor: ClassVar[str] = "cluster"

    cluster: npt.NDArray[np.int64] = column_field(as_int_column(nonnegative=True))
    customers: npt.NDArray[np.int64] = column_field(as_int_column(nonnegative=True))
    share: npt.NDArray[np.float64] = column_field(as_float_column())
    days_since_last: npt.NDArray[np.float64] = column_field(as_float_column())
    frequency: npt.NDArray[np.float64] = column_field(as_float_column())
    monetary: npt.NDArray[np.float64] = column_field(as_float_column())
    revenue_share: npt.NDArray[np.float64] = column_field(as_float_column())
    description: npt.NDArray[Any] = column_field(as_string_column())


def _ids(value: Any) -> npt.NDArray[Any]:
    return convert_column(as_id_column(), value, "customer_id")


def _labels(value: Any) -> npt.NDArray[np.int16]:
    return freeze(np.asarray(value).astype(np.int16))


@attrs.frozen(kw_only=True, repr=False)
class RFMClusters:
    """The result of :func:`cluster`: a cluster per customer and a profile per cluster.

    Attributes
    ----------
    customer_id
        The customers, in the order of the scores.
    cluster
        Cluster of each customer (int16; 0 has the most revenue).
    profile
        :class:`ClusterProfile`, one row per cluster.
    inertia
        Sum of squared distances to the centroids, in standardised log space (lower is tighter).
    seed
        The seed that reproduces this result.
    """

    customer_id: npt.NDArray[Any] = attrs.field(converter=_ids, eq=attrs.cmp_using(eq=np.array_equal))
    cluster: npt.NDArray[np.int16] = attrs.field(converter=_labels, eq=attrs.cmp_using(eq=np.array_equal))
    profile: ClusterProfile
    inertia: float
    seed: int

    def __repr__(self) -> str:
        return (
            f"RFMClusters(customers={len(self.cluster)}, k={len(self.profile)}, inertia={self.inertia:.4g})"
        )


def _features(scores: RFMScores) -> npt.NDArray[np.float64]:
    return np.column_stack(
        [
            np.log1p(np.maximum(scores.days_since_last, 0.0)),
            np.log1p(np.maximum(scores.frequency, 0.0)),
            np.log1p(np.maximum(scores.monetary, 0.0)),
        ]
    )


def _describe(
    center: npt.NDArray[np.float64], low: npt.NDArray[np.float64], high: npt.NDArray[np.float64]
) -> str:
    """The centroid against the terciles of all customers, dimension by dimension."""

    def level(i: int, words: tuple[str, str, str]) -> str:
        return words[0] if center[i] <= low[i] else words[2] if center[i] > high[i] else words[1]

    return ", ".join(
        (
            level(0, ("recent", "lapsing", "lapsed")),
            level(1, ("infrequent", "regular", "frequent")),
            level(2, ("low spend", "mid spend", "high spend")),
        )
    )


def cluster(
    scores: RFMScores,
    *,
    k: int = 5,
    seed: int = 0,
    n_init: int = 4,
    max_iter: int = 50,
) -> RFMClusters:
    """Cluster customers with k-means on standardised ``log1p`` recency days, frequency and spend.

    Parameters
    ----------
    scores
        The output of :func:`score`; its inputs (``days_since_last``, ``frequency``, ``monetary``) are
        clustered, not the 1..bins scores.
    k
        Number of clusters.
    seed
        Seed of the k-means++ initialisations; the same seed gives the same clusters.
    n_init
        Initialisations tried; the one with the lowest inertia is kept.
    max_iter
        Lloyd iterations per initialisation.

    Returns
    -------
    RFMClusters
        Labels renumbered by revenue (cluster 0 has the most) and a profile of each centroid in RFM terms.

    Raises
    ------
    ValidationError
        If ``k`` is not within ``1..`` the number of distinct customers' feature vectors.
    ConvergenceError
        If every initialisation left a cluster empty (try a smaller ``k``).

    Notes
    -----
    Uses :func:`scipy.cluster.vq.kmeans2` with k-means++ seeding. Log scaling tames the long tails of
    frequency and spend; standardising gives the three dimensions equal weight. O(n k) per iteration.

    References
    ----------
    Arthur, D., & Vassilvitskii, S. (2007). k-means++: The advantages of careful seeding. SODA '07, 1027-1035.

    Examples
    --------
    >>> import numpy as np
    >>> from omnicore import rfm
    >>> rng = np.random.default_rng(0)
    >>> n = 300
    >>> scores = rfm.score_arrays(np.arange(n), rng.exponential(60, n), rng.integers(1, 20, n),
    ...                           rng.gamma(2.0, 50.0, n))
    >>> result = rfm.cluster(scores, k=3, seed=1)
    >>> len(result.profile), int(result.profile.customers.sum())
    (3, 300)
    >>> np.array_equal(result.cluster, rfm.cluster(scores, k=3, seed=1).cluster)
    True
    """
    from scipy.cluster.vq import kmeans2

    n = len(scores)
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValidationError("k must be a positive integer", field="k", value=k)
    if n_init < 1 or max_iter < 1:
        raise ValidationError(
            "n_init and max_iter must be positive", field="n_init", value=(n_init, max_iter)
        )
    raw = _features(scores)
    distinct = len(np.unique(raw, axis=0)) if n else 0
    if k > distinct:
        raise ValidationError(
            f"k={k} clusters need at least {k} distinct customers; there are {distinct}", field="k", value=k
        )
    mean = raw.mean(axis=0)
    std = raw.std(axis=0)
    std[std == 0] = 1.0
    data = (raw - mean) / std
    rng = np.random.default_rng(seed)
    best: tuple[float, npt.NDArray[np.float64], npt.NDArray[np.int64]] | None = None
    for attempt in range(n_init):
        with warnings.catch_warnings():
            # An empty cluster is a failed initialisation here, not something to warn the caller about.
            warnings.simplefilter("ignore", UserWarning)
            centers, labels = kmeans2(data, k, iter=max_iter, minit="++", seed=rng, missing="warn")
        sizes = np.bincount(labels, minlength=k)
        if (sizes == 0).any():
            logger.debug("cluster: initialisation %d left a cluster empty", attempt)
            continue
        inertia = float(((data - centers[labels]) ** 2).sum())
        if best is None or inertia < best[0]:
            best = (inertia, centers, labels.astype(np.int64))
    if best is None:
        raise ConvergenceError(
            f"k-means left a cluster empty in all {n_init} initialisations; "
            "try a smaller k or a larger n_init"
        )
    inertia, centers, labels = best
    revenue = np.bincount(labels, weights=scores.revenue, minlength=k)
    order = np.argsort(-revenue, kind="stable")
    relabel = np.empty(k, np.int64)
    relabel[order] = np.arange(k)
    labels = relabel[labels]
    centers = centers[order]
    revenue = revenue[order]
    sizes = np.bincount(labels, minlength=k)
    typical = np.expm1(centers * std + mean)
    low, high = np.quantile(raw, [1 / 3, 2 / 3], axis=0)
    log_centers = centers * std + mean
    total_revenue = float(revenue.sum())
    profile = ClusterProfile(
        cluster=np.arange(k),
        customers=sizes,
        share=sizes / n,
        days_since_last=typical[:, 0],
        frequency=typical[:, 1],
        monetary=typical[:, 2],
        revenue_share=revenue / total_revenue if total_revenue else np.zeros(k),
        description=np.asarray([_describe(c, low, high) for c in log_centers], dtype=STRING_DTYPE),
    )
    return RFMClusters(
        customer_id=scores.customer_id, cluster=labels, profile=profile, inertia=inertia, seed=seed
    )
