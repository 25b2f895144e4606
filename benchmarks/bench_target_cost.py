"""What an audit costs the audited hosts and the scanner, next to a bare SSH login.

For N namespace lab hosts (default 10 and 48) in one run, each with this machine's real
dpkg database and apt lists (what a Debian server carries), it prints for a bare paramiko
login (connect + auth + ``true``, benchmarks/bench_fleet.py's ``raw_ssh``) and for hygie's
full default audit:

  wall        for the whole fleet, all hosts in flight at once
  target CPU  per host, measured on the targets: each lab host's PID 1 is its sshd
              listener, which reaps every session's sshd, which reaps the session's shell,
              sudo and every command under them, so the session's whole process tree ends
              in the listener's cutime + cstime (/proc/<pid>/stat), read before and after
              the run (sessions not yet reaped are waited for)
  scanner CPU per host: getrusage(RUSAGE_SELF) of this process around the run (the scan
              runs in-process), divided by N

then the target cost of the pending-updates collection before and after issue 14 (``apt-get
-s dist-upgrade`` against the ``apt_package_lists`` snippet, each run once inside a host,
its CPU from getrusage(RUSAGE_CHILDREN) of the nsenter child); the scanner's peak memory with
1,000 hosts in flight (simulated targets replaying one real collection, every host held
open at once by 1,000 workers); and the store's growth per 1,000-host scan
(benchmarks/synthetic.py's scan saved into a fresh store).

Run as root from the repository root:  python3 benchmarks/bench_target_cost.py [N ...]
The figures are only as quiet as the machine: on a shared machine, say so with them.
"""

from __future__ import annotations

import contextlib
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_fleet import audit, raw_ssh
from hygie import engine
from hygie.engine import EngineOptions, run_scan
from hygie.facts.packages import APT_PACKAGE_LISTS
from hygie.inventory import Target
from hygie.policy import load_policy
from hygie.transports.base import ExecResult
from hygie.transports.local import LocalTransport
from tests.integration.fleet import dpkg_status_with
from tests.lab import Lab, LabHost

TICK = os.sysconf("SC_CLK_TCK")
OLD_APT = (
    "LC_ALL=C apt-get -s -o Debug::NoLocking=1 -o Dir::Cache::pkgcache= "
    "-o Dir::Cache::srcpkgcache= dist-upgrade >/dev/null"
)


def debian_host(index: int) -> LabHost:
    host = LabHost(f"cost{index}", files={"/var/lib/dpkg/status": dpkg_status_with()})
    host.host_key_types = [("ed25519", 0)]
    return host


def session_cpu(lab: Lab, names: list[str]) -> dict[str, float]:
    """CPU seconds of every reaped descendant of each host's sshd listener, plus its own."""
    cpu = {}
    for name in names:
        fields = Path(f"/proc/{lab.host_pid(name)}/stat").read_text().rpartition(")")[2].split()
        cpu[name] = sum(int(f) for f in fields[11:15]) / TICK  # utime stime cutime cstime
    return cpu


def measured(lab: Lab, names: list[str], run) -> tuple[float, float, float]:
    """(wall, target CPU per host, scanner CPU per host) of ``run()``."""
    before, self_before = session_cpu(lab, names), resource.getrusage(resource.RUSAGE_SELF)
    start = time.monotonic()
    run()
    wall = time.monotonic() - start
    self_after = resource.getrusage(resource.RUSAGE_SELF)
    time.sleep(1.0)  # let each listener reap its last session's sshd
    after = session_cpu(lab, names)
    target = sum(after[n] - before[n] for n in names) / len(names)
    scanner = (self_after.ru_utime + self_after.ru_stime) - (
        self_before.ru_utime + self_before.ru_stime
    )
    return wall, target, scanner / len(names)


