"""Network posture against real services in the namespace lab: `hygie scan -p network`
(network-only targets, ``transport: none``) reports every planted weakness of ``net-weak``
with its evidence, nothing on ``net-good``, and a tarpit cannot hold the scan past its
limits. ``hygie discover`` and ``hygie scan --network`` sweep the lab's /24 only.

Services are real Debian daemons where cheap (inetutils telnetd under inetutils-inetd,
vsftpd, redis-server, net-snmp's snmpd, OpenSSH) and small scripts from
tests/lab/services/net_*.py otherwise (an HTTP login form, a VNC server without
authentication, a legacy paramiko SSH server, a tarpit), run with this interpreter.
"""

from __future__ import annotations

import json
import sqlite3
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from hygie.facts.network import parse_nmap_services
from tests.integration.conftest import HYGIE, lab_env, load_results
from tests.integration.fleet import HARDENED_SSHD
from tests.lab import Lab, LabHost, skip_unless_lab

pytestmark = pytest.mark.lab

SERVICES = Path(__file__).resolve().parent.parent / "lab" / "services"
TARPIT_LIMIT = 40  # the tarpit host's inventory `timeout`


def script(name: str, args: str) -> str:
    return f"{sys.executable} {SERVICES / name} {args}"


WEAK_SSHD = (
    "PasswordAuthentication yes\n"
    "Ciphers aes128-ctr,aes128-cbc,3des-cbc\n"
    "MACs hmac-sha2-256,hmac-md5,hmac-sha1\n"
    "KexAlgorithms curve25519-sha256@libssh.org,diffie-hellman-group14-sha1\n"
    "HostKeyAlgorithms ssh-ed25519,rsa-sha2-256,ssh-rsa\n"
)


def weak_host() -> LabHost:
    return LabHost(
        "net-weak",
        sshd_extra=WEAK_SSHD,
        host_key_types=[("ed25519", 0), ("rsa", 2048)],
        files={
            "/etc/inetd.conf": "telnet stream tcp nowait root /usr/sbin/telnetd telnetd\n",
            "/etc/vsftpd.conf": "listen=YES\nlisten_ipv6=NO\nanonymous_enable=NO\n"
            "local_enable=YES\nsecure_chroot_dir=/run/vsftpd/empty\npam_service_name=vsftpd\n",
            "/etc/hygie-lab/snmpd.conf": "agentAddress udp:161\nrocommunity public default\n",
        },
        daemons=[
            "/usr/sbin/inetutils-inetd /etc/inetd.conf",
            "mkdir -p /run/vsftpd/empty && exec /usr/sbin/vsftpd /etc/vsftpd.conf",
            "exec redis-server --bind 0.0.0.0 --port 6379 --protected-mode no --save '' "
            "--appendonly no --dir /tmp",
            "exec snmpd -f -Lo -C -c /etc/hygie-lab/snmpd.conf",
            script("net_http_login.py", "--port 80 --mode login"),
            script("net_vnc_noauth.py", "--port 5900"),
            script("net_ssh_legacy.py", "--port 2200"),
        ],
    )


def lab_hosts() -> list[LabHost]:
    return [
        weak_host(),
        LabHost(
            "net-good",
            sshd_extra=HARDENED_SSHD,
            daemons=[script("net_http_login.py", "--port 80 --mode redirect")],
        ),
        LabHost("net-tarpit", daemons=[script("net_tarpit.py", "2222 8080")]),
    ]


PLANTED = {
    "net-weak": {
        "net_telnet_exposed",
        "net_ftp_cleartext",
        "net_http_login_cleartext",
        "net_snmp_v1_v2c",
        "net_vnc_no_auth",
        "net_database_exposed",
        "net_ports_forbidden",
        "net_ports_allowed",
        "net_ssh_weak_kex",
        "net_ssh_weak_ciphers",
        "net_ssh_weak_macs",
        "net_ssh_weak_host_key_algorithms",
        "net_ssh_terrapin",
        "net_ssh_password_auth",
    },
}
NOT_PLANTED = {"net_rsh_exposed", "net_rdp_exposed", "net_smb_exposed"}


