"""`hygie scan` of the TLS lab (tests/lab/services/tls_lab.py): every weakness planted on
``tls-weak`` is reported with its evidence, nothing on ``tls-good`` (nginx + STARTTLS SMTP,
certificate from a CA generated here with openssl), and a tarpitting port costs its own
time limit, not the scan.

The scanner runs in the lab's scanner namespace, which has no route out.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import yaml

from hygie.registry import all_checks
from tests.integration.conftest import HYGIE, lab_env, load_results
from tests.lab import Lab, skip_unless_lab
from tests.lab.services.tls_lab import inventory, make_pki, tls_hosts

pytestmark = pytest.mark.lab

TLS_CHECKS = sorted(c for c in all_checks() if c.startswith("tls_"))
#: What the machine's OpenSSL 3 can still serve; SSLv2/3, RC4, DES/3DES, EXPORT, TLS
#: compression, Heartbleed, ROBOT and CCS cannot be planted with it (unit tests cover them
#: on crafted sslyze results).
PLANTED_WEAK = {
    "tls_protocol_versions": "TLSv1.0 enabled",
    "tls_broken_cipher_suites": "NULL cipher",
    "tls_forward_secrecy": "TLS_RSA_WITH_AES_128_CBC_SHA",
    "tls_cbc_cipher_suites": "_CBC_",
    "tls_profile_cipher_suites": "TLS_RSA_",
    "tls_key_exchange_strength": "DH 1024 bits",
    "tls_certificate_validity": "expired",
    "tls_certificate_expiring": "expired",
    "tls_certificate_trusted": "self-signed",
    "tls_certificate_hostname": "tls-weak.lab not in",
    "tls_certificate_key_strength": "RSA 1024 bits",
    "tls_certificate_signature": "SHA1",
    "tls_hsts": "no Strict-Transport-Security header",
    "tls_renegotiation": "client-initiated renegotiation",
}


@pytest.fixture(scope="module")
def tls_scan(tmp_path_factory):
    skip_unless_lab()
    workdir = tmp_path_factory.mktemp("tls")
    pki = make_pki(workdir / "pki")
    with Lab(tls_hosts(pki)) as lab:
        addresses = {h.name: lab.address(h.name) for h in lab.hosts}
        inv = workdir / "inventory.yaml"
        inv.write_text(yaml.safe_dump(inventory(addresses, workdir / "pki" / "ca.pem")))
        policy = workdir / "tls.yaml"
        policy.write_text(
            yaml.safe_dump(
                {"name": "tls-lab", "version": "1", "checks": {c: {} for c in TLS_CHECKS}}
            )
        )
        env = lab_env(workdir)
        out = workdir / "results.json"
        proc = lab.run_in_scanner(
            [*HYGIE, "scan", "-i", str(inv), "-p", str(policy), "-o", str(out)],
            timeout=240,
            env=env,
        )
        assert out.exists(), proc.stderr[-3000:]
        yield proc, load_results(out), workdir


def by_check(host: dict) -> dict[str, dict]:
    return {r["check_id"]: r for r in host["results"]}


@pytest.mark.parametrize(("check_id", "needle"), sorted(PLANTED_WEAK.items()))
def test_every_planted_weakness_is_found_with_evidence(tls_scan, check_id, needle):
    _, hosts, _ = tls_scan
    result = by_check(hosts["tls-weak"])[check_id]
    assert result["status"] == "fail", result
    actual = " ".join(e["actual"] for e in result["evidence"])
    assert needle in actual, result
    assert all(e["fact"] == "tls_scan" and e["expected"] for e in result["evidence"])


def test_weak_host_checks_without_a_planted_weakness_pass(tls_scan):
    """Compression, Heartbleed, ROBOT, CCS: audited (no error on a single-threaded server
    with tls_connections 1) and clean."""
    _, hosts, _ = tls_scan
    others = {c: r for c, r in by_check(hosts["tls-weak"]).items() if c not in PLANTED_WEAK}
    assert {c: r["status"] for c, r in others.items()} == dict.fromkeys(others, "pass")


def test_good_endpoints_have_no_finding(tls_scan):
    _, hosts, _ = tls_scan
    flagged = {
        c: r["message"] for c, r in by_check(hosts["tls-good"]).items() if r["status"] != "pass"
    }
    assert not flagged, flagged


def test_starttls_and_https_endpoints_are_both_audited(tls_scan):
    _, hosts, _ = tls_scan
    hsts = by_check(hosts["tls-good"])["tls_hsts"]
    assert "443/tls" in hsts["evidence"][0]["actual"]
    assert "587" not in hsts["evidence"][0]["actual"]  # SMTP is not HTTPS
    protocols = by_check(hosts["tls-good"])["tls_protocol_versions"]
    assert "443/tls" in protocols["evidence"][0]["actual"]
    assert "587/smtp+starttls" in protocols["evidence"][0]["actual"]


def test_the_fact_records_scan_time_and_the_trust_store_used(tls_scan):
    _, _, workdir = tls_scan
    record = json.loads(stored_fact(workdir, "tls-good"))
    ca = (workdir / "pki" / "ca.pem").read_bytes()
    assert record["trust_store"]["kind"] == "custom"
    assert record["trust_store"]["sha256"] == hashlib.sha256(ca).hexdigest()
    assert record["scanned_at"] and record["tool"].startswith("sslyze ")
    weak = json.loads(stored_fact(workdir, "tls-weak"))
    assert weak["trust_store"]["kind"] == "sslyze" and weak["trust_store"]["name"] == "Mozilla"
    (endpoint,) = weak["endpoints"]
    assert endpoint["sslyze"]["scan_result"]["tls_1_0_cipher_suites"]["status"] == "COMPLETED"


def test_tarpit_costs_its_own_time_limit_and_reads_as_error(tls_scan):
    _, hosts, _ = tls_scan
    tarpit = hosts["tls-tarpit"]
    # nmap's version_timeout 5 s, then tls_endpoint_timeout 10 s, plus the sslyze child
    assert tarpit["duration_s"] < 25
    results = by_check(tarpit)
    # addressed by IP without network.tls_hostname: the name check has nothing to judge
    assert results.pop("tls_certificate_hostname")["status"] == "not_applicable"
    assert {r["status"] for r in results.values()} == {"error"}
    assert all("timeout" in r["message"] for r in results.values())


def stored_fact(workdir: Path, host: str) -> bytes:
    import sqlite3

    db = sqlite3.connect(workdir / "hygie.db")
    (stdout,) = db.execute(
        "SELECT stdout FROM facts WHERE host = ? AND name = 'tls_scan' ORDER BY rowid DESC",
        (host,),
    ).fetchone()
    return stdout
