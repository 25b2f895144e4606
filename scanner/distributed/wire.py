"""What crosses the broker: a task's target (never a secret) and a runner's signed result.

A result is an in-toto Statement (hygie.chain) whose subjects are the host's fact files
(``facts/<host>/<fact>``: sha256 of stdout, and of stderr when there is any) and whose
predicate is the whole HostScan: facts as base64 with their sha256, results, timings. It is
signed in a DSSE envelope (hygie.signing) by the runner; the central checks the subjects
against the facts it decodes, so the evidence is exactly what the runner signed.
"""

from __future__ import annotations

import base64
import dataclasses
from dataclasses import dataclass
from typing import Any

from hygie.chain import STDERR_SUFFIX, Statement, fact_path, sha256, statement, subject_problems
from hygie.inventory import Target
from hygie.model import Fact, FactKind, HostScan, Result

HOST_PREDICATE = "https://hygie.invalid/attestation/host-result/v1"
_TUPLES = ("keys", "tags", "groups")
#: HostScan fields carried as they are (facts and results are encoded apart)
_HOST_FIELDS = (
    "name",
    "address",
    "transport",
    "family",
    "error",
    "started",
    "finished",
    "connections",
    "execs",
    "uid",
)


class WireError(Exception):
    """A task or result that does not have the expected shape."""


def target_to_task(target: Target) -> dict[str, Any]:
    """The target as a task argument: where to find secrets, never the secrets."""
    doc = dataclasses.asdict(target)
    return doc | {name: list(doc[name]) for name in _TUPLES}


def target_from_task(doc: dict[str, Any]) -> Target:
    known = {f.name for f in dataclasses.fields(Target)}
    try:
        values = {k: v for k, v in doc.items() if k in known}
        return Target(**values | {n: tuple(values.get(n, ())) for n in _TUPLES})
    except TypeError as exc:
        raise WireError(f"not a target: {exc}") from None


def _fact_doc(fact: Fact) -> dict[str, Any]:
    return {
        "name": fact.name,
        "kind": fact.kind.value,
        "exit_status": fact.exit_status,
        "truncated": fact.truncated,
        "sha256": fact.sha256,
        "stdout": base64.b64encode(fact.stdout).decode(),
        "stderr": base64.b64encode(fact.stderr).decode(),
    }


def _fact(doc: dict[str, Any]) -> Fact:
    stdout = base64.b64decode(doc["stdout"], validate=True)
    return Fact(
        str(doc["name"]),
        stdout,
        base64.b64decode(doc["stderr"], validate=True),
        exit_status=doc["exit_status"],
        truncated=bool(doc["truncated"]),
        sha256=sha256(stdout),  # recomputed: the subjects say what the runner signed
        kind=FactKind(doc["kind"]),
    )


def _subjects(host: HostScan) -> dict[str, str]:
    subjects = {}
    for fact in host.facts.values():
        path = fact_path(host.name, fact.name)
        subjects[path] = fact.sha256
        if fact.stderr:
            subjects[path + STDERR_SUFFIX] = sha256(fact.stderr)
    return subjects


def host_statement(scan_id: str, site: str, host: HostScan) -> bytes:
    """The payload a runner signs for one host."""
    predicate = {
        "scan_id": scan_id,
        "site": site,
        "host": {name: getattr(host, name) for name in _HOST_FIELDS}
        | {
            "tags": list(host.tags),
            "facts": [_fact_doc(f) for f in sorted(host.facts.values(), key=lambda f: f.name)],
            "results": [r.to_dict() for r in host.results],
        },
    }
    return statement(_subjects(host), HOST_PREDICATE, predicate)


@dataclass(frozen=True)
class HostResult:
    scan_id: str
    site: str
    host: HostScan


def read_host(stmt: Statement) -> HostResult:
    """The HostScan a Statement carries; WireError when its shape is wrong or its facts
    differ from its subjects."""
    try:
        pred = stmt.predicate
        doc = pred["host"]
        host = HostScan(**{name: doc[name] for name in _HOST_FIELDS}, tags=tuple(doc["tags"]))
        host.facts = {f.name: f for f in map(_fact, doc["facts"])}
        host.results = [Result.from_dict(r) for r in doc["results"]]
        result = HostResult(str(pred["scan_id"]), str(pred["site"]), host)
    except (KeyError, TypeError, ValueError) as exc:
        raise WireError(f"not a host result ({type(exc).__name__}: {exc})") from None
    problems = subject_problems(stmt.subjects, _subjects(host), "the result")
    if problems:
        raise WireError(problems[0])
    return result
