"""Vulnerability auditing on the namespace lab: three real sshd hosts whose dpkg databases
hold older and current versions of real packages, scanned by the real CLI in the lab's
scanner namespace against feeds imported offline (fixture OSV records of real advisories,
the real CISA KEV catalog, a small EPSS file).

- ``old``: glibc 2.36-9+deb12u1 (Looney Tunables, in KEV), openssh 1:9.2p1-2+deb12u2
  (regreSSHion), and a kernel image package planted for the running kernel at 6.1.69-1
  (CVE-2024-1086, in KEV; the lab shares the machine's kernel, so the package claims it).
- ``patched``: this machine's own package database (current bookworm versions).
- ``epoch``: openssh exactly at the fixed 1:9.2p1-2+deb12u3, where a withdrawn advisory
  would match every version if it were not ignored.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.integration.conftest import lab_env
from tests.lab import Lab, LabHost, lab_unavailable_reason, real_file

pytestmark = pytest.mark.lab

HYGIE = [sys.executable, "-m", "hygie.cli"]
ROOT = Path(__file__).parent.parent
FEEDS = ROOT / "fixtures" / "feeds"
KEV = ROOT.parent.parent / "shared" / "data" / "cisa-kev" / "known_exploited_vulnerabilities.json"
FIXED_SSH = "1:9.2p1-2+deb12u3"  # DSA-5724-1, checked in openssh's Debian changelog
CHECKS = (
    "vuln_feed_age",
    "vuln_fixable_packages",
    "vuln_known_exploited",
    "vuln_unfixed_packages",
    "vuln_running_kernel",
)


def dpkg_status(versions: dict[str, str], extra: str = "") -> str:
    """The machine's dpkg status with the binaries of some source packages at ``versions``."""
    stanzas = real_file("/var/lib/dpkg/status").strip("\n").split("\n\n")
    out = []
    for stanza in stanzas:
        package = re.search(r"^Package: (\S+)$", stanza, re.MULTILINE)
        source = re.search(r"^Source: (\S+)", stanza, re.MULTILINE)
        name = source.group(1) if source else package.group(1) if package else ""
        if name in versions:
            stanza = re.sub(r"^Version: .*$", f"Version: {versions[name]}", stanza, flags=re.M)
        out.append(stanza)
    return "\n\n".join([*out, extra] if extra else out) + "\n"


def kernel_stanza() -> str:
    return "\n".join(
        [
            f"Package: linux-image-{os.uname().release}",
            "Status: install ok installed",
            "Priority: optional",
            "Section: kernel",
            "Architecture: amd64",
            "Source: linux-signed-amd64 (6.1.69+1)",
            "Version: 6.1.69-1",
            "Description: lab stanza: the running kernel's image package",
        ]
    )


def hosts() -> list[LabHost]:
    old = dpkg_status({"glibc": "2.36-9+deb12u1", "openssh": "1:9.2p1-2+deb12u2"}, kernel_stanza())
    return [
        LabHost("old", files={"/var/lib/dpkg/status": old}),
        LabHost("patched"),
        LabHost(
            "epoch", files={"/var/lib/dpkg/status": dpkg_status({"openssh": "1:9.2p1-2+deb12u3"})}
        ),
    ]


@pytest.fixture(scope="module")
def vuln_lab(tmp_path_factory):
    if lab_unavailable_reason() or not KEV.exists():
        pytest.skip(lab_unavailable_reason() or "../shared/data/cisa-kev absent")
    workdir = tmp_path_factory.mktemp("vulnlab")
    with Lab(hosts()) as lab:
        env = lab_env(workdir)

        def hygie(*args: str) -> subprocess.CompletedProcess:
            return lab.run_in_scanner([*HYGIE, *args], timeout=120, env=env)

        imported = hygie(
            "feeds",
            "import",
            str(FEEDS / "osv-debian12"),
            str(KEV),
            str(FEEDS / "epss_scores-sample.csv.gz"),
        )
        assert imported.returncode == 0, imported.stderr
        inventory = workdir / "inventory.yaml"
        inventory.write_text(
            yaml.safe_dump(
                {
                    "defaults": {
                        "user": lab.user,
                        "key": str(lab.private_key_path),
                        "become": "sudo",
                    },
                    "hosts": {h.name: {"address": lab.address(h.name)} for h in lab.hosts},
                }
            )
        )
        policy = workdir / "vulns.yaml"
        policy.write_text(
            yaml.safe_dump({"name": "vulns", "version": "1", "checks": {c: {} for c in CHECKS}})
        )
        out = workdir / "results.json"
        scan = hygie(
            "scan",
            "-i",
            str(inventory),
            "-p",
            str(policy),
            "-o",
            str(out),
            "--known-hosts",
            str(lab.known_hosts_path),
            "--ssh-config",
            "/dev/null",
        )
        yield {
            "scan": scan,
            "results": json.loads(out.read_text()),
            "hygie": hygie,
            "db": workdir / "hygie.db",
            "workdir": workdir,
        }


def results(lab: dict, host: str) -> dict[str, dict]:
    (h,) = [h for h in lab["results"]["hosts"] if h["name"] == host]
    assert h["error"] is None, h["error"]
    return {r["check_id"]: r for r in h["results"]}


