"""Versioned schema migrations for the SQL adapters.

``oc_schema_version`` holds one row per applied migration. :func:`migrate` applies the missing ones in
order, each in its own transaction together with its version row, so a crash leaves the database at
a whole version. A database newer than this code raises :class:`~omnicore.StorageError`.

Every table keys on ``tenant`` first. Timestamps are integer microseconds since the Unix epoch (UTC);
ids are text (the per-tenant ``oc_columns`` table records whether a column's ids were int64 or text).
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from omnicore._errors import StorageError
from omnicore.storage._db import Database, now_micros

__all__ = ["MIGRATIONS", "Migration", "migrate", "schema_version"]


@attrs.frozen
class Migration:
    """One schema version: DDL templates (``{bigint}`` etc. filled per dialect) per dialect name.

    ``statements[""]`` applies to every dialect; ``statements["postgresql"]`` to PostgreSQL only.
    """

    version: int
    description: str
    statements: dict[str, tuple[str, ...]]

    def for_dialect(self, name: str) -> tuple[str, ...]:
        return self.statements.get("", ()) + self.statements.get(name, ())


_V1 = (
    """CREATE TABLE oc_columns (
        tenant {text} NOT NULL, log {text} NOT NULL, name {text} NOT NULL, kind {text} NOT NULL,
        PRIMARY KEY (tenant, log, name))""",
    """CREATE TABLE oc_counters (
        tenant {text} NOT NULL, name {text} NOT NULL, value {bigint} NOT NULL,
        PRIMARY KEY (tenant, name))""",
    """CREATE TABLE oc_transactions (
        tenant {text} NOT NULL, seq {bigint} NOT NULL, customer_id {text} NOT NULL, ts {bigint} NOT NULL,
        amount {double} NOT NULL, channel {text}, order_id {text}, sku {text}, quantity {bigint},
        PRIMARY KEY (tenant, seq))""",
    "CREATE INDEX oc_transactions_ts ON oc_transactions (tenant, ts, seq)",
    "CREATE INDEX oc_transactions_customer ON oc_transactions (tenant, customer_id)",
    """CREATE TABLE oc_events (
        tenant {text} NOT NULL, seq {bigint} NOT NULL, customer_id {text} NOT NULL,
        event_type {text} NOT NULL, ts {bigint} NOT NULL, identifier_type {text}, event_id {text},
        PRIMARY KEY (tenant, seq))""",
    "CREATE INDEX oc_events_ts ON oc_events (tenant, ts, seq)",
    "CREATE INDEX oc_events_customer ON oc_events (tenant, customer_id)",
    """CREATE TABLE oc_event_property_blocks (
        tenant {text} NOT NULL, first_seq {bigint} NOT NULL, name {text} NOT NULL, n {bigint} NOT NULL,
        data {blob} NOT NULL, PRIMARY KEY (tenant, first_seq, name))""",
    """CREATE TABLE oc_identifier_records (
        tenant {text} NOT NULL, seq {bigint} NOT NULL, record_id {text} NOT NULL, source {text} NOT NULL,
        id_type {text} NOT NULL, value {text} NOT NULL, observed_at {bigint} NOT NULL,
        PRIMARY KEY (tenant, seq))""",
    "CREATE INDEX oc_identifier_records_record ON oc_identifier_records (tenant, record_id)",
    "CREATE INDEX oc_identifier_records_identifier ON oc_identifier_records (tenant, id_type, value)",
    """CREATE TABLE oc_identity_links (
        tenant {text} NOT NULL, left_type {text} NOT NULL, left_value {text} NOT NULL,
        right_type {text} NOT NULL, right_value {text} NOT NULL, kind {text} NOT NULL,
        record_id {text} NOT NULL, seq {bigint} NOT NULL, probability {double} NOT NULL,
        accepted {boolean} NOT NULL, reason {text} NOT NULL, created_at {bigint} NOT NULL,
        PRIMARY KEY (tenant, left_type, left_value, right_type, right_value, kind, record_id))""",
    "CREATE INDEX oc_identity_links_right ON oc_identity_links (tenant, right_type, right_value)",
    """CREATE TABLE oc_identity_assignments (
        tenant {text} NOT NULL, id_type {text} NOT NULL, value {text} NOT NULL,
        customer_id {bigint} NOT NULL, PRIMARY KEY (tenant, id_type, value))""",
    "CREATE INDEX oc_identity_assignments_customer ON oc_identity_assignments (tenant, customer_id)",
    """CREATE TABLE oc_merge_history (
        tenant {text} NOT NULL, seq {bigint} NOT NULL, at {bigint} NOT NULL, kind {text} NOT NULL,
        from_customer {bigint} NOT NULL, to_customer {bigint} NOT NULL, reason {text} NOT NULL,
        PRIMARY KEY (tenant, seq))""",
    """CREATE TABLE oc_inventory (
        tenant {text} NOT NULL, sku {text} NOT NULL, node {text} NOT NULL, on_hand {bigint} NOT NULL,
        safety_stock {bigint} NOT NULL, PRIMARY KEY (tenant, sku, node),
        CHECK (on_hand >= 0), CHECK (safety_stock >= 0))""",
    """CREATE TABLE oc_reservations (
        tenant {text} NOT NULL, order_id {text} NOT NULL, status {text} NOT NULL,
        created_at {bigint} NOT NULL, expires_at {bigint} NOT NULL, PRIMARY KEY (tenant, order_id))""",
    "CREATE INDEX oc_reservations_status ON oc_reservations (tenant, status, expires_at)",
    """CREATE TABLE oc_reservation_lines (
        tenant {text} NOT NULL, order_id {text} NOT NULL, sku {text} NOT NULL, node {text} NOT NULL,
        quantity {bigint} NOT NULL, PRIMARY KEY (tenant, order_id, sku, node), CHECK (quantity > 0))""",
    "CREATE INDEX oc_reservation_lines_position ON oc_reservation_lines (tenant, sku, node)",
    """CREATE TABLE oc_decisions (
        tenant {text} NOT NULL, decision_key {text} NOT NULL, seq {bigint} NOT NULL,
        rule_id {text} NOT NULL, customer_id {text} NOT NULL, channel {text} NOT NULL,
        status {text} NOT NULL, decided_at {bigint} NOT NULL, send_at {bigint} NOT NULL,
        reason {text} NOT NULL, PRIMARY KEY (tenant, decision_key))""",
    "CREATE INDEX oc_decisions_time ON oc_decisions (tenant, decided_at, seq)",
    "CREATE INDEX oc_decisions_customer ON oc_decisions (tenant, customer_id)",
    """CREATE TABLE oc_consent (
        tenant {text} NOT NULL, seq {bigint} NOT NULL, subject_id {text} NOT NULL,
        purpose {text} NOT NULL, granted {boolean} NOT NULL, recorded_at {bigint} NOT NULL,
        source {text} NOT NULL, PRIMARY KEY (tenant, seq))""",
    "CREATE INDEX oc_consent_subject ON oc_consent (tenant, purpose, subject_id, recorded_at)",
    """CREATE TABLE oc_state (
        tenant {text} NOT NULL, namespace {text} NOT NULL, key {text} NOT NULL, value {blob} NOT NULL,
        PRIMARY KEY (tenant, namespace, key))""",
    """CREATE TABLE oc_audit (
        tenant {text} NOT NULL, seq {bigint} NOT NULL, at {bigint} NOT NULL, actor {text} NOT NULL,
        action {text} NOT NULL, subject {text} NOT NULL, details {text} NOT NULL,
        PRIMARY KEY (tenant, seq))""",
    "CREATE INDEX oc_audit_time ON oc_audit (tenant, at, seq)",
)

_AUDIT_MESSAGE = "the audit log is append-only: UPDATE and DELETE are rejected"

_V2_SQLITE = tuple(
    f"""CREATE TRIGGER oc_audit_no_{verb.lower()} BEFORE {verb} ON oc_audit
        BEGIN SELECT RAISE(ABORT, '{_AUDIT_MESSAGE}'); END"""
    for verb in ("UPDATE", "DELETE")
)
_V2_POSTGRES = (
    f"""CREATE FUNCTION oc_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION '{_AUDIT_MESSAGE}'; END $$""",
    """CREATE TRIGGER oc_audit_append_only BEFORE UPDATE OR DELETE ON oc_audit
        FOR EACH ROW EXECUTE FUNCTION oc_audit_append_only()""",
    """CREATE TRIGGER oc_audit_no_truncate BEFORE TRUNCATE ON oc_audit
        FOR EACH STATEMENT EXECUTE FUNCTION oc_audit_append_only()""",
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "tables for every concern, keyed by tenant", {"": _V1}),
    Migration(
        2,
        "audit log append-only: triggers reject UPDATE and DELETE",
        {"sqlite": _V2_SQLITE, "postgresql": _V2_POSTGRES},
    ),
    # Campaign engines read the ledger of the customers in each batch, across purposes.
    Migration(
        3,
        "consent ledger indexed by subject",
        {"": ("CREATE INDEX oc_consent_by_subject ON oc_consent (tenant, subject_id, recorded_at)",)},
    ),
)

_VERSION_TABLE = """CREATE TABLE IF NOT EXISTS oc_schema_version (
    version {bigint} PRIMARY KEY, description {text} NOT NULL, applied_at {bigint} NOT NULL)"""


def schema_version(db: Database) -> int:
    """The highest applied migration (0 for a new database)."""
    with db.transaction(write=True):
        db.execute(db.dialect.ddl(_VERSION_TABLE))
        (value,) = db.execute("SELECT MAX(version) FROM oc_schema_version").fetchall()[0]
    return int(value or 0)


def migrate(db: Database, migrations: Sequence[Migration] = MIGRATIONS, *, target: int | None = None) -> int:
    """Apply the migrations the database lacks (up to ``target``); returns the version reached.

    Raises
    ------
    StorageError
        When the database was written by a newer omnicore (a version this code does not know).
    """
    known = max((m.version for m in migrations), default=0)
    target = known if target is None else target
    for migration in sorted(migrations, key=lambda m: m.version):
        with db.transaction(write=True):
            if db.dialect.lock_sql is not None:
                db.execute(db.dialect.lock_sql, ("omnicore.schema",))
            db.execute(db.dialect.ddl(_VERSION_TABLE))
            (current,) = db.execute("SELECT MAX(version) FROM oc_schema_version").fetchall()[0]
            current = int(current or 0)
            if current > known:
                raise StorageError(
                    f"the database is at schema version {current} but this omnicore knows versions up "
                    f"to {known}; upgrade omnicore to open it"
                )
            if migration.version <= current or migration.version > target:
                continue
            for statement in migration.for_dialect(db.dialect.name):
                db.execute(db.dialect.ddl(statement) if "{" in statement else statement)
            db.execute(
                "INSERT INTO oc_schema_version (version, description, applied_at) VALUES (?, ?, ?)",
                (migration.version, migration.description, now_micros()),
            )
    return schema_version(db)
