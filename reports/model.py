"""The report model: everything a renderer shows, decided once, before any rendering.

Renderers (HTML, Markdown, JSON, CSV, OSCAL, JUnit, SARIF) only read these frozen objects;
none of them decides a state, a score or whether a waiver applies, so two formats of the
same report can never disagree. Strings that came from a target (fact contents, messages
quoting them) are made printable here; each renderer still escapes for its own syntax.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any, NamedTuple

from hygie.model import Fact, Seal
from hygie.reports.attest import Attestation, Waiver

FORMAT_VERSION = "2.0"

# C0 controls except tab and newline, DEL, C1 controls, and the Unicode bidirectional
# overrides that can make a hostile banner read differently from what it contains.
_UNPRINTABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 256 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """``text`` with every control or bidi character shown as an escape (``\\x1b``)."""
    return _UNPRINTABLE.sub(_escape, text)


def _plain(value: Any) -> Any:
    """JSON-ready copy; faster than dataclasses.asdict on half a million findings."""
    if dataclasses.is_dataclass(value):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class FactExcerpt:
    """The raw evidence, truncated for display; the hash always covers the whole fact."""

    name: str
    sha256: str
    size: int
    exit_status: int | None
    excerpt: str
    truncated: bool

    @classmethod
    def of(cls, fact: Fact, limit: int) -> FactExcerpt:
        head = fact.stdout[:limit].decode("utf-8", errors="replace")
        return cls(
            name=fact.name,
            sha256=fact.sha256,
            size=len(fact.stdout),
            exit_status=fact.exit_status,
            excerpt=printable(head),
            truncated=len(fact.stdout) > limit,
        )


@dataclass(frozen=True)
class WaiverRef:
    id: str
    justification: str
    approved_by: str
    expires: str
    compensating: str
    check_id: str = ""
    requested_by: str = ""
    selector: str = ""  # the host selector as written, e.g. "hosts: db* tags: legacy"

    @classmethod
    def of(cls, waiver: Waiver) -> WaiverRef:
        return cls(
            id=waiver.id,
            justification=waiver.justification,
            approved_by=waiver.approved_by,
            expires=waiver.expires.isoformat(),
            compensating=waiver.compensating,
            check_id=waiver.check_id,
            requested_by=waiver.requested_by,
            selector=waiver.selector,
        )


@dataclass(frozen=True)
class AttestationRef:
    id: str
    statement: str
    owner: str
    date: str
    valid_until: str
    evidence_file: str | None
    evidence_sha256: str | None
    controls: tuple[str, ...] = ()  # "framework:control" it covers

    @classmethod
    def of(cls, att: Attestation) -> AttestationRef:
        return cls(
            id=att.id,
            statement=att.statement,
            owner=att.owner,
            date=att.date.isoformat(),
            valid_until=att.valid_until.isoformat(),
            evidence_file=att.evidence_file,
            evidence_sha256=att.evidence_sha256,
            controls=tuple(f"{fw}:{cid}" for fw, ids in att.controls.items() for cid in ids),
        )


class Finding(NamedTuple):
    """One check result on one host. ``waived`` is a fail covered by a valid waiver: it is
    shown apart and never counted as a pass. Title, rationale and remediation are the
    check's in the report's language (the stored result keeps the English title it was
    judged with). A named tuple rather than a frozen dataclass: a 5,000-host report
    builds half a million of them, four times faster this way."""

    host: str
    check_id: str
    title: str
    status: str  # pass | fail | error | not_applicable | waived
    severity: str
    message: str
    evidence: tuple[dict, ...]  # {"expected", "actual", "fact"}
    facts: tuple[FactExcerpt, ...]
    rationale: str
    remediation: str
    references: dict[str, tuple[str, ...]]
    waiver: WaiverRef | None


@dataclass(frozen=True)
class ControlStatus:
    framework: str
    control_id: str
    title: str
    kind: str
    state: str  # satisfied | gap | partial | needs_evidence | attested | waived | not_applicable
    checks: tuple[str, ...]  # checks mapped to it or to a control under it
    failing: tuple[tuple[str, str], ...]  # (host, check_id) failures not waived
    unassessed: tuple[tuple[str, str], ...]  # (host, check_id) errors
    attestation: AttestationRef | None
    automatable: bool = True
    parent: str | None = None
    waived: tuple[tuple[str, str], ...] = ()  # (host, check_id) failures under a waiver
    not_run: tuple[str, ...] = ()  # mapped checks the scan's policy did not select


@dataclass(frozen=True)
class FrameworkSummary:
    id: str
    title: str
    version: str
    source: str
    counts: dict[str, int]  # per state, every state present
    score: float  # 0..100: (satisfied + attested) / controls that are not not_applicable
    controls: tuple[ControlStatus, ...]


@dataclass(frozen=True)
class HostSummary:
    name: str
    address: str
    family: str
    error: str | None
    counts: dict[str, int]  # per finding status, every status present
    findings: tuple[Finding, ...]  # most severe failures first
    tags: tuple[str, ...] = ()
    site: str | None = None  # multi-site scan: the site whose runner assessed the host
    runner: str | None = None  # and that runner's keyid


@dataclass(frozen=True)
class Artifact:
    """A file of the scan's evidence bundle (``hygie export``), by its path there: what
    the OSCAL back-matter links to, with its hash."""

    path: str
    sha256: str
    media_type: str


@dataclass(frozen=True)
class Report:
    scan_id: str
    started: float
    finished: float
    tool_version: str
    policy: dict  # name, version, digest
    evidence_digest: str
    lang: str
    generated_at: str  # ISO 8601 UTC
    frameworks: tuple[FrameworkSummary, ...]
    hosts: tuple[HostSummary, ...]
    severity_counts: dict[str, int]  # failures (not waived) by severity, fleet-wide
    expired_waivers: tuple[WaiverRef, ...]
    patch_plan: dict | None
    expired_attestations: tuple[AttestationRef, ...] = ()
    facts_from: str | None = None  # the scan whose facts were judged, for a re-evaluation
    seal: Seal | None = None  # its link in the evidence chain; None: not stored, unsigned
    artifacts: tuple[Artifact, ...] = ()  # every fact file, the results, the envelope
    # ``hygie report --since OLD`` / ``--trend`` (HTML and Markdown only): hygie.drift's
    # and hygie.trend's to_dict(), target strings made printable (see with_history)
    drift: dict | None = None
    trend: dict | None = None

    def to_dict(self) -> dict:
        """JSON-ready form. What repeats across findings is written once: each check's
        title, rationale, remediation and references under ``checks``, each fact excerpt
        under ``facts`` keyed by its sha256; a finding points to them (at 5,000 hosts x 100
        checks this is the difference between ~2 GB and ~100 MB)."""
        checks: dict[str, dict] = {}
        facts: dict[str, dict] = {}
        hosts = []
        for host in self.hosts:
            findings = []
            for f in host.findings:
                checks.setdefault(
                    f.check_id,
                    {
                        "title": f.title,
                        "rationale": f.rationale,
                        "remediation": f.remediation,
                        "references": {k: list(v) for k, v in f.references.items()},
                    },
                )
                for excerpt in f.facts:
                    facts.setdefault(excerpt.sha256, _plain(excerpt))
                findings.append(
                    {
                        "check_id": f.check_id,
                        "status": f.status,
                        "severity": f.severity,
                        "message": f.message,
                        "evidence": list(f.evidence),
                        "facts": [x.sha256 for x in f.facts],
                        "waiver": _plain(f.waiver),
                    }
                )
            hosts.append(_plain(dataclasses.replace(host, findings=())) | {"findings": findings})
        body = _plain(dataclasses.replace(self, hosts=(), artifacts=()))
        del body["artifacts"]  # in the OSCAL back-matter; here one per fact is too many
        del body["drift"], body["trend"]  # `hygie drift/trend --format json` give them
        return (
            {"format": "hygie-report", "format_version": FORMAT_VERSION}
            | body
            | {"hosts": hosts, "checks": checks, "facts": facts}
        )


def _printable_tree(value: Any) -> Any:
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, list | tuple):
        return [_printable_tree(v) for v in value]
    if isinstance(value, dict):
        return {k: _printable_tree(v) for k, v in value.items()}
    return value


def with_history(report: Report, drift: dict | None = None, trend: dict | None = None) -> Report:
    """The report with its drift and trend sections (hygie.drift / hygie.trend to_dict()),
    every string in them made printable: items and details quote the targets."""
    return dataclasses.replace(
        report,
        drift=_printable_tree(drift) if drift is not None else None,
        trend=_printable_tree(trend) if trend is not None else None,
    )
