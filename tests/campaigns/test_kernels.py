"""The compiled kernels and indexed selection against plain, independent computations."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from omnicore.campaigns._compile import Columns, RowSelector, compile_predicate, factorize_text
from omnicore.campaigns._kernels import (
    count_in_groups,
    count_upto_in_groups,
    decide_by_customer,
    first_in_ties,
    group_by_code,
    label_decisions,
    match_sorted,
    order_candidates,
    select_by_code,
)
from omnicore.campaigns._policies import consent_by_code, consent_granted, send_after_quiet_hours
from omnicore.campaigns._rules import AllOf, Compare, IsIn, Not
from omnicore.campaigns._windows import factorize_columns
from omnicore.data import STRING_DTYPE
from omnicore.storage import ConsentRecords
from tests.jit_parity import outputs_with_and_without_jit

WORDS = ["", "a", "browse", "add_to_cart", "x" * 70, "有防晒霜吗", "purchase", "a\u00e9", "cat07"]


@settings(max_examples=30)
@given(st.lists(st.sampled_from(WORDS), min_size=1, max_size=300))
def test_factorize_text_codes_reproduce_the_column(values: list[str]) -> None:
    column = np.array(values, dtype=STRING_DTYPE)
    uniques, codes = factorize_text(column)
    assert uniques[codes].tolist() == values
    assert len(set(uniques.tolist())) == uniques.size == len(set(values))


def test_factorize_text_widens_past_the_sampled_rows() -> None:
    """Longer values after the rows the width is guessed from are not cut (a fixed-width cast would)."""
    for tail in ("y" * 15, "y" * 16, "z" * 40, "w" * 63, "v" * 64, "u" * 90):
        values = ["ab"] * 300 + [tail, "ab" + tail, tail]
        uniques, codes = factorize_text(np.array(values, dtype=STRING_DTYPE))
        assert uniques[codes].tolist() == values
        assert uniques.size == 3


def _first_in_ties_naive(time: list[int], group: list[int], kind: list[int]) -> list[bool]:
    seen: set[tuple[int, int, int]] = set()
    out = []
    for key in zip(time, group, kind, strict=True):
        out.append(key not in seen)
        seen.add(key)
    return out


@settings(max_examples=30)
@given(st.integers(0, 2**32 - 1), st.integers(1, 400), st.integers(1, 50))
def test_first_in_ties_keeps_the_first_of_each_repeat(seed: int, n: int, n_times: int) -> None:
    rng = np.random.default_rng(seed)
    time = np.sort(rng.integers(0, n_times, n)).astype(np.int64)  # long runs of equal times too
    group = rng.integers(0, 6, n).astype(np.int64)
    kind = rng.integers(0, 3, n).astype(np.int64)
    got = first_in_ties(time, group, kind).tolist()
    assert got == _first_in_ties_naive(time.tolist(), group.tolist(), kind.tolist())


def _arbitrate_naive(
    time: list[int],
    eligible: list[bool],
    members: list[list[tuple[int, int, int, int]]],
    history: list[tuple[int, int, int]],
) -> tuple[list[bool], list[int]]:
    """Candidates in order; a membership (key, customer, period, limit) blocks when ``limit`` accepted
    rows of its (key, customer) lie in (t - period, t]."""
    accepted_rows = list(history)  # (key, customer, time)
    accepted, blocking = [], []
    flat = 0
    for c, t in enumerate(time):
        block = -1
        if eligible[c]:
            for m, (key, cust, period, limit) in enumerate(members[c]):
                recent = sum(1 for k, u, s in accepted_rows if k == key and u == cust and t - period < s <= t)
                if recent >= limit:
                    block = flat + m
                    break
            if block < 0:
                accepted_rows.extend((key, cust, t) for key, cust, _, _ in members[c])
        accepted.append(bool(eligible[c] and block < 0))
        blocking.append(block)
        flat += len(members[c])
    return accepted, blocking


def _consent_naive(records: list[tuple[int, int, int, bool]], cust: int, purpose: int, t: int) -> bool:
    """The last record (in list order) of the customer and purpose at or before ``t`` is a grant."""
    state = False
    for u, q, s, granted in sorted(records, key=lambda r: r[2]):  # stable: ties keep list order
        if u == cust and q == purpose and s <= t:
            state = granted
    return state


@settings(max_examples=40)
@given(st.integers(0, 2**32 - 1), st.integers(1, 120), st.booleans())
def test_decide_by_customer_matches_a_naive_greedy_pass(seed: int, n: int, quiet: bool) -> None:
    """Consent then per-customer ring arbitration against a plain look-up and the quadratic greedy
    pass, with a cap table of several rules (limits and periods differing between entries of one key),
    rules needing zero to two consent purposes, history rows and a watermark filter on the cap rows."""
    rng = np.random.default_rng(seed)
    n_rules, n_keys, n_cust, n_purposes = 4, 4, 5, 3
    start, count, key, period, limit = [], [], [], [], []
    for _ in range(n_rules):
        keys = rng.choice(n_keys, rng.integers(0, 4), replace=False)
        start.append(len(key))
        count.append(keys.size)
        key += keys.tolist()
        period += rng.integers(3, 30, keys.size).tolist()
        limit += rng.integers(1, 4, keys.size).tolist()
    purposes = np.full((n_rules, 2), -1, dtype=np.int64)
    for r in range(n_rules):
        chosen = rng.choice(n_purposes, rng.integers(0, 3), replace=False)
        purposes[r, : chosen.size] = chosen
    time = np.sort(rng.integers(100, 200, n)).astype(np.int64)
    rule = rng.integers(0, n_rules, n).astype(np.int64)
    cust = rng.integers(0, n_cust, n).astype(np.int64)
    history = [
        (int(rng.integers(0, n_keys)), int(rng.integers(0, n_cust)), int(rng.integers(80, 101)))
        for _ in range(12)
    ]
    records = [
        (int(rng.integers(0, n_cust)), int(rng.integers(0, n_purposes)), int(rng.integers(90, 200)), bool(b))
        for b in rng.random(25) < 0.7
    ]
    # the kernel's record layout: grouped by customer, in time order (ties in list order)
    by_cust = sorted(range(len(records)), key=lambda i: (records[i][0], records[i][2], i))
    r_start = np.array([sum(1 for r in records if r[0] < u) for u in range(n_cust)], dtype=np.int64)
    r_end = np.array([sum(1 for r in records if r[0] <= u) for u in range(n_cust)], dtype=np.int64)
    quiet_rule = rng.random(n_rules) < 0.5 if quiet else np.zeros(n_rules, dtype=bool)
    zone_of = rng.integers(0, 3, n_cust).astype(np.int64) if quiet else np.zeros(0, dtype=np.int64)
    key_period = np.array(
        [max([p for k, p in zip(key, period, strict=True) if k == j] or [1]) for j in range(n_keys)]
    )
    keep_after = 150 - key_period
    eligible, refused = [], []
    for c in range(n):
        missing = [
            j
            for j, q in enumerate(purposes[rule[c]])
            if q >= 0 and not _consent_naive(records, int(cust[c]), int(q), int(time[c]))
        ]
        refused.append(missing[0] if missing else -1)
        eligible.append(not missing)
    members = [
        [
            (key[e], int(cust[c]), period[e], limit[e])
            for e in range(start[rule[c]], start[rule[c]] + count[rule[c]])
        ]
        for c in range(n)
    ]
    i64 = lambda values: np.array(values, dtype=np.int64)  # noqa: E731
    variant, acc, zone, out_key, out_cust, out_time = decide_by_customer(
        time,
        cust,
        rule,
        n_cust,
        purposes,
        n_purposes,
        r_start,
        r_end,
        i64([records[i][2] for i in by_cust]),
        i64([records[i][1] for i in by_cust]),
        np.array([records[i][3] for i in by_cust], dtype=bool),
        i64(start),
        i64(count),
        i64(key),
        i64(period),
        i64(limit),
        n_keys,
        i64([h[0] for h in history]),
        i64([h[1] for h in history]),
        i64([h[2] for h in history]),
        quiet_rule,
        zone_of,
        keep_after.astype(np.int64),
    )
    want_acc, want_flat = _arbitrate_naive(time.tolist(), eligible, members, history)
    offsets = np.cumsum([0] + [len(m) for m in members])
    want_variant = [
        10 + refused[c] if refused[c] >= 0 else (100 + b - int(offsets[c]) if b >= 0 else 0)
        for c, b in enumerate(want_flat)
    ]
    assert acc.tolist() == want_acc
    assert variant.tolist() == want_variant
    want_zone = [int(zone_of[cust[c]]) if want_acc[c] and quiet_rule[rule[c]] else -1 for c in range(n)]
    assert zone.tolist() == want_zone
    rows = [
        (k, u, int(time[c]))
        for c in range(n)
        if want_acc[c]
        for k, u, _, _ in members[c]
        if time[c] > keep_after[k]
    ]
    assert list(zip(out_key.tolist(), out_cust.tolist(), out_time.tolist(), strict=True)) == rows


@settings(max_examples=30)
@given(st.integers(0, 2**32 - 1), st.integers(1, 300), st.integers(0, 12), st.integers(0, 8))
def test_order_candidates_sorts_events_by_row_and_merges_timers(
    seed: int, n_rows: int, n_runs: int, n_timers: int
) -> None:
    """Runs of ascending rows (one per rule, in rank order) come out as a stable sort by row, over
    row counts needing one and several radix passes; each timer goes after the events of equal or
    earlier time (the plain definition: ``searchsorted(..., side="right")`` and ``np.insert``)."""
    rng = np.random.default_rng(seed)
    n_rows = n_rows * int(rng.choice([1, 20, 30_000]))
    runs = [
        np.sort(rng.choice(n_rows, int(rng.integers(0, min(n_rows, 50) + 1)), replace=False))
        for _ in range(n_runs)
    ]
    rules = rng.permutation(40)[:n_runs].astype(np.int64)
    rows = np.concatenate([np.zeros(0, np.int64), *runs]).astype(np.int64)
    bounds = np.concatenate([[0], np.cumsum([r.size for r in runs])]).astype(np.int64)
    code = rng.integers(0, 9, n_rows).astype(np.int64)
    time = np.sort(rng.integers(0, 200, n_rows)).astype(np.int64)
    t_time = np.sort(rng.integers(0, 220, n_timers)).astype(np.int64)
    t_rule, t_code, t_start = (rng.integers(0, 40, n_timers).astype(np.int64) for _ in range(3))
    got = order_candidates(rows, bounds, rules, n_rows, code, time, t_rule, t_code, t_time, t_start)
    pairs = sorted(
        ((int(r), k) for k, run in enumerate(runs) for r in run), key=lambda pair: pair[0]
    )  # sorted() is stable: equal rows keep run order
    e_row = np.array([r for r, _ in pairs], dtype=np.int64)
    e_time = time[e_row]
    at = np.searchsorted(e_time, t_time, side="right")
    assert got[0].tolist() == np.insert(e_row, at, -1).tolist()
    assert got[1].tolist() == np.insert(np.array([rules[k] for _, k in pairs], np.int64), at, t_rule).tolist()
    assert got[2].tolist() == np.insert(code[e_row], at, t_code).tolist()
    assert got[3].tolist() == np.insert(e_time, at, t_time).tolist()
    assert got[4].tolist() == np.insert(e_time, at, t_start).tolist()
    assert got[5].tolist() == (at + np.arange(n_timers)).tolist()


@settings(max_examples=30)
@given(st.integers(0, 2**32 - 1), st.integers(1, 200))
def test_label_decisions_matches_the_plain_rules(seed: int, n: int) -> None:
    """Statuses and reason codes against the plain definitions: variant 2 held out, 1 deferred, 0 fired,
    ``10 + k`` consent, ``100 + m`` the cap's own status; reason codes rank the keys ``rule * 1000 +
    variant`` present."""
    rng = np.random.default_rng(seed)
    n_rules, k_slots, m_slots = 5, 2, 3
    rule = rng.integers(0, n_rules, n).astype(np.int64)
    cap_count = rng.integers(0, m_slots + 1, n_rules)
    cap_start = np.concatenate([[0], np.cumsum(cap_count)[:-1]]).astype(np.int64)
    cap_status = rng.integers(4, 8, int(cap_count.sum()) + 1).astype(np.int32)
    accepted = rng.random(n) < 0.6
    variant = np.zeros(n, dtype=np.int64)
    for c in np.flatnonzero(~accepted):
        if cap_count[rule[c]] and rng.random() < 0.5:
            variant[c] = 100 + int(rng.integers(0, cap_count[rule[c]]))
        else:
            variant[c] = 10 + int(rng.integers(0, k_slots))
    held = rng.random(n) < 0.2
    time = rng.integers(0, 100, n).astype(np.int64)
    send = time + rng.integers(0, 2, n) * rng.integers(1, 50, n)  # some sends later than the decision
    status_of = np.array([0, 1, 2, 3], dtype=np.int32)
    status, reason, keys = label_decisions(
        rule, variant, accepted, held, time, send, n_rules, k_slots, m_slots, cap_start, cap_status, status_of
    )
    final = np.where(accepted, np.where(held, 2, np.where(send > time, 1, 0)), variant)
    want_status = [
        int(cap_status[cap_start[rule[c]] + final[c] - 100])
        if final[c] >= 100
        else (3 if final[c] >= 10 else int(final[c]))
        for c in range(n)
    ]
    assert status.tolist() == want_status
    uniq = sorted(set((rule * 1000 + final).tolist()))
    assert keys.tolist() == uniq
    assert reason.tolist() == [uniq.index(int(k)) for k in rule * 1000 + final]


@settings(max_examples=40)
@given(st.integers(0, 2**32 - 1), st.integers(0, 200), st.booleans(), st.booleans())
def test_count_in_groups_counts_like_a_plain_filter(seed: int, n: int, lo_in: bool, hi_in: bool) -> None:
    rng = np.random.default_rng(seed)
    group = rng.integers(0, 7, n).astype(np.int64)
    time = rng.integers(0, 30, n).astype(np.int64)
    order = np.lexsort((time, group))
    bounds = np.concatenate([[0], np.cumsum(np.bincount(group, minlength=7))]).astype(np.int64)
    q_group = rng.integers(0, 7, 50).astype(np.int64)
    q_lo = rng.integers(-5, 30, 50).astype(np.int64)
    q_hi = q_lo + rng.integers(-3, 15, 50)
    got = count_in_groups(bounds, time[order], q_group, q_lo, q_hi, lo_in, hi_in)
    for q in range(50):
        mine = time[group == q_group[q]]
        above = mine >= q_lo[q] if lo_in else mine > q_lo[q]
        below = mine <= q_hi[q] if hi_in else mine < q_hi[q]
        assert got[q] == int((above & below).sum())


@settings(max_examples=40)
@given(st.integers(0, 2**32 - 1), st.integers(0, 200))
def test_count_upto_in_groups_counts_like_a_plain_filter(seed: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    time = np.sort(rng.integers(0, 40, n)).astype(np.int64)  # rows in time order
    group = rng.integers(0, 5, n).astype(np.int64)
    order = np.argsort(group, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(np.bincount(group, minlength=5))]).astype(np.int64)
    q_group = rng.integers(0, 5, 60).astype(np.int64)
    q_row = rng.integers(-1, n + 1, 60).astype(np.int64)
    q_lo = rng.integers(-5, 45, 60).astype(np.int64)
    got = count_upto_in_groups(bounds, order.astype(np.int64), time[order], q_group, q_row, q_lo)
    rows = np.arange(n)
    for q in range(60):
        want = (group == q_group[q]) & (rows <= q_row[q]) & (time >= q_lo[q])
        assert got[q] == int(want.sum())


_OPS = {1: np.greater, 2: np.greater_equal, 3: np.less, 4: np.less_equal, 5: np.equal, 6: np.not_equal}


@settings(max_examples=40)
@given(st.integers(0, 2**32 - 1), st.integers(0, 300))
def test_select_by_code_matches_numpy_per_rule(seed: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    n_codes, n_rules = 6, 9
    codes = rng.integers(-1, n_codes, n).astype(np.intp)  # -1: a value no rule wants
    values = np.where(rng.random(n) < 0.1, np.nan, rng.integers(0, 10, n).astype(np.float64))
    rule_code = rng.integers(0, n_codes, n_rules)
    op = rng.integers(0, 7, n_rules).astype(np.int64)
    threshold = rng.integers(0, 10, n_rules).astype(np.float64)
    order = np.argsort(rule_code, kind="stable")
    code_bounds = np.concatenate([[0], np.cumsum(np.bincount(rule_code, minlength=n_codes))]).astype(np.int64)
    # one more rule wanting no code present (its value is not in the column): it matches nothing
    op, threshold = np.append(op, 0), np.append(threshold, 0.0)
    rows, bounds = select_by_code(
        codes, values, code_bounds, order.astype(np.int64), op, threshold, n_rules + 1
    )
    for j in range(n_rules):
        hit = codes == rule_code[j]
        if op[j]:
            hit &= _OPS[int(op[j])](values, threshold[j])
        assert rows[bounds[j] : bounds[j + 1]].tolist() == np.flatnonzero(hit).tolist()
    assert bounds[n_rules] == bounds[n_rules + 1] == rows.size


@settings(max_examples=30)
@given(st.integers(0, 2**32 - 1), st.booleans(), st.sampled_from(["int", "text", "mixed"]))
def test_consent_by_code_matches_the_ledger_lookup(seed: int, shuffled: bool, ids_kind: str) -> None:
    """Records by customer code, read as the last one at or before a time, give :func:`consent_granted`,
    for integer ids (the merge), text ids and integer customers against text subjects (joint coding)."""
    rng = np.random.default_rng(seed)
    m = 60
    times = np.sort(rng.integers(0, 50, m))
    order = rng.permutation(m) if shuffled else np.arange(m)  # a ledger out of time order too
    subjects = rng.integers(0, 12, m)[order]
    ledger = ConsentRecords(
        subject_id=subjects if ids_kind == "int" else subjects.astype(str),
        purpose=rng.choice(["marketing", "sms", "push"], m)[order],
        granted=(rng.random(m) < 0.6)[order],
        recorded_at=(np.datetime64("2024-01-01", "us") + times.astype("timedelta64[h]"))[order],
        source=np.full(m, "app"),
    )
    ids = np.arange(0, 15, dtype=np.int64)  # sorted distinct ids, some without any record
    if ids_kind == "text":
        ids = np.sort(ids.astype(str)).astype(STRING_DTYPE)
    code = rng.integers(0, ids.size, 80).astype(np.int64)
    at = (np.datetime64("2024-01-01", "us") + rng.integers(0, 55, 80).astype("timedelta64[h]")).view(np.int64)
    names = ("marketing", "sms")
    start, end, rec_time, rec_purpose, rec_granted = consent_by_code(ledger, names, ids)
    for q, purpose in enumerate(names):
        got = []
        for c, t in zip(code.tolist(), at.tolist(), strict=True):
            state = False
            for r in range(int(start[c]), int(end[c])):
                assert r == start[c] or rec_time[r] >= rec_time[r - 1]  # time order within a customer
                if rec_purpose[r] == q and rec_time[r] <= t:
                    state = bool(rec_granted[r])
            got.append(state)
        assert got == consent_granted(ledger, purpose, ids[code], at).tolist()
    assert consent_by_code(None, names, ids)[2].size == 0


@settings(max_examples=30)
@given(st.integers(0, 2**32 - 1), st.integers(0, 200), st.integers(1, 30))
def test_group_by_code_is_a_stable_grouping(seed: int, n: int, n_codes: int) -> None:
    rng = np.random.default_rng(seed)
    n_rows = n + 5
    rows = np.sort(rng.choice(n_rows, n, replace=False)).astype(np.int64)
    code = rng.integers(0, n_codes, n_rows).astype(np.int64)
    time = np.sort(rng.integers(0, 99, n_rows)).astype(np.int64)
    got_time, got_rows, bounds = group_by_code(rows, code, time, n_codes)
    for c in range(n_codes):
        mine = rows[code[rows] == c]
        assert got_rows[bounds[c] : bounds[c + 1]].tolist() == mine.tolist()
        assert got_time[bounds[c] : bounds[c + 1]].tolist() == time[mine].tolist()
    assert bounds.size == n_codes + 1
    assert bounds[-1] == n


@settings(max_examples=30)
@given(st.integers(0, 2**32 - 1), st.sampled_from([10, 10**4, 10**15]), st.integers(0, 4))
def test_factorize_columns_codes_the_union_in_sorted_order(seed: int, span: int, n_empty: int) -> None:
    """Short integer ranges (direct addressing), long ones and text give the codes of a plain
    ``np.unique`` of the union."""
    rng = np.random.default_rng(seed)
    columns = [rng.integers(-span, span, int(rng.integers(1, 60))) for _ in range(3)]
    columns += [np.zeros(0, dtype=np.int64)] * n_empty
    for cols in (columns, [c.astype(str).astype(STRING_DTYPE) for c in columns]):
        uniques, codes = factorize_columns(*cols)
        want, inverse = np.unique(np.concatenate(cols), return_inverse=True)
        assert uniques is not None
        assert uniques.tolist() == want.tolist()
        assert np.concatenate(codes).tolist() == inverse.tolist()
        assert [c.size for c in codes] == [c.size for c in cols]
    assert factorize_columns(np.zeros(0, np.int64))[0] is None


def test_match_sorted_gives_the_equal_ranges() -> None:
    ids = np.array([2, 5, 7, 9], dtype=np.int64)
    values = np.array([1, 2, 2, 7, 8, 9, 9, 9, 12], dtype=np.int64)
    start, end = match_sorted(ids, values)
    assert start.tolist() == np.searchsorted(values, ids, side="left").tolist()
    assert end.tolist() == np.searchsorted(values, ids, side="right").tolist()


CATS = np.array(["baby", "beauty", "food", ""], dtype=STRING_DTYPE)


@settings(max_examples=30)
@given(st.integers(0, 2**32 - 1), st.integers(0, 5))
def test_indexed_selection_equals_the_plain_mask(seed: int, which: int) -> None:
    rng = np.random.default_rng(seed)
    n = 300
    columns = {
        "category": CATS[rng.integers(0, CATS.size, n)],
        "price": np.round(rng.gamma(2.0, 40.0, n), 1),
    }
    predicate = [
        Compare("category", "eq", "baby"),
        AllOf((Compare("price", "gt", 50.0), Compare("category", "eq", "food"))),
        AllOf((Compare("price", "le", 80.0), Compare("category", "eq", ""), IsIn("category", ("", "x")))),
        Compare("price", "eq", "baby"),  # text equality on a number column: nothing
        AllOf((Compare("missing", "eq", "baby"), Compare("price", "gt", 1.0))),
        AllOf((Not(Compare("category", "eq", "baby")), Compare("category", "eq", "beauty"))),
    ][which]
    view_rows = np.flatnonzero(rng.random(n) < 0.4)
    views = [
        lambda: Columns(columns, n),
        lambda: Columns(columns, n).select(view_rows),
        lambda: Columns(columns, n).select(view_rows).select(np.arange(0, view_rows.size, 2)),
    ]
    for view in views:  # fresh views: no cache shared between the two evaluations
        want = np.flatnonzero(compile_predicate(predicate)(view()))
        assert RowSelector(predicate)(view()).tolist() == want.tolist()


def test_kernels_give_the_same_results_without_jit() -> None:
    """NUMBA_DISABLE_JIT=1 runs the kernels as Python: same results (a small case, in a subprocess)."""
    code = (
        "import numpy as np\n"
        "from omnicore.campaigns._kernels import decide_by_customer, factorize_words,"
        " first_in_ties, group_rows, select_by_code, count_in_groups, count_upto_in_groups,"
        " order_candidates, label_decisions, match_sorted\n"
        "rng = np.random.default_rng(3)\n"
        "t = np.sort(rng.integers(0, 20, 200)).astype(np.int64)\n"
        "g = rng.integers(0, 4, 200).astype(np.int64)\n"
        "print(first_in_ties(t, g, g % 2).tolist())\n"
        "print([a.tolist() for a in factorize_words(rng.integers(0, 9, (50, 2)).astype(np.uint64))])\n"
        "print([a.tolist() for a in group_rows(g, 4)])\n"
        "z = np.zeros(0, np.int64); k = np.array([0, 1, 2], np.int64)\n"
        "p = np.array([[0, -1], [1, 0]], np.int64); rs = np.array([0, 3, 5, 9], np.int64)\n"
        "out = decide_by_customer(t, g, g % 2, 4, p, 2, rs, np.array([3, 5, 9, 12], np.int64),"
        " np.sort(rng.integers(0, 20, 12)).astype(np.int64), rng.integers(0, 2, 12).astype(np.int64),"
        " rng.random(12) < 0.8, np.array([0, 1]), np.array([1, 2]), k, np.array([4, 9, 30]),"
        " np.array([1, 2, 3]), 3, z, z, z, np.array([True, False]), np.array([2, 0, 1, 1]),"
        " np.array([5, 0, 9]))\n"
        "print([a.tolist() for a in out])\n"
        "rows = np.concatenate([np.sort(rng.choice(3000, 40, replace=False)) for _ in range(3)])\n"
        "ordered = order_candidates(rows.astype(np.int64), np.array([0, 40, 80, 120]), k, 3000,"
        " rng.integers(0, 9, 3000).astype(np.int64), np.arange(3000, dtype=np.int64), k, k,"
        " np.array([5, 900, 900]), k)\n"
        "print([a.tolist() for a in ordered])\n"
        "v = np.where(g == 3, 100, np.where(g == 2, 10, 0))\n"
        "print([a.tolist() for a in label_decisions(g % 2, v, g < 2, g == 0, t, t + (t > 9), 2, 1, 1,"
        " np.array([0, 1]), np.array([5, 6], np.int32), np.arange(4, dtype=np.int32))])\n"
        "print([a.tolist() for a in match_sorted(np.array([1, 4]), np.array([0, 1, 1, 4, 6]))])\n"
        "from omnicore.campaigns._kernels import hour_span_by_code, quiet_send_at, group_by_code\n"
        "print([a.tolist() for a in group_by_code(np.arange(0, 200, 3), g, t, 4)])\n"
        "from omnicore.campaigns._windows import factorize_columns\n"
        "u, cs = factorize_columns(t - 7, g * 3, np.zeros(0, np.int64))\n"
        "print(u.tolist(), [c.tolist() for c in cs])\n"
        "at = t * 3_600_000_000 - 5 * 86_400_000_000\n"
        "print([a.tolist() for a in hour_span_by_code(at, g, 4)])\n"
        "print(quiet_send_at(at, g, np.array([0, 3_600_000_000, -7_200_000_000, 0]), z, 22 * 3_600_000_000,"
        " 8 * 3_600_000_000).tolist())\n"
        "v = rng.integers(0, 9, 200).astype(np.float64)\n"
        "print([a.tolist() for a in select_by_code(g, v, np.array([0, 1, 2, 2, 3]), k,"
        " np.array([1, 0, 6]), np.array([4.0, 0.0, 2.0]), 3)])\n"
        "o = np.argsort(g, kind='stable'); b = np.concatenate([[0], np.cumsum(np.bincount(g))])\n"
        "print(count_in_groups(b, t[o], g, t - 3, t, False, True).tolist())\n"
        "print(count_upto_in_groups(b, o.astype(np.int64), t[o], g, np.arange(200), t - 3).tolist())\n"
    )
    compiled, plain = outputs_with_and_without_jit(code)
    assert compiled == plain
    assert compiled.count("\n") == 14  # one line per kernel call above


def _send_after_quiet_hours_plain(
    at: np.ndarray, zones: list[str], start_hour: float, end_hour: float
) -> list[int]:
    """The quiet-hours rule written out per zone: a zone whose noon offsets agree on every day of its
    span (the days present, for spans over a year longer than its row count) takes that one offset,
    else each row its hour's offset; then wait until ``end`` when the local time of day is quiet."""
    from omnicore.campaigns._policies import _offset_us

    hour_us, day_us = 3_600_000_000, 86_400_000_000
    offsets = np.zeros(at.size, dtype=np.int64)
    for zone in set(zones):
        rows = np.array([i for i, z in enumerate(zones) if z == zone])
        hours = at[rows] // hour_us
        first_day, last_day = int(hours.min()) // 24, int(hours.max()) // 24
        long_span = last_day - first_day >= max(rows.size, 366)
        days = sorted({int(h) // 24 for h in hours}) if long_span else range(first_day, last_day + 1)
        noon = {_offset_us(zone, d * 24 + 12) for d in days}
        for i, h in zip(rows.tolist(), hours.tolist(), strict=True):
            offsets[i] = next(iter(noon)) if len(noon) == 1 else _offset_us(zone, int(h))
    start, end = round(start_hour * hour_us), round(end_hour * hour_us)
    out = []
    for t, off in zip(at.tolist(), offsets.tolist(), strict=True):
        tod = (t + off) % day_us
        quiet = start <= tod < end if start <= end else (tod >= start or tod < end)
        out.append(t + (end - tod) % day_us if quiet else t)
    return out


@settings(max_examples=30, deadline=None)
@given(
    st.integers(0, 2**32 - 1), st.sampled_from([(22.0, 8.0), (9.0, 17.5), (21.5, 7.25)]), st.integers(0, 2)
)
def test_send_after_quiet_hours_matches_the_plain_rule(
    seed: int, hours: tuple[float, float], span: int
) -> None:
    """Fixed-offset zones, DST changes inside the span (London, New York in March) and spans of years."""
    rng = np.random.default_rng(seed)
    n = 120
    base = np.datetime64(["2024-06-01", "2024-03-05", "2021-01-01"][span], "us").view(np.int64)
    length_us = [3, 40, 1200][span] * 86_400_000_000
    at = np.sort(base + rng.integers(0, length_us, n)).astype(np.int64)
    names = ["Asia/Shanghai", "Europe/London", "America/New_York", "UTC", "Mars/Base"]
    zones = [names[i] for i in rng.integers(0, len(names), n)]
    uniques, codes = factorize_text(np.array(zones, dtype=STRING_DTYPE))
    got = send_after_quiet_hours(at, uniques, codes, start_hour=hours[0], end_hour=hours[1])
    assert got.tolist() == _send_after_quiet_hours_plain(at, zones, *hours)
    # rows with a negative code have no quiet hours, and do not change the others' offsets
    keep = rng.random(n) < 0.7
    masked = np.where(keep, codes, -1)
    got = send_after_quiet_hours(at, uniques, masked, start_hour=hours[0], end_hour=hours[1])
    want = np.array(at)
    want[keep] = _send_after_quiet_hours_plain(
        at[keep], [z for z, k in zip(zones, keep, strict=True) if k], *hours
    )
    assert got.tolist() == want.tolist()