def inventory(lab: Lab) -> dict:
    weak_policy = {"allowed_ports": [22, 104], "forbidden_ports": [23, 6379]}
    good_policy = {"allowed_ports": [22, 80], "forbidden_ports": [23, 6379]}
    tarpit = {
        "ports": [22, 2222, 8080],
        "ssh_ports": [2222],
        "version_timeout": 5,
        "ssh_timeout": 4,
        "http_timeout": 4,
    }
    return {
        "defaults": {"transport": "none", "timeout": 120},
        "groups": {
            "imaging": {
                "vars": {"network": weak_policy},
                "hosts": {"net-weak": {"address": lab.address("net-weak")}},
            },
            "servers": {
                "vars": {"network": good_policy},
                "hosts": {"net-good": {"address": lab.address("net-good")}},
            },
        },
        "hosts": {
            "net-tarpit": {
                "address": lab.address("net-tarpit"),
                "timeout": TARPIT_LIMIT,
                "network": tarpit,
            },
            "modality": {
                "address": lab.address("net-weak"),
                "tags": ["fragile"],
                "network": {"ports": [21, 23, 80, 6379]},
            },
        },
    }


@dataclass
class NetLab:
    lab: Lab
    workdir: Path
    env: dict[str, str]

    def hygie(self, *args: str, timeout: float = 180):
        return self.lab.run_in_scanner([*HYGIE, *args], timeout=timeout, env=self.env)


@pytest.fixture(scope="module")
def netlab(tmp_path_factory) -> Iterator[NetLab]:
    skip_unless_lab()
    workdir = tmp_path_factory.mktemp("netlab")
    with Lab(lab_hosts()) as lab:
        env = lab_env(workdir)
        (workdir / "inventory.yaml").write_text(yaml.safe_dump(inventory(lab), sort_keys=False))
        yield NetLab(lab, workdir, env)


@pytest.fixture(scope="module")
def scan(netlab):
    out = netlab.workdir / "results.json"
    proc = netlab.hygie(
        "scan", "-i", str(netlab.workdir / "inventory.yaml"), "-p", "network", "-o", str(out), "-q"
    )
    assert out.exists(), proc.stderr[-3000:]
    return proc, load_results(out)


def statuses(host: dict) -> dict[str, str]:
    return {r["check_id"]: r["status"] for r in host["results"]}


def stored(netlab: NetLab, host: str, name: str) -> bytes:
    """A fact's raw bytes as the store kept them (the results JSON has only hashes)."""
    db = sqlite3.connect(netlab.env["HYGIE_DB"])
    (raw,) = db.execute(
        "SELECT stdout FROM facts WHERE host = ? AND name = ? ORDER BY rowid DESC LIMIT 1",
        (host, name),
    ).fetchone()
    return raw


def test_every_planted_weakness_is_reported_with_evidence(scan):
    _, hosts = scan
    weak = hosts["net-weak"]
    assert weak["error"] is None
    got = statuses(weak)
    missing = {c for c in PLANTED["net-weak"] if got.get(c) != "fail"}
    assert not missing, {c: got.get(c) for c in missing}
    assert all(got[c] == "pass" for c in NOT_PLANTED), got
    facts = {f["name"] for f in weak["facts"]}
    for r in weak["results"]:
        if r["check_id"] in PLANTED["net-weak"]:
            assert r["evidence"] and all(e["fact"] in facts for e in r["evidence"]), r


def test_findings_name_the_services(scan):
    _, hosts = scan
    messages = {r["check_id"]: r["message"] for r in hosts["net-weak"]["results"]}
    assert "23/tcp telnet" in messages["net_telnet_exposed"]
    assert (
        "21/tcp ftp" in messages["net_ftp_cleartext"] and "vsftpd" in messages["net_ftp_cleartext"]
    )
    assert "6379/tcp redis" in messages["net_database_exposed"]
    assert "5900/tcp vnc" in messages["net_vnc_no_auth"]
    assert "password field" in messages["net_http_login_cleartext"]
    assert (
        "2200/tcp" in messages["net_ssh_terrapin"] and "22/tcp" not in messages["net_ssh_terrapin"]
    )
    assert "22/tcp: password" in messages["net_ssh_password_auth"]
    assert "3des-cbc" in messages["net_ssh_weak_ciphers"]
    assert "ssh-rsa" in messages["net_ssh_weak_host_key_algorithms"]
    assert "diffie-hellman-group14-sha1" in messages["net_ssh_weak_kex"]


def test_good_host_has_no_finding(scan):
    _, hosts = scan
    good = hosts["net-good"]
    assert good["error"] is None
    flagged = {
        r["check_id"]: r["message"] for r in good["results"] if r["status"] in ("fail", "error")
    }
    assert not flagged, flagged
    got = statuses(good)
    network_checks = PLANTED["net-weak"] | NOT_PLANTED
    assert all(got[c] == "pass" for c in network_checks), got


