import attrs
import networkx as nx
import numpy as np

from omnicore.data import IdentifierRecords
from omnicore.identity import (
    DEFAULT_RULES,
    Identifier,
    IdentifierRule,
    MergeRules,
    SurvivorshipRule,
    add_records,
    explain,
    explain_stored,
    golden_records,
    links_to_networkx,
    resolve,
)

from .fake_store import FakeStore


def _records(rows):
    cols = list(zip(*rows, strict=True))
    return IdentifierRecords(
        record_id=list(cols[0]),
        source=list(cols[1]),
        id_type=list(cols[2]),
        value=list(cols[3]),
        observed_at=list(cols[4]),
    )


ROWS = [
    ("r1", "pos", "member_card", "MC1", "2024-01-01"),
    ("r1", "pos", "phone", "13900000001", "2024-01-01"),
    ("r2", "online", "phone", "13900000001", "2024-02-01"),
    ("r2", "online", "email", "a@x.com", "2024-02-01"),
    ("r3", "mini_program", "email", "a@x.com", "2024-03-01"),
    ("r3", "mini_program", "wechat_openid", "o1", "2024-03-01"),
    ("r4", "pos", "member_card", "MC2", "2023-12-01"),
    ("r4", "pos", "phone", "13900000001", "2023-12-01"),
]
# the phone of r1/r2 is also on MC2's record: by default it is a shared (household) phone; these
# rules keep the older behaviour where it joins the side with the stronger evidence
GREEDY = attrs.evolve(DEFAULT_RULES, shared_on_conflict=False)


def test_explain_path_and_refusal():
    res = resolve(_records(ROWS), GREEDY)
    e = explain(res, Identifier("member_card", "mc1"), Identifier("wechat_openid", "o1"))
    assert e.connected
    assert e.records() == ("r1", "r2", "r3")
    assert [s.right.id_type for s in e.path] == ["phone", "email", "wechat_openid"]
    assert "one customer" in e.summary()
    apart = explain(res, Identifier("member_card", "MC1"), Identifier("member_card", "MC2"))
    assert not apart.connected
    assert apart.customer_a != apart.customer_b
    assert [r.reason for r in apart.refused] == ["limit: at most 1 member_card per customer"]
    assert "limit" in apart.summary()
    # the refused link is between MC2 and the phone that stayed with MC1
    refused = apart.refused[0]
    assert {refused.left.value, refused.right.value} == {"MC2", "+8613900000001"}


def test_explain_shared_phone():
    res = resolve(_records(ROWS))
    e = explain(res, Identifier("member_card", "mc1"), Identifier("wechat_openid", "o1"))
    assert not e.connected
    assert e.customer_a == -1 or e.customer_a != e.customer_b
    reasons = {r.reason for r in e.refused}
    assert reasons == {"shared: connects 2 member_card values"}
    assert all("+8613900000001" in (r.left.value, r.right.value) for r in e.refused)
    assert "shared" in e.summary()
    # the e-mail and the openid still link (r3); the phone belongs to nobody
    assert res.lookup(["email"], ["a@x.com"])[0] == res.lookup(["wechat_openid"], ["o1"])[0]
    assert res.lookup(["phone"], ["+8613900000001"])[0] == -1


def test_networkx_export_matches_components():
    res = resolve(_records(ROWS), GREEDY)
    g = links_to_networkx(res.links, accepted_only=True)
    comps = [set(c) for c in nx.connected_components(g)]
    for comp in comps:
        types, values = zip(*comp, strict=True)
        assert len(set(res.lookup(list(types), list(values)).tolist())) == 1
    full = links_to_networkx(res.links)
    assert full.number_of_edges() == len(res.links)


def test_explain_stored_agrees():
    store = FakeStore()
    add_records(store, _records(ROWS), GREEDY)
    e = explain_stored(store, Identifier("member_card", "mc1"), Identifier("wechat_openid", "o1"))
    assert e.connected
    assert e.records() == ("r1", "r2", "r3")
    apart = explain_stored(store, Identifier("member_card", "MC1"), Identifier("member_card", "MC2"))
    assert not apart.connected
    assert apart.refused


def test_golden_records_strategies():
    rules = MergeRules(
        identifiers=(
            IdentifierRule(id_type="phone", normalizer="phone"),
            IdentifierRule(id_type="name", links=False),
        )
    )
    rows = [
        ("a", "online", "phone", "13912345678", "2024-05-01"),
        ("a", "online", "name", "W Li", "2024-05-01"),
        ("b", "pos", "phone", "13912345678", "2023-01-01"),
        ("b", "pos", "name", "Wei Li", "2023-01-01"),
        ("c", "community", "phone", "13912345678", "2023-06-01"),
        ("c", "community", "name", "Wei Li", "2023-06-01"),
        ("d", "online", "phone", "13700000000", "2024-01-01"),
        ("d", "online", "name", "Other", "2024-01-01"),
    ]
    res = resolve(_records(rows), rules)
    cust = int(res.lookup(["phone"], ["+8613912345678"])[0])

    def pick(strategy, sources=()):
        g = golden_records(res, [SurvivorshipRule(id_type="name", strategy=strategy, sources=sources)])
        k = int(np.flatnonzero(g.customer_id == cust)[0])
        return g.value[k], g.source[k], int(g.support[k]), int(g.n_candidates[k])

    assert pick("recency") == ("W Li", "online", 1, 2)
    assert pick("frequency") == ("Wei Li", "community", 2, 2)
    assert pick("source_priority", ("pos", "online")) == ("Wei Li", "pos", 2, 2)
    assert pick("source_priority", ("online",)) == ("W Li", "online", 1, 2)
    # order independence
    perm = np.random.default_rng(0).permutation(len(res.records))
    g1 = golden_records(res, [SurvivorshipRule(id_type="name", strategy="frequency")])
    shuffled = resolve(_records(rows).take(perm), rules)
    g2 = golden_records(shuffled, [SurvivorshipRule(id_type="name", strategy="frequency")])
    assert g1 == g2
