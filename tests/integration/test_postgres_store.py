"""The scan store on a real PostgreSQL: the same scans, evidence, triggers and chain as on
SQLite, concurrent saves from two processes, ``hygie store copy`` both ways, and a URL's
password never shown.

The server is Debian's ``postgresql``, started once for this module as the ``postgres``
system user (it refuses to run as root) with its data in a temporary directory, listening
on a Unix socket in that directory only (``listen_addresses=''``), password authentication
(scram) so that URLs carry a password; each test gets a database of its own.
"""

from __future__ import annotations

import glob
import json
import os
import pwd
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from itertools import count
from pathlib import Path

import pytest

from hygie.chain import results_json, walk
from hygie.model import Fact, FactKind
from hygie.output import scan_to_dict
from hygie.signing import Signer, generate_key
from hygie.store import COLUMNS, EVIDENCE_TABLES, Store
from tests.unit.test_evidence_chain import scan_n

PASSWORD = "Pg-s3cret-of-hygie"
HYGIE = [sys.executable, "-m", "hygie.cli"]
REPO = Path(__file__).resolve().parents[2]


def _server_user() -> str | None:
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name).pw_name
        except KeyError:
            continue
    return None


def _unavailable() -> str | None:
    if os.geteuid() != 0:
        return "needs root (the server runs as the postgres system user)"
    if not glob.glob("/usr/lib/postgresql/*/bin/initdb"):
        return "PostgreSQL is not installed (apt: postgresql)"
    if _server_user() is None:
        return "no postgres or nobody user to run the server as"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install -e '.[postgres]')"
    return None


@dataclass
class Server:
    root: Path  # the data directory's parent, and the socket's directory
    databases: Iterator[int]

    def url(self, database: str, password: str = PASSWORD) -> str:
        return f"postgresql://hygie:{password}@/{database}?host={self.root}"

    def new_database(self) -> str:
        import psycopg

        name = f"hygie_{next(self.databases)}"
        with psycopg.connect(self.url("postgres"), autocommit=True) as db:
            db.execute(f"CREATE DATABASE {name}")
        return self.url(name)