def child_cpu(argv: list[str]) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(argv, check=False, capture_output=True, timeout=600)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def fleet_figures(n: int) -> None:
    hosts = [debian_host(i) for i in range(n)]
    with Lab(hosts) as lab:
        names = [h.name for h in hosts]
        policy = load_policy()
        print(f"N = {n} Debian hosts, workers = {n}, policy {policy.name}")
        with lab.in_scanner_ns():
            raw_ssh(lab, names[: max(1, n // 5)], n)  # warm-up
            raw = measured(lab, names, lambda: raw_ssh(lab, names, n))
            scans = []
            full = measured(lab, names, lambda: scans.append(audit(lab, names, n, policy)[1]))
        errors = [h.name for h in scans[0].hosts if h.error]
        for label, (wall, target, scanner) in (("raw", raw), ("hygie", full)):
            print(
                f"  {label:<6} {wall:7.2f} s wall  target CPU/host {target:6.3f} s  "
                f"scanner CPU/host {scanner:6.3f} s"
            )
        print(
            f"  hygie / raw: wall {full[0] / raw[0]:.2f}x, scanner CPU {full[2] / raw[2]:.2f}x; "
            f"host errors: {errors or 'none'}"
        )
        pid = str(lab.host_pid(names[0]))
        enter = ["nsenter", "-t", pid, "-m", "-u", "-p", "--", "sh", "-c"]
        old = child_cpu([*enter, OLD_APT])
        new = child_cpu([*enter, APT_PACKAGE_LISTS.command + " >/dev/null"])
        print(
            f"  pending updates on one target: apt-get -s {old:.3f} s CPU, lists {new:.3f} s; "
            f"audit before issue 14 (apt-get -s in place of the lists) ~"
            f"{full[1] - new + old:.2f} s target CPU/host"
        )


class ReplayTransport:
    """A target that answers the collection script with one recorded answer after
    ``delay`` seconds: every host stays in flight while the others are collected."""

    def __init__(self, answer: ExecResult, delay: float, gate: threading.Barrier):
        self.answer, self.delay, self.gate = answer, delay, gate
        self.connections = self.execs = 0
        self.where = "replay"

    def connect(self) -> None:
        self.connections += 1

    def run(self, command, stdin, timeout, max_bytes, header=None) -> ExecResult:
        self.execs += 1
        with contextlib.suppress(threading.BrokenBarrierError):  # the last ones released
            self.gate.wait(timeout=self.delay)
        return self.answer

    def close(self) -> None:
        pass


def recorded_answer() -> ExecResult:
    """One real collection of this machine (the local transport), as the replay answer."""
    answers: list[ExecResult] = []
    original = LocalTransport.run

    def record(self, *args, **kwargs):
        answers.append(original(self, *args, **kwargs))
        return answers[-1]

    LocalTransport.run = record
    try:
        run_scan([Target(name="local", transport="local")], load_policy(), EngineOptions())
    finally:
        LocalTransport.run = original
    return answers[-1]


def peak_memory(hosts: int = 1000) -> None:
    answer = recorded_answer()
    gate = threading.Barrier(hosts)
    targets = [Target(name=f"sim{i}", address="127.0.0.1") for i in range(hosts)]
    original = engine._transport
    engine._transport = lambda *args: ReplayTransport(answer, 120.0, gate)
    original_resolve = engine.resolve_target
    engine.resolve_target = lambda target, options: original_resolve(
        Target(name=target.name, address="127.0.0.1", transport="local"), options
    )
    try:
        start = time.monotonic()
        scan = run_scan(targets, load_policy(), EngineOptions(workers=hosts))
    finally:
        engine._transport, engine.resolve_target = original, original_resolve
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{hosts} simulated hosts in flight ({len(answer.stdout) // 1024} KiB of output each): "
        f"{time.monotonic() - start:.1f} s, peak RSS {peak:.0f} MiB, "
        f"errors {sum(1 for h in scan.hosts if h.error)}"
    )


def store_growth(hosts: int = 1000) -> None:
    from benchmarks.synthetic import synthetic_scan
    from hygie.store import Store

    scan, _ = synthetic_scan(hosts)
    with tempfile.TemporaryDirectory() as work:
        path = Path(work) / "hygie.db"
        store = Store(path)
        store.save(scan)
        first = sum(p.stat().st_size for p in Path(work).iterdir())
        scan2, _ = synthetic_scan(hosts, seed=1)
        store.save(scan2)
        store.close()
        second = sum(p.stat().st_size for p in Path(work).iterdir())
    print(
        f"store: a {hosts}-host scan adds {(second - first) / 2**20:.1f} MiB "
        f"(first scan {first / 2**20:.1f} MiB)"
    )


def main(sizes: list[int]) -> None:
    print("caveat: a shared, noisy machine; figures are indicative")
    for n in sizes:
        fleet_figures(n)
    store_growth()
    peak_memory()  # last: its peak RSS is this process's peak


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [10, 48])
