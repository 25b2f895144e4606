"""Derived fact: the host's installed packages matched against the vulnerability feeds.

Computed on the scanner after collection (and again on offline re-evaluation, against the
feeds loaded then), stored with the scan like any fact, so the checks stay pure functions
of facts and an auditor can see which feed versions a verdict rests on.

The document (JSON)::

    {"ecosystem": "Debian:12", "manager": "dpkg", "packages_checked": 612,
     "feeds": {"osv": {...as_of, sha256, file, imported}, "kev": {...} | null, "epss": ...},
     "sources": [{"source", "version" (the source version matched),
                  "packages": [{"name", "arch", "installed"}] (the binaries installed from it),
                  "fixed" (closes every fixable flaw) | null, "advisories", "cves",
                  "kev": [{"cve", "date_added", "due_date", "known_ransomware_campaign_use"}],
                  "epss": {"cve", "score", "percentile"} | null, "severity",
                  "vulnerabilities": [{"id", "advisories", "fixed", "last_affected",
                                       "severity", "summary", "kev", "epss"}]}],
     "kernel": {"running", "package", "version", "source", "installed_kernels", same
                summary fields, "vulnerabilities"}}

Deriving fails (the checks then report ``error``, never ``pass``) when no feed is loaded,
when the feeds lack the host's ecosystem, or when the package list is unavailable.
"""

from __future__ import annotations

from collections.abc import Mapping

import orjson

from hygie.facts.packages import (
    ecosystem_manager,
    osv_ecosystem,
    parse_dpkg_packages,
    parse_rpm_packages,
)
from hygie.facts.system import parse_os_release, parse_uname
from hygie.factspec import derived_fact
from hygie.feeds.index import Finding
from hygie.feeds.match import match_host, open_feeds
from hygie.feeds.store import feed_db_path
from hygie.model import Fact

VULNERABLE_PACKAGES = "vulnerable_packages"


def _text(facts: Mapping[str, Fact], name: str) -> str:
    fact = facts[name]
    if not fact.ok or fact.truncated:
        state = "truncated" if fact.truncated else f"exit status {fact.exit_status}"
        raise ValueError(f"{name} unavailable ({state}): packages cannot be matched")
    return fact.text


@derived_fact(
    VULNERABLE_PACKAGES,
    requires=("os_release", "uname", "packages_dpkg", "packages_rpm"),
    description="installed packages and running kernel matched against OSV advisories, "
    "with CISA KEV and FIRST EPSS, and the feed versions used",
)
def vulnerable_packages(facts: Mapping[str, Fact]) -> bytes:
    release = parse_os_release(_text(facts, "os_release"))
    ecosystem = osv_ecosystem(release)
    if ecosystem is None:
        raise ValueError(
            f"no OSV ecosystem for {release.pretty_name or release.id} (supported: Debian, "
            "Ubuntu, Rocky Linux, AlmaLinux)"
        )
    store = open_feeds(feed_db_path())
    try:
        if ecosystem_manager(ecosystem) == "dpkg":
            packages = parse_dpkg_packages(_text(facts, "packages_dpkg"))
        else:
            packages = parse_rpm_packages(_text(facts, "packages_rpm"))
        if not packages:
            raise ValueError("the package list is empty: nothing to match")
        running = parse_uname(_text(facts, "uname")).release
        report = match_host(store, ecosystem, packages, running)
    finally:
        store.close()
    return encode(report)


def encode(report: dict) -> bytes:
    """The fact's bytes: compact JSON, keys in the order ``match_host`` builds them (always
    the same: the bytes are deterministic; sorting every finding's keys cost a fifth of the
    encoding). orjson, because a host months behind has thousands of findings, each with
    its EPSS floats, and the json module took longer to encode them (~6 µs each, float
    formatting above all) than matching the whole host takes now. Each finding is written
    from the JSON encoded when it was built (``Finding.json``)."""
    return orjson.dumps(report, default=_fragment, option=orjson.OPT_PASSTHROUGH_SUBCLASS)


def _fragment(value: object) -> orjson.Fragment:
    """orjson passes subclasses of its types here (``OPT_PASSTHROUGH_SUBCLASS``), findings
    the only ones a document holds."""
    if isinstance(value, Finding):
        return value.json
    raise TypeError(f"{type(value).__name__} has no place in a vulnerable_packages document")
