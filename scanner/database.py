"""Where hygie keeps its data and how a database is opened: one SQLite file by default, or
a PostgreSQL database (a central store for several sites) named by a ``postgresql://`` URL.

The SQLite file is shared by the scan store and the feed store, which own their tables but
not the file: one place decides the default path (``$HYGIE_DB``), the file's mode and what
a transaction is.

The scan store runs on either engine through :class:`Database`, a small dialect layer: its
SQL is written once, in SQLite's dialect with ``?`` placeholders, and what differs between
the engines is decided here and only here: placeholders, column types, SQLite's implicit
``rowid`` (the insertion order), the triggers that refuse edits, the writers' lock and what
a transaction is.

A URL may hold a password: it is used to connect and never kept. What a store shows of its
location (:func:`masked`) and the errors it raises (:func:`redact`) never contain it.
"""

from __future__ import annotations

import os
import re
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote

URL_SCHEMES = ("postgresql:", "postgres:")
MASK = "***"
Location = Path | str


class DatabaseError(Exception):
    """The database cannot be opened (no driver, refused connection): the message names
    the location with its password masked."""


def default_path() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path("~/.local/share").expanduser())
    return Path(base) / "hygie" / "hygie.db"


def is_url(location: Location) -> bool:
    """A PostgreSQL URL rather than a SQLite file. Tested on the scheme alone, so that a
    URL that went through :class:`~pathlib.Path` (``//`` collapsed) is still recognised."""
    return str(location).startswith(URL_SCHEMES)


def database_path(given: Location | None = None) -> Location:
    """``--db``, else ``$HYGIE_DB``, else the default: a SQLite path, or a PostgreSQL URL
    (a string: a :class:`~pathlib.Path` would collapse its ``//``)."""
    location = given or os.environ.get("HYGIE_DB") or default_path()
    return str(location) if is_url(location) else Path(location)


# libpq's URI parser: the credentials are what precedes the first '@' before any '/'
_USERINFO = re.compile(r"^(?P<scheme>[a-z]+://)(?P<user>[^@/:]*):(?P<password>[^@/]*)@")
_QUERY_PASSWORD = re.compile(r"(?P<key>[?&]password=)(?P<password>[^&#]*)")


def _passwords(url: str) -> list[str]:
    found = [m["password"] for m in (_USERINFO.match(url), *_QUERY_PASSWORD.finditer(url)) if m]
    return [p for p in dict.fromkeys(found + [unquote(p) for p in found]) if p]


def masked(url: str) -> str:
    """The URL with its password (``user:password@`` or ``?password=``) shown as ``***``."""
    url = _USERINFO.sub(rf"\g<scheme>\g<user>:{MASK}@", url, count=1)
    return _QUERY_PASSWORD.sub(rf"\g<key>{MASK}", url)


def redact(text: str, url: str) -> str:
    """``text`` (a driver's error message) without any password of ``url``."""
    for password in sorted(_passwords(url), key=len, reverse=True):
        text = text.replace(password, MASK)
    return text


