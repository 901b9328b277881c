"""Stable customer ids across re-resolution: who survives a merge, who keeps the id after a split."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from omnicore.data import STRING_DTYPE
from omnicore.storage import MergeEvents

__all__ = ["Allocator", "counter_allocator", "stable_customer_ids"]

Allocator = Callable[[int], npt.NDArray[np.int64]]

MERGE_REASON = "merged: the oldest (smallest) customer id survives"
SPLIT_REASON = "split: the largest part keeps the id"
CREATE_REASON = "new customer"


def counter_allocator(start: int) -> Allocator:
    """An allocator handing out ``start, start + 1, ...`` (for resolution without a store).

    Parameters
    ----------
    start
        The first id handed out.

    Returns
    -------
    Callable
        ``allocate(n)`` returning the next ``n`` ids as int64.

    Examples
    --------
    >>> allocate = counter_allocator(10)
    >>> allocate(2).tolist(), allocate(1).tolist()
    ([10, 11], [12])
    """
    state = [start]

    def allocate(n: int) -> npt.NDArray[np.int64]:
        out = np.arange(state[0], state[0] + n, dtype=np.int64)
        state[0] += n
        return out

    return allocate


def _first_per_group(*keys: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Row indices of the first row per value of the last key after sorting by all keys."""
    order = np.lexsort(keys)
    group = keys[-1][order]
    first = np.r_[True, group[1:] != group[:-1]] if group.size else np.empty(0, bool)
    return order[first]


def stable_customer_ids(
    labels: npt.NDArray[np.int64],
    previous: npt.NDArray[np.int64],
    *,
    allocate: Allocator,
    at: np.datetime64,
) -> tuple[npt.NDArray[np.int64], MergeEvents]:
    """Customer id of each new component, keeping old ids where possible, and the change events.

    Parameters
    ----------
    labels
        New component of each identifier (``-1`` for identifiers that belong to no customer).
    previous
        Customer id each identifier had before (``-1`` when new).
    allocate
        Hands out ``n`` new, never reused ids, in increasing order.
    at
        Timestamp of the events.

    Returns
    -------
    customer_id, events
        Customer per identifier (``-1`` where ``labels`` is ``-1``) and the merge history entries.

    Notes
    -----
    The rule, applied to the identifiers that had an id before:

    1. Every old id *claims* the new component holding most of its identifiers (ties: the
       component with the smallest label, i.e. the smallest identifier).
    2. A component keeps the smallest (oldest) old id that claims it; the other claimants are
       ``"merge"`` events into it.
    3. Old identifiers that land in a component their id did not claim are ``"split"`` events
       from the old id to that component's id; components claimed by no old id get new ids
       (``"create"`` when none of their identifiers had an id).

    So after a split the largest part keeps the id; after a merge the oldest id survives. The result
    depends only on the partition and the old ids, never on input order.

    Examples
    --------
    Customers 7 and 9 merge into one component; 7 (the older) survives.

    >>> ids, events = stable_customer_ids(
    ...     np.array([0, 0, 0, 1]), np.array([7, 9, 9, -1]),
    ...     allocate=counter_allocator(100), at=np.datetime64("2024-01-01", "us"),
    ... )
    >>> ids.tolist(), events.kind.tolist(), events.from_customer.tolist(), events.to_customer.tolist()
    ([7, 7, 7, 100], ['merge', 'create'], [9, -1], [7, 100])
    """
    labels = np.asarray(labels, dtype=np.int64)
    previous = np.asarray(previous, dtype=np.int64)
    n_labels = int(labels.max()) + 1 if labels.size and labels.max() >= 0 else 0
    component_id = np.full(n_labels, -1, dtype=np.int64)
    old = (labels >= 0) & (previous >= 0)
    merge_from = np.empty(0, np.int64)
    merge_to_label = np.empty(0, np.int64)
    split_from = np.empty(0, np.int64)
    split_to_label = np.empty(0, np.int64)
    if old.any():
        pair_ids, pair_labels = previous[old], labels[old]
        # distinct (old id, new label) pairs as one integer each (ids are dense-coded first)
        id_values, id_codes = np.unique(pair_ids, return_inverse=True)
        codes, counts = np.unique(id_codes.reshape(-1) * n_labels + pair_labels, return_counts=True)
        p_id, p_label = id_values[codes // n_labels], codes % n_labels
        # 1. each old id claims its largest part (ties: smallest label)
        claim_rows = _first_per_group(p_label, -counts, p_id)
        claimed = np.zeros(p_id.size, dtype=bool)
        claimed[claim_rows] = True
        c_id, c_label = p_id[claim_rows], p_label[claim_rows]
        # 2. the oldest claimant keeps the component
        keep_rows = _first_per_group(c_id, c_label)
        component_id[c_label[keep_rows]] = c_id[keep_rows]
        loser = component_id[c_label] != c_id
        merge_from, merge_to_label = c_id[loser], c_label[loser]
        # 3. unclaimed parts are splits
        split_from, split_to_label = p_id[~claimed], p_label[~claimed]
    unassigned = np.flatnonzero(component_id < 0)
    component_id[unassigned] = allocate(unassigned.size)
    had_old = np.zeros(n_labels, dtype=bool)
    had_old[labels[old]] = True
    created = unassigned[~had_old[unassigned]]
    customer = np.where(labels >= 0, component_id[np.maximum(labels, 0)], -1)
    sizes = np.array([merge_from.size, split_from.size, created.size])
    kinds = np.repeat(np.array(["merge", "split", "create"], dtype=STRING_DTYPE), sizes)
    reasons = np.repeat(np.array([MERGE_REASON, SPLIT_REASON, CREATE_REASON], dtype=STRING_DTYPE), sizes)
    events = MergeEvents(
        at=np.full(kinds.size, at, dtype="datetime64[us]"),
        kind=kinds,
        from_customer=np.concatenate([merge_from, split_from, np.full(created.size, -1, np.int64)]),
        to_customer=np.concatenate(
            [component_id[merge_to_label], component_id[split_to_label], component_id[created]]
        ),
        reason=reasons,
    )
    return customer, events
