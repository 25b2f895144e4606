"""``hygie store``: the scan store itself, and the ``--db`` value every command takes.

``--db`` (and ``$HYGIE_DB``) is a SQLite file or a ``postgresql://`` URL: a central store
fed by several sites. A URL is kept as a string (a path would collapse its ``//``) and is
only ever shown with its password masked; prefer libpq's ``PGPASSWORD`` or ``~/.pgpass``
to a password in the URL, which other users can read from the process list.

``hygie store copy SRC DST`` moves a store between the engines (either way): every scan
row for row, envelopes and keys byte for byte, so ``hygie verify --db DST`` checks the
very chain SRC had. Exit code 3 when the copy is refused (DST holds another history).
"""

from __future__ import annotations

from pathlib import Path

import click

from hygie.database import Location, database_path, default_path, is_url
from hygie.reports.cli import BadInput
from hygie.store import Store, StoreError, copy_store


class StoreLocation(click.ParamType):
    """A SQLite path, or a PostgreSQL URL left as typed."""

    name = "PATH|URL"

    def convert(self, value, param, ctx) -> Location:
        return database_path(value)


STORE_LOCATION = StoreLocation()
DB_HELP = f"Store: a SQLite file (default {default_path()}) or a postgresql:// URL; $HYGIE_DB."
db_option = click.option("--db", type=STORE_LOCATION, default=None, help=DB_HELP)


def open_store(db: Location | None) -> Store:
    """The store of ``--db``, else ``$HYGIE_DB``, else the default; one that cannot be
    opened (a refused connection) is bad input, said without the URL's password."""
    try:
        return Store(database_path(db))
    except StoreError as exc:
        raise BadInput(str(exc)) from None


@click.group("store")
def store() -> None:
    """Manage the scan store: copy it between SQLite and PostgreSQL."""


@store.command("copy")
@click.argument("source", type=STORE_LOCATION)
@click.argument("destination", type=STORE_LOCATION)
def copy(source: Location, destination: Location) -> None:
    """Copy every scan of SOURCE (with its facts, results, envelope and signing key) into
    DESTINATION, each a SQLite file or a postgresql:// URL, without re-sealing anything.

    DESTINATION must be empty or hold an earlier copy of SOURCE (the scans already there
    are kept, the rest appended); a store with another history is refused.
    """
    if not is_url(source) and not Path(source).is_file():
        raise BadInput(f"{source}: no such store")
    src = open_store(source)
    try:
        dst = open_store(destination)
        try:
            done = copy_store(src, dst)
        except StoreError as exc:
            raise BadInput(str(exc)) from None
        finally:
            dst.close()
    finally:
        src.close()
    click.echo(
        f"copied {done.scans} scans from {src.path} to {dst.path}"
        + (f" ({done.kept} were already there)" if done.kept else "")
    )
