"""The HTML report: self-contained, hostile target strings inert, every failure with its
evidence and remediation, bounded at scale, in English and French.

The report is built by the real build_report from a synthetic scan judged by the real
checks (benchmarks/synthetic.py), with script tags, quotes, event handlers and control
characters planted in host names, fact contents, messages and host errors.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import re
from collections import Counter
from html.parser import HTMLParser

import pytest

from benchmarks.synthetic import (
    TODAY,
    synthetic_attestations,
    synthetic_scan,
    synthetic_waivers,
)
from hygie.reports.build import build_report
from hygie.reports.i18n import messages
from hygie.reports.render_html import MAX_LISTED, render
from tests.fixtures.reports.hostile import catalog, checks, data_text, fleet


class Page(HTMLParser):
    """Every tag with its attributes, the text, and the raw content of each script."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.scripts: list[str] = []
        self.styles: list[str] = []
        self._raw: list[str] | None = None
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag in ("script", "style"):
            self._raw = self.scripts if tag == "script" else self.styles
            self._raw.append("")

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._raw = None

    def handle_data(self, data):
        if self._raw is not None:
            self._raw[-1] += data
        else:
            self.text.append(data)

    def ids(self) -> set[str]:
        return {a["id"] for _, a in self.tags if a.get("id")}

    def all_text(self) -> str:
        return "".join(self.text)


@pytest.fixture(scope="module")
def scan():
    return synthetic_scan(42, 47, hostile=True, archetypes=6, seed=3, unreachable=0.15)


@pytest.fixture(scope="module")
def report(scan):
    s, checks = scan
    return build_report(
        s,
        today=TODAY,
        checks=checks,
        excerpt_bytes=300,
        waivers=synthetic_waivers(s, hostile=True),
        attestations=synthetic_attestations(),
    )


@pytest.fixture(scope="module")
def html(report):
    return render(report, page_size=10)


@pytest.fixture(scope="module")
def page(html):
    return Page(html)


def test_only_our_two_scripts_and_no_event_handler(page):
    assert len(page.scripts) == 2
    assert [t for t, _ in page.tags].count("script") == 2
    handlers = [(t, k) for t, a in page.tags for k in a if k.lower().startswith("on")]
    assert handlers == []
    assert not any(t in ("img", "iframe", "object", "embed", "base", "form") for t, _ in page.tags)
    assert not any(t == "svg" and "onload" in a for t, a in page.tags)


def test_hostile_strings_are_text(html, page, report):
    text = page.all_text()
    # the host name, message and error payloads reach the reader as text, whole
    assert "<script>alert('xss-1')</script>" in text
    assert '"><img src=x onerror="alert(2)">' in text
    assert "</script><script>alert(3)</script>" in text
    # and never as markup: escaped in the source
    assert "&lt;script&gt;alert(&#39;xss-1&#39;)&lt;/script&gt;" in html
    for raw in ("<script>alert", "<img src=x", "<svg onload", 'onerror="alert'):
        assert raw not in html
    # a waiver justification and a host error from a target are escaped too
    assert "ICU monitors certified as-is by the vendor <script>" in text
    errors = [h.error for h in report.hosts if h.error]
    assert errors and all(Page(e).all_text() in text for e in errors)


def test_control_and_bidi_characters_are_shown_as_escapes(html):
    assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u202a-\u202e\u2066-\u2069]", html)
    assert "\\x1b[31mred" in html
    assert "\\u202eevil" in html


def test_content_security_policy_allows_exactly_the_inline_script_and_style(page):
    csp = next(
        a["content"]
        for t, a in page.tags
        if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"
    )

    def allowed(text):
        return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()

    assert csp.startswith("default-src 'none'")
    for script in page.scripts:
        assert allowed(script) in csp
    assert allowed(page.styles[0]) in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp


def test_self_contained_and_every_internal_link_resolves(page):
    ids = page.ids()
    for tag, attrs in page.tags:
        for name in ("src", "href", "action", "srcset", "data"):
            value = attrs.get(name)
            if value is None:
                continue
            assert tag == "a" and name == "href" and value.startswith("#"), (tag, name, value)
            assert value[1:] in ids, value
    assert not any(t == "link" for t, _ in page.tags)


def test_every_failing_check_shows_remediation_evidence_and_hosts(report, html, page):
    ids = page.ids()
    failing = {f.check_id: f for h in report.hosts for f in h.findings if f.status == "fail"}
    assert failing
    for check_id, finding in failing.items():
        assert f"c-{check_id}" in ids
        section = html[html.index(f'id="c-{check_id}"') :]
        section = section[: section.index("</details>\n")]
        assert Page(finding.remediation).all_text()[:40] in Page(section).all_text()
        for fact in finding.facts:
            assert f"e-{fact.sha256[:16]}" in ids  # the excerpt, once, by hash
    text = page.all_text()
    excerpts = {
        x.sha256: x for h in report.hosts for f in h.findings if f.status == "fail" for x in f.facts
    }
    for sha, x in excerpts.items():
        assert f"sha256:{sha}" in text
        if x.truncated:
            assert f"e-{sha[:16]}" in page.ids()
    assert any(x.truncated for x in excerpts.values())
    assert "Excerpt truncated" in text


