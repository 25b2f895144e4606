"""The HTML report in a real browser (Debian's chromium, driven by Playwright).

A report built from a synthetic scan with hostile host names, banners, messages and host
errors must render without a console error, fire no dialog, show every hostile string as
text, filter, sort and paginate, read without JavaScript, and print expanded. Screenshots
and the printed PDF go to artifacts/ for a human to look at.

Needs: apt-get install chromium; pip install playwright (never `playwright install`: the
system browser is used). Skipped when either is missing, unless HYGIE_REQUIRE_BROWSER is
set (CI sets it), then the test fails instead.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from benchmarks.synthetic import (
    TODAY,
    synthetic_attestations,
    synthetic_scan,
    synthetic_waivers,
)
from hygie.reports.build import build_report
from hygie.reports.render_html import render

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
PAGE_SIZE = 20


def _missing() -> str | None:
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        return "Debian's chromium is not installed (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "python playwright is not installed (pip install -e .[test])"
    return None


_REASON = _missing()
if _REASON and os.environ.get("HYGIE_REQUIRE_BROWSER"):
    raise RuntimeError(f"HYGIE_REQUIRE_BROWSER is set but {_REASON}")
pytestmark = pytest.mark.skipif(_REASON is not None, reason=_REASON or "")


@pytest.fixture(scope="module")
def report_file(tmp_path_factory) -> Path:
    scan, checks = synthetic_scan(70, 47, hostile=True, archetypes=8, seed=5, unreachable=0.05)
    report = build_report(
        scan,
        today=TODAY,
        checks=checks,
        excerpt_bytes=600,
        waivers=synthetic_waivers(scan, hostile=True),
        attestations=synthetic_attestations(),
    )
    path = tmp_path_factory.mktemp("html") / "report.html"
    path.write_text(render(report, page_size=PAGE_SIZE), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield instance
        instance.close()


class Watched:
    """A page whose console errors, script errors and dialogs are recorded."""

    def __init__(self, browser, url: str, **context):
        self.context = browser.new_context(viewport={"width": 1400, "height": 1000}, **context)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("dialog", self._dialog)
        self.page.goto(url)

    def _dialog(self, dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def visible_rows(self, table: str) -> list[str]:
        return self.page.eval_on_selector_all(
            f"#{table} tbody tr",
            "rows => rows.filter(r => r.offsetParent !== null).map(r => r.id)",
        )


@pytest.fixture
def watched(browser, report_file):
    w = Watched(browser, report_file.as_uri())
    w.page.wait_for_selector("html[data-ready]", state="attached")
    yield w
    assert w.errors == [], w.errors
    assert w.dialogs == [], w.dialogs
    w.context.close()


def test_hostile_strings_render_as_text_and_stay_inert(watched):
    page = watched.page
    page.wait_for_timeout(300)  # let any planted handler (onerror, onload) have its chance
    page.fill('input[data-filter="hosts-t"]', "<script>alert('xss-1')")
    page.locator('[data-count="hosts-t"]').filter(has_text="/ 70").wait_for()
    assert "<script>alert('xss-1')</script>" in page.inner_text("#hosts-t tbody")
    counts = page.evaluate("""() => ({
        scripts: document.scripts.length,
        imgs: document.images.length,
        handlers: [...document.querySelectorAll('*')].filter(
            e => [...e.attributes].some(a => a.name.startsWith('on'))).length,
    })""")
    assert counts == {"scripts": 2, "imgs": 0, "handlers": 0}
    # a hostile host error and a planted banner in a failure message are shown as text
    page.fill('input[data-filter="hosts-t"]', "timed out")
    assert "connect to" in page.inner_text("#hosts-t tbody")
    body = page.evaluate("() => document.body.textContent")
    for payload in (
        "</script><script>alert(3)</script>",
        "' onmouseover='alert(4)' x='",
        '"><img src=x onerror="alert(2)">',
        "<!-- --><svg onload=alert(5)>",
    ):
        assert payload in body, payload


def test_filter_hides_rows(watched):
    page = watched.page
    assert len(watched.visible_rows("hosts-t")) == PAGE_SIZE
    page.fill('input[data-filter="hosts-t"]', "srv-00003.")
    # (the page's CSP forbids string eval, so wait on the DOM, not wait_for_function)
    page.locator('[data-count="hosts-t"]').filter(has_text="1 / 70").wait_for()
    rows = watched.visible_rows("hosts-t")
    assert len(rows) == 1
    assert "srv-00003." in page.inner_text(f"#{rows[0]}")
    page.fill('input[data-filter="hosts-t"]', "")
    page.select_option('select[data-filter-state="hosts-t"]', "fail")
    states = page.eval_on_selector_all(
        "#hosts-t tbody tr:not(.f-off)", "rows => rows.map(r => r.dataset.state)"
    )
    assert states and set(states) == {"fail"}
    # a framework's controls filtered by state
    table = page.get_attribute("table[data-table][id^=fw-]", "id")
    page.select_option(f'select[data-filter-state="{table}"]', "needs_evidence")
    shown = page.eval_on_selector_all(
        f"#{table} tbody tr:not(.f-off)", "rows => rows.map(r => r.dataset.state)"
    )
    assert set(shown) <= {"needs_evidence"}


def test_sort_and_paginate(watched):
    page = watched.page
    header = page.locator("#hosts-t thead th").first
    header.click()
    names = page.eval_on_selector_all(
        "#hosts-t tbody tr:not(.pg-off) td:first-child b", "bs => bs.map(b => b.textContent)"
    )
    assert names == sorted(names, key=str.lower) and len(names) == PAGE_SIZE
    header.click()
    desc = page.eval_on_selector_all(
        "#hosts-t tbody tr:not(.pg-off) td:first-child b", "bs => bs.map(b => b.textContent)"
    )
    assert desc == sorted(desc, key=str.lower, reverse=True)
    assert header.get_attribute("aria-sort") == "descending"
    pager = page.locator('[data-pager="hosts-t"]')
    assert pager.locator("output").inner_text() == "Page 1 of 4"
    first = watched.visible_rows("hosts-t")
    pager.locator('[data-step="1"]').click()
    assert pager.locator("output").inner_text() == "Page 2 of 4"
    assert set(watched.visible_rows("hosts-t")).isdisjoint(first)


def test_a_shared_list_opens_in_its_host_rows_and_is_searched(watched):
    page = watched.page
    drill = page.locator("#hosts-t tbody tr:not(.pg-off) details[data-g]").first
    shared = drill.get_attribute("data-g")
    hrefs = "links => links.map(a => a.getAttribute('href'))"
    expected = page.eval_on_selector_all(f"#{shared} ul.findings a", hrefs)
    assert expected and drill.locator("ul").count() == 0  # not in the row until opened
    drill.locator("summary").click()
    drill.locator("ul.findings").wait_for()
    assert drill.locator("ul.findings a").evaluate_all(hrefs) == expected
    drill.locator("summary").click()
    drill.locator("summary").click()
    assert drill.locator("ul").count() == 1  # copied once
    # the host filter finds a row by a check id that only its shared list names
    row = drill.evaluate("d => d.closest('tr').id")
    check_id = page.inner_text(f"#{shared} ul.findings a >> nth=0")
    page.fill('input[data-filter="hosts-t"]', check_id)
    shown = page.eval_on_selector_all("#hosts-t tbody tr:not(.f-off)", "rs => rs.map(r => r.id)")
    assert row in shown and len(shown) < 70


def test_link_to_a_host_on_another_page_shows_it(watched):
    page = watched.page
    last = page.eval_on_selector_all("#hosts-t tbody tr", "rows => rows.at(-1).id")
    page.evaluate("id => { location.hash = id }", last)
    page.locator(f"#{last}").wait_for(state="visible")
    page.evaluate("() => { location.hash = 'checks' }")
    link = page.locator(".variant .hosts a").first
    target = link.get_attribute("href")[1:]
    page.locator("details.check").first.evaluate("d => d.open = true")
    link.click()
    page.locator(f"#{target}").wait_for(state="visible")


def test_screenshots_and_print(watched):
    page = watched.page
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "report.png"))
    page.locator("details.check").first.evaluate("d => d.open = true")
    page.locator("details.check").first.scroll_into_view_if_needed()
    page.locator("details.check").first.screenshot(path=str(ARTIFACTS / "report-check.png"))
    page.emulate_media(media="print")
    assert not page.locator('input[data-filter="hosts-t"]').is_visible()
    # closed drill-downs print expanded, every page of the host table is printed
    assert page.locator("details.fact pre").first.is_visible()
    assert len(watched.visible_rows("hosts-t")) == 70
    page.pdf(path=str(ARTIFACTS / "report.pdf"))
    assert (ARTIFACTS / "report.pdf").stat().st_size > 10_000


def test_readable_without_javascript(browser, report_file):
    w = Watched(browser, report_file.as_uri(), java_script_enabled=False)
    page = w.page
    assert page.locator(".no-js-note").is_visible()
    assert not page.locator('input[data-filter="hosts-t"]').is_visible()
    assert len(w.visible_rows("hosts-t")) == 70  # no pagination: everything, in order
    page.locator("#hosts-t details[data-g] summary").first.click()  # a shared list: a link
    link = page.locator("#hosts-t details[data-g] a").first
    target = link.get_attribute("href")
    link.click()
    assert page.locator(f"{target} ul.findings a").first.is_visible()
    page.locator("details.check summary").first.click()  # native drill-down
    assert page.locator("details.check .variant").first.is_visible()
    assert "<script>alert('xss-1')</script>" in page.inner_text("#hosts-t tbody")
    assert w.errors == [] and w.dialogs == []
    w.context.close()
