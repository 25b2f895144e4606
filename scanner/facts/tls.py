"""TLS endpoints, audited from the scanner with sslyze; sslyze's own JSON is the evidence.

Endpoints are the ports nmap saw speaking TLS (or a protocol that upgrades with STARTTLS),
plus the ports the inventory names (``network: {tls_ports: [...]}``), so the audit also
works without nmap. sslyze runs in a child process (:mod:`hygie.facts.tls_worker`): its
scans are thread pools that cannot be cancelled, and only a process can always be killed at
the host's deadline, so a tarpitting port never holds the scan longer than its time limit.
The child prints one JSON line per endpoint as soon as that endpoint is done; what finished
before a kill is kept.

Certificates are judged against the scan time recorded in the fact (never the clock at
evaluation), and against the trust store recorded in the fact (a custom CA bundle given in
``network: {ca_bundle: path}`` when the site runs its own PKI, else sslyze's Mozilla store):
trust must be decided when probing, so the bundle is a network setting, not a policy one.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hygie.facts.network import parse_nmap_services
from hygie.factspec import ProbeContext, probe_fact
from hygie.resolve import is_ip

FACT = "tls_scan"
NMAP_FACT = "nmap_services"
FORMAT = 1
#: The child that runs sslyze (``python -m``); named, not imported: it imports this module.
WORKER = "hygie.facts.tls_worker"

#: sslyze's per-protocol scan commands, oldest first, with the names reports use.
PROTOCOLS = {
    "ssl_2_0_cipher_suites": "SSLv2",
    "ssl_3_0_cipher_suites": "SSLv3",
    "tls_1_0_cipher_suites": "TLSv1.0",
    "tls_1_1_cipher_suites": "TLSv1.1",
    "tls_1_2_cipher_suites": "TLSv1.2",
    "tls_1_3_cipher_suites": "TLSv1.3",
}
#: STARTTLS dialects sslyze speaks (its ProtocolWithOpportunisticTlsEnum), by our key.
STARTTLS = {
    "smtp": "SMTP",
    "imap": "IMAP",
    "pop3": "POP3",
    "ftp": "FTP",
    "ldap": "LDAP",
    "xmpp": "XMPP",
    "xmpp_server": "XMPP_SERVER",
    "postgres": "POSTGRES",
    "rdp": "RDP",
}
#: nmap service names of protocols that upgrade to TLS in-band.
NMAP_STARTTLS = {
    "smtp": "smtp",
    "submission": "smtp",
    "imap": "imap",
    "pop3": "pop3",
    "ftp": "ftp",
    "ldap": "ldap",
    "xmpp-client": "xmpp",
    "jabber": "xmpp",
    "xmpp-server": "xmpp_server",
    "postgresql": "postgres",
    "ms-wbt-server": "rdp",
}
#: nmap service names that are TLS from the first byte (nmap also marks any service it
#: found wrapped in TLS with ``tunnel="ssl"`` when version detection ran).
NMAP_TLS = {
    "https",
    "https-alt",
    "ssl",
    "imaps",
    "pop3s",
    "smtps",
    "submissions",
    "ldaps",
    "ftps",
    "ftps-data",
    "xmpps",
    "ircs",
    "nntps",
    "dicom-tls",
    "sip-tls",
    "ms-sql-s",
}
#: Probes that send malformed or exploit-shaped records: skipped on hosts tagged
#: ``fragile`` (medical devices), whose TLS stacks are the least tested.
INTRUSIVE = ("heartbleed", "robot", "openssl_ccs_injection")
SCAN_COMMANDS = (
    *PROTOCOLS,
    "certificate_info",
    "elliptic_curves",
    "http_headers",
    "tls_compression",
    "session_renegotiation",
    *INTRUSIVE,
)
DEFAULT_NETWORK_TIMEOUT = 5
#: Handshakes in flight per endpoint. Single-threaded TLS servers (embedded devices,
#: ``openssl s_server``) answer one connection at a time: more would time out in their
#: backlog, so such hosts get ``network: {tls_connections: 1}`` (``fragile`` hosts too).
DEFAULT_CONNECTIONS = 5
#: A full audit of a healthy endpoint takes a few seconds; a minute covers slow devices.
DEFAULT_ENDPOINT_TIMEOUT = 60


class TlsSettingsError(ValueError):
    """A ``network:`` value of the TLS audit that cannot be used, named for the user."""


@dataclass(frozen=True)
class EndpointSpec:
    """One port to audit: where it was found and how TLS starts on it."""

    port: int
    service: str
    source: str  # "nmap" | "inventory"
    starttls: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "port": self.port,
            "service": self.service,
            "source": self.source,
            "starttls": self.starttls,
        }


@dataclass(frozen=True)
class TlsSettings:
    """The host's ``network:`` keys this audit reads, validated."""

    ports: tuple[EndpointSpec, ...]
    server_name: str
    server_name_source: str  # "tls_hostname" | "address" | "ip" (no name known)
    ca_bundle: Path | None
    network_timeout: int
    endpoint_timeout: int
    connections: int

    @classmethod
    def from_mapping(cls, settings: Mapping[str, Any], address: str) -> TlsSettings:
        ports = tuple(_inventory_port(v) for v in _list(settings, "tls_ports"))
        name = settings.get("tls_hostname")
        if name is not None and (not isinstance(name, str) or not name.strip()):
            raise TlsSettingsError(f"network.tls_hostname must be a host name, not {name!r}")
        if name:
            server_name, source = name.strip(), "tls_hostname"
        else:
            server_name, source = address, "ip" if is_ip(address) else "address"
        bundle = settings.get("ca_bundle")
        if bundle is not None:
            if not isinstance(bundle, str) or not Path(bundle).is_file():
                raise TlsSettingsError(f"network.ca_bundle: no such file: {bundle!r}")
            bundle = Path(bundle).resolve()
        timeout = _seconds(settings, "tls_timeout", DEFAULT_NETWORK_TIMEOUT, 60)
        budget = _seconds(settings, "tls_endpoint_timeout", DEFAULT_ENDPOINT_TIMEOUT, 900)
        connections = settings.get("tls_connections", DEFAULT_CONNECTIONS)
        if isinstance(connections, bool) or connections not in range(1, 21):
            raise TlsSettingsError(f"network.tls_connections must be 1..20, not {connections!r}")
        return cls(ports, server_name, source, bundle, timeout, budget, connections)


