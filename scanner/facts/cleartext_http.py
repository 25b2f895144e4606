"""Plain-HTTP pages of a host: does a cleartext port serve a login or redirect to HTTPS?

For every open TCP port nmap saw speaking plain HTTP (plus ``network: {http_ports:
[...]}``), the probe sends ``GET`` for each configured path (default ``/``) as HTTP/1.0
and follows redirects that stay on the same address over plain HTTP (at most three).
Raw sockets with a deadline on every read: a server that accepts and never answers, or
drips a byte at a time, costs at most the per-endpoint limit. No credentials and no
form is ever submitted. The raw responses (status, headers, the first 64 KiB of body)
are the evidence; :func:`parse_http_cleartext` judges them.
"""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

from hygie import __version__
from hygie.facts.network import SettingsError, parse_nmap_services, port_list, target_address
from hygie.factspec import ProbeContext, probe_fact

MAX_BODY = 64 * 1024
MAX_REDIRECTS = 3
DEFAULT_ENDPOINT_TIMEOUT = 10.0
#: nmap service names for cleartext HTTP (by probe or by port number).
HTTP_NAMES = frozenset({"http", "http-alt", "http-proxy", "http-mgmt", "httpx"})
KEPT_HEADERS = (
    "location",
    "www-authenticate",
    "content-type",
    "server",
    "strict-transport-security",
)


def _paths(settings: Mapping[str, Any]) -> list[str]:
    paths = settings.get("http_paths", ["/"])
    if not isinstance(paths, list) or not all(
        isinstance(p, str) and p.startswith("/") for p in paths
    ):
        raise SettingsError("network.http_paths must be a list of absolute paths ('/login')")
    return paths


def http_ports(ctx: ProbeContext) -> list[int]:
    scan = parse_nmap_services(ctx.facts["nmap_services"].stdout)
    found = {p.port for p in scan.open_tcp() if p.name in HTTP_NAMES and p.tunnel != "ssl"}
    extra = port_list(ctx.settings, "http_ports") or ()
    return sorted(found | {p for proto, p in extra if proto == "tcp"})


def fetch(address: str, port: int, path: str, deadline: float) -> dict[str, Any]:
    """One HTTP/1.0 GET; every socket operation is bounded by ``deadline``."""
    host = f"[{address}]" if ":" in address else address
    request = (
        f"GET {path} HTTP/1.0\r\nHost: {host}:{port}\r\nUser-Agent: hygie/{__version__}"
        "\r\nAccept: text/html,*/*\r\nConnection: close\r\n\r\n"
    ).encode()
    data = b""
    with socket.create_connection(
        (address, port), timeout=max(0.1, deadline - time.monotonic())
    ) as s:
        s.sendall(request)
        while len(data) < MAX_BODY + 16384:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(
                    f"no complete answer within the endpoint limit ({len(data)} bytes)"
                )
            s.settimeout(left)
            chunk = s.recv(16384)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("iso-8859-1").split("\r\n")
    m = re.match(r"HTTP/\d\.\d (\d{3})", lines[0])
    if not m:
        raise ValueError(f"not an HTTP response: {lines[0][:80]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() in KEPT_HEADERS:
            headers[name.strip().lower()] = value.strip()
    return {
        "status": int(m[1]),
        "headers": headers,
        "body": body[:MAX_BODY].decode("utf-8", "replace"),
    }


def follow(address: str, port: int, path: str, deadline: float) -> list[dict[str, Any]]:
    """The request chain from ``path``: same-address plain-HTTP redirects are followed."""
    chain: list[dict[str, Any]] = []
    url = f"http://{address}:{port}{path}"
    for _ in range(MAX_REDIRECTS + 1):
        parts = urlsplit(url)
        entry: dict[str, Any] = {"url": url}
        try:
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            entry |= fetch(address, port, target, deadline)
        except (OSError, ValueError) as exc:
            entry["error"] = f"{type(exc).__name__}: {exc}"
            chain.append(entry)
            break
        chain.append(entry)
        location = entry["headers"].get("location")
        if entry["status"] not in (301, 302, 303, 307, 308) or not location:
            break
        nxt = urlsplit(urljoin(url, location))
        if nxt.scheme != "http" or nxt.hostname != address or (nxt.port or 80) != port:
            break  # to HTTPS or elsewhere: never followed
        url = nxt.geturl()
    return chain


def _settings(settings: Mapping[str, Any], tags: tuple[str, ...] = ()) -> float:
    """Validates the probe's keys; returns the per-endpoint time limit."""
    _paths(settings)
    port_list(settings, "http_ports")
    limit = settings.get("http_timeout", DEFAULT_ENDPOINT_TIMEOUT)
    if isinstance(limit, bool) or not isinstance(limit, int | float) or not 0 < limit <= 600:
        raise SettingsError("network.http_timeout must be a number of seconds (0-600)")
    return limit


@probe_fact(
    "http_cleartext",
    "plain-HTTP endpoints: GET / (and network.http_paths), same-host redirects followed",
    requires=("nmap_services",),
    timeout=300,
    setting_keys=("http_paths", "http_ports", "http_timeout"),
    settings=_settings,
)
def probe_http_cleartext(ctx: ProbeContext) -> bytes:
    address = target_address(ctx.address)
    limit = _settings(ctx.settings)
    endpoints = []
    for port in http_ports(ctx):
        for path in _paths(ctx.settings):
            deadline = min(ctx.deadline, time.monotonic() + limit)
            endpoints.append(
                {"port": port, "path": path, "chain": follow(address, port, path, deadline)}
            )
    return json.dumps({"address": address, "endpoints": endpoints}, indent=1).encode()


# -- parsing (pure) ---------------------------------------------------------------------------

_PASSWORD_INPUT = re.compile(r"<input\b[^>]*\btype\s*=\s*[\"']?password\b", re.I)


@dataclass(frozen=True)
class HttpPage:
    """Where a plain-HTTP request chain ended, and whether that page asks for a password."""

    url: str
    status: int | None
    location: str
    login: str
    error: str

    @property
    def summary(self) -> str:
        if self.error:
            return f"{self.url}: {self.error}"
        if self.location:
            return f"{self.url}: {self.status} -> {self.location}"
        return f"{self.url}: {self.status}" + (f", {self.login}" if self.login else "")


def login_kind(status: int, headers: Mapping[str, str], body: str) -> str:
    """Why this response asks for a password in clear text, or ""."""
    challenge = headers.get("www-authenticate", "")
    if status == 401 and challenge.lower().startswith("basic"):
        return f"HTTP Basic authentication ({challenge[:80]})"
    found = _PASSWORD_INPUT.search(body)
    if found:
        return f"password field in the page ({found.group(0)[:80]})"
    return ""


def parse_http_cleartext(raw: bytes | str) -> list[HttpPage]:
    pages = []
    for endpoint in json.loads(raw)["endpoints"]:
        last = endpoint["chain"][-1]
        if "error" in last:
            pages.append(HttpPage(last["url"], None, "", "", last["error"]))
            continue
        headers = last["headers"]
        location = headers.get("location", "") if 300 <= last["status"] < 400 else ""
        login = login_kind(last["status"], headers, last["body"])
        pages.append(HttpPage(last["url"], last["status"], location, login, ""))
    return pages
