"""Every format from one report with hostile target strings: valid, escaped, translated."""

from __future__ import annotations

import csv
import io
import json
import re
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from hygie.reports import (
    render_csv,
    render_html,
    render_json,
    render_junit,
    render_md,
    render_oscal,
    render_sarif,
)
from hygie.reports.attest import load_attestations, load_waivers
from hygie.reports.build import build_report
from hygie.reports.i18n import LANGS, messages, translator
from tests.fixtures.reports.hostile import (
    HERE,
    HOSTILE,
    REMOVED_CHECK,
    REMOVED_TITLE,
    catalog,
    checks,
    data_text,
    fleet_with_down_host,
    fleet_with_removed_check,
)
from tests.fixtures.reports.validate import oscal_errors, report_validator

REPORTS = Path(__file__).parents[2] / "reports"
FAILING = "ssh_root_login"  # fails on db-1, its waiver expired: remediation is shown


def make(lang="en", scan=None, **kw):
    return build_report(
        scan or fleet_with_down_host(),
        catalogs={"testfw": catalog()},
        checks=checks(),
        waivers=load_waivers(HERE / "waivers.yaml"),
        attestations=load_attestations(HERE / "attestations.yaml"),
        today=date(2026, 11, 28),
        lang=lang,
        generated_at=datetime(2026, 11, 28, 12, 0, tzinfo=UTC),
        **kw,
    )


@pytest.fixture(scope="module", params=LANGS)
def report(request):
    return make(request.param)


def test_json_validates_against_the_shipped_schema(report):
    data = json.loads(render_json.render(report))
    validator = report_validator()
    validator.validate(data)
    assert data["format_version"] == "2.0" and data["generated_at"] == "2026-11-28T12:00:00Z"
    bad = dict(data, frameworks=[dict(data["frameworks"][0], score=101)])
    assert not validator.is_valid(bad)
    findings = [f for h in data["hosts"] for f in h["findings"]]
    referenced = {sha for f in findings for sha in f["facts"]}
    assert referenced <= set(data["facts"])  # every excerpt written once, found by its hash
    assert {f["check_id"] for f in findings} <= set(data["checks"])


def test_csv_is_quoted_and_neutralises_formulas(report):
    text = render_csv.render(report)
    rows = list(csv.reader(io.StringIO(text)))
    assert len(rows) == 1 + sum(len(h.findings) for h in report.hosts)
    assert all(len(r) == len(rows[0]) for r in rows)
    for row in rows[1:]:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell
    hostile_host = [r for r in rows if "cmd|" in r[0]]
    assert hostile_host and hostile_host[0][0] == "'=cmd|'<b>x"
    messages_ = [r[6] for r in rows if "HYPERLINK" in r[6]]
    assert messages_ and all(m.startswith("'=HYPERLINK") for m in messages_)
    assert "\x1b" not in text and "\x00" not in text


def test_markdown_tables_survive_hostile_cells(report):
    full = render_md.render(report)
    assert "\x1b" not in full
    # the raw excerpt sits in a fence longer than the backticks it contains
    assert "````text\n" in full
    text = re.sub(r"(?ms)^(`{3,})text\n.*?^\1$", "", full)  # outside code blocks:
    assert not re.search(r"(?<!\\)<(script|img)", text)
    assert "\\<script\\>" in text and "\\@admin" in text
    for line in text.splitlines():
        if line.startswith("| ") and not line.startswith("|---"):
            # every unescaped pipe is a column separator: rows keep their column count
            cells = re.split(r"(?<!\\)\|", line)
            assert cells[0] == "" and cells[-1] == "", line
    header = next(
        x
        for x in text.splitlines()
        if x.startswith(f"| {translator(report.lang)('col.control')} |")
    )
    width = len(re.split(r"(?<!\\)\|", header))
    in_table = False
    for line in text.splitlines():
        if line == header:
            in_table = True
        elif in_table and line.startswith("|"):
            assert len(re.split(r"(?<!\\)\|", line)) == width, line
        else:
            in_table = False


