"""The ``hygie`` command.

Exit codes (scan and evaluate): 0 every assessed check passed; 1 at least one check failed;
2 something could not be assessed (host or check error); 3 bad input (policy, inventory,
arguments) before anything was scanned. Exit codes of verify: 0 intact, 4 tampered or broken,
3 bad input (hygie.cli_evidence).
"""

from __future__ import annotations

import getpass
import json
import os
import sys
from dataclasses import replace
from pathlib import Path

import click

from hygie import __version__
from hygie.cli_drift import COMMANDS as DRIFT_COMMANDS
from hygie.cli_evidence import COMMANDS as EVIDENCE_COMMANDS
from hygie.cli_evidence import configured_signer, passphrase_option
from hygie.cli_remediate import remediate
from hygie.cli_ssh import ssh_client_options
from hygie.cli_store import db_option, open_store
from hygie.cli_store import store as store_command
from hygie.console import make_console, progress, summary
from hygie.diff import diff_scans
from hygie.discover import DiscoveryError, discover, inventory_yaml
from hygie.discover import targets as discovered_targets
from hygie.distributed.cli_worker import broker_options, broker_scan, worker
from hygie.engine import DEFAULT_WORKERS, EngineOptions, rejudge, run_scan
from hygie.feeds.cli import feeds
from hygie.inventory import Inventory, Target, load_inventory, parse_target
from hygie.output import exit_code, write_json
from hygie.plan import plan_summary, plan_text
from hygie.policy import DEFAULT_POLICY, Policy, builtin_policies, load_policy
from hygie.registry import all_checks
from hygie.reports.cli import FORMATS, frameworks, report, write_scan_report
from hygie.store import Store, StoreError
from hygie.transports.ssh import SshOptions
from hygie.yamlfile import DataFileError

EXIT_BAD_INPUT = 3
NETWORK_POLICY = "network"  # policies/network.yaml

policy_option = click.option(
    "-p",
    "--policy",
    default=DEFAULT_POLICY,
    show_default=True,
    help="Built-in policy name or path to a policy YAML file.",
)
output_option = click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the results as JSON to this file.",
)


class BadInput(click.ClickException):
    exit_code = EXIT_BAD_INPUT


def _store(db: Path | None) -> Store:
    return open_store(db)


def _use_db(db: Path | None) -> None:
    """Make ``--db`` the store that derived facts read too (the advisory feeds live there)."""
    if db is not None:
        os.environ["HYGIE_DB"] = str(db)


def _policy(ref: str) -> Policy:
    try:
        return load_policy(ref)
    except DataFileError as exc:
        raise BadInput(str(exc)) from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="hygie")
def cli() -> None:
    """hygie: compliance scanner and posture auditor for digital-health infrastructure."""


