"""Known vulnerabilities: installed packages and the running kernel against OSV advisories,
prioritised with CISA KEV (exploited now) and FIRST EPSS (likely to be exploited).

Every check reads the derived fact ``vulnerable_packages`` (see hygie.facts.vulnerabilities), which
names the feed versions it was matched against. When no feed could be used the fact is
missing and these checks report ``error``; the feed-age check reports a missing or stale
feed as a finding of its own, so a scan can never read "all clear" on old knowledge.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any, NamedTuple

import orjson

from hygie.facts.system import parse_date_utc
from hygie.feeds.osv import SEVERITIES, severity_rank
from hygie.feeds.plan import host_plan
from hygie.model import Evidence
from hygie.registry import Facts, Param, Verdict, check, errored, failed, not_applicable, passed
from hygie.text import capped

#: Public ids are never renamed: vulnerability checks were named vuln_.
ID_PREFIXES = ("vuln_",)

FACT = "vulnerable_packages"
MAX_EVIDENCE = 200


def _report(facts: Facts) -> dict:
    # orjson: the fact of a host months behind is megabytes, read by each of these checks.
    return orjson.loads(facts.raw(FACT))


def _today(facts: Facts) -> date:
    return date.fromisoformat(facts.parsed("date_utc", parse_date_utc)[0])


def _basis(report: dict) -> str:
    """Which data a verdict rests on, said in every message."""
    feeds = report["feeds"]
    parts = [f"OSV {report['ecosystem']} of {feeds['osv']['as_of'][:10]}"]
    if feeds["kev"]:
        parts.append(f"KEV {feeds['kev']['version']}")
    if feeds["epss"]:
        parts.append(f"EPSS of {feeds['epss']['as_of'][:10]}")
    return ", ".join(parts)


def _capped(items: Iterable[str], limit: int = 5) -> str:
    return capped(items, limit)


def _flags(vuln: dict) -> str:
    notes = []
    if vuln["kev"]:
        k = vuln["kev"]
        notes.append(
            f"KEV since {k['date_added']}, due {k['due_date']}, ransomware use "
            f"{k['known_ransomware_campaign_use']}"
        )
    if vuln["epss"]:
        notes.append(f"EPSS {vuln['epss']['score']:.3f} (p{vuln['epss']['percentile']:.2f})")
    notes.append(f"severity {vuln['severity']}")
    return "; ".join(notes)


def _describe(vuln: dict) -> str:
    fix = f"fixed in {vuln['fixed']}" if vuln["fixed"] else "no fix"
    if not vuln["fixed"] and vuln["last_affected"]:
        fix += f" (last affected {vuln['last_affected']})"
    return f"{vuln['id']} [{', '.join(vuln['advisories'])}] {fix}; {_flags(vuln)}"


def _evidence(expected: str, actuals: list[str]) -> tuple[Evidence, ...]:
    shown = [Evidence(expected, a, FACT) for a in actuals[:MAX_EVIDENCE]]
    if len(actuals) > MAX_EVIDENCE:
        shown.append(Evidence(expected, f"+{len(actuals) - MAX_EVIDENCE} more", FACT))
    return tuple(shown)


def _installed(source: dict) -> str:
    """The binary packages installed from a source package, and the source: what to
    update and what the advisories name."""
    binaries = ", ".join(f"{b['name']} {b['installed']}" for b in source["packages"])
    return f"{binaries} (source {source['source']} {source['version']})"


class _Finding(NamedTuple):
    where: str  # the installed packages, or the running kernel, with their versions
    name: str  # the same, short, for messages
    packages: int  # binary packages it concerns
    vuln: dict


def _findings(report: dict) -> list[_Finding]:
    """Every vulnerability of the source packages and of the running kernel."""
    rows = [
        _Finding(_installed(s), s["source"], len(s["packages"]), v)
        for s in report["sources"]
        for v in s["vulnerabilities"]
    ]
    kernel = report["kernel"]
    name = f"{kernel['package']} (running kernel)"
    rows += [
        _Finding(f"{kernel['package']} {kernel['version']} (running kernel)", name, 1, v)
        for v in kernel["vulnerabilities"]
    ]
    return rows


# -- feed age --------------------------------------------------------------------------


@check(
    facts=(FACT, "date_utc"),
    params={"max_age_days": Param(7, "oldest acceptable feed data, in days", minimum=0)},
)
def vuln_feed_age(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    limit = params["max_age_days"]
    today = _today(facts)
    expected = f"OSV, KEV and EPSS data at most {limit} days old on {today}"
    fact = facts.get(FACT)
    if not fact.ok and fact.stderr_text.startswith("FeedMissing:"):
        reason = fact.stderr_text.removeprefix("FeedMissing:").strip()
        return failed(f"no usable vulnerability feed: {reason}", Evidence(expected, reason, FACT))
    report = _report(facts)
    names = {"osv": f"OSV {report['ecosystem']}", "kev": "CISA KEV", "epss": "FIRST EPSS"}
    problems, states = [], []
    for source, name in names.items():
        feed = report["feeds"][source]
        if feed is None:
            problems.append(f"{name} not loaded")
            states.append(f"{name}: not loaded")
            continue
        age = (today - date.fromisoformat(feed["as_of"][:10])).days
        states.append(
            f"{name} {feed['version']} as of {feed['as_of'][:10]} ({age} days, "
            f"sha256 {feed['sha256'][:12]})"
        )
        if age > limit:
            problems.append(f"{name} is {age} days old")
    evidence = Evidence(expected, "; ".join(states), FACT)
    if problems:
        return failed(
            f"{'; '.join(problems)} (limit {limit}): findings may miss recent vulnerabilities",
            evidence,
        )
    return passed(f"feeds current: {'; '.join(states)}", evidence)


# -- vulnerable packages with a fix -----------------------------------------------------


@check(
    facts=(FACT,),
)
def vuln_fixable_packages(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    report = _report(facts)
    expected = "every installed package at or above the fixed version of each advisory"
    actuals, behind = [], 0
    for source in report["sources"]:
        fixable = [v for v in source["vulnerabilities"] if v["fixed"]]
        if fixable:
            behind += len(source["packages"])
            actuals.append(f"{_installed(source)}: " + " | ".join(map(_describe, fixable)))
    plan = [i for i in host_plan(report) if not i.kernel]
    if not plan:
        return passed(
            f"none of {report['packages_checked']} packages has a fixed vulnerability "
            f"({_basis(report)})",
            Evidence(expected, "no installed version below a fixed version", FACT),
        )
    cves = {c for i in plan for c in i.cves}
    steps = "; ".join(f"{n}. {i.describe()}" for n, i in enumerate(plan[:5], 1))
    more = f" (+{len(plan) - 5} more in the evidence)" if len(plan) > 5 else ""
    return failed(
        f"{behind} packages below a fixed version, {len(cves)} CVEs, "
        f"{sum(i.kev for i in plan)} updates closing actively exploited flaws. Patch first: "
        f"{steps}{more} ({_basis(report)})",
        *_evidence(expected, [f"plan {n}: {i.describe()}" for n, i in enumerate(plan, 1)]),
        *_evidence(expected, actuals),
    )


# -- actively exploited -----------------------------------------------------------------


@check(
    facts=(FACT,),
)
def vuln_known_exploited(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    report = _report(facts)
    expected = "no installed vulnerable version of a CVE listed in CISA KEV"
    if report["feeds"]["kev"] is None:
        return errored(
            "the CISA KEV catalog is not loaded: exploited vulnerabilities cannot be told "
            "apart (`hygie feeds import known_exploited_vulnerabilities.json`)",
            Evidence(expected, "KEV not loaded", FACT),
        )
    exploited = [f for f in _findings(report) if f.vuln["kev"]]
    if not exploited:
        return passed(
            f"no installed package is affected by a CVE in KEV ({_basis(report)})",
            Evidence(expected, "none", FACT),
        )
    ransomware = {
        f.vuln["id"] for f in exploited if f.vuln["kev"]["known_ransomware_campaign_use"] == "Known"
    }
    lines = [f"{f.where}: {_describe(f.vuln)}" for f in exploited]
    cves = sorted({f.vuln["id"] for f in exploited})
    return failed(
        f"{len(cves)} actively exploited CVEs ({len(ransomware)} used by ransomware): "
        f"{_capped(lines, 3)} ({_basis(report)})",
        *_evidence(expected, lines),
    )


# -- no fix available -------------------------------------------------------------------


@check(
    facts=(FACT,),
    params={
        "min_severity": Param(
            "high",
            "fail on unfixed vulnerabilities at or above this severity (and any in KEV)",
            choices=tuple(SEVERITIES[2:]),
        ),
    },
)
def vuln_unfixed_packages(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    report = _report(facts)
    threshold = params["min_severity"]
    expected = f"no vulnerability without a fix at severity {threshold} or above, none in KEV"
    unfixed = [f for f in _findings(report) if not f.vuln["fixed"]]
    lines = [f"{f.where}: {_describe(f.vuln)}" for f in unfixed]
    serious = [
        f"{f.name} {f.vuln['id']} ({f.vuln['severity']}{', KEV' if f.vuln['kev'] else ''})"
        for f in unfixed
        if f.vuln["kev"] or severity_rank(f.vuln["severity"]) >= severity_rank(threshold)
    ]
    evidence = _evidence(expected, lines) or (Evidence(expected, "none", FACT),)
    if serious:
        return failed(
            f"{len(serious)} vulnerabilities without a fix need a mitigation: "
            f"{_capped(serious)}; {len({f.vuln['id'] for f in unfixed})} unfixed in all "
            f"({_basis(report)})",
            *evidence,
        )
    ids = {f.vuln["id"] for f in unfixed}
    findings = sum(f.packages for f in unfixed)
    return passed(
        f"{len(ids)} vulnerabilities without a fix ({findings} package findings), none "
        f"{threshold} or above nor in KEV ({_basis(report)})",
        *evidence,
    )


# -- running kernel ---------------------------------------------------------------------


@check(
    facts=(FACT,),
)
def vuln_running_kernel(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    report = _report(facts)
    kernel = report["kernel"]
    expected = "running kernel at or above the fixed version of each kernel advisory"
    if not kernel["installed_kernels"]:
        return not_applicable(
            f"no distribution kernel package installed (running {kernel['running']}): "
            "container or custom kernel, not covered by distribution advisories"
        )
    if kernel["package"] is None:
        return errored(
            f"running kernel {kernel['running']} is not an installed package (installed: "
            f"{_capped(kernel['installed_kernels'])}): it cannot be matched against advisories",
            Evidence(expected, f"running {kernel['running']}", FACT),
        )
    label = f"{kernel['package']} {kernel['version']} (running {kernel['running']})"
    fixable = [v for v in kernel["vulnerabilities"] if v["fixed"]]
    unfixed = len(kernel["vulnerabilities"]) - len(fixable)
    if not fixable:
        return passed(
            f"{label}: no fixed vulnerability ({unfixed} without a fix; {_basis(report)})",
            Evidence(expected, label, FACT),
        )
    kev = [v["id"] for v in fixable if v["kev"]]
    return failed(
        f"{label} has {len(fixable)} vulnerabilities fixed in {kernel['fixed']} "
        f"({len(kev)} in KEV{': ' + _capped(kev) if kev else ''}): install it and reboot "
        f"({_basis(report)})",
        *_evidence(expected, [f"{label}: {_describe(v)}" for v in fixable]),
    )
