"""``hygie remediate``: the fixes for a stored scan's failures, as a playbook or a script.

hygie itself stays read-only on the hosts: it writes the remediation, an admin reviews it,
dry-runs it (``ansible-playbook --check --diff``) and applies it, and a rescan proves it.
"""

from __future__ import annotations

from pathlib import Path

import click

from hygie.cli_store import db_option, open_store
from hygie.inventory import load_inventory
from hygie.remediate import FORMATS, RemediationError, failures, first_groups, render
from hygie.reports.cli import BadInput
from hygie.store import StoreError
from hygie.yamlfile import DataFileError


@click.command("remediate")
@click.argument("scan_ref", default="latest")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="ansible", show_default=True)
@click.option(
    "-i",
    "--inventory",
    type=click.Path(exists=True, path_type=Path),
    help="The scan's inventory: one play per host group (default: one play).",
)
@db_option
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write it here (default: standard output).",
)
def remediate(scan_ref, fmt, inventory, db, output) -> None:
    """Fixes for the failed checks of a stored scan (id, unique prefix, or `latest`):
    an Ansible playbook (one task per safe automatic fix, on the hosts that failed it;
    the others listed as manual) or a POSIX sh script."""
    store = open_store(db)
    try:
        scan = store.load(scan_ref)
        groups = first_groups(load_inventory(inventory).targets) if inventory else None
        text = render(scan, fmt, groups)
    except (StoreError, DataFileError, RemediationError) as exc:
        raise BadInput(str(exc)) from None
    finally:
        store.close()
    if output is None:
        click.echo(text, nl=False)
        return
    output.write_text(text)
    found = failures(scan)
    automatic = sum(f.automatic for f in found)
    click.echo(
        f"{fmt} remediation of {scan.id} written to {output}: "
        f"{automatic} automatic fixes, {len(found) - automatic} manual",
        err=True,
    )
