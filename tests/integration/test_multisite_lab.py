"""Multi-site scanning with real parts: a real redis-server (Unix socket only, data in a
temporary directory), two segments as two labs with their own hosts, a runner (``hygie
worker``) inside each segment's scanner namespace, and the central ``hygie scan --broker``
in a third namespace with no route to either. Unix sockets cross network namespaces, so
the runners and the central reach Redis with no route at all.

Checked: the merged scan gives the verdicts of scanning each segment locally, with the site
of each host in the report; no secret ever appears in Redis; a runner killed mid-scan and
restarted, and a Redis restart mid-scan, leave every host there exactly once; forged
results are refused and reported; a site with no runner ends ``error`` within its bound.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from hygie.signing import generate_key
from tests.integration.conftest import HYGIE, lab_env
from tests.integration.fleet import TARPIT, TARPIT_PORT
from tests.integration.redis_server import Redis
from tests.lab import Lab, LabHost, skip_unless_lab

pytestmark = pytest.mark.lab

SEGMENTS = {
    "imaging": ("pacs", "worklist", "slowpoke"),
    "clinical": ("ehr", "billing"),
}
SLOW = "slowpoke"  # a tarpit: the audit waits its connect_timeout, then fails "banner"
SLOW_SECONDS = 6
REDELIVERY = 10  # the runners' --redelivery-after, above every host's duration here
SUDO_ENV = "HYGIE_LAB_SUDO_PASSWORD"
#: a few checks (accounts, sshd, login.defs, PAM): what travels is the same whatever the
#: policy, and each lab host is then audited in about a second
POLICY = """name: multisite-lab
version: "1"
checks:
  accounts_empty_password: {}
  accounts_uid0_only_root: {}
  ssh_password_authentication: {}
  umask_default: {}
  password_nullok_absent: {}
"""


def _hosts(site: str) -> list[LabHost]:
    hosts = []
    for name in SEGMENTS[site]:
        if name == SLOW:
            tarpit = {"/etc/lab-tarpit.py": TARPIT}
            hosts.append(
                LabHost(name, files=tarpit, daemons=["/usr/bin/python3 /etc/lab-tarpit.py"])
            )
        else:
            hosts.append(LabHost(name, sudo="password" if name == "worklist" else "nopasswd"))
    return hosts


def _inventory_hosts(lab: Lab, site: str) -> dict[str, dict]:
    hosts = {}
    for name in SEGMENTS[site]:
        host = {"address": lab.address(name), "key": str(lab.private_key_path), "site": site}
        if name == "worklist":
            host["become_password_env"] = SUDO_ENV
        if name == SLOW:
            host |= {"port": TARPIT_PORT, "connect_timeout": SLOW_SECONDS}
        hosts[name] = host
    return hosts


def write_inventory(path: Path, hosts: dict[str, dict]) -> Path:
    doc = {"defaults": {"user": Lab.user, "become": "sudo", "timeout": 60}, "hosts": hosts}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


@dataclass
class Runner:
    lab: Lab
    site: str
    key: Path
    log: Path
    proc: subprocess.Popen | None = None


@dataclass
class Sites:
    root: Path
    labs: dict[str, Lab]
    central: Lab
    redis: Redis
    runner_keys: Path
    env: dict[str, str]
    runners: dict[str, Runner] = field(default_factory=dict)

    @property
    def policy(self) -> Path:
        return self.root / "policy.yaml"

    def start_runner(self, site: str) -> Runner:
        runner = self.runners[site]
        lab = runner.lab
        env = self.env | {"HYGIE_SIGNING_KEY": str(runner.key), SUDO_ENV: lab.password}
        argv = [
            *HYGIE,
            "worker",
            "--site",
            site,
            "--broker",
            self.redis.url,
            "--known-hosts",
            str(lab.known_hosts_path),
            "--ssh-config",
            "/dev/null",
            "--redelivery-after",
            str(REDELIVERY),
            "--loglevel",
            "INFO",
        ]
        ready = _count(runner, "ready.")
        with runner.log.open("a") as log:
            runner.proc = subprocess.Popen(
                ["ip", "netns", "exec", lab.scanner_ns, *argv], env=env, stdout=log, stderr=log
            )
        wait_for(lambda: _count(runner, "ready.") > ready, 30, f"runner {site} ready")
        return runner

    def kill_runner(self, site: str) -> None:
        proc = self.runners[site].proc
        if proc is not None and proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)  # `ip netns exec` execs: this is the worker
            proc.wait(timeout=10)

    def scan(
        self, inventory: Path, *args: str, site_timeout: float = 60, store: bool = False
    ) -> subprocess.Popen:
        """The central scan, in the namespace with no route to any segment; ``store``: into
        the store, signed by the central's own key (``HYGIE_DB`` of :func:`lab_env`)."""
        env = self.env | {"HYGIE_SIGNING_KEY": str(self.root / "keys" / "central.key")}
        argv = [
            *HYGIE,
            "scan",
            "-i",
            str(inventory),
            "-p",
            str(self.policy),
            "--broker",
            self.redis.url,
            "--runner-keys",
            str(self.runner_keys),
            "--site-timeout",
            str(site_timeout),
            *([] if store else ["--no-store"]),
            *args,
        ]
        return subprocess.Popen(
            ["ip", "netns", "exec", self.central.scanner_ns, *argv],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )


