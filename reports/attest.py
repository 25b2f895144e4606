"""Attestations and waivers: the human decisions a report weighs, read from YAML.

An attestation says that a person vouches for a control no check can evidence (training,
an incident response plan), for a period, with a file as proof: the file is hashed so the
report pins the exact document. A waiver accepts a failing check on some hosts, for a
reason, until a date, approved by someone other than who asked. Both are checked strictly
and every error names the file and the line, because a malformed waiver that silently did
nothing (or too much) would falsify the report.

Both files are read by hygie.yamlfile, with its limits. An evidence file must be a regular
file of at most 256 MiB (``HYGIE_MAX_EVIDENCE_BYTES``) inside the attestation file's own
directory, symbolic links resolved: an attestation mailed by a site cannot make hygie hash
``/dev/zero``, wait on a FIFO or pin a file from elsewhere on the machine. Other
directories are allowed only explicitly, in ``HYGIE_EVIDENCE_DIRS`` (a list like ``PATH``).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from fnmatch import fnmatchcase
from pathlib import Path

from hygie.yamlfile import (
    DataFileError,
    Node,
    check_keys,
    env_limit,
    load_mapping,
    open_capped,
)

WAIVER_KEYS = {
    "id",
    "check",
    "hosts",
    "tags",
    "justification",
    "requested_by",
    "approved_by",
    "expires",
    "compensating_control",
}
ATTESTATION_KEYS = {"id", "controls", "statement", "owner", "date", "valid_until", "evidence"}
MAX_EVIDENCE_BYTES = 256 * 1024 * 1024
EVIDENCE_BYTES_ENV = "HYGIE_MAX_EVIDENCE_BYTES"
EVIDENCE_DIRS_ENV = "HYGIE_EVIDENCE_DIRS"


class ReportInputError(DataFileError):
    """An attestation or waiver file that cannot be used, with the file and line to fix."""


@dataclass(frozen=True)
class Waiver:
    id: str
    check_id: str
    hosts: tuple[str, ...]  # globs on host names; empty: any name
    tags: tuple[str, ...]  # globs on host tags; empty: any tags
    justification: str
    requested_by: str
    approved_by: str
    expires: date
    compensating: str

    def expired(self, today: date) -> bool:
        """A waiver is valid through its expiry date and no longer the day after."""
        return today > self.expires

    def matches(self, check_id: str, host: str, tags: Iterable[str]) -> bool:
        if check_id != self.check_id:
            return False
        if self.hosts and not any(fnmatchcase(host, g) for g in self.hosts):
            return False
        return not self.tags or any(fnmatchcase(t, g) for t in tags for g in self.tags)

    @property
    def selector(self) -> str:
        parts = [f"hosts: {', '.join(self.hosts)}"] if self.hosts else []
        return "; ".join([*parts, *([f"tags: {', '.join(self.tags)}"] if self.tags else [])])


@dataclass(frozen=True)
class Attestation:
    id: str
    controls: Mapping[str, tuple[str, ...]]  # framework -> control ids
    statement: str
    owner: str
    date: date
    valid_until: date
    evidence_file: str | None
    evidence_sha256: str | None

    def valid(self, today: date) -> bool:
        return self.date <= today <= self.valid_until

    def covers(self, framework: str, control_id: str) -> bool:
        return control_id in self.controls.get(framework, ())


def _entries(path: Path, key: str) -> tuple[str, list[Node]]:
    source = str(path)
    root = load_mapping(path, ReportInputError)
    check_keys(root, {key}, source, "file", ReportInputError)
    node = root.value.get(key)
    if node is None or not isinstance(node.value, list):
        raise ReportInputError(source, root.line, f"expected a list under {key!r}")
    return source, node.value


def _text(fields: dict[str, Node], key: str, source: str, line: int, required: bool = True) -> str:
    node = fields.get(key)
    if node is None or node.value is None:
        if required:
            raise ReportInputError(source, line, f"missing required key {key!r}")
        return ""
    if not isinstance(node.value, str) or not node.value.strip():
        raise ReportInputError(source, node.line, f"{key!r} must be a non-empty string")
    return node.value.strip()


def _date(fields: dict[str, Node], key: str, source: str, line: int) -> date:
    node = fields.get(key)
    if node is None:
        raise ReportInputError(source, line, f"missing required key {key!r}")
    value = node.value
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value.strip())
        except ValueError:
            raise ReportInputError(
                source, node.line, f"{key!r}: {value!r} is not a date (YYYY-MM-DD)"
            ) from None
    if isinstance(value, datetime) or not isinstance(value, date):
        raise ReportInputError(source, node.line, f"{key!r} must be a date (YYYY-MM-DD)")
    return value


def _globs(fields: dict[str, Node], key: str, source: str) -> tuple[str, ...]:
    node = fields.get(key)
    if node is None:
        return ()
    items = node.value if isinstance(node.value, list) else [node]
    values = tuple(n.value for n in items)
    if not values or not all(isinstance(v, str) and v.strip() for v in values):
        raise ReportInputError(source, node.line, f"{key!r} must be a string or a list of them")
    return values


def _unique(seen: set[str], ident: str, source: str, line: int) -> None:
    if ident in seen:
        raise ReportInputError(source, line, f"duplicate id {ident!r}")
    seen.add(ident)


def load_waivers(path: Path, checks: Iterable[str] | None = None) -> list[Waiver]:
    """Parse a waivers file; ``checks`` (known check ids) rejects a waiver for a check that
    does not exist. Expired waivers are returned: the report flags them."""
    source, entries = _entries(path, "waivers")
    known = set(checks) if checks is not None else None
    out, seen = [], set()
    for entry in entries:
        check_keys(entry, WAIVER_KEYS, source, "waiver", ReportInputError)
        fields, line = entry.value, entry.line
        ident = _text(fields, "id", source, line)
        _unique(seen, ident, source, line)
        check_id = _text(fields, "check", source, line)
        if known is not None and check_id not in known:
            raise ReportInputError(source, fields["check"].line, f"unknown check {check_id!r}")
        hosts, tags = _globs(fields, "hosts", source), _globs(fields, "tags", source)
        if not hosts and not tags:
            raise ReportInputError(
                source,
                line,
                f"waiver {ident}: a host selector is required ('hosts' and/or "
                "'tags'; use hosts: '*' to mean every host)",
            )
        requested = _text(fields, "requested_by", source, line)
        approved = _text(fields, "approved_by", source, line)
        if requested.casefold() == approved.casefold():
            raise ReportInputError(
                source,
                fields["approved_by"].line,
                f"waiver {ident}: approved_by must be someone other than requested_by",
            )
        out.append(
            Waiver(
                id=ident,
                check_id=check_id,
                hosts=hosts,
                tags=tags,
                justification=_text(fields, "justification", source, line),
                requested_by=requested,
                approved_by=approved,
                expires=_date(fields, "expires", source, line),
                compensating=_text(fields, "compensating_control", source, line, False),
            )
        )
    return out


def _controls(
    node: Node | None, source: str, line: int, catalogs: Mapping[str, Iterable[str]] | None
) -> dict[str, tuple[str, ...]]:
    if node is None or not isinstance(node.value, dict) or not node.value:
        raise ReportInputError(
            source,
            node.line if node else line,
            "'controls' must map framework ids to lists of control ids",
        )
    out = {}
    for framework, ids in node.value.items():
        items = ids.value if isinstance(ids.value, list) else [ids]
        values = tuple(str(n.value) for n in items if n.value is not None)
        if not values:
            raise ReportInputError(source, ids.line, f"{framework}: no control ids")
        if catalogs is not None:
            if framework not in catalogs:
                raise ReportInputError(source, ids.line, f"unknown framework {framework!r}")
            known = set(catalogs[framework])
            for n, value in zip(items, values, strict=True):
                if value not in known:
                    raise ReportInputError(
                        source, n.line, f"{value!r} is not a control of {framework}"
                    )
        out[framework] = values
    return out


def evidence_sha256(attestations: Path, evidence: str, line: int) -> str:
    """The sha256 of the evidence file an attestation names, relative to the attestation
    file, once it is known to be an allowed regular file within the size limit."""
    source = str(attestations)
    if "\0" in evidence:
        raise ReportInputError(source, line, f"evidence file {evidence!r}: not a valid path")
    file = (attestations.parent / evidence).resolve()
    extra = os.environ.get(EVIDENCE_DIRS_ENV, "").split(os.pathsep)
    roots = [attestations.parent.resolve(), *(Path(d).resolve() for d in extra if d)]
    if not any(file.is_relative_to(root) for root in roots):
        raise ReportInputError(
            source,
            line,
            f"evidence file {evidence!r} is outside {roots[0]} "
            f"(other directories must be listed in {EVIDENCE_DIRS_ENV})",
        )
    limit = env_limit(EVIDENCE_BYTES_ENV, MAX_EVIDENCE_BYTES)
    digest = hashlib.sha256()
    try:
        with open_capped(
            file,
            limit,
            EVIDENCE_BYTES_ENV,
            lambda reason: ReportInputError(source, line, f"evidence file {file}: {reason}"),
        ) as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        raise ReportInputError(source, line, f"evidence file {file}: {exc.strerror}") from None
    return digest.hexdigest()


def load_attestations(
    path: Path, catalogs: Mapping[str, Iterable[str]] | None = None
) -> list[Attestation]:
    """Parse an attestations file; ``catalogs`` (framework -> control ids) rejects unknown
    controls. Evidence paths are relative to the file; each evidence file is hashed."""
    source, entries = _entries(path, "attestations")
    out, seen = [], set()
    for entry in entries:
        check_keys(entry, ATTESTATION_KEYS, source, "attestation", ReportInputError)
        fields, line = entry.value, entry.line
        ident = _text(fields, "id", source, line)
        _unique(seen, ident, source, line)
        start, until = (
            _date(fields, "date", source, line),
            _date(fields, "valid_until", source, line),
        )
        if until < start:
            raise ReportInputError(
                source,
                fields["valid_until"].line,
                f"attestation {ident}: valid_until is before date",
            )
        evidence = _text(fields, "evidence", source, line, required=False) or None
        digest = None
        if evidence is not None:
            digest = evidence_sha256(path, evidence, fields["evidence"].line)
        out.append(
            Attestation(
                id=ident,
                controls=_controls(fields.get("controls"), source, line, catalogs),
                statement=_text(fields, "statement", source, line),
                owner=_text(fields, "owner", source, line),
                date=start,
                valid_until=until,
                evidence_file=evidence,
                evidence_sha256=digest,
            )
        )
    return out
