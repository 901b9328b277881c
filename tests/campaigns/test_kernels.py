"""The compiled kernels and indexed selection against plain, independent computations."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from omnicore.campaigns._compile import Columns, RowSelector, compile_predicate, factorize_text
from omnicore.campaigns._kernels import (
    arbitrate_by_customer,
    count_in_groups,
    count_upto_in_groups,
    first_in_ties,
    pair_codes,
    select_by_code,
)
from omnicore.campaigns._policies import arbitrate, consent_granted, granted_by_code
from omnicore.campaigns._rules import AllOf, Compare, IsIn, Not
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


@settings(max_examples=40)
@given(st.integers(0, 2**32 - 1), st.integers(1, 120))
def test_arbitrate_matches_a_naive_greedy_pass(seed: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    time = np.sort(rng.integers(100, 200, n)).astype(np.int64)
    eligible = rng.random(n) < 0.85
    members = []
    for _ in range(n):
        keys = rng.choice(4, rng.integers(0, 4), replace=False)
        cust = int(rng.integers(0, 5))
        members.append([(int(k), cust, int(5 + 7 * k), int(1 + k % 3)) for k in keys])
    history = [
        (int(rng.integers(0, 4)), int(rng.integers(0, 5)), int(rng.integers(80, 100))) for _ in range(10)
    ]
    flat = [m for ms in members for m in ms]
    cand = np.repeat(np.arange(n), [len(ms) for ms in members]).astype(np.int64)
    col = lambda i: np.array([m[i] for m in flat], dtype=np.int64)  # noqa: E731
    hcol = lambda i: np.array([h[i] for h in history], dtype=np.int64)  # noqa: E731
    # customer ids far from 0 exercise the re-coding of large values
    acc, block = arbitrate(
        time, eligible, cand, col(0), col(1) * 10**12, col(2), col(3), hcol(0), hcol(1) * 10**12, hcol(2)
    )
    want_acc, want_block = _arbitrate_naive(time.tolist(), eligible.tolist(), members, history)
    assert acc.tolist() == want_acc
    assert block.tolist() == want_block


@settings(max_examples=40)
@given(st.integers(0, 2**32 - 1), st.integers(1, 120))
def test_arbitrate_by_customer_matches_a_naive_greedy_pass(seed: int, n: int) -> None:
    """The per-customer ring arbitration against the quadratic greedy pass, with a cap table of
    several rules (limits and periods differing between entries of one key) and history rows."""
    rng = np.random.default_rng(seed)
    n_rules, n_keys, n_cust = 4, 4, 5
    start, count, key, period, limit = [], [], [], [], []
    for _ in range(n_rules):
        keys = rng.choice(n_keys, rng.integers(0, 4), replace=False)
        start.append(len(key))
        count.append(keys.size)
        key += keys.tolist()
        period += rng.integers(3, 30, keys.size).tolist()
        limit += rng.integers(1, 4, keys.size).tolist()
    time = np.sort(rng.integers(100, 200, n)).astype(np.int64)
    eligible = rng.random(n) < 0.85
    rule = rng.integers(0, n_rules, n).astype(np.int64)
    cust = rng.integers(0, n_cust, n).astype(np.int64)
    history = [
        (int(rng.integers(0, n_keys)), int(rng.integers(0, n_cust)), int(rng.integers(80, 101)))
        for _ in range(12)
    ]
    members = [
        [
            (key[e], int(cust[c]), period[e], limit[e])
            for e in range(start[rule[c]], start[rule[c]] + count[rule[c]])
        ]
        for c in range(n)
    ]
    i64 = lambda values: np.array(values, dtype=np.int64)  # noqa: E731
    acc, block, out_key, out_cust, out_time = arbitrate_by_customer(
        time,
        eligible,
        cust,
        rule,
        i64(start),
        i64(count),
        i64(key),
        i64(period),
        i64(limit),
        n_keys,
        n_cust,
        i64([h[0] for h in history]),
        i64([h[1] for h in history]),
        i64([h[2] for h in history]),
    )
    want_acc, want_flat = _arbitrate_naive(time.tolist(), eligible.tolist(), members, history)
    offsets = np.cumsum([0] + [len(m) for m in members])
    want_block = [b - int(offsets[c]) if b >= 0 else -1 for c, b in enumerate(want_flat)]
    assert acc.tolist() == want_acc
    assert block.tolist() == want_block
    rows = [(k, u, int(time[c])) for c in range(n) if want_acc[c] for k, u, _, _ in members[c]]
    assert list(zip(out_key.tolist(), out_cust.tolist(), out_time.tolist(), strict=True)) == rows


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
    rows, bounds = select_by_code(codes, values, code_bounds, order.astype(np.int64), op, threshold, n_rules)
    for j in range(n_rules):
        hit = codes == rule_code[j]
        if op[j]:
            hit &= _OPS[int(op[j])](values, threshold[j])
        assert rows[bounds[j] : bounds[j + 1]].tolist() == np.flatnonzero(hit).tolist()


@settings(max_examples=30)
@given(st.integers(0, 2**32 - 1))
def test_pair_codes_are_equal_exactly_for_equal_pairs(seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 5, 200).astype(np.int64)
    b = rng.integers(0, 9, 200).astype(np.int64)
    codes, n = pair_codes(a, b, 5, 9)
    pairs = list(zip(a.tolist(), b.tolist(), strict=True))
    assert n == len(set(pairs))
    for i in range(0, 200, 7):
        for j in range(200):
            assert (codes[i] == codes[j]) == (pairs[i] == pairs[j])


@settings(max_examples=30)
@given(st.integers(0, 2**32 - 1), st.booleans())
def test_consent_by_code_matches_the_ledger_lookup(seed: int, shuffled: bool) -> None:
    rng = np.random.default_rng(seed)
    m = 60
    times = np.sort(rng.integers(0, 50, m))
    order = rng.permutation(m) if shuffled else np.arange(m)  # a ledger out of time order too
    ledger = ConsentRecords(
        subject_id=rng.integers(0, 12, m)[order],
        purpose=rng.choice(["marketing", "sms"], m)[order],
        granted=(rng.random(m) < 0.6)[order],
        recorded_at=(np.datetime64("2024-01-01", "us") + times.astype("timedelta64[h]"))[order],
        source=np.full(m, "app"),
    )
    ids = np.arange(0, 15, dtype=np.int64)  # sorted distinct ids, some without any record
    code = rng.integers(0, ids.size, 80).astype(np.int64)
    at = (np.datetime64("2024-01-01", "us") + rng.integers(0, 55, 80).astype("timedelta64[h]")).view(np.int64)
    for purpose in ("marketing", "sms", "push"):
        got = granted_by_code(ledger, purpose, ids, code, at)
        assert got.tolist() == consent_granted(ledger, purpose, ids[code], at).tolist()


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
        "from omnicore.campaigns._kernels import arbitrate_by_customer, arbitrate_caps, factorize_words,"
        " first_in_ties, group_rows, select_by_code, count_in_groups, count_upto_in_groups\n"
        "rng = np.random.default_rng(3)\n"
        "t = np.sort(rng.integers(0, 20, 200)).astype(np.int64)\n"
        "g = rng.integers(0, 4, 200).astype(np.int64)\n"
        "print(first_in_ties(t, g, g % 2).tolist())\n"
        "print([a.tolist() for a in factorize_words(rng.integers(0, 9, (50, 2)).astype(np.uint64))])\n"
        "print([a.tolist() for a in group_rows(g, 4)])\n"
        "cnt = np.ones(200, np.int64)\n"
        "print([a.tolist() for a in arbitrate_caps(t, np.ones(200, bool), np.arange(200), cnt, g,"
        " np.full(200, 5), np.full(200, 2), np.bincount(g), np.zeros(0, np.int64), np.zeros(0, np.int64))])\n"
        "z = np.zeros(0, np.int64); k = np.array([0, 1, 2], np.int64)\n"
        "print([a.tolist() for a in arbitrate_by_customer(t, np.ones(200, bool), g, g % 2, np.array([0, 1]),"
        " np.array([1, 2]), k, np.array([4, 9, 30]), np.array([1, 2, 3]), 3, 4, z, z, z)])\n"
        "v = rng.integers(0, 9, 200).astype(np.float64)\n"
        "print([a.tolist() for a in select_by_code(g, v, np.array([0, 1, 2, 2, 3]), k,"
        " np.array([1, 0, 6]), np.array([4.0, 0.0, 2.0]), 3)])\n"
        "o = np.argsort(g, kind='stable'); b = np.concatenate([[0], np.cumsum(np.bincount(g))])\n"
        "print(count_in_groups(b, t[o], g, t - 3, t, False, True).tolist())\n"
        "print(count_upto_in_groups(b, o.astype(np.int64), t[o], g, np.arange(200), t - 3).tolist())\n"
    )
    compiled, plain = outputs_with_and_without_jit(code)
    assert compiled == plain
    assert compiled.count("\n") == 8
