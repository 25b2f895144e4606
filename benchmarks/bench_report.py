"""HTML report at fleet scale: build_report + render time, page size, time to interactive.

Builds a synthetic scan (benchmarks/synthetic.py: the real checks judging recorded facts,
default 5,000 hosts x 100 checks), then prints
  scan      time to build the synthetic scan (not part of the report's cost)
  build     hygie.reports.model.build_report
  render    hygie.reports.render_html.render, and the HTML size
  browser   in headless chromium (Debian's, via Playwright), from navigation to the page's
            script having wired the tables (performance mark "hygie-ready"), and the time
            for a first filter of the host table to apply
Goals: build + render < 10 s; interactive < 2 s. The page is kept in artifacts/.

Run from the repository root:  python3 benchmarks/bench_report.py [HOSTS [CHECKS]]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.synthetic import (
    TODAY,
    synthetic_attestations,
    synthetic_scan,
    synthetic_waivers,
)
from hygie.reports.build import build_report
from hygie.reports.render_html import render

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def timed(label: str, func, *args, **kwargs):
    start = time.perf_counter()
    value = func(*args, **kwargs)
    print(f"{label:<9} {time.perf_counter() - start:7.2f} s", flush=True)
    return value


def browser(path: Path, hosts: int) -> None:
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError:
        print("browser   skipped: python playwright is not installed")
        return
    if not Path(CHROMIUM).exists():
        print("browser   skipped: chromium is not installed (apt-get install chromium)")
        return
    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = instance.new_page(viewport={"width": 1400, "height": 1000})
        errors: list[str] = []
        page.on("console", lambda m: m.type == "error" and errors.append(m.text))
        page.goto(path.as_uri(), timeout=120_000)
        page.wait_for_selector("html[data-ready]", state="attached", timeout=120_000)
        marks = page.evaluate("""() => {
            const nav = performance.getEntriesByType('navigation')[0];
            const ready = performance.getEntriesByName('hygie-ready')[0];
            return {parsed: nav.domInteractive, ready: ready.startTime, load: nav.loadEventEnd};
        }""")
        start = time.perf_counter()
        page.fill('input[data-filter="hosts-t"]', "srv-00042.")
        expect(page.locator('[data-count="hosts-t"]')).to_have_text(f"1 / {hosts}")
        filtered = time.perf_counter() - start
        instance.close()
    print(
        f"browser   parsed {marks['parsed'] / 1000:.2f} s, interactive "
        f"{marks['ready'] / 1000:.2f} s, load {marks['load'] / 1000:.2f} s; "
        f"first filter {filtered:.2f} s; console errors: {len(errors)}"
    )


def main(hosts: int = 5000, checks: int = 100) -> None:
    print(f"synthetic scan: {hosts} hosts x {checks} checks")
    scan, metas = timed("scan", synthetic_scan, hosts, checks)
    results = sum(len(h.results) for h in scan.hosts)
    failures = sum(1 for h in scan.hosts for r in h.results if r.status == "fail")
    print(f"          {results} results, {failures} failures")
    report = timed(
        "build",
        build_report,
        scan,
        today=TODAY,
        checks=metas,
        waivers=synthetic_waivers(scan),
        attestations=synthetic_attestations(),
    )
    html = timed("render", render, report)
    print(f"html      {len(html.encode()) / 1e6:7.2f} MB")
    out = ROOT / "artifacts" / f"bench-report-{hosts}x{checks}.html"
    out.parent.mkdir(exist_ok=True)
    out.write_text(html, encoding="utf-8")
    print(f"page      {out}")
    browser(out, hosts)


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
