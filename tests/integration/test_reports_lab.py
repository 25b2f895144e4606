"""Every report format from a real lab scan, through the real CLI in the scanner namespace.

`hygie scan --report json` renders right after storing; `hygie report` renders the stored
scan in each other format. Outputs are validated (hygie's JSON schema, NIST's OSCAL schema,
compliance-trestle's models, XML, SARIF structure, CSV) and kept in the fleet workdir.
"""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET

import pytest

from tests.fixtures.reports.hostile import HERE
from tests.fixtures.reports.validate import oscal_errors, report_validator

pytestmark = pytest.mark.lab

FORMATS = ("html", "md", "csv", "oscal", "junit", "sarif")


@pytest.fixture(scope="module")
def reports(lab_fleet):
    work = lab_fleet.workdir / "reports"
    work.mkdir(exist_ok=True)
    scan = lab_fleet.hygie(
        "scan",
        "-i",
        str(lab_fleet.inventory),
        "-q",
        "--known-hosts",
        str(lab_fleet.lab.known_hosts_path),
        "--ssh-config",
        "/dev/null",
        "--report",
        "json",
        "--report-output",
        str(work / "report.json"),
    )
    assert scan.returncode == 2, scan.stderr[-3000:]  # some lab hosts cannot be assessed
    out = {"json": work / "report.json"}
    for fmt in FORMATS:
        out[fmt] = work / f"report.{fmt}"
        proc = lab_fleet.hygie(
            "report",
            "latest",
            "--format",
            fmt,
            "--lang",
            "fr" if fmt == "md" else "en",
            "--waivers",
            str(HERE / "waivers.yaml"),
            "-o",
            str(out[fmt]),
        )
        assert proc.returncode == 0, (fmt, proc.stderr[-3000:])
    return out


def test_json_validates_and_reflects_the_fleet(reports):
    data = json.loads(reports["json"].read_text())
    report_validator().validate(data)
    hosts = {h["name"]: h for h in data["hosts"]}
    assert hosts["unreachable"]["error"] and hosts["unreachable"]["counts"]["pass"] == 0
    assert hosts["weak-ssh"]["counts"]["fail"] > 0
    assert {f["id"] for f in data["frameworks"]} >= {"hipaa", "iso27001_2022", "nis2"}
    for fw in data["frameworks"]:
        # hosts that could not be assessed: no automated control can be satisfied
        assert fw["counts"]["satisfied"] == 0, fw["id"]


def test_oscal_validates_and_loads_in_trestle(reports):
    from trestle.oscal.assessment_results import AssessmentResults

    data = json.loads(reports["oscal"].read_text())
    errors = oscal_errors(data)
    assert not errors, errors[:5]
    result = AssessmentResults.parse_obj(data["assessment-results"]).results[0]
    assert len(result.local_definitions.inventory_items) == 10
    assert any(f.target.status.state.value == "not-satisfied" for f in result.findings)


def test_ci_formats_and_csv(reports):
    root = ET.fromstring(reports["junit"].read_bytes())
    assert int(root.get("failures")) > 0 and int(root.get("errors")) > 0
    sarif = json.loads(reports["sarif"].read_text())
    assert sarif["version"] == "2.1.0" and sarif["runs"][0]["results"]
    rows = list(csv.reader(io.StringIO(reports["csv"].read_text())))
    assert len({len(r) for r in rows}) == 1 and len(rows) > 100


def test_hostile_lab_content_is_escaped(reports):
    """weak-passwd's login.defs carries escape sequences and a <script> tag."""
    for fmt in ("json", "oscal", "sarif", "csv", "junit"):
        assert "\x1b" not in reports[fmt].read_text(), fmt
    md = reports["md"].read_text()
    assert "Rapport d'écarts de conformité" in md
    html = reports["html"].read_text()
    assert "<script>alert" not in html and "\x1b" not in html
