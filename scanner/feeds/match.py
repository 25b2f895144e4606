"""Match one host's installed packages against the loaded feeds.

The OSV ranges of an ecosystem are loaded once per process (and again only when a feed is
imported), with every bound turned into a sort key (``hygie.feeds.versions``); a host then
costs one key per installed source version and tuple comparisons. KEV and EPSS are looked
up only for the CVEs that matched.

Debian and Ubuntu advisories name source packages and source versions, RHEL-family ones
source RPMs (whose epoch:version-release is the binary's). Binary packages built from the
kernel's source are judged once, through the RUNNING kernel: an old kernel image left
installed beside the booted one is not what runs, and it is never "upgraded" (each ABI is
its own package), so listing it as "update to X" would be wrong advice.
"""

from __future__ import annotations

import json
import re
import threading
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from hygie.facts.packages import Package, ecosystem_manager, kernel_release
from hygie.feeds.osv import severity_rank
from hygie.feeds.store import FeedMissing, FeedStore
from hygie.feeds.versions import VersionKey, version_key

#: the OSV package name of the kernel, per package manager
KERNEL_SOURCE = {"dpkg": "linux", "rpm": "kernel"}
_SIGNED = re.compile(r"-signed(?:-(?:amd64|arm64|armhf|i386|ppc64el|riscv64|s390x))?(?=-|$)")


@dataclass(frozen=True)
class IndexedRange:
    advisory: str
    introduced: VersionKey | None
    fixed: VersionKey | None
    last_affected: VersionKey | None
    fixed_text: str | None
    last_affected_text: str | None

    def contains(self, key: VersionKey) -> bool:
        if self.introduced is not None and key < self.introduced:
            return False
        if self.fixed is not None:
            return key < self.fixed
        if self.last_affected is not None:
            return key <= self.last_affected
        return True


@dataclass(frozen=True)
class AdvisoryInfo:
    cves: tuple[str, ...]
    severity: str
    summary: str


@dataclass(frozen=True)
class PackageRanges:
    """``simple``: ranges "every version before ``fixed``" (nearly all distribution
    advisories), sorted by fixed version, newest first: a host's version is affected by a
    prefix of them, so matching stops at the first fixed version it has reached and costs
    what it finds, not what the feed holds. ``other``: every other shape, tested one by one."""

    simple: tuple[IndexedRange, ...]
    other: tuple[IndexedRange, ...]

    def matching(self, key: VersionKey) -> list[IndexedRange]:
        found = []
        for rng in self.simple:
            if not key < rng.fixed:  # type: ignore[operator]
                break
            found.append(rng)
        found += [rng for rng in self.other if rng.contains(key)]
        return found


@dataclass(frozen=True)
class EcosystemIndex:
    ecosystem: str
    manager: str
    ranges: dict[str, PackageRanges]
    advisories: dict[str, AdvisoryInfo]

    @classmethod
    def load(cls, store: FeedStore, ecosystem: str) -> EcosystemIndex:
        manager = ecosystem_manager(ecosystem) or "dpkg"

        def key(v: str | None) -> VersionKey | None:
            return None if v is None else version_key(manager, v)

        grouped: dict[str, list[IndexedRange]] = defaultdict(list)
        for package, advisory, intro, fixed, last in store.ranges(ecosystem):
            grouped[package].append(
                IndexedRange(advisory, key(intro), key(fixed), key(last), fixed, last)
            )
        advisories = {
            adv: AdvisoryInfo(tuple(json.loads(cves)), severity, summary)
            for adv, cves, severity, summary in store.advisories(ecosystem)
        }
        ranges = {}
        for package, found in grouped.items():
            simple = [r for r in found if r.introduced is None and r.fixed is not None]
            simple.sort(key=lambda r: r.fixed, reverse=True)
            other = tuple(r for r in found if r.introduced is not None or r.fixed is None)
            ranges[package] = PackageRanges(tuple(simple), other)
        return cls(ecosystem, manager, ranges, advisories)


_CACHE: dict[tuple[str, str], tuple[int, EcosystemIndex]] = {}
_LOCK = threading.Lock()


def ecosystem_index(store: FeedStore, ecosystem: str) -> EcosystemIndex:
    """The cached index, reloaded when a feed was imported since it was built."""
    generation = store.generation()
    cache_key = (str(store.path.resolve()), ecosystem)
    with _LOCK:
        cached = _CACHE.get(cache_key)
        if cached is None or cached[0] != generation:
            cached = (generation, EcosystemIndex.load(store, ecosystem))
            _CACHE[cache_key] = cached
        return cached[1]


# -- one host ------------------------------------------------------------------------------


def _vulnerabilities(index: EcosystemIndex, package: str, version: str) -> list[dict]:
    """One entry per CVE (or per advisory without CVE), merging the advisories that name
    it (a DSA and the tracker's DEBIAN-CVE record for the same flaw)."""
    key = version_key(index.manager, version)
    merged: dict[str, dict] = {}
    package_ranges = index.ranges.get(package)
    for rng in package_ranges.matching(key) if package_ranges else ():
        info = index.advisories.get(rng.advisory, AdvisoryInfo((), "unknown", ""))
        for name in info.cves or (rng.advisory,):
            entry = merged.setdefault(
                name,
                {"id": name, "advisories": set(), "fixed": None, "last_affected": None,
                 "severity": "unknown", "summary": info.summary},
            )  # fmt: skip
            entry["advisories"].add(rng.advisory)
            if rng.fixed_text is not None and (
                entry["fixed"] is None  # else: two advisories fix it; keep the later fix
                or rng.fixed > version_key(index.manager, entry["fixed"])
            ):
                entry["fixed"] = rng.fixed_text
            if rng.last_affected_text is not None:
                entry["last_affected"] = rng.last_affected_text
            if severity_rank(info.severity) > severity_rank(entry["severity"]):
                entry["severity"] = info.severity
    return [{**e, "advisories": sorted(e["advisories"])} for _, e in sorted(merged.items())]