def report(lab: dict, host: str) -> dict:
    db = sqlite3.connect(lab["db"])
    (stdout,) = db.execute(
        "SELECT stdout FROM facts WHERE host = ? AND name = 'vulnerable_packages' "
        "ORDER BY rowid DESC LIMIT 1",
        (host,),
    ).fetchone()
    return json.loads(stdout)


def by_binary(doc: dict) -> dict[str, dict]:
    """Binary package name -> the entry of the vulnerable source package it comes from."""
    return {b["name"]: s for s in doc["sources"] for b in s["packages"]}


def test_scan_exit_code_says_findings(vuln_lab):
    assert vuln_lab["scan"].returncode == 1, vuln_lab["scan"].stderr[-3000:]


def test_old_host_every_planted_vulnerability_exactly(vuln_lab):
    doc = report(vuln_lab, "old")
    by_name = by_binary(doc)
    libc = by_name["libc6"]
    assert (libc["version"], libc["fixed"]) == ("2.36-9+deb12u1", "2.36-9+deb12u3")
    assert {b["installed"] for b in libc["packages"]} == {"2.36-9+deb12u1"}
    looney = next(v for v in libc["vulnerabilities"] if v["id"] == "CVE-2023-4911")
    assert looney["advisories"] == ["DEBIAN-CVE-2023-4911", "DSA-5514-1"]
    assert looney["kev"] == {
        "date_added": "2023-11-21",
        "due_date": "2023-12-12",
        "known_ransomware_campaign_use": "Unknown",
    }
    assert looney["epss"] == {"score": 0.78712, "percentile": 0.99003}
    ssh = by_name["openssh-server"]
    assert (ssh["version"], ssh["fixed"], ssh["cves"]) == (
        "1:9.2p1-2+deb12u2",
        "1:9.2p1-2+deb12u3",
        ["CVE-2024-6387"],
    )
    assert ssh["kev"] == [] and ssh["epss"] == {
        "cve": "CVE-2024-6387",
        "score": 0.42168,
        "percentile": 0.97364,
    }
    kernel = doc["kernel"]
    assert (kernel["version"], kernel["fixed"], kernel["cves"]) == (
        "6.1.69-1",
        "6.1.76-1",
        ["CVE-2024-1086"],
    )
    assert kernel["kev"][0]["cve"] == "CVE-2024-1086"

    checks = results(vuln_lab, "old")
    assert {c: checks[c]["status"] for c in CHECKS} == {
        "vuln_feed_age": "fail",
        "vuln_fixable_packages": "fail",
        "vuln_known_exploited": "fail",
        "vuln_unfixed_packages": "pass",
        "vuln_running_kernel": "fail",
    }
    assert "1. update glibc" in checks["vuln_fixable_packages"]["message"]
    assert "2 actively exploited CVEs" in checks["vuln_known_exploited"]["message"]


def test_patched_host_reports_no_patched_package(vuln_lab):
    doc = report(vuln_lab, "patched")
    fixable = [
        (s["source"], v["id"]) for s in doc["sources"] for v in s["vulnerabilities"] if v["fixed"]
    ]
    assert fixable == []
    assert {v["id"] for s in doc["sources"] for v in s["vulnerabilities"]} == {"CVE-2010-4756"}
    checks = results(vuln_lab, "patched")
    assert checks["vuln_fixable_packages"]["status"] == "pass"
    assert checks["vuln_known_exploited"]["status"] == "pass"


def test_epoch_and_withdrawn_advisory(vuln_lab):
    doc = report(vuln_lab, "epoch")
    assert "openssh-server" not in by_binary(doc)
    for host in ("old", "patched", "epoch"):
        assert "HYGIE-TEST-WITHDRAWN-1" not in json.dumps(report(vuln_lab, host))


def test_old_feed_makes_the_scan_say_so(vuln_lab):
    for host in ("old", "patched", "epoch"):
        age = results(vuln_lab, host)["vuln_feed_age"]
        assert age["status"] == "fail" and "CISA KEV is" in age["message"], age
        assert "days old (limit 7)" in age["message"]
    doc = report(vuln_lab, "patched")
    assert doc["feeds"]["kev"]["version"] == "2025.08.25"
    assert len(doc["feeds"]["osv"]["sha256"]) == 64


def test_offline_reevaluation_with_a_wider_limit_rederives(vuln_lab):
    fresh = vuln_lab["workdir"] / "fresh.yaml"
    fresh.write_text(
        yaml.safe_dump(
            {
                "name": "fresh",
                "version": "1",
                "checks": {
                    c: ({"params": {"max_age_days": 36500}} if c == "vuln_feed_age" else {})
                    for c in CHECKS
                },
            }
        )
    )
    out = vuln_lab["workdir"] / "fresh.json"
    proc = vuln_lab["hygie"]("evaluate", "latest", "-p", str(fresh), "-o", str(out), "-q")
    assert proc.returncode == 1, proc.stderr
    hosts = {
        h["name"]: {r["check_id"]: r["status"] for r in h["results"]}
        for h in json.loads(out.read_text())["hosts"]
    }
    assert hosts["patched"]["vuln_feed_age"] == "pass"
    assert hosts["old"]["vuln_fixable_packages"] == "fail"
