"""A small in-process reference of the InventoryStore Protocol, for testing the allocation layer
until (and besides) the storage adapters: same contract, dictionaries, snapshot rollback."""

from __future__ import annotations

import contextlib
import copy

import attrs
import numpy as np

from omnicore import ConflictError, NotFoundError
from omnicore.data import Inventory
from omnicore.storage import InsufficientStockError, Reservation, ReservationLine, ReservationStatus

EPOCH_NOW = np.datetime64("2025-06-01T10:00:00", "us")


def _now(now):
    return EPOCH_NOW if now is None else np.datetime64(now, "us")


class FakeInventory:
    def __init__(self):
        self.positions = {}  # (sku, node) -> [on_hand, safety]
        self.reservations = {}

    def put(self, inventory):
        safety = (
            inventory.safety_stock if inventory.safety_stock is not None else np.zeros(len(inventory), int)
        )
        for sku, node, on_hand, ss in zip(
            inventory.sku.tolist(),
            inventory.node.tolist(),
            inventory.on_hand.tolist(),
            safety.tolist(),
            strict=True,
        ):
            self.positions[(sku, node)] = [on_hand, ss]
        return len(inventory)

    def _held(self, now):
        held = {}
        for r in self.reservations.values():
            if r.status is ReservationStatus.HELD and r.expires_at > now:
                for line in r.lines:
                    held[(line.sku, line.node)] = held.get((line.sku, line.node), 0) + line.quantity
        return held

    def get(self, *, skus=None, nodes=None, now=None):
        held = self._held(_now(now))
        keys = [
            k
            for k in sorted(self.positions)
            if (skus is None or k[0] in set(np.asarray(skus).tolist()))
            and (nodes is None or k[1] in set(np.asarray(nodes).tolist()))
        ]
        if not keys:
            return Inventory.empty()
        return Inventory(
            sku=[k[0] for k in keys],
            node=[k[1] for k in keys],
            on_hand=[self.positions[k][0] for k in keys],
            safety_stock=[self.positions[k][1] for k in keys],
            reserved=[held.get(k, 0) for k in keys],
        )

    def reserve(self, order_id, lines, *, ttl_seconds, now=None):
        now = _now(now)
        lines = tuple(sorted(lines, key=lambda x: (str(x.sku), str(x.node))))
        current = self.reservations.get(order_id)
        if current is not None and current.status is ReservationStatus.HELD and current.expires_at > now:
            if current.lines == lines:
                return current
            raise ConflictError(f"order {order_id} is held with other lines")
        held = self._held(now)
        for line in lines:
            on_hand, ss = self.positions.get((line.sku, line.node), [0, 0])
            available = on_hand - ss - held.get((line.sku, line.node), 0)
            if line.quantity > available:
                raise InsufficientStockError(line.sku, line.node, line.quantity, max(available, 0))
        r = Reservation(
            order_id=order_id,
            lines=lines,
            status=ReservationStatus.HELD,
            created_at=now,
            expires_at=now + np.timedelta64(int(ttl_seconds * 1e6), "us"),
        )
        self.reservations[order_id] = r
        return r

    def confirm(self, order_id, *, now=None):
        r = self.reservations.get(order_id)
        if r is None:
            raise NotFoundError(order_id)
        for line in r.lines:
            self.positions[(line.sku, line.node)][0] -= line.quantity
        r = attrs.evolve(r, status=ReservationStatus.CONFIRMED)
        self.reservations[order_id] = r
        return r

    def release(self, order_id, lines=None, *, now=None):
        r = self.reservations.get(order_id)
        if r is None:
            raise NotFoundError(order_id)
        if lines is None:
            r = attrs.evolve(r, status=ReservationStatus.RELEASED)
        else:
            left = {(x.sku, x.node): x.quantity for x in r.lines}
            for line in lines:
                left[(line.sku, line.node)] -= line.quantity
            kept = [ReservationLine(s, n, q) for (s, n), q in left.items() if q > 0]
            r = attrs.evolve(r, lines=kept, status=r.status if kept else ReservationStatus.RELEASED)
        self.reservations[order_id] = r
        return r

    def amend(self, order_id, *, release=(), hold=(), ttl_seconds=None, now=None):
        now = _now(now)
        r = self.reservations.get(order_id)
        if r is None:
            raise NotFoundError(order_id)
        if r.status is not ReservationStatus.HELD or r.expires_at <= now:
            raise ConflictError(f"order {order_id} is not held")
        mine = {(x.sku, x.node): x.quantity for x in r.lines}
        left = dict(mine)
        for line in release:
            left[(line.sku, line.node)] -= line.quantity
        held = self._held(now)
        for line in hold:
            key = (line.sku, line.node)
            on_hand, ss = self.positions.get(key, [0, 0])
            free = on_hand - ss - held.get(key, 0) + mine.get(key, 0) - left.get(key, 0)
            if line.quantity > free:
                raise InsufficientStockError(line.sku, line.node, line.quantity, max(free, 0))
            left[key] = left.get(key, 0) + line.quantity
        kept = tuple(ReservationLine(s, n, q) for (s, n), q in sorted(left.items()) if q > 0)
        expires = r.expires_at if ttl_seconds is None else now + np.timedelta64(int(ttl_seconds * 1e6), "us")
        r = attrs.evolve(
            r,
            lines=kept or r.lines,
            status=ReservationStatus.HELD if kept else ReservationStatus.RELEASED,
            expires_at=expires,
        )
        self.reservations[order_id] = r
        return r

    def reservation(self, order_id):
        return self.reservations.get(order_id)

    def active(self, *, now=None):
        now = _now(now)
        return [
            r for r in self.reservations.values() if r.status is ReservationStatus.HELD and r.expires_at > now
        ]

    def expire(self, *, now=None):
        now = _now(now)
        count = 0
        for key, r in list(self.reservations.items()):
            if r.status is ReservationStatus.HELD and r.expires_at <= now:
                self.reservations[key] = attrs.evolve(r, status=ReservationStatus.EXPIRED)
                count += 1
        return count


class FakeStore:
    """Just the parts of ``Store`` the allocation layer uses: ``inventory`` and ``atomic``."""

    url = "fake://"
    tenant = "t1"

    def __init__(self):
        self.inventory = FakeInventory()

    @contextlib.contextmanager
    def atomic(self):
        saved = copy.deepcopy(self.inventory.__dict__)
        try:
            yield
        except BaseException:
            self.inventory.__dict__.update(saved)
            raise

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
