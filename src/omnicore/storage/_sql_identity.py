"""The identity store over SQL: records, links, assignments and merge history."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from omnicore._errors import ValidationError
from omnicore.data import STRING_DTYPE, TIME_DTYPE, IdentifierRecords, searchsorted, unique_sorted
from omnicore.storage._db import (
    Row,
    Scope,
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
from omnicore.storage._records import IdentityLinks, MergeEvents

__all__ = ["SqlIdentityStore"]

_LOG = "identity_records"
_LINK_KEY = ("left_type", "left_value", "right_type", "right_value", "kind", "record_id")
_LINK_COLUMNS = (*_LINK_KEY, "probability", "accepted", "reason", "created_at")


def _text_array(values: npt.ArrayLike, field: str) -> npt.NDArray[Any]:
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValidationError("expected a one-dimensional column", field=field)
    if array.size == 0:
        return np.empty(0, STRING_DTYPE)
    if array.dtype.kind in "US" or array.dtype == STRING_DTYPE:
        return array.astype(STRING_DTYPE)
    if array.dtype.kind == "O" and all(isinstance(v, str) for v in array):
        return array.astype(STRING_DTYPE)
    raise ValidationError("expected text", field=field, value=array[0])


def _identifiers(id_type: npt.ArrayLike, value: npt.ArrayLike) -> tuple[npt.NDArray[Any], npt.NDArray[Any]]:
    types = _text_array(id_type, "id_type")
    values = _text_array(value, "value")
    if len(types) != len(values):
        raise ValidationError(f"id_type has {len(types)} rows but value has {len(values)}", field="value")
    return types, values


def _pair_keys(types: npt.NDArray[Any], values: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """One text key per identifier (type and value joined by a separator no identifier contains)."""
    return np.strings.add(np.strings.add(types.astype(STRING_DTYPE), "\x1f"), values.astype(STRING_DTYPE))


class SqlIdentityStore:
    """:class:`~omnicore.storage.IdentityStore` over SQL."""

    def __init__(self, scope: Scope) -> None:
        self._scope = scope

    # -- records -------------------------------------------------------------------------------
    def append_records(self, records: IdentifierRecords) -> int:
        """Store source records (one row per identifier on a record)."""
        expect_type(records, IdentifierRecords, "records")
        if not len(records):
            return 0
        scope = self._scope
        with scope.write():
            scope.settle_kinds(_LOG, {"record_id": id_kind(records.record_id)})
            scope.append_numbered(
                "oc_identifier_records",
                _LOG,
                {
                    "record_id": encode_ids(records.record_id),
                    "source": records.source.tolist(),
                    "id_type": records.id_type.tolist(),
                    "value": records.value.tolist(),
                    "observed_at": times_to_micros(records.observed_at),
                },
            )
        return len(records)

    def records(
        self,
        *,
        record_ids: npt.ArrayLike | None = None,
        id_type: npt.ArrayLike | None = None,
        value: npt.ArrayLike | None = None,
    ) -> IdentifierRecords:
        """Records by record id, or every record row carrying one of the given identifiers."""
        scope = self._scope
        with scope.read():
            kind = scope.kinds(_LOG).get("record_id")
            if kind is None:
                return IdentifierRecords.empty()
            select = (
                f"SELECT seq, {id_select('record_id', kind)}, source, id_type, value, observed_at "
                "FROM oc_identifier_records WHERE tenant = ?"
            )
            rows: list[Row] = []
            if record_ids is not None:
                for marks, chunk in scope.chunks(scope.filter_ids(record_ids, kind, field="record_ids")):
                    rows += scope.rows(f"{select} AND record_id IN {marks}", (scope.tenant, *chunk))
            elif id_type is not None or value is not None:
                if id_type is None or value is None:
                    raise ValidationError("give both id_type and value", field="id_type")
                for clause, params in self._pair_clauses("id_type", "value", *_identifiers(id_type, value)):
                    rows += scope.rows(f"{select} AND {clause}", (scope.tenant, *params))
            else:
                rows = scope.rows(select, (scope.tenant,))
        if not rows:
            return IdentifierRecords.empty()
        rows.sort(key=lambda row: int(row[0]))
        columns = list(zip(*rows, strict=True))
        return IdentifierRecords(
            record_id=decode_ids(columns[1], kind),
            source=np.asarray(columns[2], dtype=STRING_DTYPE),
            id_type=np.asarray(columns[3], dtype=STRING_DTYPE),
            value=np.asarray(columns[4], dtype=STRING_DTYPE),
            observed_at=micros_to_times(columns[5]),
        )

    def _pair_clauses(
        self, type_column: str, value_column: str, types: npt.NDArray[Any], values: npt.NDArray[Any]
    ) -> Iterator[tuple[str, list[Any]]]:
        """WHERE fragments matching any of the identifiers, one per id type and chunk of values."""
        for id_type in unique_sorted(types).tolist():
            wanted = unique_sorted(values[types == id_type]).tolist()
            for marks, chunk in self._scope.chunks(wanted):
                yield f"{type_column} = ? AND {value_column} IN {marks}", [id_type, *chunk]

    # -- links ---------------------------------------------------------------------------------
    def append_links(self, links: IdentityLinks) -> int:
        """Store links (accepted and refused); an identical link is stored once. Returns how many were new."""
        expect_type(links, IdentityLinks, "links")
        n = len(links)
        if n == 0:
            return 0
        scope = self._scope
        with scope.write():
            (before,) = scope.rows(
                "SELECT COUNT(*) FROM oc_identity_links WHERE tenant = ?", (scope.tenant,)
            )[0]
            first = scope.take("identity_links", n)
            columns = [
                [scope.tenant] * n,
                *(getattr(links, name).tolist() for name in _LINK_KEY),
                list(range(first, first + n)),
                links.probability.tolist(),
                links.accepted.tolist(),
                links.reason.tolist(),
                times_to_micros(links.created_at),
            ]
            names = ("tenant", *_LINK_KEY, "seq", "probability", "accepted", "reason", "created_at")
            scope.db.executemany(
                f"INSERT INTO oc_identity_links ({', '.join(names)}) VALUES ({', '.join('?' * len(names))}) "
                f"ON CONFLICT (tenant, {', '.join(_LINK_KEY)}) DO NOTHING",
                zip(*columns, strict=True),
            )
            (after,) = scope.rows("SELECT COUNT(*) FROM oc_identity_links WHERE tenant = ?", (scope.tenant,))[
                0
            ]
        return int(after) - int(before)

    def links(
        self,
        *,
        id_type: npt.ArrayLike | None = None,
        value: npt.ArrayLike | None = None,
        accepted: bool | None = None,
    ) -> IdentityLinks:
        """Links touching any of the given identifiers (all links when none given), oldest first."""
        scope = self._scope
        select = f"SELECT seq, {', '.join(_LINK_COLUMNS)} FROM oc_identity_links WHERE tenant = ?" + (
            "" if accepted is None else " AND accepted = ?"
        )
        base: tuple[Any, ...] = (scope.tenant,) if accepted is None else (scope.tenant, bool(accepted))
        found: dict[int, Row] = {}
        with scope.read():
            if id_type is None and value is None:
                found = {int(row[0]): row for row in scope.rows(select, base)}
            else:
                if id_type is None or value is None:
                    raise ValidationError("give both id_type and value", field="id_type")
                types, values = _identifiers(id_type, value)
                for side in ("left", "right"):
                    for clause, params in self._pair_clauses(f"{side}_type", f"{side}_value", types, values):
                        for row in scope.rows(f"{select} AND {clause}", (*base, *params)):
                            found[int(row[0])] = row
        return self._links_from_rows([found[k] for k in sorted(found)])

    @staticmethod
    def _links_from_rows(rows: list[Row]) -> IdentityLinks:
        if not rows:
            text = np.empty(0, STRING_DTYPE)
            return IdentityLinks(
                left_type=text,
                left_value=text,
                right_type=text,
                right_value=text,
                kind=text,
                probability=np.empty(0),
                record_id=text,
                accepted=np.empty(0, bool),
                reason=text,
                created_at=np.empty(0, TIME_DTYPE),
            )
        columns = list(zip(*rows, strict=True))
        values: dict[str, Any] = {
            name: np.asarray(columns[i], dtype=STRING_DTYPE) for i, name in enumerate(_LINK_KEY, start=1)
        }
        return IdentityLinks(
            **values,
            probability=np.asarray(columns[7], dtype=np.float64),
            accepted=np.asarray(columns[8], dtype=bool),
            reason=np.asarray(columns[9], dtype=STRING_DTYPE),
            created_at=micros_to_times(columns[10]),
        )

    def remove_links(self, links: IdentityLinks) -> int:
        """Delete the given links (matched on both identifiers, kind and record); returns the count."""
        expect_type(links, IdentityLinks, "links")
        if not len(links):
            return 0
        scope = self._scope
        keys = {
            tuple(row) for row in zip(*(getattr(links, name).tolist() for name in _LINK_KEY), strict=True)
        }
        where = " AND ".join(f"{name} = ?" for name in _LINK_KEY)
        with scope.write():
            cursor = scope.db.executemany(
                f"DELETE FROM oc_identity_links WHERE tenant = ? AND {where}",
                [(scope.tenant, *key) for key in sorted(keys)],
            )
            return int(cursor.rowcount)  # both drivers sum the rows of every statement

    # -- customers -----------------------------------------------------------------------------
    def allocate_customer_ids(self, n: int) -> npt.NDArray[np.int64]:
        """Reserve ``n`` new, never reused customer ids (from 1 up, per tenant)."""
        if not isinstance(n, int | np.integer) or isinstance(n, bool) or n < 0:
            raise ValidationError("must be a non-negative integer", field="n", value=n)
        if n == 0:
            return np.empty(0, np.int64)
        with self._scope.write():
            first = self._scope.take("customer_id", int(n))
        return np.arange(first, first + int(n), dtype=np.int64)

    def assign(self, id_type: npt.ArrayLike, value: npt.ArrayLike, customer_id: npt.ArrayLike) -> int:
        """Set the customer of each identifier (insert or overwrite; a later row wins)."""
        types, values = _identifiers(id_type, value)
        customers = np.asarray(customer_id)
        if customers.ndim == 0:
            customers = np.full(len(types), customers)
        if customers.dtype.kind not in "iu" and customers.size:
            raise ValidationError("customer ids are int64", field="customer_id", value=customers[0])
        customers = customers.astype(np.int64)
        if len(customers) != len(types):
            raise ValidationError(
                f"customer_id has {len(customers)} rows but id_type has {len(types)}", field="customer_id"
            )
        if not len(types):
            return 0
        scope = self._scope
        with scope.write():
            scope.db.executemany(
                "INSERT INTO oc_identity_assignments (tenant, id_type, value, customer_id) "
                "VALUES (?, ?, ?, ?) "
                "ON CONFLICT (tenant, id_type, value) DO UPDATE SET customer_id = excluded.customer_id",
                zip(
                    [scope.tenant] * len(types),
                    types.tolist(),
                    values.tolist(),
                    customers.tolist(),
                    strict=True,
                ),
            )
        return len(types)

    def lookup(self, id_type: npt.ArrayLike, value: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """Customer of each identifier, -1 where unknown."""
        types, values = _identifiers(id_type, value)
        out = np.full(len(types), -1, np.int64)
        if not len(types):
            return out
        scope = self._scope
        rows: list[Row] = []
        with scope.read():
            for clause, params in self._pair_clauses("id_type", "value", types, values):
                rows += scope.rows(
                    "SELECT id_type, value, customer_id FROM oc_identity_assignments "
                    f"WHERE tenant = ? AND {clause}",
                    (scope.tenant, *params),
                )
        if not rows:
            return out
        columns = list(zip(*rows, strict=True))
        found = _pair_keys(np.asarray(columns[0], STRING_DTYPE), np.asarray(columns[1], STRING_DTYPE))
        order = np.argsort(found, kind="stable")
        found = found[order]
        customers = np.asarray(columns[2], np.int64)[order]
        wanted = _pair_keys(types, values)
        position = np.clip(searchsorted(found, wanted), 0, len(found) - 1)
        hit = found[position] == wanted
        out[hit] = customers[position[hit]]
        return out

    def members(
        self, customer_ids: npt.ArrayLike | None = None
    ) -> tuple[npt.NDArray[Any], npt.NDArray[Any], npt.NDArray[np.int64]]:
        """``(id_type, value, customer_id)`` of every identifier of these customers (all when None).

        Identifiers assigned -1 (left without a customer, e.g. shared values) belong to no customer.
        """
        scope = self._scope
        select = "SELECT id_type, value, customer_id FROM oc_identity_assignments WHERE tenant = ?"
        rows: list[Row] = []
        with scope.read():
            if customer_ids is None:
                rows = scope.rows(f"{select} AND customer_id >= 0", (scope.tenant,))
            else:
                wanted = np.unique(np.asarray(customer_ids, dtype=np.int64).reshape(-1)).tolist()
                for marks, chunk in scope.chunks(wanted):
                    rows += scope.rows(f"{select} AND customer_id IN {marks}", (scope.tenant, *chunk))
        rows.sort(key=lambda row: (int(row[2]), row[0], row[1]))
        if not rows:
            return np.empty(0, STRING_DTYPE), np.empty(0, STRING_DTYPE), np.empty(0, np.int64)
        columns = list(zip(*rows, strict=True))
        return (
            np.asarray(columns[0], STRING_DTYPE),
            np.asarray(columns[1], STRING_DTYPE),
            np.asarray(columns[2], np.int64),
        )

    # -- history -------------------------------------------------------------------------------
    def append_history(self, events: MergeEvents) -> int:
        """Record customer-id changes."""
        expect_type(events, MergeEvents, "events")
        if not len(events):
            return 0
        with self._scope.write():
            self._scope.append_numbered(
                "oc_merge_history",
                "merge_history",
                {
                    "at": times_to_micros(events.at),
                    "kind": events.kind.tolist(),
                    "from_customer": events.from_customer.tolist(),
                    "to_customer": events.to_customer.tolist(),
                    "reason": events.reason.tolist(),
                },
            )
        return len(events)

    def history(self, *, since: Any = None) -> MergeEvents:
        """Customer-id changes at or after ``since``, oldest first."""
        scope = self._scope
        sql = "SELECT at, kind, from_customer, to_customer, reason FROM oc_merge_history WHERE tenant = ?"
        params: list[Any] = [scope.tenant]
        if since is not None:
            sql += " AND at >= ?"
            params.append(time_micros(since, field="since"))
        with scope.read():
            rows = scope.rows(sql + " ORDER BY at, seq", params)
        if not rows:
            return MergeEvents(
                at=np.empty(0, TIME_DTYPE),
                kind=np.empty(0, STRING_DTYPE),
                from_customer=np.empty(0, np.int64),
                to_customer=np.empty(0, np.int64),
                reason=np.empty(0, STRING_DTYPE),
            )
        columns = list(zip(*rows, strict=True))
        return MergeEvents(
            at=micros_to_times(columns[0]),
            kind=np.asarray(columns[1], STRING_DTYPE),
            from_customer=np.asarray(columns[2], np.int64),
            to_customer=np.asarray(columns[3], np.int64),
            reason=np.asarray(columns[4], STRING_DTYPE),
        )

    def erase_customer(self, customer_id: int) -> Mapping[str, int]:
        """Delete every identifier assignment, link and record of one customer.

        Records are deleted whole: every row of a record that carried one of the customer's identifiers.
        The history keeps an ``"erase"`` event with no identifier in it.
        """
        if not isinstance(customer_id, int | np.integer) or isinstance(customer_id, bool):
            raise ValidationError("customer ids are int64", field="customer_id", value=customer_id)
        cid = int(customer_id)
        scope = self._scope
        with scope.write():
            types, values, _ = self.members([cid])
            links = 0
            record_keys: set[Any] = set()
            for side in ("left", "right"):
                for clause, params in self._pair_clauses(f"{side}_type", f"{side}_value", types, values):
                    links += scope.execute(
                        f"DELETE FROM oc_identity_links WHERE tenant = ? AND {clause}",
                        (scope.tenant, *params),
                    )
            for clause, params in self._pair_clauses("id_type", "value", types, values):
                record_keys.update(
                    row[0]
                    for row in scope.rows(
                        f"SELECT record_id FROM oc_identifier_records WHERE tenant = ? AND {clause}",
                        (scope.tenant, *params),
                    )
                )
            records = 0
            for marks, chunk in scope.chunks(sorted(record_keys)):
                records += scope.execute(
                    f"DELETE FROM oc_identifier_records WHERE tenant = ? AND record_id IN {marks}",
                    (scope.tenant, *chunk),
                )
            identifiers = scope.execute(
                "DELETE FROM oc_identity_assignments WHERE tenant = ? AND customer_id = ?",
                (scope.tenant, cid),
            )
            self.append_history(
                MergeEvents(
                    at=np.array([now_micros()], np.int64).view(TIME_DTYPE),
                    kind=np.array(["erase"]),
                    from_customer=np.array([cid], np.int64),
                    to_customer=np.array([-1], np.int64),
                    reason=np.array([""]),
                )
            )
        return {"identifiers": identifiers, "links": links, "records": records}
