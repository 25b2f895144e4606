"""HL7 v2 MLLP: the TLS-handshake probe's transcripts parsed, its settings refused, its
check judged (fixtures and helpers: :mod:`tests.unit.health_transcripts`)."""

from __future__ import annotations

import pytest

from hygie.facts.hl7 import parse_hl7, probe_hl7
from tests.unit.conftest import run_check
from tests.unit.health_transcripts import (
    NA,
    F,
    P,
    assert_refused,
    doc,
    dumps,
    probe_context,
    raw,
)

# -- parsers ---------------------------------------------------------------------------------


def test_hl7_transcript():
    by_port = {e.port: e for e in parse_hl7(raw("hl7_cleartext_and_tarpit.fail.json"))}
    assert by_port[2575].outcome == "closed"
    assert by_port[22575].outcome == by_port[22577].outcome == "not_tls"
    assert "timed out" in by_port[22577].detail
    (tls,) = parse_hl7(raw("hl7_tls.pass.json"))[1:]
    assert tls.outcome == "tls" and "TLSv1.3" in tls.detail


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"hl7_ports": [True]}, "hl7_ports: True is not a port"),
    ],
)
def test_bad_settings_are_refused_before_any_packet(settings, message):
    assert_refused(probe_hl7, settings, message)


def test_an_exhausted_deadline_stops_the_probe():
    with pytest.raises(TimeoutError, match="time limit"):
        probe_hl7(probe_context(seconds=0.1))


# -- checks on recorded transcripts -----------------------------------------------------------


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
    record["endpoints"][1] = {
        "port": 22576,
        "outcome": "tls",
        "error": "SSLError: [SSL: "
        "TLSV13_ALERT_CERTIFICATE_REQUIRED] tlsv13 alert certificate "
        "required",
    }
    assert run_check("hl7_mllp_tls", {"hl7_mllp": dumps(record)}).status == P
