import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from omnicore import ConvergenceError, ValidationError
from omnicore.data import IdentifierRecords
from omnicore.identity import (
    BlockingRule,
    Comparison,
    Matcher,
    block,
    compare,
    fit_matcher,
    match_records,
    predict_matches,
    resolve,
    train_from_labels,
)

FIRST = ["wei", "li", "jun", "ming", "hua", "xin", "yan", "lei", "jing", "fang", "tao", "ping", "hong", "bin"]
LAST = [
    "wang",
    "zhang",
    "liu",
    "chen",
    "yang",
    "zhao",
    "huang",
    "zhou",
    "wu",
    "xu",
    "sun",
    "hu",
    "zhu",
    "gao",
]


def _typo(rng, s):
    if len(s) < 3 or rng.random() < 0.5:
        return s
    k = int(rng.integers(0, len(s) - 1))
    return s[:k] + s[k + 1] + s[k] + s[k + 2 :]


def forms(n, seed):
    """Two sign-up tables; row k of b is a noisy copy of row k of a for the first 70% of rows."""
    rng = np.random.default_rng(seed)
    first = [FIRST[i] + FIRST[j] for i, j in rng.integers(0, len(FIRST), (n, 2))]
    last = [LAST[i] for i in rng.integers(0, len(LAST), n)]
    dob = [
        f"{y}{m:02d}{d:02d}"
        for y, m, d in zip(
            rng.integers(1950, 2005, n), rng.integers(1, 13, n), rng.integers(1, 29, n), strict=True
        )
    ]
    post = [f"{p}" for p in rng.integers(100000, 100400, n)]
    phone4 = [f"{p}" for p in rng.integers(1000, 9999, n)]
    a = {
        "first": np.array(first, dtype=object),
        "last": np.array(last, dtype=object),
        "dob": np.array(dob, dtype=object),
        "postcode": np.array(post, dtype=object),
        "phone4": np.array(phone4, dtype=object),
    }
    n_dup = int(0.7 * n)
    b = {k: v.copy() for k, v in a.items()}
    for k in range(n):
        if k >= n_dup:  # a different person
            b["first"][k] = FIRST[int(rng.integers(0, len(FIRST)))] + FIRST[int(rng.integers(0, len(FIRST)))]
            b["last"][k] = LAST[int(rng.integers(0, len(LAST)))]
            b["dob"][k] = f"{int(rng.integers(1950, 2005))}0101"
            b["postcode"][k] = str(int(rng.integers(100000, 100400)))
            b["phone4"][k] = str(int(rng.integers(1000, 9999)))
            continue
        b["first"][k] = _typo(rng, b["first"][k])
        if rng.random() < 0.1:
            b["dob"][k] = b["dob"][k][:4] + b["dob"][k][6:8] + b["dob"][k][4:6]
        if rng.random() < 0.1:
            b["postcode"][k] = None
    return a, b, n_dup


MATCHER = Matcher(
    blocking=[BlockingRule("last"), BlockingRule("dob"), BlockingRule("postcode")],
    comparisons=[
        Comparison(field="first", kind="jaro_winkler", thresholds=(0.92, 0.8), term_frequency=True),
        Comparison(field="last", kind="exact", term_frequency=True),
        Comparison(field="dob", kind="date", thresholds=(1, 2), days=365),
        Comparison(field="postcode", kind="levenshtein", thresholds=(1,)),
        Comparison(field="phone4", kind="levenshtein", thresholds=(1,)),
    ],
)


def test_block_union_without_duplicates_dedupe_and_link():
    t = {"a": ["x", "x", "y", "x", ""], "b": ["1", "2", "1", "1", "1"]}
    i, j = block(t, rules=[BlockingRule("a"), BlockingRule("b")])
    brute = {
        (p, q)
        for p in range(5)
        for q in range(p + 1, 5)
        if (t["a"][p] and t["a"][p] == t["a"][q]) or (t["b"][p] == t["b"][q])
    }
    assert set(zip(i.tolist(), j.tolist(), strict=True)) == brute
    assert len(set(zip(i.tolist(), j.tolist(), strict=True))) == i.size
    r = {"a": ["x", "z"], "b": ["9", "1"]}
    i, j = block(t, r, rules=[BlockingRule("a"), BlockingRule("b")])
    brute = {
        (p, q)
        for p in range(5)
        for q in range(2)
        if (t["a"][p] and t["a"][p] == r["a"][q]) or (t["b"][p] == r["b"][q])
    }
    assert set(zip(i.tolist(), j.tolist(), strict=True)) == brute
    with pytest.raises(ValidationError):
        block(t, rules=[BlockingRule("missing")])


