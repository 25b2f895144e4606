"""Inventory: which hosts to audit and how to reach them.

Admins already have an inventory; the YAML form here is deliberately small (defaults,
groups with vars, hosts with vars) and every mistake is reported with file and line.
Ad-hoc targets (``user@host:port``) and ``local`` work without any file.
``~/.ssh/config`` is applied at connect time by the SSH transport, so a bare host alias
works exactly as it does with ``ssh``.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hygie.factspec import network_setting_problems
from hygie.yamlfile import DataFileError, Node, check_keys, load_mapping

HOST_VARS = {
    "address",
    "port",
    "user",
    "key",
    "password_env",
    "become",
    "become_password_env",
    "proxy_jump",
    "tags",
    "transport",
    "connect_timeout",
    "timeout",
    "network",
    "site",
}
TOP_KEYS = {"defaults", "groups", "hosts"}
GROUP_KEYS = {"vars", "hosts"}
BECOME = {"none", "sudo"}
#: ``none``: a network-only target (a modality, an appliance): probed from the network,
#: never logged into.
TRANSPORTS = {"ssh", "local", "none"}
#: a site names a broker queue (``site.<name>``) and a directory of runner keys
SITE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}")


class InventoryError(DataFileError):
    """An inventory that cannot be used, with the file and line to fix."""


@dataclass(frozen=True)
class Target:
    """One host to audit. Secrets are never stored here, only where to find them
    (environment variable names); the transport resolves them at connect time."""

    name: str
    address: str | None = None
    port: int | None = None
    user: str | None = None
    keys: tuple[str, ...] = ()
    password_env: str | None = None
    become: str = "none"
    become_password_env: str | None = None
    proxy_jump: str | None = None
    tags: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    transport: str = "ssh"
    connect_timeout: float = 10.0
    timeout: float = 300.0
    network: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    #: the site (segment) whose runner audits the host when scanning through a broker
    site: str | None = None

    @property
    def display_address(self) -> str:
        if self.transport == "local":
            return "local"
        return self.address or self.name


@dataclass
class Inventory:
    targets: list[Target] = field(default_factory=list)

    def select(self, names: set[str] | None, tags: set[str] | None) -> list[Target]:
        """Hosts whose name or group is in ``names`` and that carry one of ``tags``."""
        chosen = []
        for t in self.targets:
            if names and t.name not in names and not names & set(t.groups):
                continue
            if tags and not tags & set(t.tags):
                continue
            chosen.append(t)
        return chosen


_ADHOC = re.compile(r"^(?:(?P<user>[^@\s]+)@)?(?P<host>\[[^\]]+\]|[^:@\s]+)(?::(?P<port>\d+))?$")


def parse_target(spec: str, user: str | None = None, keys: tuple[str, ...] = ()) -> Target:
    """``local``, ``host``, ``user@host``, ``user@host:port`` or ``user@[v6addr]:port``;
    ``user`` and ``keys`` apply when the spec does not say otherwise."""
    if spec == "local":
        return Target(name=_local_name(), transport="local")
    m = _ADHOC.match(spec)
    if not m:
        raise InventoryError("command line", None, f"cannot parse target {spec!r}")
    host = m.group("host").strip("[]")
    port = int(m.group("port")) if m.group("port") else None
    if port is not None and not 0 < port < 65536:
        raise InventoryError("command line", None, f"{spec!r}: port out of range")
    keys = tuple(_expand(k) for k in keys)
    return Target(name=host, address=host, port=port, user=m.group("user") or user, keys=keys)


@functools.lru_cache(maxsize=256)
def _expand(key_path: str) -> str:
    """``~/.ssh/key`` made absolute; cached: a 50,000-host inventory names a few keys, and
    expanding each host's copy was a third of its load time."""
    return str(Path(key_path).expanduser())


def _local_name() -> str:
    return Path("/proc/sys/kernel/hostname").read_text().strip() or "localhost"


def load_inventory(path: Path) -> Inventory:
    from hygie import inventory_ansible  # it builds on this module

    if inventory_ansible.is_ansible_inventory(path):
        return inventory_ansible.load_ansible_inventory(path)
    source = str(path)
    root = load_mapping(path, InventoryError)
    check_keys(root, TOP_KEYS, source, "inventory", InventoryError)
    doc = root.value
    defaults = _vars(doc["defaults"], source, "defaults") if "defaults" in doc else {}

    found = _Found(source)
    groups = doc.get("groups")
    if groups is not None:
        if not isinstance(groups.value, dict):
            raise InventoryError(source, groups.line, "'groups' must be a mapping")
        for group_name, group in groups.value.items():
            check_keys(group, GROUP_KEYS, source, f"group {group_name}", InventoryError)
            gvars = _vars(group.value["vars"], source, group_name) if "vars" in group.value else {}
            for host_name, host_node in _hosts(group.value.get("hosts"), source):
                found.add(host_name, host_node, [defaults, gvars], group_name)
    for host_name, host_node in _hosts(doc.get("hosts"), source):
        found.add(host_name, host_node, [defaults] if host_name not in found.hosts else [], None)

    targets = [
        _target(name, merged, tuple(found.groups[name])) for name, merged in found.hosts.items()
    ]
    if not targets:
        raise InventoryError(source, root.line, "the inventory names no host")
    return Inventory(targets)


