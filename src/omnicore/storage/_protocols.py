"""The storage Protocols, one per concern. Adapters implement them; capabilities depend on them only.

Conventions shared by every adapter:

- A store handle is bound to one tenant; no method reads or writes another tenant's rows.
- Every method is atomic: it either completes or leaves the store as it was. ``Store.atomic()``
  groups several calls (across concerns) into one transaction.
- Time ranges are half-open, ``start <= t < end``, in UTC; ``None`` means unbounded.
- Ids keep their type: a log written with int64 customer ids reads back int64, text reads back text;
  mixing both in one log raises :class:`~omnicore.ValidationError`. Likewise the first append fixes a
  log's optional columns and each event property's type; a later append that differs raises.
- Rows with equal timestamps keep the order in which they were appended.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from omnicore.data import Events, IdentifierRecords, Inventory, Transactions
from omnicore.storage._records import (
    AuditEntry,
    ConsentRecords,
    DecisionRecords,
    IdentityLinks,
    MergeEvents,
    Reservation,
    ReservationLine,
)

__all__ = [
    "AuditLog",
    "CampaignStore",
    "EventLog",
    "IdentityStore",
    "InventoryStore",
    "Store",
    "TransactionLog",
]

TimeLike = np.datetime64 | str | Any


@runtime_checkable
class TransactionLog(Protocol):
    """Append-only purchase log, scanned by time range as columnar batches."""

    def append(self, transactions: Transactions) -> int:
        """Append rows; returns the number written."""
        ...

    def scan(
        self,
        *,
        start: TimeLike | None = None,
        end: TimeLike | None = None,
        customer_ids: npt.ArrayLike | None = None,
        batch_rows: int = 1_000_000,
    ) -> Iterator[Transactions]:
        """Rows in ``[start, end)`` ordered by (timestamp, insertion order), in batches."""
        ...

    def load(
        self,
        *,
        start: TimeLike | None = None,
        end: TimeLike | None = None,
        customer_ids: npt.ArrayLike | None = None,
    ) -> Transactions:
        """All matching rows in one container (see :meth:`scan`)."""
        ...

    def count(self) -> int:
        """Number of rows held for this tenant."""
        ...

    def erase_customers(self, customer_ids: npt.ArrayLike) -> int:
        """Delete every row of these customers; returns the number deleted."""
        ...


@runtime_checkable
class EventLog(Protocol):
    """Append-only behavioural event log with the same contract as :class:`TransactionLog`."""

    def append(self, events: Events) -> int:
        """Append rows; returns the number written."""
        ...

    def scan(
        self,
        *,
        start: TimeLike | None = None,
        end: TimeLike | None = None,
        customer_ids: npt.ArrayLike | None = None,
        event_types: Sequence[str] | None = None,
        batch_rows: int = 1_000_000,
    ) -> Iterator[Events]:
        """Events in ``[start, end)`` ordered by (timestamp, insertion order), in batches."""
        ...

    def load(
        self,
        *,
        start: TimeLike | None = None,
        end: TimeLike | None = None,
        customer_ids: npt.ArrayLike | None = None,
        event_types: Sequence[str] | None = None,
    ) -> Events:
        """All matching events in one container."""
        ...

    def count(self) -> int:
        """Number of events held for this tenant."""
        ...

    def erase_customers(self, customer_ids: npt.ArrayLike) -> int:
        """Delete every event of these customers; returns the number deleted."""
        ...


@runtime_checkable
class IdentityStore(Protocol):
    """Identifier records, links, identifier-to-customer assignments and the merge history.

    An identifier is the pair (``id_type``, ``value``) after normalisation (and pseudonymisation, when
    enabled). Customer ids are int64 from a per-tenant sequence.
    """

    def append_records(self, records: IdentifierRecords) -> int:
        """Store source records (one row per identifier on a record)."""
        ...

    def records(
        self,
        *,
        record_ids: npt.ArrayLike | None = None,
        id_type: npt.ArrayLike | None = None,
        value: npt.ArrayLike | None = None,
    ) -> IdentifierRecords:
        """Records by record id, or every record row carrying one of the identifiers given as
        parallel ``id_type``/``value`` arrays; all records when nothing is given."""
        ...

    def append_links(self, links: IdentityLinks) -> int:
        """Store links (accepted and refused); an identical link (same identifiers, kind and record) is
        stored once. Returns how many were new."""
        ...

    def links(
        self,
        *,
        id_type: npt.ArrayLike | None = None,
        value: npt.ArrayLike | None = None,
        accepted: bool | None = None,
    ) -> IdentityLinks:
        """Links touching any of the given identifiers (all links when none given)."""
        ...

    def remove_links(self, links: IdentityLinks) -> int:
        """Delete the given links (matched on both identifiers, kind and record); returns the count."""
        ...

    def allocate_customer_ids(self, n: int) -> npt.NDArray[np.int64]:
        """Reserve ``n`` new, never reused customer ids (increasing, from 1 up, per tenant)."""
        ...

    def assign(self, id_type: npt.ArrayLike, value: npt.ArrayLike, customer_id: npt.ArrayLike) -> int:
        """Set the customer of each identifier (insert or overwrite); -1 leaves it without one."""
        ...

    def lookup(self, id_type: npt.ArrayLike, value: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """Customer of each identifier, -1 where unknown."""
        ...

    def members(
        self, customer_ids: npt.ArrayLike | None = None
    ) -> tuple[npt.NDArray[Any], npt.NDArray[Any], npt.NDArray[np.int64]]:
        """``(id_type, value, customer_id)`` of every identifier of these customers (all when None).

        Identifiers assigned -1 (left without a customer, e.g. shared values) belong to no customer.
        """
        ...

    def append_history(self, events: MergeEvents) -> int:
        """Record customer-id changes."""
        ...

    def history(self, *, since: TimeLike | None = None) -> MergeEvents:
        """Customer-id changes at or after ``since``, oldest first."""
        ...

    def erase_customer(self, customer_id: int) -> Mapping[str, int]:
        """Delete every identifier assignment, link and record of one customer.

        Returns counts by kind: ``{"identifiers": ..., "links": ..., "records": ...}``. The history keeps
        an ``"erase"`` event with no identifier in it.
        """
        ...


@runtime_checkable
class InventoryStore(Protocol):
    """Stock positions and reservations that never oversell.

    Available to promise = on hand - safety stock - units of active (held, unexpired) reservations.
    """

    def put(self, inventory: Inventory) -> int:
        """Insert or overwrite on-hand and safety stock per (sku, node); reservations are kept."""
        ...

    def get(
        self,
        *,
        skus: npt.ArrayLike | None = None,
        nodes: npt.ArrayLike | None = None,
        now: TimeLike | None = None,
    ) -> Inventory:
        """Positions with ``reserved`` filled in from reservations active at ``now`` (default: now)."""
        ...

    def reserve(
        self,
        order_id: str,
        lines: Sequence[ReservationLine],
        *,
        ttl_seconds: float,
        now: TimeLike | None = None,
    ) -> Reservation:
        """Hold every line, or none.

        Idempotent by ``order_id``: repeating a reservation with the same lines returns the one already
        held (or confirmed, or released, unchanged); one that expired is held again if stock allows.
        Raises :class:`~omnicore.storage.InsufficientStockError` naming the first line that does not
        fit, and :class:`~omnicore.ConflictError` when the order id has a reservation with other lines.
        """
        ...

    def confirm(self, order_id: str, *, now: TimeLike | None = None) -> Reservation:
        """Turn a held reservation into a shipment: on hand falls by the reserved units.

        Confirming twice returns the confirmed reservation. Raises :class:`~omnicore.NotFoundError` for
        an unknown order, :class:`~omnicore.ConflictError` for a released or expired reservation and
        :class:`~omnicore.storage.InsufficientStockError` when on hand no longer covers a line.
        """
        ...

    def release(
        self,
        order_id: str,
        lines: Sequence[ReservationLine] | None = None,
        *,
        now: TimeLike | None = None,
    ) -> Reservation:
        """Give back all lines, or only the units given (for re-routing); returns what remains.

        Releasing every remaining unit marks the reservation released (it keeps its last lines as a
        record); releasing a released or expired reservation again returns it; a confirmed one, or
        more units than a line holds, raises.
        """
        ...

    def amend(
        self,
        order_id: str,
        *,
        release: Sequence[ReservationLine] = (),
        hold: Sequence[ReservationLine] = (),
        ttl_seconds: float | None = None,
        now: TimeLike | None = None,
    ) -> Reservation:
        """Re-route part of a held reservation in one step: give back ``release``, hold ``hold``.

        The order keeps one reservation (and one id) however often it is re-routed. Held lines add to a
        (sku, node) the reservation already holds; units released in the same call are free for them.
        ``ttl_seconds`` restarts the expiry from ``now``; without it the expiry is kept. All or nothing:
        raises :class:`~omnicore.storage.InsufficientStockError` when a held line does not fit,
        :class:`~omnicore.ValidationError` when releasing units the reservation does not hold,
        :class:`~omnicore.NotFoundError` for an unknown order and :class:`~omnicore.ConflictError`
        unless the reservation is held and unexpired. Releasing every unit marks it released. Not
        idempotent: call it inside ``store.atomic()`` with the read that decided it.
        """
        ...

    def reservation(self, order_id: str) -> Reservation | None:
        """The reservation of an order, or None."""
        ...

    def active(self, *, now: TimeLike | None = None) -> list[Reservation]:
        """Reservations held and unexpired at ``now``."""
        ...

    def expire(self, *, now: TimeLike | None = None) -> int:
        """Mark held reservations past their expiry as expired, freeing their units; returns the count."""
        ...


@runtime_checkable
class CampaignStore(Protocol):
    """The decision (send) log, the consent ledger and key-value state for streaming evaluation."""

    def record_decisions(self, decisions: DecisionRecords) -> npt.NDArray[np.bool_]:
        """Insert decisions whose key is new; returns, per row, whether it was new (exactly-once)."""
        ...

    def decisions(
        self,
        *,
        since: TimeLike | None = None,
        customer_ids: npt.ArrayLike | None = None,
        rule_ids: Sequence[str] | None = None,
        statuses: Sequence[str] | None = None,
    ) -> DecisionRecords:
        """Recorded decisions with ``decided_at >= since``, oldest first."""
        ...

    def record_consent(self, records: ConsentRecords) -> int:
        """Append grants and withdrawals to the ledger."""
        ...

    def consent(
        self, subject_ids: npt.ArrayLike, purpose: str, *, at: TimeLike | None = None
    ) -> npt.NDArray[np.bool_]:
        """Whether each subject's latest record for ``purpose`` at or before ``at`` is a grant.

        No record means no consent.
        """
        ...

    def consent_ledger(self, *, subject_ids: npt.ArrayLike | None = None) -> ConsentRecords:
        """The ledger rows (of these subjects), oldest first."""
        ...

    def get_state(self, namespace: str, keys: Sequence[str]) -> dict[str, bytes]:
        """Values of the keys that exist."""
        ...

    def put_state(self, namespace: str, items: Mapping[str, bytes]) -> None:
        """Insert or overwrite keys."""
        ...

    def delete_state(self, namespace: str, keys: Sequence[str]) -> int:
        """Delete keys; returns how many existed."""
        ...

    def scan_state(self, namespace: str, *, prefix: str = "") -> dict[str, bytes]:
        """Every key of a namespace starting with ``prefix``."""
        ...

    def erase_customers(self, customer_ids: npt.ArrayLike) -> int:
        """Delete the decisions and consent records of these customers; returns the rows deleted."""
        ...


@runtime_checkable
class AuditLog(Protocol):
    """An append-only log of who did what to whose data. There is no update and no delete."""

    def append(self, entries: Sequence[AuditEntry]) -> int:
        """Append entries; returns the number written."""
        ...

    def entries(
        self,
        *,
        since: TimeLike | None = None,
        action: str | None = None,
        subject: str | None = None,
    ) -> list[AuditEntry]:
        """Entries at or after ``since`` (optionally one action or subject), oldest first."""
        ...


@runtime_checkable
class Store(Protocol):
    """A tenant-bound handle on every concern; made by :func:`omnicore.storage.open_store`."""

    @property
    def url(self) -> str:
        """The URL the store was opened with (password removed)."""
        ...

    @property
    def tenant(self) -> str:
        """The tenant this handle is bound to."""
        ...

    @property
    def transactions(self) -> TransactionLog: ...

    @property
    def events(self) -> EventLog: ...

    @property
    def identity(self) -> IdentityStore: ...

    @property
    def inventory(self) -> InventoryStore: ...

    @property
    def campaigns(self) -> CampaignStore: ...

    @property
    def audit(self) -> AuditLog: ...

    def atomic(self) -> AbstractContextManager[None]:
        """Group calls into one transaction: all take effect, or (on an exception) none."""
        ...

    def close(self) -> None:
        """Release connections; the handle cannot be used afterwards."""
        ...

    def __enter__(self) -> Store: ...

    def __exit__(self, *exc: object) -> None: ...
