"""SSH as a client sees it: the algorithms each SSH port offers and the login methods.

Complements ``sshd -T`` (what the daemon is configured to do) with what actually answers
on the wire, including SSH services the host audit cannot see (appliances, devices,
other daemons than OpenSSH). Two short connections per port, no secret ever sent:

1. read the server's identification line and its unencrypted ``SSH_MSG_KEXINIT``
   packet (RFC 4253 §7.1), then hang up; the raw KEXINIT bytes are the evidence;
2. complete a key exchange with paramiko and ask for ``none`` authentication
   (RFC 4252 §5.2): the server's refusal lists the methods it accepts. The host key is
   not verified: nothing is authenticated or sent that a man in the middle could use.

No verdict is drawn from the version banner: distributions backport fixes without
changing it. Every socket read is bounded by the per-port deadline (``network:
{ssh_timeout: s}``, default 10 s) and the host's remaining time.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import paramiko

from hygie import __version__
from hygie.facts.network import SettingsError, parse_nmap_services, port_list, target_address
from hygie.factspec import ProbeContext, probe_fact

MSG_KEXINIT = 20
MAX_PACKET = 35000  # RFC 4253 §6.1: implementations must accept 35000-byte packets
MAX_PREAMBLE = 8192  # lines a server may send before its identification (RFC 4253 §4.2)
DEFAULT_PORT_TIMEOUT = 10.0
PROBE_USER = "hygie-audit"
STRICT_KEX_SERVER = "kex-strict-s-v00@openssh.com"
KEXINIT_FIELDS = (
    "kex_algorithms",
    "server_host_key_algorithms",
    "encryption_algorithms_client_to_server",
    "encryption_algorithms_server_to_client",
    "mac_algorithms_client_to_server",
    "mac_algorithms_server_to_client",
    "compression_algorithms_client_to_server",
    "compression_algorithms_server_to_client",
    "languages_client_to_server",
    "languages_server_to_client",
)


def ssh_ports(ctx: ProbeContext) -> list[int]:
    scan = parse_nmap_services(ctx.facts["nmap_services"].stdout)
    found = {p.port for p in scan.open_tcp() if p.name == "ssh"}
    extra = port_list(ctx.settings, "ssh_ports") or ()
    return sorted(found | {p for proto, p in extra if proto == "tcp"})


class _Reader:
    """Reads from a socket, never past ``deadline``."""

    def __init__(self, sock: socket.socket, deadline: float):
        self.sock, self.deadline, self.buffer = sock, deadline, b""

    def _fill(self) -> None:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the server did not answer within the port's time limit")
        self.sock.settimeout(left)
        chunk = self.sock.recv(4096)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        self.buffer += chunk

    def line(self) -> bytes:
        while b"\n" not in self.buffer:
            if len(self.buffer) > MAX_PREAMBLE:
                raise ValueError("no SSH identification line in the first 8 KiB")
            self._fill()
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line.rstrip(b"\r")

    def exactly(self, n: int) -> bytes:
        while len(self.buffer) < n:
            self._fill()
        out, self.buffer = self.buffer[:n], self.buffer[n:]
        return out


def read_kexinit(address: str, port: int, deadline: float) -> tuple[str, bytes]:
    """The server's identification line and raw KEXINIT payload."""
    timeout = max(0.1, deadline - time.monotonic())
    with socket.create_connection((address, port), timeout=timeout) as sock:
        reader = _Reader(sock, deadline)
        banner = b""
        for _ in range(64):
            banner = reader.line()
            if banner.startswith(b"SSH-"):
                break
        if not banner.startswith(b"SSH-"):
            raise ValueError("no SSH identification line")
        sock.sendall(f"SSH-2.0-hygie_{__version__}\r\n".encode())
        length = int.from_bytes(reader.exactly(4), "big")
        if not 5 <= length <= MAX_PACKET:
            raise ValueError(f"implausible SSH packet length {length}")
        packet = reader.exactly(length)
        payload = packet[1 : length - packet[0]]
        if not payload or payload[0] != MSG_KEXINIT:
            raise ValueError(f"expected KEXINIT (20), got message {payload[:1].hex() or 'none'}")
        return banner.decode("utf-8", "replace"), payload


