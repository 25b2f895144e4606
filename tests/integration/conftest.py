"""One lab for the integration suite: the fleet of tests/integration/fleet.py, built once,
torn down at the end even when tests fail."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.integration.fleet import TARPIT_PORT, fleet
from tests.lab import Lab, lab_unavailable_reason

HYGIE = [sys.executable, "-m", "hygie.cli"]


@dataclass
class Fleet:
    lab: Lab
    workdir: Path
    inventory: Path
    env: dict[str, str]
    sshd_connections: dict[str, int] | None = None

    def hygie(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        """Run the real CLI inside the lab's scanner namespace (no route out)."""
        return self.lab.run_in_scanner([*HYGIE, *args], timeout=timeout, env=self.env)


def lab_env(workdir: Path) -> dict[str, str]:
    """The environment of a CLI run in a lab: its own HOME (known_hosts, ssh config) and
    store, this test run's interpreter path, nothing else from the test machine."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(workdir),
        "HYGIE_DB": str(workdir / "hygie.db"),
        "PYTHONPATH": os.pathsep.join(sys.path),
    }


def write_inventory(lab: Lab, path: Path, other_key: Path) -> None:
    hosts = {
        h: {"address": lab.address(h)}
        for h in ("hardened", "weak-passwd", "weak-patch", "weak-net", "no-sudo")
    }
    hosts["weak-ssh"] = {
        "address": lab.address("weak-ssh"),
        "key": [],
        "password_env": "HYGIE_LAB_PASSWORD",
    }
    hosts["weak-logs"] = {
        "address": lab.address("weak-logs"),
        "become_password_env": "HYGIE_LAB_SUDO_PASSWORD",
    }
    hosts["wrong-key"] = {"address": lab.address("wrong-key"), "key": str(other_key)}
    # Longer than the kernel's 3 s of unanswered ARP, which then says "no route to host".
    hosts["unreachable"] = {"address": lab.unused_address(), "connect_timeout": 6}
    hosts["tarpit"] = {
        "address": lab.address("weak-net"),
        "port": TARPIT_PORT,
        "connect_timeout": 3,
    }
    inventory = {
        "defaults": {
            "user": lab.user,
            "key": str(lab.private_key_path),
            "become": "sudo",
            "timeout": 120,
        },
        "groups": {"lab": {"vars": {"tags": ["lab"]}, "hosts": hosts}},
    }
    path.write_text(yaml.safe_dump(inventory, sort_keys=False))


@pytest.fixture(scope="session")
def lab_fleet(tmp_path_factory) -> Iterator[Fleet]:
    if lab_unavailable_reason():
        from tests.lab import skip_unless_lab

        skip_unless_lab()
    workdir = tmp_path_factory.mktemp("fleet")
    other_key = workdir / "unrelated_ed25519"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other_key)],
        check=True,
        timeout=30,
    )
    with Lab(fleet()) as lab:
        inventory = workdir / "inventory.yaml"
        write_inventory(lab, inventory, other_key)
        env = lab_env(workdir) | {
            "HYGIE_LAB_PASSWORD": lab.password,
            "HYGIE_LAB_SUDO_PASSWORD": lab.password,
        }
        yield Fleet(lab, workdir, inventory, env)


def load_results(path: Path) -> dict:
    data = json.loads(path.read_text())
    return {h["name"]: h for h in data["hosts"]}