@cli.command()
@click.argument("targets", nargs=-1)
@click.option(
    "-i",
    "--inventory",
    type=click.Path(exists=True, path_type=Path),
    help="Inventory: hygie's YAML, or Ansible's (INI, YAML or a directory).",
)
@policy_option
@click.option("-l", "--limit", multiple=True, help="Only these hosts or groups (repeatable).")
@click.option("-t", "--tag", "tags", multiple=True, help="Only hosts with this tag (repeatable).")
@click.option("-u", "--user", help="SSH user for command-line targets.")
@click.option("-k", "--key", "keys", multiple=True, help="Private key file (repeatable).")
@click.option("--become", is_flag=True, help="Run the collection under sudo on every host.")
@click.option("--ask-pass", is_flag=True, help="Prompt once for the SSH password.")
@click.option("--ask-become-pass", is_flag=True, help="Prompt once for the sudo password.")
@ssh_client_options
@click.option(
    "--workers",
    type=click.IntRange(1, 1000),
    default=DEFAULT_WORKERS,
    show_default=True,
    help="Hosts audited at once.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(1),
    help="Per-host deadline in seconds: connection, collection and probes.",
)
@click.option(
    "--connect-timeout",
    type=click.FloatRange(0.5),
    help="Seconds for each connection step (TCP, SSH banner, authentication).",
)
@click.option(
    "--network",
    "networks",
    multiple=True,
    metavar="CIDR",
    help="Also audit, from the network only, the live hosts of this range (repeatable); "
    "the default policy is then `network`.",
)
@db_option
@click.option("--no-store", is_flag=True, help="Do not record the scan in the store.")
@output_option
@click.option("-q", "--quiet", is_flag=True, help="No progress, no summary.")
@click.option(
    "--report",
    "report_format",
    type=click.Choice(FORMATS),
    help="Also render a gap report in this format (see `hygie report`).",
)
@click.option(
    "--report-output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the --report (default: standard output).",
)
@passphrase_option
@broker_options
def scan(
    targets,
    inventory,
    policy,
    limit,
    tags,
    user,
    keys,
    become,
    ask_pass,
    ask_become_pass,
    known_hosts,
    trust_on_first_use,
    ssh_config,
    workers,
    timeout,
    connect_timeout,
    networks,
    db,
    no_store,
    output,
    quiet,
    report_format,
    report_output,
    ask_passphrase,
    broker,
    runner_keys,
    site_timeout,
) -> None:
    """Audit hosts. TARGETS are `local`, `host`, `user@host` or `user@host:port`.

    With neither TARGETS nor --inventory nor --network, audits the local machine with the
    default policy.
    """
    source = click.get_current_context().get_parameter_source("policy")
    if networks and source == click.core.ParameterSource.DEFAULT:
        policy = NETWORK_POLICY
    _use_db(db)
    pol = _policy(policy)
    signer = None if no_store else configured_signer(ask_passphrase)
    chosen = []
    if targets or inventory or not networks:
        chosen = _targets(
            targets, inventory, limit, tags, user, keys, become, timeout, connect_timeout
        )
    chosen += _network_targets(networks, chosen, timeout)
    ssh = SshOptions(
        known_hosts=known_hosts,
        trust_on_first_use=trust_on_first_use,
        ssh_config=ssh_config,
        password=getpass.getpass("SSH password: ") if ask_pass else None,
    )
    options = EngineOptions(
        workers=workers,
        ssh=ssh,
        become_password=getpass.getpass("sudo password: ") if ask_become_pass else None,
    )
    console = make_console()
    if not quiet:
        console.print(f"policy {pol.name} {pol.version}: {plan_summary(pol)}", markup=False)
    if broker:
        how = (broker, runner_keys, site_timeout)
        result = broker_scan(chosen, pol, options, how, console, quiet)
    elif quiet:
        result = run_scan(chosen, pol, options)
    else:
        with progress(console, len(chosen)) as on_host:
            result = run_scan(chosen, pol, options, on_host)
    _finish(result, db, no_store, output, quiet, console, (report_format, report_output), signer)


def _targets(
    targets, inventory, limit, tags, user, keys, become, timeout, connect_timeout
) -> list[Target]:
    if inventory and targets:
        raise BadInput("give either an inventory or targets on the command line, not both")
    try:
        if inventory:
            inv = load_inventory(inventory)
        else:
            specs = dict.fromkeys(targets or ("local",))
            inv = Inventory([parse_target(s, user=user, keys=tuple(keys)) for s in specs])
    except DataFileError as exc:
        raise BadInput(str(exc)) from None
    chosen = inv.select(set(limit) or None, set(tags) or None)
    if not chosen:
        raise BadInput("no host matches the inventory, --limit and --tag given")
    overrides: dict = {}
    if become:
        overrides["become"] = "sudo"
    if timeout:
        overrides["timeout"] = timeout
    if connect_timeout:
        overrides["connect_timeout"] = connect_timeout
    return [replace(t, **overrides) for t in chosen]


