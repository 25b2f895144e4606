"""The gap model: one state per control, decided by the rules of issue 4."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from hygie.model import Status
from hygie.reports.attest import load_attestations, load_waivers
from hygie.reports.build import build_report
from hygie.reports.gaps import STATES, score
from tests.fixtures.reports.hostile import (
    HERE,
    REMOVED_CHECK,
    REMOVED_TITLE,
    catalog,
    checks,
    data_text,
    fleet,
    fleet_with_down_host,
    fleet_with_removed_check,
)

TODAY = date(2026, 11, 28)


def build(scan, **kw):
    kw.setdefault("today", TODAY)
    kw.setdefault("checks", checks())
    return build_report(scan, catalogs={"testfw": catalog()}, **kw)


def states(report) -> dict[str, str]:
    return {c.control_id: c.state for c in report.frameworks[0].controls}


def test_every_state_from_results_alone():
    report = build(fleet())
    assert states(report) == {
        "AC-1": "gap",  # rolled up from its sub-control
        "AC-1(a)": "gap",
        "AU-2": "partial",  # an error on db-1
        "IA-5": "satisfied",
        "AT-2": "needs_evidence",  # not automatable
        "CM-6": "gap",
        "CM-7": "partial",  # mapped check not in the policy
        "SI-2": "not_applicable",
        "PL-1": "needs_evidence",  # automatable, but no check maps to it
    }
    ac1 = report.frameworks[0].controls[0]
    assert ac1.failing == (("db-1", "ssh_root_login"),)
    assert ac1.checks == ("ssh_root_login",)
    cm7 = next(c for c in report.frameworks[0].controls if c.control_id == "CM-7")
    assert cm7.not_run == ("umask_default",)


def test_a_host_that_could_not_be_assessed_makes_satisfied_partial():
    report = build(fleet_with_down_host())
    assert states(report)["IA-5"] == "partial"
    assert states(report)["SI-2"] == "partial"
    ia5 = next(c for c in report.frameworks[0].controls if c.control_id == "IA-5")
    assert ia5.unassessed == (("down", "password_min_length"),)


def test_score_never_counts_errors_or_missing_assessments():
    clean = build(fleet()).frameworks[0]
    # 1 satisfied over 8 applicable controls (SI-2 is not applicable)
    assert clean.counts["satisfied"] == 1 and clean.counts["not_applicable"] == 1
    assert clean.score == pytest.approx(12.5)
    down = build(fleet_with_down_host()).frameworks[0]
    assert down.counts["satisfied"] == 0 and down.score == 0.0
    assert set(down.counts) == set(STATES) and sum(down.counts.values()) == 9
    assert score({"not_applicable": 3}) == 0.0


def test_waivers_apply_by_check_and_selector_and_never_count_as_pass():
    waivers = load_waivers(HERE / "waivers.yaml")
    report = build(fleet(), waivers=waivers)
    assert states(report)["CM-6"] == "waived"
    web = next(h for h in report.hosts if h.name == "web-1")
    banner = next(f for f in web.findings if f.check_id == "ssh_banner")
    assert banner.status == "waived" and banner.waiver.id == "W-1"
    assert web.counts["waived"] == 1 and web.counts["pass"] == 3
    # W-OLD (db-*) expired on 2026-01-31: db-1's root login failure stays a gap, flagged
    assert states(report)["AC-1(a)"] == "gap"
    assert [w.id for w in report.expired_waivers] == ["W-OLD"]
    db = next(h for h in report.hosts if h.name == "db-1")
    assert db.findings[0].status == "fail" and db.findings[0].waiver is None
    # the day before expiry it applied
    earlier = build(fleet(), waivers=waivers, today=date(2026, 1, 31))
    assert states(earlier)["AC-1(a)"] == "waived" and not earlier.expired_waivers


def test_a_waiver_does_not_hide_an_unwaived_failure_of_the_same_control():
    waivers = load_waivers(HERE / "waivers.yaml")
    scan = fleet()
    other = scan.hosts[0]  # db-1 has no legacy tag: its banner failure is not waived
    other.results = [
        replace(r, status=Status.FAIL) if r.check_id == "ssh_banner" else r for r in other.results
    ]
    report = build(scan, waivers=waivers)
    cm6 = next(c for c in report.frameworks[0].controls if c.control_id == "CM-6")
    assert cm6.state == "gap"
    assert cm6.failing == (("db-1", "ssh_banner"),) and cm6.waived == (("web-1", "ssh_banner"),)
    # waived failures are not in the fleet's failure counts; the unwaived one is
    assert sum(report.severity_counts.values()) == 2  # db-1: root login and banner


def test_attestations_cover_needs_evidence_and_partial_only_while_valid():
    atts = load_attestations(HERE / "attestations.yaml")
    report = build(fleet(), attestations=atts)
    at2 = next(c for c in report.frameworks[0].controls if c.control_id == "AT-2")
    assert at2.state == "attested" and at2.attestation.id == "ATT-1"
    assert at2.attestation.evidence_sha256 and len(at2.attestation.evidence_sha256) == 64
    assert states(report)["PL-1"] == "needs_evidence"  # ATT-OLD expired in 2025
    assert [a.id for a in report.expired_attestations] == ["ATT-OLD"]
    later = build(fleet(), attestations=atts, today=date(2027, 2, 1))
    assert states(later)["AT-2"] == "needs_evidence"


def test_an_attestation_never_hides_a_measured_failure():
    att = replace(
        load_attestations(HERE / "attestations.yaml")[0], controls={"testfw": ("AC-1(a)", "AU-2")}
    )
    report = build(fleet(), attestations=[att])
    assert states(report)["AC-1(a)"] == "gap"
    assert states(report)["AU-2"] == "attested"  # partial + attestation


def test_findings_order_most_severe_failures_first_and_keep_evidence_hashes():
    report = build(fleet_with_down_host(), excerpt_bytes=100)
    db = report.hosts[0]
    assert [f.status for f in db.findings][:2] == ["fail", "error"]
    fact = db.findings[0].facts[0]
    assert fact.truncated and fact.size > 5000 and len(fact.sha256) == 64
    assert "\x1b" not in fact.excerpt and "\\x1b" in fact.excerpt
    assert "\u202e" not in db.findings[0].message and "\\u202e" in db.findings[0].message
    assert report.hosts[-1].error == "unreachable: \\x1b[1m"
    assert report.evidence_digest and report.policy["name"] == "test-policy"


def test_framework_filter_and_unknown_framework():
    assert build(fleet(), frameworks=["testfw"]).frameworks[0].id == "testfw"
    assert build(fleet(), frameworks=[]).frameworks == ()
    with pytest.raises(ValueError, match="unknown frameworks"):
        build(fleet(), frameworks=["nope"])


def test_french_report_uses_the_catalog_title_and_english_report_title_en():
    cat = catalog()
    control = replace(cat.controls["AT-2"], title="Sensibiliser", title_en="Awareness")
    cat = replace(cat, controls=cat.controls | {"AT-2": control})
    for lang, title in (("fr", "Sensibiliser"), ("en", "Awareness")):
        r = build_report(fleet(), catalogs={"testfw": cat}, checks=checks(), today=TODAY, lang=lang)
        assert next(c.title for c in r.frameworks[0].controls if c.control_id == "AT-2") == title


def texts(report, check_id: str) -> dict[str, str]:
    f = next(f for h in report.hosts for f in h.findings if f.check_id == check_id)
    return {"title": f.title, "rationale": f.rationale, "remediation": f.remediation}


def test_findings_carry_the_check_texts_in_the_report_language_english_by_default():
    assert texts(build(fleet()), "ssh_root_login") == data_text("ssh_root_login", "en")
    french = build(fleet(), lang="fr")
    assert texts(french, "ssh_root_login") == data_text("ssh_root_login", "fr")


def test_an_untranslated_text_falls_back_to_english_field_by_field():
    registry = checks()
    meta = registry["ssh_root_login"]
    english, french = meta.texts["en"], meta.texts["fr"]
    partial = replace(meta, texts={"en": english, "fr": replace(french, rationale="")})
    mixed = build(fleet(), lang="fr", checks=registry | {"ssh_root_login": partial})
    assert texts(mixed, "ssh_root_login") == data_text("ssh_root_login", "fr") | {
        "rationale": english.rationale
    }
    untranslated = replace(meta, texts={"en": english})
    only_en = build(fleet(), lang="fr", checks=registry | {"ssh_root_login": untranslated})
    assert texts(only_en, "ssh_root_login") == data_text("ssh_root_login", "en")


def test_a_check_removed_since_the_scan_keeps_its_stored_title():
    for lang in ("en", "fr"):
        report = build(fleet_with_removed_check(), lang=lang)
        assert texts(report, REMOVED_CHECK) == {
            "title": REMOVED_TITLE,
            "rationale": "",
            "remediation": "",
        }
        assert states(report)["AC-1(a)"] == "gap"  # the other checks are judged as before


def test_builds_with_the_real_catalogs_and_registry():
    report = build_report(fleet(), today=TODAY)
    assert {f.id for f in report.frameworks} >= {"hipaa", "iso27001_2022", "nis2"}
    for fw in report.frameworks:
        assert sum(fw.counts.values()) == len(fw.controls)
        assert 0 <= fw.score <= 100