def auth_methods(address: str, port: int, deadline: float) -> list[str]:
    """The methods the server offers after ``none`` authentication is refused;
    ``["none"]`` when it is accepted (no authentication at all)."""
    timeout = max(0.1, deadline - time.monotonic())
    sock = socket.create_connection((address, port), timeout=timeout)
    transport = paramiko.Transport(sock)
    # paramiko has its own timers; the watchdog closes the socket at the deadline in case
    # a server drips bytes slowly enough to keep each of them alive.
    watchdog = threading.Timer(timeout, transport.close)
    watchdog.start()
    try:
        transport.banner_timeout = transport.handshake_timeout = timeout
        transport.auth_timeout = timeout
        transport.start_client(timeout=timeout)
        try:
            transport.auth_none(PROBE_USER)
        except paramiko.BadAuthenticationType as exc:
            return list(exc.allowed_types)
        return ["none"]
    finally:
        watchdog.cancel()
        transport.close()
        sock.close()


def probe_port(address: str, port: int, deadline: float) -> dict[str, Any]:
    record: dict[str, Any] = {"port": port}
    try:
        banner, payload = read_kexinit(address, port, deadline)
        record |= {"banner": banner, "kexinit": payload.hex()}
    except (OSError, ValueError) as exc:
        record["error"] = f"{type(exc).__name__}: {exc}"
        return record
    try:
        record["auth_methods"] = auth_methods(address, port, deadline)
    except (OSError, EOFError, paramiko.SSHException) as exc:
        record["auth_error"] = f"{type(exc).__name__}: {exc}"
    return record


def _settings(settings: Mapping[str, Any], tags: tuple[str, ...] = ()) -> float:
    """Validates the probe's keys; returns the per-port time limit."""
    port_list(settings, "ssh_ports")
    limit = settings.get("ssh_timeout", DEFAULT_PORT_TIMEOUT)
    if isinstance(limit, bool) or not isinstance(limit, int | float) or not 0 < limit <= 600:
        raise SettingsError("network.ssh_timeout must be a number of seconds (0-600)")
    return limit


@probe_fact(
    "ssh_wire",
    "SSH ports: identification line, raw server KEXINIT, auth methods offered to 'none'",
    requires=("nmap_services",),
    timeout=300,
    setting_keys=("ssh_ports", "ssh_timeout"),
    settings=_settings,
)
def probe_ssh_wire(ctx: ProbeContext) -> bytes:
    address = target_address(ctx.address)
    limit = _settings(ctx.settings)
    endpoints = [
        probe_port(address, port, min(ctx.deadline, time.monotonic() + limit))
        for port in ssh_ports(ctx)
    ]
    return json.dumps({"address": address, "endpoints": endpoints}, indent=1).encode()


# -- parsing (pure) ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SshEndpoint:
    port: int
    banner: str = ""
    kex: tuple[str, ...] = ()
    host_keys: tuple[str, ...] = ()
    ciphers: tuple[str, ...] = ()
    macs: tuple[str, ...] = ()
    auth_methods: tuple[str, ...] | None = None
    error: str = ""
    auth_error: str = ""

    @property
    def strict_kex(self) -> bool:
        return STRICT_KEX_SERVER in self.kex

    @property
    def label(self) -> str:
        return f"{self.port}/tcp"


def parse_kexinit(payload: bytes) -> dict[str, list[str]]:
    """The ten name-lists of a KEXINIT payload (message code, cookie, lists, RFC 4253)."""
    msg = paramiko.Message(payload)
    if msg.get_byte() != bytes([MSG_KEXINIT]):
        raise ValueError("not a KEXINIT message")
    msg.get_bytes(16)  # cookie
    return {name: msg.get_list() for name in KEXINIT_FIELDS}


def _both(lists: dict[str, list[str]], stem: str) -> tuple[str, ...]:
    """Union of both directions, in the server's order."""
    return tuple(
        dict.fromkeys(lists[f"{stem}_client_to_server"] + lists[f"{stem}_server_to_client"])
    )


def parse_ssh_wire(raw: bytes | str) -> list[SshEndpoint]:
    out = []
    for e in json.loads(raw)["endpoints"]:
        if "error" in e:
            out.append(SshEndpoint(e["port"], error=e["error"]))
            continue
        lists = parse_kexinit(bytes.fromhex(e["kexinit"]))
        methods = e.get("auth_methods")
        out.append(
            SshEndpoint(
                port=e["port"],
                banner=e["banner"],
                kex=tuple(lists["kex_algorithms"]),
                host_keys=tuple(lists["server_host_key_algorithms"]),
                ciphers=_both(lists, "encryption_algorithms"),
                macs=_both(lists, "mac_algorithms"),
                auth_methods=None if methods is None else tuple(methods),
                auth_error=e.get("auth_error", ""),
            )
        )
    return out
