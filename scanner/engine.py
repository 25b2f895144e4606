"""The engine: audit many hosts concurrently, each on its own deadline.

One host's failure (unreachable, bad credentials, no sudo, a hang) becomes that host's
``error`` and never stops or delays the others beyond its own time limit.
"""

from __future__ import annotations

import functools
import os
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import paramiko

from hygie import __version__
from hygie.collect import Privilege, collect
from hygie.drift import COLLECTIONS
from hygie.evaluate import evaluate_host, host_family
from hygie.factspec import FactSpec, ProbeContext, all_facts, closure
from hygie.inventory import Target
from hygie.model import Fact, FactKind, HostScan, Scan
from hygie.policy import Policy
from hygie.registry import all_checks
from hygie.resolve import RESOLUTION_FACT, Resolution, ResolveError, load_ssh_config, resolve
from hygie.text import printable
from hygie.transports.base import Transport, TransportError
from hygie.transports.local import LocalTransport
from hygie.transports.ssh import SshOptions, SshTransport

ALWAYS_COLLECTED = ("os_release", "uname", "hostname", "date_utc")
PROBE, DERIVED = FactKind.PROBE, FactKind.DERIVED
DEFAULT_WORKERS = 50


@dataclass(frozen=True)
class EngineOptions:
    workers: int = DEFAULT_WORKERS
    ssh: SshOptions = field(default_factory=SshOptions)
    become_password: str | None = field(default=None, repr=False)


def needed_facts(policy: Policy) -> list[FactSpec]:
    """The facts the policy's checks read, everything those facts require (a probe's
    inputs, a derived fact's sources), and what identifies the host: any subset of checks
    gathers what it needs, so it gives the verdicts the full policy would."""
    specs = all_facts()
    registry = all_checks()
    names = set(ALWAYS_COLLECTED)
    for selection in policy.selections.values():
        names.update(registry[selection.check_id].facts)
    names.update(name for need in policy.collect for name in COLLECTIONS[need])
    names = closure(names, specs)
    unknown = names - set(specs)
    if unknown:
        raise KeyError(f"checks need undeclared facts: {sorted(unknown)}")
    return [specs[n] for n in sorted(names)]


def _inputs(spec: FactSpec, gathered: Mapping[str, Fact]) -> dict[str, Fact]:
    """Exactly the facts ``spec`` declares: reading anything else fails in every test."""
    return {name: gathered[name] for name in spec.requires if name in gathered}


def _blocked(spec: FactSpec, gathered: Mapping[str, Fact]) -> str | None:
    """Why a probe cannot run: an input it requires is missing or failed. Running it on
    nothing would read as "no such service"."""
    for name in spec.requires:
        fact = gathered.get(name)
        if fact is None:
            return f"needs {name}, which was not gathered"
        if not fact.ok or fact.truncated:
            detail = fact.stderr_text.strip().splitlines()[-1:] or ["truncated"]
            return f"needs {name}, which failed: {printable(detail[0], 200)}"
    return None


def _failed(name: str, reason: str, kind: FactKind) -> Fact:
    return Fact(name, b"", reason.encode(), exit_status=1, kind=kind)


def probe_facts(
    target: Target,
    specs: list[FactSpec],
    facts: dict[str, Fact],
    deadline: float,
    resolution: Resolution,
) -> dict[str, Fact]:
    """Run the network probes of ``specs`` from the scanner, in dependency order, each
    against the resolved address and bounded by its own timeout and the host's deadline."""
    gathered = dict(facts)
    for spec in _in_dependency_order([s for s in specs if s.kind == "probe"]):
        if resolution.address is None:
            gathered[spec.name] = _failed(spec.name, resolution.error or "no address", PROBE)
            continue
        blocked = _blocked(spec, gathered)
        if blocked:
            gathered[spec.name] = _failed(spec.name, blocked, PROBE)
            continue
        ctx = ProbeContext(
            name=target.name,
            address=resolution.address,
            hostname=resolution.hostname,
            tags=target.tags,
            settings=target.network,
            facts=_inputs(spec, gathered),
            deadline=min(deadline, time.monotonic() + spec.timeout),
        )
        try:
            gathered[spec.name] = Fact(spec.name, spec.probe(ctx), kind=PROBE)
        except Exception as exc:
            gathered[spec.name] = _failed(spec.name, f"{type(exc).__name__}: {exc}", PROBE)
    return {k: v for k, v in gathered.items() if k not in facts}