def test_raw_nmap_xml_is_the_evidence(scan, netlab):
    raw = stored(netlab, "net-weak", "nmap_services")
    record = json.loads(raw)
    finished = [r for r in record["runs"] if r.get("exit_status") == 0]
    assert len(finished) >= 8 and all(r["xml"].startswith("<?xml") for r in finished)
    assert {r["port"] for r in record["runs"] if r["phase"] == "scripts"} == {"5900/tcp", "161/udp"}
    discovery = record["runs"][0]
    assert "-sS" in discovery["argv"] and "-sU" in discovery["argv"]  # root: SYN + UDP
    assert "11112" in discovery["argv"][discovery["argv"].index("-p") + 1]  # health ports
    assert all(a == netlab.lab.address("net-weak") for r in record["runs"] for a in r["argv"][-1:])
    services = parse_nmap_services(raw)
    assert {p.label for p in services.open_ports} >= {
        "21/tcp",
        "22/tcp",
        "23/tcp",
        "80/tcp",
        "2200/tcp",
        "5900/tcp",
        "6379/tcp",
        "161/udp",
    }


def test_fragile_host_gets_safe_mode(scan, netlab):
    _, hosts = scan
    modality = hosts["modality"]
    record = json.loads(stored(netlab, "modality", "nmap_services"))
    assert record["safe_mode"] and len(record["runs"]) == 1  # no version phase
    argv = record["runs"][0]["argv"]
    assert "-sT" in argv and "-sV" not in argv and "--script" not in argv
    assert argv[argv.index("--max-parallelism") + 1] == "1"
    got = statuses(modality)
    assert got["net_telnet_exposed"] == "fail" and got["net_ftp_cleartext"] == "fail"
    messages = {r["check_id"]: r["message"] for r in modality["results"]}
    assert "by port number" in messages["net_telnet_exposed"]


def test_tarpit_does_not_stall_the_scan(scan, netlab):
    _, hosts = scan
    tarpit = hosts["net-tarpit"]
    assert tarpit["duration_s"] < TARPIT_LIMIT + 5, tarpit["duration_s"]
    record = json.loads(stored(netlab, "net-tarpit", "nmap_services"))
    assert all(r["seconds"] < 5 + 3 for r in record["runs"])  # network.version_timeout: 5
    services = parse_nmap_services(stored(netlab, "net-tarpit", "nmap_services"))
    port = next(p for p in services.open_ports if p.port == 2222)
    assert "did not finish" in port.version_note
    results = {r["check_id"]: r for r in tarpit["results"]}
    assert results["net_ssh_weak_kex"]["status"] == "error"
    assert "TimeoutError" in results["net_ssh_weak_kex"]["message"]
    assert results["net_http_login_cleartext"]["status"] == "error"
    assert results["net_telnet_exposed"]["status"] == "pass"


def test_exit_code_reports_findings_and_errors(scan):
    proc, _ = scan
    assert proc.returncode == 2, proc.stderr[-2000:]  # the tarpit's checks are errors


def test_discover_lists_the_lab_hosts_only(netlab):
    out = netlab.workdir / "discovered.yaml"
    proc = netlab.hygie("discover", "198.18.0.0/24", "-o", str(out), "--timeout", "60")
    assert proc.returncode == 0, proc.stderr[-2000:]
    doc = yaml.safe_load(out.read_text())
    found = set(doc["groups"]["discovered"]["hosts"])
    expected = {netlab.lab.address(h.name) for h in lab_hosts()}
    assert found == expected  # the scanner's own 198.18.0.1 is left out
    assert doc["groups"]["discovered"]["vars"]["transport"] == "none"


def test_scan_network_audits_discovered_hosts(netlab):
    out = netlab.workdir / "network.json"
    good = netlab.lab.address("net-good")
    proc = netlab.hygie("scan", "--network", f"{good}/32", "-o", str(out), "-q")
    hosts = load_results(out)
    assert list(hosts) == [good], proc.stderr[-2000:]
    host = hosts[good]
    assert host["transport"] == "none"
    got = statuses(host)
    assert got["net_telnet_exposed"] == "pass" and got["net_ssh_password_auth"] == "pass"
    assert got["net_ports_allowed"] == "not_applicable"  # no inventory policy for it
    assert proc.returncode == 0, {k: v for k, v in got.items() if v in ("fail", "error")}
