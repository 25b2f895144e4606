"""Remediation proven by a rescan (issue 12), on a lab host of its own.

The weak-ssh host is scanned through an Ansible inventory, ``hygie remediate`` writes the
playbook, ``ansible-playbook --check --diff`` predicts changes and changes nothing, the real
run applies them, and the rescan shows every remediated check passing and no other check
changing verdict. The shared fleet is never touched: this test builds (and tears down) a
Lab with its own copy of the host. Ansible runs in the lab's scanner namespace only.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

from tests.integration.conftest import HYGIE, lab_env
from tests.integration.fleet import weak_ssh
from tests.lab import Lab, skip_unless_lab

pytestmark = pytest.mark.lab

ANSIBLE_PLAYBOOK = Path(sys.executable).with_name("ansible-playbook")
#: checks that a fix of another check also fixes: root reachable over SSH with a password
#: (accounts_root_access) is closed by PermitRootLogin no (ssh_root_login)
ALSO_FIXED = {"accounts_root_access"}
#: the sshd weaknesses planted in weak-ssh that have an automatic fix
PLANTED_SSHD = {
    "ssh_root_login",
    "ssh_password_authentication",
    "ssh_permit_empty_passwords",
    "ssh_max_auth_tries",
    "ssh_x11_forwarding",
}


def _inventory(lab: Lab, path: Path) -> None:
    ssh_args = f"-o UserKnownHostsFile={lab.known_hosts_path} -o StrictHostKeyChecking=yes"
    path.write_text(
        "[lab]\n"
        f"weak-ssh ansible_host={lab.address('weak-ssh')}\n"
        "[lab:vars]\n"
        f"ansible_user={lab.user}\n"
        f"ansible_ssh_private_key_file={lab.private_key_path}\n"
        "ansible_become=true\n"
        "ansible_python_interpreter=/usr/bin/python3\n"
        f"ansible_ssh_common_args='{ssh_args}'\n"
    )


def _statuses(path: Path) -> dict[str, str]:
    (host,) = json.loads(path.read_text())["hosts"]
    return {r["check_id"]: r["status"] for r in host["results"]}


def _lab_playbook(path: Path) -> set[str]:
    """The checks the playbook fixes automatically; its sshd reload made a SIGHUP to the
    host's sshd (its PID 1: no service manager in a lab host)."""
    plays = yaml.safe_load(path.read_text())
    for play in plays:
        for handler in play.get("handlers", []):
            handler.pop("ansible.builtin.service")
            handler["ansible.builtin.command"] = "kill -HUP 1"
    path.write_text(yaml.safe_dump(plays, sort_keys=False))
    return {t["tags"][0] for p in plays for t in p["tasks"] if "ansible.builtin.debug" not in t}


def test_playbook_check_then_apply_then_rescan(tmp_path):
    skip_unless_lab()
    if not ANSIBLE_PLAYBOOK.exists():
        pytest.skip("ansible-core is not installed (the test extra has it)")
    env = lab_env(tmp_path) | {"ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp")}
    with Lab([weak_ssh()]) as lab:
        inventory = tmp_path / "hosts.ini"
        _inventory(lab, inventory)

        def hygie(*args: str) -> None:
            run = lab.run_in_scanner([*HYGIE, *args], timeout=300, env=env)
            assert run.returncode in (0, 1), run.stderr

        def ansible(*args: str) -> str:
            argv = [str(ANSIBLE_PLAYBOOK), "-i", str(inventory), str(playbook), *args]
            run = lab.run_in_scanner(argv, timeout=600, env=env)
            assert run.returncode == 0, run.stdout + run.stderr
            return run.stdout

        def host_files() -> str:
            files = ["/etc/ssh/sshd_config", "/etc/login.defs"]
            return lab.run_in_host("weak-ssh", ["cat", *files], timeout=30).stdout

        known = ["--known-hosts", str(lab.known_hosts_path)]
        hygie("scan", "-i", str(inventory), *known, "-q", "-o", str(tmp_path / "before.json"))
        playbook = tmp_path / "playbook.yml"
        hygie("remediate", "latest", "-i", str(inventory), "-o", str(playbook))
        fixed = _lab_playbook(playbook)
        assert fixed >= PLANTED_SSHD

        untouched = host_files()
        predicted = ansible("--check", "--diff")
        assert "changed=0" not in predicted and "+PermitRootLogin no" in predicted
        assert host_files() == untouched
        ansible()
        assert "changed=0" in ansible("--check")  # idempotent: nothing left to change

        hygie("scan", "-i", str(inventory), *known, "-q", "-o", str(tmp_path / "after.json"))
    before, after = _statuses(tmp_path / "before.json"), _statuses(tmp_path / "after.json")
    assert {c: before[c] for c in fixed} == dict.fromkeys(fixed, "fail")
    assert {c: after[c] for c in fixed} == dict.fromkeys(fixed, "pass")
    assert {c: (before[c], after[c]) for c in ALSO_FIXED} == dict.fromkeys(
        ALSO_FIXED, ("fail", "pass")
    )
    others = set(before) - fixed - ALSO_FIXED
    assert {c: after[c] for c in others} == {c: before[c] for c in others}
