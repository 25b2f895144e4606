"""``hygie worker`` (a site's runner) and the broker options of ``hygie scan``.

Celery is imported only when a command actually uses the broker: without the
``distributed`` extra, every other command works as before.
"""

from __future__ import annotations

import os
import socket
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import click
from rich.console import Console

from hygie.cli_evidence import configured_signer, passphrase_option
from hygie.cli_ssh import ssh_client_options
from hygie.engine import EngineOptions
from hygie.inventory import SITE_NAME, Target
from hygie.model import Scan
from hygie.policy import Policy
from hygie.reports.cli import BadInput
from hygie.signing import KEY_ENV
from hygie.transports.ssh import SshOptions

BROKER_ENV = "HYGIE_BROKER"
RUNNER_KEYS_ENV = "HYGIE_RUNNER_KEYS"
#: seconds before a site no runner serves has its hosts made ``error``
DEFAULT_SITE_TIMEOUT = 180.0
#: seconds after which a task a lost runner held goes to another (> host deadlines)
DEFAULT_REDELIVERY = 600.0
DEFAULT_CONCURRENCY = 8
_EXTRA = "multi-site scanning needs the distributed extra: pip install 'hygie[distributed]'"


def broker_options(command: Callable) -> Callable:
    """``--broker``, ``--runner-keys`` and ``--site-timeout`` for ``hygie scan``."""
    options = [
        click.option(
            "--broker",
            envvar=BROKER_ENV,
            metavar="URL",
            help="Scan through runners: Redis URL (redis://host:6379/0, "
            f"redis+socket:///path/redis.sock; or ${BROKER_ENV}). Every host needs a site:.",
        ),
        click.option(
            "--runner-keys",
            envvar=RUNNER_KEYS_ENV,
            type=click.Path(file_okay=False, path_type=Path),
            help=f"With --broker: the runners' public keys, <DIR>/<site>/*.pub (or "
            f"${RUNNER_KEYS_ENV}); results signed by any other key are refused.",
        ),
        click.option(
            "--site-timeout",
            type=click.FloatRange(1),
            default=DEFAULT_SITE_TIMEOUT,
            show_default=True,
            help="With --broker: seconds without a live runner after which a site's hosts "
            "are errors (no runner for site X).",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _check_scan(targets: list[Target], options: EngineOptions, runner_keys: Path | None) -> None:
    if options.ssh.password is not None or options.become_password is not None:
        raise BadInput(
            "--ask-pass and --ask-become-pass cannot be used with --broker: passwords stay on "
            "the runners (password_env, become_password_env in the inventory)"
        )
    homeless = [t.name for t in targets if not t.site]
    if homeless:
        raise BadInput(f"with --broker every host needs a site: (none for {', '.join(homeless)})")
    if runner_keys is None:
        raise BadInput(f"--broker needs --runner-keys DIR (or ${RUNNER_KEYS_ENV})")


def broker_scan(
    targets: list[Target],
    policy: Policy,
    options: EngineOptions,
    how: tuple[str, Path | None, float],
    console: Console,
    quiet: bool,
) -> Scan:
    """``hygie scan --broker``: ``how`` is (broker URL, runner keys, site timeout). The
    central's SSH settings do not travel: each runner uses its own."""
    broker, runner_keys, site_timeout = how
    _check_scan(targets, options, runner_keys)
    try:
        from .dispatch import BrokerError, BrokerScan, dispatch_scan
        from .ingest import RunnerKeyError, RunnerKeys
        from .progress import site_progress
    except ImportError:
        raise BadInput(_EXTRA) from None
    try:
        keys = RunnerKeys.load(runner_keys)
    except RunnerKeyError as exc:
        raise BadInput(str(exc)) from None
    settings = BrokerScan(broker, keys, site_timeout)
    try:
        if quiet:
            scan, refused = dispatch_scan(targets, policy, settings)
        else:
            with site_progress(console, Counter(t.site for t in targets)) as on_host:
                scan, refused = dispatch_scan(targets, policy, settings, on_host)
    except BrokerError as exc:
        raise BadInput(str(exc)) from None
    for line in refused:
        console.print(f"refused result: {line}", markup=False, soft_wrap=True)
    return scan


def _site(_ctx, _param, value: str) -> str:
    if not SITE_NAME.fullmatch(value):
        raise click.BadParameter("letters, digits, '-', '_' and '.'")
    return value


@click.command("worker")
@click.option("--site", required=True, callback=_site, help="The site whose hosts to audit.")
@click.option("--broker", envvar=BROKER_ENV, required=True, metavar="URL", help="Redis URL.")
@click.option(
    "--key",
    type=click.Path(dir_okay=False, path_type=Path),
    help=f"The runner's signing key (default ${KEY_ENV}); its .pub goes in the central's "
    "--runner-keys DIR/<site>/.",
)
@passphrase_option
@click.option(
    "--concurrency",
    type=click.IntRange(1, 256),
    default=DEFAULT_CONCURRENCY,
    show_default=True,
    help="Hosts audited at once.",
)
@ssh_client_options
@click.option(
    "--redelivery-after",
    type=click.FloatRange(1),
    default=DEFAULT_REDELIVERY,
    show_default=True,
    help="Seconds after which a task a lost runner held is given to a runner again; "
    "longer than any host's timeout.",
)
@click.option("--loglevel", default="WARNING", show_default=True)
def worker(
    site,
    broker,
    key,
    ask_passphrase,
    concurrency,
    known_hosts,
    trust_on_first_use,
    ssh_config,
    redelivery_after,
    loglevel,
) -> None:
    """Run a site's runner: audit the hosts the central sends to queue site.SITE, sign each
    result with this runner's key, return it. Keys and passwords are read here."""
    if key is not None:
        os.environ[KEY_ENV] = str(key)
    signer = configured_signer(ask_passphrase)
    if signer is None:
        raise BadInput(f"a runner signs its results: give --key or set ${KEY_ENV}")
    try:
        from .app import make_app, queue_name
        from .tasks import Runner, register
    except ImportError:
        raise BadInput(_EXTRA) from None
    ssh = SshOptions(
        known_hosts=known_hosts, trust_on_first_use=trust_on_first_use, ssh_config=ssh_config
    )
    app = make_app(broker, redelivery_after)
    register(app, Runner(site, signer, EngineOptions(workers=concurrency, ssh=ssh)))
    click.echo(f"runner {signer.keyid} for site {site} on {queue_name(site)}", err=True)
    node = app.Worker(
        hostname=f"{site}.{os.getpid()}@{socket.gethostname()}",
        queues=[queue_name(site)],
        pool="threads",
        concurrency=concurrency,
        loglevel=loglevel,
        quiet=True,
        without_gossip=True,
        without_mingle=True,
    )
    node.start()
    sys.exit(node.exitcode or 0)
