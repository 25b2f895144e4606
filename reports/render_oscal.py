"""The report as OSCAL 1.1.3 assessment results, for regulators and GRC tools.

Mapping: each host is an inventory item (and the subject of its observations); each check
result on a host is an observation whose relevant evidence carries expected vs actual, the
fact's sha256 and an excerpt; each control of each framework is a finding, satisfied or
not-satisfied, pointing at the observations of its checks; hygie is the tool component
that is the origin actor of every observation and finding. UUIDs are version 5, derived
from the scan id, so rendering the same scan twice gives the same document.

OSCAL control targets must be tokens (NCName); catalog ids such as ``164.308(a)(1)`` are
not, so the target id is ``<framework>-<id with other characters as _>`` and the exact id
is kept in a ``control-id`` property.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime

from hygie.reports.i18n import translator
from hygie.reports.model import ControlStatus, Finding, Report
from hygie.reports.render_md import fenced, md

OSCAL_VERSION = "1.1.3"
NS = "https://hygie.invalid/ns/oscal"  # hygie's own properties (.invalid: a name, not a site)
_NOT_TOKEN = re.compile(r"[^A-Za-z0-9._-]")
# hygie state -> (OSCAL objective status, reason)
OSCAL_STATE = {
    "satisfied": ("satisfied", "pass"),
    "attested": ("satisfied", "other"),
    "gap": ("not-satisfied", "fail"),
    "waived": ("not-satisfied", "fail"),
    "partial": ("not-satisfied", "other"),
    "needs_evidence": ("not-satisfied", "other"),
}  # not_applicable controls get no finding: OSCAL has no state for them


def target_id(framework: str, control_id: str) -> str:
    return f"{framework}-{_NOT_TOKEN.sub('_', control_id)}"


def _line(value: object) -> str:
    """An OSCAL string: one line, no surrounding whitespace, not empty."""
    return " ".join(str(value).split()) or "-"


def _prop(name: str, value: object) -> dict:
    return {"name": name, "ns": NS, "value": _line(value)}


def _time(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class _Ids:
    """Deterministic UUIDs: the same scan and key always give the same UUID."""

    def __init__(self, scan_id: str):
        self.scan_id = scan_id

    def __call__(self, *key: str) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, "urn:hygie:" + "\0".join((self.scan_id, *key))))


def _observation(f: Finding, ids: _Ids, tool: str, collected: str, t) -> dict:
    evidence = []
    excerpts = {x.name: x for x in f.facts}
    for e in f.evidence:
        item = {
            "description": f"{t('col.expected')}: {md(e['expected'])}\n\n"
            f"{t('col.actual')}: {md(e['actual'])}",
        }
        fact = excerpts.get(e["fact"]) if e["fact"] else None
        if fact is not None:
            item["props"] = [
                _prop("fact", fact.name),
                _prop("sha256", fact.sha256),
                _prop("size", fact.size),
            ]
            note = f"\n\n{t('text.truncated', size=fact.size)}" if fact.truncated else ""
            item["remarks"] = fenced(fact.excerpt) + note
        evidence.append(item)
    props = [
        _prop("check-id", f.check_id),
        _prop("status", f.status),
        _prop("severity", f.severity),
    ]
    if f.waiver:
        props += [_prop("waiver-id", f.waiver.id), _prop("waiver-expires", f.waiver.expires)]
    obs = {
        "uuid": ids("observation", f.host, f.check_id),
        "title": _line(
            t("oscal.observation", check=f.check_id, host=f.host, status=t(f"status.{f.status}"))
        ),
        "description": md(f.message) or "-",
        "props": props,
        "methods": ["TEST"],
        "origins": [{"actors": [{"type": "tool", "actor-uuid": tool}]}],
        "subjects": [
            {"subject-uuid": ids("host", f.host), "type": "inventory-item", "title": _line(f.host)}
        ],
        "collected": collected,
    }
    if f.status in ("fail", "waived", "error"):
        obs["types"] = ["finding"]
    if evidence:
        obs["relevant-evidence"] = evidence
    if f.status in ("fail", "waived") and f.remediation:
        obs["remarks"] = f"{t('col.remediation')}: {md(f.remediation)}"
    return obs


def _finding(c: ControlStatus, observations: list[str], ids: _Ids, tool: str, t) -> dict:
    state, reason = OSCAL_STATE[c.state]
    lines = [f"{t('col.state')}: {t('state.' + c.state)}"]
    lines += (
        [f"{t('col.failing')}: " + ", ".join(md(f"{h}: {k}") for h, k in c.failing)]
        if c.failing
        else []
    )
    lines += (
        [f"{t('section.waived')}: " + ", ".join(md(f"{h}: {k}") for h, k in c.waived)]
        if c.waived
        else []
    )
    lines += (
        [f"{t('col.unassessed')}: " + ", ".join(md(f"{h}: {k}") for h, k in c.unassessed)]
        if c.unassessed
        else []
    )
    lines += [f"{t('col.not_run')}: " + ", ".join(c.not_run)] if c.not_run else []
    if c.attestation:
        a = c.attestation
        lines.append(
            md(t("text.attested_by", id=a.id, owner=a.owner, until=a.valid_until))
            + f": {md(a.statement)}"
        )
        if a.evidence_sha256:
            lines.append(
                f"{t('col.evidence_file')}: {md(a.evidence_file)} (SHA-256 {a.evidence_sha256})"
            )
    finding = {
        "uuid": ids("finding", c.framework, c.control_id),
        "title": _line(
            t(
                "oscal.finding",
                framework=c.framework,
                control=c.control_id,
                state=t("state." + c.state),
            )
        ),
        "description": "\n\n".join(lines),
        "props": [
            _prop("framework", c.framework),
            _prop("control-id", c.control_id),
            _prop("state", c.state),
        ],
        "origins": [{"actors": [{"type": "tool", "actor-uuid": tool}]}],
        "target": {
            "type": "objective-id",
            "target-id": target_id(c.framework, c.control_id),
            "title": _line(c.title),
            "status": {"state": state, "reason": reason},
        },
    }
    if observations:
        finding["related-observations"] = [{"observation-uuid": u} for u in observations]
    return finding


def assessment_results(report: Report) -> dict:
    t = translator(report.lang)
    ids = _Ids(report.scan_id)
    tool = ids("tool", "hygie")
    collected = _time(report.finished or report.started)
    observations = []
    by_check: dict[str, list[str]] = {}
    for host in report.hosts:
        for f in host.findings:
            obs = _observation(f, ids, tool, collected, t)
            observations.append(obs)
            by_check.setdefault(f.check_id, []).append(obs["uuid"])
    controls = [c for fw in report.frameworks for c in fw.controls if c.state in OSCAL_STATE]
    findings = [
        _finding(c, [u for k in c.checks for u in by_check.get(k, ())], ids, tool, t)
        for c in controls
    ]
    result = {
        "uuid": ids("result"),
        "title": _line(t("oscal.title", scan=report.scan_id)),
        "description": md(
            t(
                "oscal.description",
                scan=report.scan_id,
                policy=report.policy["name"],
                version=report.policy["version"],
            )
        ),
        "start": _time(report.started),
        "end": _time(max(report.finished, report.started)),
        "props": [
            _prop("scan-id", report.scan_id),
            _prop("policy", report.policy["name"]),
            _prop("policy-version", report.policy["version"]),
            _prop("policy-digest", report.policy["digest"]),
            _prop("evidence-digest", report.evidence_digest),
        ],
        "local-definitions": {
            "components": [
                {
                    "uuid": tool,
                    "type": "software",
                    "title": "hygie",
                    "description": t("oscal.tool"),
                    "props": [_prop("version", report.tool_version)],
                    "status": {"state": "operational"},
                }
            ],
            **(
                {
                    "inventory-items": [
                        {
                            "uuid": ids("host", h.name),
                            "description": md(h.name),
                            "props": [
                                _prop("host-name", h.name),
                                _prop("address", h.address),
                                _prop("os-family", h.family),
                                *(_prop("tag", tag) for tag in h.tags),
                                *([_prop("not-assessed", h.error)] if h.error else []),
                            ],
                        }
                        for h in report.hosts
                    ]
                }
                if report.hosts
                else {}
            ),
        },
        "reviewed-controls": {
            "control-selections": [
                {
                    "include-controls": [
                        {"control-id": target_id(c.framework, c.control_id)} for c in controls
                    ]
                }
                if controls
                else {"include-all": {}}
            ]
        },
    }
    if observations:
        result["observations"] = observations
    if findings:
        result["findings"] = findings
    return {
        "assessment-results": {
            "uuid": ids("assessment-results"),
            "metadata": {
                "title": _line(t("oscal.title", scan=report.scan_id)),
                "last-modified": report.generated_at,
                "version": _line(report.scan_id),
                "oscal-version": OSCAL_VERSION,
            },
            "import-ap": {
                "href": f"urn:hygie:policy:{report.policy['digest']}",
                "remarks": md(
                    f"hygie policy {report.policy['name']} "
                    f"{report.policy['version']}, digest {report.policy['digest']}"
                ),
            },
            "results": [result],
        }
    }


def render(report: Report) -> str:
    return json.dumps(assessment_results(report), indent=2, ensure_ascii=False) + "\n"
