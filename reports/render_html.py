"""The report as one self-contained HTML file: readable offline, without JavaScript, printed.

Auditors open it on laptops with no network, so nothing is fetched: CSS and the script are
inlined, the charts are SVG drawn here, and a Content-Security-Policy forbids every other
source (the script and the style are allowed by their hash, so even a string that escaped
escaping could not run). Everything is in the DOM in server-side order; the script only
filters, sorts and paginates what is there, reading the page rather than embedded data.

Size stays bounded at hospital-fleet scale (5,000 hosts x 100 checks) because the page is
organised by what repeats: a check's rationale and remediation appear once; identical
outcomes of a check (same status, message, evidence and fact hashes) on many hosts are one
*variant*, shown once with its evidence and a capped host list; each fact excerpt appears
once, keyed by its SHA-256; a host lists its non-passing checks as links to those variants,
and its passes only as counts. Hosts configured alike fail alike, so a list of non-passing
checks that several hosts share is written once (a *shared list*) and each of those host rows
links to it; the script copies it into a row when the row is opened. Parsing is most of the
time a browser takes to open the page, so markup not written is the cheapest to load.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from importlib import resources

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup, escape

from hygie.reports.gaps import FINDING_STATUSES, SEVERITIES, STATES
from hygie.reports.i18n import translator
from hygie.reports.model import (
    ControlStatus,
    FactExcerpt,
    Finding,
    HostSummary,
    Report,
    printable,
)
from hygie.reports.trend_svg import score_chart

PAGE_SIZE = 50  # host-table rows per page in the browser
MAX_LISTED = 20  # hosts named per variant before "and N more" (each host lists its own)
MAX_SAMPLE = 5  # hosts named for a patch-plan item or a shared list before "and N more"
NOT_PASSING = ("fail", "waived", "error")
_SEVERITY_RANK = {s: len(SEVERITIES) - i for i, s in enumerate(SEVERITIES)}
# Runs before the body is parsed: with JavaScript, rows past the first page (server-side
# class pg-off) are never laid out, which is most of the load time of a 5,000-host page.
JS_HEAD = 'document.documentElement.className = "js";'
_SLUG = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class HostRef:
    anchor: str
    name: str


@dataclass
class Variant:
    """One distinct outcome of a check, shared by every host where it is identical."""

    anchor: str
    finding: Finding
    hosts: list[HostRef] = field(default_factory=list)


@dataclass
class CheckView:
    check_id: str
    title: str
    severity: str
    rationale: str
    remediation: str
    references: dict[str, tuple[str, ...]]
    counts: Counter = field(default_factory=Counter)
    variants: list[Variant] = field(default_factory=list)
    unreached: list[HostRef] = field(default_factory=list)  # hosts not scanned at all


@dataclass
class SharedList:
    """Non-passing checks identical on several hosts, written once for all of them."""

    anchor: str
    number: int
    listed: int
    links: Markup
    hosts: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class HostRow:
    anchor: str
    host: HostSummary
    worst: str | None  # severity of the worst failure
    listed: int  # non-passing checks listed (not the errors of a host not assessed)
    links: Markup  # those checks, each a link to its variant
    shared: SharedList | None = None  # set when other hosts list exactly the same links


@dataclass(frozen=True)
class ControlView:
    """A control's drill-down: its (host, check) pairs grouped by check, hosts counted."""

    failing: list[tuple[str, list[str]]]
    waived: list[tuple[str, list[str]]]
    unassessed: list[tuple[str, list[str]]]
    failing_hosts: int
    unassessed_hosts: int


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    css: str
    x: float = 0.0
    width: float = 0.0


@dataclass
class View:
    """What the template iterates: built in one pass over the findings."""

    checks: dict[str, CheckView]
    hosts: list[HostRow]
    shared: list[SharedList]
    facts: dict[str, FactExcerpt]  # sha256 -> excerpt, facts cited by non-passing findings
    host_anchor: dict[str, str]
    totals: Counter
    controls: dict[tuple[str, str], ControlView]
    failing_hosts: int
    unassessed_hosts: int


def _variant_key(f: Finding) -> tuple:
    return (
        f.status,
        f.message,
        tuple((e.get("expected"), e.get("actual"), e.get("fact")) for e in f.evidence),
        tuple(x.sha256 for x in f.facts),
        f.waiver.id if f.waiver else None,
    )


