"""``hygie drift``: what changed on the hosts between two scans, from their facts."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from hygie.cli import cli
from hygie.drift import COLLECTIONS, drift
from hygie.facts.accounts import admin_members, parse_sudoers_rules
from hygie.facts.services import parse_listening_sockets
from hygie.facts.ssh import AUTHORIZED_KEYS, parse_authorized_keys
from hygie.model import Fact, FactKind, HostScan, Scan
from hygie.policy import PolicyError, load_policy
from hygie.store import Store
from tests.unit.nmap_records import nmap_record

PASSWD = "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/sh\n"
SS = "tcp   LISTEN 0  128  0.0.0.0:22  0.0.0.0:*\nudp   UNCONN 0  0  [::1]:323  [::]:*\n"
HOST_KEY = "/etc/ssh/ssh_host_ed25519_key.pub\t256 SHA256:hostAAA root@db1 (ED25519)\n"
ROOT_KEY = "root\t/root/.ssh/authorized_keys\t256 SHA256:keyK1 admin@laptop (ED25519)\n"
DPKG = "bash\t5.2-1\tii \tbash\t5.2-1\tamd64\ntelnet\t0.17\tii \tnetkit\t0.17\tamd64\n"
SSH_PORT = '<port protocol="tcp" portid="22"><state state="open"/><service name="ssh"/></port>'
WEB_PORT = '<port protocol="tcp" portid="80"><state state="open"/><service name="http"/></port>'


def vulns(*cves: str) -> bytes:
    """A ``vulnerable_packages`` document whose KEV entries are ``cves`` (nothing fixable)."""
    kev = [{"cve": c, "date_added": "2026-10-01"} for c in cves]
    source = {"source": "openssl", "version": "3.0.1", "kev": kev, "packages": []}
    kernel = {"package": None, "vulnerabilities": []}
    return json.dumps({"sources": [source | {"vulnerabilities": []}], "kernel": kernel}).encode()


BASE = {
    "etc_passwd": PASSWD,
    "etc_group": "root:x:0:\nsudo:x:27:alice\n",
    "sudoers": "==> /etc/sudoers <==\nroot ALL=(ALL:ALL) ALL\n# a comment\n%sudo ALL=(ALL:ALL) ALL",
    "listening_sockets": SS,
    "ssh_host_keys": HOST_KEY,
    "authorized_keys_fingerprints": ROOT_KEY,
    "packages_dpkg": DPKG,
    "nmap_services": nmap_record(SSH_PORT).decode(),
    "vulnerable_packages": vulns("CVE-2024-0001").decode(),
}
CHANGED = {
    "etc_passwd": PASSWD + "toor:x:0:0::/root:/bin/sh\n",
    "etc_group": "root:x:0:\nsudo:x:27:alice,bob\n",
    "sudoers": BASE["sudoers"]
    + "\n==> /etc/sudoers.d/bob <==\nbob ALL=(ALL) NOPASSWD: ALL"
    + "\n==> /etc/sudoers.d/old.dpkg-dist <==\neve ALL=(ALL) ALL",
    "listening_sockets": SS + "tcp   LISTEN 0  5  0.0.0.0:8080  0.0.0.0:*\n",
    "ssh_host_keys": HOST_KEY.replace("hostAAA", "hostBBB"),
    "authorized_keys_fingerprints": ROOT_KEY + ROOT_KEY.replace("keyK1 admin", "keyK2 intruder"),
    "packages_dpkg": DPKG.replace("telnet\t0.17\tii", "ncat\t7.9\tii"),
    "nmap_services": nmap_record(SSH_PORT + WEB_PORT).decode(),
    "vulnerable_packages": vulns("CVE-2024-0001", "CVE-2026-9999").decode(),
}


def host(name: str, texts: dict[str, str], error: str | None = None) -> HostScan:
    facts = {
        n: Fact(
            n, t.encode(), kind=FactKind.DERIVED if n == "vulnerable_packages" else FactKind.SHELL
        )
        for n, t in texts.items()
    }
    return HostScan(
        name=name, address="192.0.2.7", transport="ssh", facts=facts, error=error, uid=0
    )


def scan(scan_id: str, started: float, *hosts: HostScan, policy: str = "health-baseline") -> Scan:
    return Scan(scan_id, started, started + 1, "0", policy, "1", "d", {}, list(hosts))


def changes(d, name: str) -> set[tuple[str, str, str]]:
    found = next(h for h in d.hosts if h.host == name)
    return {(c.kind, c.change, c.item) for c in found.changes}


def test_identical_scans_have_no_drift():
    d = drift(scan("a", 1, host("db1", BASE)), scan("b", 2, host("db1", BASE)))
    assert not d.found and d.hosts[0].changes == () and d.hosts[0].not_compared == ()


def test_each_kind_of_drift_is_found():
    d = drift(scan("a", 1, host("db1", BASE)), scan("b", 2, host("db1", CHANGED)))
    assert changes(d, "db1") == {
        ("listening_socket", "added", "tcp/8080 on 0.0.0.0"),
        ("nmap_port", "added", "80/tcp"),
        ("uid0_account", "added", "toor"),
        ("admin_member", "added", "bob in sudo"),
        ("sudoers_rule", "added", "bob ALL=(ALL) NOPASSWD: ALL"),
        ("ssh_host_key", "changed", "/etc/ssh/ssh_host_ed25519_key.pub"),
        ("authorized_key", "added", "root SHA256:keyK2"),
        ("package", "added", "ncat:amd64"),
        ("package", "removed", "telnet:amd64"),
        ("kev_vulnerability", "added", "CVE-2026-9999"),
    }
    assert d.found
    reverse = drift(scan("b", 2, host("db1", CHANGED)), scan("c", 3, host("db1", BASE)))
    assert ("uid0_account", "removed", "toor") in changes(reverse, "db1")


def test_reformatted_sudoers_and_reordered_files_are_no_drift():
    again = BASE | {
        "sudoers": "==> /etc/sudoers <==\n# new header\n%sudo   ALL=(ALL:ALL) \\\n ALL\n"
        "root\tALL=(ALL:ALL) ALL  # inline\n",
        "listening_sockets": "\n".join(reversed(SS.splitlines())),
    }
    d = drift(scan("a", 1, host("db1", BASE)), scan("b", 2, host("db1", again)))
    assert not d.found


def test_hosts_appeared_vanished_unassessable_and_missing_facts():
    old = scan("a", 1, host("db1", BASE), host("web1", BASE), host("db2", BASE), host("x", BASE))
    new = scan(
        "b",
        2,
        host("db1", {k: v for k, v in BASE.items() if k != "sudoers"}),
        host("app1", BASE),
        host("db2", {}, error="auth: refused"),
        host("x", BASE | {"listening_sockets": ""} | {}, error=None),
    )
    new.hosts[3].facts["listening_sockets"] = Fact("listening_sockets", b"", exit_status=127)
    d = drift(old, new)
    states = {h.host: h.state for h in d.hosts}
    assert states == {
        "db1": "assessed",
        "app1": "appeared",
        "db2": "unassessable",
        "x": "assessed",
        "web1": "vanished",
    }
    by = {h.host: h for h in d.hosts}
    assert by["db1"].not_compared == ("sudoers_rule",) and not by["db1"].changes
    assert by["x"].not_compared == ("listening_socket",)
    again = drift(new, scan("c", 3, host("db2", {}, error="auth: refused")))
    assert again.hosts[0].state == "still unassessable" and not again.hosts[0].drifted


def test_facts_that_need_root_are_not_compared_from_an_unprivileged_scan():
    unprivileged = host("db1", CHANGED)
    unprivileged.uid = 1000
    d = drift(scan("a", 1, host("db1", BASE)), scan("b", 2, unprivileged))
    assert {"sudoers_rule", "authorized_key"} <= set(d.hosts[0].not_compared)
    assert ("uid0_account", "added", "toor") in changes(d, "db1")  # /etc/passwd needs no root


def test_parsers():
    assert parse_listening_sockets(SS) == {("tcp", "0.0.0.0", 22), ("udp", "::1", 323)}
    passwd = PASSWD + "carol:x:1001:10::/home/carol:/bin/sh\n"
    members = admin_members(passwd, "wheel:x:10:\nsudo:x:27:alice\nusers:x:100:dave\n")
    assert members == {("sudo", "alice"), ("wheel", "carol")}
    rules = parse_sudoers_rules(
        "==> /etc/sudoers <==\n#includedir /etc/sudoers.d\nDefaults env_reset # why\n"
        "==> /etc/sudoers.d/x~ <==\nignored ALL=(ALL) ALL"
    )
    assert rules == {"#includedir /etc/sudoers.d", "Defaults env_reset"}
    (key,) = parse_authorized_keys(ROOT_KEY + "garbage line\n")
    assert (key.user, key.fingerprint, key.type) == ("root", "SHA256:keyK1", "ED25519")


def test_authorized_keys_leave_the_host_as_fingerprints_only(tmp_path):
    """The fact's own command, on files of this test: ssh-keygen -lf runs where the keys
    are, and the key text never appears in what is collected."""
    home = tmp_path / "root"
    (home / ".ssh").mkdir(parents=True)
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ops@x", "-f", str(tmp_path / "k")],
        check=True,
    )
    public = (tmp_path / "k.pub").read_text()
    (home / ".ssh" / "authorized_keys").write_text(f'no-pty,command="/bin/true" {public}')
    (tmp_path / "passwd").write_text(f"root:x:0:0::{home}:/bin/sh\nnobody:x:65534:65534::/:/x\n")
    (tmp_path / "group").write_text("sudo:x:27:\n")
    command = AUTHORIZED_KEYS.command.replace("/etc/group", str(tmp_path / "group")).replace(
        "/etc/passwd", str(tmp_path / "passwd")
    )
    out = subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=True).stdout
    blob = public.split()[1]
    assert blob not in out and "SHA256:" in out
    (key,) = parse_authorized_keys(out)
    assert key.user == "root" and key.type == "ED25519" and key.comment == "ops@x"
    d = drift(
        scan("a", 1, host("h", {"authorized_keys_fingerprints": ""})),
        scan("b", 2, host("h", {"authorized_keys_fingerprints": out})),
    )
    text = json.dumps(d.to_dict())
    assert key.fingerprint in text and blob not in text


def test_baseline_collects_what_drift_reads_and_unknown_needs_are_refused(tmp_path):
    from hygie.engine import needed_facts

    names = {s.name for s in needed_facts(load_policy())}
    assert set(COLLECTIONS["drift"]) <= names
    assert load_policy("network").collect == ("drift",)  # inherited through extends
    bad = tmp_path / "p.yaml"
    bad.write_text("name: p\nversion: '1'\ncollect: [drfit]\n")
    with pytest.raises(PolicyError, match="drfit"):
        load_policy(str(bad))


# -------------------------------------------------------------------------- the CLI


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "h.db"
    store = Store(path)
    store.save(scan("20260901T080000Z-aaaaaa", 1e9, host("db1", BASE)))
    store.save(scan("20261001T080000Z-cccccc", 1.1e9, host("db1", BASE), policy="other"))
    store.save(scan("20261201T080000Z-bbbbbb", 1.2e9, host("db1", CHANGED)))
    store.close()
    return path


def test_cli_exit_codes_and_json(db):
    same = run("drift", "20260901", "20260901", "--db", str(db))
    assert same.exit_code == 0 and "no drift" in same.output
    found = run("drift", "--db", str(db), "--format", "json")  # OLD: previous of the policy
    assert found.exit_code == 1
    doc = json.loads(found.output)
    assert doc["format"] == "hygie-drift" and doc["drift"] is True
    assert doc["old"]["id"] == "20260901T080000Z-aaaaaa"
    (h,) = doc["hosts"]
    assert {"kind": "uid0_account", "change": "added", "item": "toor", "detail": ""} in h["changes"]
    text = run("drift", "2026100", "--db", str(db))
    assert text.exit_code == 1 and "+ uid0_account       toor" in text.output
    assert run("drift", "nosuchscan", "--db", str(db)).exit_code == 3


def test_text_output_makes_target_strings_inert():
    from hygie.cli_drift import drift_text

    hostile = BASE | {"sudoers": BASE["sudoers"] + "\n\x1b[2J\u202eevil ALL=(ALL) ALL"}
    text = drift_text(drift(scan("a", 1, host("db1", BASE)), scan("b", 2, host("db1", hostile))))
    assert "\x1b" not in text and "\u202e" not in text and "?[2J?evil ALL=(ALL) ALL" in text
