"""The store: every scan, its facts (the evidence) and its results, in embedded SQLite.

Facts are written once and never updated; each keeps the sha256 of its raw bytes and the
scan keeps a digest over all of them, so ``hygie verify`` can show the evidence is intact.
An offline re-evaluation is a new scan that points at the facts of the scan it judged.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from hygie.database import open_database, transaction
from hygie.model import Fact, FactKind, HostScan, Result, Scan, evidence_digest

SCHEMA_VERSION = 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS scans (
    id TEXT PRIMARY KEY,
    started REAL NOT NULL,
    finished REAL NOT NULL,
    tool_version TEXT NOT NULL,
    policy_name TEXT NOT NULL,
    policy_version TEXT NOT NULL,
    policy_digest TEXT NOT NULL,
    policy_document TEXT NOT NULL,
    facts_from TEXT REFERENCES scans(id),
    evidence_digest TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS hosts (
    scan_id TEXT NOT NULL REFERENCES scans(id),
    name TEXT NOT NULL,
    address TEXT NOT NULL,
    transport TEXT NOT NULL,
    family TEXT NOT NULL,
    error TEXT,
    started REAL NOT NULL,
    finished REAL NOT NULL,
    connections INTEGER NOT NULL,
    execs INTEGER NOT NULL,
    uid INTEGER,
    tags TEXT NOT NULL,
    PRIMARY KEY (scan_id, name)
);
CREATE TABLE IF NOT EXISTS facts (
    scan_id TEXT NOT NULL REFERENCES scans(id),
    host TEXT NOT NULL,
    name TEXT NOT NULL,
    exit_status INTEGER,
    truncated INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    stdout BLOB NOT NULL,
    stderr BLOB NOT NULL,
    kind TEXT,
    PRIMARY KEY (scan_id, host, name)
);
CREATE TABLE IF NOT EXISTS results (
    scan_id TEXT NOT NULL REFERENCES scans(id),
    host TEXT NOT NULL,
    check_id TEXT NOT NULL,
    status TEXT NOT NULL,
    severity TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (scan_id, host, check_id)
);
CREATE INDEX IF NOT EXISTS results_status ON results (scan_id, status);
CREATE TRIGGER IF NOT EXISTS facts_are_evidence BEFORE UPDATE ON facts
BEGIN SELECT RAISE(ABORT, 'facts are evidence and are never edited'); END;
"""


class StoreError(Exception):
    pass


@dataclass(frozen=True)
class ScanSummary:
    id: str
    started: float
    policy: str
    hosts: int
    counts: dict[str, int]
    facts_from: str | None


def _legacy_kind(name: str) -> FactKind:
    """Facts stored before their kind was (schema 1) keep no kind, and evidence is never
    rewritten: their kind is read from today's fact declarations."""
    from hygie.factspec import all_facts

    spec = all_facts().get(name)
    return FactKind(spec.kind) if spec is not None else FactKind.SHELL


def _migrate(db: sqlite3.Connection) -> None:
    columns = {row[1] for row in db.execute("PRAGMA table_info(facts)")}
    if "kind" not in columns:  # schema 1: a new column, old rows keep NULL
        db.execute("ALTER TABLE facts ADD COLUMN kind TEXT")