def _count(runner: Runner, words: str) -> int:
    return runner.log.read_text().count(words) if runner.log.exists() else 0


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def finish(proc: subprocess.Popen, timeout: float = 120) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"the central scan did not finish in {timeout}s:\n{err[-3000:]}")
    return proc.returncode, out, err


@pytest.fixture(scope="module")
def sites(tmp_path_factory) -> Iterator[Sites]:
    skip_unless_lab()
    root = tmp_path_factory.mktemp("multisite")
    with contextlib.ExitStack() as stack:
        labs = {site: stack.enter_context(Lab(_hosts(site))) for site in SEGMENTS}
        central = stack.enter_context(Lab([]))  # a namespace with no route anywhere
        redis = Redis(root)
        redis.start()
        stack.callback(redis.stop)
        runner_keys = root / "runners"
        env = lab_env(root)
        found = Sites(root, labs, central, redis, runner_keys, env)
        found.policy.write_text(POLICY)
        generate_key(root / "keys" / "central.key", None)
        for site, lab in labs.items():
            key = root / "keys" / f"{site}.key"
            generate_key(key, None)
            (runner_keys / site).mkdir(parents=True)
            (runner_keys / site / f"{site}.pub").write_bytes(key.with_suffix(".pub").read_bytes())
            found.runners[site] = Runner(lab, site, key, root / f"runner-{site}.log")
            stack.callback(found.kill_runner, site)
        for site in SEGMENTS:
            found.start_runner(site)
        yield found


def verdicts(results: Path) -> dict[str, dict[str, str]]:
    data = json.loads(results.read_text())
    return {h["name"]: {r["check_id"]: r["status"] for r in h["results"]} for h in data["hosts"]}


def _local_verdicts(sites: Sites, site: str) -> dict[str, dict[str, str]]:
    lab = sites.labs[site]
    inventory = write_inventory(sites.root / f"local-{site}.yaml", _inventory_hosts(lab, site))
    out = sites.root / f"local-{site}.json"
    proc = lab.run_in_scanner(
        [
            *HYGIE,
            "scan",
            "-i",
            str(inventory),
            "-p",
            str(sites.policy),
            "--no-store",
            "-q",
            "-o",
            str(out),
            "--known-hosts",
            str(lab.known_hosts_path),
            "--ssh-config",
            "/dev/null",
        ],
        timeout=120,
        env=sites.env | {SUDO_ENV: lab.password},
    )
    assert proc.returncode in (0, 1, 2), proc.stderr
    return verdicts(out)


def _all_hosts_inventory(sites: Sites, name: str) -> Path:
    hosts = {}
    for site, lab in sites.labs.items():
        hosts |= _inventory_hosts(lab, site)
    return write_inventory(sites.root / name, hosts)


class Monitor:
    """Every command Redis executes while it runs (``MONITOR``), kept for inspection."""

    def __init__(self, redis: Redis):
        self.proc = subprocess.Popen(
            ["redis-cli", "-s", str(redis.socket), "MONITOR"], stdout=subprocess.PIPE, text=True
        )
        self.lines: list[str] = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    def stop(self) -> str:
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.thread.join(timeout=10)
        return "".join(self.lines)


_B64 = re.compile(rb"[A-Za-z0-9+/]{16,}={0,2}")


def expanded(data: bytes, depth: int = 4) -> bytes:
    """``data`` and, recursively, every base64 run in it decoded: a kombu message body is
    base64, and a result's facts are base64 inside its base64 payload."""
    found = [data.replace(b"\\\\", b"\\").replace(b'\\"', b'"')]
    if depth:
        for match in _B64.finditer(found[0]):
            token = match.group()
            with contextlib.suppress(binascii.Error, ValueError):
                found.append(
                    expanded(base64.b64decode(token + b"=" * (-len(token) % 4)), depth - 1)
                )
    return b"\n".join(found)


