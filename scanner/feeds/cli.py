"""``hygie feeds``: import, update and inspect the vulnerability feeds."""

from __future__ import annotations

import time
from pathlib import Path

import click

from hygie.feeds.download import (
    DEFAULT_ECOSYSTEMS,
    EPSS_URL,
    KEV_URL,
    OSV_URL,
    DownloadError,
    sources,
    update,
)
from hygie.feeds.osv import FeedFormatError
from hygie.feeds.store import FeedImport, FeedMissing, FeedStore, feed_db_path

db_option = click.option(
    "--db",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="SQLite store holding the feeds (default: $HYGIE_DB or the scan store).",
)


def _line(imp: FeedImport) -> str:
    return (
        f"{imp.source:<5} {imp.version:<28} as of {imp.as_of[:10] or '?':<10} "
        f"{imp.records:>7} records  sha256 {imp.sha256[:16]}  {imp.file}"
    )


@click.group()
def feeds() -> None:
    """Vulnerability feeds: OSV advisories, CISA KEV, FIRST EPSS."""


@feeds.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@db_option
def feeds_import(files, db) -> None:
    """Import feed files: OSV (<ecosystem>/all.zip, a .json record or list, or a directory
    of them), the CISA KEV catalog (.json), FIRST EPSS scores (.csv or .csv.gz)."""
    store = FeedStore(feed_db_path(db))
    try:
        for path in files:
            try:
                click.echo(_line(store.import_path(path)))
            except FeedFormatError as exc:
                raise click.ClickException(str(exc)) from None
    finally:
        store.close()


@feeds.command("update")
@click.option(
    "-e",
    "--ecosystem",
    "ecosystems",
    multiple=True,
    help=f"OSV ecosystem to fetch (repeatable; default: {', '.join(DEFAULT_ECOSYSTEMS)}).",
)
@click.option(
    "--osv-url",
    default=OSV_URL,
    show_default=True,
    help="OSV export URL ({ecosystem} is replaced); point it at a local mirror.",
)
@click.option("--kev-url", default=KEV_URL, show_default=True)
@click.option("--epss-url", default=EPSS_URL, show_default=True)
@click.option("--timeout", type=click.FloatRange(1), default=60.0, show_default=True)
@db_option
def feeds_update(ecosystems, osv_url, kev_url, epss_url, timeout, db) -> None:
    """Download the feeds from their publishers (or a mirror) and import them."""
    chosen = sources(tuple(ecosystems) or DEFAULT_ECOSYSTEMS, osv_url, kev_url, epss_url)
    store = FeedStore(feed_db_path(db))
    try:
        update(store, chosen, timeout, lambda source, imp: click.echo(_line(imp)))
    except (DownloadError, FeedFormatError) as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        store.close()


@feeds.command("status")
@db_option
def feeds_status(db) -> None:
    """What is loaded, from which file, and how old it is. Exit 1 when nothing is."""
    path = feed_db_path(db)
    try:
        store = FeedStore(path, readonly=True)
        ecosystems = store.ecosystems()
        kev, epss = store.latest("kev"), store.latest("epss")
    except FeedMissing as exc:
        raise click.ClickException(str(exc)) from None
    store.close()
    now = time.time()

    def age(as_of: str) -> str:
        stamp = time.mktime(time.strptime(as_of[:10], "%Y-%m-%d")) if as_of else now
        return f"{int((now - stamp) // 86400)} days old"

    click.echo(f"feeds in {path}")
    for eco, (as_of, _) in sorted(ecosystems.items()):
        click.echo(f"  OSV {eco:<22} as of {as_of[:10]} ({age(as_of)})")
    for name, imp in (("CISA KEV", kev), ("FIRST EPSS", epss)):
        if imp is None:
            click.echo(f"  {name:<26} not loaded")
        else:
            click.echo(
                f"  {name:<10} {imp.version:<15} as of {imp.as_of[:10]} ({age(imp.as_of)}), "
                f"{imp.records} entries, sha256 {imp.sha256[:16]}"
            )
    if not ecosystems or kev is None or epss is None:
        raise click.ClickException("incomplete: import OSV, KEV and EPSS (hygie feeds update)")
