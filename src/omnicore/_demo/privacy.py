"""Demo step: a subject access request and an erasure that follows the identity graph."""

from __future__ import annotations

import time

import attrs
import numpy as np

from omnicore._demo._base import DemoContext, DemoSection
from omnicore._errors import NotFoundError
from omnicore.identity import Identifier
from omnicore.privacy import Subject, erase_subject, export_subject, find_subject

__all__ = ["run"]

# The demo's logs are keyed by the generator's person id, a source key only the caller can map: the
# subject's log rows are found through extra_log_ids, not through omnicore customer ids.
_LOG_KEYS = {"transactions": "extra_log_ids", "events": "extra_log_ids", "campaigns": "extra_log_ids"}
_STRONG_TYPES = ("member_card", "account_id")


def _pick_request(ctx: DemoContext) -> tuple[Identifier, Subject]:
    """A customer holding one person's records only, with the most kinds of identifier and a member card or
    account: the identifier they give, and the subject with their person id as the logs' key."""
    resolution = ctx.results["identity.resolution"]
    record_id, customer = resolution.customer_of_records()
    truth = ctx.data.truth
    person_of = dict(zip(truth.record_id.tolist(), np.asarray(truth.record_person).tolist(), strict=True))
    person = np.fromiter((person_of[r] for r in record_id.tolist()), dtype=np.int64, count=len(record_id))
    pairs = np.unique(np.stack([customer, person]), axis=1)
    ids_per_customer = np.bincount(pairs[0][pairs[0] >= 0])
    pure = {int(c): int(p) for c, p in pairs.T.tolist() if c >= 0 and p >= 0 and ids_per_customer[c] == 1}
    assignment = resolution.assignment
    kinds: dict[int, set[str]] = {}
    strong: dict[int, Identifier] = {}
    for t, v, c in zip(
        assignment.id_type.tolist(), assignment.value.tolist(), assignment.customer_id.tolist(), strict=True
    ):
        if c in pure:
            kinds.setdefault(c, set()).add(t)
            if t in _STRONG_TYPES:
                strong.setdefault(c, Identifier(t, v))
    best = max(strong, key=lambda c: (len(kinds[c]), -c), default=None)
    if best is None:
        raise NotFoundError("no customer with a member card or account holds one person's records only")
    subject = find_subject(ctx.store, strong[best])
    return strong[best], attrs.evolve(subject, extra_log_ids=(pure[best],))


def run(ctx: DemoContext) -> DemoSection:
    """Find a subject by one identifier, export what is held about them, then erase it everywhere."""
    identifier, subject = _pick_request(ctx)
    export = export_subject(ctx.store, subject, log_keys=_LOG_KEYS, actor="demo")
    began = time.perf_counter()
    erasure = erase_subject(
        ctx.store, subject, reason="demo erasure request", log_keys=_LOG_KEYS, actor="demo"
    )
    erase_ms = 1000 * (time.perf_counter() - began)
    left = ctx.store.identity.lookup(
        [i.id_type for i in subject.identifiers], [i.value for i in subject.identifiers]
    )
    rows_left = len(ctx.store.transactions.load(customer_ids=list(subject.extra_log_ids)))
    types = sorted({i.id_type for i in subject.identifiers})
    held = export.counts()
    lines = (
        f"request: erase the person holding {identifier.id_type} {identifier.value!r}",
        f"subject: customer {subject.customer_id} with {len(subject.identifiers)} identifiers "
        f"({', '.join(types)}); earlier ids merged into it: {list(subject.merged_from) or 'none'}",
        "the demo's logs are keyed by the generator's person id, passed as the subject's extra_log_ids",
        f"erased in one transaction in {erase_ms:.0f} ms; identifiers still resolving: "
        f"{int((left >= 0).sum())}; transactions left: {rows_left}",
        "one audit entry per request keeps who, why and how many rows, never the identifiers",
    )
    table = (
        ("held about the subject", "exported", "erased"),
        ("identifiers", str(held["identifiers"]), str(erasure.counts["identifiers"])),
        ("identifier records", str(held["identifier_records"]), str(erasure.counts["records"])),
        ("identity links", str(held["links"]), str(erasure.counts["links"])),
        ("transactions", str(held["transactions"]), str(erasure.counts["transactions"])),
        ("events", str(held["events"]), str(erasure.counts["events"])),
        (
            "campaign decisions + consent",
            str(held["decisions"] + held["consent"]),
            str(erasure.counts["campaigns"]),
        ),
    )
    ctx.results["privacy.erasure"] = erasure
    return DemoSection(title="Privacy: access request and erasure", lines=lines, table=table)