class Store:
    def __init__(self, path: Path):
        self.path = path
        self._db = open_database(path, _SCHEMA)
        with transaction(self._db) as db:
            _migrate(db)
            db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'",
                       (str(SCHEMA_VERSION),))  # fmt: skip
            db.execute(
                "INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )

    def close(self) -> None:
        self._db.close()

    def save(self, scan: Scan) -> None:
        """A re-evaluation stores only the facts it derived itself; its collected facts
        stay those of the scan it judged (``facts_from``)."""
        with transaction(self._db) as db:
            db.execute(
                "INSERT INTO scans VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    scan.id, scan.started, scan.finished, scan.tool_version,
                    scan.policy_name, scan.policy_version, scan.policy_digest,
                    json.dumps(scan.policy_document, sort_keys=True), scan.facts_from,
                    evidence_digest(scan.hosts),
                ),
            )  # fmt: skip
            for h in scan.hosts:
                db.execute(
                    "INSERT INTO hosts VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        scan.id, h.name, h.address, h.transport, h.family, h.error,
                        h.started, h.finished, h.connections, h.execs, h.uid,
                        json.dumps(list(h.tags)),
                    ),
                )  # fmt: skip
                db.executemany(
                    "INSERT INTO facts VALUES (?,?,?,?,?,?,?,?,?)",
                    [
                        (scan.id, h.name, f.name, f.exit_status, int(f.truncated),
                         f.sha256, f.stdout, f.stderr, f.kind.value)
                        for f in h.facts.values()
                        if scan.facts_from is None or not f.kind.evidence
                    ],
                )  # fmt: skip
                db.executemany(
                    "INSERT INTO results VALUES (?,?,?,?,?,?)",
                    [
                        (scan.id, r.host, r.check_id, r.status.value, r.severity.value,
                         json.dumps(r.to_dict(), sort_keys=True))
                        for r in h.results
                    ],
                )  # fmt: skip

    def resolve(self, ref: str) -> str:
        """A scan id, a unique prefix of one, or ``latest``."""
        if ref == "latest":
            row = self._db.execute("SELECT id FROM scans ORDER BY started DESC LIMIT 1").fetchone()
            if row is None:
                raise StoreError(f"no scan stored in {self.path}")
            return row[0]
        rows = self._db.execute(
            "SELECT id FROM scans WHERE id LIKE ? ESCAPE '\\'",
            (ref.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%",),
        ).fetchall()
        if len(rows) != 1:
            problem = "no scan" if not rows else f"{len(rows)} scans"
            raise StoreError(f"{problem} matching {ref!r} in {self.path}")
        return rows[0][0]

    def load(self, ref: str) -> Scan:
        scan_id = self.resolve(ref)
        row = self._db.execute(
            "SELECT id, started, finished, tool_version, policy_name, policy_version, "
            "policy_digest, policy_document, facts_from FROM scans WHERE id = ?",
            (scan_id,),
        ).fetchone()
        scan = Scan(*row[:7], policy_document=json.loads(row[7]), facts_from=row[8])
        for h in self._db.execute(
            "SELECT name, address, transport, family, error, started, finished, connections, "
            "execs, uid, tags FROM hosts WHERE scan_id = ? ORDER BY rowid",
            (scan_id,),
        ).fetchall():
            fields = ("name", "address", "transport", "family", "error", "started",
                      "finished", "connections", "execs", "uid")  # fmt: skip
            host = HostScan(**dict(zip(fields, h[:10], strict=True)), tags=tuple(json.loads(h[10])))
            host.facts = self._facts(scan.facts_from, host.name) if scan.facts_from else {}
            host.facts |= self._facts(scan.id, host.name)
            host.results = [
                Result.from_dict(json.loads(body))
                for (body,) in self._db.execute(
                    "SELECT body FROM results WHERE scan_id = ? AND host = ? ORDER BY rowid",
                    (scan_id, host.name),
                )
            ]
            scan.hosts.append(host)
        return scan

    def _facts(self, scan_id: str, host: str) -> dict[str, Fact]:
        rows = self._db.execute(
            "SELECT name, stdout, stderr, exit_status, truncated, sha256, kind FROM facts "
            "WHERE scan_id = ? AND host = ?",
            (scan_id, host),
        )
        return {
            name: Fact(name, bytes(out), bytes(err), status, bool(trunc), sha,
                       FactKind(kind) if kind else _legacy_kind(name))
            for name, out, err, status, trunc, sha, kind in rows
        }  # fmt: skip

    def verify(self, ref: str) -> list[str]:
        """Problems found re-hashing the stored evidence of a scan; empty when intact."""
        scan_id = self.resolve(ref)
        stored = self._db.execute(
            "SELECT evidence_digest FROM scans WHERE id = ?", (scan_id,)
        ).fetchone()[0]
        scan = self.load(scan_id)
        problems = [
            f"{host.name}/{fact.name}: content does not match its sha256"
            for host in scan.hosts
            for fact in host.facts.values()
            if hashlib.sha256(fact.stdout).hexdigest() != fact.sha256
        ]
        if evidence_digest(scan.hosts) != stored:
            problems.append("the set of facts differs from the one recorded at scan time")
        return problems

    def list_scans(self, limit: int = 20) -> list[ScanSummary]:
        out = []
        for scan_id, started, policy, facts_from in self._db.execute(
            "SELECT id, started, policy_name, facts_from FROM scans ORDER BY started DESC LIMIT ?",
            (limit,),
        ).fetchall():
            counts = dict(
                self._db.execute(
                    "SELECT status, COUNT(*) FROM results WHERE scan_id = ? GROUP BY status",
                    (scan_id,),
                ).fetchall()
            )
            (hosts,) = self._db.execute(
                "SELECT COUNT(*) FROM hosts WHERE scan_id = ?", (scan_id,)
            ).fetchone()
            out.append(ScanSummary(scan_id, started, policy, hosts, counts, facts_from))
        return out
