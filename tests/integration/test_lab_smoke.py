"""Smoke tests of the namespace lab itself (tests/lab): if these fail, no integration test
can be trusted. Needs root, iproute2, util-linux (unshare) and openssh-server/client."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.lab import Lab, LabError, LabHost, nsutil, skip_unless_lab

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.lab

skip_unless_lab()

DPKG_STATUS = textwrap.dedent(
    """\
    Package: openssl
    Status: install ok installed
    Priority: optional
    Section: utils
    Architecture: amd64
    Version: 3.0.11-1~deb12u1
    Description: Secure Sockets Layer toolkit

    """
)


def _planted_ed25519() -> tuple[str, str]:
    """A host key made by the test itself, to exercise planting through LabHost.files."""
    out = subprocess.run(
        [
            "sh",
            "-c",
            'd=$(mktemp -d) && ssh-keygen -q -t ed25519 -N "" -C "" -f "$d/k" '
            '&& cat "$d/k" && echo ==== && cat "$d/k.pub" && rm -rf "$d"',
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    private, public = out.split("====\n")
    return private, public


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    private, public = _planted_ed25519()
    hosts = [
        LabHost(
            "alpha",
            files={"/etc/x": "alpha only\n", "/run/seeded": "from run-seed\n"},
            daemons=["echo started > /run/daemon-ok; exec sleep 600"],
        ),
        LabHost(
            "beta",
            sudo="password",
            files={
                "/etc/x": "beta only\n",
                "/var/lib/dpkg/status": DPKG_STATUS,
                "/etc/issue.net": None,  # whiteout of a file of the real /etc
            },
            sshd_extra="PasswordAuthentication yes\nMaxAuthTries 3",
        ),
        LabHost(
            "gamma",
            sudo="none",
            host_key_types=[("rsa", 1024)],
            files={
                "/etc/ssh/ssh_host_ed25519_key": private,
                "/etc/ssh/ssh_host_ed25519_key.pub": public,
            },
        ),
    ]
    with Lab(hosts) as the_lab:
        yield the_lab


def ssh(lab: Lab, host: str, command: str) -> subprocess.CompletedProcess:
    return lab.run_in_scanner(lab.ssh_argv(host, command), timeout=20)


def test_key_login_runs_commands_with_per_host_overlay(lab: Lab) -> None:
    for host in ("alpha", "beta"):
        r = ssh(lab, host, "hostname; cat /etc/x; id -un")
        assert r.returncode == 0, r.stderr
        assert r.stdout.split("\n")[:3] == [host, f"{host} only", "auditor"]
    r = ssh(lab, "gamma", "cat /etc/x")
    assert r.returncode == 1 and "No such file" in r.stderr
    assert not Path("/etc/x").exists(), "overlay leaked into the real /etc"


def test_private_var_run_and_whiteouts(lab: Lab) -> None:
    r = ssh(
        lab, "beta", "dpkg-query -W -f '${Package} ${Version}\\n'; test -e /etc/issue.net; echo $?"
    )
    assert r.stdout.splitlines() == ["openssl 3.0.11-1~deb12u1", "1"], r.stderr
    r = ssh(lab, "alpha", "cat /run/seeded /run/daemon-ok; cat /proc/1/comm; test -d /run/sshd")
    assert r.stdout.splitlines() == ["from run-seed", "started", "sshd"], r.stderr
    r = ssh(lab, "alpha", "stat -c '%a %U' /home/auditor /home/auditor/.ssh/authorized_keys")
    assert r.stdout.splitlines() == ["700 auditor", "600 auditor"]


def test_sudo_modes(lab: Lab) -> None:
    r = ssh(lab, "alpha", "sudo -n id -u")
    assert (r.returncode, r.stdout.strip(), r.stderr) == (0, "0", "")
    r = ssh(lab, "beta", "sudo -n true")
    assert r.returncode == 1 and "a password is required" in r.stderr
    r = lab.run_in_scanner(
        lab.ssh_argv("beta", "sudo -S -p '' id -u"), timeout=20, input=lab.password + "\n"
    )
    assert (r.returncode, r.stdout.strip()) == (0, "0"), r.stderr
    r = lab.run_in_scanner(
        lab.ssh_argv("gamma", "sudo -S -p '' id -u"), timeout=20, input=lab.password + "\n"
    )
    assert r.returncode == 1 and "not in the sudoers file" in r.stderr
    assert "unable to resolve host" not in r.stderr


def test_password_auth_and_thread_inheritance_of_scanner_ns(lab: Lab) -> None:
    paramiko = pytest.importorskip("paramiko")

    def run(host: str) -> str:
        client = paramiko.SSHClient()
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        client.load_host_keys(str(lab.known_hosts_path))
        try:
            client.connect(
                lab.address(host),
                username=lab.user,
                password=lab.password,
                look_for_keys=False,
                allow_agent=False,
                timeout=10,
            )
            _, out, _ = client.exec_command("hostname", timeout=10)
            return out.read().decode().strip()
        finally:
            client.close()

    def netns_inode() -> int:
        return os.stat("/proc/thread-self/ns/net").st_ino

    outside = netns_inode()
    scanner = os.stat(f"/run/netns/{lab.scanner_ns}").st_ino
    with lab.in_scanner_ns(), ThreadPoolExecutor(max_workers=2) as pool:
        assert netns_inode() == scanner
        assert list(pool.submit(netns_inode).result() for _ in range(2)) == [scanner] * 2
        assert list(pool.map(run, ["beta", "beta"])) == ["beta", "beta"]
    # Back where we were. (Never probe lab addresses from here: this namespace may have a
    # default route, and such a packet would leave the machine.)
    assert netns_inode() == outside


def test_sshd_log_counts_connections_and_host_keys(lab: Lab) -> None:
    before = lab.sshd_log("gamma").count("Connection from")
    assert ssh(lab, "gamma", "true").returncode == 0
    assert lab.sshd_log("gamma").count("Connection from") == before + 1
    scan = lab.run_in_scanner(
        ["ssh-keyscan", "-T", "5", "-t", "rsa", lab.address("gamma")], timeout=15
    )
    bits = subprocess.run(
        ["ssh-keygen", "-l", "-f", "-"],
        input=scan.stdout,
        capture_output=True,
        text=True,
        check=True,
        timeout=10,
    ).stdout.split()[0]
    assert bits == "1024"
    known = lab.known_hosts_path.read_text()
    assert known.count(lab.address("alpha")) == 2  # ed25519 + rsa 3072 by default


def test_scanner_ns_is_isolated(lab: Lab) -> None:
    routes = lab.run_in_scanner(["ip", "-4", "route"], timeout=10).stdout
    assert "default" not in routes and routes.split()[0] == "198.18.0.0/24"
    assert "default" not in lab.run_in_host("alpha", ["ip", "route"], timeout=10).stdout
    assert "default" not in lab.run_in_scanner(["ip", "-6", "route"], timeout=10).stdout
    with lab.in_scanner_ns():
        with socket.socket() as s, pytest.raises(ConnectionRefusedError):
            s.settimeout(2)
            s.connect(("127.0.0.1", 22))  # the real machine's sshd is not reachable
        with socket.socket() as s, pytest.raises(OSError):
            s.settimeout(1)
            s.connect((lab.unused_address(), 22))


def test_teardown_and_stale_reaping(tmp_path: Path) -> None:
    """A lab leaves nothing; a lab whose owner was SIGKILLed is reaped by the next one."""
    with Lab([LabHost("solo")], workdir=tmp_path / "w") as lab:
        namespaces = [lab.scanner_ns, *(r.netns for r in lab._running.values())]
        pids = [p for n in namespaces for p in nsutil.netns_pids(n)]
        assert len(pids) >= 2 and ssh(lab, "solo", "hostname").stdout == "solo\n"
    assert not set(namespaces) & set(nsutil.list_netns())
    assert not [p for p in pids if Path(f"/proc/{p}").exists()]
    assert str(tmp_path) not in Path("/proc/mounts").read_text()
    assert not (tmp_path / "w" / "hosts").exists()

    crashed = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; sys.path.insert(0, sys.argv[1]);"
            "from tests.lab import Lab, LabHost;"
            "lab = Lab([LabHost('crash')]).__enter__(); print(lab.rid, flush=True); time.sleep(60)",
            str(ROOT),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert crashed.stdout is not None
        rid = crashed.stdout.readline().strip()
        assert re.fullmatch(r"[0-9a-f]{5}", rid)
    finally:
        os.kill(crashed.pid, signal.SIGKILL)
        crashed.wait(timeout=10)
    left = [n for n in nsutil.list_netns() if n.startswith(nsutil.NS_PREFIX + rid)]
    assert len(left) == 2  # scanner + host survived their owner
    reaped = nsutil.reap_stale_labs("ip")
    assert set(left) <= set(reaped)
    assert not [n for n in nsutil.list_netns() if n.startswith(nsutil.NS_PREFIX + rid)]
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and "/tmp/hyl-" + rid in Path("/proc/mounts").read_text():
        time.sleep(0.1)
    assert not Path(f"/tmp/hyl-{rid}").exists()


def test_broken_host_fails_fast_and_cleans_up() -> None:
    lab = Lab([LabHost("broken", sshd_extra="NoSuchKeyword yes")])
    with pytest.raises(LabError, match="NoSuchKeyword"):
        lab.__enter__()
    assert not [n for n in nsutil.list_netns() if n.startswith(nsutil.NS_PREFIX + lab.rid)]
    assert not lab.workdir.exists()
