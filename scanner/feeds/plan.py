"""The prioritised patch plan: what to update first, per host and for the fleet.

Order: vulnerabilities being exploited now (CISA KEV; those used by ransomware first), then
the probability of exploitation (EPSS), then severity. Only flaws with a published fix are
planned (the rest cannot be patched yet and are reported apart). Pure functions of the
``vulnerable_packages`` fact, so reports and checks give the same plan from a stored scan.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from hygie.feeds.osv import severity_rank
from hygie.feeds.versions import version_key
from hygie.model import Scan

FACT = "vulnerable_packages"


@dataclass(frozen=True)
class PlanItem:
    """Update ``source``'s ``packages`` to ``fixed``; closes ``cves``."""

    ecosystem: str
    source: str
    packages: tuple[str, ...]
    fixed: str
    cves: tuple[str, ...]
    kev: bool
    ransomware: bool
    due_date: str | None
    epss: float | None
    severity: str
    kernel: bool = False
    hosts: tuple[str, ...] = field(default=())

    @property
    def priority(self) -> tuple:
        return (
            not self.kev,
            not self.ransomware,
            -(self.epss or 0.0),
            -severity_rank(self.severity),
            -len(self.hosts),
            self.source,
        )

    def describe(self) -> str:
        flags = []
        if self.kev:
            flags.append(
                "KEV"
                + (", ransomware" if self.ransomware else "")
                + (f", due {self.due_date}" if self.due_date else "")
            )
        if self.epss is not None:
            flags.append(f"EPSS {self.epss:.2f}")
        flags.append(self.severity)
        what = "reboot into kernel" if self.kernel else "update"
        cves = ", ".join(self.cves[:5]) + (f" +{len(self.cves) - 5}" if len(self.cves) > 5 else "")
        return (
            f"{what} {self.source} ({', '.join(self.packages)}) to {self.fixed} "
            f"[{'; '.join(flags)}]: closes {cves or 'advisories without CVE'}"
        )

    def to_dict(self) -> dict:
        return {
            "ecosystem": self.ecosystem,
            "source": self.source,
            "packages": list(self.packages),
            "fixed": self.fixed,
            "cves": list(self.cves),
            "kev": self.kev,
            "ransomware": self.ransomware,
            "due_date": self.due_date,
            "epss": self.epss,
            "severity": self.severity,
            "kernel": self.kernel,
            "hosts": list(self.hosts),
        }


def _item(report: dict, source: str, names: list[str], vulns: list[dict], kernel: bool):
    fixable = [v for v in vulns if v["fixed"]]
    if not fixable:
        return None
    manager = report["manager"]
    kev = [v["kev"] for v in fixable if v["kev"]]
    scores = [v["epss"]["score"] for v in fixable if v["epss"]]
    return PlanItem(
        ecosystem=report["ecosystem"],
        source=source,
        packages=tuple(sorted(set(names))),
        fixed=max((v["fixed"] for v in fixable), key=lambda f: version_key(manager, f)),
        cves=tuple(sorted({v["id"] for v in fixable})),
        kev=bool(kev),
        ransomware=any(k["known_ransomware_campaign_use"] == "Known" for k in kev),
        due_date=min((k["due_date"] for k in kev), default=None),
        epss=max(scores, default=None),
        severity=max((v["severity"] for v in fixable), key=severity_rank),
        kernel=kernel,
    )


def host_plan(report: dict) -> list[PlanItem]:
    """One host's plan from its ``vulnerable_packages`` document, most urgent first."""
    by_source: dict[str, tuple[list[str], dict[str, dict]]] = {}
    for entry in report["sources"]:  # a source may be installed at two versions
        names, vulns = by_source.setdefault(entry["source"], ([], {}))
        names += [b["name"] for b in entry["packages"]]
        vulns.update({v["id"]: v for v in entry["vulnerabilities"]})
    items = [
        _item(report, src, names, list(v.values()), False) for src, (names, v) in by_source.items()
    ]
    kernel = report["kernel"]
    if kernel["package"]:
        items.append(
            _item(report, kernel["source"], [kernel["package"]], kernel["vulnerabilities"], True)
        )
    return sorted((i for i in items if i is not None), key=lambda i: i.priority)


@dataclass(frozen=True)
class FleetPlan:
    items: tuple[PlanItem, ...]
    hosts: dict[str, list[PlanItem]]
    not_assessed: dict[str, str]  # host -> why its packages could not be matched

    def to_dict(self) -> dict:
        return {
            "items": [i.to_dict() for i in self.items],
            "hosts": {h: [i.to_dict() for i in items] for h, items in self.hosts.items()},
            "not_assessed": self.not_assessed,
        }


def patch_plan(scan: Scan) -> FleetPlan:
    """The fleet plan of a scan: each (ecosystem, source, fixed version) once, with the
    hosts that need it, ordered like a host plan (more hosts first on ties)."""
    per_host: dict[str, list[PlanItem]] = {}
    not_assessed: dict[str, str] = {}
    for host in scan.hosts:
        fact = host.facts.get(FACT)
        if host.error or fact is None or not fact.ok:
            reason = host.error or (fact.stderr_text.strip() if fact else f"{FACT} not derived")
            not_assessed[host.name] = reason
            continue
        per_host[host.name] = host_plan(json.loads(fact.stdout))
    merged: dict[tuple[str, str, str, bool], list[tuple[str, PlanItem]]] = {}
    for name, items in per_host.items():
        for item in items:
            key = (item.ecosystem, item.source, item.fixed, item.kernel)
            merged.setdefault(key, []).append((name, item))
    fleet = [_merge(entries) for entries in merged.values()]
    return FleetPlan(tuple(sorted(fleet, key=lambda i: i.priority)), per_host, not_assessed)


def _merge(entries: list[tuple[str, PlanItem]]) -> PlanItem:
    items = [i for _, i in entries]
    first = items[0]
    dues = [i.due_date for i in items if i.due_date]
    scores = [i.epss for i in items if i.epss is not None]
    return PlanItem(
        ecosystem=first.ecosystem,
        source=first.source,
        packages=tuple(sorted({p for i in items for p in i.packages})),
        fixed=first.fixed,
        cves=tuple(sorted({c for i in items for c in i.cves})),
        kev=any(i.kev for i in items),
        ransomware=any(i.ransomware for i in items),
        due_date=min(dues, default=None),
        epss=max(scores, default=None),
        severity=max((i.severity for i in items), key=severity_rank),
        kernel=first.kernel,
        hosts=tuple(sorted(h for h, _ in entries)),
    )
