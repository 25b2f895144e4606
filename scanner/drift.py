"""What changed ON the hosts between two stored scans: the quarter's drift.

``hygie diff`` compares verdicts; this compares the evidence itself. Per host: listening
ports (the host's socket table and nmap's view), UID 0 accounts, sudo/wheel/admin members,
sudoers rules, SSH host key fingerprints, authorized_keys fingerprints of privileged
accounts, installed packages, KEV-listed vulnerabilities; and hosts that appeared,
vanished or could not be assessed. Pure: reads two Scans, parses their facts.

The facts drift reads that no check reads are gathered when a policy says
``collect: [drift]`` (the default baseline does): :data:`COLLECTIONS` names them, the
engine adds them to the plan. A kind whose fact is missing or failed on either side is
"not compared", never "no drift".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson

from hygie.facts.accounts import admin_members, parse_passwd, parse_sudoers_rules
from hygie.facts.network import parse_nmap_services
from hygie.facts.packages import parse_dpkg_packages, parse_rpm_packages
from hygie.facts.services import parse_listening_sockets
from hygie.facts.ssh import host_key_fingerprints, parse_authorized_keys
from hygie.factspec import all_facts
from hygie.model import HostScan, Scan

#: ``collect:`` needs a policy may name, and the facts each one gathers
COLLECTIONS: dict[str, tuple[str, ...]] = {
    "drift": (
        "etc_passwd",
        "etc_group",
        "sudoers",
        "listening_sockets",
        "ssh_host_keys",
        "authorized_keys_fingerprints",
    ),
}

Items = Mapping[str, str]  # item -> detail shown beside it (a version, a fingerprint)


@dataclass(frozen=True)
class Kind:
    """One sort of drift: the facts it reads, and how they become comparable items.
    ``values`` True: an item whose detail differs is ``changed`` (a host key)."""

    name: str
    facts: tuple[str, ...]
    items: Callable[[Mapping[str, str]], Items]
    values: bool = False


def _keys(found) -> Items:
    return dict.fromkeys(sorted(found), "")


def _sockets(t: Mapping[str, str]) -> Items:
    return _keys(
        f"{p}/{port} on {a}" for p, a, port in parse_listening_sockets(t["listening_sockets"])
    )


def _nmap(t: Mapping[str, str]) -> Items:
    ports = parse_nmap_services(t["nmap_services"]).open_ports
    return {p.label: p.describe for p in ports}


def _uid0(t: Mapping[str, str]) -> Items:
    return _keys(e.name for e in parse_passwd(t["etc_passwd"]) if e.uid == 0)


def _admins(t: Mapping[str, str]) -> Items:
    members = admin_members(t["etc_passwd"], t["etc_group"])
    return _keys(f"{user} in {group}" for group, user in members)


def _sudoers(t: Mapping[str, str]) -> Items:
    return _keys(parse_sudoers_rules(t["sudoers"]))


def _host_keys(t: Mapping[str, str]) -> Items:
    return host_key_fingerprints(t["ssh_host_keys"])


def _authorized(t: Mapping[str, str]) -> Items:
    keys = parse_authorized_keys(t["authorized_keys_fingerprints"])
    return {f"{k.user} {k.fingerprint}": f"{k.type} {k.comment}".strip() for k in keys}


def _packages(fact: str, parse) -> Callable[[Mapping[str, str]], Items]:
    """Installed packages by ``name:arch`` (two architectures of one name are two)."""

    def items(t: Mapping[str, str]) -> Items:
        installed = [p for p in parse(t[fact]) if p.installed]
        return {f"{p.name}:{p.arch}" if p.arch else p.name: p.version for p in installed}

    return items


def _kev(t: Mapping[str, str]) -> Items:
    doc = orjson.loads(t["vulnerable_packages"])
    found = {}
    for source in doc.get("sources", ()):
        for entry in source.get("kev") or ():
            found[entry["cve"]] = f"{source['source']} {source['version']}"
    return found


KINDS: tuple[Kind, ...] = (
    Kind("listening_socket", ("listening_sockets",), _sockets),
    Kind("nmap_port", ("nmap_services",), _nmap),
    Kind("uid0_account", ("etc_passwd",), _uid0),
    Kind("admin_member", ("etc_passwd", "etc_group"), _admins),
    Kind("sudoers_rule", ("sudoers",), _sudoers),
    Kind("ssh_host_key", ("ssh_host_keys",), _host_keys, values=True),
    Kind("authorized_key", ("authorized_keys_fingerprints",), _authorized),
    Kind("package", ("packages_dpkg",), _packages("packages_dpkg", parse_dpkg_packages)),
    Kind("package", ("packages_rpm",), _packages("packages_rpm", parse_rpm_packages)),
    Kind("kev_vulnerability", ("vulnerable_packages",), _kev),
)


@dataclass(frozen=True)
class Change:
    kind: str
    change: str  # added | removed | changed
    item: str
    detail: str = ""  # the new value (the old one too, for a change: "old -> new")


@dataclass(frozen=True)
class HostDrift:
    """``state``: ``appeared``, ``vanished``, ``unassessable`` (assessed before, not
    now), ``reassessed`` (the reverse: nothing to compare with), ``still unassessable``
    (no drift: nothing changed that can be seen), or ``assessed`` (facts compared)."""

    host: str
    state: str
    changes: tuple[Change, ...] = ()
    not_compared: tuple[str, ...] = ()  # kinds whose facts one scan lacks

    @property
    def drifted(self) -> bool:
        return self.state not in ("assessed", "still unassessable") or bool(self.changes)


@dataclass(frozen=True)
class ScanRef:
    id: str
    started: float
    policy: str

    @property
    def date(self) -> str:
        return datetime.fromtimestamp(self.started, UTC).strftime("%Y-%m-%d %H:%M UTC")

    def to_dict(self) -> dict:
        return {"id": self.id, "started": self.started, "date": self.date, "policy": self.policy}


@dataclass(frozen=True)
class Drift:
    old: ScanRef
    new: ScanRef
    hosts: tuple[HostDrift, ...]

    @property
    def found(self) -> bool:
        return any(h.drifted for h in self.hosts)

    def to_dict(self) -> dict:
        return {
            "format": "hygie-drift",
            "old": self.old.to_dict(),
            "new": self.new.to_dict(),
            "drift": self.found,
            "hosts": [
                {
                    "host": h.host,
                    "state": h.state,
                    "drifted": h.drifted,
                    "changes": [vars(c) for c in h.changes],
                    "not_compared": list(h.not_compared),
                }
                for h in self.hosts
            ],
        }


def _texts(host: HostScan, names: tuple[str, ...]) -> dict[str, str] | None:
    """The facts' text, or None when one of them is missing, failed or truncated, or
    needs root and was collected without (sudoers unread would read as "rules removed")."""
    specs = all_facts()
    if host.uid != 0 and any(n in specs and specs[n].privileged for n in names):
        return None
    facts = [host.facts.get(n) for n in names]
    if any(f is None or not f.ok or f.truncated for f in facts):
        return None
    return {n: f.text for n, f in zip(names, facts, strict=True)}


def _items(kind: Kind, host: HostScan) -> Items | None:
    texts = _texts(host, kind.facts)
    if texts is None:
        return None
    try:
        return kind.items(texts)
    except (ValueError, KeyError, TypeError):  # unparsable evidence: not compared
        return None


def compare(kind: Kind, before: Items, after: Items) -> list[Change]:
    """Items added, removed, and (for a kind that compares values) changed."""
    changes = [Change(kind.name, "added", i, after[i]) for i in after if i not in before]
    changes += [Change(kind.name, "removed", i, before[i]) for i in before if i not in after]
    if kind.values:
        changes += [
            Change(kind.name, "changed", i, f"{before[i]} -> {after[i]}")
            for i in after
            if i in before and before[i] != after[i]
        ]
    return changes


def host_drift(old: HostScan, new: HostScan) -> HostDrift:
    """Drift of one host present in both scans."""
    if new.error or old.error:
        state = {(True, True): "still unassessable", (False, True): "unassessable"}
        return HostDrift(new.name, state.get((bool(old.error), bool(new.error)), "reassessed"))
    changes: list[Change] = []
    not_compared: list[str] = []
    for kind in KINDS:
        before, after = _items(kind, old), _items(kind, new)
        if before is not None and after is not None:
            changes += compare(kind, before, after)
        elif (before, after) != (None, None):
            not_compared.append(kind.name)
    order = {k.name: i for i, k in enumerate(KINDS)}
    changes.sort(key=lambda c: (order[c.kind], c.change, c.item))
    return HostDrift(new.name, "assessed", tuple(changes), tuple(dict.fromkeys(not_compared)))


def ref(scan: Scan) -> ScanRef:
    return ScanRef(scan.id, scan.started, scan.policy_name)


def drift(old: Scan, new: Scan) -> Drift:
    """Per host of either scan, in the new scan's order then the vanished ones."""
    before = {h.name: h for h in old.hosts}
    after = {h.name: h for h in new.hosts}
    hosts = [
        host_drift(before[h.name], h) if h.name in before else HostDrift(h.name, "appeared")
        for h in new.hosts
    ]
    hosts += [HostDrift(name, "vanished") for name in before if name not in after]
    return Drift(ref(old), ref(new), tuple(hosts))
