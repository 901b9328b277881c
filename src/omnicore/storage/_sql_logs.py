"""Transaction and event logs over SQL: bulk appends, keyset-paginated columnar scans."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from omnicore._errors import ValidationError
from omnicore.data import STRING_DTYPE, TIME_DTYPE, Events, Transactions
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
    time_micros,
    times_to_micros,
)
from omnicore.storage._property_blocks import PropertyBlocks, empty_property, property_kind

__all__ = ["SqlEventLog", "SqlTransactionLog"]

_ABSENT = "absent"


def _check_batch_rows(batch_rows: int) -> int:
    if not isinstance(batch_rows, int) or isinstance(batch_rows, bool) or batch_rows <= 0:
        raise ValidationError("must be a positive integer", field="batch_rows", value=batch_rows)
    return batch_rows


def _optional_kind(column: npt.NDArray[Any] | None, kind_of: Callable[[npt.NDArray[Any]], str]) -> str:
    return _ABSENT if column is None else kind_of(column)


def _text_kind(_: npt.NDArray[Any]) -> str:
    return "text"


def _int_kind(_: npt.NDArray[Any]) -> str:
    return "int"


def _in_order(table: Transactions | Events, order: npt.NDArray[np.int64]) -> dict[str, Any]:
    """The table's fixed columns (None where absent) in ``order``; no re-validation, unlike ``take``."""
    return {
        name: None if (column := getattr(table, name)) is None else column[order]
        for name in table.column_names()
    }


def _time_order(timestamps: npt.NDArray[np.datetime64]) -> npt.NDArray[np.int64]:
    """Row positions sorted by time (stable): rows are written in time order, numbered in the caller's."""
    order: npt.NDArray[np.int64] = np.argsort(timestamps, kind="stable").astype(np.int64)
    return order


class _Log:
    """Shared scan machinery: time range, customer filter and keyset pagination on (ts, seq)."""

    table: str
    log: str

    def __init__(self, scope: Scope) -> None:
        self._scope = scope

    def count(self) -> int:
        """Number of rows held for this tenant."""
        with self._scope.read():
            (value,) = self._scope.rows(
                f"SELECT COUNT(*) FROM {self.table} WHERE tenant = ?", (self._scope.tenant,)
            )[0]
        return int(value)

    def erase_customers(self, customer_ids: npt.ArrayLike) -> int:
        """Delete every row of these customers; returns the number deleted."""
        scope = self._scope
        with scope.write():
            ids = scope.filter_ids(
                customer_ids, scope.kinds(self.log).get("customer_id"), field="customer_ids"
            )
            self._before_erase(ids)
            deleted = 0
            for marks, chunk in scope.chunks(ids):
                deleted += scope.execute(
                    f"DELETE FROM {self.table} WHERE tenant = ? AND customer_id IN {marks}",
                    (scope.tenant, *chunk),
                )
            return deleted

    def _before_erase(self, ids: list[str]) -> None:
        """Clean up what the rows of these (encoded) customer ids hold outside the table."""

    def _where(
        self,
        start: Any,
        end: Any,
        customer_ids: npt.ArrayLike | None,
        kinds: dict[str, str],
        extra: Sequence[tuple[str, Sequence[Any]]] = (),
    ) -> tuple[str, list[Any], npt.NDArray[Any] | None, bool]:
        """WHERE clause, its parameters, ids to filter in numpy (for long lists) and whether no row can
        match."""
        clauses = ["tenant = ?"]
        params: list[Any] = [self._scope.tenant]
        if start is not None:
            clauses.append("ts >= ?")
            params.append(time_micros(start, field="start"))
        if end is not None:
            clauses.append("ts < ?")
            params.append(time_micros(end, field="end"))
        post: npt.NDArray[Any] | None = None
        if customer_ids is not None:
            ids = self._scope.filter_ids(customer_ids, kinds.get("customer_id"), field="customer_ids")
            if not ids:
                return "", [], None, True
            if len(ids) <= self._scope.dialect.in_chunk:
                clauses.append("customer_id IN (" + ", ".join("?" * len(ids)) + ")")
                params.extend(ids)
            else:
                post = np.unique(as_id_array(customer_ids, field="customer_ids"))
        for clause, values in extra:
            clauses.append(clause)
            params.extend(values)
        return " AND ".join(clauses), params, post, False

    def _pages(
        self, select: str, where: str, params: list[Any], batch_rows: int
    ) -> Iterator[tuple[list[Row], tuple[int, int], tuple[int, int]]]:
        """Pages of rows ordered by (ts, seq); ``select`` must start with ``seq, ts``."""
        last: tuple[int, int] | None = None
        while True:
            keyset = "" if last is None else " AND (ts > ? OR (ts = ? AND seq > ?))"
            page_params = params if last is None else [*params, last[0], last[0], last[1]]
            rows = self._scope.rows(
                f"SELECT {select} FROM {self.table} WHERE {where}{keyset} ORDER BY ts, seq LIMIT ?",
                (*page_params, batch_rows),
            )
            if not rows:
                return
            first_key = (int(rows[0][1]), int(rows[0][0]))
            last = (int(rows[-1][1]), int(rows[-1][0]))
            yield rows, first_key, last
            if len(rows) < batch_rows:
                return


