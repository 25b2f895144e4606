"""The in-memory index a host's packages are matched against: one per OSV ecosystem, built
once per feed import, shared by every host of a scan.

Matching a host must cost what the host has open, not what the feed holds: a kernel has
some 10,000 advisory ranges, and a host months behind thousands of open CVEs on it alone.
So everything that does not depend on the host is done when the index is built:

- every range's findings (one per CVE its advisory names, else one under the advisory's
  id) are built with their KEV entry and EPSS score, and shared by every host they concern;
- the ranges "every version before ``fixed``" (nearly all distribution advisories) are
  sorted by fixed version: a version is affected by those whose fixed version is above it,
  a suffix found by bisection, and the findings, worst severity, highest EPSS and KEV
  entries of each suffix are laid out so that a host reads them instead of computing them;
- every other shape (introduced later, last_affected, no fix) is tested one by one;
- matches are kept, by source version and by what they depend on, for the next hosts.
"""

from __future__ import annotations

import gc
import json
import threading
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from operator import itemgetter

import orjson

from hygie.facts.packages import ecosystem_manager
from hygie.feeds.osv import severity_rank
from hygie.feeds.store import FeedStore
from hygie.feeds.versions import VersionKey, version_key

_ID = itemgetter("id")
_NO_THREAT = {"kev": None, "epss": None}


class Finding(dict):
    """One flaw as the fact lists it (see ``hygie.facts.vulnerabilities``), built with the index and
    shared by every host it concerns, never modified afterwards. ``json``: its JSON,
    encoded once when it is built (some µs a finding, a fraction of loading the index) and
    copied as is into every document that lists it: a host months behind lists thousands,
    and encoding them anew (keys, KEV dates, EPSS floats) took about a third of its time."""

    __slots__ = ("json",)

    @classmethod
    def of(cls, fields: dict) -> Finding:
        finding = cls(fields)
        finding.json = orjson.Fragment(orjson.dumps(fields))
        return finding


@dataclass(frozen=True, slots=True)
class IndexedRange:
    introduced: VersionKey | None
    fixed: VersionKey | None
    last_affected: VersionKey | None
    findings: tuple[Finding, ...]

    @property
    def simple(self) -> bool:
        """Every version before ``fixed``."""
        return self.introduced is None and self.fixed is not None

    def contains(self, key: VersionKey) -> bool:
        if self.introduced is not None and key < self.introduced:
            return False
        if self.fixed is not None:
            return key < self.fixed
        if self.last_affected is not None:
            return key <= self.last_affected
        return True


def _merge(manager: str, finding: Finding, later: Finding) -> Finding:
    """One flaw named by two advisories (a DSA and the tracker's DEBIAN-CVE record)."""
    fixes = [f for f in (finding["fixed"], later["fixed"]) if f is not None]
    last_affected = later["last_affected"]
    return Finding.of(
        finding
        | {
            "advisories": sorted({*finding["advisories"], *later["advisories"]}),
            # two advisories fix it: the later fix closes both
            "fixed": max(fixes, key=lambda f: version_key(manager, f)) if fixes else None,
            "last_affected": finding["last_affected"] if last_affected is None else last_affected,
            "severity": max(finding["severity"], later["severity"], key=severity_rank),
        }
    )


def _best_epss(findings: Iterable[Finding]) -> Finding | None:
    """The finding most likely to be exploited (the first id on a tie)."""
    scored = (f for f in findings if f["epss"])
    return min(scored, key=lambda f: (-f["epss"]["score"], f["id"]), default=None)


@dataclass(frozen=True, slots=True)
class Match:
    """What one source package at one version has open: ``vulns`` sorted by id, and the
    package-level ``summary`` (see ``hygie.facts.vulnerabilities``)."""

    vulns: list[Finding]
    summary: dict

    @classmethod
    def of(
        cls,
        vulns: list[Finding],
        fixed: str | None,
        kev: list[Finding],
        top: Finding | None,
        severity: str,
    ) -> Match:
        return cls(
            vulns,
            {
                "fixed": fixed,
                "advisories": sorted({a for v in vulns for a in v["advisories"]}),
                "cves": [v["id"] for v in vulns if v["id"].startswith("CVE-")],
                "kev": [{"cve": f["id"], **f["kev"]} for f in kev],
                "epss": {"cve": top["id"], **top["epss"]} if top else None,
                "severity": severity,
            },
        )


