"""OSV advisories (https://ossf.github.io/osv-schema/) reduced to what matching needs.

Only the distribution ecosystems hygie maps hosts to are kept (Debian, Ubuntu, Rocky Linux,
AlmaLinux: see ``hygie.facts.packages.osv_ecosystem``); their package names are SOURCE
packages. Each ``ECOSYSTEM`` range's event timeline is turned into plain intervals, sorted
with the ecosystem's own version ordering (dpkg or rpm), exactly as the schema's evaluation
algorithm walks it. Withdrawn records are returned flagged so the store can drop them.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cvss import CVSS2, CVSS3, CVSS4

from hygie.facts.packages import ecosystem_manager
from hygie.feeds.versions import version_key

SEVERITIES = ("unknown", "negligible", "low", "medium", "high", "critical")
_WORDS = {
    "negligible": "negligible",
    "unimportant": "negligible",
    "none": "negligible",
    "low": "low",
    "medium": "medium",
    "moderate": "medium",
    "high": "high",
    "important": "high",
    "critical": "critical",
}
_CVE = re.compile(r"^CVE-\d{4}-\d{4,}$")


class FeedFormatError(ValueError):
    """A feed file that is not what it claims to be (named in the message)."""


@dataclass(frozen=True)
class Range:
    """One affected interval of one source package: ``introduced <= v`` (None: every
    version) and ``v < fixed``, or ``v <= last_affected``, or no upper bound (no fix)."""

    ecosystem: str
    package: str
    introduced: str | None
    fixed: str | None
    last_affected: str | None


@dataclass(frozen=True)
class Advisory:
    id: str
    modified: str
    published: str
    summary: str
    cves: tuple[str, ...]
    severity: str
    withdrawn: bool
    ranges: tuple[Range, ...]


_RANK = {name: rank for rank, name in enumerate(SEVERITIES)}


def severity_rank(severity: str) -> int:
    return _RANK.get(severity, 0)


@functools.lru_cache(maxsize=4096)
def _cvss_severity(kind: str, vector: str) -> str:
    """Base-score rating of a CVSS vector (the ``cvss`` library implements the formulas)."""
    try:
        if kind == "CVSS_V4":
            return CVSS4(vector).severity.lower()
        if kind == "CVSS_V3":
            return CVSS3(vector).severities()[0].lower()
        score = CVSS2(vector).scores()[0]
        return "high" if score >= 7 else "medium" if score >= 4 else "low"
    except Exception:  # a malformed vector rates nothing, it does not sink the import
        return "unknown"


def _word(value: Any) -> str:
    return _WORDS.get(str(value).strip().lower(), "unknown")


def record_severity(record: dict) -> str:
    """The highest rating the record gives: CVSS vectors (top level or per package), a
    distribution's own word (type ``Ubuntu``, ``database_specific.severity``), Debian's
    ``urgency``. ``unknown`` when it gives none: never read as low."""
    ratings = []
    blocks = [record, *record.get("affected", [])]
    for block in blocks:
        for entry in block.get("severity") or []:
            kind, score = entry.get("type", ""), str(entry.get("score", ""))
            if kind.startswith("CVSS_"):
                ratings.append(_cvss_severity(kind, score))
            else:
                ratings.append(_word(score))
        for extra in ("database_specific", "ecosystem_specific"):
            specific = block.get(extra) or {}
            for field in ("severity", "urgency"):
                if isinstance(specific.get(field), str):
                    ratings.append(_word(specific[field]))
    return max(ratings, key=severity_rank, default="unknown")


def _intervals(ecosystem: str, package: str, events: list[dict], manager: str) -> list[Range]:
    """Walk the sorted event timeline as the schema's evaluation algorithm does."""
    timeline = []
    for event in events:
        for kind in ("introduced", "fixed", "last_affected"):
            if kind in event:
                value = str(event[kind])
                zero = kind == "introduced" and value == "0"
                timeline.append(((0,) if zero else (1, version_key(manager, value)), kind, value))
    timeline.sort(key=lambda t: t[0])
    ranges, start, vulnerable = [], None, False
    for _, kind, value in timeline:
        if kind == "introduced":
            if not vulnerable:
                start, vulnerable = (None if value == "0" else value), True
        elif vulnerable:
            fixed, last = (value, None) if kind == "fixed" else (None, value)
            ranges.append(Range(ecosystem, package, start, fixed, last))
            vulnerable = False
    if vulnerable:
        ranges.append(Range(ecosystem, package, start, None, None))
    return ranges


def parse_advisory(record: dict) -> Advisory | None:
    """One OSV record; None when it names none of the supported ecosystems."""
    if not isinstance(record, dict) or "id" not in record:
        raise FeedFormatError("not an OSV record (no id)")
    ranges: list[Range] = []
    for affected in record.get("affected") or []:
        package = affected.get("package") or {}
        ecosystem, name = package.get("ecosystem", ""), package.get("name", "")
        manager = ecosystem_manager(ecosystem)
        if manager is None or ":" not in ecosystem or not name:
            continue
        found = [
            r
            for rng in affected.get("ranges") or []
            if rng.get("type") == "ECOSYSTEM"
            for r in _intervals(ecosystem, name, rng.get("events") or [], manager)
        ]
        if not found:  # no ECOSYSTEM range: the enumerated versions are the ranges
            found = [Range(ecosystem, name, v, None, v) for v in affected.get("versions") or []]
        ranges.extend(found)
    if not ranges:
        return None
    names = [
        record["id"],
        *(i for k in ("aliases", "upstream", "related") for i in record.get(k) or []),
    ]
    return Advisory(
        id=record["id"],
        modified=str(record.get("modified", "")),
        published=str(record.get("published", "")),
        summary=str(record.get("summary") or record.get("details") or "")[:300],
        cves=tuple(sorted({i for i in names if isinstance(i, str) and _CVE.match(i)})),
        severity=record_severity(record),
        withdrawn=bool(record.get("withdrawn")),
        ranges=tuple(ranges),
    )


def _records(data: Any, origin: str) -> Iterator[dict]:
    if isinstance(data, list):
        yield from data
    elif isinstance(data, dict):
        yield data
    else:
        raise FeedFormatError(f"{origin}: expected an OSV record or a list of records")


def _load(raw: bytes, origin: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise FeedFormatError(f"{origin}: not JSON ({exc})") from None


def read_records(path: Path) -> Iterator[dict]:
    """Records of an OSV export: a zip (``<Ecosystem>/all.zip``), a directory of ``.json``
    files, or one ``.json`` file holding a record or a list of records."""
    if path.is_dir():
        for file in sorted(path.rglob("*.json")):
            yield from _records(_load(file.read_bytes(), str(file)), str(file))
    elif zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            for name in sorted(n for n in archive.namelist() if n.endswith(".json")):
                yield from _records(_load(archive.read(name), f"{path}:{name}"), name)
    else:
        yield from _records(_load(path.read_bytes(), str(path)), str(path))


def file_digest(path: Path) -> str:
    """sha256 of a file; for a directory, of its ``.json`` files' names and hashes."""
    if not path.is_dir():
        h = hashlib.sha256()
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        return h.hexdigest()
    h = hashlib.sha256()
    for file in sorted(path.rglob("*.json")):
        h.update(f"{file.relative_to(path)}\0{file_digest(file)}\n".encode())
    return h.hexdigest()
