"""What the SQL adapters share: a dialect object, a locked connection with nested transactions, and a
tenant-bound scope with the helpers every concern uses.

SQL text is written once, with ``?`` placeholders; a :class:`Dialect` translates placeholders, names
the column types, and provides bulk insert and locking for its driver (``sqlite3`` or psycopg 3).
Every statement that touches tenant data filters on the scope's tenant, and every value is bound as a
parameter: only constant table/column names are ever formatted into SQL.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import functools
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from omnicore._errors import ConflictError, StorageError, ValidationError
from omnicore.data import STRING_DTYPE, to_datetime64, unique_sorted

__all__ = ["Database", "Dialect", "Scope", "now_micros", "time_micros"]

Row = tuple[Any, ...]


@attrs.frozen(kw_only=True)
class Dialect:
    """How one database engine spells what the shared SQL needs.

    Parameters
    ----------
    name
        ``"sqlite"`` or ``"postgresql"``.
    types
        Column type names for the DDL placeholders ``{bigint}``, ``{double}``, ``{text}``, ``{blob}``,
        ``{boolean}``.
    begin_write, begin_read
        Statements that open a write / a read transaction.
    in_chunk
        How many values one ``IN (...)`` list may bind.
    placeholder
        The driver's placeholder, replacing ``?``.
    lock_sql
        A statement taking a transaction-scoped lock named by one text parameter, or None where the
        write transaction already serialises writers (SQLite's ``BEGIN IMMEDIATE``).
    executemany
        ``executemany(connection, sql, rows)`` for the driver.
    bulk_insert
        ``bulk_insert(connection, table, columns, rows)``: the fastest plain insert (COPY for PostgreSQL).
    errors, integrity_errors
        The driver's exception classes (all, and constraint violations).
    """

    name: str
    types: Mapping[str, str]
    begin_write: str
    begin_read: str
    in_chunk: int
    placeholder: str
    lock_sql: str | None
    executemany: Callable[[Any, str, Iterable[Row]], Any]
    bulk_insert: Callable[[Any, str, Sequence[str], Iterable[Row]], None]
    errors: tuple[type[BaseException], ...]
    integrity_errors: tuple[type[BaseException], ...]

    def translate(self, sql: str) -> str:
        """The statement with the driver's placeholders."""
        return _translate(sql, self.placeholder)

    def ddl(self, template: str) -> str:
        """A DDL template with this dialect's type names filled in."""
        return template.format(**self.types)


@functools.lru_cache(maxsize=2048)
def _translate(sql: str, placeholder: str) -> str:
    if placeholder == "?":
        return sql
    return sql.replace("%", "%%").replace("?", placeholder)


class Database:
    """One connection, one re-entrant lock and the transaction depth of that connection.

    The outermost :meth:`transaction` opens a real transaction; nested ones are savepoints, so a failing
    inner call rolls back only its own work. The lock is held for the whole outermost transaction, which
    makes a handle (or handles sharing this object) safe to use from several threads.
    """

    def __init__(
        self, connection: Any, dialect: Dialect, *, on_close: Callable[[], None] | None = None
    ) -> None:
        self.connection = connection
        self.dialect = dialect
        self.lock = threading.RLock()
        self._depth = 0
        self._closed = False
        self._on_close = on_close

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def close(self) -> None:
        """Close the connection (idempotent)."""
        with self.lock:
            if self._closed:
                return
            self._closed = True
            if self._on_close is not None:
                self._on_close()
            else:
                self.connection.close()

    def wrap(self, exc: BaseException) -> StorageError:
        """A driver error as an omnicore error."""
        if isinstance(exc, self.dialect.integrity_errors):
            return ConflictError(f"{self.dialect.name}: {exc}")
        return StorageError(f"{self.dialect.name}: {exc}")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """Run one statement; driver errors become :class:`~omnicore.StorageError`."""
        with self.lock:
            return self._execute(sql, params)

    def _execute(self, sql: str, params: Sequence[Any]) -> Any:
        if self._closed:
            raise StorageError("the store is closed")
        try:
            if params:
                return self.connection.execute(self.dialect.translate(sql), params)
            return self.connection.execute(sql)
        except self.dialect.errors as exc:
            raise self.wrap(exc) from exc

    def executemany(self, sql: str, rows: Iterable[Row]) -> Any:
        """Run one statement per row of parameters."""
        with self.lock:
            return self._executemany(sql, rows)

    def _executemany(self, sql: str, rows: Iterable[Row]) -> Any:
        try:
            return self.dialect.executemany(self.connection, self.dialect.translate(sql), rows)
        except self.dialect.errors as exc:
            raise self.wrap(exc) from exc

    def bulk_insert(self, table: str, columns: Sequence[str], rows: Iterable[Row]) -> None:
        """Insert many rows the fastest way the driver offers."""
        with self.lock:
            try:
                self.dialect.bulk_insert(self.connection, table, columns, rows)
            except self.dialect.errors as exc:
                raise self.wrap(exc) from exc

    @contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[None]:
        """A transaction (outermost) or a savepoint (nested); rolled back on any exception."""
        with self.lock:
            if self._closed:
                raise StorageError("the store is closed")
            if self._depth == 0:
                self.execute(self.dialect.begin_write if write else self.dialect.begin_read)
                self._depth = 1
                try:
                    yield
                except BaseException:
                    self._depth = 0
                    self._quietly("ROLLBACK")
                    raise
                self._depth = 0
                try:
                    self.execute("COMMIT")
                except BaseException:
                    self._quietly("ROLLBACK")
                    raise
            else:
                name = f"oc_savepoint_{self._depth}"
                self.execute(f"SAVEPOINT {name}")
                self._depth += 1
                try:
                    yield
                except BaseException:
                    self._depth -= 1
                    self._quietly(f"ROLLBACK TO SAVEPOINT {name}")
                    self._quietly(f"RELEASE SAVEPOINT {name}")
                    raise
                self._depth -= 1
                self.execute(f"RELEASE SAVEPOINT {name}")

    def _quietly(self, sql: str) -> None:
        with contextlib.suppress(*self.dialect.errors):  # the connection may have rolled back already
            self.connection.execute(sql)


# -- values ------------------------------------------------------------------------------------


def time_micros(value: Any, *, field: str) -> int:
    """A timestamp as integer microseconds since the Unix epoch (UTC)."""
    return int(to_datetime64(value, field=field).astype("datetime64[us]").astype(np.int64))


def now_micros(value: Any = None, *, field: str = "now") -> int:
    """``value`` as microseconds, or the current UTC time when it is None."""
    if value is None:
        current = _dt.datetime.now(_dt.UTC).replace(tzinfo=None)
        return int(np.datetime64(current, "us").astype(np.int64))
    return time_micros(value, field=field)


def micros_to_times(values: Sequence[Any]) -> npt.NDArray[np.datetime64]:
    """A column of integer microseconds as ``datetime64[us]``."""
    return np.asarray(values, dtype=np.int64).view("datetime64[us]")


def times_to_micros(values: npt.NDArray[np.datetime64]) -> list[int]:
    """A ``datetime64`` column as a list of integer microseconds."""
    micros: list[int] = values.astype("datetime64[us]").view(np.int64).tolist()
    return micros


def id_kind(values: npt.NDArray[Any]) -> str:
    """``"int"`` for an int64 id column, ``"text"`` for text ids."""
    return "int" if values.dtype.kind in "iu" else "text"


def encode_ids(values: npt.NDArray[Any]) -> list[str]:
    """Ids as the text stored in SQL (ints in decimal)."""
    encoded: list[str] = values.astype(STRING_DTYPE).tolist()
    return encoded


def decode_ids(values: Sequence[Any], kind: str) -> npt.NDArray[Any]:
    """Ids read back (selected through :func:`id_select`) in their original type."""
    if kind == "int":
        return np.asarray(values, dtype=np.int64)
    return np.asarray(values, dtype=STRING_DTYPE) if len(values) else np.empty(0, STRING_DTYPE)


def id_select(column: str, kind: str) -> str:
    """The select expression of an id column: cast back to an integer for int ids."""
    return f"CAST({column} AS BIGINT)" if kind == "int" else column


def expect_type(value: Any, expected: type, field: str) -> None:
    """Raise ValidationError unless ``value`` is an ``expected``."""
    if not isinstance(value, expected):
        raise ValidationError(f"expected {expected.__name__}", field=field, value=type(value).__name__)


def as_id_array(values: npt.ArrayLike, *, field: str) -> npt.NDArray[Any]:
    """User-given ids (a filter or a key list) as int64 or text, validated."""
    array = np.asarray(values) if not isinstance(values, np.ndarray) else values
    if array.ndim != 1:
        array = np.atleast_1d(array)
        if array.ndim != 1:
            raise ValidationError("expected a one-dimensional list of ids", field=field)
    if array.size == 0:
        return np.empty(0, np.int64)
    if array.dtype.kind in "iu":
        return array.astype(np.int64)
    if array.dtype.kind == "O":
        if all(isinstance(v, int | np.integer) and not isinstance(v, bool) for v in array):
            return array.astype(np.int64)
        if all(isinstance(v, str) for v in array):
            return array.astype(STRING_DTYPE)
    elif array.dtype.kind in "US" or array.dtype == STRING_DTYPE:
        return array.astype(STRING_DTYPE)
    raise ValidationError("ids must be integers or text", field=field, value=array[0])


def as_text_list(values: npt.ArrayLike | Sequence[str], *, field: str) -> list[str]:
    """A list of non-empty strings (types, purposes, rule ids)."""
    array = np.asarray(values, dtype=object).reshape(-1) if not isinstance(values, str) else None
    if array is None:
        raise ValidationError("expected a list of text values, not one string", field=field, value=values)
    out: list[str] = []
    for i, value in enumerate(array.tolist()):
        if not isinstance(value, str):
            raise ValidationError("expected text", field=field, row=i, value=value)
        out.append(value)
    return out


# -- the tenant scope --------------------------------------------------------------------------


class Scope:
    """A :class:`Database` bound to one tenant, with the helpers every concern uses."""

    def __init__(self, db: Database, tenant: str) -> None:
        self.db = db
        self.tenant = tenant

    @property
    def dialect(self) -> Dialect:
        return self.db.dialect

    def write(self) -> Any:
        """A write transaction (or savepoint)."""
        return self.db.transaction(write=True)

    def read(self) -> Any:
        """A read transaction (a consistent snapshot across several statements)."""
        return self.db.transaction(write=False)

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        rows: list[Row] = self.db.execute(sql, params).fetchall()
        return rows

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run a statement; returns the row count."""
        count: int = self.db.execute(sql, params).rowcount
        return count

    def lock(self, name: str) -> None:
        """Serialise writers of ``name`` within this tenant until the transaction ends."""
        if self.dialect.lock_sql is not None:
            self.db.execute(self.dialect.lock_sql, (f"{self.tenant}\x1f{name}",))

    def take(self, counter: str, n: int) -> int:
        """Reserve ``n`` consecutive values of a per-tenant counter; returns the first (from 1 up)."""
        (last,) = self.rows(
            "INSERT INTO oc_counters (tenant, name, value) VALUES (?, ?, ?) "
            "ON CONFLICT (tenant, name) DO UPDATE SET value = oc_counters.value + excluded.value "
            "RETURNING value",
            (self.tenant, counter, n),
        )[0]
        return int(last) - n + 1

    def append_numbered(
        self,
        table: str,
        counter: str,
        columns: Mapping[str, Sequence[Any]],
        *,
        positions: npt.NDArray[np.int64] | None = None,
    ) -> int:
        """Insert rows numbered by the tenant's ``counter`` (column ``seq``); returns the first number.

        ``columns`` maps column name to equal-length value lists (``tenant`` and ``seq`` are added).
        ``positions`` gives each row's position in the caller's order when the rows are passed in
        another order (e.g. sorted by time, so the time index and the table grow in step); row ``k``
        is numbered ``first + positions[k]``.
        """
        n = len(next(iter(columns.values())))
        first = self.take(counter, n)
        names = ("tenant", "seq", *columns)
        seqs: Sequence[int] = range(first, first + n) if positions is None else (first + positions).tolist()
        values = ([self.tenant] * n, seqs, *columns.values())
        self.db.bulk_insert(table, names, zip(*values, strict=True))
        return first

    def chunks(self, values: Sequence[Any]) -> Iterator[tuple[str, list[Any]]]:
        """``("(?, ?, ...)", chunk)`` pairs covering ``values`` for ``IN`` lists."""
        size = self.dialect.in_chunk
        for start in range(0, len(values), size):
            chunk = list(values[start : start + size])
            yield "(" + ", ".join("?" * len(chunk)) + ")", chunk

    # -- column kinds: the per-tenant metadata that keeps ids and properties typed -------------
    def kinds(self, log: str) -> dict[str, str]:
        """Recorded kind of every column of a log (``int``, ``text``, ``float``, ``bool``, ``time``,
        ``absent``)."""
        return dict(
            self.rows("SELECT name, kind FROM oc_columns WHERE tenant = ? AND log = ?", (self.tenant, log))
        )

    def settle_kinds(self, log: str, wanted: Mapping[str, str]) -> dict[str, str]:
        """Record the kinds a log has not seen yet and check the rest; raises ValidationError on a mix.

        Call inside the write transaction, before writing rows.
        """
        known = self.kinds(log)
        for name, kind in wanted.items():
            have = known.get(name)
            if have is not None and have != kind:
                raise ValidationError(
                    f"the {log} log holds {have} values in this column; got {kind} "
                    "(a log keeps one type per column)",
                    field=name,
                    value=kind,
                )
        new = [(self.tenant, log, name, kind) for name, kind in wanted.items() if name not in known]
        if new:
            self.db.executemany(
                "INSERT INTO oc_columns (tenant, log, name, kind) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (tenant, log, name) DO NOTHING",
                new,
            )
            known = self.kinds(log)
            for _, _, name, kind in new:
                if known.get(name) != kind:  # a concurrent writer recorded another kind first
                    raise ValidationError(
                        f"the {log} log holds {known.get(name)} values in this column; got {kind}",
                        field=name,
                        value=kind,
                    )
        return known

    def filter_ids(self, values: npt.ArrayLike, kind: str | None, *, field: str) -> list[str]:
        """Encoded unique ids for an ``IN`` filter; empty when no stored row can match.

        Raises ValidationError when the ids are of the other kind than the log's.
        """
        array = as_id_array(values, field=field)
        if array.size == 0 or kind is None:
            return []
        got = id_kind(array)
        if got != kind:
            raise ValidationError(f"this log holds {kind} ids; got {got} ids", field=field, value=array[0])
        return encode_ids(unique_sorted(array))
