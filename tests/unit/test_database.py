"""The dialect layer: where a store is, what may be shown of a URL, and how the store's
one SQL text becomes PostgreSQL's."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from hygie.chain import walk
from hygie.cli_store import STORE_LOCATION
from hygie.database import (
    PostgresDatabase,
    Refusal,
    SqliteDatabase,
    database_path,
    default_path,
    is_url,
    masked,
    redact,
)
from hygie.feeds.store import feed_db_path
from hygie.store import _SCHEMA, COLUMNS, REFUSALS, Copied, Store, StoreError, copy_store
from tests.unit.test_evidence_chain import scan_n


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://hygie:s3cret@db.example/hygie", "postgresql://hygie:***@db.example/hygie"),
        ("postgres://u:p@ss@h/d", "postgres://u:***@ss@h/d"),  # libpq: the first '@'
        (
            "postgresql://u@h/d?password=s3cret&sslmode=require",
            "postgresql://u@h/d?password=***&sslmode=require",
        ),
        ("postgresql:///hygie?host=/run/postgresql", "postgresql:///hygie?host=/run/postgresql"),
        ("postgresql://u:@h/d", "postgresql://u:***@h/d"),
    ],
)
def test_a_url_is_shown_with_its_password_masked(url, shown):
    assert masked(url) == shown


def test_an_error_message_loses_every_form_of_the_password():
    url = "postgresql://u:pa%25ss@h/d?password=other"
    text = 'invalid token "pa%25ss", then "pa%ss", then other'
    assert redact(text, url) == 'invalid token "***", then "***", then ***'
    assert redact("nothing secret", "postgresql://u@h/d") == "nothing secret"


def test_the_store_location_is_a_path_or_a_url_kept_as_typed(monkeypatch, tmp_path):
    url = "postgresql:///hygie?host=/tmp/pg"
    assert database_path(url) == url and is_url(Path(url))  # a Path collapses '//'
    assert STORE_LOCATION.convert(url, None, None) == url
    assert database_path(str(tmp_path / "h.db")) == tmp_path / "h.db"
    monkeypatch.setenv("HYGIE_DB", url)
    assert database_path() == url


def test_feeds_stay_in_sqlite_when_the_store_is_a_url(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    monkeypatch.setenv("HYGIE_DB", "postgresql://u:p@h/d")
    assert feed_db_path() == default_path() == tmp_path / "hygie" / "hygie.db"
    monkeypatch.setenv("HYGIE_DB", str(tmp_path / "h.db"))
    assert feed_db_path() == tmp_path / "h.db"


def test_the_postgresql_schema_is_sqlites_with_explicit_types_and_a_rowid():
    ddl = PostgresDatabase.ddl(_SCHEMA)
    assert "BLOB" not in ddl and "stdout BYTEA NOT NULL" in ddl
    assert "started DOUBLE PRECISION NOT NULL" in ddl and "seq BIGINT NOT NULL UNIQUE" in ddl
    tables = _SCHEMA.count("CREATE TABLE")
    assert ddl.count("rowid BIGINT GENERATED ALWAYS AS IDENTITY") == tables == 7


def test_refusals_are_triggers_with_the_same_message_on_both_engines():
    facts = Refusal("facts_are_evidence", "facts", "UPDATE", "facts are evidence")
    assert SqliteDatabase.refusal(facts) == (
        "CREATE TRIGGER IF NOT EXISTS facts_are_evidence BEFORE UPDATE ON facts\n"
        "BEGIN SELECT RAISE(ABORT, 'facts are evidence'); END;\n"
    )
    assert PostgresDatabase.refusal(facts) == (
        "CREATE OR REPLACE TRIGGER facts_are_evidence BEFORE UPDATE ON facts FOR EACH ROW "
        "EXECUTE FUNCTION hygie_refuse('facts are evidence');\n"
    )
    truncate = next(r for r in REFUSALS if r.event == "TRUNCATE")
    assert SqliteDatabase.refusal(truncate) == ""
    assert "FOR EACH STATEMENT" in PostgresDatabase.refusal(truncate)
    assert len(REFUSALS) == 6 * 3


def test_placeholders_become_psycopgs():
    assert PostgresDatabase.sql("SELECT '%' WHERE a = ? AND b LIKE ?") == (
        "SELECT '%%' WHERE a = %s AND b LIKE %s"
    )


def test_the_column_lists_are_the_schemas(tmp_path):
    Store(tmp_path / "h.db").close()
    db = sqlite3.connect(tmp_path / "h.db")
    for table, columns in COLUMNS.items():
        assert tuple(row[1] for row in db.execute(f"PRAGMA table_info({table})")) == columns


def test_a_copy_keeps_every_row_and_refuses_another_history(tmp_path):
    source, target = Store(tmp_path / "a.db"), Store(tmp_path / "b.db")
    source.save(scan_n(1))
    assert copy_store(source, target) == Copied(1, 0)
    source.save(scan_n(2))
    assert copy_store(source, target) == Copied(1, 1)
    assert list(target.links()) == list(source.links())
    assert walk(target).problems == []
    other = Store(tmp_path / "c.db")
    other.save(scan_n(3))
    with pytest.raises(StoreError, match="cannot be merged"):
        copy_store(other, target)
    assert target.scan_ids() == {scan_n(1).id, scan_n(2).id}
