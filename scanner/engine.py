"""The engine: audit many hosts concurrently, each on its own deadline.

One host's failure (unreachable, bad credentials, no sudo, a hang) becomes that host's
``error`` and never stops or delays the others beyond its own time limit.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from hygie import __version__
from hygie.collect import Privilege, collect
from hygie.evaluate import evaluate_host, host_family
from hygie.factspec import FactSpec, ProbeContext, all_facts
from hygie.inventory import Target
from hygie.model import Fact, HostScan, Scan
from hygie.policy import Policy
from hygie.registry import all_checks
from hygie.transports.base import Transport, TransportError
from hygie.transports.local import LocalTransport
from hygie.transports.ssh import SshOptions, SshTransport

ALWAYS_COLLECTED = ("os_release", "uname", "hostname", "date_utc")
DEFAULT_WORKERS = 50


@dataclass(frozen=True)
class EngineOptions:
    workers: int = DEFAULT_WORKERS
    ssh: SshOptions = field(default_factory=SshOptions)
    become_password: str | None = field(default=None, repr=False)


def needed_facts(policy: Policy) -> list[FactSpec]:
    """The facts the policy's checks read (derived ones included), plus what identifies
    the host."""
    specs = all_facts()
    registry = all_checks()
    names = set(ALWAYS_COLLECTED)
    for selection in policy.selections.values():
        names.update(registry[selection.check_id].facts)
    unknown = names - set(specs)
    if unknown:
        raise KeyError(f"checks need undeclared facts: {sorted(unknown)}")
    # A derived fact needs its inputs collected. A probe's ``requires`` only orders it after
    # those probes and lets it read their facts when the policy gathers them (TLS endpoints
    # from nmap's services, for instance): selecting one TLS check does not start an nmap
    # scan of the host, which the policy decides by selecting the port checks.
    for name in [n for n in names if specs[n].derived]:
        names.update(specs[name].requires)
    return [specs[n] for n in sorted(names)]


def probe_facts(
    target: Target, specs: list[FactSpec], facts: dict[str, Fact], deadline: float
) -> dict[str, Fact]:
    """Run the network probes of ``specs`` from the scanner, in dependency order, each
    bounded by its own timeout and the host's deadline."""
    gathered = dict(facts)
    for spec in _in_dependency_order([s for s in specs if s.kind == "probe"]):
        ctx = ProbeContext(
            name=target.name,
            address=target.address or target.name,
            tags=target.tags,
            settings=target.network,
            facts=dict(gathered),
            deadline=min(deadline, time.monotonic() + spec.timeout),
        )
        try:
            gathered[spec.name] = Fact(spec.name, spec.probe(ctx))
        except Exception as exc:
            message = f"{type(exc).__name__}: {exc}".encode()
            gathered[spec.name] = Fact(spec.name, b"", message, exit_status=1)
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
    """The derived facts of ``specs``, computed from the collected ``facts``."""
    derived = {}
    for spec in specs:
        if not spec.derived or not all(r in facts for r in spec.requires):
            continue
        try:
            derived[spec.name] = Fact(spec.name, spec.derive(facts))
        except Exception as exc:
            message = f"{type(exc).__name__}: {exc}".encode()
            derived[spec.name] = Fact(spec.name, b"", message, exit_status=1)
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


def _transport(target: Target, options: EngineOptions) -> Transport:
    if target.transport == "local":
        return LocalTransport()
    password = _secret(target.password_env, options.ssh.password, "password")
    return SshTransport(target, options.ssh, password)


def audit_host(
    target: Target, specs: list[FactSpec], policy: Policy, options: EngineOptions
) -> HostScan:
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
        privilege = Privilege(
            target.become,
            _secret(target.become_password_env, options.become_password, "sudo password"),
        )
        shell_specs = [s for s in specs if s.kind == "shell"]
        if target.transport != "none":
            transport = _transport(target, options)
            transport.connect()
            remaining = max(1.0, deadline - time.monotonic())
            collected = collect(transport, shell_specs, privilege, remaining)
            host.facts, host.uid = collected.facts, collected.uid
        host.facts |= probe_facts(target, specs, host.facts, deadline)
        host.facts |= derive_facts(host.facts, specs)
    except TransportError as exc:
        host.error = str(exc)
    except Exception as exc:  # never let one host take the scan down
        host.error = f"internal: {type(exc).__name__}: {exc}"
    finally:
        if transport is not None:
            host.connections, host.execs = transport.connections, transport.execs
            transport.close()
    host.family = host_family(host.facts)
    host.results = evaluate_host(
        host.name, host.facts, policy, host_error=host.error, privileged=host.uid == 0,
        network_only=target.transport == "none",
    )  # fmt: skip
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
    scan = _new_scan(policy)
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


def _new_scan(policy: Policy, facts_from: str | None = None) -> Scan:
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
    new = _new_scan(policy, facts_from=scan.facts_from or scan.id)
    specs = needed_facts(policy)
    derived_names = {s.name for s in all_facts().values() if s.derived}
    for old in scan.hosts:
        collected = {k: v for k, v in old.facts.items() if k not in derived_names}
        facts = collected if old.error else collected | derive_facts(collected, specs)
        results = evaluate_host(
            old.name, facts, policy, host_error=old.error, privileged=old.uid == 0,
            network_only=old.transport == "none",
        )  # fmt: skip
        new.hosts.append(replace(old, facts=facts, results=results))
    new.finished = time.time()
    return new
