"""`hygie report` and `hygie frameworks` through the real click group."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from hygie.cli import cli
from hygie.reports.cli import FORMATS
from hygie.store import Store
from tests.fixtures.reports.hostile import HERE, data_text, fleet


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "h.db"
    store = Store(path)
    store.save(fleet())
    store.close()
    return path


def run(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.mark.parametrize("fmt", [f for f in FORMATS if f != "html"])
def test_report_every_format_from_the_store(db, tmp_path, fmt):
    out = tmp_path / f"r.{fmt}"
    result = run(
        "report",
        "latest",
        "--db",
        str(db),
        "--format",
        fmt,
        "--lang",
        "fr",
        "--waivers",
        str(HERE / "waivers.yaml"),
        "--date",
        "2026-11-28",
        "--framework",
        "hipaa",
        "--framework",
        "nis2",
        "-o",
        str(out),
    )
    assert result.exit_code == 0, result.output
    assert out.stat().st_size > 500


def test_json_report_to_stdout_keeps_only_the_frameworks_asked(db):
    result = run("report", "--db", str(db), "--format", "json", "--framework", "hipaa")
    data = json.loads(result.stdout)
    assert [f["id"] for f in data["frameworks"]] == ["hipaa"] and data["lang"] == "en"


def test_lang_translates_the_check_texts_and_leaves_the_stored_results_english(db):
    for lang in ("en", "fr"):
        result = run("report", "--db", str(db), "--format", "json", "--lang", lang)
        check = json.loads(result.stdout)["checks"]["ssh_root_login"]
        assert {k: check[k] for k in ("title", "rationale", "remediation")} == data_text(
            "ssh_root_login", lang
        )
    store = Store(db)
    titles = {
        r.title
        for h in store.load("latest").hosts
        for r in h.results
        if r.check_id == "ssh_root_login"
    }
    store.close()
    assert titles == {data_text("ssh_root_login", "en")["title"]}


def test_bad_inputs_exit_3_with_file_and_line(db, tmp_path):
    bad = tmp_path / "w.yaml"
    bad.write_text("waivers:\n  - id: W\n    check: nope\n")
    result = run("report", "--db", str(db), "--format", "md", "--waivers", str(bad))
    assert result.exit_code == 3 and f"{bad}:3: unknown check 'nope'" in result.output
    result = run("report", "--db", str(db), "--format", "md", "--framework", "nope")
    assert result.exit_code == 3 and "unknown frameworks" in result.output
    result = run("report", "no-such-scan", "--db", str(db))
    assert result.exit_code == 3


def test_frameworks_lists_catalogs_with_counts():
    result = run("frameworks")
    assert result.exit_code == 0
    iso = next(line for line in result.output.splitlines() if line.startswith("iso27001_2022"))
    assert "93 controls" in iso


def test_frameworks_show_a_control_with_its_checks():
    result = run("frameworks", "show", "hipaa", "164.312(b)")
    assert result.exit_code == 0 and "log_auditd_running" in result.output
    result = run("frameworks", "show", "hipaa")
    assert "164.308(a)(1)(i)" in result.output or "164.308" in result.output
    assert run("frameworks", "show", "nope").exit_code == 3
    assert run("frameworks", "show", "hipaa", "nope").exit_code == 3
