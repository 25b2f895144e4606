"""`hygie scan -i inventory` against the lab fleet: real sshd hosts, real sudo, real files.

The scanner runs inside the lab's scanner namespace, which has no route out.
"""

from __future__ import annotations

import sqlite3

import pytest

from tests.integration.conftest import load_results
from tests.integration.fleet import PLANTED, SANDBOX_LIMITS

pytestmark = pytest.mark.lab

ASSESSED = ["hardened", *PLANTED]
#: host -> (failure category, what the one-line reason says)
NOT_ASSESSED = {
    "no-sudo": ("privilege", "sudo needs a password"),
    "wrong-key": ("auth", "authentication failed"),
    "unreachable": ("unreachable", "no route to host"),
    "tarpit": ("banner", "no SSH banner within 3s"),
}


SSHD_COUNTED = ["hardened", "weak-passwd", "weak-ssh", "weak-patch", "weak-logs", "no-sudo"]


def connections_seen(lab_fleet) -> dict[str, int]:
    return {n: lab_fleet.lab.sshd_log(n).count("Connection from") for n in SSHD_COUNTED}


@pytest.fixture(scope="module")
def scan(lab_fleet):
    out = lab_fleet.workdir / "results.json"
    before = connections_seen(lab_fleet)
    proc = lab_fleet.hygie(
        "scan",
        "-i",
        str(lab_fleet.inventory),
        "-o",
        str(out),
        "--known-hosts",
        str(lab_fleet.lab.known_hosts_path),
        "--ssh-config",
        "/dev/null",
    )
    after = connections_seen(lab_fleet)
    lab_fleet.sshd_connections = {n: after[n] - before[n] for n in SSHD_COUNTED}
    return proc, load_results(out)


def failing(host: dict) -> set[str]:
    return {r["check_id"] for r in host["results"] if r["status"] == "fail"}


def test_exit_code_says_some_hosts_could_not_be_assessed(scan):
    proc, _ = scan
    assert proc.returncode == 2, proc.stderr[-3000:]


@pytest.mark.parametrize("host", sorted(PLANTED))
def test_every_planted_weakness_is_reported_with_evidence(scan, host):
    _, hosts = scan
    result = hosts[host]
    assert result["error"] is None
    missing = PLANTED[host] - failing(result)
    assert not missing, f"{host}: planted weaknesses not reported: {sorted(missing)}"
    fact_names = {f["name"] for f in result["facts"]}
    for r in result["results"]:
        if r["check_id"] in PLANTED[host]:
            assert r["evidence"], r
            for e in r["evidence"]:
                assert e["expected"] and e["actual"] and e["fact"] in fact_names, r


def test_hardened_host_has_no_false_finding(scan):
    _, hosts = scan
    hardened = hosts["hardened"]
    flagged = {
        r["check_id"]: r["message"] for r in hardened["results"] if r["status"] in ("fail", "error")
    }
    unexpected = {k: v for k, v in flagged.items() if k not in SANDBOX_LIMITS}
    assert not unexpected, unexpected
    assert sum(r["status"] == "pass" for r in hardened["results"]) >= 40


@pytest.mark.parametrize(("host", "expected"), sorted(NOT_ASSESSED.items()))
def test_unassessable_hosts_are_error_with_a_reason_never_pass(scan, host, expected):
    _, hosts = scan
    result = hosts[host]
    category, reason = expected
    assert result["error_category"] == category, result["error"]
    assert result["error"].startswith(f"{category}: {host} at {result['address']}:")
    assert reason in result["error"], result["error"]
    assert {r["status"] for r in result["results"]} == {"error"}
    assert all(category in r["message"] for r in result["results"])


def test_tarpit_does_not_stall_the_scan(scan):
    _, hosts = scan
    assert hosts["tarpit"]["duration_s"] < 15
    assert hosts["unreachable"]["duration_s"] < 15


def test_one_connection_and_one_exec_per_host(scan, lab_fleet):
    """Counted twice: by the transport, and by each sshd's own log."""
    _, hosts = scan
    for name in [*ASSESSED, "no-sudo"]:
        assert (hosts[name]["connections"], hosts[name]["execs"]) == (1, 1), name
    assert lab_fleet.sshd_connections == dict.fromkeys(SSHD_COUNTED, 1)


def test_password_auth_and_sudo_password_reach_root(scan):
    _, hosts = scan
    assert hosts["weak-ssh"]["uid"] == 0  # password from HYGIE_LAB_PASSWORD, sudo -n
    assert hosts["weak-logs"]["uid"] == 0  # key, then sudo -S with the password on stdin


def test_hostile_file_content_stays_inside_its_fact(scan, lab_fleet):
    """weak-passwd's login.defs carries our frame markers and escape sequences."""
    db = sqlite3.connect(lab_fleet.env["HYGIE_DB"])
    (stdout,) = db.execute(
        "SELECT stdout FROM facts WHERE host = 'weak-passwd' AND name = 'login_defs' "
        "ORDER BY rowid DESC LIMIT 1"
    ).fetchone()
    assert b"@@HYGIE@@ END login_defs 0\n@@HYGIE@@ DONE" in stdout
    assert b"\x1b[31m<script>" in stdout
    _, hosts = scan
    assert {f["name"] for f in hosts["weak-passwd"]["facts"]} >= {"login_defs", "uname"}


def test_shadow_hashes_never_leave_the_host(scan, lab_fleet):
    db = sqlite3.connect(lab_fleet.env["HYGIE_DB"])
    for (stdout,) in db.execute("SELECT stdout FROM facts WHERE name = 'shadow_summary'"):
        assert b"$1$saltsalt" not in stdout and b"$6$" not in stdout and b"$y$" not in stdout


def test_secrets_are_in_no_file_hygie_wrote(scan, lab_fleet):
    proc, _ = scan
    key_lines = [
        line
        for line in lab_fleet.lab.private_key_path.read_text().splitlines()
        if line and not line.startswith("-----")
    ]
    secrets = [lab_fleet.lab.password, *key_lines]
    written = [
        p
        for p in lab_fleet.workdir.rglob("*")
        if p.is_file()
        and p.name not in ("inventory.yaml", "unrelated_ed25519", "unrelated_ed25519.pub")
    ]
    assert any(p.suffix == ".db" for p in written) and any(p.suffix == ".json" for p in written)
    for path in written:
        data = path.read_bytes()
        for secret in secrets:
            assert secret.encode() not in data, f"secret found in {path}"
    for stream in (proc.stdout, proc.stderr):
        assert not any(secret in stream for secret in secrets)


def test_evaluate_rejudges_offline_and_evidence_verifies(scan, lab_fleet):
    before = {n: lab_fleet.lab.sshd_log(n).count("Connection from") for n in ASSESSED[:3]}
    out = lab_fleet.workdir / "nist.json"
    proc = lab_fleet.hygie("evaluate", "latest", "-p", "nist-800-63b", "-o", str(out))
    assert proc.returncode == 2, proc.stderr[-2000:]
    after = {n: lab_fleet.lab.sshd_log(n).count("Connection from") for n in ASSESSED[:3]}
    assert before == after  # no host was contacted
    hosts = load_results(out)
    ids = {r["check_id"] for r in hosts["hardened"]["results"]}
    assert "password_history" not in ids  # the NIST pack does not select it
    minlen = next(r for r in hosts["hardened"]["results"] if r["check_id"] == "password_min_length")
    assert minlen["status"] == "fail" and "15" in minlen["evidence"][0]["expected"]
    verify = lab_fleet.hygie("verify", "latest")
    assert verify.returncode == 0 and "evidence intact" in verify.stdout
