"""Subject access: everything the stores hold about one data subject, in one typed value."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import numpy as np

from omnicore._errors import ValidationError
from omnicore.data import STRING_DTYPE, Events, IdentifierRecords, Transactions, to_datetime64, unique_sorted
from omnicore.identity import DEFAULT_RULES, MergeRules, Normalizer
from omnicore.privacy._subjects import LogId, Subject, SubjectRef, find_subject, log_keys_of
from omnicore.storage import AuditEntry, ConsentRecords, DecisionRecords, IdentityLinks, Store

__all__ = ["SubjectExport", "export_subject"]

ACTOR = "omnicore.privacy"


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.datetime64):
        value = value.astype("datetime64[us]").item()
    if isinstance(value, dt.datetime):
        return value.isoformat() + "Z"
    if isinstance(value, np.generic):
        return value.item()
    return value


@attrs.frozen(kw_only=True)
class SubjectExport:
    """Everything held about one data subject (a subject access request's answer).

    Attributes
    ----------
    subject
        Who, with every key they are held under.
    exported_at
        When (UTC).
    log_keys
        The key each log was searched by (``"customer_id"`` or an identifier type).
    identifier_records
        Every row of the source records carrying any of the subject's identifiers (with the other
        identifiers on those records, as erasure deletes them whole).
    links
        Identity links touching any of the subject's identifiers, accepted and refused.
    transactions, events
        The subject's rows in the transaction and event logs.
    decisions, consent
        Campaign decisions about the subject and their consent ledger.
    audit
        Audit entries about the subject's customer ids, this export included.
    """

    subject: Subject
    exported_at: np.datetime64
    log_keys: Mapping[str, str]
    identifier_records: IdentifierRecords
    links: IdentityLinks
    transactions: Transactions
    events: Events
    decisions: DecisionRecords
    consent: ConsentRecords
    audit: tuple[AuditEntry, ...]

    def counts(self) -> dict[str, int]:
        """Rows held, by kind."""
        return {
            "identifiers": len(self.subject.identifiers),
            "identifier_records": len(self.identifier_records),
            "links": len(self.links),
            "transactions": len(self.transactions),
            "events": len(self.events),
            "decisions": len(self.decisions),
            "consent": len(self.consent),
            "audit": len(self.audit),
        }

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data: lists of row dicts, times as ISO-8601 UTC text."""
        subject = self.subject
        data: dict[str, Any] = _jsonable(
            {
                "customer_id": subject.customer_id,
                "identifiers": [{"id_type": i.id_type, "value": i.value} for i in subject.identifiers],
                "merged_from": list(subject.merged_from),
                "split_from": list(subject.split_from),
                "exported_at": self.exported_at,
                "log_keys": dict(self.log_keys),
                "identifier_records": self.identifier_records.to_records(),
                "links": self.links.to_records(),
                "transactions": self.transactions.to_records(),
                "events": self.events.to_records(),
                "decisions": self.decisions.to_records(),
                "consent": self.consent.to_records(),
                "audit": [
                    {
                        "at": e.at,
                        "actor": e.actor,
                        "action": e.action,
                        "subject": e.subject,
                        "details": e.details,
                    }
                    for e in self.audit
                ],
            }
        )
        return data

    def to_json(self, *, indent: int | None = 2) -> str:
        """:meth:`to_dict` as JSON text (UTF-8 characters kept as they are)."""
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)


def audit_subject(subject: Subject) -> str:
    """The ``subject`` text of audit entries about this subject."""
    if subject.customer_id >= 0:
        return str(subject.customer_id)
    ids = subject.log_ids()
    return str(ids[0]) if ids else ""


def load_log(store: Store, log: str, ids: Sequence[LogId], log_key: str) -> Any:
    """The rows of one log held under these keys, with a clear error when the key kind is wrong."""
    try:
        if log == "transactions":
            return store.transactions.load(customer_ids=list(ids))
        if log == "events":
            return store.events.load(customer_ids=list(ids))
        if log == "decisions":
            return store.campaigns.decisions(customer_ids=list(ids))
        return store.campaigns.consent_ledger(subject_ids=list(ids))
    except ValidationError as error:
        raise wrong_log_key(log, log_key, error) from error