def build_view(report: Report) -> View:
    checks: dict[str, CheckView] = {}
    variants: dict[tuple, Variant] = {}
    facts: dict[str, FactExcerpt] = {}
    anchors: dict[str, str] = {}
    totals: Counter = Counter()
    rows = []
    for index, host in enumerate(report.hosts):
        anchor = f"h{index}"
        anchors.setdefault(host.name, anchor)
        ref = HostRef(anchor, host.name)
        listed = []
        for f in host.findings:
            view = checks.get(f.check_id)
            if view is None:
                view = checks[f.check_id] = CheckView(
                    f.check_id, f.title, f.severity, f.rationale, f.remediation, f.references
                )
            view.counts[f.status] += 1
            totals[f.status] += 1
            if f.status not in NOT_PASSING:
                continue
            if host.error and f.status == "error":  # the host row says why, once
                view.unreached.append(ref)
                continue
            key = (f.check_id, *_variant_key(f))
            variant = variants.get(key)
            if variant is None:
                variant = variants[key] = Variant(f"v{len(variants)}", f)
                view.variants.append(variant)
                for x in f.facts:
                    facts.setdefault(x.sha256, x)
            variant.hosts.append(ref)
            listed.append((variant.anchor, f))
        worst = next((f.severity for f in host.findings if f.status == "fail"), None)
        rows.append(HostRow(anchor, host, worst, len(listed), finding_links(listed)))
    rows.sort(
        key=lambda r: (
            -_SEVERITY_RANK.get(r.worst, 0),
            -r.host.counts.get("fail", 0),
            -r.host.counts.get("error", 0),
            r.host.name,
        )
    )
    rows, shared = share_lists(rows)
    for view in checks.values():
        view.variants.sort(key=lambda v: (FINDING_STATUSES.index(v.finding.status), -len(v.hosts)))
    ordered = sorted(checks.values(), key=check_order)
    controls = {
        (c.framework, c.control_id): control_view(c) for f in report.frameworks for c in f.controls
    }
    return View(
        checks={c.check_id: c for c in ordered},
        hosts=rows,
        shared=shared,
        facts=facts,
        host_anchor=anchors,
        totals=totals,
        controls=controls,
        failing_hosts=sum(1 for r in rows if r.worst),
        unassessed_hosts=sum(1 for h in report.hosts if h.error),
    )


def share_lists(rows: list[HostRow]) -> tuple[list[HostRow], list[SharedList]]:
    """The rows, each whose list of links another row repeats pointing to one SharedList
    instead; the shared lists numbered in row order."""
    repeats = Counter(r.links for r in rows if r.listed)
    lists: dict[str, SharedList] = {}
    out = []
    for r in rows:
        if r.listed and repeats[r.links] > 1:
            s = lists.get(r.links)
            if s is None:
                s = lists[r.links] = SharedList(f"g{len(lists)}", len(lists) + 1, r.listed, r.links)
            s.hosts.append(r.host.name)
            r = HostRow(r.anchor, r.host, r.worst, r.listed, r.links, s)
        out.append(r)
    return out, list(lists.values())


def control_view(c: ControlStatus) -> ControlView:
    failing = pairs_by_check(c.failing)
    unassessed = pairs_by_check(c.unassessed)
    return ControlView(
        failing=failing,
        waived=pairs_by_check(c.waived),
        unassessed=unassessed,
        failing_hosts=len({h for _, names in failing for h in names}),
        unassessed_hosts=len({h for _, names in unassessed for h in names}),
    )


def finding_links(listed: list[tuple[str, Finding]]) -> Markup:
    """A host's non-passing checks, one list item per (severity, status), each check a
    link to its variant. Built here rather than in the template because at fleet scale
    this is the hottest loop of the page (about 100,000 links)."""
    groups: dict[tuple[str, str], list[str]] = {}
    for anchor, f in listed:
        link = f'<a href="#{anchor}">{escape(_clean(f.check_id))}</a>'
        groups.setdefault((f.severity, f.status), []).append(link)
    return Markup(
        "".join(
            f'<li class="sev-{escape(sev)} stat-{escape(status)}">{", ".join(links)}'
            for (sev, status), links in groups.items()
        )
    )


def check_order(c: CheckView) -> tuple:
    """Most hosts failing the most severe checks first; checks with no failure last."""
    failing = c.counts["fail"] + c.counts["waived"] + c.counts["error"]
    return (failing == 0, -_SEVERITY_RANK.get(c.severity, 0), -c.counts["fail"], c.check_id)


def severity_bars(counts: dict[str, int]) -> list[Bar]:
    top = max(counts.values(), default=0) or 1
    return [
        Bar(s, counts.get(s, 0), f"sev-{s}", 0, 100 * counts.get(s, 0) / top) for s in SEVERITIES
    ]


