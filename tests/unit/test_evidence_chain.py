"""The store's evidence chain: every stored scan is the next signed link, and editing,
deleting, inserting or reordering history behind SQLite's back is found by walking it.

The tamper helpers drop the store's triggers first: the triggers stop mistakes, the chain
is what stops someone who can write the file."""

from __future__ import annotations

import base64
import json
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from hygie.chain import results_json, seal_scan, walk
from hygie.model import Fact, FactKind
from hygie.signing import Signer, generate_key
from hygie.store import EVIDENCE_TABLES, Store
from tests.unit.test_store import make_scan


def scan_n(n: int, facts_from: str | None = None):
    scan = make_scan(f"20261128T00000{n}Z-aaaaaa")
    scan.started, scan.finished = float(n * 10), float(n * 10 + 5)
    scan.facts_from = facts_from
    return scan


@pytest.fixture
def signer(tmp_path) -> Signer:
    return generate_key(tmp_path / "keys" / "signing.key", None)


@pytest.fixture
def chained(tmp_path, signer) -> Path:
    """A store of three signed scans, closed (each test reopens it: a restart)."""
    path = tmp_path / "h.db"
    store = Store(path)
    for n in (1, 2, 3):
        assert store.save(scan_n(n), signer).seq == n
    store.close()
    return path


def tamper(path: Path, *statements: str, params: tuple = ()) -> None:
    db = sqlite3.connect(path)
    for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
        db.execute(f"DROP TRIGGER {name}")
    for sql in statements:
        db.execute(sql, params if "?" in sql else ())
    db.commit()
    db.close()


def problems(path: Path, **kwargs) -> list[str]:
    store = Store(path)
    try:
        return walk(store, **kwargs).problems
    finally:
        store.close()


def test_an_untouched_chain_survives_a_restart(chained, signer):
    store = Store(chained)
    check = walk(store)
    assert check.problems == [] and check.warnings == [] and check.links == 3
    assert check.signers == {signer.keyid: [1, 2, 3]}
    assert walk(store, {signer.keyid: signer.public}).problems == []
    seal = store.load("latest").seal
    assert seal.seq == 3 and seal.keyid == signer.keyid and seal.prev is not None
    store.save(scan_n(4), signer)
    assert walk(store).problems == [] and store.seal(scan_n(4).id).seq == 4


@pytest.mark.parametrize("table", EVIDENCE_TABLES)
def test_triggers_refuse_edits_and_deletions_of_evidence(chained, table):
    db = sqlite3.connect(chained)
    with pytest.raises(sqlite3.DatabaseError, match="evidence"):
        db.execute(f"DELETE FROM {table}")
    column = db.execute(f"PRAGMA table_info({table})").fetchone()[1]
    with pytest.raises(sqlite3.DatabaseError, match="evidence"):
        db.execute(f"UPDATE {table} SET {column} = {column}")


def test_an_edited_fact_is_found_even_with_its_hash_column_rewritten(chained):
    tamper(
        chained,
        "UPDATE facts SET stdout = CAST('ID=rhel' AS BLOB), sha256 = "
        "'0000000000000000000000000000000000000000000000000000000000000000' "
        "WHERE scan_id = '20261128T000002Z-aaaaaa' AND name = 'os_release'",
    )
    found = problems(chained)
    assert len(found) == 2 and "link 2 (scan 20261128T000002Z-aaaaaa): results.json" in found[1]
    assert found[0].startswith(
        "link 2 (scan 20261128T000002Z-aaaaaa): facts/db1/os_release: sha256 "
    ) and found[0].endswith(": altered")


def test_an_edited_result_is_found(chained):
    row = (
        sqlite3.connect(chained)
        .execute("SELECT body FROM results WHERE scan_id = '20261128T000001Z-aaaaaa'")
        .fetchone()[0]
    )
    body = json.loads(row) | {"status": "pass"}
    tamper(
        chained,
        "UPDATE results SET status = 'pass', body = ? WHERE scan_id = '20261128T000001Z-aaaaaa'",
        params=(json.dumps(body),),
    )
    found = problems(chained)
    assert [p.split(": sha256")[0] for p in found] == [
        "link 1 (scan 20261128T000001Z-aaaaaa): results.json",
        "link 1 (scan 20261128T000001Z-aaaaaa): predicate 'hosts': the signed value differs "
        "from the scan in the store",  # the host's counts of pass and fail
    ]


def test_an_index_column_edited_alone_is_found(chained):
    """``hygie scans`` counts statuses from the index column; the chain signs the body."""
    tamper(chained, "UPDATE results SET status = 'pass' WHERE scan_id = '20261128T000003Z-aaaaaa'")
    assert problems(chained) == [
        "link 3 (scan 20261128T000003Z-aaaaaa): results row db1/ssh_root_login: status column "
        "'pass', the result says 'fail'"
    ]


def test_a_deleted_middle_scan_breaks_the_chain(chained):
    tamper(
        chained,
        *(
            f"DELETE FROM {t} WHERE {'id' if t == 'scans' else 'scan_id'} = "
            "'20261128T000002Z-aaaaaa'"
            for t in ("results", "facts", "hosts", "envelopes", "scans")
        ),
    )
    assert problems(chained) == [
        "link 3 (scan 20261128T000003Z-aaaaaa): signed seq 3 follows link 1 (scan "
        "20261128T000001Z-aaaaaa): links are missing or out of order"
    ]


def test_a_scan_whose_link_was_deleted_is_named(chained):
    tamper(chained, "DELETE FROM envelopes WHERE seq = 3")
    assert problems(chained) == ["scan 20261128T000003Z-aaaaaa: stored but in no link of the chain"]


