"""DICOM, HL7 MLLP and FHIR checks, judged on transcripts recorded from the lab services
(tests/lab/services/health_*.py run on loopback) and variants derived from them.

Fixtures are named by outcome: ``dicom_open_scp.fail.json`` is what a PACS accepting any
AE title looks like to the probe.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from hygie.facts.health_protocols import (
    CALLED_TEST,
    PROBE,
    _discovered_bases,
    count_summary,
    parse_dicom,
    parse_fhir,
    parse_hl7,
    probe_dicom,
    probe_fhir,
    probe_hl7,
)
from hygie.facts.network import SettingsError
from hygie.factspec import ProbeContext
from hygie.model import Fact, Status
from hygie.registry import MissingFact, all_checks
from tests.unit.conftest import run_check
from tests.unit.nmap_records import nmap_fact

FIXTURES = Path(__file__).parent.parent / "fixtures" / "health"


def raw(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def doc(name: str) -> dict:
    return json.loads(raw(name))


def dumps(value: dict) -> bytes:
    return json.dumps(value).encode()


DICOM_CHECKS = ("dicom_called_ae_enforced", "dicom_calling_ae_enforced", "dicom_tls")
FHIR_CHECKS = ("fhir_anonymous_read", "fhir_https_only", "fhir_smart_configuration")
F, P, E, NA = Status.FAIL, Status.PASS, Status.ERROR, Status.NOT_APPLICABLE


# -- parsers ---------------------------------------------------------------------------------


def test_dicom_transcript_parses_into_endpoints_and_attempts():
    endpoints = {e.port: e for e in parse_dicom(raw("dicom_strict_tls_scp.pass.json"))}
    assert endpoints[104].state == "closed" and not endpoints[104].speaks_dicom
    strict = endpoints[22762]
    assert strict.tls and strict.speaks_dicom
    assert [a.test for a in strict.attempts] == [PROBE, "calling_ae", CALLED_TEST]
    probe = strict.attempt(PROBE)
    assert probe.refused and probe.reject_code == (1, 1, 7)
    assert "Called AE title not recognised" in probe.describe()
    assert strict.attempt(CALLED_TEST).calling_ae == "HYGIE-AUDIT"


def test_open_scp_got_only_an_echo_and_a_release():
    (open_ep,) = [e for e in parse_dicom(raw("dicom_open_scp.fail.json")) if e.speaks_dicom]
    (probe,) = open_ep.attempts
    assert probe.accepted and probe.echo_status == 0
    assert len(probe.calling_ae) <= 16 and len(probe.called_ae) <= 16
    record = doc("dicom_open_scp.fail.json")["endpoints"]
    assert any(a.get("released") for e in record for a in e.get("associations", []))


def test_dicom_tls_ports_are_listed_as_tls_candidates():
    assert doc("dicom_strict_tls_scp.pass.json")["tls_candidates"] == [22762]
    assert doc("dicom_no_service.na.json")["tls_candidates"] == []  # 2762 closed here


def test_hl7_transcript():
    by_port = {e.port: e for e in parse_hl7(raw("hl7_cleartext_and_tarpit.fail.json"))}
    assert by_port[2575].outcome == "closed"
    assert by_port[22575].outcome == by_port[22577].outcome == "not_tls"
    assert "timed out" in by_port[22577].detail
    (tls,) = parse_hl7(raw("hl7_tls.pass.json"))[1:]
    assert tls.outcome == "tls" and "TLSv1.3" in tls.detail


def test_fhir_transcript_keeps_no_patient_data():
    (base,) = parse_fhir(raw("fhir_open_http.fail.json"))
    assert base.is_fhir and base.cleartext
    assert base.anonymous_read.status == 200
    assert dict(base.anonymous_read.summary) == {"resourceType": "Bundle", "total": 42}
    patient = {"resourceType": "Patient", "name": [{"family": "X"}]}
    bundle = {"resourceType": "Bundle", "total": 1, "entry": [{"resource": patient}]}
    assert count_summary(bundle) == {"resourceType": "Bundle", "total": 1}


def _ctx(settings=None, tags=(), facts=None, seconds=30.0) -> ProbeContext:
    facts = facts or nmap_fact(address="127.0.0.1")
    return ProbeContext("lab", "127.0.0.1", tags, settings or {}, facts, time.monotonic() + seconds)


def test_http_services_found_by_nmap_become_fhir_candidates_except_on_fragile_hosts():
    """nmap_services recorded by the nmap probe against the loopback lab services: HTTP on
    28080, HTTPS on 28443 (ssl tunnel), DICOM and MLLP ports it could not name."""
    nmap = {"nmap_services": Fact("nmap_services", raw("nmap_services_loopback.json"))}
    bases = _discovered_bases(_ctx(facts=nmap), ())
    assert set(bases) == {"http://127.0.0.1:28080", "https://127.0.0.1:28443"}
    assert bases["http://127.0.0.1:28080"][:2] == ["http://127.0.0.1:28080",
                                                   "http://127.0.0.1:28080/fhir"]  # fmt: skip
    configured = ("https://127.0.0.1:28443/fhir",)
    assert set(_discovered_bases(_ctx(facts=nmap), configured)) == {"http://127.0.0.1:28080"}
    assert _discovered_bases(_ctx(facts=nmap, tags=("fragile",)), ()) == {}


@pytest.mark.parametrize(
    ("probe", "settings", "message"),
    [
        (probe_dicom, {"dicom_ports": [104, "x"]}, "dicom_ports: 'x' is not a port"),
        (probe_dicom, {"dicom_ports": [0]}, "dicom_ports: 0 is not a port"),
        (probe_dicom, {"dicom_tls_ports": 2762}, "dicom_tls_ports must be a list"),
        (probe_dicom, {"dicom_ports": ["104/udp"]}, "dicom_ports takes TCP ports only"),
        (probe_dicom, {"dicom_ae_title": "X" * 17}, "dicom_ae_title must be a DICOM AE"),
        (probe_hl7, {"hl7_ports": [True]}, "hl7_ports: True is not a port"),
        (probe_fhir, {"fhir_base_urls": "http://x"}, "fhir_base_urls must be a list"),
        (probe_fhir, {"fhir_base_urls": ["ftp://127.0.0.1/"]}, "is not an http(s) URL"),
        (probe_fhir, {"fhir_base_urls": ["https://198.51.100.7/fhir"]}, "does not point at"),
    ],
)
def test_bad_settings_are_refused_before_any_packet(probe, settings, message):
    with pytest.raises(SettingsError, match=re.escape(message)):
        probe(_ctx(settings))


def test_an_exhausted_deadline_stops_the_probe():
    with pytest.raises(TimeoutError, match="time limit"):
        probe_hl7(_ctx(seconds=0.1))


# -- checks on recorded transcripts -----------------------------------------------------------

DICOM_CASES = {
    "dicom_open_scp.fail.json": (F, F, F),
    "dicom_strict_tls_scp.pass.json": (P, P, P),
    "dicom_strict_scp_cleartext.fail.json": (P, P, F),
    "dicom_strict_scp_unconfigured.error.json": (P, E, F),
    "dicom_no_service.na.json": (NA, NA, NA),
}


@pytest.mark.parametrize(("fixture", "expected"), sorted(DICOM_CASES.items()))
def test_dicom_checks(fixture, expected):
    got = tuple(run_check(c, {"dicom_echo": raw(fixture)}).status for c in DICOM_CHECKS)
    assert got == expected


def test_dicom_verdicts_carry_evidence_naming_the_titles():
    verdict = run_check(
        "dicom_calling_ae_enforced", {"dicom_echo": raw("dicom_open_scp.fail.json")}
    )
    (evidence,) = verdict.evidence
    assert evidence.fact == "dicom_echo" and "accepted the unknown calling AE title" in (
        evidence.actual
    )
    unknown = run_check(
        "dicom_calling_ae_enforced", {"dicom_echo": raw("dicom_strict_scp_unconfigured.error.json")}
    )
    assert "dicom_ae_title" in unknown.message  # tells the operator how to decide it


def _with_probe_reject(reason: int) -> bytes:
    """The strict endpoint refusing the probe for ``reason``, without follow-up tests."""
    record = doc("dicom_strict_scp_unconfigured.error.json")
    for ep in record["endpoints"]:
        for a in ep.get("associations", []):
            a["reject"]["reason"] = reason
    return dumps(record)


def test_a_calling_ae_refusal_proves_the_allow_list_only():
    facts = {"dicom_echo": _with_probe_reject(3)}
    assert run_check("dicom_calling_ae_enforced", facts).status == P
    assert run_check("dicom_called_ae_enforced", facts).status == E


def test_a_refusal_for_another_reason_proves_nothing():
    facts = {"dicom_echo": _with_probe_reject(1)}  # "no reason given"
    assert run_check("dicom_calling_ae_enforced", facts).status == E
    assert run_check("dicom_called_ae_enforced", facts).status == E


def test_a_device_answering_only_with_silence_is_not_dicom():
    record = doc("dicom_open_scp.fail.json")
    for ep in record["endpoints"]:
        for a in ep.get("associations", []):
            a.clear()
            a.update(test=PROBE, calling_ae="HYGX", called_ae="NOSUCHAEX", outcome="no_answer")
    facts = {"dicom_echo": dumps(record)}
    assert {run_check(c, facts).status for c in DICOM_CHECKS} == {NA}


def test_a_failed_probe_is_an_error_never_a_pass():
    failed = Fact("dicom_echo", b"", b"TimeoutError: host time limit reached", exit_status=1)
    with pytest.raises(MissingFact, match="time limit"):
        run_check("dicom_tls", {"dicom_echo": failed})


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [("hl7_cleartext_and_tarpit.fail.json", F), ("hl7_tls.pass.json", P)],
)
def test_hl7_mllp_tls(fixture, expected):
    verdict = run_check("hl7_mllp_tls", {"hl7_mllp": raw(fixture)})
    assert verdict.status == expected
    assert all(e.fact == "hl7_mllp" for e in verdict.evidence)


def test_hl7_nothing_listening_is_not_applicable():
    record = doc("hl7_tls.pass.json")
    record["endpoints"] = record["endpoints"][:1]  # the closed default port only
    assert run_check("hl7_mllp_tls", {"hl7_mllp": dumps(record)}).status == NA


def test_a_tls_alert_counts_as_tls():
    record = doc("hl7_tls.pass.json")
    record["endpoints"][1] = {"port": 22576, "outcome": "tls", "error": "SSLError: [SSL: "
                              "TLSV13_ALERT_CERTIFICATE_REQUIRED] tlsv13 alert certificate "
                              "required"}  # fmt: skip
    assert run_check("hl7_mllp_tls", {"hl7_mllp": dumps(record)}).status == P


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [("fhir_open_http.fail.json", (F, F, F)), ("fhir_protected_https.pass.json", (P, P, P))],
)
def test_fhir_checks(fixture, expected):
    got = tuple(run_check(c, {"fhir_probe": raw(fixture)}).status for c in FHIR_CHECKS)
    assert got == expected


def test_anonymous_read_message_gives_the_count():
    verdict = run_check("fhir_anonymous_read", {"fhir_probe": raw("fhir_open_http.fail.json")})
    assert "HTTP 200" in verdict.message and "total 42" in verdict.message
    assert all_checks()["fhir_anonymous_read"].severity == "critical"


def _protected(edit) -> bytes:
    record = doc("fhir_protected_https.pass.json")
    edit(record["bases"][0])
    return dumps(record)


def test_fhir_unexpected_status_is_an_error():
    def not_found(base):
        base["anonymous_read"] |= {"status": 404, "summary": None}

    assert run_check("fhir_anonymous_read", {"fhir_probe": _protected(not_found)}).status == E


def test_plain_http_that_only_redirects_to_https_passes():
    def redirect(base):
        base["base"] = base["base"].replace("https://", "http://")
        for key in ("metadata", "anonymous_read"):
            base[key] |= {"status": 301, "location": "https://127.0.0.1:28443/fhir/x"}

    assert run_check("fhir_https_only", {"fhir_probe": _protected(redirect)}).status == P


def test_smart_token_endpoint_over_http_fails():
    def http_token(base):
        base["smart_configuration"]["summary"]["token_endpoint"] = "http://127.0.0.1/token"

    verdict = run_check("fhir_smart_configuration", {"fhir_probe": _protected(http_token)})
    assert verdict.status == F and "not over HTTPS" in verdict.message


def test_no_fhir_base_is_not_applicable():
    facts = {"fhir_probe": dumps({"address": "127.0.0.1", "bases": [], "not_fhir": []})}
    assert {run_check(c, facts).status for c in FHIR_CHECKS} == {NA}
