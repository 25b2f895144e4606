"""Fail closed (issue 8): one `hygie scan` through the real CLI against every fault peer of
tests/lab/faults.py plus two healthy hosts.

Every host that cannot be assessed is ``error`` with a stable category and a one-line
reason naming its address; nothing hangs past its own deadline, nothing floods memory,
nothing prints a traceback; the healthy hosts come out exactly as they do without the
faulty ones beside them. The peers' own behaviour is proven in test_fault_peers.py.

Run with ``-s`` to see, per fault host, the reason hygie gave and how long it took.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.integration.conftest import lab_env, load_results
from tests.integration.fleet import hardened, weak_patching
from tests.lab import faults, skip_unless_lab
from tests.lab.faults import FaultLab

pytestmark = pytest.mark.lab

HEALTHY = ("hardened", "weak-patch")
HEALTHY_TIMEOUT = 45
#: The per-host deadline of the peers that hang, flood or stall (and of the wire faults).
FAULT_TIMEOUT = 20
QUICK = {"timeout": FAULT_TIMEOUT, "connect_timeout": 3}
WALL_SLACK = 30
RSS_LIMIT_KIB = 1 << 20

#: Inventory name -> (category, substrings the reason must contain, case-insensitive).
EXPECTED: dict[str, tuple[str, tuple[str, ...]]] = {
    "tarpit": ("banner", ("no SSH banner within",)),
    "kex-close": ("kex", ("closed the connection during key exchange",)),
    "refused": ("refused", ("connection refused",)),
    "unreachable": ("unreachable", ("no route to host",)),
    "host-key": ("host-key", ("does not match known_hosts",)),
    "wrong-key": ("auth", ("authentication failed",)),
    "sudo-password": ("privilege", ("sudo", "password")),
    "flood": ("output-cap", ("output exceeded",)),
    "hang": ("timeout", ("deadline",)),
    "dropped": ("dropped", ("dropped",)),
    "chroot": ("partial", ("missing tools", "dpkg-query")),
}
TRACEBACK_MARKERS = ("Traceback", "paramiko.transport", "Exception in thread")

#: Runs ``hygie.cli`` as ``python -m hygie.cli`` does, then writes the process's peak RSS
#: (KiB) to the file named by its first argument, whatever the exit code. VmHWM, not
#: getrusage's ru_maxrss: Linux carries ru_maxrss across execve, so it would report the
#: RSS of the (forked) pytest process that launched the CLI.
RSS_WRAPPER = """\
import atexit, re, runpy, sys
out = sys.argv.pop(1)
def peak():
    status = open("/proc/self/status").read()
    open(out, "w").write(re.search(r"^VmHWM:\\s+(\\d+) kB", status, re.M)[1])
atexit.register(peak)
sys.argv[0] = "hygie"
runpy.run_module("hygie.cli", run_name="__main__", alter_sys=True)
"""


def inventory(fl: FaultLab) -> dict:
    lab = fl.lab
    wire = lab.address(faults.WIRE_HOST)
    hosts: dict[str, dict] = {name: {"address": lab.address(name)} for name in HEALTHY}
    hosts |= {
        "tarpit": {"address": wire, "port": faults.TARPIT_PORT, **QUICK},
        "kex-close": {"address": wire, "port": faults.KEX_CLOSE_PORT, **QUICK},
        "refused": {"address": wire, "port": faults.CLOSED_PORT, **QUICK},
        # ARP gives up after ~3 s: a connect timeout of 3 s would race it.
        "unreachable": {
            "address": lab.unused_address(),
            "timeout": FAULT_TIMEOUT,
            "connect_timeout": 10,
        },
        "host-key": {"address": lab.address(faults.HOST_KEY_CHANGED)},
        "wrong-key": {"address": lab.address("wrong-key"), "key": str(fl.other_key)},
        "sudo-password": {"address": lab.address("sudo-password")},  # no become password
        "flood": {"address": lab.address("flood"), **QUICK},
        "hang": {"address": lab.address("hang"), **QUICK},
        "dropped": {"address": lab.address("dropped"), **QUICK},
        "chroot": {"address": lab.address("chroot"), "become": "none"},
        "hostile": {"address": lab.address("hostile")},
    }
    return {
        "defaults": {
            "user": lab.user,
            "key": str(lab.private_key_path),
            "become": "sudo",
            "timeout": HEALTHY_TIMEOUT,
            "connect_timeout": 5,
        },
        "hosts": hosts,
    }


def deadlines(doc: dict) -> dict[str, float]:
    """Each inventory host's per-host ``timeout``."""
    default = doc["defaults"]["timeout"]
    return {name: host.get("timeout", default) for name, host in doc["hosts"].items()}


@dataclass(frozen=True)
class Run:
    proc: subprocess.CompletedProcess
    hosts: dict[str, dict]
    scan_id: str
    seconds: float
    peak_rss_kib: int