def _enrich(vulns: list[dict], kev: dict, epss: dict) -> None:
    for v in vulns:
        k = kev.get(v["id"])
        v["kev"] = (
            {"date_added": k[0], "due_date": k[1], "known_ransomware_campaign_use": k[2]}
            if k
            else None
        )
        e = epss.get(v["id"])
        v["epss"] = {"score": e[0], "percentile": e[1]} if e else None


def _summary(vulns: list[dict], manager: str) -> dict:
    """Package-level view: the version that closes every fixable flaw, all ids, the worst
    KEV/EPSS/severity among them."""
    fixes = [v["fixed"] for v in vulns if v["fixed"]]
    kev = [{"cve": v["id"], **v["kev"]} for v in vulns if v["kev"]]
    scored = [v for v in vulns if v["epss"]]
    top = max(scored, key=lambda v: v["epss"]["score"], default=None)
    return {
        "fixed": max(fixes, key=lambda f: version_key(manager, f)) if fixes else None,
        "advisories": sorted({a for v in vulns for a in v["advisories"]}),
        "cves": sorted(v["id"] for v in vulns if v["id"].startswith("CVE-")),
        "kev": kev,
        "epss": {"cve": top["id"], **top["epss"]} if top else None,
        "severity": max((v["severity"] for v in vulns), key=severity_rank, default="unknown"),
    }


def _kernel_sources(kernels: dict[str, Package], manager: str) -> set[str]:
    """Source packages that build kernel images here (Debian: linux, linux-signed-amd64)."""
    sources = {KERNEL_SOURCE[manager]}
    for p in kernels.values():
        sources |= {p.source, _SIGNED.sub("", p.source)}
    return sources


def match_host(
    store: FeedStore, ecosystem: str, packages: tuple[Package, ...], running_kernel: str
) -> dict:
    """The ``vulnerable_packages`` document of one host (see ``hygie.facts.vulns``)."""
    feeds = feed_versions(store, ecosystem)
    index = ecosystem_index(store, ecosystem)
    manager = index.manager
    installed = tuple(p for p in packages if p.installed)
    kernels = {r: p for p in installed if (r := kernel_release(p)) is not None}
    kernel_sources = _kernel_sources(kernels, manager)

    found: list[tuple[tuple[str, str], Package, list[dict]]] = []
    by_source: dict[tuple[str, str], list[dict]] = {}
    for p in installed:
        if p.source in kernel_sources:
            continue
        version = p.source_version if manager == "dpkg" else p.version
        source_key = (p.source, version)
        if source_key not in by_source:
            by_source[source_key] = _vulnerabilities(index, p.source, version)
        if by_source[source_key]:
            found.append((source_key, p, by_source[source_key]))

    running = kernels.get(running_kernel)
    kernel_vulns = (
        _vulnerabilities(index, _SIGNED.sub("", running.source) if manager == "dpkg"
                         else KERNEL_SOURCE[manager], running.version)
        if running else []
    )  # fmt: skip

    cves = {v["id"] for vs in by_source.values() for v in vs} | {v["id"] for v in kernel_vulns}
    kev, epss = store.kev(cves), store.epss(cves)
    for vulns in [*by_source.values(), kernel_vulns]:
        _enrich(vulns, kev, epss)

    summaries = {key: _summary(vulns, manager) for key, vulns in by_source.items() if vulns}
    report_packages = [
        {"name": p.name, "arch": p.arch, "installed": p.version, "source": p.source,
         "source_version": p.source_version, **summaries[key], "vulnerabilities": vulns}
        for key, p, vulns in sorted(found, key=lambda item: (item[1].name, item[1].arch))
    ]  # fmt: skip
    kernel = {
        "running": running_kernel,
        "package": running.name if running else None,
        "version": running.version if running else None,
        "source": running.source if running else None,
        "installed_kernels": sorted(p.name for p in kernels.values()),
        **_summary(kernel_vulns, manager),
        "vulnerabilities": kernel_vulns,
    }
    return {
        "ecosystem": ecosystem,
        "manager": manager,
        "feeds": feeds,
        "packages_checked": len(installed),
        "packages": report_packages,
        "kernel": kernel,
    }


def feed_versions(store: FeedStore, ecosystem: str) -> dict:
    """What the verdicts rest on: the OSV data for the ecosystem (required), KEV and EPSS
    (recorded as None when absent; the feed-age check reports that)."""
    ecosystems = store.ecosystems()
    if ecosystem not in ecosystems:
        loaded = ", ".join(sorted(ecosystems)) or "none"
        raise FeedMissing(
            f"no OSV advisories loaded for {ecosystem} (loaded: {loaded}): import the "
            "ecosystem's OSV export (`hygie feeds import` / `hygie feeds update`)"
        )
    as_of, import_id = ecosystems[ecosystem]
    osv = store.import_by_id(import_id).describe() | {"ecosystem": ecosystem, "as_of": as_of}
    kev, epss = store.latest("kev"), store.latest("epss")
    return {
        "osv": osv,
        "kev": kev.describe() if kev else None,
        "epss": epss.describe() if epss else None,
    }


def open_feeds(path: Path) -> FeedStore:
    """Read-only feed store for matching; FeedMissing when there is none."""
    store = FeedStore(path, readonly=True)
    store.generation()  # raises FeedMissing when no feed table exists
    return store
