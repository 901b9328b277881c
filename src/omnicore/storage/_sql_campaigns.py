"""Campaign state and the audit log over SQL."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from omnicore._errors import ValidationError
from omnicore.data import STRING_DTYPE, TIME_DTYPE, factorize, first_occurrences, searchsorted
from omnicore.storage._db import (
    Row,
    Scope,
    as_id_array,
    as_text_list,
    decode_ids,
    encode_ids,
    expect_type,
    id_kind,
    id_select,
    micros_to_times,
    now_micros,
    time_micros,
    times_to_micros,
)
from omnicore.storage._records import AuditEntry, ConsentRecords, DecisionRecords

__all__ = ["SqlAuditLog", "SqlCampaignStore", "check_namespace", "check_state_items", "check_state_keys"]

_DECISIONS = "decisions"
_CONSENT = "consent"
_DECISION_COLUMNS = (
    "decision_key",
    "rule_id",
    "customer_id",
    "channel",
    "status",
    "decided_at",
    "send_at",
    "reason",
)


def check_namespace(namespace: str) -> str:
    """``namespace`` if it is non-empty text."""
    if not isinstance(namespace, str) or not namespace:
        raise ValidationError("namespaces are non-empty text", field="namespace", value=namespace)
    return namespace


def check_state_keys(keys: Sequence[str]) -> list[str]:
    """Keys as a list of text."""
    return as_text_list(keys, field="keys")


def check_state_items(items: Mapping[str, bytes]) -> list[tuple[str, bytes]]:
    """Items as (text key, bytes value) pairs."""
    if not isinstance(items, Mapping):
        raise ValidationError("expected a mapping of key to bytes", field="items", value=type(items))
    out = []
    for key, value in items.items():
        if not isinstance(key, str):
            raise ValidationError("state keys are text", field="items", value=key)
        if not isinstance(value, bytes | bytearray | memoryview):
            raise ValidationError("state values are bytes", field=f"items[{key!r}]", value=type(value))
        out.append((key, bytes(value)))
    return out


def _empty_decisions(kind: str | None) -> DecisionRecords:
    text = np.empty(0, STRING_DTYPE)
    times = np.empty(0, TIME_DTYPE)
    return DecisionRecords(
        decision_key=text,
        rule_id=text,
        customer_id=np.empty(0, np.int64 if kind != "text" else STRING_DTYPE),
        channel=text,
        status=text,
        decided_at=times,
        send_at=times,
        reason=text,
    )


def _empty_consent(kind: str | None) -> ConsentRecords:
    text = np.empty(0, STRING_DTYPE)
    return ConsentRecords(
        subject_id=np.empty(0, np.int64 if kind != "text" else STRING_DTYPE),
        purpose=text,
        granted=np.empty(0, bool),
        recorded_at=np.empty(0, TIME_DTYPE),
        source=text,
    )


def latest_grant(
    subject_codes: npt.NDArray[np.int64], granted: npt.NDArray[np.bool_], n_subjects: int
) -> npt.NDArray[np.bool_]:
    """Per subject code, the ``granted`` of its last row (rows already in time, then insertion, order)."""
    out = np.zeros(n_subjects, bool)
    out[subject_codes] = granted  # numpy assigns in order, so the last row of each subject wins
    return out


class SqlCampaignStore:
    """:class:`~omnicore.storage.CampaignStore` over SQL."""

    def __init__(self, scope: Scope) -> None:
        self._scope = scope

    # -- decisions -----------------------------------------------------------------------------
    def record_decisions(self, decisions: DecisionRecords) -> npt.NDArray[np.bool_]:
        """Insert decisions whose key is new; returns, per row, whether it was new (exactly-once).

        Within one call a repeated key counts once, at its first row.
        """
        expect_type(decisions, DecisionRecords, "decisions")
        n = len(decisions)
        new = np.zeros(n, bool)
        if n == 0:
            return new
        scope = self._scope
        keys = decisions.decision_key
        first_rows = first_occurrences(keys)
        new[first_rows] = True
        with scope.write():
            scope.lock(_DECISIONS)
            scope.settle_kinds(_DECISIONS, {"customer_id": id_kind(decisions.customer_id)})
            existing: set[str] = set()
            unique_keys = keys[np.sort(first_rows)].tolist()
            for marks, chunk in scope.chunks(unique_keys):
                existing.update(
                    row[0]
                    for row in scope.rows(
                        f"SELECT decision_key FROM oc_decisions WHERE tenant = ? AND decision_key IN {marks}",
                        (scope.tenant, *chunk),
                    )
                )
            if existing:
                new &= ~np.isin(keys, np.array(sorted(existing), dtype=STRING_DTYPE))
            rows = np.flatnonzero(new)
            if len(rows):
                picked = decisions.take(rows)
                scope.append_numbered(
                    "oc_decisions",
                    _DECISIONS,
                    {
                        "decision_key": picked.decision_key.tolist(),
                        "rule_id": picked.rule_id.tolist(),
                        "customer_id": encode_ids(picked.customer_id),
                        "channel": picked.channel.tolist(),
                        "status": picked.status.tolist(),
                        "decided_at": times_to_micros(picked.decided_at),
                        "send_at": times_to_micros(picked.send_at),
                        "reason": picked.reason.tolist(),
                    },
                )
        return new

    def decisions(
        self,
        *,
        since: Any = None,
        customer_ids: npt.ArrayLike | None = None,
        rule_ids: Sequence[str] | None = None,
        statuses: Sequence[str] | None = None,
    ) -> DecisionRecords:
        """Recorded decisions with ``decided_at >= since``, oldest first."""
        scope = self._scope
        with scope.read():
            kind = scope.kinds(_DECISIONS).get("customer_id")
            if kind is None:
                return _empty_decisions(None)
            clauses = ["tenant = ?"]
            params: list[Any] = [scope.tenant]
            if since is not None:
                clauses.append("decided_at >= ?")
                params.append(time_micros(since, field="since"))
            for column, values in (("rule_id", rule_ids), ("status", statuses)):
                if values is not None:
                    wanted = sorted(set(as_text_list(values, field=f"{column}s")))
                    if not wanted:
                        return _empty_decisions(kind)
                    clauses.append(f"{column} IN (" + ", ".join("?" * len(wanted)) + ")")
                    params.extend(wanted)
            post: npt.NDArray[Any] | None = None
            if customer_ids is not None:
                ids = scope.filter_ids(customer_ids, kind, field="customer_ids")
                if not ids:
                    return _empty_decisions(kind)
                if len(ids) <= scope.dialect.in_chunk:
                    clauses.append("customer_id IN (" + ", ".join("?" * len(ids)) + ")")
                    params.extend(ids)
                else:
                    post = as_id_array(customer_ids, field="customer_ids")
            select = ", ".join(id_select(c, kind) if c == "customer_id" else c for c in _DECISION_COLUMNS)
            rows = scope.rows(
                f"SELECT {select} FROM oc_decisions WHERE {' AND '.join(clauses)} ORDER BY decided_at, seq",
                params,
            )
        if not rows:
            return _empty_decisions(kind)
        columns = list(zip(*rows, strict=True))
        out = DecisionRecords(
            decision_key=np.asarray(columns[0], STRING_DTYPE),
            rule_id=np.asarray(columns[1], STRING_DTYPE),
            customer_id=decode_ids(columns[2], kind),
            channel=np.asarray(columns[3], STRING_DTYPE),
            status=np.asarray(columns[4], STRING_DTYPE),
            decided_at=micros_to_times(columns[5]),
            send_at=micros_to_times(columns[6]),
            reason=np.asarray(columns[7], STRING_DTYPE),
        )
        return out if post is None else out.take(np.isin(out.customer_id, post))

    # -- consent -------------------------------------------------------------------------------
    def record_consent(self, records: ConsentRecords) -> int:
        """Append grants and withdrawals to the ledger."""
        expect_type(records, ConsentRecords, "records")
        if not len(records):
            return 0
        scope = self._scope
        with scope.write():
            scope.settle_kinds(_CONSENT, {"subject_id": id_kind(records.subject_id)})
            scope.append_numbered(
                "oc_consent",
                _CONSENT,
                {
                    "subject_id": encode_ids(records.subject_id),
                    "purpose": records.purpose.tolist(),
                    "granted": records.granted.tolist(),
                    "recorded_at": times_to_micros(records.recorded_at),
                    "source": records.source.tolist(),
                },
            )
        return len(records)

    def consent(self, subject_ids: npt.ArrayLike, purpose: str, *, at: Any = None) -> npt.NDArray[np.bool_]:
        """Whether each subject's latest record for ``purpose`` at or before ``at`` is a grant.

        No record means no consent. Records with equal times are ordered as they were appended.
        """
        if not isinstance(purpose, str) or not purpose:
            raise ValidationError("purposes are non-empty text", field="purpose", value=purpose)
        when = now_micros(at, field="at")
        subjects = as_id_array(subject_ids, field="subject_ids")
        out = np.zeros(len(subjects), bool)
        if not len(subjects):
            return out
        scope = self._scope
        rows: list[Row] = []
        with scope.read():
            kind = scope.kinds(_CONSENT).get("subject_id")
            ids = scope.filter_ids(subjects, kind, field="subject_ids")
            for marks, chunk in scope.chunks(ids):
                rows += scope.rows(
                    f"SELECT subject_id, granted, recorded_at, seq FROM oc_consent WHERE tenant = ? "
                    f"AND purpose = ? AND recorded_at <= ? AND subject_id IN {marks}",
                    (scope.tenant, purpose, when, *chunk),
                )
        if not rows:
            return out
        columns = list(zip(*rows, strict=True))
        found = np.asarray(columns[0], STRING_DTYPE)
        order = np.lexsort((np.asarray(columns[3], np.int64), np.asarray(columns[2], np.int64)))
        uniques, codes = factorize(found)
        latest = latest_grant(codes.reshape(-1)[order], np.asarray(columns[1], bool)[order], len(uniques))
        wanted = np.asarray(encode_ids(subjects), STRING_DTYPE)
        position = np.clip(searchsorted(uniques, wanted), 0, len(uniques) - 1)
        hit = uniques[position] == wanted
        out[hit] = latest[position[hit]]
        return out

    def consent_ledger(self, *, subject_ids: npt.ArrayLike | None = None) -> ConsentRecords:
        """The ledger rows (of these subjects), oldest first."""
        scope = self._scope
        with scope.read():
            kind = scope.kinds(_CONSENT).get("subject_id")
            if kind is None:
                return _empty_consent(None)
            select = (
                f"SELECT {id_select('subject_id', kind)}, purpose, granted, recorded_at, source, seq "
                "FROM oc_consent WHERE tenant = ?"
            )
            if subject_ids is None:
                rows = scope.rows(select, (scope.tenant,))
            else:
                rows = []
                for marks, chunk in scope.chunks(scope.filter_ids(subject_ids, kind, field="subject_ids")):
                    rows += scope.rows(f"{select} AND subject_id IN {marks}", (scope.tenant, *chunk))
        if not rows:
            return _empty_consent(kind)
        columns = list(zip(*rows, strict=True))
        recorded = np.asarray(columns[3], np.int64)
        order = np.lexsort((np.asarray(columns[5], np.int64), recorded))  # by time, then append order
        return ConsentRecords(
            subject_id=decode_ids(columns[0], kind)[order],
            purpose=np.asarray(columns[1], STRING_DTYPE)[order],
            granted=np.asarray(columns[2], bool)[order],
            recorded_at=recorded[order].view(TIME_DTYPE),
            source=np.asarray(columns[4], STRING_DTYPE)[order],
        )

    # -- key-value state -----------------------------------------------------------------------
    def get_state(self, namespace: str, keys: Sequence[str]) -> dict[str, bytes]:
        """Values of the keys that exist."""
        check_namespace(namespace)
        wanted = sorted(set(check_state_keys(keys)))
        scope = self._scope
        out: dict[str, bytes] = {}
        with scope.read():
            for marks, chunk in scope.chunks(wanted):
                for key, value in scope.rows(
                    f"SELECT key, value FROM oc_state WHERE tenant = ? AND namespace = ? AND key IN {marks}",
                    (scope.tenant, namespace, *chunk),
                ):
                    out[key] = bytes(value)
        return out

    def put_state(self, namespace: str, items: Mapping[str, bytes]) -> None:
        """Insert or overwrite keys."""
        check_namespace(namespace)
        pairs = check_state_items(items)
        if not pairs:
            return
        scope = self._scope
        with scope.write():
            scope.db.executemany(
                "INSERT INTO oc_state (tenant, namespace, key, value) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (tenant, namespace, key) DO UPDATE SET value = excluded.value",
                [(scope.tenant, namespace, key, value) for key, value in pairs],
            )

    def delete_state(self, namespace: str, keys: Sequence[str]) -> int:
        """Delete keys; returns how many existed."""
        check_namespace(namespace)
        wanted = sorted(set(check_state_keys(keys)))
        scope = self._scope
        deleted = 0
        with scope.write():
            for marks, chunk in scope.chunks(wanted):
                deleted += scope.execute(
                    f"DELETE FROM oc_state WHERE tenant = ? AND namespace = ? AND key IN {marks}",
                    (scope.tenant, namespace, *chunk),
                )
        return deleted

    def scan_state(self, namespace: str, *, prefix: str = "") -> dict[str, bytes]:
        """Every key of a namespace starting with ``prefix``."""
        check_namespace(namespace)
        if not isinstance(prefix, str):
            raise ValidationError("prefixes are text", field="prefix", value=prefix)
        scope = self._scope
        with scope.read():
            rows = scope.rows(
                "SELECT key, value FROM oc_state WHERE tenant = ? AND namespace = ? ORDER BY key",
                (scope.tenant, namespace),
            )
        return {key: bytes(value) for key, value in rows if key.startswith(prefix)}

    def erase_customers(self, customer_ids: npt.ArrayLike) -> int:
        """Delete the decisions and consent records of these customers; returns the rows deleted."""
        scope = self._scope
        deleted = 0
        with scope.write():
            for log, table, column in (
                (_DECISIONS, "oc_decisions", "customer_id"),
                (_CONSENT, "oc_consent", "subject_id"),
            ):
                kind = scope.kinds(log).get(column)
                for marks, chunk in scope.chunks(scope.filter_ids(customer_ids, kind, field="customer_ids")):
                    deleted += scope.execute(
                        f"DELETE FROM {table} WHERE tenant = ? AND {column} IN {marks}",
                        (scope.tenant, *chunk),
                    )
        return deleted


class SqlAuditLog:
    """:class:`~omnicore.storage.AuditLog` over SQL; a trigger rejects UPDATE and DELETE."""

    def __init__(self, scope: Scope) -> None:
        self._scope = scope

    def append(self, entries: Sequence[AuditEntry]) -> int:
        """Append entries; returns the number written."""
        if isinstance(entries, AuditEntry):
            entries = [entries]
        items = list(entries)
        for row, entry in enumerate(items):
            if not isinstance(entry, AuditEntry):
                raise ValidationError("expected AuditEntry", field="entries", row=row, value=type(entry))
        if not items:
            return 0
        with self._scope.write():
            self._scope.append_numbered(
                "oc_audit",
                "audit",
                {
                    "at": [int(e.at.astype("datetime64[us]").astype(np.int64)) for e in items],
                    "actor": [e.actor for e in items],
                    "action": [e.action for e in items],
                    "subject": [e.subject for e in items],
                    "details": [
                        json.dumps(dict(e.details), sort_keys=True, ensure_ascii=False) for e in items
                    ],
                },
            )
        return len(items)

    def entries(
        self, *, since: Any = None, action: str | None = None, subject: str | None = None
    ) -> list[AuditEntry]:
        """Entries at or after ``since`` (optionally one action or subject), oldest first."""
        scope = self._scope
        clauses = ["tenant = ?"]
        params: list[Any] = [scope.tenant]
        if since is not None:
            clauses.append("at >= ?")
            params.append(time_micros(since, field="since"))
        for column, value in (("action", action), ("subject", subject)):
            if value is not None:
                if not isinstance(value, str):
                    raise ValidationError("expected text", field=column, value=value)
                clauses.append(f"{column} = ?")
                params.append(value)
        with scope.read():
            rows = scope.rows(
                f"SELECT at, actor, action, subject, details FROM oc_audit WHERE {' AND '.join(clauses)} "
                "ORDER BY at, seq",
                params,
            )
        return [
            AuditEntry(
                at=micros_to_times([at])[0],
                actor=actor,
                action=action,
                subject=subject,
                details=json.loads(details),
            )
            for at, actor, action, subject, details in rows
        ]