@dataclass(frozen=True)
class ScanLab:
    fl: FaultLab
    inventory: Path
    deadlines: dict[str, float]
    env: dict[str, str]

    @property
    def max_timeout(self) -> float:
        return max(self.deadlines.values())

    def hygie(self, *args: str, timeout: float) -> subprocess.CompletedProcess:
        return self.fl.lab.run_in_scanner(
            [sys.executable, "-m", "hygie.cli", *args], timeout=timeout, env=self.env
        )

    def scan(self, name: str, *args: str) -> Run:
        """``hygie scan`` of the inventory, timed and with its peak RSS measured."""
        out, rss = self.fl.workdir / f"{name}.json", self.fl.workdir / f"{name}.rss"
        argv = [
            sys.executable,
            "-c",
            RSS_WRAPPER,
            str(rss),
            "scan",
            "-i",
            str(self.inventory),
            "-o",
            str(out),
            "--known-hosts",
            str(self.fl.known_hosts),
            "--ssh-config",
            "/dev/null",
            *args,
        ]
        started = time.monotonic()
        proc = self.fl.lab.run_in_scanner(
            argv, timeout=self.max_timeout + 2 * WALL_SLACK, env=self.env
        )
        seconds = time.monotonic() - started
        assert out.exists(), proc.stderr[-3000:]
        scan_id = json.loads(out.read_text())["scan"]["id"]
        return Run(proc, load_results(out), scan_id, seconds, int(rss.read_text()))


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Iterator[ScanLab]:
    skip_unless_lab()
    workdir = tmp_path_factory.mktemp("fault-lab")
    healthy = [hardened(), weak_patching()]
    with faults.fault_lab([*healthy, *faults.fault_hosts()], workdir) as fl:
        doc = inventory(fl)
        path = workdir / "inventory.yaml"
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        env = lab_env(workdir)
        yield ScanLab(fl, path, deadlines(doc), env)


@pytest.fixture(scope="module")
def run(lab) -> Run:
    result = lab.scan("all")
    print(
        f"\nfault lab scan: exit {result.proc.returncode}, {result.seconds:.1f} s wall, "
        f"peak RSS {result.peak_rss_kib / 1024:.0f} MiB"
    )
    for name in [*EXPECTED, "hostile", *HEALTHY]:
        host = result.hosts[name]
        print(f"  {name:14} {host['duration_s']:6.2f} s  {host['error']}")
    return result


def test_exit_code_says_not_everything_was_assessed(run):
    assert run.proc.returncode == 2, run.proc.stderr[-3000:]


def test_no_traceback_whatever_the_peers_do(run):
    for stream in (run.proc.stdout, run.proc.stderr):
        found = [m for m in TRACEBACK_MARKERS if m in stream]
        assert not found, stream[-3000:]


def test_the_run_ends_within_the_longest_deadline(run, lab):
    assert run.seconds <= lab.max_timeout + WALL_SLACK, run.seconds


def test_each_fault_host_ends_within_its_own_deadline(run, lab):
    late = {
        name: run.hosts[name]["duration_s"]
        for name in EXPECTED
        if run.hosts[name]["duration_s"] > lab.deadlines[name] + 5
    }
    assert not late, late


def test_peak_memory_stays_bounded(run):
    assert run.peak_rss_kib < RSS_LIMIT_KIB, f"{run.peak_rss_kib / 1024:.0f} MiB"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fault_host_is_an_error_with_its_category_and_reason(run, lab, name):
    category, needles = EXPECTED[name]
    host = run.hosts[name]
    error = host["error"] or ""
    assert host["error_category"] == category and error.startswith(f"{category}: "), error
    missing = [n for n in needles if n.lower() not in error.lower()]
    assert not missing, f"{error!r} lacks {missing}"
    address = lab.fl.lab.unused_address() if name == "unreachable" else host["address"]
    assert address.startswith("198.18.0.") and address in error, error
    assert "\n" not in error and {r["status"] for r in host["results"]} == {"error"}


def test_hostile_host_is_assessed_normally(run):
    host = run.hosts["hostile"]
    assert host["error"] is None and host["uid"] == 0
    statuses = {r["check_id"]: r["status"] for r in host["results"]}
    assert statuses["accounts_uid0_only_root"] == "fail"  # the hostile-named uid-0 account
    errors = {c: s for c, s in statuses.items() if s == "error"}
    assert not errors and "pass" in statuses.values(), errors


def test_html_report_shows_hostile_strings_inert(run, lab):
    out = lab.fl.workdir / "report.html"
    proc = lab.hygie("report", run.scan_id, "--format", "html", "-o", str(out), timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    html = out.read_text()
    assert "hyA{{ 7*7 }}hyB" in html  # the payload reached the report...
    assert "&lt;script&gt;alert(1)" in html
    assert "<script>alert(1)" not in html and "hyA49hyB" not in html  # ...as text
    assert "\x1b" not in html and faults.BIDI not in html


def test_healthy_hosts_are_judged_as_without_the_faulty_ones(run, lab):
    alone = lab.scan("healthy", *(a for name in HEALTHY for a in ("-l", name)))
    assert sorted(alone.hosts) == sorted(HEALTHY)
    for name in HEALTHY:
        assert run.hosts[name]["error"] is None and alone.hosts[name]["error"] is None
        with_faults = {r["check_id"]: r["status"] for r in run.hosts[name]["results"]}
        without = {r["check_id"]: r["status"] for r in alone.hosts[name]["results"]}
        diff = {c: (s, without.get(c)) for c, s in with_faults.items() if without.get(c) != s}
        assert with_faults.keys() == without.keys() and not diff, diff