def open_database(path: Path, schema: str) -> sqlite3.Connection:
    """Open (creating it if needed) the SQLite file with ``schema`` applied, readable by
    its owner only: evidence and findings describe weaknesses."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path)
    db.execute("PRAGMA foreign_keys = ON")
    db.executescript(schema)
    db.commit()
    os.chmod(path, 0o600)
    return db


@contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """Commit on success, roll back on any error: a scan is stored whole or not at all."""
    try:
        yield db
        db.commit()
    except BaseException:
        db.rollback()
        raise


@dataclass(frozen=True)
class Refusal:
    """A trigger refusing ``event`` (UPDATE, DELETE or TRUNCATE) on ``table``."""

    name: str
    table: str
    event: str
    message: str


class Database(Protocol):
    """A connection to either engine, with the few operations a store needs. ``location``
    is what may be shown of where it is: the path, or the URL with its password masked."""

    location: str

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any: ...

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...

    def transaction(self, write: bool = False) -> AbstractContextManager[Database]:
        """Everything inside commits together or not at all. ``write`` first takes the
        writers' lock, so that writers (saves from any process) run one after the other
        and each sees what the one before committed."""
        ...

    def columns(self, table: str) -> set[str]: ...

    def close(self) -> None: ...


class SqliteDatabase:
    """SQLite as hygie always used it: the file is created with the schema (tables in
    SQLite's own dialect, refusals as ``RAISE(ABORT)`` triggers) and ``write`` is
    ``BEGIN IMMEDIATE``."""

    def __init__(self, path: Path, tables: str, refusals: Sequence[Refusal]):
        self.location = str(path)
        self._db = open_database(path, tables + "".join(map(self.refusal, refusals)))

    @staticmethod
    def refusal(r: Refusal) -> str:
        """SQLite has no TRUNCATE: a DELETE trigger also disables its truncate shortcut."""
        if r.event == "TRUNCATE":
            return ""
        return f"""CREATE TRIGGER IF NOT EXISTS {r.name} BEFORE {r.event} ON {r.table}
BEGIN SELECT RAISE(ABORT, '{r.message}'); END;
"""

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._db.execute(sql, params)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self._db.executemany(sql, rows)

    @contextmanager
    def transaction(self, write: bool = False) -> Iterator[SqliteDatabase]:
        with transaction(self._db):
            if write:
                self._db.execute("BEGIN IMMEDIATE")
            yield self

    def columns(self, table: str) -> set[str]:
        return {row[1] for row in self._db.execute(f"PRAGMA table_info({table})")}

    def close(self) -> None:
        self._db.close()


_PG_TYPES = {"INTEGER": "BIGINT", "REAL": "DOUBLE PRECISION", "BLOB": "BYTEA"}
_PG_TYPE = re.compile(r"\b(" + "|".join(_PG_TYPES) + r")\b")
_TABLE_END = re.compile(r"\n\);")
# A constant key of pg_advisory_xact_lock: hygie's writers' lock in a database
WRITERS_LOCK = 0x6879_6769_6501  # "hygie" 1
_REFUSE = """CREATE OR REPLACE FUNCTION hygie_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION '%', TG_ARGV[0] USING ERRCODE = 'restrict_violation'; END $$;
"""


class PostgresDatabase:
    """PostgreSQL through psycopg 3, in autocommit outside :meth:`transaction` (a reader
    never sits idle in a transaction on a shared server).

    The schema is SQLite's with its types made explicit (SQLite's INTEGER is 64-bit, its
    REAL a double), a ``rowid`` identity column last in every table (SQLite's implicit
    insertion order, so that ``ORDER BY rowid`` means the same on both), refusals as
    PL/pgSQL triggers raising the same messages (TRUNCATE too); ``write`` is an advisory
    lock held until commit. The schema is applied under that lock: two processes opening a
    new database at once do not race on its DDL. Needs PostgreSQL 14 or later (``CREATE OR
    REPLACE TRIGGER``)."""

    def __init__(self, url: str, tables: str, refusals: Sequence[Refusal]):
        self.location = masked(url)
        self._db = _connect(url)
        with self.transaction(write=True):
            self._db.execute(self.ddl(tables) + _REFUSE + "".join(map(self.refusal, refusals)))

    @staticmethod
    def ddl(tables: str) -> str:
        tables = _PG_TYPE.sub(lambda m: _PG_TYPES[m[1]], tables)
        return _TABLE_END.sub(",\n    rowid BIGINT GENERATED ALWAYS AS IDENTITY\n);", tables)

    @staticmethod
    def refusal(r: Refusal) -> str:
        each = "STATEMENT" if r.event == "TRUNCATE" else "ROW"
        return (
            f"CREATE OR REPLACE TRIGGER {r.name} BEFORE {r.event} ON {r.table} "
            f"FOR EACH {each} EXECUTE FUNCTION hygie_refuse('{r.message}');\n"
        )

    @staticmethod
    def sql(text: str) -> str:
        """``?`` placeholders as psycopg's ``%s`` (and a literal ``%`` as ``%%``)."""
        return text.replace("%", "%%").replace("?", "%s")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._db.execute(self.sql(sql), params)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        with self._db.cursor() as cur:
            cur.executemany(self.sql(sql), rows)

    @contextmanager
    def transaction(self, write: bool = False) -> Iterator[PostgresDatabase]:
        with self._db.transaction():
            if write:
                self._db.execute("SELECT pg_advisory_xact_lock(%s)", (WRITERS_LOCK,))
            yield self

    def columns(self, table: str) -> set[str]:
        rows = self.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = ?",
            (table,),
        )
        return {name for (name,) in rows}

    def close(self) -> None:
        self._db.close()


def _connect(url: str) -> Any:
    try:
        import psycopg
    except ImportError:
        raise DatabaseError(
            f"{masked(url)}: a PostgreSQL store needs psycopg: pip install 'hygie[postgres]'"
        ) from None
    try:
        return psycopg.connect(url, autocommit=True)
    except psycopg.Error as exc:
        raise DatabaseError(f"cannot open {masked(url)}: {redact(str(exc), url)}") from None


def connect(location: Location, tables: str, refusals: Sequence[Refusal]) -> Database:
    """Open the store at ``location`` with its schema: ``tables`` in SQLite's dialect and
    the triggers that refuse edits."""
    if is_url(location):
        return PostgresDatabase(str(location), tables, refusals)
    return SqliteDatabase(Path(location), tables, refusals)