def _network_targets(networks, known: list[Target], timeout) -> list[Target]:
    """Live hosts of the ranges that are not already targets (same address)."""
    seen = {t.address or t.name for t in known}
    found = []
    for cidr in networks:
        try:
            sweep = discover(cidr)
        except (DiscoveryError, FileNotFoundError) as exc:
            raise BadInput(str(exc)) from None
        for target in discovered_targets(sweep):
            if target.address not in seen:
                seen.add(target.address)
                found.append(replace(target, timeout=timeout) if timeout else target)
    if networks and not found and not known:
        raise BadInput(f"no live host found in {', '.join(networks)}")
    return found


def _finish(result, db, no_store, output, quiet, console, report=(None, None), signer=None) -> None:
    stored_in = None
    if not no_store:
        store = _store(db)
        store.save(result, signer)
        store.close()
        stored_in = store.path
    write_scan_report(result, *report)
    if output:
        write_json(result, output)
    if not quiet:
        summary(console, result)
        if stored_in:
            console.print(f"stored as {result.id} in {stored_in}", markup=False)
    sys.exit(exit_code(result))


@cli.command("discover")
@click.argument("networks", nargs=-1, required=True, metavar="CIDR...")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the inventory to this file instead of standard output.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(1),
    default=120.0,
    show_default=True,
    help="Time limit of each sweep, in seconds.",
)
def discover_command(networks, output, timeout) -> None:
    """Find the live hosts of CIDR ranges (nmap ping sweep) and print an inventory of
    network-only targets (`transport: none`) for `hygie scan -i`."""
    try:
        found = [discover(cidr, timeout) for cidr in networks]
    except (DiscoveryError, FileNotFoundError) as exc:
        raise BadInput(str(exc)) from None
    text = inventory_yaml(found)
    if output:
        output.write_text(text)
        click.echo(f"{sum(len(d.addresses) for d in found)} live host(s) written to {output}")
    else:
        click.echo(text, nl=False)


@cli.command()
@click.argument("scan_ref", default="latest")
@policy_option
@db_option
@click.option("--no-store", is_flag=True, help="Do not record the evaluation in the store.")
@output_option
@click.option("-q", "--quiet", is_flag=True)
@passphrase_option
def evaluate(scan_ref, policy, db, no_store, output, quiet, ask_passphrase) -> None:
    """Re-judge a stored scan's facts with a policy, offline (no host is contacted)."""
    _use_db(db)
    pol = _policy(policy)
    signer = None if no_store else configured_signer(ask_passphrase)
    store = _store(db)
    try:
        stored = store.load(scan_ref)
    except StoreError as exc:
        raise BadInput(str(exc)) from None
    finally:
        store.close()
    _finish(rejudge(stored, pol), db, no_store, output, quiet, make_console(), signer=signer)


@cli.command()
@db_option
@click.option("-n", "--limit", default=20, show_default=True)
def scans(db, limit) -> None:
    """List stored scans, newest first."""
    store = _store(db)
    for s in store.list_scans(limit):
        c = s.counts
        origin = f" (re-judged {s.facts_from})" if s.facts_from else ""
        click.echo(
            f"{s.id}  {s.policy:<24} {s.hosts:>4} hosts  pass {c.get('pass', 0):>5}  "
            f"fail {c.get('fail', 0):>5}  error {c.get('error', 0):>5}{origin}"
        )
    store.close()