def _pem_body(path: Path) -> list[bytes]:
    return [ln for ln in path.read_bytes().splitlines() if ln and not ln.startswith(b"-----")]


def test_one_scan_through_the_broker_gives_the_local_verdicts_and_no_secret_travels(sites):
    monitor = Monitor(sites.redis)
    inventory = _all_hosts_inventory(sites, "all.yaml")
    merged, report = sites.root / "merged.json", sites.root / "merged.md"
    started = time.monotonic()
    rc, out, err = finish(
        sites.scan(
            inventory,
            "-o",
            str(merged),
            "--report",
            "md",
            "--report-output",
            str(report),
            store=True,
        )
    )
    elapsed = time.monotonic() - started
    traffic = expanded(monitor.stop().encode())
    assert rc in (1, 2), err
    local = {}
    for site in SEGMENTS:
        local |= _local_verdicts(sites, site)
    assert verdicts(merged) == local
    assert set(local) == {h for names in SEGMENTS.values() for h in names}
    text = report.read_text()
    assert "| Site |" in text
    for site, names in SEGMENTS.items():
        for name in names:
            assert re.search(rf"^\| {name} \| [0-9.]+ \| {site} \|", text, re.M), name
    assert elapsed < 60
    # stored and signed by the central like a local scan: one link of an intact chain
    central = sites.root / "keys" / "central.pub"
    verify = sites.central.run_in_scanner(
        [*HYGIE, "verify", "latest", "--key", str(central)], timeout=60, env=sites.env
    )
    assert verify.returncode == 0 and "evidence intact" in verify.stdout, verify.stdout + out
    # no secret in any message or result: the sudo password, the SSH private key, the
    # runners' signing keys; and the decoding does reach the evidence (os-release text)
    assert b"PRETTY_NAME" in traffic and b"become_password_env" in traffic
    for lab in sites.labs.values():
        assert lab.password.encode() not in traffic
        assert not [line for line in _pem_body(lab.private_key_path) if line in traffic]
    for runner in sites.runners.values():
        assert not [line for line in _pem_body(runner.key) if line in traffic]


def _imaging_inventory(sites: Sites, name: str) -> Path:
    return write_inventory(sites.root / name, _inventory_hosts(sites.labs["imaging"], "imaging"))


def _received(runner: Runner) -> int:
    return _count(runner, "] received")


def _succeeded(runner: Runner) -> int:
    return _count(runner, "] succeeded in")


def _report_hosts(path: Path) -> list[dict]:
    return json.loads(path.read_text())["hosts"]


def _assessed_once(path: Path, names: tuple[str, ...]) -> list[dict]:
    hosts = _report_hosts(path)
    assert sorted(h["name"] for h in hosts) == sorted(names)
    for h in hosts:
        assert not (h["error"] or "").startswith(("runner:", "untrusted:")), h
        assert h["site"] and h["runner"], h
    return hosts


def test_a_runner_killed_mid_scan_has_its_task_redelivered_and_done_once(sites):
    runner = sites.runners["imaging"]
    before_received, before_done = _received(runner), _succeeded(runner)
    report = sites.root / "killed.json"
    inventory = _imaging_inventory(sites, "killed.yaml")
    proc = sites.scan(inventory, "--report", "json", "--report-output", str(report))
    fast = len(SEGMENTS["imaging"]) - 1
    wait_for(lambda: _succeeded(runner) - before_done >= fast, 60, "the fast hosts")
    assert _received(runner) - before_received == len(SEGMENTS["imaging"])
    sites.kill_runner("imaging")  # the slow host's task is held, unacknowledged
    restarted = sites.start_runner("imaging")
    rc, _, err = finish(proc, timeout=90)
    assert rc in (1, 2), err
    hosts = _assessed_once(report, SEGMENTS["imaging"])
    slow = next(h for h in hosts if h["name"] == SLOW)
    assert slow["error"].startswith(("banner", "timeout")), slow
    # the slow host's task went to the restarted runner (a fast one too, if its ack was lost)
    assert _received(restarted) - before_received >= len(SEGMENTS["imaging"]) + 1


