"""Match one host's installed packages against the loaded feeds.

The OSV ranges of an ecosystem are loaded once per process (and again only when a feed is
imported), with every bound turned into a sort key (``hygie.feeds.versions``) and the KEV
and EPSS data of every CVE they name beside them; a host then costs one key per installed
source version, tuple comparisons, and dictionary look-ups.

Debian and Ubuntu advisories name source packages and source versions, RHEL-family ones
source RPMs (whose epoch:version-release is the binary's). Binary packages built from the
kernel's source are judged once, through the RUNNING kernel: an old kernel image left
installed beside the booted one is not what runs, and it is never "upgraded" (each ABI is
its own package), so listing it as "update to X" would be wrong advice.
"""

from __future__ import annotations

import gc
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


@dataclass(frozen=True, slots=True)
class IndexedRange:
    """One affected range of a source package, with the findings it yields: one per CVE
    its advisory names (else one under the advisory's id), built once when the index is
    loaded and shared by every host it matches (see ``EcosystemIndex.vulnerabilities``)."""

    introduced: VersionKey | None
    fixed: VersionKey | None
    last_affected: VersionKey | None
    findings: tuple[dict, ...]

    def contains(self, key: VersionKey) -> bool:
        if self.introduced is not None and key < self.introduced:
            return False
        if self.fixed is not None:
            return key < self.fixed
        if self.last_affected is not None:
            return key <= self.last_affected
        return True


@dataclass(frozen=True, slots=True)
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


def _threats(store: FeedStore, names: set[str]) -> dict[str, dict]:
    """CVE -> its KEV entry and EPSS score as findings show them (None when absent)."""
    kev, epss = store.kev(names), store.epss(names)
    return {
        name: {
            "kev": {"date_added": k[0], "due_date": k[1], "known_ransomware_campaign_use": k[2]}
            if (k := kev.get(name)) else None,
            "epss": {"score": e[0], "percentile": e[1]} if (e := epss.get(name)) else None,
        }
        for name in kev.keys() | epss.keys()
    }  # fmt: skip


_NO_THREAT = {"kev": None, "epss": None}


def _merge(manager: str, finding: dict, other: dict) -> dict:
    """One finding named by two advisories (a DSA and the tracker's DEBIAN-CVE record)."""
    fixes = [f for f in (finding["fixed"], other["fixed"]) if f is not None]
    return finding | {
        "advisories": sorted({*finding["advisories"], *other["advisories"]}),
        # two advisories fix it: the later fix closes both
        "fixed": max(fixes, key=lambda f: version_key(manager, f)) if fixes else None,
        "last_affected": finding["last_affected"]
        if other["last_affected"] is None
        else other["last_affected"],
        "severity": max(finding["severity"], other["severity"], key=severity_rank),
    }


@dataclass(frozen=True)
class EcosystemIndex:
    """Everything a host is matched against, in memory: the ranges by source package, each
    with its findings ready, KEV and EPSS included. Built once per feed import, not per
    host: a host months behind has thousands of CVEs open, and looking up and building them
    per host cost several times the matching itself."""

    ecosystem: str
    manager: str
    ranges: dict[str, PackageRanges]

    @classmethod
    def load(cls, store: FeedStore, ecosystem: str) -> EcosystemIndex:
        manager = ecosystem_manager(ecosystem) or "dpkg"

        def key(v: str | None) -> VersionKey | None:
            return None if v is None else version_key(manager, v)

        rows = store.ranges(ecosystem)
        advisories = {
            adv: (tuple(json.loads(cves)) or (adv,), severity, summary)
            for adv, cves, severity, summary in store.advisories(ecosystem)
        }
        threats = _threats(store, {n for names, _, _ in advisories.values() for n in names})
        grouped: dict[str, list[IndexedRange]] = defaultdict(list)
        for package, advisory, intro, fixed, last in rows:
            names, severity, summary = advisories.get(advisory, ((advisory,), "unknown", ""))
            findings = tuple(
                {"id": name, "advisories": [advisory], "fixed": fixed, "last_affected": last,
                 "severity": severity, "summary": summary, **threats.get(name, _NO_THREAT)}
                for name in names
            )  # fmt: skip
            grouped[package].append(IndexedRange(key(intro), key(fixed), key(last), findings))
        ranges = {}
        for package, found in grouped.items():
            simple = [r for r in found if r.introduced is None and r.fixed is not None]
            simple.sort(key=lambda r: r.fixed, reverse=True)
            other = tuple(r for r in found if r.introduced is not None or r.fixed is None)
            ranges[package] = PackageRanges(tuple(simple), other)
        return cls(ecosystem, manager, ranges)

    def vulnerabilities(self, package: str, version: str) -> list[dict]:
        """The findings of one source package at one version, sorted by id: one per CVE
        (or per advisory without CVE), merging the advisories that name it.

        The findings are the index's own, shared by every host they concern: the document
        is for encoding and reading, never to be modified."""
        package_ranges = self.ranges.get(package)
        if package_ranges is None:
            return []
        merged: dict[str, dict] = {}
        for rng in package_ranges.matching(version_key(self.manager, version)):
            for finding in rng.findings:
                name = finding["id"]
                seen = merged.get(name)
                merged[name] = finding if seen is None else _merge(self.manager, seen, finding)
        return [merged[name] for name in sorted(merged)]