@dataclass
class _Found:
    """The hosts an inventory names, in order of first mention, each with its variables
    merged in layers (defaults, group vars, its own) and the groups it belongs to."""

    source: str
    hosts: dict[str, dict[str, Any]] = field(default_factory=dict)
    groups: dict[str, list[str]] = field(default_factory=dict)

    def add(
        self, name: str, node: Node | None, layers: list[dict[str, Any]], group: str | None
    ) -> None:
        if name not in self.hosts:
            self.hosts[name], self.groups[name] = {}, []
        merged = self.hosts[name]
        for layer in layers:
            merged.update(layer)
        if node is not None and node.value is not None:
            merged.update(_vars(node, self.source, f"host {name}"))
        if group:
            self.groups[name].append(group)


def _hosts(node: Node | None, source: str) -> list[tuple[str, Node | None]]:
    if node is None or node.value is None:
        return []
    if isinstance(node.value, list):
        out = []
        for item in node.value:
            if not isinstance(item.value, str):
                raise InventoryError(source, item.line, "a host list holds host names")
            out.append((item.value, None))
        return out
    if isinstance(node.value, dict):
        return list(node.value.items())
    raise InventoryError(source, node.line, "'hosts' must be a list of names or a mapping")


def _vars(node: Node, source: str, what: str) -> dict[str, Any]:
    check_keys(node, HOST_VARS, source, what, InventoryError)
    values = {}
    for key, child in node.value.items():
        value = child.plain()
        problem = _problem(key, value)
        if problem:
            raise InventoryError(source, child.line, f"{what}: {key}: {problem}")
        if key == "network":
            _check_network(child, value, source, what)
        values[key] = value
    return values


def _check_network(node: Node, value: dict[str, Any], source: str, what: str) -> None:
    """The ``network:`` keys as the probes that read them parse them: a typo
    (``tls_port``) would otherwise silently leave the host "not applicable"."""
    for key, reason in network_setting_problems(value)[:1]:
        entries = node.value if isinstance(node.value, dict) else {}
        line = entries[key].line if key in entries else node.line
        raise InventoryError(source, line, f"{what}: {reason}")


def _problem(key: str, value: Any) -> str | None:
    if key == "port" and not (isinstance(value, int) and 0 < value < 65536):
        return "must be a TCP port number"
    if key in {"connect_timeout", "timeout"} and not (
        isinstance(value, int | float) and not isinstance(value, bool) and value > 0
    ):
        return "must be a positive number of seconds"
    if key == "become" and value not in BECOME:
        return f"must be one of {sorted(BECOME)}"
    if key == "transport" and value not in TRANSPORTS:
        return f"must be one of {sorted(TRANSPORTS)}"
    if key == "network" and not (
        isinstance(value, dict) and all(isinstance(k, str) for k in value)
    ):
        return "must be a mapping of network settings"
    if key in {"key", "tags"}:
        items = value if isinstance(value, list) else [value]
        if not all(isinstance(v, str) for v in items):
            return "must be a string or a list of strings"
        return None
    if key == "site" and not (isinstance(value, str) and SITE_NAME.fullmatch(value)):
        return "must be a site name (letters, digits, '-', '_' and '.')"
    strings = {"address", "user", "password_env", "become_password_env", "proxy_jump"}
    if key in strings and (not isinstance(value, str) or not value):
        return "must be a non-empty string"
    return None


def _target(name: str, values: dict[str, Any], groups: tuple[str, ...]) -> Target:
    def as_tuple(value: Any) -> tuple[str, ...]:
        if value is None:
            return ()
        return tuple(value) if isinstance(value, list) else (value,)

    return Target(
        name=name,
        address=values.get("address"),
        port=values.get("port"),
        user=values.get("user"),
        keys=tuple(_expand(k) for k in as_tuple(values.get("key"))),
        password_env=values.get("password_env"),
        become=values.get("become", "none"),
        become_password_env=values.get("become_password_env"),
        proxy_jump=values.get("proxy_jump"),
        tags=as_tuple(values.get("tags")),
        groups=groups,
        transport=values.get("transport", "ssh"),
        connect_timeout=float(values.get("connect_timeout", Target.connect_timeout)),
        timeout=float(values.get("timeout", Target.timeout)),
        network=dict(values.get("network") or {}),
        site=values.get("site"),
    )
