"""A minimal in-process IdentityStore + AuditLog, written independently of the library's adapters.

Used until the shared memory/SQLite adapters land on main; the same tests then run against them too.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from omnicore.data import IdentifierRecords
from omnicore.storage import AuditEntry, IdentityLinks, MergeEvents


class FakeIdentityStore:
    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.link_rows: list[dict[str, Any]] = []
        self.assigned: dict[tuple[str, str], int] = {}
        self.events: list[dict[str, Any]] = []
        self.next_id = 1

    def append_records(self, records: IdentifierRecords) -> int:
        self.rows.extend(records.to_records())
        return len(records)

    def records(self, *, record_ids: Any = None, id_type: Any = None, value: Any = None) -> IdentifierRecords:
        rows = self.rows
        if record_ids is not None:
            wanted = {str(r) for r in np.asarray(record_ids).tolist()}
            rows = [r for r in rows if str(r["record_id"]) in wanted]
        if id_type is not None:
            keys = set(zip(np.asarray(id_type).tolist(), np.asarray(value).tolist(), strict=True))
            rows = [r for r in rows if (r["id_type"], r["value"]) in keys]
        if not rows:
            return IdentifierRecords.empty()
        return IdentifierRecords.from_records(rows)

    def append_links(self, links: IdentityLinks) -> int:
        have = {self._key(r) for r in self.link_rows}
        n = 0
        for row in links.to_records():
            if self._key(row) not in have:
                self.link_rows.append(row)
                have.add(self._key(row))
                n += 1
        return n

    @staticmethod
    def _key(r: Mapping[str, Any]) -> tuple[Any, ...]:
        return (r["left_type"], r["left_value"], r["right_type"], r["right_value"], r["kind"], r["record_id"])

    def links(self, *, id_type: Any = None, value: Any = None, accepted: bool | None = None) -> IdentityLinks:
        rows = self.link_rows
        if id_type is not None:
            keys = set(zip(np.asarray(id_type).tolist(), np.asarray(value).tolist(), strict=True))
            rows = [
                r
                for r in rows
                if (r["left_type"], r["left_value"]) in keys or (r["right_type"], r["right_value"]) in keys
            ]
        if accepted is not None:
            rows = [r for r in rows if r["accepted"] == accepted]
        return _links(rows)

    def remove_links(self, links: IdentityLinks) -> int:
        gone = {self._key(r) for r in links.to_records()}
        before = len(self.link_rows)
        self.link_rows = [r for r in self.link_rows if self._key(r) not in gone]
        return before - len(self.link_rows)

    def allocate_customer_ids(self, n: int) -> npt.NDArray[np.int64]:
        out = np.arange(self.next_id, self.next_id + n, dtype=np.int64)
        self.next_id += n
        return out

    def assign(self, id_type: Any, value: Any, customer_id: Any) -> int:
        for t, v, c in zip(
            np.asarray(id_type).tolist(),
            np.asarray(value).tolist(),
            np.asarray(customer_id).tolist(),
            strict=True,
        ):
            self.assigned[(t, v)] = int(c)
        return len(np.asarray(id_type))

    def lookup(self, id_type: Any, value: Any) -> npt.NDArray[np.int64]:
        return np.array(
            [
                self.assigned.get((t, v), -1)
                for t, v in zip(np.asarray(id_type).tolist(), np.asarray(value).tolist(), strict=True)
            ],
            dtype=np.int64,
        )

    def members(self, customer_ids: Any = None) -> tuple[Any, Any, npt.NDArray[np.int64]]:
        wanted = None if customer_ids is None else set(np.asarray(customer_ids).tolist())
        items = [
            (t, v, c)
            for (t, v), c in sorted(self.assigned.items())
            if c >= 0 and (wanted is None or c in wanted)
        ]
        return (
            np.array([i[0] for i in items], dtype=object),
            np.array([i[1] for i in items], dtype=object),
            np.array([i[2] for i in items], dtype=np.int64),
        )

    def append_history(self, events: MergeEvents) -> int:
        self.events.extend(events.to_records())
        return len(events)

    def history(self, *, since: Any = None) -> MergeEvents:
        rows = self.events
        if not rows:
            return MergeEvents(
                at=np.empty(0, "datetime64[us]"),
                kind=np.empty(0, object),
                from_customer=np.empty(0, np.int64),
                to_customer=np.empty(0, np.int64),
                reason=np.empty(0, object),
            )
        return MergeEvents.from_records(rows)

    def erase_customer(self, customer_id: int) -> Mapping[str, int]:
        idents = {k for k, c in self.assigned.items() if c == customer_id}
        for k in idents:
            del self.assigned[k]
        records = {r["record_id"] for r in self.rows if (r["id_type"], r["value"]) in idents}
        n_rows = sum(1 for r in self.rows if r["record_id"] in records)
        self.rows = [r for r in self.rows if r["record_id"] not in records]
        before = len(self.link_rows)
        self.link_rows = [
            r
            for r in self.link_rows
            if (r["left_type"], r["left_value"]) not in idents
            and (r["right_type"], r["right_value"]) not in idents
        ]
        self.events.append(
            {
                "at": np.datetime64("2025-01-01", "us"),
                "kind": "erase",
                "from_customer": customer_id,
                "to_customer": -1,
                "reason": "erased",
            }
        )
        return {"identifiers": len(idents), "links": before - len(self.link_rows), "records": n_rows}


def _links(rows: Sequence[Mapping[str, Any]]) -> IdentityLinks:
    if not rows:
        nothing = np.empty(0, dtype=object)
        return IdentityLinks(
            left_type=nothing,
            left_value=nothing,
            right_type=nothing,
            right_value=nothing,
            kind=nothing,
            probability=np.empty(0),
            record_id=nothing,
            accepted=np.empty(0, bool),
            reason=nothing,
            created_at=np.empty(0, "datetime64[us]"),
        )
    cols = {k: [r[k] for r in rows] for k in rows[0]}
    return IdentityLinks(
        left_type=np.array(cols["left_type"], dtype=object),
        left_value=np.array(cols["left_value"], dtype=object),
        right_type=np.array(cols["right_type"], dtype=object),
        right_value=np.array(cols["right_value"], dtype=object),
        kind=np.array(cols["kind"], dtype=object),
        probability=np.array(cols["probability"], dtype=float),
        record_id=np.array(cols["record_id"], dtype=object),
        accepted=np.array(cols["accepted"], dtype=bool),
        reason=np.array(cols["reason"], dtype=object),
        created_at=np.array(cols["created_at"], dtype="datetime64[us]"),
    )


class FakeAudit:
    def __init__(self) -> None:
        self.log: list[AuditEntry] = []

    def append(self, entries: Sequence[AuditEntry]) -> int:
        self.log.extend(entries)
        return len(entries)

    def entries(
        self, *, since: Any = None, action: str | None = None, subject: str | None = None
    ) -> list[AuditEntry]:
        return [
            e
            for e in self.log
            if (action is None or e.action == action) and (subject is None or e.subject == subject)
        ]


class FakeStore:
    """Only the identity and audit concerns; ``atomic`` snapshots and restores them."""

    def __init__(self) -> None:
        self.identity = FakeIdentityStore()
        self.audit = FakeAudit()
        self.tenant = "default"
        self.url = "fake://"

    @contextlib.contextmanager
    def atomic(self) -> Iterator[None]:
        snapshot = copy.deepcopy((self.identity.__dict__, self.audit.__dict__))
        try:
            yield
        except BaseException:
            self.identity.__dict__, self.audit.__dict__ = snapshot
            raise