def _in_dependency_order(specs: list[FactSpec]) -> list[FactSpec]:
    by_name = {s.name: s for s in specs}
    ordered: list[FactSpec] = []
    seen: set[str] = set()

    def visit(spec: FactSpec, path: tuple[str, ...]) -> None:
        if spec.name in seen:
            return
        if spec.name in path:
            raise ValueError(f"probe facts require each other: {' -> '.join(path)}")
        for dep in spec.requires:
            if dep in by_name:
                visit(by_name[dep], (*path, spec.name))
        seen.add(spec.name)
        ordered.append(spec)

    for spec in sorted(specs, key=lambda s: s.name):
        visit(spec, ())
    return ordered


def derive_facts(facts: dict[str, Fact], specs: list[FactSpec]) -> dict[str, Fact]:
    """The derived facts of ``specs``, computed from the collected ``facts`` they declare
    (a derived fact reads its sources' exit statuses itself: an rpm query failing on a
    Debian host is an input, not a reason to skip)."""
    derived = {}
    for spec in specs:
        if not spec.derived or not all(r in facts for r in spec.requires):
            continue
        try:
            derived[spec.name] = Fact(spec.name, spec.derive(_inputs(spec, facts)), kind=DERIVED)
        except Exception as exc:
            derived[spec.name] = _failed(spec.name, f"{type(exc).__name__}: {exc}", DERIVED)
    return derived


def new_scan_id() -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{secrets.token_hex(3)}"


def _secret(env_name: str | None, fallback: str | None, what: str) -> str | None:
    if env_name is None:
        return fallback
    value = os.environ.get(env_name)
    if value is None:
        raise TransportError("config", f"{what}: environment variable {env_name} is not set")
    return value


@functools.lru_cache(maxsize=8)
def _ssh_config(path: Path | None, mtime_ns: int) -> paramiko.SSHConfig | None:
    """Parsed once per scan, not once per host (``mtime_ns`` invalidates the cache)."""
    return load_ssh_config(path)


def resolve_target(target: Target, options: EngineOptions) -> Resolution:
    """The one resolution of ``target`` that the transport and every probe use."""
    path = options.ssh.ssh_config
    mtime = path.stat().st_mtime_ns if path is not None and path.is_file() else 0
    try:
        config = _ssh_config(path, mtime) if target.transport != "local" else None
    except ResolveError as exc:
        raise TransportError("config", str(exc)) from None
    return resolve(
        target.name,
        target.address,
        config,
        port=target.port,
        user=target.user,
        keys=target.keys,
        proxy_jump=target.proxy_jump,
    )


def _transport(
    target: Target, resolution: Resolution, options: EngineOptions, deadline: float
) -> Transport:
    if target.transport == "local":
        return LocalTransport()
    if resolution.error and not resolution.via_jump:
        port = resolution.endpoint.port
        raise TransportError("unreachable", f"{target.name} (port {port}): {resolution.error}")
    password = _secret(target.password_env, options.ssh.password, "password")
    return SshTransport(
        target.name,
        resolution.endpoint,
        resolution.address,
        options.ssh,
        connect_timeout=target.connect_timeout,
        deadline=deadline,
        deadline_label=f"timeout {target.timeout:g}s",
        password=password,
    )


