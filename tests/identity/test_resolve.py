import attrs
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omnicore import from_json, to_json
from omnicore.data import IdentifierRecords
from omnicore.identity import (
    DEFAULT_RULES,
    Identifier,
    IdentifierRule,
    MergeRules,
    evaluate_clusters,
    resolve,
)
from omnicore.storage import IdentityLinks

from .generate import people_records


def _records(rows):
    cols = list(zip(*rows, strict=True))
    return IdentifierRecords(
        record_id=list(cols[0]),
        source=["pos"] * len(rows),
        id_type=list(cols[1]),
        value=list(cols[2]),
        observed_at=list(cols[3]) if len(cols) > 3 else ["2024-01-01"] * len(rows),
    )


def _customer(res, id_type, value):
    return int(res.lookup([id_type], [value])[0])


def test_same_record_links_across_channels_and_normalises():
    res = resolve(
        _records(
            [
                ("pos-1", "member_card", "mc-0001"),
                ("pos-1", "phone", "139 1234 5678"),
                ("web-1", "phone", "+86 13912345678"),
                ("web-1", "email", " Li@X.com"),
                ("mp-1", "wechat_openid", "oABC"),
                ("mp-1", "email", "li@x.com"),
                ("web-2", "email", "other@x.com"),
            ]
        )
    )
    a = _customer(res, "member_card", "MC0001")
    assert a == _customer(res, "wechat_openid", "oABC") == _customer(res, "email", "li@x.com")
    assert _customer(res, "email", "other@x.com") not in (a, -1)
    assert res.stats.n_customers == 2
    assert set(res.events.kind.tolist()) == {"create"}


FAMILY = [
    ("r1", "member_card", "MC1"),
    ("r1", "phone", "13911112222"),
    ("r2", "member_card", "MC2"),
    ("r2", "phone", "13911112222"),
    ("r3", "member_card", "MC2"),
    ("r3", "email", "b@x.com"),
]


def test_family_phone_does_not_merge_two_member_cards():
    res = resolve(_records(FAMILY), attrs.evolve(DEFAULT_RULES, shared_on_conflict=False))
    assert _customer(res, "member_card", "MC1") != _customer(res, "member_card", "MC2")
    refused = res.links.take(~res.links.accepted)
    assert refused.reason.tolist() == ["limit: at most 1 member_card per customer"]
    # MC2 has more support (two records) but both phone links rank equal by type; the phone stays with
    # exactly one of the cards
    phone_owner = _customer(res, "phone", "+8613911112222")
    assert phone_owner in (_customer(res, "member_card", "MC1"), _customer(res, "member_card", "MC2"))


def test_household_phone_between_two_cards_is_shared():
    # a household phone on the sign-ups of two member cards, and a guest order with only that phone
    rows = [
        *FAMILY,
        ("guest-1", "phone", "+86 139 1111 2222"),
        ("web-1", "account_id", "U1"),
        ("web-1", "phone", "13911112222"),
        ("web-1", "email", "a@x.com"),
    ]
    res = resolve(_records(rows))
    mc1, mc2 = _customer(res, "member_card", "MC1"), _customer(res, "member_card", "MC2")
    account = _customer(res, "account_id", "u1")
    assert len({mc1, mc2, account}) == 3
    assert min(mc1, mc2, account) >= 0
    assert _customer(res, "email", "b@x.com") == mc2  # r3 carries MC2 and the e-mail: still linked
    assert _customer(res, "email", "a@x.com") == account
    # the phone belongs to nobody and the guest order is not attached to one of the card holders
    assert _customer(res, "phone", "+8613911112222") == -1
    record_id, customer = res.customer_of_records()
    assert customer[record_id.tolist().index("guest-1")] == -1
    refused = res.links.take(~res.links.accepted)
    assert set(refused.reason.tolist()) == {"shared: connects 2 member_card values"}
    assert len(refused) == 3  # MC1, MC2 and U1 to the phone
    assert set(refused.left_value.tolist()) | set(refused.right_value.tolist()) >= {"+8613911112222"}
    assert res.stats.n_shared_by_conflict == 1
    assert res.stats.n_shared == 0
    # two accounts (limit 1) behind one phone: the same
    two_accounts = resolve(
        _records(
            [
                ("w1", "account_id", "U1"),
                ("w1", "phone", "13911112222"),
                ("w2", "account_id", "U2"),
                ("w2", "phone", "13911112222"),
                ("g1", "phone", "13911112222"),
            ]
        )
    )
    assert _customer(two_accounts, "phone", "+8613911112222") == -1
    assert set(two_accounts.links.reason.tolist()) == {"shared: connects 2 account_id values"}