def test_comparison_levels():
    t = {
        "d": ["19800312", "19801203", "19800313", "19800312", "", "19790312"],
        "n": ["1", "2", "1.5", "10", "", "3"],
    }
    c = Comparison(field="d", kind="date", thresholds=(1,), days=400)
    g = compare(t, None, np.array([0, 0, 0, 0, 0]), np.array([1, 2, 3, 4, 5]), [c]).ravel().tolist()
    # transposed, one digit off, exact, null, within 400 days
    assert g == [2, 3, 1, 0, 4]
    assert c.level_names()[g[0]] == "day/month transposed"
    num = Comparison(field="n", kind="numeric", thresholds=(0.5, 2))
    g = compare(t, None, np.array([0, 0, 0, 0]), np.array([2, 1, 3, 4]), [num]).ravel().tolist()
    assert g == [2, 3, 4, 0]
    with pytest.raises(ValidationError):
        Comparison(field="x", kind="jaro_winkler", thresholds=(0.8, 0.9))


def _f1(i, j, n_dup):
    pred = set(zip(i.tolist(), j.tolist(), strict=True))
    true = {(k, k) for k in range(n_dup)}
    tp = len(pred & true)
    p, r = tp / max(len(pred), 1), tp / len(true)
    return 2 * p * r / (p + r) if p + r else 0.0


def test_unsupervised_em_links_noisy_copies():
    a, b, n_dup = forms(600, seed=1)
    hits = match_records(a, b, matcher=MATCHER, n_random_pairs=50_000, one_to_one=True)
    assert hits.model.converged
    assert _f1(hits.left_index, hits.right_index, n_dup) > 0.97
    # blocking fields are compared too: the non-match class is renormalised to the candidate pairs,
    # so EM does not collapse into "every candidate is a match"
    i, _ = block(a, b, rules=MATCHER.blocking)
    assert 0.5 * n_dup / i.size < hits.model.lambda_ < 2 * n_dup / i.size
    assert 0 < hits.model.candidate_rate < 1
    # the exact level carries positive weight, "else" negative
    w = hits.model.level_weights()[0]
    assert w[1] > 0 > w[-1]
    # one-to-one: no record twice
    assert np.unique(hits.left_index).size == len(hits) == np.unique(hits.right_index).size
    # explanation adds up to the weight
    k = 0
    parts = hits.explain(k)
    assert parts[0]["field"] == "(prior)"
    assert np.isclose(sum(p["weight"] for p in parts), hits.weight[k])
    # fit + predict separately gives the same scores
    model = fit_matcher(a, b, matcher=MATCHER, n_random_pairs=50_000)
    again = predict_matches(model, a, b, threshold=0.5, one_to_one=True)
    assert np.array_equal(again.left_index, hits.left_index)


def test_labels_and_dedupe():
    a, b, n_dup = forms(300, seed=2)
    both = {k: np.concatenate([a[k], b[k]]) for k in a}
    n = len(a["first"])
    i, j = block(both, rules=MATCHER.blocking)
    truth = (j - i == n) & (i < n_dup)
    model = train_from_labels(both, None, i, j, truth, matcher=MATCHER)
    hits = predict_matches(model, both, threshold=0.5)
    assert _f1(hits.left_index, hits.right_index - n, n_dup) > 0.95
    # probabilistic links flow into the identity graph with their probability as evidence
    links = hits.to_links(np.arange(2 * n), id_type="form", at="2024-01-01")
    recs = IdentifierRecords(
        record_id=np.arange(2 * n),
        source=["form"] * (2 * n),
        id_type=["form"] * (2 * n),
        value=[str(k) for k in range(2 * n)],
        observed_at=["2024-01-01"] * (2 * n),
    )
    res = resolve(recs, links=links)
    assert res.stats.n_customers < 2 * n
    assert set(res.links.kind.tolist()) == {"probabilistic"}
    assert (res.links.probability >= 0.5).all()


def test_no_candidate_pairs():
    t = {"a": ["x", "y"], "b": ["1", "2"]}
    m = Matcher(blocking=[BlockingRule("a")], comparisons=[Comparison(field="b", kind="exact")])
    with pytest.raises(ConvergenceError):
        fit_matcher(t, matcher=m, n_random_pairs=10)


@given(
    st.lists(st.sampled_from(["first", "last", "dob", "postcode"]), min_size=1, max_size=3, unique=True),
    st.lists(st.floats(0.5, 1.0), min_size=0, max_size=3),
    st.booleans(),
)
def test_matcher_json_round_trip(fields, jw, tf):
    from omnicore import from_json, to_json

    thresholds = tuple(sorted(jw, reverse=True))
    matcher = Matcher(
        blocking=[BlockingRule(tuple(fields)), BlockingRule(fields[0], prefix=3)],
        comparisons=[
            Comparison(field=fields[0], kind="jaro_winkler", thresholds=thresholds, term_frequency=tf),
            Comparison(field="dob", kind="date", thresholds=(1, 2), days=30),
        ],
    )
    assert from_json(to_json(matcher), Matcher) == matcher
