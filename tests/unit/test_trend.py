"""``hygie trend``: scores and failures over the stored scans, and the chart that shows them."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from dataclasses import replace

import pytest
from click.testing import CliRunner

from hygie.cli import cli
from hygie.model import Status
from hygie.reports.trend_svg import score_chart
from hygie.store import Store
from hygie.trend import Point, trend
from tests.fixtures.reports.hostile import catalog, checks, fleet

HOSTILE_HOST = "=cmd|'<b>x"


def fixed_fleet():
    """The fixture fleet a quarter later: db-1 no longer permits root login, web-1 gone."""
    scan = fleet()
    db1 = scan.hosts[0]
    db1.results = [
        replace(r, status=Status.PASS) if r.check_id == "ssh_root_login" else r for r in db1.results
    ]
    scan.hosts = [db1, scan.hosts[2]]
    return replace(scan, id="20270301T120000Z-fedcba", started=scan.started + 90 * 86400)


def series(t, host):
    return next(s for s in (*t.fleet, *t.hosts) if s.host == host).points


def test_scores_gaps_and_failures_by_hand():
    """The fixture catalog has 9 controls, one not applicable (SI-2): a score is the
    satisfied ones out of 8. First scan, fleet-wide: IA-5 only (12.5 %); gaps AC-1,
    AC-1(a), CM-6 behind 2 failures (db-1 ssh_root_login, web-1 ssh_banner). Second scan
    (db-1 fixed, web-1 gone): AC-1, AC-1(a), IA-5, CM-6 satisfied (4 of 8); AU-2 stays
    partial (db-1's error), CM-7 partial (its check not run), AT-2 and PL-1 need evidence.
    Per host: db-1 first has IA-5 and CM-6 (2 of 8), web-1 AC-1, AC-1(a), AU-2, IA-5."""
    t = trend([fleet(), fixed_fleet()], catalogs={"testfw": catalog()}, checks=checks())
    assert [s.id for s in t.scans] == [fleet().id, "20270301T120000Z-fedcba"]
    assert series(t, None) == (Point(12.5, 3, 2), Point(50.0, 0, 0))
    assert series(t, "db-1") == (Point(25.0, 2, 1), Point(50.0, 0, 0))
    assert series(t, "web-1") == (Point(50.0, 1, 1), None)
    assert series(t, HOSTILE_HOST) == (Point(62.5, 0, 0), Point(62.5, 0, 0))
    with pytest.raises(ValueError, match="unknown frameworks"):
        trend([fleet()], frameworks=["nope"], catalogs={"testfw": catalog()}, checks=checks())


def test_trend_uses_the_report_score():
    from datetime import date

    from hygie.reports.build import build_report

    built = build_report(
        fleet(), catalogs={"testfw": catalog()}, checks=checks(), today=date.today()
    )
    t = trend([fleet()], catalogs={"testfw": catalog()}, checks=checks())
    assert t.fleet[0].points[0].score == built.frameworks[0].score


def test_svg_is_well_formed_escaped_and_has_gaps_for_missing_scans():
    svg = score_chart("<script>&\"'", ["2026-09-01", "<b>"], [40.0, None], y_label="a<b")
    root = ET.fromstring(svg)  # well-formed
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    texts = [e.text for e in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "<b>" in texts and "a<b" in texts and "40.0" in texts
    assert not list(root.iter("{http://www.w3.org/2000/svg}polyline"))  # one point: no line
    two = ET.fromstring(score_chart("t", ["a", "b", "c"], [10.0, 20.0, 30.0]))
    (line,) = two.iter("{http://www.w3.org/2000/svg}polyline")
    assert len(line.get("points").split()) == 3
    with pytest.raises(ValueError):
        score_chart("t", ["a"], [])


# -------------------------------------------------------------------------- the CLI


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "h.db"
    store = Store(path)
    store.save(fleet())
    store.save(fixed_fleet())
    store.close()
    return path


def test_cli_trend_json_and_text(db):
    out = run("trend", "--db", str(db), "--format", "json", "--framework", "hipaa")
    assert out.exit_code == 0, out.output
    doc = json.loads(out.output)
    assert doc["format"] == "hygie-trend" and len(doc["scans"]) == 2
    assert doc["scans"][0]["date"].startswith("2026-")
    assert [s["framework"] for s in doc["fleet"]] == ["hipaa"]
    assert {s["host"] for s in doc["hosts"]} == {"db-1", "web-1", HOSTILE_HOST}
    last = json.loads(run("trend", "--db", str(db), "--format", "json", "--last", "1").output)
    assert [s["id"] for s in last["scans"]] == ["20270301T120000Z-fedcba"]
    text = run("trend", "--db", str(db), "--framework", "hipaa", "--hosts").output
    assert "fleet hipaa" in text and "db-1 hipaa" in text and "20270301T120000Z-fedcba" in text
    assert run("trend", "--db", str(db), "--framework", "nope").exit_code == 3


def test_report_with_trend_and_drift_sections(db):
    html = run("report", "--db", str(db), "--trend", "--since", fleet().id, "--framework", "hipaa")
    assert html.exit_code == 0, html.output
    svgs = re.findall(r"<svg xmlns=.*?</svg>", html.output, re.S)
    assert len(svgs) == 1 and ET.fromstring(svgs[0]) is not None
    assert 'id="trend"' in html.output and 'id="drift"' in html.output
    assert "<b>x" not in html.output  # the hostile host name is escaped everywhere
    md = run("report", "--db", str(db), "--trend", "--since", fleet().id, "-f", "md").output
    assert "## Trend over the stored scans" in md and "## Drift since" in md
    assert "| web-1 | vanished |" in md
    plain = json.loads(run("report", "--db", str(db), "--since", fleet().id, "-f", "json").output)
    assert "drift" not in plain and "trend" not in plain  # the JSON schema is unchanged