def test_shared_on_conflict_needs_a_weaker_bridge():
    # one record holding two member cards: no bridge, a plain limit refusal
    res = resolve(_records([("r1", "member_card", "MC1"), ("r1", "member_card", "MC2")]))
    assert res.stats.refused == {"limit: at most 1 member_card per customer": 1}
    assert res.stats.n_shared_by_conflict == 0


def test_blocked_and_shared_values_never_link():
    rows = [
        ("p", "phone", "13800000000"),
        ("p", "email", "a@x.com"),
        ("q", "phone", "13800000000"),
        ("q", "email", "b@x.com"),
    ]
    # a counter phone on 25 records of different people (default threshold 20)
    rows += [(f"s{i}", "phone", "13700001111") for i in range(25)]
    rows += [(f"s{i}", "email", f"shop{i}@x.com") for i in range(25)]
    res = resolve(_records(rows))
    assert _customer(res, "email", "a@x.com") != _customer(res, "email", "b@x.com")
    assert _customer(res, "phone", "+8613800000000") == -1
    assert _customer(res, "phone", "+8613700001111") == -1
    assert len({_customer(res, "email", f"shop{i}@x.com") for i in range(25)}) == 25
    assert res.stats.n_blocked == 1
    assert res.stats.n_shared == 1
    assert res.stats.refused == {"blocked value": 2, "shared value": 25}


def test_per_type_limit_keeps_stronger_evidence():
    rules = MergeRules(
        identifiers=(
            IdentifierRule(id_type="phone", normalizer="phone", max_per_customer=2),
            IdentifierRule(id_type="email", normalizer="email"),
        )
    )
    rows = [
        ("a", "email", "e@x.com"),
        ("a", "phone", "13900000001"),
        ("b", "email", "e@x.com"),
        ("b", "phone", "13900000002"),
        ("c", "email", "e@x.com"),
        ("c", "phone", "13900000003"),
        ("d", "email", "e@x.com"),
        ("d", "phone", "13900000003"),
    ]
    res = resolve(_records(rows), attrs.evolve(rules, shared_on_conflict=False))
    e = _customer(res, "email", "e@x.com")
    members = res.assignment.take(res.assignment.customer_id == e)
    # ...03 is seen on two records: it wins; then ...01 by value order
    assert sorted(members.value.tolist()) == ["+8613900000001", "+8613900000003", "e@x.com"]
    # by default the e-mail that joins three phones (at most two per customer) is shared instead
    res = resolve(_records(rows), rules)
    assert _customer(res, "email", "e@x.com") == -1
    phones = [_customer(res, "phone", f"+861390000000{k}") for k in (1, 2, 3)]
    assert len(set(phones)) == 3
    assert set(res.stats.refused) == {"shared: connects 3 phone values"}


def test_must_not_link_and_manual_links():
    rows = [
        ("a", "email", "e@x.com"),
        ("a", "phone", "13900000001"),
        ("b", "email", "e@x.com"),
        ("b", "phone", "13900000002"),
    ]
    rules = attrs.evolve(
        DEFAULT_RULES,
        must_not_link=[(Identifier("phone", "13900000001"), Identifier("phone", "13900000002"))],
    )
    res = resolve(_records(rows), rules)
    assert _customer(res, "phone", "+8613900000001") != _customer(res, "phone", "+8613900000002")
    assert res.stats.refused == {"must not link": 1}
    manual = IdentityLinks(
        left_type=["email"],
        left_value=["z@x.com"],
        right_type=["phone"],
        right_value=["+8613900000001"],
        kind=["manual"],
        probability=[1.0],
        record_id=[""],
        accepted=[True],
        reason=["agent 7"],
        created_at=["2024-01-02"],
    )
    res = resolve(_records(rows), links=manual)
    assert _customer(res, "email", "z@x.com") == _customer(res, "phone", "+8613900000001")


