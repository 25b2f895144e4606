"""The report as Markdown that renders on GitHub and GitLab (GFM tables).

Text from targets is escaped so that it stays text: table pipes and newlines cannot break a
row, ``<script>`` and ``[link](javascript:...)`` stay literal, ``@name`` does not notify
anyone; raw fact excerpts go in fenced blocks longer than any backtick run they contain.
"""

from __future__ import annotations

import functools
import re

from jinja2 import Environment, PackageLoader, StrictUndefined

from hygie.reports.gaps import FINDING_STATUSES, STATES
from hygie.reports.i18n import translator
from hygie.reports.model import Report, printable

# ASCII punctuation with an inline meaning on GitHub or GitLab (CommonMark allows a
# backslash before any punctuation): emphasis, code, links, HTML, tables, strikethrough,
# entities, math, mentions and issue references.
_ESCAPED = str.maketrans({c: "\\" + c for c in "\\`*_{}[]<>#|!~&$@"} | {"\t": " "})
_NEWLINES = re.compile(r"\r\n|\r|\n")
MAX_LISTED = 20  # (host, check) pairs listed per control before "and N more"


def md(value: object) -> str:
    """Inline text, safe in a table cell or a heading."""
    return _md("" if value is None else str(value))


@functools.lru_cache(maxsize=8192)
def _md(value: str) -> str:
    """Cached: a fleet's report escapes the same remediation, expected value and host name
    thousands of times."""
    text = printable(value).translate(_ESCAPED)
    return _NEWLINES.sub("<br>", text) if "\n" in text or "\r" in text else text


def fenced(value: str) -> str:
    """A fenced code block that ``value`` cannot close."""
    runs = [len(r) for r in re.findall(r"`+", value)]
    fence = "`" * max(3, max(runs, default=0) + 1)
    return f"{fence}text\n{value}\n{fence}"


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("hygie.reports", "templates"),
        undefined=StrictUndefined,
        autoescape=False,  # Markdown, not HTML: every value goes through the md filter
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["md"] = md
    env.filters["fenced"] = fenced
    return env


def render(report: Report) -> str:
    t = translator(report.lang)

    def pairs(items: tuple[tuple[str, str], ...]) -> str:
        shown = "<br>".join(f"{md(host)}: {md(check)}" for host, check in items[:MAX_LISTED])
        rest = len(items) - MAX_LISTED
        return shown + (f"<br>{md(t('text.more', count=rest))}" if rest > 0 else "")

    return (
        _environment()
        .get_template("report.md.j2")
        .render(r=report, t=t, pairs=pairs, states=STATES, statuses=FINDING_STATUSES)
    )
