"""``hygie remediate``: a playbook (or sh script) for the failures of a stored scan."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from hygie.checkdata import PLACEHOLDER, CheckDataError, load_domain_file
from hygie.cli import cli
from hygie.model import HostScan, Result, Scan, Severity, Status
from hygie.policy import load_policy
from hygie.registry import all_checks
from hygie.remediate import FAILED_VAR, Failure, fixes, playbook, render, shell_text
from hygie.store import Store

FAIL, PASS = Status.FAIL, Status.PASS
ROWS = {
    "web1": {"ssh_max_auth_tries": FAIL, "ssh_banner": FAIL, "ssh_root_login": PASS},
    "web2": {"ssh_max_auth_tries": FAIL, "password_max_age": FAIL, "ssh_root_login": FAIL},
    "db1": {"ssh_max_auth_tries": PASS, "password_min_length": FAIL},
    "ok1": {"ssh_max_auth_tries": PASS},
}


def recorded_scan(tmp_path: Path, **params: dict) -> Scan:
    """A scan as stored and loaded back, judged against health-baseline with ``params``."""
    document = load_policy("health-baseline").document()
    for check_id, values in params.items():
        document["checks"][check_id]["params"].update(values)
    registry = all_checks()
    hosts = []
    for name, rows in ROWS.items():
        host = HostScan(name=name, address=f"192.0.2.{len(hosts) + 1}", transport="ssh")
        for check_id, status in rows.items():
            meta = registry[check_id]
            host.results.append(Result(check_id, name, status, meta.severity, meta.title, "m"))
        hosts.append(host)
    scan = Scan("20261201T0800Z", 0.0, 1.0, "0.1.0", "health-baseline", "1.0", "d", document, hosts)
    store = Store(tmp_path / "hygie.db")
    store.save(scan)
    try:
        return store.load(scan.id)
    finally:
        store.close()


def tasks_by_check(play: dict) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for task in play["tasks"]:
        found.setdefault(task["tags"][0], []).append(task)
    return found


def test_tasks_only_for_failed_checks_on_the_hosts_that_failed(tmp_path):
    scan = recorded_scan(tmp_path, ssh_max_auth_tries={"maximum": 3})
    (play,) = playbook(scan)
    assert play["hosts"] == ["db1", "web1", "web2"]
    assert play["become"] is True
    assert play["vars"][FAILED_VAR] == {
        "password_max_age": ["web2"],
        "password_min_length": ["db1"],
        "ssh_banner": ["web1"],
        "ssh_max_auth_tries": ["web1", "web2"],
        "ssh_root_login": ["web2"],
    }
    tasks = tasks_by_check(play)
    (auth,) = tasks["ssh_max_auth_tries"]
    block = auth["ansible.builtin.blockinfile"]
    assert block["block"] == "MaxAuthTries 3"
    assert block["validate"] == "/usr/sbin/sshd -t -f %s"
    assert block["insertbefore"] == "BOF"
    assert auth["notify"] == "reload sshd"
    assert auth["when"] == f"inventory_hostname in {FAILED_VAR}.ssh_max_auth_tries"
    assert tasks["ssh_root_login"][0]["ansible.builtin.blockinfile"]["block"] == (
        "PermitRootLogin no"
    )
    (aging,) = tasks["password_max_age"]
    assert aging["ansible.builtin.lineinfile"]["line"] == "PASS_MAX_DAYS\t365"
    assert tasks["password_min_length"][0]["ansible.builtin.lineinfile"]["line"] == "minlen = 14"
    assert [h["name"] for h in play["handlers"]] == ["reload sshd"]


def test_tags_are_check_id_severity_and_framework_controls(tmp_path):
    (play,) = playbook(recorded_scan(tmp_path))
    tags = tasks_by_check(play)["ssh_max_auth_tries"][0]["tags"]
    meta = all_checks()["ssh_max_auth_tries"]
    assert tags[:2] == ["ssh_max_auth_tries", f"severity:{meta.severity.value}"]
    for framework, controls in meta.references.items():
        assert {f"{framework}:{c}" for c in controls} <= set(tags)


def test_checks_without_a_safe_fix_are_listed_as_manual(tmp_path):
    scan = recorded_scan(
        tmp_path, password_max_age={"require_expiry": False, "forbid_expiry": True}
    )
    tasks = tasks_by_check(playbook(scan)[0])
    for check_id in ("ssh_banner", "password_max_age"):  # none; or not for a NIST policy
        (task,) = tasks[check_id]
        assert task["name"] == f"{check_id}: manual"
        assert all_checks()[check_id].remediation in task["ansible.builtin.debug"]["msg"]


def test_one_play_per_inventory_group_limited_to_its_failed_hosts(tmp_path):
    groups = {"web1": "web", "web2": "web", "db1": "db", "ok1": "db"}
    plays = {p["name"].rsplit(": ", 1)[1]: p for p in playbook(recorded_scan(tmp_path), groups)}
    assert sorted(plays) == ["db", "web"]
    assert plays["db"]["hosts"] == ["db1"]
    assert plays["web"]["hosts"] == ["web1", "web2"]
    assert set(tasks_by_check(plays["db"])) == {"password_min_length"}
    assert "handlers" not in plays["db"]


def test_every_fix_names_parameters_of_its_check_and_renders_from_defaults():
    registry = all_checks()
    known = fixes()
    assert {"ssh_root_login", "ssh_idle_timeout", "password_warn_age", "umask_default"} <= set(
        known
    )
    for check_id, fix in known.items():
        meta = registry[check_id]
        text = str([fix.settings, fix.ansible, fix.sh, fix.handlers])
        for match in PLACEHOLDER.finditer(text):
            assert match.group("param") in meta.params, (check_id, match.group(0))
        failure = Failure(meta, meta.severity.value, ["h"], fix, meta.defaults())
        assert "{{" not in str(failure.fill([fix.settings, fix.ansible, fix.sh]))


def _ansible_playbook() -> str:
    found = Path(sys.executable).with_name("ansible-playbook")
    return str(found) if found.exists() else (shutil.which("ansible-playbook") or "")


def test_generated_playbooks_pass_ansible_syntax_check(tmp_path):
    command = _ansible_playbook()
    if not command:
        pytest.skip("ansible-core is not installed (the test extra has it)")
    scan = recorded_scan(tmp_path)
    inventory = tmp_path / "hosts.ini"
    inventory.write_text("[web]\nweb1\nweb2\n[db]\ndb1\nok1\n")
    for name, groups in (("one.yml", None), ("groups.yml", {"web1": "web", "db1": "db"})):
        path = tmp_path / name
        path.write_text(render(scan, "ansible", groups))
        assert yaml.safe_load(path.read_text())
        run = subprocess.run(
            [command, "-i", str(inventory), "--syntax-check", str(path)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert run.returncode == 0, run.stderr


def test_shell_script_is_valid_sh_with_one_branch_per_failed_host(tmp_path):
    text = shell_text(recorded_scan(tmp_path, ssh_max_auth_tries={"maximum": 3}))
    assert subprocess.run(["sh", "-n"], input=text, text=True, timeout=30).returncode == 0
    assert "hygie_sshd_block ssh_max_auth_tries 'MaxAuthTries 3'" in text
    assert "  web2) fix_password_max_age; fix_ssh_max_auth_tries; fix_ssh_root_login ;;" in text
    assert "ok1)" not in text
    assert "hygie: manual: ssh_banner:" in text


def test_unsafe_parameter_values_are_refused(tmp_path):
    scan = recorded_scan(tmp_path, umask_default={"umask": "027; rm -rf /"})
    scan.hosts[0].results.append(Result("umask_default", "web1", FAIL, Severity.MEDIUM, "t", "m"))
    runner = CliRunner()
    store = Store(tmp_path / "unsafe.db")
    store.save(scan)
    store.close()
    result = runner.invoke(cli, ["remediate", "latest", "--db", str(tmp_path / "unsafe.db")])
    assert result.exit_code == 3
    assert "umask_default: umask='027; rm -rf /' is not a single word" in result.output


def test_cli_writes_the_playbook_with_groups_from_the_inventory(tmp_path):
    recorded_scan(tmp_path)
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text("groups:\n  web: {hosts: [web1, web2]}\n  db: {hosts: [db1, ok1]}\n")
    out = tmp_path / "playbook.yml"
    args = ["remediate", "latest", "--db", str(tmp_path / "hygie.db"), "-o", str(out)]
    result = CliRunner().invoke(cli, [*args, "-i", str(inventory)])
    assert result.exit_code == 0, result.output
    assert "automatic fixes" in result.output
    plays = yaml.safe_load(out.read_text())
    assert [p["hosts"] for p in plays] == [["db1"], ["web1", "web2"]]


@pytest.mark.parametrize(
    ("fix", "words"),
    [
        ("{sshd_config: [MaxAuthTries]}", ["x_check.fix.sshd_config", "mapping"]),
        ("{ansible: [{name: t, ansible.builtin.debug: {}}]}", ["need their sh equivalent"]),
        ("{sshd_config: {LogLevel: \"{{ lookup('pipe', 'id') }}\"}}", ["placeholders"]),
        ("{when: {a: 1}}", ["no setting"]),
        ("{sshd_config: {A: b}, reload: true}", ["unknown key 'reload'"]),
    ],
)
def test_fix_entries_are_validated_with_file_and_line(tmp_path, fix, words):
    path = tmp_path / "x.yaml"
    path.write_text(
        "x_check:\n  severity: low\n  references: [{nist_800_53r5: [AC-7]}]\n"
        "  title: {en: t}\n  rationale: {en: r}\n  remediation: {en: m}\n"
        f"  fix: {fix}\n"
    )
    with pytest.raises(CheckDataError) as err:
        load_domain_file(path)
    assert str(err.value).startswith(f"{path}:7:")
    for word in words:
        assert word in str(err.value)
