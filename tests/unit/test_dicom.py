"""DICOM: the C-ECHO probe's transcripts parsed, its settings refused, its checks judged
(fixtures and helpers: :mod:`tests.unit.health_transcripts`)."""

from __future__ import annotations

import pytest

from hygie.facts.dicom import CALLED_TEST, PROBE, parse_dicom, probe_dicom
from hygie.model import Fact
from hygie.registry import MissingFact
from tests.unit.conftest import run_check
from tests.unit.health_transcripts import NA, E, P, assert_refused, doc, dumps, raw

DICOM_CHECKS = ("dicom_called_ae_enforced", "dicom_calling_ae_enforced", "dicom_tls")


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


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"dicom_ports": [104, "x"]}, "dicom_ports: 'x' is not a port"),
        ({"dicom_ports": [0]}, "dicom_ports: 0 is not a port"),
        ({"dicom_tls_ports": 2762}, "dicom_tls_ports must be a list"),
        ({"dicom_ports": ["104/udp"]}, "dicom_ports takes TCP ports only"),
        ({"dicom_ae_title": "X" * 17}, "dicom_ae_title must be a DICOM AE"),
    ],
)
def test_bad_settings_are_refused_before_any_packet(settings, message):
    assert_refused(probe_dicom, settings, message)


# -- checks on recorded transcripts -----------------------------------------------------------


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