NO_MATCH = Match.of([], None, [], None, "unknown")


@dataclass(frozen=True, slots=True)
class PackageRanges:
    """The ranges of one source package. ``bounds``: the fixed versions of the simple
    ranges, ascending; a version below ``bounds[start]`` is affected by the simple ranges
    from ``start`` on. ``by_id``: their findings sorted by id as (prev, position, finding),
    where finding merges every simple range naming its id from ``position`` on and applies
    when ``prev < start <= position`` (``prev``: the position of the id's range before, or
    -1), so a suffix's findings are one filter away, each id once. ``worst`` and ``top``:
    the worst severity and the highest EPSS of each suffix. ``shared``: the ids that both a
    simple and another range name (their findings are merged when both match).

    ``matched``: the matches made so far, by what they depend on: the suffix and which
    other ranges apply. Most versions of a fleet fall into few of these classes (every
    version above the last fix, for one), so after the first hosts a source package costs
    a bisection and a look-up."""

    manager: str
    bounds: tuple[VersionKey, ...]
    last_fixed: str | None
    by_id: tuple[tuple[int, int, Finding], ...]
    kev: tuple[tuple[int, int, Finding], ...]
    worst: tuple[str, ...]
    top: tuple[Finding | None, ...]
    other: tuple[IndexedRange, ...]
    shared: frozenset[str]
    matched: dict[tuple[int, tuple[int, ...]], Match] = field(default_factory=dict)

    @classmethod
    def build(cls, manager: str, ranges: list[IndexedRange]) -> PackageRanges:
        # ascending; equal fixed versions in reverse feed order, so that matching order
        # (the newest fix first) keeps them in feed order
        simple = sorted([r for r in ranges if r.simple][::-1], key=lambda r: r.fixed)
        other = tuple(r for r in ranges if not r.simple)
        named: dict[str, list[tuple[int, Finding]]] = defaultdict(list)
        for position, rng in enumerate(simple):
            for finding in rng.findings:
                named[finding["id"]].append((position, finding))
        by_id = []
        for name in sorted(named):
            entries = named[name]
            merged = entries[-1][1]  # matching order: the newest fix first
            for i in range(len(entries) - 1, -1, -1):
                position, finding = entries[i]
                if i < len(entries) - 1:
                    merged = _merge(manager, merged, finding)
                by_id.append((entries[i - 1][0] if i else -1, position, merged))
        by_id.sort(key=lambda e: (e[2]["id"], e[1]))
        worst, top = ["unknown"] * (len(simple) + 1), [None] * (len(simple) + 1)
        for position in range(len(simple) - 1, -1, -1):
            findings = simple[position].findings
            severities = (worst[position + 1], *(f["severity"] for f in findings))
            worst[position] = max(severities, key=severity_rank)
            best = [f for f in (top[position + 1], *findings) if f is not None]
            top[position] = _best_epss(best)
        other_ids = {f["id"] for r in other for f in r.findings}
        return cls(
            manager=manager,
            bounds=tuple(r.fixed for r in simple),
            last_fixed=simple[-1].findings[0]["fixed"] if simple else None,
            by_id=tuple(by_id),
            kev=tuple(e for e in by_id if e[2]["kev"]),
            worst=tuple(worst),
            top=tuple(top),
            other=other,
            shared=frozenset(other_ids & named.keys()),
        )

    def match(self, key: VersionKey) -> Match:
        start = bisect_right(self.bounds, key)
        hits = tuple(i for i, rng in enumerate(self.other) if rng.contains(key))
        found = self.matched.get((start, hits))
        if found is None:  # threads racing here store equal values
            found = self.matched[start, hits] = self._match(start, hits)
        return found

    def _match(self, start: int, hits: tuple[int, ...]) -> Match:
        vulns = [f for prev, pos, f in self.by_id if prev < start <= pos]
        kev = [f for prev, pos, f in self.kev if prev < start <= pos]
        worst, top = self.worst[start], self.top[start]
        extra: dict[str, Finding] = {}
        for f in (f for i in hits for f in self.other[i].findings):
            seen = extra.get(f["id"])
            extra[f["id"]] = f if seen is None else _merge(self.manager, seen, f)
        if not extra:
            return Match.of(vulns, self.last_fixed, kev, top, worst) if vulns else NO_MATCH
        if self.shared.isdisjoint(extra):
            vulns = sorted([*vulns, *extra.values()], key=_ID)
        else:  # a flaw both kinds of range name: one finding, merged in matching order
            merged = {f["id"]: f for f in vulns}
            for name, f in extra.items():
                merged[name] = _merge(self.manager, merged[name], f) if name in merged else f
            vulns = [merged[name] for name in sorted(merged)]
        found = extra.values()
        fixes = [self.last_fixed] if start < len(self.bounds) else []
        fixes += [f["fixed"] for f in found if f["fixed"]]
        return Match.of(
            vulns,
            max(fixes, key=lambda f: version_key(self.manager, f), default=None),
            sorted({f["id"]: f for f in [*kev, *(f for f in found if f["kev"])]}.values(), key=_ID),
            _best_epss([f for f in (top, *found) if f is not None]),
            max((worst, *(f["severity"] for f in found)), key=severity_rank),
        )


