"""Match one host's installed packages against the loaded feeds.

The advisories of an ecosystem are indexed once per feed import (``hygie.feeds.index``);
a host then costs one version key per installed source version, a bisection, and reading
what the index laid out.

Debian and Ubuntu advisories name source packages and source versions, RHEL-family ones
source RPMs (whose epoch:version-release is the binary's). Binary packages built from the
kernel's source are judged once, through the RUNNING kernel: an old kernel image left
installed beside the booted one is not what runs, and it is never "upgraded" (each ABI is
its own package), so listing it as "update to X" would be wrong advice.
"""

from __future__ import annotations

import gc
import re
import threading
from operator import itemgetter
from pathlib import Path

from hygie.facts.packages import Package, kernel_release
from hygie.feeds.index import NO_MATCH, ecosystem_index
from hygie.feeds.store import FeedMissing, FeedStore

#: the OSV package name of the kernel, per package manager
KERNEL_SOURCE = {"dpkg": "linux", "rpm": "kernel"}
_BINARY_ORDER = itemgetter("name", "arch")
_SIGNED = re.compile(r"-signed(?:-(?:amd64|arm64|armhf|i386|ppc64el|riscv64|s390x))?(?=-|$)")


def _kernel_sources(kernels: dict[str, Package], manager: str) -> set[str]:
    """Source packages that build kernel images here (Debian: linux, linux-signed-amd64)."""
    sources = {KERNEL_SOURCE[manager]}
    for p in kernels.values():
        sources |= {p.source, _SIGNED.sub("", p.source)}
    return sources


class _CollectorPause:
    """Holds the cyclic garbage collector off while documents are built.

    A host's document is some ten thousand new containers (a dict per binary package, a
    list and a dict per vulnerable source...), none part of a cycle. Every 700 of them set
    the collector off, which walked everything still young each time (the document so far,
    the host's package list) and the older generations every tenth and hundredth time:
    5-7 ms of a host months behind. Paused, it runs once afterwards. Hosts are matched on
    the engine's threads: a count under a lock resumes it when the last overlapping host
    is done, and only if it was running before the first began."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._depth = 0
        self._resume = False

    def __enter__(self) -> None:
        with self._lock:
            if not self._depth:
                self._resume = gc.isenabled()
                gc.disable()
            self._depth += 1

    def __exit__(self, *exc_info: object) -> None:
        with self._lock:
            self._depth -= 1
            if not self._depth and self._resume:
                gc.enable()


_COLLECTOR_PAUSE = _CollectorPause()


def match_host(
    store: FeedStore, ecosystem: str, packages: tuple[Package, ...], running_kernel: str
) -> dict:
    """The ``vulnerable_packages`` document of one host (see ``hygie.facts.vulnerabilities``).

    Findings are listed once per source package and version, with the binary packages
    installed from it: libc6, libc-bin, libc-l10n... share glibc's flaws, and repeating them
    for each binary multiplied the document (and the time to build and store it) without
    saying anything more."""
    with _COLLECTOR_PAUSE:
        return _document(store, ecosystem, packages, running_kernel)


def _document(
    store: FeedStore, ecosystem: str, packages: tuple[Package, ...], running_kernel: str
) -> dict:
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
            found = index.match(p.source, version)
            sources[source_key] = (
                {
                    "source": p.source,
                    "version": version,
                    "packages": [],
                    **found.summary,
                    "vulnerabilities": found.vulns,
                }
                if found.vulns
                else None
            )
        if entry := sources[source_key]:
            entry["packages"].append({"name": p.name, "arch": p.arch, "installed": p.version})
    vulnerable = [entry for _, entry in sorted(sources.items()) if entry]
    for entry in vulnerable:
        entry["packages"].sort(key=_BINARY_ORDER)

    running = kernels.get(running_kernel)
    kernel_found = (
        index.match(
            _SIGNED.sub("", running.source) if manager == "dpkg" else KERNEL_SOURCE[manager],
            running.version,
        )
        if running
        else NO_MATCH
    )
    kernel = {
        "running": running_kernel,
        "package": running.name if running else None,
        "version": running.version if running else None,
        "source": running.source if running else None,
        "installed_kernels": sorted(p.name for p in kernels.values()),
        **kernel_found.summary,
        "vulnerabilities": kernel_found.vulns,
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