def test_two_swapped_scans_are_found(chained):
    tamper(
        chained,
        "UPDATE envelopes SET seq = -seq WHERE seq IN (2, 3)",
        "UPDATE envelopes SET seq = 5 + seq WHERE seq IN (-2, -3)",  # 2 <-> 3
    )
    found = problems(chained)
    assert "link 2 (scan 20261128T000003Z-aaaaaa): the table says seq 2, the signed envelope 3" in (
        found
    )
    assert any("signed seq 3 follows link 1" in p for p in found)
    assert any("signed seq 2 follows link 3" in p for p in found)


def test_history_resigned_with_another_key_fails_against_the_trusted_key(chained, signer, tmp_path):
    """Someone with write access and their own key rewrites link 3 and records their key:
    walking with the store's keys sees a key change; with the auditor's key, a forgery."""
    mallory = generate_key(tmp_path / "mallory.key", None)
    store = Store(chained)
    scan = store.load("latest")
    first, second = list(store.links())[1:]
    store.close()
    envelope, seal = seal_scan(
        scan, results_json(scan), seq=3, prev=first.digest, origin=None, signer=mallory
    )
    assert second.digest != seal.envelope_sha256
    tamper(
        chained,
        "UPDATE envelopes SET envelope = ?, digest = ?, keyid = ? WHERE seq = 3",
        params=(envelope, seal.envelope_sha256, mallory.keyid),
    )
    tamper(
        chained,
        "INSERT INTO signing_keys VALUES (?, ?)",
        params=(mallory.keyid, mallory.public.pem),
    )
    store = Store(chained)
    check = walk(store)
    assert check.problems == [] and set(check.signers) == {signer.keyid, mallory.keyid}
    trusted = walk(store, {signer.keyid: signer.public})
    assert trusted.problems == [
        f"link 3 (scan 20261128T000003Z-aaaaaa): signed by key {mallory.keyid}, not by a key "
        "given to verify"
    ]


def test_an_edited_envelope_is_found(chained):
    db = sqlite3.connect(chained)
    (envelope,) = db.execute("SELECT envelope FROM envelopes WHERE seq = 2").fetchone()
    db.close()
    doc = json.loads(envelope)
    signature = bytearray(base64.b64decode(doc["signatures"][0]["sig"]))
    signature[0] ^= 1
    doc["signatures"][0]["sig"] = base64.b64encode(signature).decode()
    tamper(
        chained,
        "UPDATE envelopes SET envelope = ? WHERE seq = 2",
        params=(json.dumps(doc).encode(),),
    )
    found = problems(chained)
    name = "link 2 (scan 20261128T000002Z-aaaaaa)"
    assert f"{name}: signature by key {doc['signatures'][0]['keyid']} does not verify" in found
    assert any(p.startswith(f"{name}: the table says sha256") for p in found)
    assert any(p.startswith("link 3 (scan 20261128T000003Z-aaaaaa): prev ") for p in found)
    tamper(chained, "UPDATE envelopes SET envelope = CAST('{' AS BLOB) WHERE seq = 2")
    assert any(p.startswith(f"{name}: not a DSSE envelope (") for p in problems(chained))


def test_an_unsigned_scan_after_signed_ones_is_a_warning(chained, signer):
    store = Store(chained)
    store.save(scan_n(4), None)
    check = walk(store)
    assert check.problems == [] and check.unsigned == [4]
    assert check.warnings == [
        "link 4 (scan 20261128T000004Z-aaaaaa) is unsigned although earlier links are signed: "
        "anyone able to write the store could have appended it"
    ]
    strict = walk(store, {signer.keyid: signer.public})
    assert strict.problems == [
        "link 4 (scan 20261128T000004Z-aaaaaa): unsigned, but a signature by a given key is "
        "required"
    ]


def test_a_re_evaluation_is_chained_to_the_scan_it_judged(chained, signer):
    store = Store(chained)
    judged = store.load("20261128T000002Z-aaaaaa")
    derived = Fact("vulnerable_packages", b"[]", kind=FactKind.DERIVED)
    rejudged = replace(scan_n(5, facts_from=judged.id), hosts=judged.hosts)
    rejudged.hosts[0].facts = rejudged.hosts[0].facts | {derived.name: derived}
    store.save(rejudged, signer)
    store.close()
    store = Store(chained)
    check = walk(store)
    assert check.problems == [] and check.links == 4
    envelope = json.loads(store.envelope(rejudged.id))
    store.close()
    stmt = json.loads(base64.b64decode(envelope["payload"]))
    assert {s["name"] for s in stmt["subject"]} == {"facts/db1/vulnerable_packages", "results.json"}
    assert stmt["predicate"]["scan"]["facts_from"]["id"] == judged.id
    tamper(
        chained,
        "UPDATE facts SET stdout = CAST('ID=x' AS BLOB) "
        "WHERE scan_id = '20261128T000002Z-aaaaaa' AND name = 'os_release'",
    )
    found = problems(chained)
    assert any(p.startswith("link 2 ") for p in found)


def test_scans_stored_before_the_chain_began_are_legacy_not_tampering(tmp_path, signer):
    path = tmp_path / "old.db"
    store = Store(path)
    store.save(scan_n(1))
    store.close()
    tamper(path, "DELETE FROM envelopes", "DELETE FROM meta WHERE key = 'chain_started'")
    store = Store(path)
    store.save(scan_n(2), signer)
    check = walk(store)
    assert check.problems == [] and check.legacy == ["20261128T000001Z-aaaaaa"]
    assert check.links == 1