def audit_host(
    target: Target, specs: list[FactSpec], policy: Policy, options: EngineOptions
) -> HostScan:
    """Everything about one host, within its deadline. Whatever goes wrong becomes this
    host's ``error`` (with a category from :data:`hygie.transports.base.CATEGORIES`)."""
    host = HostScan(
        name=target.name,
        address=target.display_address,
        transport=target.transport,
        tags=target.tags,
        started=time.time(),
    )
    deadline = time.monotonic() + target.timeout
    transport: Transport | None = None
    try:
        resolution = resolve_target(target, options)
        if target.transport != "local":
            host.facts[RESOLUTION_FACT] = Fact(
                RESOLUTION_FACT, resolution.to_json(), kind=FactKind.RESOLUTION
            )
            host.address = resolution.address or host.address
        privilege = Privilege(
            target.become,
            _secret(target.become_password_env, options.become_password, "sudo password"),
        )
        shell_specs = [s for s in specs if s.kind == "shell"]
        if target.transport != "none":
            transport = _transport(target, resolution, options, deadline)
            transport.connect()
            where = getattr(transport, "where", "local")
            remaining = max(1.0, deadline - time.monotonic())
            collected = collect(
                transport,
                shell_specs,
                privilege,
                remaining,
                where=where,
                deadline_label=f"timeout {target.timeout:g}s",
            )
            host.facts |= collected.facts
            host.uid = collected.uid
        host.facts |= probe_facts(target, specs, host.facts, deadline, resolution)
        host.facts |= derive_facts(host.facts, specs)
    except TransportError as exc:  # one inert line: a NUL would not even store in PostgreSQL
        host.error = printable(str(exc), 2000)
    except Exception as exc:  # never let one host take the scan down
        host.error = f"internal: {type(exc).__name__}: {printable(str(exc))}"
    finally:
        if transport is not None:
            host.connections, host.execs = transport.connections, transport.execs
            transport.close()
    host.family = host_family(host.facts)
    host.results = evaluate_host(
        host.name,
        host.facts,
        policy,
        host_error=host.error,
        privileged=host.uid == 0,
        network_only=target.transport == "none",
    )
    host.finished = time.time()
    return host


def run_scan(
    targets: Iterable[Target],
    policy: Policy,
    options: EngineOptions | None = None,
    on_host: Callable[[HostScan], None] | None = None,
) -> Scan:
    options = options or EngineOptions()
    targets = list(targets)
    specs = needed_facts(policy)
    scan = new_scan(policy)
    done: dict[str, HostScan] = {}
    workers = max(1, min(options.workers, len(targets) or 1))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hygie-host") as pool:
        futures = {pool.submit(audit_host, t, specs, policy, options): t for t in targets}
        for future in as_completed(futures):
            host = future.result()
            done[futures[future].name] = host
            if on_host is not None:
                on_host(host)
    scan.hosts = [done[t.name] for t in targets]
    scan.finished = time.time()
    return scan


def new_scan(policy: Policy, facts_from: str | None = None) -> Scan:
    """An empty scan under ``policy``: hosts are added by whoever audits them (in-process
    here, through a broker in hygie.distributed)."""
    return Scan(
        id=new_scan_id(),
        started=time.time(),
        finished=0.0,
        tool_version=__version__,
        policy_name=policy.name,
        policy_version=policy.version,
        policy_digest=policy.digest,
        policy_document=policy.document(),
        facts_from=facts_from,
    )


def rejudge(scan: Scan, policy: Policy) -> Scan:
    """Judge a stored scan's facts with another policy, offline: no host is contacted.

    Hosts that could not be assessed stay ``error``: re-judging never invents evidence.
    """
    new = new_scan(policy, facts_from=scan.facts_from or scan.id)
    specs = needed_facts(policy)
    for old in scan.hosts:
        collected = {k: v for k, v in old.facts.items() if v.kind.evidence}
        facts = collected if old.error else collected | derive_facts(collected, specs)
        results = evaluate_host(
            old.name,
            facts,
            policy,
            host_error=old.error,
            privileged=old.uid == 0,
            network_only=old.transport == "none",
        )
        new.hosts.append(replace(old, facts=facts, results=results))
    new.finished = time.time()
    return new
