"""Vulnerability matching cost per host once the feeds are loaded.

Builds a synthetic Debian:12-style feed of >= 50,000 OSV ranges (a kernel source with
10,000 of them, as Debian's real feed has; 40,000 spread over 4,000 other sources: most
``introduced 0 / fixed +debNuM``, a tenth unfixed since a later revision, versions with
and without epochs), imports it with the real KEV catalog and an EPSS score for every CVE,
then matches 3,000-package inventories: 1,500 source packages installed, every one of
them with advisories in the feed, at revisions +deb12u8..u16 against fixes in u1..u12 (a
host some months behind: ~1,850 findings of source packages, ~3,700 counted per binary
package), and a running kernel somewhere in the kernel advisories' range (hundreds to
thousands of kernel CVEs open). Prints:
  import   parse + store the feeds (once per feed update)
  load     build the in-memory index of the ecosystem (once per scan process)
  host     match one inventory, the fact's bytes included: first host (cold version keys
           and matches) and the median of the next ones (a fleet repeats most versions),
           wall clock and CPU time; findings are counted once per source package

Run from the repository root:  python3 benchmarks/bench_vuln_match.py [HOSTS]
"""

from __future__ import annotations

import gzip
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hygie.facts.packages import Package
from hygie.facts.vulnerabilities import encode
from hygie.feeds import index as indexing
from hygie.feeds.index import ecosystem_index
from hygie.feeds.match import match_host, open_feeds
from hygie.feeds.store import FeedStore
from hygie.feeds.versions import version_key

ECOSYSTEM = "Debian:12"
KEV = (
    Path(__file__).resolve().parents[2]
    / "shared/data/cisa-kev/known_exploited_vulnerabilities.json"
)
SOURCES, INSTALLED, PER_SOURCE, KERNEL_RANGES = 4000, 1500, 10, 10_000


def version(rng: random.Random, base: int, update: int) -> str:
    epoch = "1:" if base % 7 == 0 else ""
    return f"{epoch}{base % 13}.{base % 29}.{base % 5}-{1 + base % 3}+deb12u{update}"


def synthetic_osv(rng: random.Random) -> list[dict]:
    records, cve = [], 100_000
    for s in range(SOURCES):
        for r in range(PER_SOURCE):
            cve += 1
            events = [{"introduced": "0"}]
            if r % 10 == 9:
                events = [{"introduced": version(rng, s, rng.randint(8, 20))}]  # no fix
            else:
                events.append({"fixed": version(rng, s, rng.randint(1, 12))})
            records.append(_record(f"DEBIAN-CVE-2099-{cve}", f"src{s}", events, cve))
    for _ in range(KERNEL_RANGES):
        cve += 1
        events = [{"introduced": "0"}, {"fixed": f"6.1.{rng.randint(50, 160)}-1"}]
        records.append(_record(f"DEBIAN-CVE-2099-{cve}", "linux", events, cve))
    return records


def _record(osv_id: str, package: str, events: list[dict], cve: int) -> dict:
    return {
        "id": osv_id,
        "modified": "2026-11-28T00:00:00Z",
        "upstream": [f"CVE-2099-{cve}"],
        "affected": [
            {
                "package": {"ecosystem": ECOSYSTEM, "name": package},
                "ranges": [{"type": "ECOSYSTEM", "events": events}],
            }
        ],
    }


def inventory(rng: random.Random, lowest_update: int, kernel_patch: tuple[int, int]):
    packages = []
    for s in range(INSTALLED):
        v = version(rng, s, rng.randint(lowest_update, 16))
        packages += [Package(f"lib{s}-{i}", v, "amd64", "ii", f"src{s}", v) for i in (1, 2)]
    kernel = f"6.1.{rng.randint(*kernel_patch)}-1"
    image = Package(
        "linux-image-6.1.0-9-amd64", kernel, "amd64", "ii", "linux-signed-amd64", kernel
    )
    return (*packages[:2999], image)


#: (label, lowest installed +deb12uN, running kernel's patch level range)
PROFILES = (
    ("behind", 8, (50, 160)),  # ~3,600 package findings, hundreds to thousands of kernel CVEs
    ("patched", 12, (160, 170)),  # at or above every fix: only the unfixed flaws remain
)


def run_hosts(store: FeedStore, fleet: Iterator) -> tuple[list[float], list[float], list[int]]:
    """One inventory at a time, as a scan parses each host's packages when it reaches it."""
    # the first host pays for every key of its inventory (from the upstream and revision
    # parts the index load left cached, as a scan's first host does) and for every match
    version_key.cache_clear()
    index = ecosystem_index(store, ECOSYSTEM)
    index.matched.clear()
    for ranges in index.ranges.values():
        ranges.matched.clear()
    times, cpu, found = [], [], []
    for packages in fleet:
        started, started_cpu = time.perf_counter(), time.process_time()
        report = match_host(store, ECOSYSTEM, packages, "6.1.0-9-amd64")
        encode(report)  # the fact's bytes
        times.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
        found.append(
            sum(len(s["vulnerabilities"]) for s in report["sources"])
            + len(report["kernel"]["vulnerabilities"])
        )
    return times, cpu, found


def main() -> None:
    hosts = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    rng = random.Random(5)
    with tempfile.TemporaryDirectory() as tmp:
        osv, epss, db = Path(tmp) / "osv.json", Path(tmp) / "epss.csv.gz", Path(tmp) / "h.db"
        records = synthetic_osv(rng)
        osv.write_text(json.dumps(records))
        cves = [c for r in records for c in r["upstream"]]
        with gzip.open(epss, "wt") as f:
            f.write("#model_version:v2025.03.14,score_date:2026-11-28T00:00:00Z\n")
            f.write("cve,epss,percentile\n")
            f.writelines(f"{c},{rng.random():.5f},{rng.random():.5f}\n" for c in cves)
        started = time.perf_counter()
        store = FeedStore(db)
        for path in (osv, epss, KEV) if KEV.exists() else (osv, epss):
            store.import_path(path)
        store.close()
        imported = time.perf_counter() - started

        store = open_feeds(db)
        version_key.cache_clear()
        started = time.perf_counter()
        index = ecosystem_index(store, ECOSYSTEM)
        loaded = time.perf_counter() - started
        ranges = sum(len(r.bounds) + len(r.other) for r in index.ranges.values())
        print(f"feed: {ranges} OSV ranges ({len(records)} advisories), {len(cves)} EPSS scores")
        print(f"inventory: 3000 packages from {INSTALLED} sources, with a kernel image")
        print(f"import   {imported:8.2f} s")
        print(f"load     {loaded * 1000:8.1f} ms (once per scan process)")
        for label, lowest, kernel in PROFILES:
            fleet = (inventory(rng, lowest, kernel) for _ in range(hosts))
            times, cpu, found = run_hosts(store, fleet)
            wall, cpu_ms = statistics.median(times[1:] or times), statistics.median(cpu[1:] or cpu)
            print(
                f"{label:<8} {statistics.median(found):6.0f} findings/host; per host: first "
                f"{times[0]:.1f} ms (cold keys), median {wall:.1f} ms wall / {cpu_ms:.1f} ms "
                f"CPU, max {max(times):.1f} ms"
            )
        store.close()
    assert indexing._CACHE, "the index must be cached across hosts"


if __name__ == "__main__":
    main()
