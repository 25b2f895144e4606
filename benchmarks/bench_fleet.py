"""Fleet audit throughput against lab hosts, next to the raw cost of SSH itself.

For N lab hosts (default 10 and 50) it prints, for the same hosts and the same number of
concurrent workers:
  raw    paramiko connect + auth + exec `true`  (the floor any SSH-based audit pays)
  hygie  a full audit with the health-baseline policy (collect, evaluate)
  engine the same engine with a one-check policy: the scanner's own overhead over raw SSH,
         without the time the collection commands themselves take on the target
with hosts/second, per-host latency (median, p95) and SSH connections and execs per host.

Run as root from the repository root:  python3 benchmarks/bench_fleet.py [N ...]
"""

from __future__ import annotations

import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import paramiko

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hygie.engine import EngineOptions, run_scan
from hygie.inventory import Target
from hygie.policy import Policy, load_policy
from hygie.transports.ssh import SshOptions
from tests.integration.fleet import hardened
from tests.lab import Lab


def bench_host(index: int):
    host = hardened(f"bench{index}")
    host.host_key_types = [("ed25519", 0)]
    return host


def raw_ssh(lab: Lab, names: list[str], workers: int) -> tuple[float, list[float]]:
    def one(name: str) -> float:
        start = time.monotonic()
        client = paramiko.SSHClient()
        client.load_host_keys(str(lab.known_hosts_path))
        client.connect(
            lab.address(name),
            username=lab.user,
            key_filename=str(lab.private_key_path),
            allow_agent=False,
            look_for_keys=False,
            timeout=30,
        )
        _, stdout, _ = client.exec_command("true")
        stdout.channel.recv_exit_status()
        client.close()
        return time.monotonic() - start

    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        latencies = list(pool.map(one, names))
    return time.monotonic() - start, latencies


def one_check_policy() -> Policy:
    base = load_policy("health-baseline")
    keep = base.selections["ssh_root_login"]
    return Policy("one-check", "1", "", base.sources, {keep.check_id: keep})


def audit(lab: Lab, names: list[str], workers: int, policy: Policy):
    targets = [
        Target(
            name=n,
            address=lab.address(n),
            user=lab.user,
            keys=(str(lab.private_key_path),),
            become="sudo",
        )
        for n in names
    ]
    options = EngineOptions(
        workers=workers,
        ssh=SshOptions(known_hosts=lab.known_hosts_path, ssh_config=None, use_agent=False),
    )
    start = time.monotonic()
    scan = run_scan(targets, policy, options)
    return time.monotonic() - start, scan


def describe(label: str, wall: float, latencies: list[float], n: int, extra: str = "") -> str:
    p95 = sorted(latencies)[max(0, int(len(latencies) * 0.95) - 1)]
    return (
        f"  {label:<6} {wall:7.2f} s wall  {n / wall:7.1f} hosts/s  "
        f"latency median {statistics.median(latencies) * 1000:7.0f} ms  "
        f"p95 {p95 * 1000:7.0f} ms{extra}"
    )


def main(sizes: list[int]) -> None:
    for n in sizes:
        hosts = [bench_host(i) for i in range(n)]
        built = time.monotonic()
        with Lab(hosts) as lab:
            print(f"N = {n} hosts (lab up in {time.monotonic() - built:.1f} s), workers = {n}")
            names = [h.name for h in hosts]
            with lab.in_scanner_ns():
                raw_audit(lab, names, n)  # warm-up: page cache, sshd first-run costs
                raw_wall, raw_lat = raw_ssh(lab, names, n)
                wall, scan = audit(lab, names, n, load_policy("health-baseline"))
                small_wall, small = audit(lab, names, n, one_check_policy())
            errors = [h.name for h in scan.hosts if h.error]
            conns = {h.connections for h in scan.hosts}
            execs = {h.execs for h in scan.hosts}
            facts = statistics.mean(len(h.facts) for h in scan.hosts)
            print(describe("raw", raw_wall, raw_lat, n))
            print(
                describe(
                    "hygie",
                    wall,
                    [h.duration for h in scan.hosts],
                    n,
                    f"  connections/host {conns} execs/host {execs}",
                )
            )
            print(
                describe(
                    "engine",
                    small_wall,
                    [h.duration for h in small.hosts],
                    n,
                    f"  ({len(small.hosts[0].facts)} facts per host)",
                )
            )
            print(
                f"  engine with one check / raw: {small_wall / raw_wall:.2f}x wall; "
                f"full audit / raw connect+exec: {wall / raw_wall:.2f}x wall; "
                f"{len(scan.results()) // n} checks and {facts:.0f} facts per host; "
                f"host errors: {errors or 'none'}"
            )


def raw_audit(lab: Lab, names: list[str], workers: int) -> None:
    raw_ssh(lab, names[: max(1, workers // 5)], workers)


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [10, 50])
