"""The inventory store over SQL: positions and reservations that never oversell.

Every write takes the tenant's inventory lock first (``BEGIN IMMEDIATE`` on SQLite, a transaction-scoped
advisory lock on PostgreSQL), then reads available-to-promise and writes in the same transaction, so
concurrent reservations from any number of processes are serialised per tenant.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from omnicore._errors import ConflictError, NotFoundError, ValidationError
from omnicore.data import STRING_DTYPE, Inventory
from omnicore.storage._db import (
    Row,
    Scope,
    decode_ids,
    encode_ids,
    id_kind,
    id_select,
    now_micros,
)
from omnicore.storage._errors import InsufficientStockError
from omnicore.storage._records import Reservation, ReservationLine, ReservationStatus

__all__ = ["SqlInventoryStore", "check_lines", "check_order_id", "check_ttl"]

_LOG = "inventory"
_HELD = ReservationStatus.HELD.value


def check_order_id(order_id: str) -> str:
    """``order_id`` if it is non-empty text."""
    if not isinstance(order_id, str) or not order_id.strip():
        raise ValidationError("order ids are non-empty text", field="order_id", value=order_id)
    return order_id


def check_ttl(ttl_seconds: float) -> int:
    """A positive, finite time to live, in whole microseconds."""
    if (
        not isinstance(ttl_seconds, int | float)
        or isinstance(ttl_seconds, bool)
        or not math.isfinite(ttl_seconds)
        or ttl_seconds <= 0
    ):
        raise ValidationError("must be a positive number of seconds", field="ttl_seconds", value=ttl_seconds)
    return max(1, round(ttl_seconds * 1_000_000))


def check_lines(
    lines: Sequence[ReservationLine], *, allow_empty: bool = False
) -> tuple[ReservationLine, ...]:
    """Lines as a tuple; each a ReservationLine with one (sku, node) at most once."""
    if isinstance(lines, ReservationLine) or not isinstance(lines, Sequence | tuple | list):
        raise ValidationError("expected a sequence of ReservationLine", field="lines", value=lines)
    out = tuple(lines)
    if not out and not allow_empty:
        raise ValidationError("a reservation needs at least one line", field="lines")
    seen: set[tuple[Any, Any]] = set()
    for row, line in enumerate(out):
        if not isinstance(line, ReservationLine):
            raise ValidationError("expected a ReservationLine", field="lines", row=row, value=line)
        for name in ("sku", "node"):
            item = getattr(line, name)
            if not (isinstance(item, str) and item.strip()) and not (
                isinstance(item, int | np.integer) and not isinstance(item, bool)
            ):
                raise ValidationError(
                    "expected a non-empty text or integer id", field=name, row=row, value=item
                )
        key = (line.sku, line.node)
        if key in seen:
            raise ValidationError("the same (sku, node) appears twice", field="lines", row=row, value=key)
        seen.add(key)
    return out


def _encode_one(value: Any, kind: str | None, field: str, row: int) -> str:
    got = "text" if isinstance(value, str) else "int"
    if kind is not None and got != kind:
        raise ValidationError(f"the inventory holds {kind} ids; got {got}", field=field, row=row, value=value)
    return value if isinstance(value, str) else str(int(value))


def _encoded_key(line: ReservationLine, kinds: dict[str, str], row: int) -> tuple[str, str]:
    return (
        _encode_one(line.sku, kinds.get("sku"), "sku", row),
        _encode_one(line.node, kinds.get("node"), "node", row),
    )


def _time(micros: int) -> np.datetime64:
    return np.datetime64(micros, "us")


def _decode_one(value: str, kind: str | None) -> str | int:
    return int(value) if kind == "int" else value


class SqlInventoryStore:
    """:class:`~omnicore.storage.InventoryStore` over SQL."""

    def __init__(self, scope: Scope) -> None:
        self._scope = scope

    # -- positions -----------------------------------------------------------------------------
    def put(self, inventory: Inventory) -> int:
        """Insert or overwrite on-hand and safety stock per (sku, node); reservations are kept."""
        if not isinstance(inventory, Inventory):
            raise ValidationError("expected Inventory", field="inventory", value=type(inventory))
        n = len(inventory)
        if n == 0:
            return 0
        safety = inventory.safety_stock if inventory.safety_stock is not None else np.zeros(n, np.int64)
        scope = self._scope
        with scope.write():
            scope.lock(_LOG)
            scope.settle_kinds(_LOG, {"sku": id_kind(inventory.sku), "node": id_kind(inventory.node)})
            scope.db.executemany(
                "INSERT INTO oc_inventory (tenant, sku, node, on_hand, safety_stock) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (tenant, sku, node) DO UPDATE SET on_hand = excluded.on_hand, "
                "safety_stock = excluded.safety_stock",
                zip(
                    [scope.tenant] * n,
                    encode_ids(inventory.sku),
                    encode_ids(inventory.node),
                    inventory.on_hand.tolist(),
                    safety.tolist(),
                    strict=True,
                ),
            )
        return n

    def get(
        self,
        *,
        skus: npt.ArrayLike | None = None,
        nodes: npt.ArrayLike | None = None,
        now: Any = None,
    ) -> Inventory:
        """Positions (ordered by sku, node) with ``reserved`` from reservations active at ``now``."""
        at = now_micros(now)
        scope = self._scope
        with scope.read():
            kinds = scope.kinds(_LOG)
            if "sku" not in kinds:
                return Inventory.empty().with_values(
                    safety_stock=np.empty(0, np.int64), reserved=np.empty(0, np.int64)
                )
            sku_kind, node_kind = kinds["sku"], kinds["node"]
            clauses = ["i.tenant = ?"]
            params: list[Any] = [scope.tenant]
            for column, wanted, kind in (("sku", skus, sku_kind), ("node", nodes, node_kind)):
                if wanted is not None:
                    ids = scope.filter_ids(wanted, kind, field=f"{column}s")
                    if not ids:
                        clauses.append("1 = 0")
                        continue
                    clauses.append(f"i.{column} IN (" + ", ".join("?" * len(ids)) + ")")
                    params.extend(ids)
            rows = scope.rows(
                f"SELECT {id_select('i.sku', sku_kind)}, {id_select('i.node', node_kind)}, i.on_hand, "
                "i.safety_stock, COALESCE(h.units, 0) FROM oc_inventory i LEFT JOIN ("
                "SELECT l.sku, l.node, SUM(l.quantity) AS units FROM oc_reservation_lines l "
                "JOIN oc_reservations r ON r.tenant = l.tenant AND r.order_id = l.order_id "
                "WHERE l.tenant = ? AND r.status = ? AND r.expires_at > ? GROUP BY l.sku, l.node"
                ") h ON h.sku = i.sku AND h.node = i.node "
                f"WHERE {' AND '.join(clauses)} ORDER BY 1, 2",
                (scope.tenant, _HELD, at, *params),
            )
        if not rows:
            empty = np.empty(0, np.int64)
            return Inventory(
                sku=np.empty(0, np.int64 if sku_kind == "int" else STRING_DTYPE),
                node=np.empty(0, np.int64 if node_kind == "int" else STRING_DTYPE),
                on_hand=empty,
                safety_stock=empty,
                reserved=empty,
            )
        columns = list(zip(*rows, strict=True))
        return Inventory(
            sku=decode_ids(columns[0], sku_kind),
            node=decode_ids(columns[1], node_kind),
            on_hand=np.asarray(columns[2], np.int64),
            safety_stock=np.asarray(columns[3], np.int64),
            reserved=np.asarray(columns[4], np.int64),
        )

    # -- reservations --------------------------------------------------------------------------
    def reservation(self, order_id: str) -> Reservation | None:
        """The reservation of an order, or None."""
        check_order_id(order_id)
        with self._scope.read():
            return self._load(order_id, self._scope.kinds(_LOG))

    def _load(self, order_id: str, kinds: dict[str, str]) -> Reservation | None:
        scope = self._scope
        rows = scope.rows(
            "SELECT r.status, r.created_at, r.expires_at, l.sku, l.node, l.quantity FROM oc_reservations r "
            "LEFT JOIN oc_reservation_lines l ON l.tenant = r.tenant AND l.order_id = r.order_id "
            "WHERE r.tenant = ? AND r.order_id = ?",
            (scope.tenant, order_id),
        )
        if not rows:
            return None
        lines = [row[3:] for row in rows if row[3] is not None]
        return self._reservation(order_id, rows[0][:3], lines, kinds)

    @staticmethod
    def _reservation(order_id: str, head: Row, lines: list[Row], kinds: dict[str, str]) -> Reservation:
        status, created, expires = head
        return Reservation(
            order_id=order_id,
            lines=tuple(
                ReservationLine(
                    _decode_one(sku, kinds.get("sku")), _decode_one(node, kinds.get("node")), int(q)
                )
                for sku, node, q in lines
            ),
            status=ReservationStatus(status),
            created_at=_time(int(created)),
            expires_at=_time(int(expires)),
        )

    def _available(self, keys: list[tuple[str, str]], at: int) -> list[int]:
        """Available to promise per (encoded sku, node) at ``at``; 0 for unknown positions."""
        scope = self._scope
        match = " OR ".join(["(l.sku = ? AND l.node = ?)"] * len(keys))
        position = " OR ".join(["(i.sku = ? AND i.node = ?)"] * len(keys))
        flat = [part for key in keys for part in key]
        rows = scope.rows(
            "SELECT i.sku, i.node, i.on_hand - i.safety_stock - COALESCE(h.units, 0) FROM oc_inventory i "
            "LEFT JOIN (SELECT l.sku, l.node, SUM(l.quantity) AS units FROM oc_reservation_lines l "
            "JOIN oc_reservations r ON r.tenant = l.tenant AND r.order_id = l.order_id "
            f"WHERE l.tenant = ? AND r.status = ? AND r.expires_at > ? AND ({match}) "
            "GROUP BY l.sku, l.node) h ON h.sku = i.sku AND h.node = i.node "
            f"WHERE i.tenant = ? AND ({position})",
            (scope.tenant, _HELD, at, *flat, scope.tenant, *flat),
        )
        found = {(sku, node): max(int(units), 0) for sku, node, units in rows}
        return [found.get(key, 0) for key in keys]

    def reserve(
        self,
        order_id: str,
        lines: Sequence[ReservationLine],
        *,
        ttl_seconds: float,
        now: Any = None,
    ) -> Reservation:
        """Hold every line, or none (see :class:`~omnicore.storage.InventoryStore`).

        Idempotent by ``order_id``: the same lines return the reservation already made while it is held
        and unexpired, confirmed or released; a reservation that expired is held again if stock allows.
        """
        check_order_id(order_id)
        wanted = check_lines(lines)
        ttl = check_ttl(ttl_seconds)
        at = now_micros(now)
        scope = self._scope
        with scope.write():
            scope.lock(_LOG)
            kinds = scope.kinds(_LOG)
            encoded = [
                (
                    _encode_one(line.sku, kinds.get("sku"), "sku", row),
                    _encode_one(line.node, kinds.get("node"), "node", row),
                )
                for row, line in enumerate(wanted)
            ]
            existing = self._load(order_id, kinds)
            if existing is not None:
                same = {(str(x.sku), str(x.node), x.quantity) for x in existing.lines} == {
                    (str(x.sku), str(x.node), x.quantity) for x in wanted
                }
                if not same:
                    raise ConflictError(
                        f"order {order_id!r} already has a reservation with other lines "
                        f"({existing.status.value}); release it or use another order id"
                    )
                live = (
                    existing.status is ReservationStatus.HELD
                    and int(existing.expires_at.astype(np.int64)) > at
                )
                if live or existing.status in (ReservationStatus.CONFIRMED, ReservationStatus.RELEASED):
                    return existing
            available = self._available(encoded, at)
            for line, units in zip(wanted, available, strict=True):
                if line.quantity > units:
                    raise InsufficientStockError(line.sku, line.node, line.quantity, units)
            if existing is not None:
                scope.execute(
                    "DELETE FROM oc_reservation_lines WHERE tenant = ? AND order_id = ?",
                    (scope.tenant, order_id),
                )
                scope.execute(
                    "DELETE FROM oc_reservations WHERE tenant = ? AND order_id = ?", (scope.tenant, order_id)
                )
            scope.execute(
                "INSERT INTO oc_reservations (tenant, order_id, status, created_at, expires_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (scope.tenant, order_id, _HELD, at, at + ttl),
            )
            scope.db.executemany(
                "INSERT INTO oc_reservation_lines (tenant, order_id, sku, node, quantity) "
                "VALUES (?, ?, ?, ?, ?)",
                [
                    (scope.tenant, order_id, sku, node, line.quantity)
                    for (sku, node), line in zip(encoded, wanted, strict=True)
                ],
            )
        return Reservation(
            order_id=order_id,
            lines=wanted,
            status=ReservationStatus.HELD,
            created_at=_time(at),
            expires_at=_time(at + ttl),
        )

    def _lock_and_load(self, order_id: str) -> tuple[dict[str, str], Reservation]:
        """Take the inventory lock, then read the column kinds and the order's reservation."""
        self._scope.lock(_LOG)
        kinds = self._scope.kinds(_LOG)
        return kinds, self._held(order_id, kinds)

    def _held(self, order_id: str, kinds: dict[str, str]) -> Reservation:
        found = self._load(order_id, kinds)
        if found is None:
            raise NotFoundError(f"no reservation for order {order_id!r}")
        return found

    def confirm(self, order_id: str, *, now: Any = None) -> Reservation:
        """Turn a held reservation into a shipment: on hand falls by the reserved units.

        Confirming a confirmed reservation returns it. Raises ConflictError for a released or expired
        one (its units may have been promised to another order) and InsufficientStockError when on hand
        no longer covers a line (stock was counted down meanwhile).
        """
        check_order_id(order_id)
        at = now_micros(now)
        scope = self._scope
        with scope.write():
            kinds, found = self._lock_and_load(order_id)
            if found.status is ReservationStatus.CONFIRMED:
                return found
            if found.status is not ReservationStatus.HELD or int(found.expires_at.astype(np.int64)) <= at:
                status = "expired" if found.status is ReservationStatus.HELD else found.status.value
                raise ConflictError(f"reservation of order {order_id!r} is {status}; it cannot be confirmed")
            lines = scope.rows(
                "SELECT l.sku, l.node, l.quantity, i.on_hand FROM oc_reservation_lines l "
                "LEFT JOIN oc_inventory i ON i.tenant = l.tenant AND i.sku = l.sku AND i.node = l.node "
                "WHERE l.tenant = ? AND l.order_id = ? ORDER BY l.sku, l.node",
                (scope.tenant, order_id),
            )
            for sku, node, quantity, on_hand in lines:
                if on_hand is None or int(on_hand) < int(quantity):
                    raise InsufficientStockError(
                        _decode_one(sku, kinds.get("sku")),
                        _decode_one(node, kinds.get("node")),
                        int(quantity),
                        int(on_hand or 0),
                    )
            for sku, node, quantity, _ in lines:
                scope.execute(
                    "UPDATE oc_inventory SET on_hand = on_hand - ? WHERE tenant = ? AND sku = ? AND node = ?",
                    (int(quantity), scope.tenant, sku, node),
                )
            self._set_status(order_id, ReservationStatus.CONFIRMED)
            return self._held(order_id, kinds)

    def _set_status(self, order_id: str, status: ReservationStatus) -> None:
        self._scope.execute(
            "UPDATE oc_reservations SET status = ? WHERE tenant = ? AND order_id = ?",
            (status.value, self._scope.tenant, order_id),
        )

    def release(
        self,
        order_id: str,
        lines: Sequence[ReservationLine] | None = None,
        *,
        now: Any = None,
    ) -> Reservation:
        """Give back all lines, or only the units given (for re-routing); returns what remains held.

        Releasing every remaining unit marks the reservation released (it keeps its last lines as a
        record). Releasing a released or expired reservation again returns it; a confirmed one raises
        ConflictError.
        """
        check_order_id(order_id)
        partial = None if lines is None else check_lines(lines)
        now_micros(now)  # validated for symmetry; releasing frees units whatever the time
        scope = self._scope
        with scope.write():
            kinds, found = self._lock_and_load(order_id)
            if found.status is ReservationStatus.CONFIRMED:
                raise ConflictError(f"reservation of order {order_id!r} is confirmed; it cannot be released")
            if found.status is not ReservationStatus.HELD:
                if partial is None:
                    return found
                raise ConflictError(f"reservation of order {order_id!r} is {found.status.value}")
            if partial is None:
                self._set_status(order_id, ReservationStatus.RELEASED)
                return self._held(order_id, kinds)
            held = {(str(x.sku), str(x.node)): x.quantity for x in found.lines}
            remaining = dict(held)
            for row, line in enumerate(partial):
                key = (str(line.sku), str(line.node))
                if key not in held:
                    raise ValidationError(
                        "the reservation holds no such line",
                        field="lines",
                        row=row,
                        value=(line.sku, line.node),
                    )
                if line.quantity > held[key]:
                    raise ValidationError(
                        f"releasing {line.quantity} units but only {held[key]} are held",
                        field="lines",
                        row=row,
                        value=line.quantity,
                    )
                remaining[key] -= line.quantity
            if not any(remaining.values()):
                self._set_status(order_id, ReservationStatus.RELEASED)
                return self._held(order_id, kinds)
            self._rewrite_lines(order_id, held, remaining)
            return self._held(order_id, kinds)

    def _rewrite_lines(
        self, order_id: str, before: dict[tuple[str, str], int], after: dict[tuple[str, str], int]
    ) -> None:
        """Write the reservation's lines that changed from ``before`` to ``after`` (units per key)."""
        scope = self._scope
        line = "WHERE tenant = ? AND order_id = ? AND sku = ? AND node = ?"
        for (sku, node), units in after.items():
            held = before.get((sku, node), 0)
            if units == held:
                continue
            if units == 0:
                scope.execute(f"DELETE FROM oc_reservation_lines {line}", (scope.tenant, order_id, sku, node))
            elif held == 0:
                scope.execute(
                    "INSERT INTO oc_reservation_lines (tenant, order_id, sku, node, quantity) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (scope.tenant, order_id, sku, node, units),
                )
            else:
                scope.execute(
                    f"UPDATE oc_reservation_lines SET quantity = ? {line}",
                    (units, scope.tenant, order_id, sku, node),
                )

    def amend(
        self,
        order_id: str,
        *,
        release: Sequence[ReservationLine] = (),
        hold: Sequence[ReservationLine] = (),
        ttl_seconds: float | None = None,
        now: Any = None,
    ) -> Reservation:
        """Give back some units of a held reservation and hold others under the same order id, at once.

        See :meth:`~omnicore.storage.InventoryStore.amend`. The released units are available to the
        held ones in the same call; nothing is written unless every held line fits.
        """
        check_order_id(order_id)
        giving = check_lines(release, allow_empty=True)
        taking = check_lines(hold, allow_empty=True)
        if not giving and not taking:
            raise ValidationError("an amendment releases or holds at least one line", field="lines")
        ttl = None if ttl_seconds is None else check_ttl(ttl_seconds)
        at = now_micros(now)
        scope = self._scope
        with scope.write():
            kinds, found = self._lock_and_load(order_id)
            if found.status is not ReservationStatus.HELD or int(found.expires_at.astype(np.int64)) <= at:
                status = "expired" if found.status is ReservationStatus.HELD else found.status.value
                raise ConflictError(f"reservation of order {order_id!r} is {status}; it cannot be amended")
            held = {_encoded_key(x, kinds, 0): x.quantity for x in found.lines}
            after = dict(held)
            for row, line in enumerate(giving):
                key = _encoded_key(line, kinds, row)
                if line.quantity > held.get(key, 0):
                    raise ValidationError(
                        f"releasing {line.quantity} units but {held.get(key, 0)} are held",
                        field="release",
                        row=row,
                        value=(line.sku, line.node, line.quantity),
                    )
                after[key] -= line.quantity
            wanted = [(_encoded_key(line, kinds, row), line) for row, line in enumerate(taking)]
            if wanted:
                keys = [key for key, _ in wanted]
                available = self._available(keys, at)
                for (key, line), units in zip(wanted, available, strict=True):
                    free = units + held.get(key, 0) - after.get(key, 0)  # units released here are free
                    if line.quantity > free:
                        raise InsufficientStockError(line.sku, line.node, line.quantity, max(free, 0))
                    after[key] = after.get(key, 0) + line.quantity
            if not any(after.values()):
                self._set_status(order_id, ReservationStatus.RELEASED)
                return self._held(order_id, kinds)
            self._rewrite_lines(order_id, held, after)
            if ttl is not None:
                scope.execute(
                    "UPDATE oc_reservations SET expires_at = ? WHERE tenant = ? AND order_id = ?",
                    (at + ttl, scope.tenant, order_id),
                )
            return self._held(order_id, kinds)

    def active(self, *, now: Any = None) -> list[Reservation]:
        """Reservations held and unexpired at ``now``, oldest first."""
        at = now_micros(now)
        scope = self._scope
        with scope.read():
            kinds = scope.kinds(_LOG)
            heads = scope.rows(
                "SELECT order_id, status, created_at, expires_at FROM oc_reservations "
                "WHERE tenant = ? AND status = ? AND expires_at > ? ORDER BY created_at, order_id",
                (scope.tenant, _HELD, at),
            )
            lines = scope.rows(
                "SELECT l.order_id, l.sku, l.node, l.quantity FROM oc_reservation_lines l "
                "JOIN oc_reservations r ON r.tenant = l.tenant AND r.order_id = l.order_id "
                "WHERE l.tenant = ? AND r.status = ? AND r.expires_at > ?",
                (scope.tenant, _HELD, at),
            )
        by_order: dict[str, list[Row]] = {}
        for order_id, sku, node, quantity in lines:
            by_order.setdefault(order_id, []).append((sku, node, quantity))
        return [self._reservation(h[0], h[1:], by_order.get(h[0], []), kinds) for h in heads]

    def expire(self, *, now: Any = None) -> int:
        """Mark held reservations past their expiry as expired, freeing their units; returns the count."""
        at = now_micros(now)
        scope = self._scope
        with scope.write():
            scope.lock(_LOG)
            return scope.execute(
                "UPDATE oc_reservations SET status = ? WHERE tenant = ? AND status = ? AND expires_at <= ?",
                (ReservationStatus.EXPIRED.value, scope.tenant, _HELD, at),
            )
