"""`hygie drift` on a real lab host: scan, change three things on it, rescan, and drift
names exactly those three, with the new key as a fingerprint only.

The lab of this module is its own (one host, torn down at the end): the shared fleet is
never changed. The changes are made as root inside the host's namespaces, on its private
/etc and /home overlays: a UID 0 line in /etc/passwd, a second key in the authorized_keys
of a sudo-group member, and a TCP listener.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.integration.conftest import Fleet, lab_env
from tests.lab import Lab, LabHost, real_file, skip_unless_lab

pytestmark = pytest.mark.lab

HOST = "drift"
ADMIN = "opsadmin"
LISTEN_PORT = 4444
LISTENER = (
    "import socket,time\n"
    "s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
    f"s.bind(('0.0.0.0', {LISTEN_PORT})); s.listen(1); time.sleep(3600)\n"
)


def _key(path: Path, comment: str) -> str:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True,
        timeout=30,
    )
    return path.with_suffix(".pub").read_text()


def _drift_host(first_key: str) -> LabHost:
    groups = [g for g in real_file("/etc/group").splitlines() if not g.startswith("sudo:")]
    return LabHost(
        HOST,
        files={
            "/etc/passwd": real_file("/etc/passwd")
            + f"{ADMIN}:x:1500:1500::/home/{ADMIN}:/bin/sh\n",
            "/etc/group": "\n".join([*groups, f"sudo:x:27:{ADMIN}", f"{ADMIN}:x:1500:"]) + "\n",
            f"/home/{ADMIN}/.ssh/authorized_keys": first_key,
            "/etc/lab-listener.py": LISTENER,
        },
    )


@pytest.fixture(scope="module")
def drift_lab(tmp_path_factory) -> Iterator[tuple[Fleet, str]]:
    skip_unless_lab()
    workdir = tmp_path_factory.mktemp("drift")
    first = _key(workdir / "first", "first@ops")
    second = _key(workdir / "second", "second@ops")
    with Lab([_drift_host(first)]) as lab:
        inventory = workdir / "inventory.yaml"
        defaults = {"user": lab.user, "key": str(lab.private_key_path), "become": "sudo"}
        hosts = {HOST: {"address": lab.address(HOST)}}
        inventory.write_text(yaml.safe_dump({"defaults": defaults, "hosts": hosts}))
        yield Fleet(lab, workdir, inventory, lab_env(workdir)), second


def _scan(fleet: Fleet) -> None:
    proc = fleet.hygie(
        "scan",
        "-i",
        str(fleet.inventory),
        "-q",
        "--known-hosts",
        str(fleet.lab.known_hosts_path),
        "--ssh-config",
        "/dev/null",
    )
    # 1: some checks fail, 2: some could not be assessed; drift says whether the host was
    assert proc.returncode in (0, 1, 2) and "Traceback" not in proc.stderr, proc.stderr


def _in_host(fleet: Fleet, script: str) -> None:
    done = fleet.lab.run_in_host(HOST, ["sh", "-c", script], timeout=30)
    assert done.returncode == 0, done.stderr


def test_drift_names_exactly_what_changed(drift_lab):
    fleet, second = drift_lab
    _scan(fleet)
    _scan(fleet)
    same = fleet.hygie("drift", "--format", "json")
    assert same.returncode == 0, same.stdout + same.stderr  # two scans, nothing changed

    _in_host(fleet, "echo 'toor:x:0:0::/tmp:/bin/sh' >> /etc/passwd")
    _in_host(fleet, f"printf '%s' '{second.strip()}\n' >> /home/{ADMIN}/.ssh/authorized_keys")
    _in_host(fleet, "nohup /usr/bin/python3 /etc/lab-listener.py >/dev/null 2>&1 </dev/null &")
    _in_host(
        fleet,
        f"for i in 1 2 3 4 5; do ss -Hltn | grep -q :{LISTEN_PORT} && exit 0; sleep 1; done; "
        "exit 1",
    )
    _scan(fleet)

    found = fleet.hygie("drift", "--format", "json")
    assert found.returncode == 1, found.stderr
    doc = json.loads(found.stdout)
    (host,) = doc["hosts"]
    assert host["state"] == "assessed" and host["not_compared"] == []
    kinds = {(c["kind"], c["change"]) for c in host["changes"]}
    assert kinds == {
        ("uid0_account", "added"),
        ("authorized_key", "added"),
        ("listening_socket", "added"),
    }, host["changes"]
    items = {c["kind"]: c["item"] for c in host["changes"]}
    assert items["uid0_account"] == "toor"
    assert items["listening_socket"] == f"tcp/{LISTEN_PORT} on 0.0.0.0"
    assert items["authorized_key"].startswith(f"{ADMIN} SHA256:")
    blob = second.split()[1]
    text = fleet.hygie("drift")
    assert blob not in found.stdout and blob not in text.stdout  # fingerprints only
    assert "+ uid0_account       toor" in text.stdout