class SqlTransactionLog(_Log):
    """:class:`~omnicore.storage.TransactionLog` over SQL."""

    table = "oc_transactions"
    log = "transactions"

    def append(self, transactions: Transactions) -> int:
        """Append rows; returns the number written."""
        expect_type(transactions, Transactions, "transactions")
        n = len(transactions)
        if n == 0:
            return 0
        order = _time_order(transactions.timestamp)
        tx = _in_order(transactions, order)
        returns = transactions.allow_returns
        wanted = {
            "customer_id": id_kind(tx["customer_id"]),
            "channel": _optional_kind(tx["channel"], _text_kind),
            "order_id": _optional_kind(tx["order_id"], id_kind),
            "sku": _optional_kind(tx["sku"], id_kind),
            "quantity": _optional_kind(tx["quantity"], _int_kind),
        }
        none = [None] * n
        scope = self._scope
        with scope.write():
            scope.settle_kinds(self.log, wanted)
            if returns:
                scope.settle_kinds(self.log, {"allow_returns": "bool"})
            scope.append_numbered(
                self.table,
                self.log,
                {
                    "customer_id": encode_ids(tx["customer_id"]),
                    "ts": times_to_micros(tx["timestamp"]),
                    "amount": tx["amount"].tolist(),
                    "channel": none if tx["channel"] is None else tx["channel"].tolist(),
                    "order_id": none if tx["order_id"] is None else encode_ids(tx["order_id"]),
                    "sku": none if tx["sku"] is None else encode_ids(tx["sku"]),
                    "quantity": none if tx["quantity"] is None else tx["quantity"].tolist(),
                },
                positions=order,
            )
        return n

    def scan(
        self,
        *,
        start: Any = None,
        end: Any = None,
        customer_ids: npt.ArrayLike | None = None,
        batch_rows: int = 1_000_000,
    ) -> Iterator[Transactions]:
        """Rows in ``[start, end)`` ordered by (timestamp, insertion order), in batches."""
        _check_batch_rows(batch_rows)
        scope = self._scope
        with scope.read():
            kinds = scope.kinds(self.log)
            where, params, post, nothing = self._where(start, end, customer_ids, kinds)
        if nothing or "customer_id" not in kinds:
            return
        present = [c for c in ("channel", "order_id", "sku", "quantity") if kinds.get(c, _ABSENT) != _ABSENT]
        exprs = ["seq", "ts", id_select("customer_id", kinds["customer_id"]), "amount"]
        exprs += [id_select(c, kinds[c]) if c in ("order_id", "sku") else c for c in present]
        allow_returns = "allow_returns" in kinds
        for rows, _, _ in self._pages(", ".join(exprs), where, params, batch_rows):
            batch = self._decode(rows, kinds, present, allow_returns)
            if post is not None:
                batch = batch.take(np.isin(batch.customer_id, post))
            if len(batch):
                yield batch

    @staticmethod
    def _decode(
        rows: list[Row], kinds: dict[str, str], present: list[str], allow_returns: bool
    ) -> Transactions:
        columns = list(zip(*rows, strict=True))
        values: dict[str, Any] = {
            "customer_id": decode_ids(columns[2], kinds["customer_id"]),
            "timestamp": micros_to_times(columns[1]),
            "amount": np.asarray(columns[3], dtype=np.float64),
        }
        for offset, name in enumerate(present, start=4):
            column = columns[offset]
            if name == "channel":
                values[name] = np.asarray(column, dtype=STRING_DTYPE)
            elif name == "quantity":
                values[name] = np.asarray(column, dtype=np.int64)
            else:
                values[name] = decode_ids(column, kinds[name])
        returns = allow_returns or bool((values["amount"] < 0).any())
        return Transactions(**values, allow_returns=returns)

    def load(
        self, *, start: Any = None, end: Any = None, customer_ids: npt.ArrayLike | None = None
    ) -> Transactions:
        """All matching rows in one container (see :meth:`scan`)."""
        batches = list(self.scan(start=start, end=end, customer_ids=customer_ids, batch_rows=1_000_000))
        if not batches:
            return self._empty()
        return batches[0] if len(batches) == 1 else Transactions.concat(batches)

    def _empty(self) -> Transactions:
        with self._scope.read():
            kinds = self._scope.kinds(self.log)
        id_dtype: Any = np.int64 if kinds.get("customer_id", "int") == "int" else STRING_DTYPE
        optional: dict[str, Any] = {}
        for name in ("channel", "order_id", "sku", "quantity"):
            kind = kinds.get(name, _ABSENT)
            if kind != _ABSENT:
                optional[name] = np.empty(0, np.int64 if kind == "int" else STRING_DTYPE)
        return Transactions(
            customer_id=np.empty(0, id_dtype),
            timestamp=np.empty(0, TIME_DTYPE),
            amount=np.empty(0),
            allow_returns="allow_returns" in kinds,
            **optional,
        )


