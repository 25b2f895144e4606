"""The data model that flows through every stage: facts in, results out.

Everything here is a plain, frozen dataclass so that a stored scan can be rebuilt
exactly, compared, and re-judged offline; nothing in this module does I/O.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import StrEnum


class Status(StrEnum):
    """Outcome of one check on one host.

    ``error`` means "could not assess" and is never counted as a pass anywhere.
    """

    PASS = "pass"
    FAIL = "fail"
    ERROR = "error"
    NOT_APPLICABLE = "not_applicable"


class Severity(StrEnum):
    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return list(Severity).index(self)


class FactKind(StrEnum):
    """Where a fact came from. Re-judging offline keeps the collected and probed facts (the
    evidence) and computes the derived ones again from today's outside knowledge."""

    SHELL = "shell"  # collected on the target by the single script
    PROBE = "probe"  # gathered from the scanner over the network
    DERIVED = "derived"  # computed on the scanner from other facts and feeds
    RESOLUTION = "resolution"  # the address the target resolved to, and from what

    @property
    def evidence(self) -> bool:
        return self is not FactKind.DERIVED


@dataclass(frozen=True)
class Fact:
    """Raw output of one collection command on one host: the evidence itself.

    ``sha256`` covers the raw stdout bytes exactly as received (after the size cap), so
    an auditor can verify that a stored fact was not edited.
    """

    name: str
    stdout: bytes
    stderr: bytes = b""
    exit_status: int | None = 0
    truncated: bool = False
    sha256: str = ""
    kind: FactKind = FactKind.SHELL

    def __post_init__(self) -> None:
        if not self.sha256:
            object.__setattr__(self, "sha256", hashlib.sha256(self.stdout).hexdigest())

    @property
    def text(self) -> str:
        return self.stdout.decode("utf-8", errors="replace")

    @property
    def stderr_text(self) -> str:
        return self.stderr.decode("utf-8", errors="replace")

    @property
    def ok(self) -> bool:
        return self.exit_status == 0

    @property
    def command_missing(self) -> bool:
        """True when the shell could not find the command (POSIX exit status 127)."""
        return self.exit_status == 127


@dataclass(frozen=True)
class Evidence:
    """Expected vs actual, and the fact it was read from."""

    expected: str
    actual: str
    fact: str | None = None


@dataclass(frozen=True)
class Result:
    check_id: str
    host: str
    status: Status
    severity: Severity
    title: str
    message: str
    evidence: tuple[Evidence, ...] = ()

    def to_dict(self) -> dict:
        return {
            "check_id": self.check_id,
            "host": self.host,
            "status": self.status.value,
            "severity": self.severity.value,
            "title": self.title,
            "message": self.message,
            "evidence": [
                {"expected": e.expected, "actual": e.actual, "fact": e.fact} for e in self.evidence
            ],
        }

    @classmethod
    def from_dict(cls, data: dict) -> Result:
        return cls(
            check_id=data["check_id"],
            host=data["host"],
            status=Status(data["status"]),
            severity=Severity(data["severity"]),
            title=data["title"],
            message=data["message"],
            evidence=tuple(Evidence(**e) for e in data["evidence"]),
        )


@dataclass
class HostScan:
    """One host's part of a scan: its facts (evidence), its results, and how it went.

    ``error`` is set when the host could not be assessed at all (unreachable, bad
    credentials, no sudo): every check is then ``error`` for that host.
    """

    name: str
    address: str
    transport: str
    family: str = "unknown"
    facts: dict[str, Fact] = field(default_factory=dict)
    results: list[Result] = field(default_factory=list)
    error: str | None = None
    started: float = 0.0
    finished: float = 0.0
    connections: int = 0
    execs: int = 0
    uid: int | None = None
    tags: tuple[str, ...] = ()
    #: who assessed the host in a multi-site scan (hygie.distributed): the inventory's
    #: ``site`` and the keyid of the runner whose signed result was accepted; None in-process
    site: str | None = None
    runner: str | None = None

    @property
    def duration(self) -> float:
        return max(0.0, self.finished - self.started)

    @property
    def error_category(self) -> str | None:
        """The stable failure category (``banner``, ``auth``, ``partial``...) that starts
        ``error``: what admins sort unassessed hosts by."""
        return self.error.split(":", 1)[0] if self.error else None


def evidence_digest(hosts: list[HostScan]) -> str:
    """One hash over every (host, fact, sha256): changes if any fact changes."""
    h = hashlib.sha256()
    for host in sorted(hosts, key=lambda x: x.name):
        for name in sorted(host.facts):
            h.update(f"{host.name}\0{name}\0{host.facts[name].sha256}\n".encode())
    return h.hexdigest()


@dataclass(frozen=True)
class Seal:
    """A stored scan's link in the store's evidence chain (hygie.chain): the sha256 of its
    DSSE envelope, its place (``seq``, ``prev``: the previous envelope's sha256) and who
    signed it (``keyid`` None: unsigned)."""

    seq: int
    envelope_sha256: str
    prev: str | None
    keyid: str | None
    results_sha256: str  # of the canonical results.json the envelope covers


@dataclass
class Scan:
    """One audit run. ``facts_from`` names the scan whose facts were judged when this one
    is an offline re-evaluation (``hygie evaluate``); it is None for a live scan. ``seal``
    is set once the store has chained it (None: not stored)."""

    id: str
    started: float
    finished: float
    tool_version: str
    policy_name: str
    policy_version: str
    policy_digest: str
    policy_document: dict
    hosts: list[HostScan] = field(default_factory=list)
    facts_from: str | None = None
    seal: Seal | None = None

    def results(self) -> list[Result]:
        return [r for h in self.hosts for r in h.results]
