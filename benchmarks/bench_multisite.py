"""Multi-site scanning overhead: what the broker adds per host, and runners vs in-process.

1. Dispatch + ingest overhead (no root needed): N network-only targets (``transport:
   none``, a policy of host checks only, so auditing one costs almost nothing and sends no
   packet) scanned in-process, then through a real redis-server on a Unix socket with one
   runner (``hygie worker``, a subprocess): publish, queue, runner, sign, result, verify,
   assemble. Overhead per host = (broker wall - in-process wall) / N. Goal: < 50 ms.
2. ``--lab`` (root): 2 runners x 24 lab hosts, each runner inside its own segment's
   namespace, against the same 48 hosts scanned in-process (health-baseline).

Run from the repository root:  python3 benchmarks/bench_multisite.py [N] [--lab]
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hygie.distributed.dispatch import BrokerScan, dispatch_scan
from hygie.distributed.ingest import RunnerKeys
from hygie.engine import EngineOptions, run_scan
from hygie.inventory import Target
from hygie.policy import load_policy
from hygie.signing import generate_key
from hygie.transports.ssh import SshOptions
from tests.integration.redis_server import Redis

HYGIE = [sys.executable, "-m", "hygie.cli"]


def start_runner(redis: Redis, site: str, root: Path, prefix: list[str], extra: list[str]):
    """A runner for ``site`` (``prefix``: e.g. ``ip netns exec NS``); waits until ready."""
    key = root / f"{site}.key"
    generate_key(key, None)
    (root / "runners" / site).mkdir(parents=True)
    (root / "runners" / site / "r.pub").write_bytes(key.with_suffix(".pub").read_bytes())
    log = root / f"{site}.log"
    env = dict(os.environ, HYGIE_SIGNING_KEY=str(key), PYTHONPATH=os.pathsep.join(sys.path))
    argv = [*prefix, *HYGIE, "worker", "--site", site, "--broker", redis.url, "--loglevel", "INFO"]
    with log.open("w") as out:
        proc = subprocess.Popen([*argv, *extra], env=env, stdout=out, stderr=out)
    deadline = time.monotonic() + 30
    while "ready." not in log.read_text():
        if time.monotonic() > deadline:
            raise SystemExit(f"runner {site} did not start:\n{log.read_text()}")
        time.sleep(0.1)
    return proc


def timed_broker_scan(targets, policy, redis: Redis, root: Path) -> tuple[float, object]:
    keys = RunnerKeys.load(root / "runners")
    start = time.monotonic()
    scan, refused = dispatch_scan(targets, policy, BrokerScan(redis.url, keys, 60, poll=0.02))
    assert not refused, refused
    return time.monotonic() - start, scan


def overhead(n: int) -> None:
    policy = load_policy("health-baseline")
    targets = [
        Target(f"t{i}", address="192.0.2.1", transport="none", site="bench") for i in range(n)
    ]
    start = time.monotonic()
    local = run_scan(targets, policy, EngineOptions(workers=8))
    local_wall = time.monotonic() - start
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        redis = Redis(root)
        redis.start()
        runner = start_runner(redis, "bench", root, [], ["--concurrency", "8"])
        try:
            timed_broker_scan(targets[:8], policy, redis, root)  # warm-up: imports, policy
            wall, scan = timed_broker_scan(targets, policy, redis, root)
        finally:
            runner.terminate()
            runner.wait(timeout=30)
            redis.stop()
    same = [h.results for h in scan.hosts] == [h.results for h in local.hosts]
    print(f"dispatch + ingest, {n} network-only hosts, 1 runner x 8 threads:")
    print(f"  in-process {local_wall:6.2f} s   through the broker {wall:6.2f} s")
    print(
        f"  overhead per host {(wall - local_wall) / n * 1000:6.1f} ms "
        f"(goal < 50 ms); wall per host {wall / n * 1000:6.1f} ms; same verdicts: {same}"
    )


def lab_comparison(per_site: int = 24) -> None:
    from tests.lab import Lab, LabHost

    policy = load_policy("health-baseline")
    sites = ("seg-a", "seg-b")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        labs = {s: Lab([LabHost(f"{s[-1]}{i}") for i in range(per_site)]) for s in sites}
        for lab in labs.values():
            lab.__enter__()
        redis = Redis(root)
        runners = []
        try:
            redis.start()
            targets = {s: _lab_targets(lab, s) for s, lab in labs.items()}
            for s, lab in labs.items():
                extra = ["--known-hosts", str(lab.known_hosts_path), "--ssh-config", "/dev/null"]
                extra += ["--concurrency", str(per_site)]
                prefix = ["ip", "netns", "exec", lab.scanner_ns]
                runners.append(start_runner(redis, s, root, prefix, extra))
            everyone = [t for s in sites for t in targets[s]]
            wall, scan = timed_broker_scan(everyone, policy, redis, root)
            local_wall = _in_process(labs, targets, policy)
        finally:
            for proc in runners:
                proc.terminate()
                proc.wait(timeout=30)
            redis.stop()
            for lab in labs.values():
                lab.close()
    errors = [h.name for h in scan.hosts if h.error]
    print(f"2 runners x {per_site} lab hosts (health-baseline): broker {wall:.1f} s wall")
    print(f"  the same {2 * per_site} hosts in-process (per segment, in turn): {local_wall:.1f} s")
    print(f"  host errors through the broker: {errors or 'none'}")


def _lab_targets(lab, site: str) -> list[Target]:
    keys = (str(lab.private_key_path),)
    return [
        Target(
            h.name, address=lab.address(h.name), user=lab.user, keys=keys, become="sudo", site=site
        )
        for h in lab.hosts
    ]


def _in_process(labs, targets, policy) -> float:
    """One scanner reaches one segment: each segment's hosts in-process from its own
    namespace, one after the other (48 workers' worth of threads, as the runners had)."""
    total = 0.0
    for site, lab in labs.items():
        ssh = SshOptions(known_hosts=lab.known_hosts_path, ssh_config=None)
        with lab.in_scanner_ns():
            start = time.monotonic()
            run_scan(targets[site], policy, EngineOptions(workers=len(targets[site]), ssh=ssh))
            total += time.monotonic() - start
    return total


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--lab"]
    overhead(int(args[0]) if args else 200)
    if "--lab" in sys.argv:
        lab_comparison()
