"""Contract: inventory positions and reservations that never oversell."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from omnicore import ConflictError, Inventory, NotFoundError, ValidationError
from omnicore.storage import InsufficientStockError, ReservationLine, ReservationStatus

from .conftest import Backend

T0 = np.datetime64("2024-07-01T12:00:00", "us")
SECOND = np.timedelta64(1, "s")


def _stock(store) -> None:
    store.inventory.put(
        Inventory(sku=["A", "A", "B"], node=["DC1", "S01", "DC1"], on_hand=[10, 3, 5], safety_stock=[2, 0, 0])
    )


def _available(store, now=T0) -> dict[tuple[str, str], int]:
    inv = store.inventory.get(now=now)
    return dict(
        zip(zip(inv.sku.tolist(), inv.node.tolist(), strict=True), inv.available.tolist(), strict=True)
    )


def test_put_and_get(store) -> None:
    _stock(store)
    inv = store.inventory.get(now=T0)
    assert inv.sku.tolist() == ["A", "A", "B"]
    assert inv.reserved.tolist() == [0, 0, 0]
    assert _available(store) == {("A", "DC1"): 8, ("A", "S01"): 3, ("B", "DC1"): 5}
    assert store.inventory.get(skus=["B"]).node.tolist() == ["DC1"]
    assert store.inventory.get(nodes=["S01"]).on_hand.tolist() == [3]
    store.inventory.put(Inventory(sku=["A"], node=["S01"], on_hand=[7]))
    assert _available(store)[("A", "S01")] == 7


def test_reserve_holds_all_lines_or_none(store) -> None:
    _stock(store)
    lines = [ReservationLine("A", "DC1", 8), ReservationLine("B", "DC1", 6)]
    with pytest.raises(InsufficientStockError) as info:
        store.inventory.reserve("o1", lines, ttl_seconds=60, now=T0)
    assert (info.value.sku, info.value.node, info.value.requested, info.value.available) == ("B", "DC1", 6, 5)
    assert store.inventory.reservation("o1") is None
    assert _available(store)[("A", "DC1")] == 8
    held = store.inventory.reserve("o1", [ReservationLine("A", "DC1", 8)], ttl_seconds=60, now=T0)
    assert held.status is ReservationStatus.HELD
    assert held.units == 8
    assert held.expires_at == T0 + 60 * SECOND
    assert _available(store)[("A", "DC1")] == 0
    with pytest.raises(InsufficientStockError):
        store.inventory.reserve("o2", [ReservationLine("A", "DC1", 1)], ttl_seconds=60, now=T0)
    with pytest.raises(InsufficientStockError):
        store.inventory.reserve("o3", [ReservationLine("Z", "DC1", 1)], ttl_seconds=60, now=T0)


def test_reserve_is_idempotent_by_order_id(store) -> None:
    _stock(store)
    lines = [ReservationLine("A", "DC1", 5)]
    first = store.inventory.reserve("o1", lines, ttl_seconds=60, now=T0)
    again = store.inventory.reserve("o1", lines, ttl_seconds=60, now=T0 + SECOND)
    assert again == first
    assert _available(store)[("A", "DC1")] == 3
    with pytest.raises(ConflictError):
        store.inventory.reserve("o1", [ReservationLine("A", "DC1", 4)], ttl_seconds=60, now=T0)


def test_expiry_frees_units(store) -> None:
    _stock(store)
    store.inventory.reserve("o1", [ReservationLine("B", "DC1", 5)], ttl_seconds=30, now=T0)
    assert _available(store, T0 + 29 * SECOND)[("B", "DC1")] == 0
    assert _available(store, T0 + 30 * SECOND)[("B", "DC1")] == 5
    with pytest.raises(InsufficientStockError):
        store.inventory.reserve("o2", [ReservationLine("B", "DC1", 1)], ttl_seconds=5, now=T0 + 29 * SECOND)
    store.inventory.reserve("o2", [ReservationLine("B", "DC1", 1)], ttl_seconds=1, now=T0 + 30 * SECOND)
    assert [r.order_id for r in store.inventory.active(now=T0 + 29 * SECOND)] == ["o1", "o2"]
    assert [r.order_id for r in store.inventory.active(now=T0 + 30 * SECOND)] == ["o2"]
    with pytest.raises(ConflictError, match="expired"):
        store.inventory.confirm("o1", now=T0 + 31 * SECOND)
    assert store.inventory.expire(now=T0 + 31 * SECOND) == 2
    assert store.inventory.reservation("o1").status is ReservationStatus.EXPIRED
    again = store.inventory.reserve(
        "o1", [ReservationLine("B", "DC1", 5)], ttl_seconds=30, now=T0 + 40 * SECOND
    )
    assert again.status is ReservationStatus.HELD  # an expired order may be held again


def test_confirm_ships_the_units(store) -> None:
    _stock(store)
    store.inventory.reserve(
        "o1", [ReservationLine("A", "DC1", 3), ReservationLine("B", "DC1", 1)], ttl_seconds=60, now=T0
    )
    done = store.inventory.confirm("o1", now=T0 + SECOND)
    assert done.status is ReservationStatus.CONFIRMED
    assert store.inventory.confirm("o1", now=T0 + SECOND) == done
    inv = store.inventory.get(now=T0)
    assert inv.on_hand.tolist() == [7, 3, 4]
    assert inv.reserved.tolist() == [0, 0, 0]
    with pytest.raises(ConflictError):
        store.inventory.release("o1")
    with pytest.raises(NotFoundError):
        store.inventory.confirm("nope")


def test_confirm_refuses_when_stock_was_counted_down(store) -> None:
    _stock(store)
    store.inventory.reserve("o1", [ReservationLine("B", "DC1", 4)], ttl_seconds=60, now=T0)
    store.inventory.put(Inventory(sku=["B"], node=["DC1"], on_hand=[2]))
    with pytest.raises(InsufficientStockError):
        store.inventory.confirm("o1", now=T0)
    assert store.inventory.reservation("o1").status is ReservationStatus.HELD
    assert store.inventory.get(skus=["B"]).on_hand.tolist() == [2]


def test_partial_release_for_rerouting(store) -> None:
    _stock(store)
    lines = [ReservationLine("A", "DC1", 4), ReservationLine("B", "DC1", 2)]
    store.inventory.reserve("o1", lines, ttl_seconds=60, now=T0)
    left = store.inventory.release("o1", [ReservationLine("A", "DC1", 3)], now=T0)
    assert left.lines == (ReservationLine("A", "DC1", 1), ReservationLine("B", "DC1", 2))
    assert _available(store)[("A", "DC1")] == 7
    with pytest.raises(ValidationError):
        store.inventory.release("o1", [ReservationLine("A", "DC1", 2)], now=T0)
    with pytest.raises(ValidationError):
        store.inventory.release("o1", [ReservationLine("A", "S01", 1)], now=T0)
    assert store.inventory.reservation("o1") == left
    done = store.inventory.release("o1", now=T0)
    assert done.status is ReservationStatus.RELEASED
    assert store.inventory.release("o1") == done
    assert _available(store) == {("A", "DC1"): 8, ("A", "S01"): 3, ("B", "DC1"): 5}


def test_amend_moves_units_under_the_same_order_id(store) -> None:
    _stock(store)
    store.inventory.reserve("o1", [ReservationLine("A", "S01", 3)], ttl_seconds=60, now=T0)
    moved = store.inventory.amend(
        "o1",
        release=[ReservationLine("A", "S01", 2)],
        hold=[ReservationLine("A", "DC1", 2), ReservationLine("B", "DC1", 1)],
        now=T0 + SECOND,
    )
    assert moved.status is ReservationStatus.HELD
    assert set(moved.lines) == {
        ReservationLine("A", "S01", 1),
        ReservationLine("A", "DC1", 2),
        ReservationLine("B", "DC1", 1),
    }
    assert moved.expires_at == T0 + 60 * SECOND  # kept without ttl_seconds
    assert _available(store) == {("A", "DC1"): 6, ("A", "S01"): 2, ("B", "DC1"): 4}
    assert store.inventory.reservation("o1") == moved
    longer = store.inventory.amend("o1", hold=[ReservationLine("A", "DC1", 1)], ttl_seconds=120, now=T0)
    assert longer.expires_at == T0 + 120 * SECOND
    assert {(x.sku, x.node): x.quantity for x in longer.lines}[("A", "DC1")] == 3


def test_amend_is_all_or_nothing(store) -> None:
    _stock(store)
    store.inventory.reserve("o1", [ReservationLine("A", "S01", 3)], ttl_seconds=60, now=T0)
    before = store.inventory.reservation("o1")
    with pytest.raises(InsufficientStockError) as info:
        store.inventory.amend(
            "o1",
            release=[ReservationLine("A", "S01", 3)],
            hold=[ReservationLine("A", "DC1", 2), ReservationLine("B", "DC1", 6)],
            now=T0,
        )
    assert (info.value.sku, info.value.requested, info.value.available) == ("B", 6, 5)
    with pytest.raises(ValidationError, match="3 are held"):
        store.inventory.amend("o1", release=[ReservationLine("A", "S01", 4)], now=T0)
    with pytest.raises(ValidationError):
        store.inventory.amend("o1", now=T0)
    assert store.inventory.reservation("o1") == before
    assert _available(store)[("A", "S01")] == 0
    # units released in the call are free for the same position
    same = store.inventory.amend(
        "o1", release=[ReservationLine("A", "S01", 3)], hold=[ReservationLine("A", "S01", 3)], now=T0
    )
    assert same.lines == (ReservationLine("A", "S01", 3),)


def test_amend_needs_a_live_reservation(store) -> None:
    _stock(store)
    with pytest.raises(NotFoundError):
        store.inventory.amend("nope", hold=[ReservationLine("A", "DC1", 1)], now=T0)
    store.inventory.reserve("o1", [ReservationLine("A", "DC1", 1)], ttl_seconds=60, now=T0)
    with pytest.raises(ConflictError, match="expired"):
        store.inventory.amend("o1", hold=[ReservationLine("B", "DC1", 1)], now=T0 + 61 * SECOND)
    gone = store.inventory.amend("o1", release=[ReservationLine("A", "DC1", 1)], now=T0)
    assert gone.status is ReservationStatus.RELEASED
    with pytest.raises(ConflictError, match="released"):
        store.inventory.amend("o1", hold=[ReservationLine("A", "DC1", 1)], now=T0)
    store.inventory.reserve("o2", [ReservationLine("B", "DC1", 1)], ttl_seconds=60, now=T0)
    store.inventory.confirm("o2", now=T0)
    with pytest.raises(ConflictError, match="confirmed"):
        store.inventory.amend("o2", release=[ReservationLine("B", "DC1", 1)], now=T0)


def test_bad_reservation_input(store) -> None:
    _stock(store)
    with pytest.raises(ValidationError):
        store.inventory.reserve("", [ReservationLine("A", "DC1", 1)], ttl_seconds=60)
    with pytest.raises(ValidationError):
        store.inventory.reserve("o", [], ttl_seconds=60)
    with pytest.raises(ValidationError):
        store.inventory.reserve("o", [ReservationLine("A", "DC1", 1)], ttl_seconds=0)
    with pytest.raises(ValidationError):
        store.inventory.reserve("o", [ReservationLine("A", "DC1", 1)] * 2, ttl_seconds=60)
    with pytest.raises(ValidationError):
        store.inventory.reserve("o", [ReservationLine(1, "DC1", 1)], ttl_seconds=60)  # int sku, text log
    with pytest.raises(ValidationError):
        ReservationLine("A", "DC1", 0)
    assert store.inventory.active() == []


def test_integer_skus_and_nodes_keep_their_type(store) -> None:
    store.inventory.put(Inventory(sku=[101, 102], node=[1, 1], on_hand=[5, 5]))
    held = store.inventory.reserve("o", [ReservationLine(101, 1, 2)], ttl_seconds=60)
    assert held.lines == (ReservationLine(101, 1, 2),)
    assert store.inventory.get().sku.dtype == np.int64


# -- a model-based property: any sequence of operations keeps available >= 0 and matches a model --

SKUS = ("A", "B")
NODES = ("N1", "N2")
ON_HAND = 6


class _Model:
    """The simplest correct inventory: a dict of reservations and their states."""

    def __init__(self) -> None:
        self.on_hand = {(s, n): ON_HAND for s in SKUS for n in NODES}
        self.orders: dict[str, dict[str, object]] = {}

    def held(self, key: tuple[str, str], now: int) -> int:
        return sum(
            o["lines"].get(key, 0)  # type: ignore[union-attr]
            for o in self.orders.values()
            if o["status"] == "held" and o["expires"] > now  # type: ignore[operator]
        )

    def available(self, key: tuple[str, str], now: int) -> int:
        return max(self.on_hand[key] - self.held(key, now), 0)


@settings(max_examples=12, stateful_step_count=25, suppress_health_check=list(HealthCheck), deadline=None)
class ReservationMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.model = _Model()
        self.now = 0
        self.store = None

    @initialize()
    def open_store(self) -> None:
        self.store = _MACHINE_BACKEND[0].fresh()
        self.store.inventory.put(
            Inventory(
                sku=[s for s in SKUS for _ in NODES],
                node=[n for _ in SKUS for n in NODES],
                on_hand=[ON_HAND] * (len(SKUS) * len(NODES)),
            )
        )

    def _at(self) -> np.datetime64:
        return T0 + self.now * SECOND

    @rule(seconds=st.integers(0, 20))
    def tick(self, seconds: int) -> None:
        self.now += seconds

    @rule(
        order=st.sampled_from([f"o{i}" for i in range(6)]),
        picks=st.dictionaries(
            st.tuples(st.sampled_from(SKUS), st.sampled_from(NODES)),
            st.integers(1, 4),
            min_size=1,
            max_size=3,
        ),
        ttl=st.integers(5, 40),
    )
    def reserve(self, order: str, picks: dict[tuple[str, str], int], ttl: int) -> None:
        lines = [ReservationLine(s, n, q) for (s, n), q in picks.items()]
        existing = self.model.orders.get(order)
        try:
            got = self.store.inventory.reserve(order, lines, ttl_seconds=ttl, now=self._at())
        except ConflictError as exc:
            if isinstance(exc, InsufficientStockError):
                assert any(q > self.model.available(k, self.now) for k, q in picks.items())
            else:
                assert existing is not None
                assert existing["lines"] != picks
            return
        if existing is not None:
            assert existing["lines"] == picks
            live = existing["status"] == "held" and existing["expires"] > self.now
            if live or existing["status"] in ("confirmed", "released"):
                assert got.status.value == existing["status"]
                return
        assert all(q <= self.model.available(k, self.now) for k, q in picks.items())
        self.model.orders[order] = {"lines": dict(picks), "status": "held", "expires": self.now + ttl}

    @rule(order=st.sampled_from([f"o{i}" for i in range(6)]))
    def confirm(self, order: str) -> None:
        existing = self.model.orders.get(order)
        try:
            self.store.inventory.confirm(order, now=self._at())
        except NotFoundError:
            assert existing is None
            return
        except ConflictError:
            assert existing is not None
            assert existing["status"] in ("released", "expired") or (
                existing["status"] == "held" and existing["expires"] <= self.now
            )
            return
        assert existing is not None
        if existing["status"] == "held":
            for key, q in existing["lines"].items():  # type: ignore[union-attr]
                self.model.on_hand[key] -= q
            existing["status"] = "confirmed"

    @rule(order=st.sampled_from([f"o{i}" for i in range(6)]), part=st.booleans())
    def release(self, order: str, part: bool) -> None:
        existing = self.model.orders.get(order)
        if existing is None or existing["status"] != "held":
            return
        lines: dict[tuple[str, str], int] = existing["lines"]  # type: ignore[assignment]
        if part:
            key = sorted(lines)[0]
            self.store.inventory.release(order, [ReservationLine(*key, 1)], now=self._at())
            lines[key] -= 1
            if lines[key] == 0:
                del lines[key]
            if not lines:
                existing["status"] = "released"
                existing["lines"] = {key: 1}
        else:
            self.store.inventory.release(order, now=self._at())
            existing["status"] = "released"

    @rule(
        order=st.sampled_from([f"o{i}" for i in range(6)]),
        to=st.tuples(st.sampled_from(SKUS), st.sampled_from(NODES)),
        quantity=st.integers(1, 4),
    )
    def amend(self, order: str, to: tuple[str, str], quantity: int) -> None:
        """Re-route one unit of the order's first line to ``to`` (``quantity`` units there)."""
        existing = self.model.orders.get(order)
        live = existing is not None and existing["status"] == "held" and existing["expires"] > self.now
        lines: dict[tuple[str, str], int] = existing["lines"] if existing else {}  # type: ignore[assignment]
        moved = sorted(lines)[0] if lines else to
        try:
            self.store.inventory.amend(
                order,
                release=[ReservationLine(*moved, 1)],
                hold=[ReservationLine(*to, quantity)],
                now=self._at(),
            )
        except NotFoundError:
            assert existing is None
            return
        except InsufficientStockError:
            assert live
            assert quantity > self.model.available(to, self.now) + (1 if to == moved else 0)
            return
        except ConflictError:
            assert not live
            return
        assert live
        lines[moved] -= 1
        lines[to] = lines.get(to, 0) + quantity
        for key in [k for k, q in lines.items() if q == 0]:
            del lines[key]

    @rule()
    def expire(self) -> None:
        expected = 0
        for o in self.model.orders.values():
            if o["status"] == "held" and o["expires"] <= self.now:
                o["status"] = "expired"
                expected += 1
        assert self.store.inventory.expire(now=self._at()) == expected

    @invariant()
    def matches_the_model(self) -> None:
        if self.store is None:
            return
        inv = self.store.inventory.get(now=self._at())
        for sku, node, on_hand, available in zip(
            inv.sku.tolist(), inv.node.tolist(), inv.on_hand.tolist(), inv.available.tolist(), strict=True
        ):
            key = (sku, node)
            assert on_hand == self.model.on_hand[key]
            assert on_hand - self.model.held(key, self.now) >= 0  # never oversold
            assert available == self.model.available(key, self.now)


_MACHINE_BACKEND: list[Backend] = []


def test_reservation_sequences_match_a_model(backend: Backend) -> None:
    _MACHINE_BACKEND[:] = [backend]
    ReservationMachine.TestCase().runTest()
