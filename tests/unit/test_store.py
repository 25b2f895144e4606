"""The store keeps scans, evidence and results exactly, and detects edited evidence."""

from __future__ import annotations

import sqlite3

import pytest

from hygie.model import Evidence, Fact, HostScan, Result, Scan, Severity, Status
from hygie.store import Store, StoreError


def make_scan(scan_id: str = "20261128T000000Z-aaaaaa") -> Scan:
    host = HostScan(
        name="db1",
        address="198.18.0.10",
        transport="ssh",
        family="debian",
        started=1.0,
        finished=2.5,
        connections=1,
        execs=1,
        uid=0,
        tags=("hds",),
    )
    host.facts = {
        "os_release": Fact("os_release", b"ID=debian\n"),
        "blob": Fact("blob", b"\x00\xff", b"warn", exit_status=3, truncated=True),
    }
    host.results = [
        Result(
            "ssh_root_login",
            "db1",
            Status.FAIL,
            Severity.HIGH,
            "t",
            "m",
            (Evidence("no", "yes", "sshd_effective"),),
        ),
    ]
    down = HostScan(name="down", address="198.18.0.99", transport="ssh", error="unreachable: x")
    return Scan(scan_id, 1.0, 3.0, "0.1", "p", "1", "d" * 64, {"checks": {}}, [host, down])


def test_round_trip_keeps_everything(tmp_path):
    store = Store(tmp_path / "h.db")
    scan = make_scan()
    store.save(scan)
    loaded = store.load("latest")
    assert loaded.id == scan.id and loaded.policy_document == {"checks": {}}
    assert [h.name for h in loaded.hosts] == ["db1", "down"]
    db1 = loaded.hosts[0]
    assert db1.facts["blob"] == scan.hosts[0].facts["blob"]
    assert db1.results == scan.hosts[0].results
    assert db1.tags == ("hds",) and db1.uid == 0
    assert loaded.hosts[1].error == "unreachable: x"
    assert store.verify(scan.id) == []
    assert (tmp_path / "h.db").stat().st_mode & 0o077 == 0


def test_resolve_by_prefix_and_errors(tmp_path):
    store = Store(tmp_path / "h.db")
    with pytest.raises(StoreError):
        store.resolve("latest")
    store.save(make_scan("20261128T000000Z-aaaaaa"))
    store.save(make_scan("20261128T000000Z-bbbbbb"))
    assert store.resolve("20261128T000000Z-b") == "20261128T000000Z-bbbbbb"
    with pytest.raises(StoreError, match="2 scans"):
        store.resolve("20261128T")


def test_facts_cannot_be_updated_and_tampering_is_detected(tmp_path):
    path = tmp_path / "h.db"
    store = Store(path)
    store.save(make_scan())
    store.close()
    db = sqlite3.connect(path)
    with pytest.raises(sqlite3.DatabaseError, match="never edited"):
        db.execute("UPDATE facts SET stdout = x'00' WHERE name = 'os_release'")
    db.execute("DROP TRIGGER facts_are_evidence")
    db.execute("UPDATE facts SET stdout = CAST('ID=rhel' AS BLOB) WHERE name = 'os_release'")
    db.commit()
    db.close()
    problems = Store(path).verify("latest")
    assert problems == ["db1/os_release: content does not match its sha256"]


def test_the_site_and_runner_of_a_host_are_kept(tmp_path):
    store = Store(tmp_path / "h.db")
    scan = make_scan()
    scan.hosts[0].site, scan.hosts[0].runner = "imaging", "ab" * 32
    store.save(scan)
    loaded = store.load("latest")
    assert (loaded.hosts[0].site, loaded.hosts[0].runner) == ("imaging", "ab" * 32)
    assert (loaded.hosts[1].site, loaded.hosts[1].runner) == (None, None)


def test_a_schema_3_store_gains_the_site_columns_and_its_chain_still_verifies(tmp_path):
    from hygie.chain import walk

    path = tmp_path / "old.db"
    store = Store(path)
    store.save(make_scan())
    store.close()
    db = sqlite3.connect(path)
    for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
        db.execute(f"DROP TRIGGER {name}")
    db.execute("ALTER TABLE hosts DROP COLUMN site")
    db.execute("ALTER TABLE hosts DROP COLUMN runner")
    db.commit()
    db.close()
    reopened = Store(path)
    assert reopened.load("latest").hosts[0].site is None
    assert walk(reopened).problems == []