def _threats(store: FeedStore, names: set[str]) -> dict[str, dict]:
    """CVE -> its KEV entry and EPSS score as findings show them (None when absent)."""
    kev, epss = store.kev(names), store.epss(names)
    return {
        name: {
            "kev": {"date_added": k[0], "due_date": k[1], "known_ransomware_campaign_use": k[2]}
            if (k := kev.get(name))
            else None,
            "epss": {"score": e[0], "percentile": e[1]} if (e := epss.get(name)) else None,
        }
        for name in kev.keys() | epss.keys()
    }


@dataclass(frozen=True)
class EcosystemIndex:
    """``matched``: the match of every source version seen so far (a fleet repeats them:
    one point release, one kernel), which spares the next hosts even the version's key."""

    ecosystem: str
    manager: str
    ranges: dict[str, PackageRanges]
    matched: dict[tuple[str, str], Match] = field(default_factory=dict)

    @classmethod
    def load(cls, store: FeedStore, ecosystem: str) -> EcosystemIndex:
        manager = ecosystem_manager(ecosystem) or "dpkg"

        def key(v: str | None) -> VersionKey | None:
            return None if v is None else version_key(manager, v)

        advisories = {
            adv: (tuple(json.loads(cves)) or (adv,), severity, summary)
            for adv, cves, severity, summary in store.advisories(ecosystem)
        }
        threats = _threats(store, {n for names, _, _ in advisories.values() for n in names})
        grouped: dict[str, list[IndexedRange]] = defaultdict(list)
        for package, advisory, intro, fixed, last in store.ranges(ecosystem):
            names, severity, summary = advisories.get(advisory, ((advisory,), "unknown", ""))
            findings = tuple(
                Finding.of(
                    {
                        "id": name,
                        "advisories": [advisory],
                        "fixed": fixed,
                        "last_affected": last,
                        "severity": severity,
                        "summary": summary,
                        **threats.get(name, _NO_THREAT),
                    }
                )
                for name in names
            )
            grouped[package].append(IndexedRange(key(intro), key(fixed), key(last), findings))
        ranges = {p: PackageRanges.build(manager, found) for p, found in grouped.items()}
        return cls(ecosystem, manager, ranges)

    def match(self, package: str, version: str) -> Match:
        """What ``package`` (a source package) at ``version`` has open. The findings and
        summary are the index's own, shared by every host they concern: read and encode
        them, never modify them."""
        found = self.matched.get((package, version))
        if found is None:  # threads racing here store the same value
            ranges = self.ranges.get(package)
            found = ranges.match(version_key(self.manager, version)) if ranges else NO_MATCH
            self.matched[package, version] = found
        return found


_CACHE: dict[tuple[str, str], tuple[int, EcosystemIndex]] = {}
_LOCK = threading.Lock()


def ecosystem_index(store: FeedStore, ecosystem: str) -> EcosystemIndex:
    """The cached index, rebuilt when a feed was imported since it was built.

    A built index is frozen out of the cyclic garbage collector: it holds hundreds of
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
