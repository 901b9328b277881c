"""The storage contract fixtures: every privacy test runs on memory, SQLite and PostgreSQL."""

from tests.storage.conftest import backend, postgres_schema, postgres_url, store

__all__ = ["backend", "postgres_schema", "postgres_url", "store"]
