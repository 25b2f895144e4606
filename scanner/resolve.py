"""Resolve a target once; every stage then talks to the address that was resolved.

Why one resolver: an inventory may name a host only by its ``~/.ssh/config`` alias. If the
SSH transport applied ``HostName`` while nmap and the other probes were handed the bare
alias, the probes would scan nothing and "no service seen" would read as a pass. Here the
inventory address wins, else ``~/.ssh/config``'s ``HostName``, else the name itself, and the
result (with where it came from) is recorded as the host's ``target_resolution`` fact, so
the evidence shows which address every network verdict is about.
"""

from __future__ import annotations

import ipaddress
import json
import socket
from dataclasses import dataclass
from pathlib import Path

import paramiko

from hygie.text import printable

RESOLUTION_FACT = "target_resolution"


class ResolveError(Exception):
    """The target's name could not be turned into an address (or its ssh_config is bad)."""


@dataclass(frozen=True)
class Endpoint:
    """Where the SSH transport connects, after ``~/.ssh/config`` filled what the inventory
    left out (inventory values win, as command-line options do for ``ssh``)."""

    host: str
    port: int
    user: str | None
    keys: tuple[str, ...]
    proxy_jump: str | None
    source: str  # "inventory" | "ssh_config" | "name"

    @property
    def jumps(self) -> bool:
        return bool(self.proxy_jump) and self.proxy_jump.lower() != "none"


@dataclass(frozen=True)
class Resolution:
    """The address a target resolved to. ``hostname`` is the name that was looked up when
    it was not already an IP literal (TLS SNI and URL checks want the name)."""

    name: str
    endpoint: Endpoint
    addresses: tuple[str, ...] = ()
    error: str | None = None
    via_jump: bool = False

    @property
    def address(self) -> str | None:
        return self.addresses[0] if self.addresses else None

    @property
    def hostname(self) -> str | None:
        return None if is_ip(self.endpoint.host) else self.endpoint.host

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "name": self.name,
                "looked_up": self.endpoint.host,
                "source": self.endpoint.source,
                "port": self.endpoint.port,
                "addresses": list(self.addresses),
                "address": self.address,
                "via_jump": self.via_jump,
                "error": self.error,
            },
            sort_keys=True,
        ).encode()


def is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def load_ssh_config(path: Path | None) -> paramiko.SSHConfig | None:
    if path is None or not path.is_file():
        return None
    try:
        return paramiko.SSHConfig.from_path(str(path))
    except (OSError, ValueError) as exc:
        raise ResolveError(f"{path}: {printable(str(exc))}") from None


def ssh_endpoint(
    alias: str,
    config: paramiko.SSHConfig | None,
    *,
    port: int | None = None,
    user: str | None = None,
    keys: tuple[str, ...] = (),
    proxy_jump: str | None = None,
    from_inventory: bool = False,
) -> Endpoint:
    """``alias`` completed by ``~/.ssh/config`` (HostName, Port, User, IdentityFile,
    ProxyJump), as ``ssh alias`` would: an inventory address that names a ``Host`` of the
    config is mapped too."""
    found = config.lookup(alias) if config else {}
    config_keys = tuple(str(Path(k).expanduser()) for k in found.get("identityfile", []))
    if "hostname" in found and found["hostname"] != alias:
        source = "ssh_config"
    else:
        source = "inventory" if from_inventory else "name"
    return Endpoint(
        host=found.get("hostname", alias),
        port=port or int(found.get("port", 22)),
        user=user or found.get("user"),
        keys=keys or config_keys,
        proxy_jump=proxy_jump or found.get("proxyjump"),
        source=source,
    )


def lookup(host: str) -> tuple[str, ...]:
    """The addresses of ``host`` in resolver order (an IP literal is returned as is)."""
    if is_ip(host):
        return (str(ipaddress.ip_address(host)),)
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        reason = exc.strerror if isinstance(exc, socket.gaierror) else str(exc)
        raise ResolveError(f"cannot resolve host name {printable(host)!r}: {reason}") from None
    return tuple(dict.fromkeys(str(info[4][0]) for info in infos))


def resolve(
    name: str,
    address: str | None,
    config: paramiko.SSHConfig | None,
    *,
    port: int | None = None,
    user: str | None = None,
    keys: tuple[str, ...] = (),
    proxy_jump: str | None = None,
) -> Resolution:
    """Resolve a target; a failed lookup is recorded (``error``), not raised, so that the
    host becomes ``error`` with that reason while the rest of the scan goes on."""
    endpoint = ssh_endpoint(
        address or name,
        config,
        port=port,
        user=user,
        keys=keys,
        proxy_jump=proxy_jump,
        from_inventory=address is not None,
    )
    try:
        addresses = lookup(endpoint.host)
    except ResolveError as exc:
        return Resolution(name, endpoint, error=str(exc), via_jump=endpoint.jumps)
    return Resolution(name, endpoint, addresses, via_jump=endpoint.jumps)
