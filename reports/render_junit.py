"""Check results as JUnit XML, so that any CI pipeline can gate on a scan.

One test suite per host, one test case per check: a failure is ``<failure>``, a check that
could not be assessed is ``<error>`` (never a pass), not applicable and waived are
``<skipped>`` with the reason (a waived failure is not a pass either).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from hygie.reports.i18n import translator
from hygie.reports.model import Finding, Report, printable


def _text(value: object) -> str:
    """XML 1.0 cannot carry most control characters: show them as escapes."""
    return printable(str(value))


def _details(f: Finding, t) -> str:
    lines = [f.message]
    lines += [
        f"{t('col.expected')}: {e['expected']} | {t('col.actual')}: {e['actual']}"
        for e in f.evidence
    ]
    lines += [f"{t('col.fact')} {x.name} {t('col.sha256')} {x.sha256}" for x in f.facts]
    if f.remediation:
        lines.append(f"{t('col.remediation')}: {f.remediation}")
    return _text("\n".join(lines))


def _case(suite: ET.Element, f: Finding, t) -> None:
    case = ET.SubElement(
        suite,
        "testcase",
        name=_text(f"{f.check_id}: {f.title}"),
        classname=_text(f"hygie.{f.host}"),
    )
    if f.status == "fail":
        node = ET.SubElement(case, "failure", message=_text(f.message), type=f.severity)
        node.text = _details(f, t)
    elif f.status == "error":
        node = ET.SubElement(case, "error", message=_text(f.message), type="not_assessed")
        node.text = _details(f, t)
    elif f.status == "waived":
        w = f.waiver
        ET.SubElement(
            case,
            "skipped",
            message=_text(
                t("text.waived_by", id=w.id, approver=w.approved_by, expires=w.expires)
                + f": {w.justification}"
            ),
        )
    elif f.status == "not_applicable":
        ET.SubElement(case, "skipped", message=_text(f.message))


def render(report: Report) -> str:
    t = translator(report.lang)
    root = ET.Element("testsuites", name=_text(f"hygie {report.scan_id}"))
    totals = dict.fromkeys(("tests", "failures", "errors", "skipped"), 0)
    for host in report.hosts:
        c = host.counts
        counts = {
            "tests": len(host.findings),
            "failures": c["fail"],
            "errors": c["error"],
            "skipped": c["waived"] + c["not_applicable"],
        }
        suite = ET.SubElement(
            root,
            "testsuite",
            name=_text(t("junit.suite", host=host.name)),
            hostname=_text(host.name),
            timestamp=report.generated_at,
            **{k: str(v) for k, v in counts.items()},
        )
        for f in host.findings:
            _case(suite, f, t)
        for k, v in counts.items():
            totals[k] += v
    root.attrib.update({k: str(v) for k, v in totals.items()})
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
