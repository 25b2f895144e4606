"""The report of a multi-site scan names the site (and runner key) that assessed each host,
in JSON (valid against the shipped schema), Markdown and HTML; a scan without sites renders
as before (no site column)."""

from __future__ import annotations

import json

import jsonschema
import pytest

from hygie.engine import new_scan
from hygie.model import HostScan, Result, Severity, Status
from hygie.policy import load_policy
from hygie.reports.cli import write_scan_report
from hygie.reports.render_json import schema_path

RUNNER = "ab" * 32


def _scan(sited: bool):
    scan = new_scan(load_policy())
    for name, site in (("pacs", "imaging"), ("ehr", "clinical")):
        host = HostScan(name, "198.18.0.10", "ssh", family="debian", started=1.0, finished=2.0)
        host.results = [Result("umask_default", name, Status.PASS, Severity.MEDIUM, "u", "ok")]
        if sited:
            host.site, host.runner = site, RUNNER
        scan.hosts.append(host)
    return scan


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    root = tmp_path_factory.mktemp("reports")
    out = {}
    for sited in (True, False):
        for fmt in ("json", "md", "html"):
            path = root / f"{sited}.{fmt}"
            write_scan_report(_scan(sited), fmt, path)
            out[sited, fmt] = path.read_text()
    return out


def test_the_json_report_has_each_hosts_site_and_runner(rendered):
    doc = json.loads(rendered[True, "json"])
    jsonschema.validate(doc, json.loads(schema_path().read_text()))
    sites = {h["name"]: (h["site"], h["runner"]) for h in doc["hosts"]}
    assert sites == {"pacs": ("imaging", RUNNER), "ehr": ("clinical", RUNNER)}
    local = json.loads(rendered[False, "json"])
    assert {h["site"] for h in local["hosts"]} == {None}


def test_markdown_has_a_site_column_only_for_a_multi_site_scan(rendered):
    assert "| pacs | 198.18.0.10 | imaging | debian |" in rendered[True, "md"]
    assert "| Site |" not in rendered[False, "md"]
    assert "| pacs | 198.18.0.10 | debian |" in rendered[False, "md"]


def test_html_names_the_site_by_each_host(rendered):
    assert "Site: imaging" in rendered[True, "html"] and "Site: clinical" in rendered[True, "html"]
    assert "Site:" not in rendered[False, "html"]
