"""Fixtures for the storage contract suite: one backend per parameter (memory, SQLite, PostgreSQL).

PostgreSQL comes from ``OMNICORE_TEST_POSTGRES_URL`` (``.ci/start-postgres.sh`` prints one). Without
it the PostgreSQL cases skip, except under ``CI=true``, where a missing server fails them. Each test
session uses a fresh schema, dropped at the end, and every test uses its own tenant names.
"""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from omnicore.storage import Store, open_store

POSTGRES_ENV = "OMNICORE_TEST_POSTGRES_URL"
BACKENDS = ("memory", "sqlite", "postgres")


def postgres_url_or_skip() -> str:
    """The test server's URL; skip (or, under CI=true, fail) without one."""
    url = os.environ.get(POSTGRES_ENV, "")
    if not url:
        if os.environ.get("CI") == "true":
            pytest.fail(
                f"CI=true but {POSTGRES_ENV} is unset: the PostgreSQL contract tests must run in CI "
                "(.ci/run starts the server with .ci/start-postgres.sh)"
            )
        pytest.skip(f"PostgreSQL tests need {POSTGRES_ENV}; run `bash .ci/start-postgres.sh` to get one")
    return url


@pytest.fixture(scope="session")
def postgres_url() -> str:
    return postgres_url_or_skip()


@pytest.fixture(scope="session")
def postgres_schema(postgres_url: str) -> Iterator[str]:
    """A fresh schema for this test session, dropped at the end."""
    name = f"omnicore_test_{uuid.uuid4().hex[:12]}"
    yield name
    import psycopg

    with psycopg.connect(postgres_url, autocommit=True) as connection:
        connection.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


class Backend:
    """Opens tenant-bound handles on one backing database; closes them all at teardown."""

    def __init__(self, kind: str, url: str, options: dict[str, Any]) -> None:
        self.kind = kind
        self.url = url
        self.options = options
        self.run = uuid.uuid4().hex[:8]
        self._handles: list[Store] = []
        self._counter = itertools.count()

    def tenant(self, name: str) -> str:
        """A tenant name unique to this test (PostgreSQL runs share one schema)."""
        return f"{self.run}-{name}"

    def open(self, name: str = "a") -> Store:
        store = open_store(self.url, tenant=self.tenant(name), **self.options)
        self._handles.append(store)
        return store

    def fresh(self) -> Store:
        """A handle on a tenant no other call used (for hypothesis examples)."""
        return self.open(f"x{next(self._counter)}")

    def close(self) -> None:
        for store in self._handles:
            store.close()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    kind = request.param
    if kind == "memory":
        made = Backend(kind, f"memory://test-{uuid.uuid4().hex}", {})
    elif kind == "sqlite":
        made = Backend(kind, f"sqlite:///{tmp_path / 'store.db'}", {})
    else:
        schema = request.getfixturevalue("postgres_schema")
        made = Backend(kind, request.getfixturevalue("postgres_url"), {"schema": schema})
    yield made
    made.close()


@pytest.fixture
def store(backend: Backend) -> Store:
    return backend.open("a")


@pytest.fixture
def other(backend: Backend) -> Store:
    """A second tenant on the same backing database."""
    return backend.open("b")


Opener = Callable[[str], Store]
