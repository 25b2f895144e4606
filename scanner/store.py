"""The store: every scan, its facts (the evidence) and its results, in embedded SQLite or,
for a central store fed by several sites, in PostgreSQL (hygie.database: same schema, same
triggers, same chain).

Facts are written once and never updated; each keeps the sha256 of its raw bytes and the
scan keeps a digest over all of them, so ``hygie verify`` can show the evidence is intact.
An offline re-evaluation is a new scan that points at the facts of the scan it judged.

Every scan is also sealed as it is stored, in the same transaction: its signed envelope is
the next link of the store's evidence chain (hygie.chain), kept in ``envelopes`` with the
signer's public key in ``signing_keys``. Triggers refuse to update or delete any row of
the evidence tables: evidence is never removed, and an edit made behind the database's back
is found by ``hygie verify``.

:func:`copy_store` moves a store from one engine to the other row for row, envelopes and
all: the chain it arrives with is the chain it had, not a new one.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson

from hygie.chain import RESULTS, Link, results_json, seal_scan, sha256
from hygie.database import Database, DatabaseError, Location, Refusal, connect, is_url
from hygie.model import Fact, FactKind, HostScan, Result, Scan, Seal, evidence_digest
from hygie.signing import Signer

SCHEMA_VERSION = 4
EVIDENCE_TABLES = ("scans", "hosts", "facts", "results", "envelopes", "signing_keys")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
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
    site TEXT,
    runner TEXT,
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
CREATE TABLE IF NOT EXISTS envelopes (
    scan_id TEXT PRIMARY KEY REFERENCES scans(id),
    seq INTEGER NOT NULL UNIQUE,
    prev TEXT,
    digest TEXT NOT NULL,
    keyid TEXT,
    envelope BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS signing_keys (
    keyid TEXT PRIMARY KEY,
    public_key BLOB NOT NULL
);
"""
REFUSALS = (
    Refusal("facts_are_evidence", "facts", "UPDATE", "facts are evidence and are never edited"),
    *(
        Refusal(
            f"{table}_never_{verb}d",
            table,
            verb.upper(),
            f"{table} are evidence and are never {verb}d",
        )
        for table in EVIDENCE_TABLES
        for verb in ("update", "delete", "truncate")  # TRUNCATE: PostgreSQL only
        if (table, verb) != ("facts", "update")  # facts_are_evidence, since schema 1
    ),
)
# The columns of each evidence table in the order the schema declares them: every INSERT
# names them (PostgreSQL's tables have one more, rowid) and a copy reads them in that order.
COLUMNS = {
    table: tuple(names.split())
    for table, names in {
        "scans": "id started finished tool_version policy_name policy_version policy_digest "
        "policy_document facts_from evidence_digest",
        "hosts": "scan_id name address transport family error started finished connections "
        "execs uid tags site runner",
        "facts": "scan_id host name exit_status truncated sha256 stdout stderr kind",
        "results": "scan_id host check_id status severity body",
        "envelopes": "scan_id seq prev digest keyid envelope",
        "signing_keys": "keyid public_key",
    }.items()
}
_INSERT = {
    table: f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({','.join('?' * len(cols))})"
    for table, cols in COLUMNS.items()
}
_IGNORE = " ON CONFLICT DO NOTHING"
_META = "INSERT INTO meta (key, value) VALUES (?, ?)" + _IGNORE
# A scan's rows of each table, in the order they were stored: parents before children
_SCAN_ROWS = {
    table: f"SELECT {', '.join(cols)} FROM {table} "
    f"WHERE {'id' if table == 'scans' else 'scan_id'} = ? ORDER BY rowid"
    for table, cols in COLUMNS.items()
    if table != "signing_keys"
}
_LINK = "SELECT seq, scan_id, prev, digest, keyid, envelope FROM envelopes "


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