def _as_server_user(*command: str, cwd: Path) -> None:
    subprocess.run(
        ["runuser", "-u", _server_user(), "--", *command],
        cwd=cwd,
        check=True,
        capture_output=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    reason = _unavailable()
    if reason is not None:
        if os.environ.get("HYGIE_REQUIRE_LAB"):
            pytest.fail(f"PostgreSQL required but unavailable: {reason}", pytrace=False)
        pytest.skip(f"PostgreSQL unavailable: {reason}")
    bin_dir = Path(sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))[-1]).parent
    root = Path(tempfile.mkdtemp(prefix="hygie-pg-", dir="/tmp"))  # a short socket path
    (root / "password").write_text(PASSWORD + "\n")
    shutil.chown(root, _server_user())
    shutil.chown(root / "password", _server_user())
    data = root / "data"
    _as_server_user(
        str(bin_dir / "initdb"),
        *("-D", str(data), "-U", "hygie", "--pwfile", str(root / "password")),
        *("-A", "scram-sha-256", "-E", "UTF8", "--locale", "C.UTF-8"),
        cwd=root,
    )
    options = f"-c listen_addresses='' -c unix_socket_directories={root} -c fsync=off"
    pg_ctl = str(bin_dir / "pg_ctl")
    _as_server_user(
        pg_ctl, "-D", str(data), "-l", str(root / "log"), "-w", "-o", options, "start", cwd=root
    )
    try:
        yield Server(root, count(1))
    finally:
        _as_server_user(pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop", cwd=root)
        shutil.rmtree(root)


@pytest.fixture
def pg(server) -> str:
    """The URL of a new, empty database."""
    return server.new_database()


@pytest.fixture
def signer(tmp_path) -> Signer:
    return generate_key(tmp_path / "keys" / "signing.key", None)


def _history(store: Store, signer: Signer) -> list:
    """Three signed scans and a signed re-evaluation of the second."""
    scans = [scan_n(n) for n in (1, 2, 3)]
    for scan in scans:
        store.save(scan, signer)
    judged = store.load(scans[1].id)
    derived = Fact("vulnerable_packages", b"[]", kind=FactKind.DERIVED)
    rejudged = replace(scan_n(5, facts_from=judged.id), hosts=judged.hosts)
    rejudged.hosts[0].facts = rejudged.hosts[0].facts | {derived.name: derived}
    store.save(rejudged, signer)
    return [*scans, rejudged]


def hygie(*args: str, tmp_path: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    environ = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "PYTHONPATH": os.pathsep.join(sys.path),
    }
    return subprocess.run(
        [*HYGIE, *args],
        cwd=tmp_path,
        env=environ | (env or {}),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_scan_round_trips_exactly_as_on_sqlite(pg, tmp_path, signer):
    stores = [Store(pg), Store(tmp_path / "h.db")]
    for store in stores:
        _history(store, signer)
    on_pg, on_sqlite = stores
    for scan_id in on_sqlite.scan_ids():
        a, b = on_pg.load(scan_id), on_sqlite.load(scan_id)
        assert scan_to_dict(a) == scan_to_dict(b) and results_json(a) == results_json(b)
        assert [h.facts for h in a.hosts] == [h.facts for h in b.hosts]
        assert a.seal == b.seal and on_pg.envelope(scan_id) == on_sqlite.envelope(scan_id)
    assert list(on_pg.links()) == list(on_sqlite.links())
    assert on_pg.public_keys() == on_sqlite.public_keys()
    assert on_pg.list_scans() == on_sqlite.list_scans()
    assert on_pg.resolve("20261128T000002z") == "20261128T000002Z-aaaaaa"
    assert walk(on_pg).problems == [] and on_pg.verify("latest") == []
    assert on_pg.unchained() == [] and on_pg.index_problems(scan_n(1).id) == []
    for store in stores:
        store.close()


@pytest.mark.parametrize("table", EVIDENCE_TABLES)
def test_triggers_refuse_updates_deletions_and_truncation(pg, signer, table):
    import psycopg

    store = Store(pg)
    store.save(scan_n(1), signer)
    store.close()
    with psycopg.connect(pg, autocommit=True) as db:
        column = COLUMNS[table][0]
        for sql in (
            f"UPDATE {table} SET {column} = {column}",
            f"DELETE FROM {table}",
            f"TRUNCATE {table} CASCADE",
        ):
            with pytest.raises(psycopg.errors.RestrictViolation, match="are evidence and are"):
                db.execute(sql)
        assert db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] > 0


SAVER = """
import sys
from hygie.store import Store
from tests.unit.test_evidence_chain import scan_n
store = Store(sys.argv[1])
print("ready", flush=True)
sys.stdin.readline()
for n in range(int(sys.argv[3])):
    scan = scan_n(1)
    scan.id = f"20261128T{n:06d}Z-{sys.argv[2]}"
    store.save(scan)
store.close()
"""


def test_two_processes_saving_at_once_get_consecutive_links(pg):
    savers = [
        subprocess.Popen(
            [sys.executable, "-c", SAVER, pg, tag, "15"],
            cwd=REPO,
            env=os.environ | {"PYTHONPATH": os.pathsep.join(sys.path)},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for tag in ("aaaaaa", "bbbbbb")
    ]
    for saver in savers:
        assert saver.stdout.readline() == "ready\n"
    for saver in savers:  # both start saving at once
        saver.stdin.write("go\n")
        saver.stdin.flush()
    for saver in savers:
        saver.communicate(timeout=120)
        assert saver.returncode == 0
    store = Store(pg)
    links = list(store.links())
    assert [link.seq for link in links] == list(range(1, 31))
    assert {link.scan_id[-6:] for link in links} == {"aaaaaa", "bbbbbb"}
    check = walk(store)
    assert check.problems == [] and check.links == 30
    store.close()


def _rows(path: Path) -> dict[str, list[tuple]]:
    db = sqlite3.connect(path)
    tables = (*EVIDENCE_TABLES, "meta")
    rows = {t: db.execute(f"SELECT * FROM {t} ORDER BY rowid").fetchall() for t in tables}
    db.close()
    return rows


def test_store_copy_sqlite_to_postgresql_and_back_keeps_the_chain(pg, tmp_path, signer):
    source = tmp_path / "source.db"
    store = Store(source)
    _history(store, signer)
    store.close()
    copied = hygie("store", "copy", str(source), pg, tmp_path=tmp_path)
    assert copied.returncode == 0, copied.stderr
    assert copied.stdout.startswith("copied 4 scans from ")
    again = hygie("store", "copy", str(source), pg, tmp_path=tmp_path)
    assert "copied 0 scans" in again.stdout and "(4 were already there)" in again.stdout
    back = hygie("store", "copy", pg, "back.db", tmp_path=tmp_path)
    assert back.returncode == 0, back.stderr
    assert _rows(source) == _rows(tmp_path / "back.db")  # every row, byte for byte
    for db in (pg, "back.db"):
        verified = hygie("verify", "latest", "--db", db, tmp_path=tmp_path)
        assert verified.returncode == 0, verified.stdout + verified.stderr
        assert "evidence chain: intact" in verified.stdout
        assert "chain: 4 links" in verified.stdout


def test_store_copy_refuses_a_destination_with_another_history(pg, tmp_path):
    store = Store(pg)
    store.save(scan_n(7))
    store.close()
    other = tmp_path / "other.db"
    store = Store(other)
    store.save(scan_n(1))
    store.close()
    refused = hygie("store", "copy", str(other), pg, tmp_path=tmp_path)
    assert refused.returncode == 3 and "two chains cannot be merged" in refused.stderr
    missing = hygie("store", "copy", "nowhere.db", pg, tmp_path=tmp_path)
    assert missing.returncode == 3 and "nowhere.db: no such store" in missing.stderr


def _tamper(url: str, *statements: str) -> None:
    """As the database's owner: drop the triggers first, as someone bypassing them would."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as db:
        for table, trigger in db.execute(
            "SELECT event_object_table, trigger_name FROM information_schema.triggers"
        ).fetchall():
            db.execute(f"DROP TRIGGER IF EXISTS {trigger} ON {table}")
        for sql in statements:
            db.execute(sql)


@pytest.mark.parametrize(
    ("statements", "expected"),
    [
        (
            (
                "UPDATE facts SET stdout = 'ID=rhel'::bytea, sha256 = repeat('0', 64) "
                "WHERE scan_id = '20261128T000002Z-aaaaaa' AND name = 'os_release'",
            ),
            "link 2 (scan 20261128T000002Z-aaaaaa): facts/db1/os_release: sha256 ",
        ),
        (
            tuple(
                f"DELETE FROM {t} WHERE {'id' if t == 'scans' else 'scan_id'} = "
                "'20261128T000002Z-aaaaaa'"
                for t in ("results", "facts", "hosts", "envelopes", "scans")
            ),
            "link 3 (scan 20261128T000003Z-aaaaaa): signed seq 3 follows link 1 ",
        ),
    ],
    ids=["edited fact", "deleted scan"],
)
def test_a_row_tampered_behind_the_triggers_is_found_by_walking_the_chain(
    pg, signer, statements, expected
):
    import psycopg

    store = Store(pg)
    for n in (1, 2, 3):
        store.save(scan_n(n), signer)
    store.close()
    _tamper(pg, *statements)
    store = Store(pg)  # opening the store puts the triggers back
    found = walk(store).problems
    store.close()
    assert any(p.startswith(expected) for p in found), found
    with psycopg.connect(pg) as db, pytest.raises(psycopg.errors.RestrictViolation):
        db.execute("DELETE FROM envelopes")


def test_the_password_of_a_url_is_never_shown_nor_stored(server, pg, tmp_path, signer):
    store = Store(pg)
    assert PASSWORD not in str(store.path) and "hygie:***@" in str(store.path)
    _history(store, signer)
    store.close()
    runs = [
        hygie("scans", "--db", pg, tmp_path=tmp_path),
        hygie("evaluate", "latest", tmp_path=tmp_path, env={"HYGIE_DB": pg}),
        hygie("verify", "latest", "--db", pg, tmp_path=tmp_path),
        hygie("store", "copy", pg, "copy.db", tmp_path=tmp_path),
        hygie("store", "copy", "copy.db", pg, tmp_path=tmp_path),
    ]
    assert [r.returncode for r in runs] == [0, 2, 0, 0, 0]  # evaluate: the facts lack a feed
    shown = runs[1].stdout + runs[1].stderr  # the console's summary
    assert "stored as " in shown and "hygie:***@" in shown
    wrong = "Wr0ng-pa%zz"  # also an invalid percent-encoding, which libpq quotes
    refused = [
        hygie("scans", "--db", server.url("hygie_1", "Wr0ng-pass"), tmp_path=tmp_path),
        hygie("verify", "latest", "--db", server.url("hygie_1", wrong), tmp_path=tmp_path),
        hygie("store", "copy", "copy.db", server.url("nosuchdb", wrong), tmp_path=tmp_path),
    ]
    assert [r.returncode for r in refused] == [3, 3, 3]
    assert all("cannot open postgresql://hygie:***@" in r.stderr for r in refused)
    for run in runs + refused:
        output = run.stdout + run.stderr
        assert PASSWORD not in output and "Wr0ng" not in output and "Traceback" not in output
    import psycopg

    with psycopg.connect(pg) as db:
        assert PASSWORD not in json.dumps(db.execute("SELECT * FROM meta").fetchall())
    for path in tmp_path.rglob("*"):
        assert PASSWORD not in path.name
        assert not path.is_file() or PASSWORD.encode() not in path.read_bytes()