def test_md_escape_and_fence_helpers():
    assert render_md.md("a|b\nc") == "a\\|b<br>c"
    assert render_md.md("[x](javascript:y) <b> @u #1") == "\\[x\\](javascript:y) \\<b\\> \\@u \\#1"
    assert render_md.fenced("x ```` y").startswith("`````text\n")


def test_junit_is_well_formed_xml_with_counts(report):
    text = render_junit.render(report)
    root = ET.fromstring(text.encode())
    assert root.tag == "testsuites"
    assert int(root.get("failures")) == 1 and int(root.get("errors")) == 6
    suites = {s.get("hostname"): s for s in root}
    web = suites["web-1"]
    skipped = [c for c in web if c.find("skipped") is not None]
    assert any("W-1" in c.find("skipped").get("message") for c in skipped)
    assert all(c.find("failure") is None for c in skipped)
    assert "\x1b" not in text and "\x00" not in text


def test_sarif_rules_are_checks_waived_are_suppressed_errors_are_review(report):
    data = json.loads(render_sarif.render(report))
    assert data["version"] == "2.1.0"
    run = data["runs"][0]
    rule_ids = [r["id"] for r in run["tool"]["driver"]["rules"]]
    assert len(rule_ids) == len(set(rule_ids)) and "ssh_root_login" in rule_ids
    for result in run["results"]:
        assert rule_ids[result["ruleIndex"]] == result["ruleId"]
        if result["kind"] != "fail":
            assert result["level"] == "none"
    waived = [r for r in run["results"] if r.get("suppressions")]
    assert len(waived) == 1 and waived[0]["suppressions"][0]["status"] == "accepted"
    assert {r["kind"] for r in run["results"]} == {"fail", "review"}
    assert run["invocations"][0]["executionSuccessful"] is False  # one host was down
    rule = next(r for r in run["tool"]["driver"]["rules"] if r["id"] == "ssh_root_login")
    assert "testfw:AC-1(a)" in rule["properties"]["tags"]


def test_oscal_validates_against_nist_schema_and_loads_in_trestle(report):
    from trestle.oscal.assessment_results import AssessmentResults

    data = json.loads(render_oscal.render(report))
    errors = oscal_errors(data)
    assert not errors, errors[:5]
    model = AssessmentResults.parse_obj(data["assessment-results"])
    result = model.results[0]
    assert len(result.local_definitions.inventory_items) == len(report.hosts)
    assert len(result.observations) == sum(len(h.findings) for h in report.hosts)
    tool = result.local_definitions.components[0]
    assert all(o.origins[0].actors[0].actor_uuid == tool.uuid for o in result.observations)
    states = {f.target.target_id: f.target.status.state.value for f in result.findings}
    assert states["testfw-AC-1_a_"] == "not-satisfied"
    assert states["testfw-AT-2"] == "satisfied"  # attested
    assert "testfw-SI-2" in states  # partial: one host down
    hosts = {i.uuid for i in result.local_definitions.inventory_items}
    assert all(o.subjects[0].subject_uuid in hosts for o in result.observations)
    failing = next(
        o
        for o in data["assessment-results"]["results"][0]["observations"]
        if any(p["value"] == "fail" for p in o["props"])
    )
    evidence = failing["relevant-evidence"][0]
    assert {p["name"] for p in evidence["props"]} == {"fact", "sha256", "size"}
    assert "````text" in evidence["remarks"]


def test_oscal_uuids_are_deterministic_from_the_scan():
    a, b = (json.loads(render_oscal.render(make())) for _ in range(2))
    assert a == b
    uuids = re.findall(r'"uuid": "([^"]+)"', json.dumps(a, indent=1))
    assert len(uuids) == len(set(uuids))