def state_bars(counts: dict[str, int]) -> list[Bar]:
    """Stacked segments of a framework's control states, as percentages of its controls."""
    total = sum(counts.values()) or 1
    bars, x = [], 0.0
    for s in STATES:
        width = 100 * counts.get(s, 0) / total
        if width:
            bars.append(Bar(s, counts[s], f"st-{s}", x, width))
        x += width
    return bars


def pairs_by_check(pairs: Iterable[tuple[str, str]]) -> list[tuple[str, list[str]]]:
    """(host, check) pairs grouped by check, the checks with most hosts first."""
    grouped: dict[str, list[str]] = {}
    for host, check_id in pairs:
        names = grouped.get(check_id)
        if names is None:
            grouped[check_id] = [host]
        else:
            names.append(host)
    return sorted(grouped.items(), key=lambda kv: (-len(kv[1]), kv[0]))


def slug(value: str) -> str:
    """An id-safe form of a catalog or control id (ids from YAML never reach an attribute
    unescaped, but a space or '#' would break a fragment link)."""
    return _SLUG.sub("-", value)


def number(lang: str) -> Callable[[float], str]:
    sep = "\u202f" if lang == "fr" else ","

    def fmt(value: float, digits: int = 0) -> str:
        text = f"{value:,.{digits}f}".replace(",", "\x00")
        if lang == "fr":
            text = text.replace(".", ",")
        return text.replace("\x00", sep)

    return fmt


def plan_dict(plan: object) -> dict | None:
    """The patch plan as plain data (the feeds package may hand over its FleetPlan)."""
    if plan is None or isinstance(plan, dict):
        return plan
    return plan.to_dict()


def reasons(not_assessed: dict[str, str]) -> list[tuple[str, list[str]]]:
    """Hosts grouped by why they could not be assessed, the commonest reason first."""
    grouped: dict[str, list[str]] = defaultdict(list)
    for host, why in not_assessed.items():
        grouped[why].append(host)
    return sorted(grouped.items(), key=lambda kv: (-len(kv[1]), kv[0]))


def timestamp(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def trend_chart(title: str, scans: list[dict], points: list, x_label: str, y_label: str) -> Markup:
    """One framework's score over the scans (reports/trend_svg.py escapes every text)."""
    labels = [datetime.fromtimestamp(s["started"], UTC).strftime("%Y-%m-%d") for s in scans]
    values = [None if p is None else p["score"] for p in points]
    return Markup(score_chart(title, labels, values, x_label=x_label, y_label=y_label))


def _clean(value: object) -> object:
    """Every value a template prints: target strings lose control and bidi characters
    (shown as escapes) before autoescaping; markup built by the templates is kept."""
    if isinstance(value, Markup) or not isinstance(value, str):
        return "" if value is None else value
    if value.isascii() and value.isprintable():  # the common case, checked in C
        return value
    return printable(value)


@cache
def _asset(name: str) -> str:
    return (resources.files("hygie.reports") / "templates" / name).read_text(encoding="utf-8")


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


@cache
def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("hygie.reports", "templates"),
        undefined=StrictUndefined,
        autoescape=True,
        finalize=_clean,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(
        states=STATES,
        statuses=FINDING_STATUSES,
        severities=SEVERITIES,
        not_passing=NOT_PASSING,
        severity_bars=severity_bars,
        state_bars=state_bars,
        slug=slug,
        timestamp=timestamp,
        trend_chart=trend_chart,
        max_listed=MAX_LISTED,
        max_sample=MAX_SAMPLE,
    )
    return env


def render(report: Report, *, page_size: int = PAGE_SIZE) -> str:
    """The whole report as one HTML document."""
    if page_size < 1:
        raise ValueError("page_size must be at least 1")
    css, js = _asset("html_report.css"), _asset("html_report.js")
    plan = plan_dict(report.patch_plan)
    return (
        _environment()
        .get_template("report.html.j2")
        .render(
            r=report,
            v=build_view(report),
            t=translator(report.lang),
            num=number(report.lang),
            page_size=page_size,
            plan=plan,
            plan_unassessed=reasons(plan["not_assessed"]) if plan else [],
            css=Markup(css),
            js=Markup(js),
            js_head=Markup(JS_HEAD),
            csp=f"default-src 'none'; style-src {_csp_hash(css)}; "
            f"script-src {_csp_hash(JS_HEAD)} {_csp_hash(js)}; img-src data:; "
            "form-action 'none'; base-uri 'none'",
        )
    )
