"""Threat-intelligence feeds in the scan store's SQLite file, in their own tables.

Feeds stay in SQLite when the scan store is on PostgreSQL (``--db``/``$HYGIE_DB`` a
``postgresql://`` URL): they then live in the default SQLite file of the machine. They are
public reference data, not evidence: each runner matches against its own copy, read-only by
many threads at once and without the network, and a scan names the feed versions it used.

Every import is recorded (source, file, sha256, the feed's own version and date, import
time) so that a scan can name the exact feed versions its verdicts rest on. OSV advisories
are upserted by id (a later export replaces an advisory, a withdrawn one removes it); KEV
and EPSS are whole snapshots and replace the previous one.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from hygie.database import database_path, default_path, is_url, open_database, transaction
from hygie.feeds.epss import read_epss
from hygie.feeds.kev import is_kev, parse_kev, read_kev
from hygie.feeds.osv import Advisory, FeedFormatError, file_digest, parse_advisory, read_records

_SCHEMA = """
CREATE TABLE IF NOT EXISTS feed_imports (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    source TEXT NOT NULL,          -- osv | kev | epss
    file TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    version TEXT NOT NULL,         -- KEV catalogVersion, EPSS model_version, OSV ecosystems
    as_of TEXT NOT NULL,           -- the data's own date (ISO): what "feed age" measures
    imported REAL NOT NULL,
    records INTEGER NOT NULL,
    skipped INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS feed_osv_advisories (
    id TEXT PRIMARY KEY,
    modified TEXT NOT NULL,
    published TEXT NOT NULL,
    summary TEXT NOT NULL,
    cves TEXT NOT NULL,            -- JSON list
    severity TEXT NOT NULL,
    import_id INTEGER NOT NULL REFERENCES feed_imports(id)
);
CREATE TABLE IF NOT EXISTS feed_osv_ranges (
    advisory TEXT NOT NULL REFERENCES feed_osv_advisories(id),
    ecosystem TEXT NOT NULL,
    package TEXT NOT NULL,
    introduced TEXT,
    fixed TEXT,
    last_affected TEXT
);
CREATE INDEX IF NOT EXISTS feed_osv_ranges_package ON feed_osv_ranges (ecosystem, package);
CREATE INDEX IF NOT EXISTS feed_osv_ranges_advisory ON feed_osv_ranges (advisory);
CREATE TABLE IF NOT EXISTS feed_osv_ecosystems (
    ecosystem TEXT PRIMARY KEY,
    as_of TEXT NOT NULL,           -- newest 'modified' seen for this ecosystem
    import_id INTEGER NOT NULL REFERENCES feed_imports(id)
);
CREATE TABLE IF NOT EXISTS feed_kev (
    cve TEXT PRIMARY KEY,
    date_added TEXT NOT NULL,
    due_date TEXT NOT NULL,
    ransomware TEXT NOT NULL,
    vendor TEXT NOT NULL,
    product TEXT NOT NULL,
    name TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS feed_epss (
    cve TEXT PRIMARY KEY,
    score REAL NOT NULL,
    percentile REAL NOT NULL
);
"""


class FeedMissing(Exception):
    """No usable feed: matching must not run (a host would look clean for lack of data).

    The class name is part of the contract: a derived fact that raises it is recorded with
    ``FeedMissing:`` on stderr, which the feed-age check reports as a finding."""


@dataclass(frozen=True)
class FeedImport:
    id: int
    source: str
    file: str
    sha256: str
    version: str
    as_of: str
    imported: float
    records: int
    skipped: int

    def describe(self) -> dict:
        return {
            "source": self.source,
            "file": self.file,
            "sha256": self.sha256,
            "version": self.version,
            "as_of": self.as_of,
            "imported": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.imported)),
        }


def feed_db_path(db: Path | None = None) -> Path:
    """Where feeds live: the scan store (``--db``, else ``$HYGIE_DB``, else the default)
    when it is a SQLite file, else the default SQLite file."""
    location = database_path(db)
    return default_path() if is_url(location) else Path(location)


class FeedStore:
    """Read-write access for imports; ``readonly=True`` for matching during a scan (many
    threads each open their own connection; nothing is ever written while scanning)."""

    def __init__(self, path: Path, *, readonly: bool = False):
        self.path = path
        if readonly:
            if not path.exists():
                raise FeedMissing(f"no feed database at {path}: run `hygie feeds import`")
            self._db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            return
        self._db = open_database(path, _SCHEMA)

    def close(self) -> None:
        self._db.close()

    # -- imports ----------------------------------------------------------------------

    def import_path(self, path: Path) -> FeedImport:
        """Import one file or directory, recognised by content: a KEV catalog (JSON with
        ``catalogVersion``), EPSS scores (``.csv``/``.csv.gz``), else OSV advisories."""
        if not path.exists():
            raise FeedFormatError(f"{path}: no such file or directory")
        name = path.name.lower()
        if name.endswith((".csv", ".csv.gz")):
            return self.import_epss(path)
        if path.is_file() and name.endswith(".json") and path.stat().st_size < (64 << 20):
            try:
                data = json.loads(path.read_bytes())
            except ValueError as exc:
                raise FeedFormatError(f"{path}: not JSON ({exc})") from None
            if is_kev(data):
                return self._save_kev(path, parse_kev(data, str(path)))
        return self.import_osv(path)

    def _record_import(self, db, source, path, version, as_of, records, skipped) -> FeedImport:
        row = (source, str(path), file_digest(path), version, as_of, time.time(), records, skipped)
        cur = db.execute(
            "INSERT INTO feed_imports (source, file, sha256, version, as_of, imported, "
            "records, skipped) VALUES (?,?,?,?,?,?,?,?)",
            row,
        )
        return FeedImport(cur.lastrowid, *row)

    def import_kev(self, path: Path) -> FeedImport:
        return self._save_kev(path, read_kev(path))

    def _save_kev(self, path: Path, catalog) -> FeedImport:
        with transaction(self._db) as db:
            db.execute("DELETE FROM feed_kev")
            db.executemany(
                "INSERT OR REPLACE INTO feed_kev VALUES (?,?,?,?,?,?,?)",
                [
                    (e.cve, e.date_added, e.due_date, e.ransomware, e.vendor, e.product, e.name)
                    for e in catalog.entries
                ],
            )
            return self._record_import(
                db, "kev", path, catalog.version, catalog.released, len(catalog.entries), 0
            )

    def import_epss(self, path: Path) -> FeedImport:
        scores = read_epss(path)
        with transaction(self._db) as db:
            db.execute("DELETE FROM feed_epss")
            db.executemany("INSERT OR REPLACE INTO feed_epss VALUES (?,?,?)", scores.scores)
            return self._record_import(
                db, "epss", path, scores.model_version, scores.score_date, len(scores.scores), 0
            )

    def import_osv(self, path: Path) -> FeedImport:
        advisories: list[Advisory] = []
        skipped = 0
        for record in read_records(path):
            advisory = parse_advisory(record)
            if advisory is None:
                skipped += 1
            else:
                advisories.append(advisory)
        if not advisories and not skipped:
            raise FeedFormatError(f"{path}: no OSV record found")
        newest: dict[str, str] = {}
        for adv in advisories:
            for r in adv.ranges:
                newest[r.ecosystem] = max(newest.get(r.ecosystem, ""), adv.modified)
        with transaction(self._db) as db:
            summary = self._record_import(
                db,
                "osv",
                path,
                ",".join(sorted(newest)) or "-",
                max(newest.values(), default=""),
                len(advisories),
                skipped,
            )
            self._save_advisories(db, advisories, summary.id)
            for ecosystem, as_of in newest.items():
                db.execute(
                    "INSERT INTO feed_osv_ecosystems VALUES (?,?,?) ON CONFLICT(ecosystem) "
                    "DO UPDATE SET as_of = max(as_of, excluded.as_of), "
                    "import_id = excluded.import_id",
                    (ecosystem, as_of, summary.id),
                )
        return summary

    @staticmethod
    def _save_advisories(db, advisories: Iterable[Advisory], import_id: int) -> None:
        for adv in advisories:
            db.execute("DELETE FROM feed_osv_ranges WHERE advisory = ?", (adv.id,))
            db.execute("DELETE FROM feed_osv_advisories WHERE id = ?", (adv.id,))
            if adv.withdrawn:
                continue
            db.execute(
                "INSERT INTO feed_osv_advisories VALUES (?,?,?,?,?,?,?)",
                (
                    adv.id,
                    adv.modified,
                    adv.published,
                    adv.summary,
                    json.dumps(adv.cves),
                    adv.severity,
                    import_id,
                ),
            )
            db.executemany(
                "INSERT INTO feed_osv_ranges VALUES (?,?,?,?,?,?)",
                [
                    (adv.id, r.ecosystem, r.package, r.introduced, r.fixed, r.last_affected)
                    for r in adv.ranges
                ],
            )

    # -- reading ----------------------------------------------------------------------

    def _query(self, sql: str, args: tuple = ()) -> list[tuple]:
        try:
            return self._db.execute(sql, args).fetchall()
        except sqlite3.OperationalError as exc:  # tables absent: nothing was ever imported
            if "no such table" in str(exc):
                raise FeedMissing(
                    f"no vulnerability feed in {self.path}: run `hygie feeds import` or "
                    "`hygie feeds update`"
                ) from None
            raise

    def generation(self) -> int:
        """Changes whenever anything is imported: cached indexes are keyed on it."""
        return self._query("SELECT COALESCE(MAX(id), 0) FROM feed_imports")[0][0]

    def imports(self) -> list[FeedImport]:
        return [
            FeedImport(*row)
            for row in self._query(
                "SELECT id, source, file, sha256, version, as_of, imported, records, skipped "
                "FROM feed_imports ORDER BY id"
            )
        ]

    def latest(self, source: str) -> FeedImport | None:
        rows = self._query(
            "SELECT id, source, file, sha256, version, as_of, imported, records, skipped "
            "FROM feed_imports WHERE source = ? ORDER BY id DESC LIMIT 1",
            (source,),
        )
        return FeedImport(*rows[0]) if rows else None

    def ecosystems(self) -> dict[str, tuple[str, int]]:
        """OSV ecosystem -> (as_of, import id of its latest import)."""
        rows = self._query("SELECT ecosystem, as_of, import_id FROM feed_osv_ecosystems")
        return {eco: (as_of, import_id) for eco, as_of, import_id in rows}

    def import_by_id(self, import_id: int) -> FeedImport:
        return next(i for i in self.imports() if i.id == import_id)

    def ranges(self, ecosystem: str) -> list[tuple[str, str, str | None, str | None, str | None]]:
        """(package, advisory, introduced, fixed, last_affected) of one ecosystem."""
        return self._query(
            "SELECT package, advisory, introduced, fixed, last_affected FROM feed_osv_ranges "
            "WHERE ecosystem = ?",
            (ecosystem,),
        )

    def advisories(self, ecosystem: str) -> list[tuple[str, str, str, str]]:
        """(id, cves JSON, severity, summary) of the advisories with ranges in ecosystem."""
        return self._query(
            "SELECT id, cves, severity, summary FROM feed_osv_advisories WHERE id IN "
            "(SELECT DISTINCT advisory FROM feed_osv_ranges WHERE ecosystem = ?)",
            (ecosystem,),
        )

    def kev(self, cves: Iterable[str]) -> dict[str, tuple[str, str, str]]:
        """CVE -> (date added, due date, known ransomware use) for the CVEs in KEV."""
        return {
            row[0]: row[1:]
            for row in self._in(
                "SELECT cve, date_added, due_date, ransomware FROM feed_kev WHERE cve IN", cves
            )
        }

    def epss(self, cves: Iterable[str]) -> dict[str, tuple[float, float]]:
        return {
            row[0]: (row[1], row[2])
            for row in self._in("SELECT cve, score, percentile FROM feed_epss WHERE cve IN", cves)
        }

    def _in(self, sql: str, values: Iterable[str]) -> list[tuple]:
        values = sorted(set(values))
        rows: list[tuple] = []
        for start in range(0, len(values), 500):  # SQLite's bound-parameter limit
            chunk = values[start : start + 500]
            rows += self._query(f"{sql} ({','.join('?' * len(chunk))})", tuple(chunk))
        return rows