def test_every_translation_key_exists_in_every_language():
    en = set(messages("en"))
    for lang in LANGS:
        assert set(messages(lang)) == en, lang
    used = set()
    for path in [*REPORTS.glob("*.py"), *(REPORTS / "templates").glob("*")]:
        used |= set(re.findall(r"""\bt\(\s*["']([a-z_]+\.[a-z_]+)["']""", path.read_text()))
    assert used and used <= en, sorted(used - en)
    for prefix in ("state.", "status.", "severity."):
        assert any(k.startswith(prefix) for k in en)


def test_french_report_has_no_english_chrome():
    text = render_md.render(make("fr"))
    assert "Rapport d'écarts de conformité" in text and "Synthèse" in text
    assert "Executive summary" not in text and "| Gap |" not in text
    with pytest.raises(ValueError, match="unsupported language"):
        translator("de")


def test_hostile_strings_reach_every_format_only_escaped():
    report = make()
    assert any(HOSTILE.split("\n")[0][:20] in f.message for h in report.hosts for f in h.findings)
    for module in (render_json, render_oscal, render_sarif):
        assert "\x1b" not in module.render(report)


def sarif_rule(report, check_id: str) -> dict:
    rules = json.loads(render_sarif.render(report))["runs"][0]["tool"]["driver"]["rules"]
    return next(r for r in rules if r["id"] == check_id)


def test_check_texts_are_in_the_report_language_in_markdown_sarif_and_json(report):
    ours = data_text(FAILING, report.lang)
    other = data_text(FAILING, next(lang for lang in LANGS if lang != report.lang))
    md = render_md.render(report)
    assert f"**{render_md.md(FAILING)}** — {render_md.md(ours['title'])}" in md
    assert render_md.md(ours["remediation"]) in md
    assert render_md.md(other["title"]) not in md and render_md.md(other["remediation"]) not in md
    rule = sarif_rule(report, FAILING)
    assert rule["shortDescription"]["text"] == ours["title"]
    assert rule["fullDescription"]["text"] == ours["rationale"]
    assert ours["remediation"] in rule["help"]["text"]
    data = json.loads(render_json.render(report))
    assert {k: data["checks"][FAILING][k] for k in ours} == ours


def test_check_texts_are_in_the_report_language_in_csv_junit_and_oscal(report):
    ours = data_text(FAILING, report.lang)
    rows = list(csv.reader(io.StringIO(render_csv.render(report))))
    row = next(r for r in rows if r[0] == "db-1" and r[2] == FAILING)
    title, remediation = (render_csv.COLUMNS.index(c) for c in ("title", "remediation"))
    assert (row[title], row[remediation]) == (ours["title"], ours["remediation"])
    root = ET.fromstring(render_junit.render(report).encode())
    cases = {(c.get("classname"), c.get("name").split(":")[0]): c for c in root.iter("testcase")}
    case = cases["hygie.db-1", FAILING]
    assert case.get("name") == f"{FAILING}: {ours['title']}"
    assert ours["remediation"] in case.find("failure").text
    oscal = json.loads(render_oscal.render(report))["assessment-results"]["results"][0]
    failing = next(
        o
        for o in oscal["observations"]
        if {"check-id": FAILING, "status": "fail"}.items()
        <= {p["name"]: p["value"] for p in o["props"]}.items()
    )
    assert render_md.md(ours["remediation"]) in failing["remarks"]


def test_a_check_removed_since_the_scan_renders_with_its_stored_title(report):
    removed = make(report.lang, scan=fleet_with_removed_check())
    report_validator().validate(json.loads(render_json.render(removed)))
    for module in (render_html, render_md, render_json, render_csv, render_junit, render_sarif):
        assert REMOVED_TITLE in module.render(removed), module.__name__
    rule = sarif_rule(removed, REMOVED_CHECK)
    assert rule["shortDescription"]["text"] == REMOVED_TITLE
    assert "fullDescription" not in rule and "help" not in rule
    assert not oscal_errors(json.loads(render_oscal.render(removed)))
