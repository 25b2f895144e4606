"""``hygie drift`` (what changed on the hosts between two scans) and ``hygie trend``
(scores and failures over the stored scans).

Drift exit codes, for cron: **0** no drift, **1** drift found, **3** bad input (no such
scan, unreadable store). Without OLD, drift compares NEW with the latest earlier scan of
the same policy, else with the latest earlier scan; scans that judged NEW's own facts
again (``hygie evaluate``) are skipped, they hold no newer evidence.

``--format json`` (for alerting): ``{"format": "hygie-drift", "old"/"new": {id, started,
date, policy}, "drift": bool, "hosts": [{host, state, drifted, changes: [{kind, change,
item, detail}], not_compared: [kind]}]}`` (hygie.drift.Drift.to_dict).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable

import click

from hygie.cli_store import db_option, open_store
from hygie.drift import Change, Drift, HostDrift, drift
from hygie.jsonfmt import pretty
from hygie.model import Scan
from hygie.reports.cli import BadInput
from hygie.store import Store, StoreError
from hygie.text import printable
from hygie.trend import DEFAULT_LAST, Point, Series, Trend, trend

LOOKBACK = 500  # stored scans searched for the previous one
_SIGNS = {"added": "+", "removed": "-", "changed": "~"}


def previous_scan(store: Store, new: Scan) -> str:
    """The scan NEW is compared with when OLD is not given (module docstring)."""
    evidence = new.facts_from or new.id
    older = [
        s
        for s in store.list_scans(LOOKBACK)
        if s.started < new.started and (s.facts_from or s.id) != evidence
    ]
    same = [s for s in older if s.policy == new.policy_name]
    if not older:
        raise BadInput(f"no scan stored before {new.id} to compare it with")
    return (same or older)[0].id


def load_pair(db, old_ref: str | None, new_ref: str) -> tuple[Scan, Scan]:
    store = open_store(db)
    try:
        new = store.load(new_ref)
        return store.load(old_ref or previous_scan(store, new)), new
    except StoreError as exc:
        raise BadInput(str(exc)) from None
    finally:
        store.close()


def _change_line(c: Change) -> str:
    detail = f"  ({c.detail})" if c.detail else ""
    return f"  {_SIGNS[c.change]} {c.kind:<18} {c.item}{detail}"


def _host_lines(h: HostDrift) -> list[str]:
    if h.state != "assessed":
        return [f"{h.host}: {h.state}"]
    lines = [_change_line(c) for c in h.changes]
    if h.not_compared:
        lines.append(f"  not compared (facts missing in a scan): {', '.join(h.not_compared)}")
    return [h.host, *lines] if lines else []


def drift_text(d: Drift) -> str:
    lines = [
        f"drift since {d.old.id} ({d.old.date}, {d.old.policy}) "
        f"to {d.new.id} ({d.new.date}, {d.new.policy})"
    ]
    for h in d.hosts:
        lines += [printable(line, 1000) for line in _host_lines(h)]
    drifted = sum(h.drifted for h in d.hosts)
    lines.append(f"{drifted} of {len(d.hosts)} hosts drifted" if drifted else "no drift")
    return "\n".join(lines)


@click.command("drift")
@click.argument("old_ref", required=False)
@click.argument("new_ref", default="latest")
@click.option("-f", "--format", "fmt", type=click.Choice(("text", "json")), default="text")
@db_option
def drift_command(old_ref, new_ref, fmt, db) -> None:
    """What changed on the hosts between two stored scans: listening ports, UID 0
    accounts, admin group members, sudoers rules, SSH host keys, authorized_keys
    fingerprints, packages, KEV-listed vulnerabilities, hosts appeared or vanished.

    OLD defaults to the previous scan of NEW's policy (else the previous scan), NEW to
    `latest`. Exit code 0: no drift; 1: drift found; 3: bad input.
    """
    old, new = load_pair(db, old_ref, new_ref)
    found = drift(old, new)
    if fmt == "json":
        click.echo(pretty(found.to_dict()).decode(), nl=False)
    else:
        click.echo(drift_text(found))
    sys.exit(1 if found.found else 0)


def load_last(db, last: int, until: str = "latest") -> list[Scan]:
    """The ``last`` scans of ``until``'s policy up to ``until`` (included), oldest first:
    another policy's scores would make a zigzag of what is only a change of ruler."""
    store = open_store(db)
    try:
        end = store.load(until)
        recent = [
            s
            for s in store.list_scans(LOOKBACK)
            if s.started <= end.started and s.policy == end.policy_name
        ]
        return [store.load(s.id) for s in reversed(recent[:last])]
    except StoreError as exc:
        raise BadInput(str(exc)) from None
    finally:
        store.close()


def make_trend(scans: list[Scan], frameworks) -> Trend:
    try:
        return trend(scans, frameworks=frameworks)
    except ValueError as exc:
        raise BadInput(str(exc)) from None


def _cell(p: Point | None) -> str:
    return "-" if p is None else f"{p.score:5.1f}% {p.gaps:>3}g {p.failures:>4}f"


def _rows(series: Iterable[Series]) -> list[str]:
    return [
        f"{(s.host or 'fleet') + ' ' + s.framework:<34}"
        + "".join(f"  {_cell(p):<18}" for p in s.points)
        for s in series
    ]


def trend_text(t: Trend, hosts: bool) -> str:
    header = [f"scan {i + 1}: {s.id} ({s.date}, {s.policy})" for i, s in enumerate(t.scans)]
    cols = "".join(f"  {'scan ' + str(i + 1):<18}" for i in range(len(t.scans)))
    lines = [*header, "score, controls in gap (g), host-check failures (f)", f"{'':<34}{cols}"]
    lines += _rows(t.fleet)
    if hosts:
        lines += _rows(t.hosts)
    return "\n".join(printable(line, 2000) for line in lines)


@click.command("trend")
@click.option("--last", type=click.IntRange(1, 100), default=DEFAULT_LAST, show_default=True)
@click.option("--framework", "frameworks", multiple=True, help="Only this framework (repeatable).")
@click.option("--hosts", is_flag=True, help="Also one row per host and framework.")
@click.option("-f", "--format", "fmt", type=click.Choice(("text", "json")), default="text")
@db_option
def trend_command(last, frameworks, hosts, fmt, db) -> None:
    """Per framework, score and failures over the last stored scans of the latest scan's
    policy, fleet-wide (and per host with --hosts; always in JSON), each scan named with
    its date."""
    found = make_trend(load_last(db, last), frameworks)
    if fmt == "json":
        click.echo(pretty(found.to_dict()).decode(), nl=False)
    else:
        click.echo(trend_text(found, hosts))


COMMANDS = (drift_command, trend_command)