def test_hosts_worst_first_and_paginated_server_side(report, page):
    rows = [a for t, a in page.tags if t == "tr" and (a.get("id") or "").startswith("h")]
    assert len(rows) == len(report.hosts)
    states = [a["data-state"] for a in rows]
    assert states == sorted(states, key=lambda s: {"fail": 0, "error": 1, "pass": 2}[s])
    assert [a.get("class") for a in rows[:10]] == [None] * 10
    assert {a.get("class") for a in rows[10:]} == {"pg-off"}


def test_host_lists_are_capped_but_each_host_lists_its_own_failures(html, page, report):
    """At scale a variant names MAX_LISTED hosts and counts the rest; each host row still
    links every one of its non-passing checks, itself or through the one shared list of
    the hosts with exactly the same ones."""
    variant_links = re.compile(r'<a href="#(v\d+)">')
    shared = dict(re.findall(r'<div class="shared" id="(g\d+)">(.*?)</div>', html, re.S))
    assert shared  # the synthetic fleet has archetypes: hosts configured alike
    rows = dict(re.findall(r'<tr id="(h\d+)"(.*?)</tr>', html, re.S))
    anchors = {a["id"]: a for t, a in page.tags if t == "tr" and a.get("id", "").startswith("h")}
    linked_lists = Counter()
    for index, host in enumerate(report.hosts):
        row = rows[f"h{index}"]
        links = variant_links.findall(row)
        for g in re.findall(r'data-g="(g\d+)"', row):
            assert not links  # a row lists its checks or links to a shared list, not both
            links = variant_links.findall(shared[g])
            linked_lists[g] += 1
        listed = (
            0
            if host.error
            else sum(1 for f in host.findings if f.status in ("fail", "waived", "error"))
        )
        assert len(links) == listed == len(set(links)), host.name
    assert set(linked_lists) == set(shared) and min(linked_lists.values()) > 1
    assert len(anchors) == len(report.hosts)
    assert "… and" in page.all_text() or all(
        sum(1 for h in report.hosts for f in h.findings if f.check_id == c) <= MAX_LISTED
        for c in {f.check_id for h in report.hosts for f in h.findings}
    )


def test_waived_failures_shown_apart_with_their_waiver(report, page):
    waived = [f for h in report.hosts for f in h.findings if f.status == "waived"]
    assert waived
    text = page.all_text()
    assert "W-001" in text and "Waived" in text
    assert "W-000" in text  # the expired waiver is flagged in the summary
    assert "Expired waivers" in text


def test_charts_are_inline_svg(page, report):
    svgs = [a for t, a in page.tags if t == "svg"]
    assert len(svgs) >= len(report.frameworks) + 5
    assert all(a.get("role") == "img" and a.get("aria-label") for a in svgs)


def test_french(report):
    fr = Page(render(dataclasses.replace(report, lang="fr")))
    text = fr.all_text()
    assert "Rapport d'écarts de conformité" in text
    assert "Synthèse" in text or "synthèse" in text
    assert "Contrôles techniques" in text and "Hôtes" in text
    english = {v for k, v in messages("en").items() if k.startswith(("html.", "section."))}
    assert not [e for e in english if len(e) > 12 and e in text]
    assert any(t == "html" and a.get("lang") == "fr" for t, a in fr.tags)


@pytest.mark.parametrize(("lang", "other"), [("fr", "en"), ("en", "fr")])
def test_check_texts_are_in_the_report_language(lang, other):
    """Built in French, a report shows each check's French title, rationale and
    remediation from its data file, and none of the English ones; and the reverse."""
    built = build_report(
        fleet(), catalogs={"testfw": catalog()}, checks=checks(), today=TODAY, lang=lang
    )
    text = Page(render(built)).all_text()
    assert all(v in text for v in data_text("ssh_root_login", lang).values())
    assert not [v for v in data_text("ssh_root_login", other).values() if v in text]


def test_html_keys_exist_in_both_languages():
    en, fr = messages("en"), messages("fr")
    ours = {k for k in en if k.startswith("html.")}
    assert ours and ours == {k for k in fr if k.startswith("html.")}
    assert all(fr[k].strip() for k in ours)


def test_page_size_must_be_positive(report):
    with pytest.raises(ValueError):
        render(report, page_size=0)
