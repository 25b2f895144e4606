"""The gap model: from results, waivers and attestations to a state per control.

Rules (issue 4), applied in this order for each control of a catalog; the checks of a
control are those that reference it or any control under it (an implementation
specification's failure is a gap in its standard):

- gap: a mapped check failed on some host and no valid waiver covers that failure;
- waived: every failure is covered by a valid waiver (shown apart, never a pass);
- needs_evidence: no automated check can evidence it (``automatable: false`` in the
  catalog, or no check maps to it) -- attested when a valid attestation covers it;
- partial: some host or mapped check could not be assessed (error, or a mapped check the
  policy did not run) -- attested when a valid attestation covers it;
- not_applicable: every mapped check was not applicable on every host;
- satisfied: every mapped check passed (or was not applicable) on every assessed host.

The score of a framework counts satisfied and attested controls over every control that is
not not_applicable: an error or a missing assessment is never satisfied.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import NamedTuple

from hygie.chain import ENVELOPE, RESULTS, fact_digests
from hygie.checkdata import CheckText
from hygie.frameworks import Catalog, Control, coverage, load_catalogs
from hygie.model import (
    Evidence,
    Fact,
    HostScan,
    Result,
    Scan,
    Severity,
    Status,
    evidence_digest,
)
from hygie.registry import CheckMeta, all_checks
from hygie.reports.attest import Attestation, Waiver
from hygie.reports.model import (
    Artifact,
    AttestationRef,
    ControlStatus,
    FactExcerpt,
    Finding,
    FrameworkSummary,
    HostSummary,
    Report,
    WaiverRef,
    printable,
)

STATES = ("gap", "waived", "partial", "needs_evidence", "attested", "satisfied", "not_applicable")
FINDING_STATUSES = ("fail", "waived", "error", "pass", "not_applicable")
SEVERITIES = tuple(s.value for s in sorted(Severity, key=lambda s: -s.rank))
_STATUS_ORDER = {s: i for i, s in enumerate(FINDING_STATUSES)}
_SEVERITY_ORDER = {s: i for i, s in enumerate(SEVERITIES)}


def finding_order(f: Finding) -> tuple:
    """Most severe failures first, then waived, errors, passes, not applicable."""
    return (_STATUS_ORDER[f.status], _SEVERITY_ORDER.get(f.severity, 99), f.check_id)


def check_text(meta: CheckMeta, lang: str) -> CheckText:
    """The title, rationale and remediation of a check in ``lang``, each field in English
    where ``lang`` lacks it: a partial translation never leaves a blank in a report."""
    text = meta.text(lang)
    return CheckText(
        title=text.title or meta.title,
        rationale=text.rationale or meta.rationale,
        remediation=text.remediation or meta.remediation,
    )


class About(NamedTuple):
    """What a report says of a check, whatever the host: its texts in the report's
    language and its framework references."""

    title: str
    rationale: str
    remediation: str
    references: dict[str, tuple[str, ...]]


class Shared:
    """What many findings have in common, built once per scan rather than per finding.

    A fleet is a few configurations repeated: the same fact content (same sha256), the
    same message and evidence recur on thousands of hosts. Sharing the immutable pieces
    keeps a 5,000-host report fast to build and small in memory; renderers only read them.
    """

    def __init__(self, checks: Mapping[str, CheckMeta], excerpt_bytes: int, lang: str):
        self.checks, self.excerpt_bytes, self.lang = checks, excerpt_bytes, lang
        self.excerpts: dict[tuple, FactExcerpt] = {}
        self.evidence: dict[tuple[Evidence, ...], tuple[tuple[dict, ...], tuple[str, ...]]] = {}
        self.abouts: dict[str, About] = {}
        self.text: dict[str, str] = {}

    def printable(self, text: str) -> str:
        if text not in self.text:
            self.text[text] = printable(text)
        return self.text[text]

    def excerpt(self, fact: Fact) -> FactExcerpt:
        key = (fact.name, fact.sha256, fact.exit_status, len(fact.stdout))
        if key not in self.excerpts:
            self.excerpts[key] = FactExcerpt.of(fact, self.excerpt_bytes)
        return self.excerpts[key]

    def evidence_of(self, result: Result) -> tuple[tuple[dict, ...], tuple[str, ...]]:
        """The printable evidence of a result and the names of the facts it cites."""
        if result.evidence not in self.evidence:
            self.evidence[result.evidence] = (
                tuple(
                    {
                        "expected": self.printable(e.expected),
                        "actual": self.printable(e.actual),
                        "fact": e.fact,
                    }
                    for e in result.evidence
                ),
                tuple(dict.fromkeys(e.fact for e in result.evidence if e.fact)),
            )
        return self.evidence[result.evidence]

    def about(self, result: Result) -> About:
        """A check's texts and references, looked up once per check. The results keep the
        English title they were judged with (stable evidence); the report shows the
        registry's text in its language, or, for a check removed since the scan, the
        stored title alone."""
        about = self.abouts.get(result.check_id)
        if about is None:
            meta = self.checks.get(result.check_id)
            if meta is None:
                return About(result.title, "", "", {})
            text = check_text(meta, self.lang)
            about = self.abouts[result.check_id] = About(
                text.title, text.rationale, text.remediation, dict(meta.references)
            )
        return about


def _finding(
    result: Result,
    host: str,
    waiver: Waiver | None,
    excerpts: dict[str, FactExcerpt],
    shared: Shared,
) -> Finding:
    evidence, names = shared.evidence_of(result)
    about = shared.about(result)
    # Status and Severity are StrEnums: ``_value_`` is their plain string, read without the
    # enum descriptor (half a million lookups in a 5,000-host report).
    return Finding(
        host,
        result.check_id,
        about.title,
        "waived" if waiver else result.status._value_,
        result.severity._value_,
        shared.printable(result.message),
        evidence,
        tuple([excerpts[n] for n in names if n in excerpts]) if names else (),
        about.rationale,
        about.remediation,
        about.references,
        WaiverRef.of(waiver) if waiver else None,
    )


def host_summary(host: HostScan, waivers: Sequence[Waiver], shared: Shared) -> HostSummary:
    """Every result of the host as a finding; a failure a waiver covers becomes waived."""
    cited = {e.fact for r in host.results for e in r.evidence if e.fact}
    excerpts = {n: shared.excerpt(host.facts[n]) for n in cited if n in host.facts}
    findings = []
    for result in host.results:
        waiver = None
        if result.status is Status.FAIL:
            waiver = next(
                (w for w in waivers if w.matches(result.check_id, host.name, host.tags)), None
            )
        findings.append(_finding(result, host.name, waiver, excerpts, shared))
    findings.sort(key=finding_order)
    counts = Counter(f.status for f in findings)
    return HostSummary(
        name=host.name,
        address=host.address,
        family=host.family,
        error=printable(host.error) if host.error else None,
        counts={s: counts.get(s, 0) for s in FINDING_STATUSES},
        findings=tuple(findings),
        tags=host.tags,
        site=host.site,
        runner=host.runner,
    )


@dataclass
class CheckOutcome:
    """One check across the fleet: which hosts failed, were waived, could not be assessed."""

    failing: list[str] = field(default_factory=list)
    waived: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    passed: int = 0
    not_applicable: int = 0


def outcomes(hosts: Iterable[HostSummary]) -> dict[str, CheckOutcome]:
    out: dict[str, CheckOutcome] = defaultdict(CheckOutcome)
    for host in hosts:
        for f in host.findings:
            o = out[f.check_id]
            if f.status == "fail":
                o.failing.append(host.name)
            elif f.status == "waived":
                o.waived.append(host.name)
            elif f.status == "error":
                o.errors.append(host.name)
            elif f.status == "pass":
                o.passed += 1
            else:
                o.not_applicable += 1
    return dict(out)


def subtree_checks(catalog: Catalog, direct: Mapping[str, list[str]]) -> dict[str, tuple]:
    """control id -> checks referencing it or any control below it, in registry order."""
    children: dict[str, list[str]] = defaultdict(list)
    for c in catalog.controls.values():
        if c.parent is not None:
            children[c.parent].append(c.id)
    memo: dict[str, tuple[str, ...]] = {}

    def collect(cid: str) -> tuple[str, ...]:
        if cid not in memo:
            found = list(direct.get(cid, ()))
            for child in children[cid]:
                found += collect(child)
            memo[cid] = tuple(dict.fromkeys(found))
        return memo[cid]

    return {cid: collect(cid) for cid in catalog.controls}


def decide(
    control: Control, checks: tuple[str, ...], results: Mapping[str, CheckOutcome], attested: bool
) -> tuple[str, dict]:
    """The state of one control and the (host, check) pairs behind it (module rules)."""
    ran = [c for c in checks if c in results]
    detail = {
        "failing": tuple((h, c) for c in ran for h in results[c].failing),
        "waived": tuple((h, c) for c in ran for h in results[c].waived),
        "unassessed": tuple((h, c) for c in ran for h in results[c].errors),
        "not_run": tuple(c for c in checks if c not in results),
    }
    passed = sum(results[c].passed for c in ran)
    if detail["failing"]:
        state = "gap"
    elif detail["waived"]:
        state = "waived"
    elif not control.automatable or not checks:
        state = "attested" if attested else "needs_evidence"
    elif detail["unassessed"] or detail["not_run"]:
        state = "attested" if attested else "partial"
    elif not passed:
        state = "not_applicable"
    else:
        state = "satisfied"
    return state, detail


def score(counts: Mapping[str, int]) -> float:
    assessable = sum(counts.values()) - counts.get("not_applicable", 0)
    if not assessable:
        return 0.0
    return round(100 * (counts.get("satisfied", 0) + counts.get("attested", 0)) / assessable, 1)


def framework_summary(
    catalog: Catalog,
    direct: Mapping[str, list[str]],
    results: Mapping[str, CheckOutcome],
    attestations: Sequence[Attestation],
    lang: str,
) -> FrameworkSummary:
    mapped = subtree_checks(catalog, direct)
    controls = []
    for control in catalog.controls.values():
        att = next((a for a in attestations if a.covers(catalog.id, control.id)), None)
        state, detail = decide(control, mapped[control.id], results, att is not None)
        controls.append(
            ControlStatus(
                framework=catalog.id,
                control_id=control.id,
                title=control.title if lang == "fr" else control.title_en or control.title,
                kind=control.kind,
                state=state,
                checks=mapped[control.id],
                attestation=AttestationRef.of(att) if att else None,
                automatable=control.automatable,
                parent=control.parent,
                **detail,
            )
        )
    counts = Counter(c.state for c in controls)
    per_state = {s: counts.get(s, 0) for s in STATES}
    return FrameworkSummary(
        id=catalog.id,
        title=catalog.title,
        version=catalog.version,
        source=catalog.source,
        counts=per_state,
        score=score(per_state),
        controls=tuple(controls),
    )


def _patch_plan(scan: Scan) -> dict | None:
    """The patch plan of the feeds package, when that package is installed."""
    try:
        from hygie.feeds.plan import patch_plan
    except ImportError:
        return None
    return patch_plan(scan)


def assemble(
    scan: Scan,
    *,
    frameworks: Sequence[str] | None,
    attestations: Sequence[Attestation],
    waivers: Sequence[Waiver],
    today: date,
    lang: str,
    excerpt_bytes: int,
    catalogs: Mapping[str, Catalog] | None,
    checks: Mapping[str, CheckMeta] | None,
    generated_at: datetime,
) -> Report:
    """build_report's body (see hygie.reports.build.build_report)."""
    catalogs = load_catalogs() if catalogs is None else catalogs
    checks = all_checks() if checks is None else checks
    wanted = list(catalogs) if frameworks is None else list(dict.fromkeys(frameworks))
    unknown = [f for f in wanted if f not in catalogs]
    if unknown:
        raise ValueError(f"unknown frameworks {unknown}; known: {sorted(catalogs)}")
    active = [w for w in waivers if not w.expired(today)]
    valid = [a for a in attestations if a.valid(today)]
    shared = Shared(checks, excerpt_bytes, lang)
    hosts = tuple(host_summary(h, active, shared) for h in scan.hosts)
    results = outcomes(hosts)
    direct = coverage(checks)
    severities = Counter(f.severity for h in hosts for f in h.findings if f.status == "fail")
    return Report(
        scan_id=scan.id,
        started=scan.started,
        finished=scan.finished,
        tool_version=scan.tool_version,
        policy={
            "name": scan.policy_name,
            "version": scan.policy_version,
            "digest": scan.policy_digest,
        },
        evidence_digest=evidence_digest(scan.hosts),
        lang=lang,
        generated_at=generated_at.isoformat(timespec="seconds").replace("+00:00", "Z"),
        frameworks=tuple(
            framework_summary(catalogs[f], direct.get(f, {}), results, valid, lang) for f in wanted
        ),
        hosts=hosts,
        severity_counts={s: severities.get(s, 0) for s in SEVERITIES},
        expired_waivers=tuple(WaiverRef.of(w) for w in waivers if w.expired(today)),
        patch_plan=_patch_plan(scan),
        expired_attestations=tuple(
            AttestationRef.of(a) for a in attestations if not a.valid(today)
        ),
        facts_from=scan.facts_from,
        seal=scan.seal,
        artifacts=artifacts(scan),
    )


MEDIA_TYPES = {RESULTS: "application/json", ENVELOPE: "application/vnd.dsse.envelope.v1+json"}


def artifacts(scan: Scan) -> tuple[Artifact, ...]:
    """The scan's files as a bundle holds them: each fact, and once sealed, the results
    and the envelope."""
    files = [Artifact(p, sha, "application/octet-stream") for p, sha in fact_digests(scan)]
    if scan.seal is not None:
        for path, sha in (
            (RESULTS, scan.seal.results_sha256),
            (ENVELOPE, scan.seal.envelope_sha256),
        ):
            files.append(Artifact(path, sha, MEDIA_TYPES[path]))
    return tuple(files)
