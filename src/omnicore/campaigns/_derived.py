"""Derived-state triggers: changes computed by the RFM and LTV capabilities, fed in as events.

The campaign engine reacts to events only; a change of derived state becomes an event of one of these
types so that a rule can trigger on it like on a browse or a purchase:

=====================  ==============================================================
event type             properties
=====================  ==============================================================
``segment_changed``    ``from_segment`` (text), ``to_segment`` (text)
``p_alive_changed``    ``previous_p_alive`` (float), ``p_alive`` (float)
``clv_tier_changed``   ``from_tier`` (text), ``to_tier`` (text), ``predicted_clv`` (float)
=====================  ==============================================================
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np
import numpy.typing as npt

from omnicore._errors import ValidationError
from omnicore.data import STRING_DTYPE, Events, to_datetime64

__all__ = [
    "CLV_TIER_CHANGED",
    "P_ALIVE_CHANGED",
    "SEGMENT_CHANGED",
    "clv_tier_changed_events",
    "p_alive_changed_events",
    "segment_changed_events",
]

#: Event type of a customer's RFM segment moving (properties ``from_segment``, ``to_segment``).
SEGMENT_CHANGED: Final = "segment_changed"
#: Event type of P(alive) crossing a threshold (properties ``previous_p_alive``, ``p_alive``).
P_ALIVE_CHANGED: Final = "p_alive_changed"
#: Event type of a predicted-CLV tier change (properties ``from_tier``, ``to_tier``).
CLV_TIER_CHANGED: Final = "clv_tier_changed"


def _aligned(name: str, n: int, value: npt.ArrayLike) -> npt.NDArray[Any]:
    array = np.asarray(value)
    if array.shape != (n,):
        raise ValidationError(f"expected {n} values, like customer_id", field=name, value=array.shape)
    return array


def _events(
    event_type: str,
    customer_id: npt.ArrayLike,
    at: Any,
    changed: npt.NDArray[np.bool_],
    props: dict[str, Any],
) -> Events:
    ids = np.asarray(customer_id)[changed]
    stamp = to_datetime64(at, field="at")
    return Events(
        customer_id=ids,
        event_type=np.full(ids.size, event_type, dtype=STRING_DTYPE),
        timestamp=np.full(ids.size, stamp),
        properties={k: np.asarray(v)[changed] for k, v in props.items()},
    )


def segment_changed_events(
    customer_id: npt.ArrayLike, before: npt.ArrayLike, after: npt.ArrayLike, *, at: Any
) -> Events:
    """``segment_changed`` events for the customers whose segment differs between two snapshots.

    Parameters
    ----------
    customer_id
        Customers, aligned with ``before`` and ``after``.
    before, after
        Segment names at the previous and the current scoring (``''`` for none).
    at
        When the new scoring was made (the events' timestamp).

    Returns
    -------
    Events
        One event per customer whose segment moved.

    Examples
    --------
    >>> ev = segment_changed_events([1, 2], ["Loyal", "Champions"], ["At Risk", "Champions"],
    ...                             at="2024-05-01")
    >>> ev.customer_id.tolist(), ev.properties["to_segment"].tolist()
    ([1], ['At Risk'])
    """
    ids = np.asarray(customer_id)
    old = _aligned("before", ids.size, before).astype(STRING_DTYPE)
    new = _aligned("after", ids.size, after).astype(STRING_DTYPE)
    return _events(SEGMENT_CHANGED, ids, at, old != new, {"from_segment": old, "to_segment": new})


def p_alive_changed_events(
    customer_id: npt.ArrayLike,
    before: npt.ArrayLike,
    after: npt.ArrayLike,
    *,
    at: Any,
    min_change: float = 0.0,
) -> Events:
    """``p_alive_changed`` events where P(alive) moved by more than ``min_change``.

    A rule "P(alive) fell below 0.3" triggers on ``p_alive_changed`` with
    ``previous_p_alive >= 0.3 and p_alive < 0.3`` (see :func:`omnicore.campaigns.crossed_below`).

    Examples
    --------
    >>> ev = p_alive_changed_events([1, 2], [0.8, 0.5], [0.2, 0.5], at="2024-05-01")
    >>> ev.properties["p_alive"].tolist()
    [0.2]
    """
    ids = np.asarray(customer_id)
    old = _aligned("before", ids.size, before).astype(np.float64)
    new = _aligned("after", ids.size, after).astype(np.float64)
    changed = np.abs(new - old) > min_change
    return _events(P_ALIVE_CHANGED, ids, at, changed, {"previous_p_alive": old, "p_alive": new})


def clv_tier_changed_events(
    customer_id: npt.ArrayLike,
    before: npt.ArrayLike,
    after: npt.ArrayLike,
    *,
    at: Any,
    predicted_clv: npt.ArrayLike | None = None,
) -> Events:
    """``clv_tier_changed`` events for customers whose predicted-CLV tier changed.

    Examples
    --------
    >>> ev = clv_tier_changed_events([1, 2], ["high", "low"], ["mid", "low"], at="2024-05-01",
    ...                              predicted_clv=[310.0, 20.0])
    >>> ev.properties["from_tier"].tolist(), ev.properties["predicted_clv"].tolist()
    (['high'], [310.0])
    """
    ids = np.asarray(customer_id)
    old = _aligned("before", ids.size, before).astype(STRING_DTYPE)
    new = _aligned("after", ids.size, after).astype(STRING_DTYPE)
    clv = (
        np.full(ids.size, np.nan)
        if predicted_clv is None
        else _aligned("predicted_clv", ids.size, predicted_clv).astype(np.float64)
    )
    return _events(
        CLV_TIER_CHANGED, ids, at, old != new, {"from_tier": old, "to_tier": new, "predicted_clv": clv}
    )