def _seconds(settings: Mapping[str, Any], key: str, default: int, maximum: int) -> int:
    value = settings.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
        raise TlsSettingsError(f"network.{key} must be 1..{maximum} seconds, not {value!r}")
    return value


def _list(settings: Mapping[str, Any], key: str) -> list[Any]:
    value = settings.get(key, [])
    if not isinstance(value, list):
        raise TlsSettingsError(f"network.{key} must be a list, not {value!r}")
    return value


def _port(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise TlsSettingsError(f"{what}: {value!r} is not a TCP port")
    return value


def _inventory_port(value: Any) -> EndpointSpec:
    """``443`` or ``{port: 587, starttls: smtp}``."""
    if isinstance(value, Mapping):
        unknown = set(value) - {"port", "starttls"}
        if unknown:
            raise TlsSettingsError(f"network.tls_ports: unknown keys {sorted(unknown)}")
        port = _port(value.get("port"), "network.tls_ports")
        starttls = value.get("starttls")
        if starttls is not None and starttls not in STARTTLS:
            raise TlsSettingsError(
                f"network.tls_ports: starttls {starttls!r} not one of {sorted(STARTTLS)}"
            )
        return EndpointSpec(port, starttls or "tls", "inventory", starttls)
    return EndpointSpec(_port(value, "network.tls_ports"), "tls", "inventory")


def endpoints_from_nmap(raw: bytes) -> list[EndpointSpec]:
    """Open TCP ports of the nmap fact that speak TLS or upgrade to it."""
    found = []
    for port in parse_nmap_services(raw).open_tcp():
        if port.tunnel == "ssl" or port.name in NMAP_TLS:
            found.append(EndpointSpec(port.port, port.name or "tls", "nmap"))
        elif port.name in NMAP_STARTTLS:
            found.append(EndpointSpec(port.port, port.name, "nmap", NMAP_STARTTLS[port.name]))
    return found


def plan_endpoints(nmap: bytes, settings: TlsSettings) -> tuple[list[EndpointSpec], str]:
    """The endpoints to audit (inventory entries win on a shared port) and a note saying
    where they came from. ``nmap`` is the nmap fact, which the engine guarantees ran."""
    by_port = {e.port: e for e in endpoints_from_nmap(nmap)}
    note = f"nmap_services: {len(by_port)} TLS or STARTTLS port(s)"
    by_port |= {e.port: e for e in settings.ports}
    return [by_port[p] for p in sorted(by_port)], note


# --------------------------------------------------------------------------- probe


TLS_KEYS = (
    "tls_ports",
    "tls_hostname",
    "ca_bundle",
    "tls_timeout",
    "tls_endpoint_timeout",
    "tls_connections",
)


def _settings(settings: Mapping[str, Any], tags: tuple[str, ...] = ()) -> TlsSettings:
    return TlsSettings.from_mapping(settings, "0.0.0.0")


@probe_fact(
    FACT,
    "sslyze audit of every TLS endpoint of the host (JSON: one sslyze result per port)",
    requires=(NMAP_FACT,),
    timeout=180,
    setting_keys=TLS_KEYS,
    settings=_settings,
)
def tls_scan(ctx: ProbeContext) -> bytes:
    settings = TlsSettings.from_mapping(ctx.settings, ctx.hostname or ctx.address)
    planned, note = plan_endpoints(ctx.facts[NMAP_FACT].stdout, settings)
    scanned_at = datetime.now(UTC)
    doc: dict[str, Any] = {
        "format": FORMAT,
        "scanned_at": scanned_at.isoformat(),
        "address": ctx.address,
        "server_name": settings.server_name,
        "server_name_source": settings.server_name_source,
        "discovery": note,
        "fragile": "fragile" in ctx.tags,
        "trust_store": _custom_store(settings.ca_bundle) if settings.ca_bundle else None,
        "tool": None,
        "endpoints": [],
    }
    if planned:
        request = {
            "address": ctx.address,
            "server_name": settings.server_name,
            "ca_bundle": str(settings.ca_bundle) if settings.ca_bundle else None,
            "network_timeout": settings.network_timeout,
            "endpoint_timeout": settings.endpoint_timeout,
            "connections": 1 if doc["fragile"] else settings.connections,
            "fragile": doc["fragile"],
            "scanned_at": doc["scanned_at"],
            "endpoints": [e.to_dict() for e in planned],
        }
        lines, failure = _run_worker(request, ctx.remaining() - 1.0)
        done = {}
        for line in lines:
            if "tool" in line:
                doc["tool"] = line["tool"]
                doc["trust_store"] = doc["trust_store"] or line["trust_store"]
            else:
                done[line["port"]] = line
        for spec in planned:
            doc["endpoints"].append(
                done.get(spec.port) or {**spec.to_dict(), "status": "error", "error": failure}
            )
    return json.dumps(doc, sort_keys=True).encode()


def _custom_store(path: Path) -> dict[str, Any]:
    data = path.read_bytes()
    return {
        "kind": "custom",
        "name": "ca_bundle",
        "path": str(path),
        "sha256": hashlib.sha256(data).hexdigest(),
        "certificates": data.count(b"-----BEGIN CERTIFICATE-----"),
    }


def _run_worker(request: dict[str, Any], budget: float) -> tuple[list[dict], str]:
    """Run the sslyze child within ``budget`` seconds; its completed lines, and why the
    endpoints without a line have none."""
    if budget < 2:
        raise TimeoutError("no time left for the TLS audit before the host's deadline")
    proc = subprocess.Popen(
        [sys.executable, "-m", WORKER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(json.dumps(request).encode(), timeout=budget)
        failure = f"sslyze worker exited {proc.returncode}: {_tail(err)}"
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        failure = f"timeout: not finished within the host's time limit ({budget:.0f} s)"
    return [json.loads(line) for line in out.splitlines() if line.strip()], failure


def _tail(stderr: bytes) -> str:
    lines = stderr.decode(errors="replace").strip().splitlines()
    return lines[-1] if lines else "no output"


# --------------------------------------------------------------------------- parsing


class Unaudited(Exception):
    """Part of an endpoint's audit is missing (timeout, handshake failure, a scan command
    that errored): checks turn it into ``error``, never a pass."""


class Skipped(Exception):
    """A scan command not run by design (intrusive probes on a ``fragile`` host)."""


@dataclass(frozen=True)
class Endpoint:
    port: int
    service: str
    source: str
    starttls: str | None
    status: str  # "completed" | "no_tls" | "error"
    error: str | None
    elapsed_s: float | None
    sslyze: Mapping[str, Any] | None
    trust: tuple[Mapping[str, Any], ...]

    @property
    def label(self) -> str:
        how = f"{self.service}+starttls" if self.starttls else self.service
        return f"{self.port}/{how}"

    def command(self, name: str) -> Mapping[str, Any]:
        """The result of one sslyze scan command, or :class:`Unaudited`."""
        if self.status != "completed" or self.sslyze is None:
            raise Unaudited(f"{self.label}: not audited ({self.error})")
        attempt = self.sslyze["scan_result"][name]
        if attempt["status"] == "NOT_SCHEDULED":
            raise Skipped(f"{self.label}: {name} not run on a fragile host")
        if attempt["status"] != "COMPLETED" or attempt["result"] is None:
            raise Unaudited(f"{self.label}: {name} failed ({attempt.get('error_reason')})")
        return attempt["result"]

    def accepted_suites(self) -> dict[str, list[Mapping[str, Any]]]:
        """Protocol name -> accepted cipher suites (with their ephemeral key)."""
        return {
            label: list(self.command(name)["accepted_cipher_suites"])
            for name, label in PROTOCOLS.items()
        }

    def deployments(self) -> list[Mapping[str, Any]]:
        """The certificate chains the server sends (one per key type it holds)."""
        return list(self.command("certificate_info")["certificate_deployments"])


@dataclass(frozen=True)
class TlsScan:
    scanned_at: datetime
    address: str
    server_name: str
    server_name_source: str
    trust_store: Mapping[str, Any] | None
    fragile: bool
    endpoints: tuple[Endpoint, ...]

    @property
    def tls_endpoints(self) -> list[Endpoint]:
        """Endpoints that speak TLS (STARTTLS ports that refused the upgrade excluded)."""
        return [e for e in self.endpoints if e.status != "no_tls"]


def parse_tls_scan(text: str) -> TlsScan:
    doc = json.loads(text)
    if doc.get("format") != FORMAT:
        raise ValueError(f"unknown tls_scan format {doc.get('format')!r}")
    endpoints = tuple(
        Endpoint(
            port=e["port"],
            service=e["service"],
            source=e["source"],
            starttls=e["starttls"],
            status=e["status"],
            error=e.get("error"),
            elapsed_s=e.get("elapsed_s"),
            sslyze=e.get("sslyze"),
            trust=tuple(e.get("trust") or ()),
        )
        for e in doc["endpoints"]
    )
    return TlsScan(
        scanned_at=datetime.fromisoformat(doc["scanned_at"]),
        address=doc["address"],
        server_name=doc["server_name"],
        server_name_source=doc["server_name_source"],
        trust_store=doc.get("trust_store"),
        fragile=doc.get("fragile", False),
        endpoints=endpoints,
    )