def test_pseudonymised_resolution_matches_clear_partition():
    recs, _ = people_records(200, seed=3)
    clear = resolve(recs)
    hidden = resolve(recs, key=b"tenant-secret-key-0001")
    assert not set(hidden.assignment.value.tolist()) & set(clear.assignment.value.tolist())
    _, c1 = clear.customer_of_records()
    _, c2 = hidden.customer_of_records()
    m = evaluate_clusters(c1, c2)
    assert m.pair_f1 == 1.0


def test_precision_on_generated_people():
    recs, truth = people_records(3000, seed=11, family_share=0.3, placeholder_rate=0.05)
    res = resolve(recs)
    rid, cust = res.customer_of_records()
    person = np.array([truth[str(r)] for r in rid.tolist()])
    m = evaluate_clusters(cust, person)
    assert m.pair_precision >= 0.999
    assert res.stats.refused.get("blocked value", 0) > 0
    unguarded = resolve(recs, MergeRules(identifiers=(), max_records=None))
    _, cust_u = unguarded.customer_of_records()
    assert evaluate_clusters(cust_u, person).pair_precision < m.pair_precision


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(0, 10_000))
def test_input_order_does_not_matter(seed, perm_seed):
    recs, _ = people_records(40, seed=seed, family_share=0.5, placeholder_rate=0.2)
    perm = np.random.default_rng(perm_seed).permutation(len(recs))
    a = resolve(recs)
    b = resolve(recs.take(perm))
    assert a.assignment == b.assignment
    assert a.stats == b.stats
    key = lambda links: sorted(map(str, links.to_records()))  # noqa: E731
    assert key(a.links) == key(b.links)


def test_rules_json_round_trip():
    rules = attrs.evolve(DEFAULT_RULES, must_not_link=[(Identifier("phone", "1"), Identifier("phone", "2"))])
    assert from_json(to_json(rules), MergeRules) == rules


@given(
    st.lists(st.sampled_from(["phone", "email", "member_card", "x"]), unique=True),
    st.integers(1, 5),
    st.none() | st.integers(1, 50),
)
def test_rules_json_round_trip_property(types, limit, max_records):
    rules = MergeRules(
        identifiers=tuple(
            IdentifierRule(id_type=t, max_per_customer=limit, blocked={f"{t}0"}) for t in types
        ),
        max_records=max_records,
    )
    assert from_json(to_json(rules), MergeRules) == rules


def test_duplicate_rule_rejected():
    from omnicore import ValidationError

    with pytest.raises(ValidationError):
        MergeRules(identifiers=(IdentifierRule(id_type="phone"), IdentifierRule(id_type="phone")))


@settings(max_examples=50)
@given(
    st.lists(st.tuples(st.integers(0, 5), st.integers(0, 9)), max_size=40),
    st.lists(st.booleans(), min_size=10, max_size=10),
    st.lists(st.integers(0, 3), min_size=10, max_size=10),
)
def test_record_anchor_is_the_strongest_usable_identifier(rows, usable, rank):
    from omnicore.identity._resolve import _record_anchors

    row_record = np.array([r for r, _ in rows], dtype=np.int64)
    row_ident = np.array([i for _, i in rows], dtype=np.int64)
    usable_a, rank_a = np.array(usable), np.array(rank, dtype=np.int64)
    expected = [
        min(
            ((rank[i], i) for r, i in rows if r == record and usable[i]),
            default=(None, -1),
        )[1]
        for record in range(6)
    ]
    got = _record_anchors(row_record, row_ident, usable_a, rank_a, 6)
    assert got.tolist() == expected
    plain = getattr(_record_anchors, "py_func", _record_anchors)
    assert plain(row_record, row_ident, usable_a, rank_a, 6).tolist() == expected
