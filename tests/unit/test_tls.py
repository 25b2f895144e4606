"""TLS checks on recorded sslyze audits of the lab (tests/fixtures/tls: the lab's weak and
good hosts and a tarpit, rejected-suite lists trimmed), plus crafted variants for what the
lab's OpenSSL 3 cannot serve (SSLv3, RC4, 3DES, compression, Heartbleed, ROBOT, CCS)."""

from __future__ import annotations

import copy
import json
import socket
import time
from pathlib import Path

import pytest

from hygie.checks._tls_profiles import broken_reasons, curve_bits, forward_secret, is_cbc, profiles
from hygie.checks.tls import hostname_matches
from hygie.facts.tls import (
    WORKER,
    TlsSettings,
    TlsSettingsError,
    endpoints_from_nmap,
    plan_endpoints,
    tls_scan,
)
from hygie.factspec import ProbeContext, all_facts
from hygie.model import Status
from hygie.registry import all_checks
from tests.unit.conftest import run_check
from tests.unit.nmap_records import nmap_fact as nmap_facts
from tests.unit.nmap_records import nmap_record

FIXTURES = Path(__file__).parent.parent / "fixtures" / "tls"
TLS_CHECKS = sorted(c for c in all_checks() if c.startswith("tls_"))


def load(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def run(check_id: str, doc: dict, **params):
    return run_check(check_id, {"tls_scan": json.dumps(doc).encode()}, **params)


def scan_result(doc: dict, port: int = 443) -> dict:
    endpoint = next(e for e in doc["endpoints"] if e["port"] == port)
    return endpoint["sslyze"]["scan_result"]


def test_there_are_checks_for_every_weakness_of_the_issue():
    assert len(TLS_CHECKS) >= 18


@pytest.mark.parametrize("check_id", sorted(set(TLS_CHECKS) - {"tls_certificate_hostname"}))
def test_tarpit_is_error_never_pass(check_id):
    verdict = run(check_id, load("tarpit"))
    assert verdict.status == Status.ERROR and "timeout" in verdict.message


def test_no_tls_endpoint_is_not_applicable():
    doc = load("tarpit") | {"endpoints": []}
    verdict = run("tls_protocol_versions", doc)
    assert verdict.status == Status.NOT_APPLICABLE


def test_refused_starttls_is_not_a_tls_endpoint():
    doc = load("good")
    smtp = next(e for e in doc["endpoints"] if e["port"] == 587)
    smtp.update(status="no_tls", error="ServerRejectedOpportunisticTlsNegotiation", sslyze=None)
    verdict = run("tls_protocol_versions", doc)
    assert verdict.status == Status.PASS and "587" not in verdict.evidence[0].actual


def test_certificate_dates_are_judged_at_the_recorded_scan_time_not_now():
    doc = load("good")
    after = scan_result(doc)["certificate_info"]["result"]["certificate_deployments"][0][
        "received_certificate_chain"
    ][0]["not_valid_after"]
    assert after < "2100"
    later = copy.deepcopy(doc) | {"scanned_at": "2100-01-01T00:00:00+00:00"}
    assert run("tls_certificate_validity", later).status == Status.FAIL
    assert run("tls_certificate_validity", doc).status == Status.PASS
    # the fixture was recorded with 90 days left: a 120-day window fails, 30 days passes
    assert run("tls_certificate_expiring", doc, days=120).status == Status.FAIL
    assert run("tls_certificate_expiring", doc, days=30).status == Status.PASS


def test_profiles_change_the_verdicts():
    good = load("good")
    modern = run("tls_protocol_versions", good, profile="mozilla-modern")
    assert modern.status == Status.FAIL and "TLSv1.2 enabled" in modern.evidence[0].actual
    weak = load("weak")
    assert run("tls_cbc_cipher_suites", weak, profile="anssi").status == Status.PASS
    assert run("tls_cbc_cipher_suites", weak, profile="nist-800-52r2").status == Status.PASS
    assert run("tls_hsts", good, profile="anssi").status == Status.PASS
    assert set(profiles()) == {"mozilla-intermediate", "mozilla-modern", "anssi", "nist-800-52r2"}


def test_legacy_protocols_and_broken_suites():
    doc = load("good")
    sr = scan_result(doc)
    suites = [
        {
            "cipher_suite": {"name": n, "is_anonymous": False, "key_size": 128, "openssl_name": n},
            "ephemeral_key": None,
        }
        for n in (
            "TLS_RSA_WITH_RC4_128_SHA",
            "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
            "TLS_RSA_EXPORT_WITH_DES40_CBC_SHA",
        )
    ]
    sr["ssl_3_0_cipher_suites"]["result"].update(
        is_tls_version_supported=True, accepted_cipher_suites=suites
    )
    protocols = run("tls_protocol_versions", doc)
    assert protocols.status == Status.FAIL and "SSLv3 enabled" in protocols.evidence[0].actual
    broken = run("tls_broken_cipher_suites", doc).evidence[0].actual
    assert "RC4" in broken and "3DES" in broken and "EXPORT/DES" in broken


@pytest.mark.parametrize(
    ("command", "field", "value", "check_id"),
    [
        ("heartbleed", "is_vulnerable_to_heartbleed", True, "tls_heartbleed"),
        ("openssl_ccs_injection", "is_vulnerable_to_ccs_injection", True, "tls_ccs_injection"),
        ("tls_compression", "supports_compression", True, "tls_compression"),
        ("robot", "robot_result", "VULNERABLE_STRONG_ORACLE", "tls_robot"),
        ("session_renegotiation", "supports_secure_renegotiation", False, "tls_renegotiation"),
    ],
)
def test_known_attacks_and_protocol_flaws(command, field, value, check_id):
    doc = load("good")
    scan_result(doc)[command]["result"][field] = value
    assert run(check_id, doc).status == Status.FAIL


def test_inconclusive_robot_is_error():
    doc = load("good")
    scan_result(doc)["robot"]["result"]["robot_result"] = "UNKNOWN_INCONSISTENT_RESULTS"
    assert run("tls_robot", doc).status == Status.ERROR


def test_intrusive_probes_skipped_on_fragile_hosts_are_not_applicable():
    doc = load("good")
    for endpoint in doc["endpoints"]:
        endpoint["sslyze"]["scan_result"]["heartbleed"] = {
            "status": "NOT_SCHEDULED",
            "error_reason": None,
            "error_trace": None,
            "result": None,
        }
    verdict = run("tls_heartbleed", doc)
    assert verdict.status == Status.NOT_APPLICABLE and "fragile" in verdict.message


def test_failed_scan_command_is_error():
    doc = load("good")
    scan_result(doc)["certificate_info"].update(status="ERROR", error_reason="BUG_IN_SSLYZE")
    assert run("tls_certificate_signature", doc).status == Status.ERROR


def test_hostname_check_needs_a_name():
    doc = load("good") | {"server_name": "198.18.0.10", "server_name_source": "ip"}
    assert run("tls_certificate_hostname", doc).status == Status.NOT_APPLICABLE


@pytest.mark.parametrize(
    ("name", "sans", "ok"),
    [
        ("pacs.chu.fr", ["pacs.chu.fr"], True),
        ("PACS.chu.fr.", ["pacs.chu.fr"], True),
        ("pacs.chu.fr", ["*.chu.fr"], True),
        ("a.pacs.chu.fr", ["*.chu.fr"], False),
        ("chu.fr", ["*.chu.fr"], False),
        ("pacs.chu.fr", ["ris.chu.fr"], False),
    ],
)
def test_hostname_matching(name, sans, ok):
    cert = {"subject_alternative_name": {"dns_names": sans, "ip_addresses": []}}
    assert hostname_matches(name, cert) is ok


@pytest.mark.parametrize(
    ("name", "reasons"),
    [
        ("TLS_RSA_WITH_NULL_SHA256", ["NULL cipher"]),
        ("TLS_DH_anon_WITH_AES_128_CBC_SHA", ["anonymous"]),
        ("TLS_RSA_EXPORT_WITH_RC4_40_MD5", ["EXPORT", "RC4/RC2"]),
        ("TLS_RSA_WITH_DES_CBC_SHA", ["DES"]),
        ("TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA", ["3DES"]),
        ("SSL_CK_DES_192_EDE3_CBC_WITH_MD5", ["3DES"]),
        ("SSL_CK_RC4_128_WITH_MD5", ["RC4/RC2"]),
        ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", []),
        ("TLS_AES_256_GCM_SHA384", []),
    ],
)
def test_broken_suite_classification(name, reasons):
    assert broken_reasons({"name": name, "is_anonymous": "_anon_" in name}) == reasons


def test_forward_secrecy_cbc_and_curves():
    assert forward_secret("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLSv1.2")
    assert forward_secret("TLS_DHE_RSA_WITH_AES_128_GCM_SHA256", "TLSv1.2")
    assert not forward_secret("TLS_RSA_WITH_AES_128_GCM_SHA256", "TLSv1.2")
    assert not forward_secret("TLS_ECDH_RSA_WITH_AES_128_GCM_SHA256", "TLSv1.2")
    assert forward_secret("TLS_AES_128_GCM_SHA256", "TLSv1.3")
    assert is_cbc("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256") and not is_cbc("TLS_AES_128_GCM_SHA256")
    assert curve_bits("X25519") == 256 and curve_bits("secp192r1") == 192
    assert curve_bits("sect163k1") == 163 and curve_bits("brainpoolP512r1") == 512


# --------------------------------------------------------------------------- discovery


def nmap_fact(ports: str) -> bytes:
    return nmap_record(ports, "198.18.0.10", argv=["nmap"], privileged=False)


def port(number: int, name: str, tunnel: str = "", state: str = "open") -> str:
    return (
        f'<port protocol="tcp" portid="{number}"><state state="{state}"/>'
        f'<service name="{name}" tunnel="{tunnel}"/></port>'
    )


def test_endpoints_from_nmap_tls_and_starttls():
    raw = nmap_fact(
        port(443, "https")
        + port(8443, "http", "ssl")
        + port(25, "smtp")
        + port(22, "ssh")
        + port(5432, "postgresql")
        + port(2762, "dicom-tls")
        + port(993, "imaps", state="closed")
    )
    found = {(e.port, e.starttls) for e in endpoints_from_nmap(raw)}
    assert found == {(443, None), (8443, None), (25, "smtp"), (5432, "postgres"), (2762, None)}


def test_inventory_ports_are_added_to_nmap_ones_and_win():
    settings = TlsSettings.from_mapping(
        {"tls_ports": [9443, {"port": 25, "starttls": "smtp"}]}, "198.18.0.10"
    )
    planned, note = plan_endpoints(nmap_fact(port(443, "https") + port(25, "smtp")), settings)
    assert [(e.port, e.source) for e in planned] == [
        (25, "inventory"),
        (443, "nmap"),
        (9443, "inventory"),
    ]
    assert "nmap_services" in note


@pytest.mark.parametrize(
    "settings",
    [
        {"tls_ports": 443},
        {"tls_ports": [0]},
        {"tls_ports": [{"port": 25, "starttls": "telnet"}]},
        {"tls_ports": [{"port": 25, "wrapped": True}]},
        {"ca_bundle": "/nonexistent/ca.pem"},
        {"tls_timeout": 0},
        {"tls_endpoint_timeout": True},
        {"tls_hostname": ""},
        {"tls_connections": 0},
    ],
)
def test_bad_settings_are_refused_with_the_key_named(settings):
    with pytest.raises(TlsSettingsError, match=r"network\."):
        TlsSettings.from_mapping(settings, "198.18.0.10")


def test_server_name_source():
    assert TlsSettings.from_mapping({}, "10.0.0.1").server_name_source == "ip"
    assert TlsSettings.from_mapping({}, "pacs.chu.fr").server_name_source == "address"
    named = TlsSettings.from_mapping({"tls_hostname": "pacs.chu.fr"}, "10.0.0.1")
    assert (named.server_name, named.server_name_source) == ("pacs.chu.fr", "tls_hostname")


def test_probe_without_endpoints_sends_nothing_and_records_why():
    facts = nmap_facts("", "198.18.0.99", safe=True)
    ctx = ProbeContext("modality", "198.18.0.99", ("fragile",), {}, facts, time.monotonic() + 30)
    doc = json.loads(tls_scan(ctx))
    assert doc["endpoints"] == [] and doc["fragile"] is True
    assert "0 TLS" in doc["discovery"] and doc["scanned_at"]


def test_the_sslyze_child_runs_by_its_module_name_and_reports_each_port():
    """The probe starts its worker as ``python -m`` (a name, not an import): a renamed or
    broken worker fails here, on a refused loopback port, rather than in a lab scan."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again when the block ends: refused
    facts = nmap_facts("", "127.0.0.1", safe=True)
    ctx = ProbeContext("lo", "127.0.0.1", (), {"tls_ports": [port]}, facts, time.monotonic() + 60)
    doc = json.loads(tls_scan(ctx))
    assert doc["tool"].startswith("sslyze ")
    (endpoint,) = doc["endpoints"]
    assert (endpoint["port"], endpoint["status"]) == (port, "error"), endpoint["error"]


def test_the_worker_declares_no_fact():
    """Fact discovery imports every module of hygie.facts, the worker too: it is no fact
    domain, so it must declare nothing (its probe lives in hygie.facts.tls)."""
    modules = {
        func.__module__
        for spec in all_facts().values()
        for func in (spec.probe, spec.derive)
        if func is not None
    }
    assert "hygie.facts.tls" in modules and WORKER not in modules