def test_a_broker_restart_mid_scan_loses_and_duplicates_nothing(sites):
    runner = sites.runners["imaging"]
    before = _received(runner)
    report = sites.root / "restart.json"
    proc = sites.scan(
        _all_hosts_inventory(sites, "restart.yaml"),
        "--report",
        "json",
        "--report-output",
        str(report),
    )
    wait_for(lambda: _received(runner) - before >= len(SEGMENTS["imaging"]), 60, "the tasks")
    sites.redis.stop()
    time.sleep(2)
    sites.redis.start()
    rc, _, err = finish(proc, timeout=120)
    assert rc in (1, 2), err
    names = tuple(h for names in SEGMENTS.values() for h in names)
    hosts = _assessed_once(report, names)
    merged = verdicts(sites.root / "merged.json")
    for h in hosts:
        assert {f["check_id"]: f["status"] for f in h["findings"]} == merged[h["name"]]


ROGUE = '''
"""A rogue runner for site "admin": every result it returns is forged."""
import base64, json, sys, time
from pathlib import Path
from hygie.distributed.app import make_app, queue_name
from hygie.distributed.tasks import AUDIT_TASK
from hygie.distributed.wire import host_statement, target_from_task
from hygie.model import HostScan
from hygie.signing import load_signer, generate_key, seal

broker, admin_key, other_site_key, root = sys.argv[1:5]
admin, other = load_signer(Path(admin_key), None), load_signer(Path(other_site_key), None)
unknown = generate_key(Path(root) / "unknown.key", None)
app = make_app(broker, 30)

@app.task(name=AUDIT_TASK)
def audit(scan_id, target, policy):
    t = target_from_task(target)
    host = HostScan(t.name, t.address, t.transport, started=time.time(), finished=time.time())
    if t.name == "forged-unknown":
        return {"envelope": seal(host_statement(scan_id, "admin", host), unknown).decode()}
    if t.name == "forged-other-site":
        return {"envelope": seal(host_statement(scan_id, "admin", host), other).decode()}
    if t.name == "forged-host":
        host.name = "pacs"
        return {"envelope": seal(host_statement(scan_id, "admin", host), admin).decode()}
    doc = json.loads(seal(host_statement(scan_id, "admin", host), admin))
    payload = base64.b64decode(doc["payload"]).replace(b'"family":"unknown"', b'"family":"debian"')
    doc["payload"] = base64.b64encode(payload).decode()
    return {"envelope": json.dumps(doc)}

app.Worker(queues=[queue_name("admin")], pool="threads", concurrency=4, quiet=True,
           hostname="rogue@lab", without_gossip=True, without_mingle=True).start()
'''
FORGED = {
    "forged-unknown": "not by a runner key of the allow-list",
    "forged-tampered": "does not verify",
    "forged-other-site": "of site imaging, not of admin",
    "forged-host": "a result for host pacs",
}


def test_forged_results_are_refused_and_reported(sites):
    admin_key = sites.root / "keys" / "admin.key"
    generate_key(admin_key, None)
    (sites.runner_keys / "admin").mkdir()
    (sites.runner_keys / "admin" / "admin.pub").write_bytes(
        admin_key.with_suffix(".pub").read_bytes()
    )
    script = sites.root / "rogue.py"
    script.write_text(ROGUE)
    log = (sites.root / "rogue.log").open("w")
    argv = [
        sys.executable,
        str(script),
        sites.redis.url,
        str(admin_key),
        str(sites.runners["imaging"].key),
        str(sites.root),
    ]
    rogue = subprocess.Popen(argv, env=sites.env, stdout=log, stderr=log)
    try:
        hosts = {name: {"address": "198.18.0.250", "site": "admin"} for name in FORGED}
        inventory = write_inventory(sites.root / "forged.yaml", hosts)
        report = sites.root / "forged.json"
        rc, _, err = finish(
            sites.scan(inventory, "--report", "json", "--report-output", str(report))
        )
    finally:
        rogue.kill()
        rogue.wait(timeout=10)
        log.close()
    assert rc == 2, err
    by_name = {h["name"]: h for h in _report_hosts(report)}
    for name, words in FORGED.items():
        assert by_name[name]["error"].startswith("untrusted: ") and words in by_name[name]["error"]
        assert by_name[name]["runner"] is None
        assert re.search(rf"refused result: {name}: .*{re.escape(words)}", err), err


def test_a_site_without_a_runner_ends_in_error_within_its_bound(sites):
    inventory = write_inventory(
        sites.root / "nobody.yaml", {"orphan": {"address": "198.18.0.250", "site": "nobody"}}
    )
    report = sites.root / "nobody.json"
    started = time.monotonic()
    rc, _, err = finish(
        sites.scan(inventory, "--report", "json", "--report-output", str(report), site_timeout=5),
        timeout=60,
    )
    assert rc == 2, err
    assert time.monotonic() - started < 30
    (host,) = _report_hosts(report)
    assert host["error"].startswith("runner: no runner for site nobody"), host