# -- events ------------------------------------------------------------------------------------

_PROPERTY = "property:"


class SqlEventLog(_Log):
    """:class:`~omnicore.storage.EventLog` over SQL; properties live in a typed side table."""

    table = "oc_events"
    log = "events"

    def append(self, events: Events) -> int:
        """Append rows; returns the number written."""
        expect_type(events, Events, "events")
        n = len(events)
        if n == 0:
            return 0
        wanted = {
            "customer_id": id_kind(events.customer_id),
            "identifier_type": _optional_kind(events.identifier_type, _text_kind),
            "event_id": _optional_kind(events.event_id, id_kind),
        }
        wanted.update({_PROPERTY + k: property_kind(v) for k, v in events.properties.items()})
        order = _time_order(events.timestamp)
        properties = events.properties  # in the caller's order: event ``first + i`` is row ``i``
        cols = _in_order(events, order)
        none = [None] * n
        scope = self._scope
        with scope.write():
            scope.settle_kinds(self.log, wanted)
            first = scope.append_numbered(
                self.table,
                self.log,
                {
                    "customer_id": encode_ids(cols["customer_id"]),
                    "event_type": cols["event_type"].tolist(),
                    "ts": times_to_micros(cols["timestamp"]),
                    "identifier_type": none
                    if cols["identifier_type"] is None
                    else cols["identifier_type"].tolist(),
                    "event_id": none if cols["event_id"] is None else encode_ids(cols["event_id"]),
                },
                positions=order,
            )
            PropertyBlocks(scope).write(first, properties)
        return n

    def _before_erase(self, ids: list[str]) -> None:
        # Blank the events' property values; every block they touch is rewritten once per call.
        scope = self._scope
        kinds = scope.kinds(self.log)
        props = {k.removeprefix(_PROPERTY): v for k, v in kinds.items() if k.startswith(_PROPERTY)}
        seqs: list[int] = []
        for marks, chunk in scope.chunks(ids):
            seqs.extend(
                s
                for (s,) in scope.rows(
                    f"SELECT seq FROM oc_events WHERE tenant = ? AND customer_id IN {marks}",
                    (scope.tenant, *chunk),
                )
            )
        PropertyBlocks(scope).erase(np.asarray(seqs, dtype=np.int64), props)

    def scan(
        self,
        *,
        start: Any = None,
        end: Any = None,
        customer_ids: npt.ArrayLike | None = None,
        event_types: Sequence[str] | None = None,
        batch_rows: int = 1_000_000,
    ) -> Iterator[Events]:
        """Events in ``[start, end)`` ordered by (timestamp, insertion order), in batches."""
        _check_batch_rows(batch_rows)
        scope = self._scope
        extra: list[tuple[str, Sequence[Any]]] = []
        if event_types is not None:
            types = sorted(set(as_text_list(event_types, field="event_types")))
            if not types:
                return
            extra.append(("event_type IN (" + ", ".join("?" * len(types)) + ")", types))
        with scope.read():
            kinds = scope.kinds(self.log)
            where, params, post, nothing = self._where(start, end, customer_ids, kinds, extra)
        if nothing or "customer_id" not in kinds:
            return
        props = {k.removeprefix(_PROPERTY): v for k, v in kinds.items() if k.startswith(_PROPERTY)}
        has_type = kinds.get("identifier_type", _ABSENT) != _ABSENT
        event_id_kind = kinds.get("event_id", _ABSENT)
        exprs = ["seq", "ts", id_select("customer_id", kinds["customer_id"]), "event_type"]
        exprs.append("identifier_type" if has_type else "NULL")
        exprs.append(id_select("event_id", event_id_kind) if event_id_kind != _ABSENT else "NULL")
        select = ", ".join(exprs)
        blocks = PropertyBlocks(scope)
        cache: dict[tuple[int, str], Any] = {}
        last: tuple[int, int] | None = None
        while True:
            with scope.read():  # the page and its properties from one snapshot
                keyset = "" if last is None else " AND (ts > ? OR (ts = ? AND seq > ?))"
                page_params = params if last is None else [*params, last[0], last[0], last[1]]
                rows = scope.rows(
                    f"SELECT {select} FROM oc_events WHERE {where}{keyset} ORDER BY ts, seq LIMIT ?",
                    (*page_params, batch_rows),
                )
                if not rows:
                    return
                last = (int(rows[-1][1]), int(rows[-1][0]))
                seqs = np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))
                properties = blocks.read(seqs, props, cache)
            batch = self._decode(rows, properties, kinds, has_type, event_id_kind)
            if post is not None:
                batch = batch.take(np.isin(batch.customer_id, post))
            if len(batch):
                yield batch
            if len(rows) < batch_rows:
                return

    @staticmethod
    def _decode(
        rows: list[Row],
        properties: dict[str, npt.NDArray[Any]],
        kinds: dict[str, str],
        has_type: bool,
        event_id_kind: str,
    ) -> Events:
        columns = list(zip(*rows, strict=True))
        return Events(
            customer_id=decode_ids(columns[2], kinds["customer_id"]),
            event_type=np.asarray(columns[3], dtype=STRING_DTYPE),
            timestamp=micros_to_times(columns[1]),
            identifier_type=np.asarray(columns[4], dtype=STRING_DTYPE) if has_type else None,
            event_id=decode_ids(columns[5], event_id_kind) if event_id_kind != _ABSENT else None,
            properties=properties,
        )

    def load(
        self,
        *,
        start: Any = None,
        end: Any = None,
        customer_ids: npt.ArrayLike | None = None,
        event_types: Sequence[str] | None = None,
    ) -> Events:
        """All matching events in one container."""
        batches = list(self.scan(start=start, end=end, customer_ids=customer_ids, event_types=event_types))
        if not batches:
            return self._empty()
        return batches[0] if len(batches) == 1 else Events.concat(batches)

    def _empty(self) -> Events:
        with self._scope.read():
            kinds = self._scope.kinds(self.log)
        id_dtype: Any = np.int64 if kinds.get("customer_id", "int") == "int" else STRING_DTYPE
        event_id_kind = kinds.get("event_id", _ABSENT)
        props = {k.removeprefix(_PROPERTY): v for k, v in kinds.items() if k.startswith(_PROPERTY)}
        return Events(
            customer_id=np.empty(0, id_dtype),
            event_type=np.empty(0, STRING_DTYPE),
            timestamp=np.empty(0, TIME_DTYPE),
            identifier_type=(
                np.empty(0, STRING_DTYPE) if kinds.get("identifier_type", _ABSENT) != _ABSENT else None
            ),
            event_id=(
                None
                if event_id_kind == _ABSENT
                else np.empty(0, np.int64 if event_id_kind == "int" else STRING_DTYPE)
            ),
            properties={name: empty_property(kind, 0) for name, kind in props.items()},
        )
