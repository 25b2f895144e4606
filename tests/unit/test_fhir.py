"""FHIR: the anonymous-GET probe's transcripts parsed, its settings refused, its checks
judged (fixtures and helpers: :mod:`tests.unit.health_transcripts`)."""

from __future__ import annotations

import pytest

from hygie.facts.fhir import _discovered_bases, count_summary, parse_fhir, probe_fhir
from hygie.model import Fact
from hygie.registry import all_checks
from tests.unit.conftest import run_check
from tests.unit.health_transcripts import (
    NA,
    E,
    F,
    P,
    assert_refused,
    doc,
    dumps,
    probe_context,
    raw,
)

FHIR_CHECKS = ("fhir_anonymous_read", "fhir_https_only", "fhir_smart_configuration")


# -- parsers ---------------------------------------------------------------------------------


def test_fhir_transcript_keeps_no_patient_data():
    (base,) = parse_fhir(raw("fhir_open_http.fail.json"))
    assert base.is_fhir and base.cleartext
    assert base.anonymous_read.status == 200
    assert dict(base.anonymous_read.summary) == {"resourceType": "Bundle", "total": 42}
    patient = {"resourceType": "Patient", "name": [{"family": "X"}]}
    bundle = {"resourceType": "Bundle", "total": 1, "entry": [{"resource": patient}]}
    assert count_summary(bundle) == {"resourceType": "Bundle", "total": 1}


def test_http_services_found_by_nmap_become_fhir_candidates_except_on_fragile_hosts():
    """nmap_services recorded by the nmap probe against the loopback lab services: HTTP on
    28080, HTTPS on 28443 (ssl tunnel), DICOM and MLLP ports it could not name."""
    nmap = {"nmap_services": Fact("nmap_services", raw("nmap_services_loopback.json"))}
    bases = _discovered_bases(probe_context(facts=nmap), ())
    assert set(bases) == {"http://127.0.0.1:28080", "https://127.0.0.1:28443"}
    assert bases["http://127.0.0.1:28080"][:2] == [
        "http://127.0.0.1:28080",
        "http://127.0.0.1:28080/fhir",
    ]
    configured = ("https://127.0.0.1:28443/fhir",)
    assert set(_discovered_bases(probe_context(facts=nmap), configured)) == {
        "http://127.0.0.1:28080"
    }
    assert _discovered_bases(probe_context(facts=nmap, tags=("fragile",)), ()) == {}


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"fhir_base_urls": "http://x"}, "fhir_base_urls must be a list"),
        ({"fhir_base_urls": ["ftp://127.0.0.1/"]}, "is not an http(s) URL"),
        ({"fhir_base_urls": ["https://198.51.100.7/fhir"]}, "does not point at"),
    ],
)
def test_bad_settings_are_refused_before_any_packet(settings, message):
    assert_refused(probe_fhir, settings, message)


# -- checks on recorded transcripts -----------------------------------------------------------


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
