"""Check results as SARIF 2.1.0, for code-scanning dashboards and CI gates.

Rules are hygie's checks (with their framework references as tags); results are the
failures (``kind: fail``), the waived failures (a fail with an accepted external
suppression, so gates ignore them but they stay visible) and the checks that could not be
assessed (``kind: review``: someone must look, it is not a pass). Hosts are logical
locations. Fingerprints are stable across scans so that dashboards track one finding.
"""

from __future__ import annotations

import hashlib

from hygie.jsonfmt import pretty
from hygie.reports.i18n import translator
from hygie.reports.model import Finding, Report

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
LEVEL = {"critical": "error", "high": "error", "medium": "warning", "low": "note", "info": "note"}
SECURITY_SEVERITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0", "info": "0.0"}


def _rule(f: Finding, t) -> dict:
    rule = {
        "id": f.check_id,
        "name": "".join(p.capitalize() for p in f.check_id.split("_")),
        "shortDescription": {"text": f.title},
        "defaultConfiguration": {"level": LEVEL[f.severity]},
        "properties": {
            "tags": [
                "security",
                "compliance",
                *(f"{fw}:{cid}" for fw, ids in f.references.items() for cid in ids),
            ],
            "security-severity": SECURITY_SEVERITY[f.severity],
        },
    }
    if f.rationale:
        rule["fullDescription"] = {"text": f.rationale}
    if f.remediation:
        rule["help"] = {"text": t("sarif.help", remediation=f.remediation)}
    return rule


def _result(f: Finding, index: int, t) -> dict:
    message = f.message
    if f.status == "error":
        message = t("sarif.not_assessed", host=f.host, message=f.message)
    result = {
        "ruleId": f.check_id,
        "ruleIndex": index,
        "kind": "review" if f.status == "error" else "fail",
        "level": "none" if f.status == "error" else LEVEL[f.severity],
        "message": {"text": message},
        "locations": [
            {
                "logicalLocations": [
                    {"name": f.host, "fullyQualifiedName": f"{f.host}/{f.check_id}", "kind": "host"}
                ]
            }
        ],
        "partialFingerprints": {
            "hygieFinding/v1": hashlib.sha256(f"{f.host}\0{f.check_id}".encode()).hexdigest()
        },
        "properties": {
            "host": f.host,
            "evidence": list(f.evidence),
            "facts": [{"name": x.name, "sha256": x.sha256, "size": x.size} for x in f.facts],
        },
    }
    if f.waiver:
        w = f.waiver
        result["suppressions"] = [
            {
                "kind": "external",
                "status": "accepted",
                "justification": t("sarif.waived", id=w.id, justification=w.justification),
                "properties": {
                    "approvedBy": w.approved_by,
                    "requestedBy": w.requested_by,
                    "expires": w.expires,
                    "compensatingControl": w.compensating,
                },
            }
        ]
    return result


def sarif(report: Report) -> dict:
    t = translator(report.lang)
    reported = [
        f for h in report.hosts for f in h.findings if f.status in ("fail", "waived", "error")
    ]
    index: dict[str, int] = {}
    rules = []
    for f in reported:
        if f.check_id not in index:
            index[f.check_id] = len(rules)
            rules.append(_rule(f, t))
    notifications = [
        {
            "level": "error",
            "message": {"text": f"{h.name}: {h.error}"},
            "descriptor": {"id": "host"},
        }
        for h in report.hosts
        if h.error
    ]
    invocation = {"executionSuccessful": not notifications}
    if notifications:
        invocation["toolExecutionNotifications"] = notifications
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "hygie",
                        "version": report.tool_version,
                        "semanticVersion": report.tool_version,
                        "rules": rules,
                    }
                },
                "automationDetails": {"id": f"hygie/{report.policy['name']}/{report.scan_id}"},
                "invocations": [invocation],
                "results": [_result(f, index[f.check_id], t) for f in reported],
                "properties": {
                    "scanId": report.scan_id,
                    "policy": report.policy,
                    "evidenceDigest": report.evidence_digest,
                },
            }
        ],
    }


def render(report: Report) -> str:
    return pretty(sarif(report)).decode()