def wrong_log_key(log: str, log_key: str, error: ValidationError) -> ValidationError:
    name = "campaigns" if log in ("decisions", "consent") else log
    return ValidationError(
        f"the {name} store is not keyed by {log_key!r} ({error}); name its key in log_keys",
        field=f"log_keys[{name}]",
        value=log_key,
    )


def export_subject(
    store: Store,
    subject: SubjectRef,
    *,
    log_keys: Mapping[str, str] | None = None,
    rules: MergeRules = DEFAULT_RULES,
    normalizers: Mapping[str, Normalizer] | None = None,
    key: bytes | None = None,
    actor: str = ACTOR,
    now: Any = None,
) -> SubjectExport:
    """Gather everything held about one data subject, following the identity graph, and audit it.

    Parameters
    ----------
    store
        An opened store; the export is read, and its audit entry written, in one transaction.
    subject
        A raw identifier, an omnicore customer id, or a :class:`Subject` from :func:`find_subject`.
    log_keys
        The key of each log (``"transactions"``, ``"events"``, ``"campaigns"``): ``"customer_id"``
        (omnicore customer ids, the default), an identifier type whose values key the log, or
        ``"extra_log_ids"`` (only the subject's ``extra_log_ids``, from the caller's own mapping).
    rules, normalizers, key
        How raw identifiers were stored (see :func:`omnicore.identity.add_records`).
    actor
        Who asked (kept in the audit log).
    now
        Timestamp of the export (default: the current time).

    Returns
    -------
    SubjectExport
        The subject's data; ``to_json()`` gives the text to hand over.

    Raises
    ------
    NotFoundError
        If no customer holds the identifier.
    ValidationError
        If a log is keyed differently than ``log_keys`` says.

    Examples
    --------
    >>> from omnicore.storage import open_store
    >>> store = open_store("memory://export-example")
    >>> export_subject(store, 42, now="2026-01-01").counts()["transactions"]
    0
    """
    keys = log_keys_of(log_keys)
    at = to_datetime64(now) if now is not None else np.datetime64("now", "us")
    with store.atomic():
        found = find_subject(store, subject, rules=rules, normalizers=normalizers, key=key)
        types = np.array([i.id_type for i in found.identifiers], dtype=STRING_DTYPE)
        values = np.array([i.value for i in found.identifiers], dtype=STRING_DTYPE)
        records = IdentifierRecords.empty()
        if types.size:
            # Whole records, as erasure deletes them: every row of a record carrying one of the identifiers.
            carrying = store.identity.records(id_type=types, value=values)
            records = store.identity.records(record_ids=unique_sorted(np.asarray(carrying.record_id)))
        # With no identifiers, ask for one that cannot exist: links() without a filter returns every link.
        probe = (types, values) if types.size else (np.array([""], dtype=STRING_DTYPE),) * 2
        links = store.identity.links(id_type=probe[0], value=probe[1])
        rows = {
            log: load_log(store, log, found.log_ids(keys[name]), keys[name])
            for log, name in (
                ("transactions", "transactions"),
                ("events", "events"),
                ("decisions", "campaigns"),
                ("consent", "campaigns"),
            )
        }
        about = audit_subject(found)
        store.audit.append(
            [
                AuditEntry(
                    at=at,
                    actor=actor,
                    action="privacy.export",
                    subject=about,
                    details={log: len(table) for log, table in rows.items()},
                )
            ]
        )
        about_ids = dict.fromkeys((about, *map(str, found.customer_ids)))
        audit = [entry for c in about_ids if c for entry in store.audit.entries(subject=c)]
    return SubjectExport(
        subject=found,
        exported_at=at,
        log_keys=keys,
        identifier_records=records,
        links=links,
        transactions=rows["transactions"],
        events=rows["events"],
        decisions=rows["decisions"],
        consent=rows["consent"],
        audit=tuple(sorted(audit, key=lambda e: e.at)),
    )
