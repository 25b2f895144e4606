"""``hygie report`` (a stored scan in any report format) and ``hygie frameworks``."""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path

import click

from hygie.database import default_path
from hygie.frameworks import FrameworkError, coverage, load_catalogs
from hygie.model import Scan
from hygie.registry import all_checks
from hygie.reports.attest import load_attestations, load_waivers
from hygie.reports.build import build_report
from hygie.reports.gaps import subtree_checks
from hygie.reports.i18n import DEFAULT_LANG, LANGS
from hygie.reports.model import Report, with_history
from hygie.store import Store, StoreError
from hygie.yamlfile import DataFileError

FORMATS = ("html", "md", "json", "csv", "oscal", "junit", "sarif")
EXIT_BAD_INPUT = 3  # as hygie.cli: bad input before anything was produced


class BadInput(click.ClickException):
    exit_code = EXIT_BAD_INPUT


def renderer(fmt: str) -> Callable[[Report], str]:
    """The ``render(report) -> str`` of a format, imported only when asked for."""
    return importlib.import_module(f"hygie.reports.render_{fmt}").render


def make_report(
    scan: Scan,
    *,
    lang: str = DEFAULT_LANG,
    frameworks: Sequence[str] = (),
    attestations: Path | None = None,
    waivers: Path | None = None,
    today: date | None = None,
) -> Report:
    """Load the attestation and waiver files and build the report; input problems raise
    BadInput naming the file and line."""
    try:
        catalogs = load_catalogs()
        checks = all_checks()
        atts = (
            load_attestations(attestations, {k: c.controls for k, c in catalogs.items()})
            if attestations
            else []
        )
        wvs = load_waivers(waivers, checks) if waivers else []
        return build_report(
            scan,
            frameworks=list(frameworks) or None,
            attestations=atts,
            waivers=wvs,
            today=today or date.today(),
            lang=lang,
            catalogs=catalogs,
            checks=checks,
        )
    except (DataFileError, FrameworkError, ValueError) as exc:
        raise BadInput(str(exc)) from None


def write(report: Report, fmt: str, output: Path | None) -> None:
    text = renderer(fmt)(report)
    if output is None:
        click.echo(text, nl=False)
        return
    output.write_text(text, encoding="utf-8")


def write_scan_report(scan: Scan, fmt: str | None, output: Path | None) -> None:
    """The ``hygie scan --report FORMAT --report-output PATH`` hook (defaults everywhere
    else: English, every framework, no attestations or waivers)."""
    if fmt:
        write(make_report(scan), fmt, output)


@click.command()
@click.argument("scan_ref", default="latest")
@click.option(
    "-f", "--format", "fmt", type=click.Choice(FORMATS), default="html", show_default=True
)
@click.option("--lang", type=click.Choice(LANGS), default=DEFAULT_LANG, show_default=True)
@click.option(
    "--framework",
    "frameworks",
    multiple=True,
    help="Only this framework (repeatable; default: every catalog).",
)
@click.option(
    "--attestations",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Attestations YAML (controls vouched for by a person, with evidence).",
)
@click.option(
    "--waivers",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Waivers YAML (accepted failures, approved, with an expiry).",
)
@click.option(
    "--date",
    "on",
    type=click.DateTime(["%Y-%m-%d"]),
    help="Judge attestation and waiver validity on this date (default: today).",
)
@click.option(
    "--db",
    type=click.Path(dir_okay=False, path_type=Path),
    help=f"SQLite store (default {default_path()}, or $HYGIE_DB).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the report here (default: standard output).",
)
@click.option(
    "--since",
    metavar="OLD",
    help="Add a 'Drift since OLD' section: what changed on the hosts (HTML, Markdown).",
)
@click.option(
    "--trend",
    is_flag=True,
    help="Add the trend of the stored scans up to this one (HTML, Markdown).",
)
@click.option(
    "--last",
    type=click.IntRange(1, 100),
    default=8,
    show_default=True,
    help="Scans the --trend compares.",
)
def report(
    scan_ref, fmt, lang, frameworks, attestations, waivers, on, db, output, since, trend, last
) -> None:
    """Render a stored scan (id, unique prefix, or `latest`) as a gap report."""
    store = Store(db or Path(os.environ.get("HYGIE_DB") or default_path()))
    try:
        scan = store.load(scan_ref)
    except StoreError as exc:
        raise BadInput(str(exc)) from None
    finally:
        store.close()
    built = make_report(
        scan,
        lang=lang,
        frameworks=frameworks,
        attestations=attestations,
        waivers=waivers,
        today=on.date() if on else None,
    )
    if since or trend:
        built = _with_history(built, db, since, last if trend else None, frameworks)
    write(built, fmt, output)
    if output is not None:
        click.echo(f"{fmt} report of {scan.id} written to {output}", err=True)


def _with_history(built: Report, db, since: str | None, last: int | None, frameworks) -> Report:
    """The drift since ``since`` and the trend of the ``last`` scans up to the report's."""
    from hygie.cli_drift import load_last, load_pair, make_trend  # it imports this module
    from hygie.drift import drift

    found = drift(*load_pair(db, since, built.scan_id)).to_dict() if since else None
    history = make_trend(load_last(db, last, built.scan_id), frameworks) if last else None
    return with_history(built, found, history.to_dict() if history else None)


@click.group(invoke_without_command=True)
@click.pass_context
def frameworks(ctx: click.Context) -> None:
    """List the framework catalogs with their control counts."""
    if ctx.invoked_subcommand is not None:
        return
    try:
        catalogs = load_catalogs()
    except FrameworkError as exc:
        raise BadInput(str(exc)) from None
    covered = coverage()
    for cat in catalogs.values():
        controls = cat.controls.values()
        auto = sum(c.automatable for c in controls)
        mapped = sum(cid in cat.controls for cid in covered.get(cat.id, {}))
        click.echo(
            f"{cat.id:<26} {len(cat.controls):>4} controls  {auto:>4} automatable  "
            f"{mapped:>4} with checks  {cat.title} ({cat.version})"
        )


@frameworks.command("show")
@click.argument("framework")
@click.argument("control", required=False)
def frameworks_show(framework, control) -> None:
    """Show a catalog's controls, or one control with the checks that cover it."""
    catalogs = load_catalogs()
    if framework not in catalogs:
        raise BadInput(f"unknown framework {framework!r}; known: {', '.join(catalogs)}")
    cat = catalogs[framework]
    direct = coverage().get(framework, {})
    mapped = subtree_checks(cat, direct)
    if control is None:
        click.echo(f"{cat.title}\n{cat.version}\n{cat.source}\n")
        for c in cat.controls.values():
            auto = "auto " if c.automatable else "human"
            click.echo(f"{c.id:<24} {auto} {len(mapped[c.id]):>3} checks  {c.title}")
        return
    if control not in cat.controls:
        raise BadInput(f"{control!r} is not a control of {framework}")
    c = cat.controls[control]
    click.echo(f"{framework} {c.id}: {c.title}")
    if c.title_en:
        click.echo(f"  ({c.title_en})")
    click.echo(
        f"kind: {c.kind}  automatable: {'yes' if c.automatable else 'no'}"
        + (f"  parent: {c.parent}" if c.parent else "")
    )
    registry = all_checks()
    if not mapped[c.id]:
        click.echo("no check covers it: it needs evidence (an attestation)")
    for check_id in mapped[c.id]:
        via = "" if check_id in direct.get(c.id, ()) else " (via a sub-control)"
        click.echo(
            f"  {check_id:<40} {registry[check_id].severity.value:<8} "
            f"{registry[check_id].title}{via}"
        )
