"""nmap phase time per host: the discovery scan plus the bounded per-port version runs.

For N lab hosts (default 1, 10, 50), each running sshd (port 22), prints the
time of the `nmap_services` probe per host (median, max) when the hosts are probed one at a
time and when they are probed concurrently as a scan does, and the number of nmap runs
per host (one discovery run, then one -sV run per open port). A service that answers nmap's
probes slowly costs up to the per-port limit (`network: {version_timeout: ...}`, 30 s).

Run as root from the repository root:  python3 benchmarks/bench_network.py [N ...]
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hygie.engine import probe_facts
from hygie.factspec import all_facts
from hygie.inventory import Target
from tests.lab import Lab, LabHost


def probe(lab: Lab, name: str) -> tuple[float, int]:
    spec = all_facts()["nmap_services"]
    target = Target(name=name, address=lab.address(name), transport="none")
    start = time.monotonic()
    fact = probe_facts(target, [spec], {}, time.monotonic() + 300)["nmap_services"]
    elapsed = time.monotonic() - start
    if not fact.ok:
        raise RuntimeError(f"{name}: {fact.stderr_text}")
    return elapsed, len(json.loads(fact.stdout)["runs"])


def main(sizes: list[int]) -> None:
    for n in sizes:
        hosts = [LabHost(f"net{i}", host_key_types=[("ed25519", 0)]) for i in range(n)]
        with Lab(hosts) as lab, lab.in_scanner_ns():
            names = [h.name for h in hosts]
            alone = [probe(lab, name) for name in names]
            start = time.monotonic()
            with ThreadPoolExecutor(max_workers=n) as pool:
                together = list(pool.map(lambda name: probe(lab, name), names))
            wall = time.monotonic() - start
        print(f"N = {n} hosts (port 22 open on each)")
        for label, runs in (("one at a time", alone), ("concurrently", together)):
            times = [t for t, _ in runs]
            counts = sorted({r for _, r in runs})
            print(
                f"  {label:<14} nmap phase per host: median {statistics.median(times):5.2f} s, "
                f"max {max(times):5.2f} s; nmap runs per host {counts}"
            )
        print(f"  concurrent wall time for the {n} hosts: {wall:.2f} s")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [1, 10, 50])
