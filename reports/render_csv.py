"""Findings as CSV, one row per check result per host, for spreadsheets and ticketing.

Quoting is the csv module's; on top of it every cell that a spreadsheet would read as a
formula (leading ``=``, ``+``, ``-``, ``@``, tab or carriage return) is prefixed with a
quote, since a hostname or a banner from a target must never execute in an auditor's
spreadsheet (OWASP "CSV injection").
"""

from __future__ import annotations

import csv
import io

from hygie.reports.i18n import translator
from hygie.reports.model import Report

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
COLUMNS = (
    "host",
    "address",
    "check",
    "title",
    "status",
    "severity",
    "message",
    "expected",
    "actual",
    "fact",
    "sha256",
    "references",
    "remediation",
    "waiver",
)


def cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def render(report: Report) -> str:
    t = translator(report.lang)
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    writer.writerow([t(f"col.{c}") for c in COLUMNS])
    for host in report.hosts:
        for f in host.findings:
            # Remediation and references only where there is something to remediate: on
            # a large fleet they would otherwise make up most of the file.
            actionable = f.status not in ("pass", "not_applicable")
            writer.writerow(
                cell(v)
                for v in (
                    host.name,
                    host.address,
                    f.check_id,
                    f.title,
                    t(f"status.{f.status}"),
                    t(f"severity.{f.severity}"),
                    f.message,
                    "\n".join(e["expected"] for e in f.evidence),
                    "\n".join(e["actual"] for e in f.evidence),
                    "\n".join(x.name for x in f.facts),
                    "\n".join(x.sha256 for x in f.facts),
                    "; ".join(f"{k}: {', '.join(v)}" for k, v in f.references.items())
                    if actionable
                    else "",
                    f.remediation if actionable else "",
                    f.waiver.id if f.waiver else "",
                )
            )
    return out.getvalue()