@cli.command()
@click.argument("old_ref")
@click.argument("new_ref", default="latest")
@db_option
def diff(old_ref, new_ref, db) -> None:
    """What changed between two stored scans (new failures, fixed, still failing).

    Exit code 1 when something regressed (a new failure or a newly unassessed check).
    """
    store = _store(db)
    try:
        changes = diff_scans(store.load(old_ref), store.load(new_ref))
    except StoreError as exc:
        raise BadInput(str(exc)) from None
    finally:
        store.close()
    click.echo(f"{changes.old_id} -> {changes.new_id}")
    sections = [
        ("new failures", changes.new_failures),
        ("fixed", changes.fixed),
        ("still failing", changes.still_failing),
        ("newly unassessed", changes.newly_unassessed),
    ]
    for title, results in sections:
        click.echo(f"{title}: {len(results)}")
        for r in results:
            click.echo(f"  {r.severity.value:>8} {r.host} {r.check_id}: {_oneline(r.message)}")
    for title, hosts in (
        ("hosts added", changes.hosts_added),
        ("hosts removed", changes.hosts_removed),
    ):
        if hosts:
            click.echo(f"{title}: {', '.join(hosts)}")
    sys.exit(1 if changes.regressed else 0)


def _oneline(text: str, limit: int = 100) -> str:
    clean = "".join(c if c.isprintable() else "?" for c in text.replace("\n", " "))
    return clean if len(clean) <= limit else clean[: limit - 3] + "..."


@cli.command()
@click.argument("check_id", required=False)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def checks(check_id, as_json) -> None:
    """List the registered checks, or show one with its metadata."""
    registry = all_checks()
    if check_id:
        if check_id not in registry:
            raise BadInput(f"unknown check {check_id!r}")
        meta = registry[check_id].to_dict()
        if as_json:
            click.echo(json.dumps(meta, indent=2))
            return
        for key in ("id", "title", "severity", "families", "facts"):
            click.echo(f"{key}: {meta[key]}")
        click.echo(f"rationale: {meta['rationale']}\nremediation: {meta['remediation']}")
        for fw, ids in meta["references"].items():
            click.echo(f"  {fw}: {', '.join(ids)}")
        for name, p in meta["params"].items():
            click.echo(f"  param {name} = {p['default']!r}: {p['description']}")
        return
    if as_json:
        click.echo(json.dumps([m.to_dict() for m in registry.values()], indent=2))
        return
    for meta in registry.values():
        click.echo(f"{meta.id:<40} {meta.severity.value:<8} {meta.title}")


@cli.group()
def policies() -> None:
    """List, show and validate policy packs."""


@policies.command("list")
def policies_list() -> None:
    for name in builtin_policies():
        pol = _policy(name)
        click.echo(
            f"{name:<24} {pol.version:<8} {len(pol.selections):>3} checks  "
            f"{pol.description.splitlines()[0] if pol.description else ''}"
        )


@policies.command("show")
@click.argument("ref")
@click.option(
    "--facts",
    "show_facts",
    is_flag=True,
    help="Instead, list the facts and probes the policy gathers, and why.",
)
def policies_show(ref, show_facts) -> None:
    """Print the fully resolved policy (after `extends`) as YAML."""
    import yaml

    pol = _policy(ref)
    if show_facts:
        click.echo(plan_text(pol))
        return
    click.echo(yaml.safe_dump(pol.document(), sort_keys=False))


@policies.command("validate")
@click.argument("files", nargs=-1, required=True)
def policies_validate(files) -> None:
    """Check policy files; errors name the file and line."""
    bad = 0
    for f in files:
        try:
            pol = load_policy(f)
            click.echo(f"{f}: ok ({pol.name} {pol.version}, {len(pol.selections)} checks)")
            click.echo(f"  gathers: {plan_summary(pol)}")
        except DataFileError as exc:
            bad += 1
            click.echo(str(exc), err=True)
    sys.exit(EXIT_BAD_INPUT if bad else 0)


cli.add_command(report)
cli.add_command(frameworks)
cli.add_command(worker)
for command in (*EVIDENCE_COMMANDS, *DRIFT_COMMANDS):
    cli.add_command(command)


cli.add_command(feeds)
cli.add_command(store_command)
cli.add_command(remediate)


def main() -> None:
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(EXIT_BAD_INPUT if isinstance(exc, click.UsageError) else exc.exit_code)


if __name__ == "__main__":
    main()
