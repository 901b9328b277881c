"""Compiled loops for the sequential parts of evaluation (numba through :func:`omnicore._jit.jit`).

Each kernel is a plain function of numpy arrays and scalars; with ``NUMBA_DISABLE_JIT=1`` it runs
as Python and gives the same results.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from omnicore._jit import jit
from omnicore.data._text_codes import factorize_words

__all__ = [
    "arbitrate_by_customer",
    "arbitrate_caps",
    "count_in_groups",
    "count_upto_in_groups",
    "factorize_words",
    "first_in_ties",
    "group_rows",
    "latest_granted",
    "pair_codes",
    "select_by_code",
]

I64 = npt.NDArray[np.int64]
U64 = npt.NDArray[np.uint64]
Mask = npt.NDArray[np.bool_]


@jit
def first_in_ties(time: I64, group: I64, kind: I64) -> Mask:
    """Keep the first of rows with equal (time, group, kind); ``time`` is sorted, so repeats are in runs.

    Short runs of equal times are checked pairwise; long ones are sorted by (group, kind) first.
    """
    n = time.size
    keep = np.ones(n, dtype=np.bool_)
    start = 0
    while start < n:
        end = start + 1
        while end < n and time[end] == time[start]:
            end += 1
        k = end - start
        if 1 < k <= 32:
            for i in range(start + 1, end):
                for j in range(start, i):
                    if keep[j] and group[j] == group[i] and kind[j] == kind[i]:
                        keep[i] = False
                        break
        elif k > 32:
            order = np.argsort(kind[start:end], kind="mergesort")
            order = order[np.argsort(group[start:end][order], kind="mergesort")]
            for a in range(1, k):
                i = start + order[a]
                j = start + order[a - 1]
                if group[i] == group[j] and kind[i] == kind[j]:
                    keep[i] = False
        start = end
    return keep


@jit
def arbitrate_caps(
    time: I64,
    eligible: Mask,
    member_start: I64,
    member_count: I64,
    member_group: I64,
    member_period: I64,
    member_limit: I64,
    group_size: I64,
    history_group: I64,
    history_time: I64,
) -> tuple[Mask, I64]:
    """Greedy cap arbitration in processing order.

    Candidate ``c`` (``time`` non-decreasing) owns memberships ``member_start[c] : + member_count[c]``,
    each a (cap key, customer) group with a period and a limit. It is accepted when eligible and, for
    each membership, fewer than ``limit`` accepted rows of the group (history rows, then earlier
    accepted candidates) have a time in ``(t - period, t]``. Returns ``accepted`` and, per candidate,
    the first membership that blocked it (-1 if none). ``history_*`` must be sorted by (group, time);
    ``group_size[g]`` bounds the rows group ``g`` can hold.
    """
    n = time.size
    n_groups = group_size.size
    offset = np.zeros(n_groups + 1, dtype=np.int64)
    for g in range(n_groups):
        offset[g + 1] = offset[g] + group_size[g]
    fill = offset[:-1].copy()
    slots = np.empty(offset[n_groups], dtype=np.int64)
    for h in range(history_group.size):
        g = history_group[h]
        slots[fill[g]] = history_time[h]
        fill[g] += 1
    accepted = eligible.copy()
    blocking = np.full(n, -1, dtype=np.int64)
    for c in range(n):
        if not eligible[c]:
            continue
        t = time[c]
        first = member_start[c]
        last = first + member_count[c]
        for m in range(first, last):
            g = member_group[m]
            lo, hi = offset[g], fill[g]
            bound = t - member_period[m]
            # accepted times of a group never decrease: binary search the first one > bound
            while lo < hi:
                mid = (lo + hi) >> 1
                if slots[mid] > bound:
                    hi = mid
                else:
                    lo = mid + 1
            if fill[g] - lo >= member_limit[m]:
                accepted[c] = False
                blocking[c] = m
                break
        if accepted[c]:
            for m in range(first, last):
                g = member_group[m]
                slots[fill[g]] = t
                fill[g] += 1
    return accepted, blocking


@jit
def arbitrate_by_customer(
    time: I64,
    eligible: Mask,
    customer: I64,
    rule: I64,
    cap_start: I64,
    cap_count: I64,
    cap_key: I64,
    cap_period: I64,
    cap_limit: I64,
    n_keys: int,
    n_customers: int,
    history_key: I64,
    history_customer: I64,
    history_time: I64,
) -> tuple[Mask, I64, I64, I64, I64]:
    """Greedy cap arbitration in processing order, one customer at a time.

    Candidate ``c`` (``time`` non-decreasing) of customer code ``customer[c]`` is a member of the caps
    ``cap_start[rule[c]] : + cap_count[rule[c]]`` of its rule; cap entry ``e`` counts the accepted rows
    of (``cap_key[e]``, customer) and blocks when ``cap_limit[e]`` of them lie in
    ``(t - cap_period[e], t]``. Every cap is per customer, so customers are independent: candidates are
    grouped by customer (a stable counting sort) and each customer keeps, per cap key, a ring of its
    last accepted times (as many as the key's largest limit): with times non-decreasing, ``limit``
    rows lie in the period exactly when the ``limit``-th most recent one does. History rows (any
    order, times not after the candidates') are replayed first, in time order.

    Returns ``accepted``, per candidate the position within its rule's caps of the first cap that
    blocked it (-1 if none), and the accepted cap rows (key, customer, time) in candidate order,
    then the rule's cap order.
    """
    n = time.size
    # ring capacity per key: its largest limit
    cap_of = np.ones(n_keys, dtype=np.int64)
    for e in range(cap_key.size):
        if cap_limit[e] > cap_of[cap_key[e]]:
            cap_of[cap_key[e]] = cap_limit[e]
    ring_at = np.zeros(n_keys + 1, dtype=np.int64)
    for k in range(n_keys):
        ring_at[k + 1] = ring_at[k] + cap_of[k]
    ring = np.zeros(max(ring_at[n_keys], 1), dtype=np.int64)
    filled = np.zeros(n_keys, dtype=np.int64)  # accepted rows of the current customer, per key
    head = np.zeros(n_keys, dtype=np.int64)  # next ring position, per key
    owner = np.full(n_keys, -1, dtype=np.int64)
    # candidates and history rows grouped by customer (stable)
    c_order, c_bounds = group_rows(customer, n_customers)
    h_order = np.argsort(history_time, kind="mergesort")
    h_grouped, h_bounds = group_rows(history_customer[h_order], n_customers)
    h_sorted = h_order[h_grouped]
    accepted = np.zeros(n, dtype=np.bool_)
    blocking = np.full(n, -1, dtype=np.int64)
    for u in range(n_customers):
        lo, hi = c_bounds[u], c_bounds[u + 1]
        if lo == hi:
            continue
        for i in range(h_bounds[u], h_bounds[u + 1]):
            h = h_sorted[i]
            k = history_key[h]
            if owner[k] != u:
                owner[k] = u
                filled[k] = 0
                head[k] = 0
            ring[ring_at[k] + head[k]] = history_time[h]
            filled[k] += 1
            head[k] = head[k] + 1 if head[k] + 1 < cap_of[k] else 0
        for i in range(lo, hi):
            c = c_order[i]
            if not eligible[c]:
                continue
            t = time[c]
            first = cap_start[rule[c]]
            ok = True
            for e in range(first, first + cap_count[rule[c]]):
                k = cap_key[e]
                if owner[k] != u:
                    owner[k] = u
                    filled[k] = 0
                    head[k] = 0
                limit = cap_limit[e]
                if filled[k] >= limit:
                    at = head[k] - limit  # the limit-th most recent accepted time
                    if at < 0:
                        at += cap_of[k]
                    if ring[ring_at[k] + at] > t - cap_period[e]:
                        blocking[c] = e - first
                        ok = False
                        break
            if ok:
                accepted[c] = True
                for e in range(first, first + cap_count[rule[c]]):
                    k = cap_key[e]
                    ring[ring_at[k] + head[k]] = t
                    filled[k] += 1
                    head[k] = head[k] + 1 if head[k] + 1 < cap_of[k] else 0
    # accepted cap rows in candidate order
    total = 0
    for c in range(n):
        if accepted[c]:
            total += cap_count[rule[c]]
    out_key = np.empty(total, dtype=np.int64)
    out_customer = np.empty(total, dtype=np.int64)
    out_time = np.empty(total, dtype=np.int64)
    j = 0
    for c in range(n):
        if accepted[c]:
            first = cap_start[rule[c]]
            for e in range(first, first + cap_count[rule[c]]):
                out_key[j] = cap_key[e]
                out_customer[j] = customer[c]
                out_time[j] = time[c]
                j += 1
    return accepted, blocking, out_key, out_customer, out_time


@jit
def select_by_code(
    codes: npt.NDArray[np.intp],
    values: npt.NDArray[np.float64],
    code_bounds: I64,
    code_rules: I64,
    op: I64,
    threshold: npt.NDArray[np.float64],
    n_rules: int,
) -> tuple[I64, I64]:
    """Rows matching each of many rules of the form ``text == v`` (and ``number <op> threshold``).

    Rules wanting text code ``c`` are ``code_rules[code_bounds[c] : code_bounds[c + 1]]``; rule ``j``
    also needs ``values[row] <op[j]> threshold[j]`` (op 0: none, 1 ``>``, 2 ``>=``, 3 ``<``, 4 ``<=``,
    5 ``==``, 6 ``!=``; NaN satisfies only ``!=``, as in numpy). Returns the matching rows grouped by
    rule, ascending: rule ``j`` owns ``rows[bounds[j] : bounds[j + 1]]``.
    """
    n_codes = code_bounds.size - 1
    # one pass writing (row, rule) pairs unconditionally and advancing only on a match (no branch
    # on the data), then a counting sort of the matches by rule
    size = 0
    for i in range(codes.size):
        c = codes[i]
        if 0 <= c < n_codes:
            size += code_bounds[c + 1] - code_bounds[c]
    pair_row = np.empty(size + 1, dtype=np.int64)
    pair_rule = np.empty(size + 1, dtype=np.int64)
    k = 0
    for i in range(codes.size):
        c = codes[i]
        if 0 <= c < n_codes:
            x = values[i]
            for p in range(code_bounds[c], code_bounds[c + 1]):
                j = code_rules[p]
                pair_row[k] = i
                pair_rule[k] = j
                o = op[j]
                t = threshold[j]
                if o == 1:
                    k += x > t
                elif o == 0:
                    k += 1
                elif o == 2:
                    k += x >= t
                elif o == 3:
                    k += x < t
                elif o == 4:
                    k += x <= t
                elif o == 5:
                    k += x == t
                else:
                    k += x != t
    order, bounds = group_rows(pair_rule[:k], n_rules)
    return pair_row[order], bounds


@jit
def count_in_groups(
    bounds: I64,
    times: I64,
    q_group: I64,
    q_lo: I64,
    q_hi: I64,
    lo_inclusive: bool,
    hi_inclusive: bool,
) -> I64:
    """Per query, the rows of its group with a time between its bounds (each open or closed).

    Group ``g`` owns ``times[bounds[g] : bounds[g + 1]]``, ascending; two binary searches per query.
    """
    out = np.zeros(q_group.size, dtype=np.int64)
    for q in range(q_group.size):
        first, end = bounds[q_group[q]], bounds[q_group[q] + 1]
        lo, hi = first, end
        while lo < hi:  # first row past the lower bound
            mid = (lo + hi) >> 1
            if times[mid] < q_lo[q] or (times[mid] == q_lo[q] and not lo_inclusive):
                lo = mid + 1
            else:
                hi = mid
        start = lo
        hi = end
        while lo < hi:  # first row past the upper bound
            mid = (lo + hi) >> 1
            if times[mid] < q_hi[q] or (times[mid] == q_hi[q] and hi_inclusive):
                lo = mid + 1
            else:
                hi = mid
        out[q] = lo - start
    return out


@jit
def count_upto_in_groups(bounds: I64, rows: I64, times: I64, q_group: I64, q_row: I64, q_time_lo: I64) -> I64:
    """Per query, the rows of its group numbered at most ``q_row`` with a time at least ``q_time_lo``.

    Group ``g`` owns ``rows[bounds[g] : bounds[g + 1]]`` (ascending) and their ``times``, which must
    not decrease along the rows (events in time order): the rows up to ``q_row`` are a prefix, those
    late enough a suffix, and the answer is their overlap.
    """
    out = np.zeros(q_group.size, dtype=np.int64)
    for q in range(q_group.size):
        first, end = bounds[q_group[q]], bounds[q_group[q] + 1]
        lo, hi = first, end
        while lo < hi:  # end of the prefix: rows <= q_row
            mid = (lo + hi) >> 1
            if rows[mid] <= q_row[q]:
                lo = mid + 1
            else:
                hi = mid
        upto = lo
        lo, hi = first, end
        while lo < hi:  # start of the suffix: times >= q_time_lo
            mid = (lo + hi) >> 1
            if times[mid] < q_time_lo[q]:
                lo = mid + 1
            else:
                hi = mid
        out[q] = max(upto - lo, 0)
    return out


@jit
def group_rows(codes: I64, n_groups: int) -> tuple[npt.NDArray[np.intp], I64]:
    """Counting sort: row numbers ordered by code (ascending within a code) and each code's bounds."""
    bounds = np.zeros(n_groups + 1, dtype=np.int64)
    for i in range(codes.size):
        bounds[codes[i] + 1] += 1
    for g in range(n_groups):
        bounds[g + 1] += bounds[g]
    fill = bounds[:-1].copy()
    order = np.empty(codes.size, dtype=np.intp)
    for i in range(codes.size):
        c = codes[i]
        order[fill[c]] = i
        fill[c] += 1
    return order, bounds


@jit
def pair_codes(a: I64, b: I64, n_a: int, n_b: int) -> tuple[I64, int]:
    """Dense codes of the pairs ``(a, b)`` with ``0 <= a < n_a`` and ``0 <= b < n_b``, and their number.

    Pairs are coded in order of ``a``, then first appearance; one counting sort by ``a`` and a scratch
    table over ``b`` (reset after each ``a``), so the cost is O(n + n_a + n_b) with no hashing.
    """
    n = a.size
    order, bounds = group_rows(a, n_a)
    scratch = np.full(n_b, -1, dtype=np.int64)
    codes = np.empty(n, dtype=np.int64)
    n_codes = 0
    for k in range(n_a):
        for p in range(bounds[k], bounds[k + 1]):
            j = b[order[p]]
            if scratch[j] < 0:
                scratch[j] = n_codes
                n_codes += 1
            codes[order[p]] = scratch[j]
        for p in range(bounds[k], bounds[k + 1]):
            scratch[b[order[p]]] = -1
    return codes, n_codes


@jit
def latest_granted(bounds: I64, time: I64, granted: Mask, code: I64, at: I64) -> Mask:
    """Per query, ``granted`` of the last record of its code at or before ``at`` (False if none).

    Records of code ``c`` are ``bounds[c] : bounds[c + 1]``, in time order.
    """
    out = np.zeros(code.size, dtype=np.bool_)
    for q in range(code.size):
        lo, hi = bounds[code[q]], bounds[code[q] + 1]
        t = at[q]
        while lo < hi:
            mid = (lo + hi) >> 1
            if time[mid] <= t:
                lo = mid + 1
            else:
                hi = mid
        if lo > bounds[code[q]]:
            out[q] = granted[lo - 1]
    return out