def _migrate(db: Database) -> None:
    if "kind" not in db.columns("facts"):  # schema 1: a new column, old rows keep NULL
        db.execute("ALTER TABLE facts ADD COLUMN kind TEXT")
    hosts = db.columns("hosts")
    for column in ("site", "runner"):  # schema 3: who assessed a host (multi-site scans)
        if column not in hosts:
            db.execute(f"ALTER TABLE hosts ADD COLUMN {column} TEXT")


class Store:
    """``path``: a SQLite file, or a ``postgresql://`` URL (hygie.database). ``self.path``
    is what may be shown: the file's path, or the URL with its password masked."""

    def __init__(self, path: Location):
        try:
            self._db = connect(path, _SCHEMA, REFUSALS)
        except DatabaseError as exc:
            raise StoreError(str(exc)) from None
        self.path: Location = self._db.location if is_url(path) else Path(path)
        with self._db.transaction() as db:
            _migrate(db)
            db.execute(
                "UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),)
            )
            db.execute(_META, ("schema_version", str(SCHEMA_VERSION)))

    def close(self) -> None:
        self._db.close()

    def save(self, scan: Scan, signer: Signer | None = None) -> Seal:
        """Store the scan and seal it as the chain's next link, signed by ``signer`` (or
        unsigned); sets and returns ``scan.seal``. A re-evaluation stores only the facts it
        derived itself; its collected facts stay those of the scan it judged
        (``facts_from``). The writers' lock is taken first (``BEGIN IMMEDIATE``, an
        advisory lock on PostgreSQL) so that two scans stored at once, by any process,
        still get distinct, consecutive links."""
        results = results_json(scan)
        with self._db.transaction(write=True) as db:
            db.execute(
                _INSERT["scans"],
                (
                    scan.id,
                    scan.started,
                    scan.finished,
                    scan.tool_version,
                    scan.policy_name,
                    scan.policy_version,
                    scan.policy_digest,
                    json.dumps(scan.policy_document, sort_keys=True),
                    scan.facts_from,
                    evidence_digest(scan.hosts),
                ),
            )
            for h in scan.hosts:
                db.execute(
                    _INSERT["hosts"],
                    (
                        scan.id,
                        h.name,
                        h.address,
                        h.transport,
                        h.family,
                        h.error,
                        h.started,
                        h.finished,
                        h.connections,
                        h.execs,
                        h.uid,
                        json.dumps(list(h.tags)),
                        h.site,
                        h.runner,
                    ),
                )
                db.executemany(
                    _INSERT["facts"],
                    [
                        (
                            scan.id,
                            h.name,
                            f.name,
                            f.exit_status,
                            int(f.truncated),
                            f.sha256,
                            f.stdout,
                            f.stderr,
                            f.kind.value,
                        )
                        for f in h.facts.values()
                        if scan.facts_from is None or not f.kind.evidence
                    ],
                )
                db.executemany(
                    _INSERT["results"],
                    [
                        (
                            scan.id,
                            r.host,
                            r.check_id,
                            r.status.value,
                            r.severity.value,
                            json.dumps(r.to_dict(), sort_keys=True),
                        )
                        for r in h.results
                    ],
                )
            scan.seal = self._link(db, scan, results, signer)
        return scan.seal

    @staticmethod
    def _link(db: Database, scan: Scan, results: bytes, signer: Signer | None) -> Seal:
        last = db.execute(
            "SELECT seq, envelope FROM envelopes ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        origin = db.execute(
            "SELECT envelope FROM envelopes WHERE scan_id = ?", (scan.facts_from,)
        ).fetchone()
        envelope, seal = seal_scan(
            scan,
            results,
            seq=last[0] + 1 if last else 1,
            prev=sha256(last[1]) if last else None,
            origin=sha256(origin[0]) if origin else None,
            signer=signer,
        )
        db.execute(
            _INSERT["envelopes"],
            (scan.id, seal.seq, seal.prev, seal.envelope_sha256, seal.keyid, envelope),
        )
        if signer is not None:
            db.execute(_INSERT["signing_keys"] + _IGNORE, (signer.keyid, signer.public.pem))
        db.execute(_META, ("chain_started", scan.id))
        return seal

    def resolve(self, ref: str) -> str:
        """A scan id, a unique prefix of one (in any case, as SQLite's LIKE), or ``latest``."""
        if ref == "latest":
            row = self._db.execute("SELECT id FROM scans ORDER BY started DESC LIMIT 1").fetchone()
            if row is None:
                raise StoreError(f"no scan stored in {self.path}")
            return row[0]
        rows = self._db.execute(
            "SELECT id FROM scans WHERE lower(id) LIKE lower(?) ESCAPE '\\'",
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
        scan = Scan(
            *row[:7], policy_document=json.loads(row[7]), facts_from=row[8], seal=self.seal(scan_id)
        )
        fields = COLUMNS["hosts"][1:]  # HostScan's own, after scan_id
        for h in self._db.execute(
            f"SELECT {', '.join(fields)} FROM hosts WHERE scan_id = ? ORDER BY rowid",
            (scan_id,),
        ).fetchall():
            values = dict(zip(fields, h, strict=True))
            host = HostScan(**values | {"tags": tuple(json.loads(values["tags"]))})
            host.facts = self._facts(scan.facts_from, host.name, True) if scan.facts_from else {}
            host.facts |= self._facts(scan.id, host.name)
            host.results = [
                Result.from_dict(orjson.loads(body))
                for (body,) in self._db.execute(
                    "SELECT body FROM results WHERE scan_id = ? AND host = ? ORDER BY rowid",
                    (scan_id, host.name),
                )
            ]
            scan.hosts.append(host)
        return scan

    def _facts(self, scan_id: str, host: str, evidence_only: bool = False) -> dict[str, Fact]:
        """``evidence_only``: the collected facts a re-evaluation judged, without the facts
        the judged scan derived (the re-evaluation derived its own, or none)."""
        rows = self._db.execute(
            "SELECT name, stdout, stderr, exit_status, truncated, sha256, kind FROM facts "
            "WHERE scan_id = ? AND host = ?",
            (scan_id, host),
        )
        facts = {
            name: Fact(
                name,
                bytes(out),
                bytes(err),
                status,
                bool(trunc),
                sha,
                FactKind(kind) if kind else _legacy_kind(name),
            )
            for name, out, err, status, trunc, sha, kind in rows
        }
        return {k: f for k, f in facts.items() if f.kind.evidence} if evidence_only else facts

    def seal(self, scan_id: str) -> Seal | None:
        """The scan's link, None for a scan stored before the chain began. A link whose
        envelope no longer parses keeps an empty ``results_sha256``: verify says why."""
        row = self._db.execute(
            "SELECT seq, digest, prev, keyid, envelope FROM envelopes WHERE scan_id = ?",
            (scan_id,),
        ).fetchone()
        if row is None:
            return None
        try:
            statement = json.loads(base64.b64decode(json.loads(row[4])["payload"]))
            results = next(
                s["digest"]["sha256"] for s in statement["subject"] if s["name"] == RESULTS
            )
        except (ValueError, KeyError, TypeError, StopIteration):
            results = ""
        return Seal(row[0], row[1], row[2], row[3], results)

    def envelope(self, scan_id: str) -> bytes | None:
        row = self._db.execute(
            "SELECT envelope FROM envelopes WHERE scan_id = ?", (scan_id,)
        ).fetchone()
        return bytes(row[0]) if row else None

    def public_key(self, keyid: str) -> bytes | None:
        row = self._db.execute(
            "SELECT public_key FROM signing_keys WHERE keyid = ?", (keyid,)
        ).fetchone()
        return bytes(row[0]) if row else None

    def public_keys(self) -> list[tuple[str, bytes]]:
        return [
            (k, bytes(pem))
            for k, pem in self._db.execute(
                "SELECT keyid, public_key FROM signing_keys ORDER BY rowid"
            ).fetchall()
        ]

    def links(self) -> Iterator[Link]:
        """The chain, in seq order, one envelope in memory at a time (one query per link:
        a PostgreSQL cursor would fetch them all at once)."""
        row = self._db.execute(_LINK + "ORDER BY seq LIMIT 1").fetchone()
        while row is not None:
            seq, scan_id, prev, digest, keyid, envelope = row
            yield Link(seq, scan_id, prev, digest, keyid, bytes(envelope))
            row = self._db.execute(_LINK + "WHERE seq > ? ORDER BY seq LIMIT 1", (seq,)).fetchone()

    def scan_ids(self) -> set[str]:
        return {scan_id for (scan_id,) in self._db.execute("SELECT id FROM scans")}

    def unchained(self) -> list[tuple[str, bool]]:
        """Scans with no link, and whether each is legacy: stored before the chain's first
        link (a store created before hygie sealed scans). Once the chain has begun
        (``chain_started`` in meta), a scan without a link is never legacy."""
        first = self._db.execute(
            "SELECT MIN(s.rowid) FROM scans s JOIN envelopes e ON e.scan_id = s.id"
        ).fetchone()[0]
        started = self._db.execute("SELECT 1 FROM meta WHERE key = 'chain_started'").fetchone()
        rows = self._db.execute(
            "SELECT rowid, id FROM scans WHERE id NOT IN (SELECT scan_id FROM envelopes) "
            "ORDER BY rowid"
        ).fetchall()
        return [
            (scan_id, rowid < first if first is not None else not started)
            for rowid, scan_id in rows
        ]

    def index_problems(self, scan_id: str) -> list[str]:
        """Result rows whose index columns (what ``hygie scans`` and the summaries count)
        disagree with the result they index: the body is what the chain signs, so a
        column edited alone would otherwise go unseen."""
        problems = []
        for host, check_id, status, severity, body in self._db.execute(
            "SELECT host, check_id, status, severity, body FROM results WHERE scan_id = ?",
            (scan_id,),
        ):
            row = {"host": host, "check_id": check_id, "status": status, "severity": severity}
            stored = orjson.loads(body)
            problems += [
                f"results row {host}/{check_id}: {key} column {value!r}, the result says "
                f"{stored.get(key)!r}"
                for key, value in row.items()
                if stored.get(key) != value
            ]
        return problems

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


@dataclass(frozen=True)
class Copied:
    scans: int  # copied now
    kept: int  # already in the destination: a prefix of the source


def _history(store: Store) -> tuple[list[str], list[tuple[int, str, str]]]:
    """The store's scans in the order they were stored, and its links (seq, scan id,
    sha256 of the envelope bytes) in chain order."""
    order = [scan_id for (scan_id,) in store._db.execute("SELECT id FROM scans ORDER BY rowid")]
    return order, [(link.seq, link.scan_id, sha256(link.envelope)) for link in store.links()]


def copy_store(source: Store, target: Store) -> Copied:
    """Copy every scan of ``source`` that ``target`` lacks, row for row and byte for byte,
    in the order they were stored (which is chain order), with the signing keys: nothing
    is re-sealed, since the envelopes are the evidence. ``target`` must hold a prefix of
    ``source`` (nothing, or an earlier copy); anything else is refused, as two chains
    cannot be merged. One transaction, under the target's writers' lock."""
    order, links = _history(source)
    keys = source.public_keys()
    with target._db.transaction(write=True) as db:
        kept, kept_links = _history(target)
        if kept != order[: len(kept)] or kept_links != links[: len(kept_links)]:
            raise StoreError(
                f"{target.path} holds scans or links that {source.path} does not begin "
                "with: two chains cannot be merged, nothing copied"
            )
        for keyid, pem in keys:
            if target.public_key(keyid) not in (None, pem):
                raise StoreError(f"{target.path} holds another public key as {keyid}")
        db.executemany(_INSERT["signing_keys"] + _IGNORE, keys)
        for scan_id in order[len(kept) :]:
            for table, select in _SCAN_ROWS.items():
                db.executemany(_INSERT[table], source._db.execute(select, (scan_id,)).fetchall())
        meta = source._db.execute("SELECT key, value FROM meta WHERE key <> 'schema_version'")
        db.executemany(_META, meta.fetchall())
    return Copied(len(order) - len(kept), len(kept))
