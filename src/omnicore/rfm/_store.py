"""Store-aware shell: segment a tenant's customers as of a date, straight from its transaction log."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from omnicore.data import to_datetime64
from omnicore.rfm._schemes import STANDARD_SEGMENTS, SegmentScheme
from omnicore.rfm._scores import FrequencyMeasure, MonetaryMeasure, ScoreMethod, Thresholds, score
from omnicore.rfm._segments import CustomerSegments, segment
from omnicore.storage import Store
from omnicore.summary import summarize

__all__ = ["segment_customers"]

logger = logging.getLogger(__name__)

_ONE_DAY = np.timedelta64(1, "D")


def segment_customers(
    store: Store,
    *,
    as_of: Any,
    scheme: SegmentScheme = STANDARD_SEGMENTS,
    method: ScoreMethod = "quantile",
    thresholds: Thresholds | None = None,
    frequency: FrequencyMeasure = "orders",
    monetary: MonetaryMeasure = "total",
) -> CustomerSegments:
    """Segment every customer of a store's tenant from the purchases up to ``as_of``.

    Loads the transactions up to the end of ``as_of``'s day, then runs :func:`omnicore.summarize`,
    :func:`score` (with ``bins=scheme.bins``) and :func:`segment`. Nothing is written.

    Parameters
    ----------
    store
        An open store (:func:`omnicore.open_store`).
    as_of
        The as-of date (datetime, ISO text or datetime64). Run it twice, e.g. 90 days apart, and pass
        both results to :func:`migration`.
    scheme, method, thresholds, frequency, monetary
        As in :func:`segment` and :func:`score`.

    Returns
    -------
    CustomerSegments

    Raises
    ------
    ValidationError
        If the store holds no purchase up to ``as_of``.

    Examples
    --------
    >>> import omnicore
    >>> from omnicore import rfm
    >>> store = omnicore.open_store("memory://")
    >>> _ = store.transactions.append(omnicore.Transactions(
    ...     customer_id=[1, 2, 2], timestamp=["2024-01-03", "2024-01-05", "2024-02-01"],
    ...     amount=[20.0, 35.0, 12.5]))
    >>> seg = rfm.segment_customers(store, as_of="2024-01-31")
    >>> seg.customer_id.tolist(), seg.frequency.tolist()
    ([1, 2], [1.0, 1.0])
    """
    end = to_datetime64(as_of, field="as_of")
    day_after = (end.astype("datetime64[D]") + _ONE_DAY).astype("datetime64[us]")
    transactions = store.transactions.load(end=day_after)
    logger.debug("segment_customers: %d transactions up to %s", len(transactions), end)
    summary = summarize(transactions, observation_end=end)
    scores = score(
        summary,
        bins=scheme.bins,
        method=method,
        thresholds=thresholds,
        frequency=frequency,
        monetary=monetary,
    )
    return segment(scores, scheme)
