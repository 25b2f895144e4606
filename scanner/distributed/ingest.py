"""Central ingest: a runner's result becomes part of the scan only when its envelope
verifies with a key of the allow-list *for the host's site* and it is the result of the
host and scan that were dispatched. Anything else is refused, reported, and leaves the host
``error`` (category ``untrusted``): a refused result never reads as "no finding".

The allow-list is a directory, one sub-directory per site holding that site's runner public
keys (``hygie keys generate`` writes them)::

    runners/imaging/runner1.pub
    runners/clinical/runner2.pub

Ingest is idempotent by (scan id, host): the first result of a host is kept, and every
later one (a redelivered task) is ignored.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from hygie.chain import read_statement
from hygie.evaluate import evaluate_host
from hygie.inventory import Target
from hygie.model import HostScan
from hygie.policy import Policy
from hygie.signing import (
    EnvelopeError,
    PublicKey,
    SigningError,
    check_signatures,
    open_envelope,
    read_public_key,
)

from .wire import HOST_PREDICATE, WireError, read_host


class RunnerKeyError(Exception):
    """An allow-list of runner keys that cannot be used."""


class Refused(Exception):
    """Why a runner's result is not accepted."""


@dataclass(frozen=True)
class RunnerKeys:
    keys: dict[str, PublicKey]  # keyid -> key
    sites: dict[str, str]  # keyid -> the site it may speak for

    @classmethod
    def load(cls, root: Path) -> RunnerKeys:
        """``root/<site>/*.pub``; a key listed under two sites is an error (it could then
        vouch for hosts of either)."""
        keys: dict[str, PublicKey] = {}
        sites: dict[str, str] = {}
        if not root.is_dir():
            raise RunnerKeyError(f"{root}: not a directory of runner keys (<site>/*.pub)")
        for pub in sorted(root.glob("*/*.pub")):
            try:
                key = read_public_key(pub)
            except SigningError as exc:
                raise RunnerKeyError(str(exc)) from None
            site = pub.parent.name
            if sites.get(key.keyid, site) != site:
                raise RunnerKeyError(f"{pub}: key {key.keyid} is also a key of {sites[key.keyid]}")
            keys[key.keyid], sites[key.keyid] = key, site
        if not keys:
            raise RunnerKeyError(f"{root}: no runner key (expected <site>/*.pub)")
        return cls(keys, sites)


def unassessed(target: Target, policy: Policy, error: str) -> HostScan:
    """The host as "could not assess": every check ``error`` with ``error`` as reason."""
    now = time.time()
    host = HostScan(
        name=target.name,
        address=target.display_address,
        transport=target.transport,
        tags=target.tags,
        error=error,
        started=now,
        finished=now,
        site=target.site,
    )
    host.results = evaluate_host(
        host.name,
        {},
        policy,
        host_error=error,
        privileged=False,
        network_only=target.transport == "none",
    )
    return host


@dataclass
class Ingest:
    scan_id: str
    policy: Policy
    keys: RunnerKeys
    hosts: dict[str, HostScan] = field(default_factory=dict)
    refusals: list[str] = field(default_factory=list)  # "<host>: <reason>", for the admin

    def accept(self, target: Target, envelope: bytes) -> HostScan | None:
        """The host ``envelope`` reports, or an ``untrusted`` error host if it is refused;
        None when the host is already in (a duplicate)."""
        if target.name in self.hosts:
            return None
        try:
            host = self._verified(target, envelope)
        except Refused as exc:
            self.refusals.append(f"{target.name}: {exc}")
            host = unassessed(target, self.policy, f"untrusted: {exc}")
        self.hosts[target.name] = host
        return host

    def fail(self, target: Target, error: str) -> HostScan | None:
        """The host as ``error`` (no runner, task failure); None if it is already in."""
        if target.name in self.hosts:
            return None
        self.hosts[target.name] = host = unassessed(target, self.policy, error)
        return host

    def _verified(self, target: Target, data: bytes) -> HostScan:
        try:
            envelope = open_envelope(data)
        except EnvelopeError as exc:
            raise Refused(str(exc)) from None
        check = check_signatures(envelope, self.keys.keys)
        if check.invalid:
            raise Refused(f"the signature by runner key {check.invalid[0]} does not verify")
        if not check.valid:
            who = f"unknown key {', '.join(check.unknown)}" if check.unknown else "nobody"
            raise Refused(f"signed by {who}, not by a runner key of the allow-list")
        keyid = check.valid[0]
        site = self.keys.sites[keyid]
        if site != target.site:
            raise Refused(f"signed by runner key {keyid} of site {site}, not of {target.site}")
        try:
            stmt = read_statement(envelope.payload_type, envelope.payload, HOST_PREDICATE)
            result = read_host(stmt)
        except (EnvelopeError, WireError) as exc:
            raise Refused(str(exc)) from None
        if (result.scan_id, result.host.name, result.site) != (self.scan_id, target.name, site):
            raise Refused(
                f"a result for host {result.host.name} of scan {result.scan_id} (site "
                f"{result.site}), which was not dispatched as this task"
            )
        result.host.site, result.host.runner = site, keyid
        return result.host
