"""The SSH client options every command that audits hosts takes (``hygie scan``, and
``hygie worker``, a site's runner): one definition, so both read known_hosts and
ssh_config the same way."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

_OPTIONS = (
    click.option(
        "--known-hosts",
        type=click.Path(dir_okay=False, path_type=Path),
        default=str(Path("~/.ssh/known_hosts").expanduser()),
        show_default=True,
    ),
    click.option(
        "--trust-on-first-use",
        is_flag=True,
        help="Accept and record unknown host keys (changed keys are still refused).",
    ),
    click.option(
        "--ssh-config",
        type=click.Path(dir_okay=False, path_type=Path),
        default=str(Path("~/.ssh/config").expanduser()),
        show_default=True,
    ),
)


def ssh_client_options(command: Callable) -> Callable:
    """``--known-hosts``, ``--trust-on-first-use`` and ``--ssh-config``."""
    for option in reversed(_OPTIONS):
        command = option(command)
    return command