_CACHE: dict[tuple[str, str], tuple[int, EcosystemIndex]] = {}
_LOCK = threading.Lock()


def ecosystem_index(store: FeedStore, ecosystem: str) -> EcosystemIndex:
    """The cached index, reloaded when a feed was imported since it was built.

    A loaded index is frozen out of the cyclic garbage collector: it holds hundreds of
    thousands of objects that live until the next import and form no cycle (a replaced
    index is freed by reference counting all the same), and each full collection, which
    the documents built per host set off every few hosts, walked all of them again
    (~0.2-0.3 s each, more than matching a host)."""
    generation = store.generation()
    cache_key = (str(store.path.resolve()), ecosystem)
    with _LOCK:
        cached = _CACHE.get(cache_key)
        if cached is None or cached[0] != generation:
            cached = (generation, EcosystemIndex.load(store, ecosystem))
            _CACHE[cache_key] = cached
            gc.freeze()
        return cached[1]


# -- one host ------------------------------------------------------------------------------


def _summary(vulns: list[dict], manager: str) -> dict:
    """Package-level view of ``vulns`` (sorted by id): the version that closes every
    fixable flaw, all ids, the worst KEV/EPSS/severity among them. The kernel of a host
    months behind has thousands of findings but few distinct fixed versions and
    severities: those are compared once each."""
    fixes = dict.fromkeys(v["fixed"] for v in vulns if v["fixed"])
    top = max((v for v in vulns if v["epss"]), key=lambda v: v["epss"]["score"], default=None)
    return {
        "fixed": max(fixes, key=lambda f: version_key(manager, f), default=None),
        "advisories": sorted({a for v in vulns for a in v["advisories"]}),
        "cves": [v["id"] for v in vulns if v["id"].startswith("CVE-")],
        "kev": [{"cve": v["id"], **v["kev"]} for v in vulns if v["kev"]],
        "epss": {"cve": top["id"], **top["epss"]} if top else None,
        "severity": max(
            dict.fromkeys(v["severity"] for v in vulns), key=severity_rank, default="unknown"
        ),
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
    """The ``vulnerable_packages`` document of one host (see ``hygie.facts.vulns``).

    Findings are listed once per source package and version, with the binary packages
    installed from it: libc6, libc-bin, libc-l10n... share glibc's flaws, and repeating them
    for each binary multiplied the document (and the time to build and store it) without
    saying anything more."""
    feeds = feed_versions(store, ecosystem)
    index = ecosystem_index(store, ecosystem)
    manager = index.manager
    installed = tuple(p for p in packages if p.installed)
    kernels = {r: p for p in installed if (r := kernel_release(p)) is not None}
    kernel_sources = _kernel_sources(kernels, manager)

    sources: dict[tuple[str, str], dict | None] = {}
    for p in installed:
        if p.source in kernel_sources:
            continue
        version = p.source_version if manager == "dpkg" else p.version
        source_key = (p.source, version)
        if source_key not in sources:
            vulns = index.vulnerabilities(p.source, version)
            sources[source_key] = {
                "source": p.source, "version": version, "packages": [],
                **_summary(vulns, manager), "vulnerabilities": vulns,
            } if vulns else None  # fmt: skip
        if entry := sources[source_key]:
            entry["packages"].append({"name": p.name, "arch": p.arch, "installed": p.version})
    vulnerable = [entry for _, entry in sorted(sources.items()) if entry]
    for entry in vulnerable:
        entry["packages"].sort(key=lambda b: (b["name"], b["arch"]))

    running = kernels.get(running_kernel)
    kernel_vulns = (
        index.vulnerabilities(_SIGNED.sub("", running.source) if manager == "dpkg"
                              else KERNEL_SOURCE[manager], running.version)
        if running else []
    )  # fmt: skip
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
        "sources": vulnerable,
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
