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
    "count_in_groups",
    "count_upto_in_groups",
    "decide_by_customer",
    "factorize_words",
    "first_in_ties",
    "group_by_code",
    "group_rows",
    "hour_span_by_code",
    "label_decisions",
    "mark_present",
    "match_sorted",
    "offset_lookup",
    "order_candidates",
    "quiet_send_at",
    "select_by_code",
]

I64 = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]
U64 = npt.NDArray[np.uint64]
Mask = npt.NDArray[np.bool_]


@jit
def first_in_ties(time: I64, group: I64, kind: I64) -> Mask:
    """Keep the first of rows with equal (time, group, kind); ``time`` is sorted, so repeats are in runs.

    Rows whose time differs from the previous row's are skipped at once; short runs of equal times
    are checked pairwise, long ones are sorted by (group, kind) first.
    """
    n = time.size
    keep = np.ones(n, dtype=np.bool_)
    i = 1
    while i < n:
        if time[i] != time[i - 1]:
            i += 1
            continue
        start = i - 1
        end = i + 1
        while end < n and time[end] == time[start]:
            end += 1
        k = end - start
        if k <= 32:
            for a in range(start + 1, end):
                for b in range(start, a):
                    if keep[b] and group[b] == group[a] and kind[b] == kind[a]:
                        keep[a] = False
                        break
        else:
            order = np.argsort(kind[start:end], kind="mergesort")
            order = order[np.argsort(group[start:end][order], kind="mergesort")]
            for a in range(1, k):
                x = start + order[a]
                y = start + order[a - 1]
                if group[x] == group[y] and kind[x] == kind[y]:
                    keep[x] = False
        i = end
    return keep


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

    Rules wanting text code ``c`` are ``code_rules[code_bounds[c] : code_bounds[c + 1]]`` (each rule
    wants one code at most); rule ``j`` also needs ``values[row] <op[j]> threshold[j]`` (op 0: none,
    1 ``>``, 2 ``>=``, 3 ``<``, 4 ``<=``, 5 ``==``, 6 ``!=``; NaN satisfies only ``!=``, as in numpy).
    Returns the matching rows grouped by rule, ascending: rule ``j`` owns ``rows[bounds[j] :
    bounds[j + 1]]``.

    The rows are grouped by code once (a stable counting sort carrying the values along); then each
    rule scans its code's rows, writing every row and advancing only on a match (no branch on the
    data), so the output is built in place, rule after rule.
    """
    n_codes = code_bounds.size - 1
    start = np.zeros(n_codes + 2, dtype=np.int64)
    for i in range(codes.size):
        c = codes[i]
        if 0 <= c < n_codes:
            start[c + 2] += 1
    for c in range(n_codes):
        start[c + 2] += start[c + 1]
    by_code = np.empty(start[n_codes + 1], dtype=np.int64)
    value_by_code = np.empty(start[n_codes + 1], dtype=np.float64)
    for i in range(codes.size):
        c = codes[i]
        if 0 <= c < n_codes:
            p = start[c + 1]
            start[c + 1] = p + 1
            by_code[p] = i
            value_by_code[p] = values[i]
    # after the scatter, code c's rows are start[c] : start[c + 1]
    rule_code = np.full(n_rules, -1, dtype=np.int64)
    for c in range(n_codes):
        for p in range(code_bounds[c], code_bounds[c + 1]):
            rule_code[code_rules[p]] = c
    size = 1
    for j in range(n_rules):
        if rule_code[j] >= 0:
            size += start[rule_code[j] + 1] - start[rule_code[j]]
    out = np.empty(size, dtype=np.int64)
    bounds = np.zeros(n_rules + 1, dtype=np.int64)
    k = 0
    for j in range(n_rules):
        bounds[j] = k
        c = rule_code[j]
        if c < 0:
            continue
        o = op[j]
        t = threshold[j]
        for p in range(start[c], start[c + 1]):
            out[k] = by_code[p]
            x = value_by_code[p]
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
    bounds[n_rules] = k
    return out[:k], bounds


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
def order_candidates(
    rows: I64,
    run_bounds: I64,
    run_rule: I64,
    n_rows: int,
    row_code: I64,
    row_time: I64,
    timer_rule: I64,
    timer_code: I64,
    timer_time: I64,
    timer_start: I64,
) -> tuple[I64, I32, I32, I64, I64, I64]:
    """Candidates in processing order, with their rule, customer code and times gathered.

    Event candidates: run ``k`` holds the ascending trigger rows ``rows[run_bounds[k] :
    run_bounds[k + 1]]`` of rule ``run_rule[k]``; runs come in arbitration rank order. A stable sort by
    row (rows are in time order) puts the candidates of one event in run order, i.e. by rank: a
    least-significant-digit radix sort, 11 bits a pass, so its tables stay small however long the
    batch, of keys ``row << b | run`` (the run index ``b`` bits wide, not sorted on: the input is in run
    order within a row already). Fired timers (already in their own order, times non-decreasing) are
    merged in after the events of equal or earlier time.

    Returns per candidate its row (-1 for a timer), rule, customer code (``row_code[row]``), decision
    time (``row_time[row]``, a timer's due time) and trigger time (a timer's start), and the positions
    of the timers.
    """
    n = rows.size
    # one key per candidate: row above the run index, so that the sort moves a single array
    run_bits = 0
    while (1 << run_bits) < run_rule.size:
        run_bits += 1
    a_key = np.empty(n, dtype=np.int64)
    for k in range(run_rule.size):
        for i in range(run_bounds[k], run_bounds[k + 1]):
            a_key[i] = (rows[i] << run_bits) | k
    b_key = np.empty(n, dtype=np.int64)
    bits = 11
    radix = 1 << bits
    shift = 0
    while shift == 0 or (n_rows - 1) >> shift > 0:
        start = np.zeros(radix + 1, dtype=np.int64)
        for i in range(n):
            start[((a_key[i] >> (shift + run_bits)) & (radix - 1)) + 1] += 1
        for d in range(radix):
            start[d + 1] += start[d]
        for i in range(n):
            d = (a_key[i] >> (shift + run_bits)) & (radix - 1)
            p = start[d]
            start[d] = p + 1
            b_key[p] = a_key[i]
        a_key, b_key = b_key, a_key
        shift += bits
    m = timer_rule.size
    out_row = np.empty(n + m, dtype=np.int64)
    out_rule = np.empty(n + m, dtype=np.int32)
    out_code = np.empty(n + m, dtype=np.int32)
    out_time = np.empty(n + m, dtype=np.int64)
    out_trigger = out_time if m == 0 else np.empty(n + m, dtype=np.int64)  # events: the decision time
    timer_pos = np.empty(m, dtype=np.int64)
    run_mask = (1 << run_bits) - 1
    j = 0
    for p in range(n + m):
        i = p - j
        if j < m and (i == n or timer_time[j] < row_time[a_key[i] >> run_bits]):
            out_row[p] = -1
            out_rule[p] = timer_rule[j]
            out_code[p] = timer_code[j]
            out_time[p] = timer_time[j]
            out_trigger[p] = timer_start[j]
            timer_pos[j] = p
            j += 1
        else:
            r = a_key[i] >> run_bits
            out_row[p] = r
            out_rule[p] = run_rule[a_key[i] & run_mask]
            out_code[p] = row_code[r]
            out_time[p] = row_time[r]
            if m:
                out_trigger[p] = row_time[r]
    return out_row, out_rule, out_code, out_time, out_trigger, timer_pos


@jit
def decide_by_customer(
    time: I64,
    customer: I32,
    rule: I32,
    n_customers: int,
    purposes: I64,
    n_purposes: int,
    record_start: I64,
    record_end: I64,
    record_time: I64,
    record_purpose: I64,
    record_granted: Mask,
    cap_start: I64,
    cap_count: I64,
    cap_key: I64,
    cap_period: I64,
    cap_limit: I64,
    n_keys: int,
    history_key: I64,
    history_customer: I64,
    history_time: I64,
    quiet_rule: Mask,
    customer_zone: I64,
    keep_after: I64,
) -> tuple[I32, Mask, I32, I64, I64, I64]:
    """Consent, then greedy cap arbitration, in processing order, one customer at a time.

    Candidate ``c`` (``time`` non-decreasing) of customer code ``customer[c]`` needs the consent
    purposes ``purposes[rule[c], k]`` (``k = 0, 1, ...`` up to the first -1): the latest consent record
    of the customer and purpose at or before ``time[c]`` must be a grant. Customer ``u``'s records are
    ``record_start[u] : record_end[u]`` in time order (ties: the later record wins). A candidate
    with every consent is a member of the caps ``cap_start[rule[c]] : + cap_count[rule[c]]`` of its rule
    and is accepted unless one of them already holds ``cap_limit[e]`` accepted rows of (``cap_key[e]``,
    customer) in ``(t - cap_period[e], t]``. Customers are independent: candidates are grouped by
    customer (a stable counting sort) and each customer keeps, per cap key, a ring of its last accepted
    times (as many as the key's largest limit); with times non-decreasing, ``limit`` rows lie in the
    period exactly when the ``limit``-th most recent one does. History rows (any order, times not after
    the candidates') are replayed first, in time order.

    Returns per candidate the variant (0 accepted, ``10 + k`` when the rule's ``k``-th purpose, the
    first one missing, refused it, ``100 + m`` when its rule's ``m``-th cap blocked it), ``accepted``,
    the time-zone code ``customer_zone[customer[c]]`` of accepted candidates of rules with
    ``quiet_rule`` set (-1 elsewhere; ``customer_zone`` may be empty when no rule has quiet hours), and
    the accepted cap rows (key, customer, time) in candidate order, then the rule's cap order, of
    those with a time after ``keep_after[key]`` (the rows still inside their period at the next
    watermark).
    """
    n = time.size
    n_slots = purposes.shape[1]
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
    granted = np.zeros(max(n_purposes, 1), dtype=np.bool_)
    # candidates grouped by customer: a stable counting sort that moves their time and rule along, so
    # that the pass below reads them sequentially (after the scatter, c_bounds[u] : c_bounds[u + 1]
    # are customer u's candidates)
    c_bounds = np.zeros(n_customers + 2, dtype=np.int64)
    for c in range(n):
        c_bounds[customer[c] + 2] += 1
    for u in range(n_customers):
        c_bounds[u + 2] += c_bounds[u + 1]
    c_order = np.empty(n, dtype=np.int64)
    g_time = np.empty(n, dtype=np.int64)
    g_rule = np.empty(n, dtype=np.int32)
    for c in range(n):
        at = c_bounds[customer[c] + 1]
        c_bounds[customer[c] + 1] = at + 1
        c_order[at] = c
        g_time[at] = time[c]
        g_rule[at] = rule[c]
    g_variant = np.zeros(n, dtype=np.int32)
    # history rows grouped by customer, in time order
    has_history = history_time.size > 0
    h_sorted = np.zeros(0, dtype=np.int64)
    h_bounds = np.zeros(2, dtype=np.int64)
    if has_history:
        h_order = np.argsort(history_time, kind="mergesort")
        h_grouped, h_bounds = group_rows(history_customer[h_order], n_customers)
        h_sorted = h_order[h_grouped]
    for u in range(n_customers):
        lo, hi = c_bounds[u], c_bounds[u + 1]
        if lo == hi:
            continue
        h_lo, h_hi = (h_bounds[u], h_bounds[u + 1]) if has_history else (0, 0)
        for i in range(h_lo, h_hi):
            h = h_sorted[i]
            k = history_key[h]
            if owner[k] != u:
                owner[k] = u
                filled[k] = 0
                head[k] = 0
            ring[ring_at[k] + head[k]] = history_time[h]
            filled[k] += 1
            head[k] = head[k] + 1 if head[k] + 1 < cap_of[k] else 0
        for q in range(n_purposes):
            granted[q] = False
        p, p_end = record_start[u], record_end[u]
        for i in range(lo, hi):
            t = g_time[i]
            r = g_rule[i]
            while p < p_end and record_time[p] <= t:
                granted[record_purpose[p]] = record_granted[p]
                p += 1
            refused = -1
            for j in range(n_slots):
                q = purposes[r, j]
                if q < 0:
                    break
                if not granted[q]:
                    refused = j
                    break
            if refused >= 0:
                g_variant[i] = 10 + refused
                continue
            first = cap_start[r]
            last = first + cap_count[r]
            blocked = -1
            for e in range(first, last):
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
                        blocked = e - first
                        break
            if blocked >= 0:
                g_variant[i] = 100 + blocked
                continue
            for e in range(first, last):
                k = cap_key[e]
                ring[ring_at[k] + head[k]] = t
                filled[k] += 1
                head[k] = head[k] + 1 if head[k] + 1 < cap_of[k] else 0
            g_variant[i] = -1  # accepted (0 after the scatter below)
    variant = np.empty(n, dtype=np.int32)
    accepted = np.zeros(n, dtype=np.bool_)
    zone = np.empty(n, dtype=np.int32)
    for u in range(n_customers):
        for i in range(c_bounds[u], c_bounds[u + 1]):
            c = c_order[i]
            v = g_variant[i]
            if v < 0:
                accepted[c] = True
                variant[c] = 0
                zone[c] = customer_zone[u] if quiet_rule[g_rule[i]] else -1
            else:
                variant[c] = v
                zone[c] = -1
    # accepted cap rows in candidate order; none is kept before the earliest bound (times ascend)
    earliest = keep_after[0] if n_keys else 0
    for k in range(n_keys):
        earliest = min(earliest, keep_after[k])
    lo, hi = 0, n
    while lo < hi:
        mid = (lo + hi) >> 1
        if time[mid] > earliest:
            hi = mid
        else:
            lo = mid + 1
    total = 0
    for c in range(lo, n):
        if accepted[c]:
            first = cap_start[rule[c]]
            for e in range(first, first + cap_count[rule[c]]):
                if time[c] > keep_after[cap_key[e]]:
                    total += 1
    out_key = np.empty(total, dtype=np.int64)
    out_customer = np.empty(total, dtype=np.int64)
    out_time = np.empty(total, dtype=np.int64)
    j = 0
    for c in range(lo, n):
        if accepted[c]:
            first = cap_start[rule[c]]
            for e in range(first, first + cap_count[rule[c]]):
                k = cap_key[e]
                if time[c] > keep_after[k]:
                    out_key[j] = k
                    out_customer[j] = customer[c]
                    out_time[j] = time[c]
                    j += 1
    return variant, accepted, zone, out_key, out_customer, out_time


@jit
def label_decisions(
    rule: I32,
    variant: I32,
    accepted: Mask,
    held: Mask,
    time: I64,
    send: I64,
    n_rules: int,
    n_purpose_slots: int,
    n_cap_slots: int,
    cap_start: I64,
    cap_status: npt.NDArray[np.int32],
    status_of: npt.NDArray[np.int32],
) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int32], I64]:
    """Status and reason code of each decision, and the distinct reason keys in ascending order.

    The final variant of a candidate is 2 when it is accepted and held out, 1 when accepted and
    deferred (``send`` later than ``time``), 0 when accepted otherwise, else its refusal ``variant``
    (``10 + k`` consent purpose, ``100 + m`` cap); its reason key is ``rule * 1000 + variant`` and its
    reason code the rank of that key among the keys present. ``status_of`` gives the status code of
    fired, deferred, held out and consent-suppressed decisions (in that order); a capped one takes
    ``cap_status`` of its cap entry.
    """
    n = rule.size
    width = 3 + n_purpose_slots + n_cap_slots
    present = np.zeros(n_rules * width + 1, dtype=np.int64)
    slot = np.empty(n, dtype=np.int64)
    status = np.empty(n, dtype=np.int32)
    for c in range(n):
        r = rule[c]
        if accepted[c]:
            v = 2 if held[c] else (1 if send[c] > time[c] else 0)
            status[c] = status_of[v]
            s = v
        else:
            v = variant[c]
            if v < 100:
                status[c] = status_of[3]
                s = 3 + v - 10
            else:
                status[c] = cap_status[cap_start[r] + v - 100]
                s = 3 + n_purpose_slots + v - 100
        slot[c] = r * width + s
        present[slot[c] + 1] = 1
    for k in range(n_rules * width):
        present[k + 1] += present[k]
    keys = np.empty(present[n_rules * width], dtype=np.int64)
    for k in range(n_rules * width):
        if present[k + 1] > present[k]:
            s = k % width
            v = s if s < 3 else (10 + s - 3 if s < 3 + n_purpose_slots else 100 + s - 3 - n_purpose_slots)
            keys[present[k]] = (k // width) * 1000 + v
    reason = np.empty(n, dtype=np.int32)
    for c in range(n):
        reason[c] = present[slot[c]]
    return status, reason, keys


@jit
def match_sorted(ids: I64, values: I64) -> tuple[I64, I64]:
    """Per id of the ascending distinct ``ids``, the range ``start : end`` of ``values`` (ascending)
    equal to it; one merge of the two arrays."""
    start = np.zeros(ids.size, dtype=np.int64)
    end = np.zeros(ids.size, dtype=np.int64)
    j = 0
    for u in range(ids.size):
        while j < values.size and values[j] < ids[u]:
            j += 1
        start[u] = j
        while j < values.size and values[j] == ids[u]:
            j += 1
        end[u] = j
    return start, end


_US_PER_HOUR = 3_600_000_000
_US_PER_DAY = 24 * _US_PER_HOUR


@jit
def hour_span_by_code(at: I64, codes: I64, n_codes: int) -> tuple[I64, I64, I64]:
    """Per code: its number of rows and the first and last hour (``at // 1 h``, microseconds) among them
    (rows with a negative code are left out)."""
    count = np.zeros(n_codes, dtype=np.int64)
    first = np.zeros(n_codes, dtype=np.int64)
    last = np.zeros(n_codes, dtype=np.int64)
    for i in range(at.size):
        k = codes[i]
        if k < 0:
            continue
        h = at[i] // _US_PER_HOUR
        if count[k] == 0 or h < first[k]:
            first[k] = h
        if count[k] == 0 or h > last[k]:
            last[k] = h
        count[k] += 1
    return count, first, last


@jit
def quiet_send_at(at: I64, codes: I64, fixed_offset: I64, row_offset: I64, start: int, end: int) -> I64:
    """Send time after quiet hours ``[start, end)`` of local time of day (microseconds; wrapping
    midnight when ``start > end``): ``at`` outside them, else the end of the quiet period. The UTC
    offset of row ``i`` is ``row_offset[i]``, or ``fixed_offset[codes[i]]`` when ``row_offset`` is empty;
    a row with a negative code has no quiet hours (``at``).
    """
    out = np.empty(at.size, dtype=np.int64)
    per_row = row_offset.size > 0
    for i in range(at.size):
        if codes[i] < 0:
            out[i] = at[i]
            continue
        offset = row_offset[i] if per_row else fixed_offset[codes[i]]
        tod = (at[i] + offset) % _US_PER_DAY
        quiet = (start <= tod < end) if start <= end else (tod >= start or tod < end)
        out[i] = at[i] + (end - tod) % _US_PER_DAY if quiet else at[i]
    return out


@jit
def group_by_code(rows: I64, row_code: I64, row_time: I64, n_codes: int) -> tuple[I64, I64, I64]:
    """``rows`` grouped by their code ``row_code[row]`` (a stable counting sort, so ascending within a
    code when ``rows`` is), with their times; returns times, rows and each code's bounds."""
    bounds = np.zeros(n_codes + 2, dtype=np.int64)
    for i in range(rows.size):
        bounds[row_code[rows[i]] + 2] += 1
    for c in range(n_codes):
        bounds[c + 2] += bounds[c + 1]
    out_rows = np.empty(rows.size, dtype=np.int64)
    out_time = np.empty(rows.size, dtype=np.int64)
    for i in range(rows.size):
        r = rows[i]
        c = row_code[r] + 1
        p = bounds[c]
        bounds[c] = p + 1
        out_rows[p] = r
        out_time[p] = row_time[r]
    return out_time, out_rows, bounds[: n_codes + 1]


@jit
def mark_present(values: I64, lo: int, present: Mask) -> None:
    """Set ``present[v - lo]`` for every value ``v`` (in place)."""
    for i in range(values.size):
        present[values[i] - lo] = True


@jit
def offset_lookup(values: I64, lo: int, table: I64) -> I64:
    """``table[v - lo]`` for every value ``v``."""
    out = np.empty(values.size, dtype=np.int64)
    for i in range(values.size):
        out[i] = table[values[i] - lo]
    return out
