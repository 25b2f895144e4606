"""What an admin sees on the terminal: progress while scanning, a summary at the end.

A rich progress bar on a terminal; plain one-line-per-host output otherwise (CI logs, cron
mails), so the same command is readable in both places. Text that came from a target is
printed without markup interpretation.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from hygie.model import HostScan, Scan, Status
from hygie.output import counts

STATUS_STYLE = {"pass": "green", "fail": "red", "error": "yellow", "not_applicable": "dim"}
SEVERITY_STYLE = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "cyan"}


def make_console(stream=None) -> Console:
    return Console(file=stream or sys.stderr, highlight=False, soft_wrap=False)


def _line(host: HostScan) -> str:
    c = counts(host.results)
    if host.error:
        return f"{host.name}: ERROR {host.error}"
    return (
        f"{host.name}: {c['pass']} pass, {c['fail']} fail, {c['error']} error, "
        f"{c['not_applicable']} n/a ({host.duration:.1f}s)"
    )


@contextmanager
def progress(console: Console, total: int) -> Iterator:
    """Yields a callback to call with each finished host."""
    if console.is_terminal:
        bar = Progress(
            TextColumn("[bold]auditing"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.description}"),
            console=console,
            transient=True,
        )
        with bar:
            task = bar.add_task("", total=total)

            def advance(host: HostScan) -> None:
                bar.update(task, advance=1, description=escape(host.name))
                if host.error:
                    bar.console.print(f"[yellow]{escape(_line(host))}[/]")

            yield advance
        return
    done = 0

    def plain(host: HostScan) -> None:
        nonlocal done
        done += 1
        console.print(f"[{done}/{total}] {_line(host)}", markup=False)

    yield plain


def summary(console: Console, scan: Scan, max_findings: int = 40) -> None:
    table = Table(title=f"scan {scan.id} - policy {scan.policy_name} {scan.policy_version}")
    for col in ("host", "os", "pass", "fail", "error", "n/a", "time"):
        table.add_column(col, justify="left" if col in ("host", "os") else "right")
    for h in scan.hosts:
        c = counts(h.results)
        table.add_row(
            escape(h.name),
            "ERROR" if h.error else h.family,
            str(c["pass"]),
            f"[red]{c['fail']}[/]" if c["fail"] else "0",
            f"[yellow]{c['error']}[/]" if c["error"] else "0",
            str(c["not_applicable"]),
            f"{h.duration:.1f}s",
        )
    console.print(table)

    for h in scan.hosts:
        if h.error:
            console.print(f"[yellow]{escape(h.name)}: not assessed: {escape(h.error)}[/]")
    findings = sorted(
        (r for r in scan.results() if r.status is Status.FAIL),
        key=lambda r: (-r.severity.rank, r.host, r.check_id),
    )
    if findings:
        console.print(f"\n[bold]{len(findings)} failed checks[/] (most severe first):")
    for r in findings[:max_findings]:
        style = SEVERITY_STYLE.get(r.severity.value, "")
        console.print(
            f"  [{style}]{r.severity.value:>8}[/] {escape(r.host)} {r.check_id}: "
            f"{escape(_short(r.message, 90))}",
            overflow="ellipsis",
            no_wrap=True,
        )
    if len(findings) > max_findings:
        console.print(f"  ... and {len(findings) - max_findings} more (see the JSON results)")
    total = counts(scan.results())
    console.print(
        f"\n{total['pass']} pass, {total['fail']} fail, {total['error']} error, "
        f"{total['not_applicable']} not applicable on {len(scan.hosts)} hosts "
        f"in {scan.finished - scan.started:.1f}s"
    )
    console.print(
        seal_line(scan), style="" if scan.seal and scan.seal.keyid else "yellow", markup=False
    )


def seal_line(scan: Scan) -> str:
    """Whether the scan is signed, by which key (its fingerprint), and its chain link."""
    seal = scan.seal
    if seal is None:
        return "UNSIGNED: not stored, so in no evidence chain"
    if seal.keyid is None:
        return (
            f"UNSIGNED: evidence chain link {seal.seq}, but no signing key is configured "
            "(hygie keys generate)"
        )
    return f"signed by key {seal.keyid}, evidence chain link {seal.seq}"


def _short(text: str, limit: int = 60) -> str:
    text = "".join(c if c.isprintable() else "?" for c in text.replace("\n", " "))
    return text if len(text) <= limit else text[: limit - 3] + "..."
