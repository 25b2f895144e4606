"""The report as OSCAL 1.1.3 assessment results, for regulators and GRC tools.

Mapping: each host is an inventory item (and the subject of its observations); each check
result on a host is an observation whose relevant evidence carries expected vs actual, the
fact's sha256 and an excerpt; each control of each framework is a finding, satisfied or
not-satisfied, pointing at the observations of its checks; hygie is the tool component
that is the origin actor of every observation and finding. UUIDs are version 5, derived
from the scan id, so rendering the same scan twice gives the same document.

Every file of the scan's evidence bundle (``hygie export``: each fact, the results, the
signed envelope...) is a back-matter resource whose rlink carries its path in the bundle
and its SHA-256; each piece of relevant evidence points at its fact's resource. The result
says whether the scan is signed (the signer's keyid) or ``unsigned``, and where it sits in
the evidence chain.

OSCAL control targets must be tokens (NCName); catalog ids such as ``164.308(a)(1)`` are
not, so the target id is ``<framework>-<id with other characters as _>`` and the exact id
is kept in a ``control-id`` property.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

from hygie.chain import fact_path
from hygie.jsonfmt import pretty
from hygie.reports.i18n import translator
from hygie.reports.model import Artifact, ControlStatus, Finding, Report
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
        self._known: dict[tuple[str, ...], str] = {}  # hosts and facts are named many times

    def __call__(self, *key: str) -> str:
        found = self._known.get(key)
        if found is None:
            name = "urn:hygie:" + "\0".join((self.scan_id, *key))
            found = self._known[key] = str(uuid.uuid5(uuid.NAMESPACE_URL, name))
        return found


class _Observations:
    """Builds each finding's observation. A fleet has tens of thousands of them sharing a
    few hundred checks and a few thousand hosts: what depends only on the check, the host
    or the scan is built once and shared (it serialises the same)."""

    def __init__(self, ids: _Ids, tool: str, collected: str, t, excerpts: bool):
        self.ids, self.collected, self.t, self.excerpts = ids, collected, t, excerpts
        self.origins = [{"actors": [{"type": "tool", "actor-uuid": tool}]}]
        self.labels = {k: t(k) for k in ("col.expected", "col.actual", "col.remediation")}
        self._subjects: dict[str, list[dict]] = {}
        self._props: dict[tuple[str, str, str], list[dict]] = {}

    def subjects(self, host: str) -> list[dict]:
        found = self._subjects.get(host)
        if found is None:
            subject = {"subject-uuid": self.ids("host", host), "type": "inventory-item"}
            found = self._subjects[host] = [subject | {"title": _line(host)}]
        return found

    def props(self, f: Finding) -> list[dict]:
        key = (f.check_id, f.status, f.severity)
        found = self._props.get(key)
        if found is None:
            found = self._props[key] = [
                _prop("check-id", f.check_id),
                _prop("status", f.status),
                _prop("severity", f.severity),
            ]
        if f.waiver:
            found = [
                *found,
                _prop("waiver-id", f.waiver.id),
                _prop("waiver-expires", f.waiver.expires),
            ]
        return found

    def evidence(self, f: Finding) -> list[dict]:
        expected, actual = self.labels["col.expected"], self.labels["col.actual"]
        facts = {x.name: x for x in f.facts}
        evidence = []
        for e in f.evidence:
            item = {
                "description": f"{expected}: {md(e['expected'])}\n\n{actual}: {md(e['actual'])}"
            }
            fact = facts.get(e["fact"]) if e["fact"] else None
            if fact is not None:
                item["href"] = "#" + self.ids("artifact", fact_path(f.host, fact.name))
                item["props"] = [
                    _prop("fact", fact.name),
                    _prop("sha256", fact.sha256),
                    _prop("size", fact.size),
                ]
                if self.excerpts:
                    truncated = self.t("text.truncated", size=fact.size) if fact.truncated else ""
                    item["remarks"] = fenced(fact.excerpt) + (
                        f"\n\n{truncated}" if truncated else ""
                    )
            evidence.append(item)
        return evidence

    def __call__(self, f: Finding) -> dict:
        t = self.t
        title = t(
            "oscal.observation", check=f.check_id, host=f.host, status=t(f"status.{f.status}")
        )
        obs = {
            "uuid": self.ids("observation", f.host, f.check_id),
            "title": _line(title),
            "description": md(f.message) or "-",
            "props": self.props(f),
            "methods": ["TEST"],
            "origins": self.origins,
            "subjects": self.subjects(f.host),
            "collected": self.collected,
        }
        if f.status in ("fail", "waived", "error"):
            obs["types"] = ["finding"]
        evidence = self.evidence(f)
        if evidence:
            obs["relevant-evidence"] = evidence
        if f.status in ("fail", "waived") and f.remediation:
            obs["remarks"] = f"{self.labels['col.remediation']}: {md(f.remediation)}"
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


def _seal_props(report: Report) -> list[dict]:
    seal = report.seal
    if seal is None:
        return [_prop("signature", "unsigned"), _prop("evidence-chain", "not stored")]
    return [
        _prop("signature", "signed" if seal.keyid else "unsigned"),
        *([_prop("signer-keyid", seal.keyid)] if seal.keyid else []),
        _prop("evidence-chain-seq", seal.seq),
        _prop("evidence-envelope-sha256", seal.envelope_sha256),
        *([_prop("evidence-chain-prev", seal.prev)] if seal.prev else []),
    ]


def _resource(artifact: Artifact, ids: _Ids) -> dict:
    return {
        "uuid": ids("artifact", artifact.path),
        "title": artifact.path,
        "rlinks": [
            {
                "href": artifact.path,
                "media-type": artifact.media_type,
                "hashes": [{"algorithm": "SHA-256", "value": artifact.sha256}],
            }
        ],
    }


def assessment_results(report: Report, excerpts: bool = True) -> dict:
    """``excerpts``: quote each piece of evidence's fact in its remarks. An evidence bundle
    holds every fact whole, as the file its resource links to, so it goes without them."""
    t = translator(report.lang)
    ids = _Ids(report.scan_id)
    tool = ids("tool", "hygie")
    collected = _time(report.finished or report.started)
    observation = _Observations(ids, tool, collected, t, excerpts)
    observations = []
    by_check: dict[str, list[str]] = {}
    for host in report.hosts:
        for f in host.findings:
            obs = observation(f)
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
            *_seal_props(report),
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
    document = {
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
    if report.artifacts:
        document["assessment-results"]["back-matter"] = {
            "resources": [_resource(a, ids) for a in report.artifacts]
        }
    return document


def render(report: Report) -> str:
    return pretty(assessment_results(report)).decode()
