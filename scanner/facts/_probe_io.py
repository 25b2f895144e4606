"""What the clinical-protocol probes (:mod:`hygie.facts.dicom`, :mod:`hygie.facts.hl7`,
:mod:`hygie.facts.fhir`) share: bounded socket I/O, a TLS handshake, and where ports come
from.

The peers are often fragile clinical devices, so every socket operation is bounded by a
per-operation timeout and by the host's deadline (``ctx.remaining()``), and a watchdog
shuts the socket when the whole exchange overruns, so a tarpit that trickles bytes cannot
stall the scan. Ports come from defaults, the host's ``network:`` settings, and the
services nmap found (fact ``nmap_services``, when the policy runs it); endpoints are
probed one at a time, which fragile devices tolerate best.
"""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

from hygie.facts.network import Port, SettingsError, parse_nmap_services, port_list
from hygie.factspec import ProbeContext

NMAP_FACT = "nmap_services"
#: Seconds allowed to one connect, handshake, association step or HTTP exchange.
OPERATION_TIMEOUT = 5.0
WATCHDOG_GRACE = 1.0


# -- settings ----------------------------------------------------------------------------


def tcp_ports(settings: Mapping[str, Any], key: str) -> tuple[int, ...]:
    """TCP ports of ``key`` (same syntax as the other port lists of ``network:``)."""
    ports = port_list(settings, key) or ()
    if any(proto != "tcp" for proto, _ in ports):
        raise SettingsError(f"network.{key} takes TCP ports only")
    return tuple(port for _, port in ports)


# -- nmap ---------------------------------------------------------------------------------


def nmap_ports(ctx: ProbeContext) -> tuple[Port, ...]:
    """Open TCP ports nmap found (the engine runs nmap first and never hands a probe a
    failed scan)."""
    return parse_nmap_services(ctx.facts[NMAP_FACT].stdout).open_tcp()


def port_sources(*groups: tuple[str, tuple[int, ...]]) -> dict[int, list[str]]:
    """port -> where it came from (``default``, ``settings``, ``nmap``), in port order."""
    found: dict[int, list[str]] = {}
    for source, ports in groups:
        for port in ports:
            found.setdefault(port, [])
            if source not in found[port]:
                found[port].append(source)
    return dict(sorted(found.items()))


# -- bounded I/O ---------------------------------------------------------------------------


def budget(ctx: ProbeContext, steps: int = 1) -> float:
    """Seconds one operation may take: the per-operation timeout, with ``steps`` such
    operations still fitting in the host's deadline."""
    remaining = ctx.remaining()
    if remaining < 0.5:
        raise TimeoutError("host time limit reached")
    return min(OPERATION_TIMEOUT, remaining / steps)


@contextlib.contextmanager
def watchdog(sock: socket.socket, seconds: float) -> Iterator[threading.Event]:
    """Shut ``sock`` down after ``seconds`` (plus a grace second) whatever it is doing: a
    per-recv timeout alone lets a peer that trickles one byte at a time hold the probe
    forever. A silent peer hits the socket's own timeout first, which says so precisely.
    The yielded event is set when the watchdog cut the exchange: what was read by then is
    incomplete and must not be taken for a reply."""
    guard = sock.dup()  # shutdown() acts on the connection, so a duplicate can cut it
    cut = threading.Event()

    def fire() -> None:
        cut.set()
        _shutdown(guard)

    timer = threading.Timer(seconds + WATCHDOG_GRACE, fire)
    timer.daemon = True
    timer.start()
    try:
        yield cut
    finally:
        timer.cancel()
        guard.close()


def _shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


def tls_context() -> ssl.SSLContext:
    """A client context that accepts anything the server offers: these probes observe
    whether TLS is spoken and what the service does behind it; judging certificates and
    suites is the TLS audit's job (fact ``tls_scan``)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    with contextlib.suppress(ssl.SSLError):
        context.set_ciphers("ALL:@SECLEVEL=0")
    return context


def connect(address: str, port: int, seconds: float) -> socket.socket:
    return socket.create_connection((address, port), timeout=seconds)


def error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]


def transcript_json(record: Mapping[str, Any]) -> bytes:
    return json.dumps(record, indent=1, sort_keys=True).encode()


# -- TLS handshake (shared by DICOM TLS ports and HL7) -------------------------------------

#: ``ssl`` error reasons that prove the peer answered in TLS (an alert record): it speaks
#: TLS but refused our hello (no common suite, client certificate required...).
_TLS_ALERT_MARKERS = ("ALERT", "alert")


def tls_handshake(address: str, port: int, seconds: float, server_name: str | None = None):
    """Try a TLS handshake; return ``(outcome, details)`` where outcome is ``tls`` (the
    peer completed a handshake or answered with a TLS alert), ``not_tls`` (it answered
    something else, closed the connection, or stayed silent) or ``closed`` (no TCP
    connection)."""
    started = time.monotonic()
    try:
        raw = connect(address, port, seconds)
    except OSError as exc:
        return "closed", {"error": error_text(exc)}
    details: dict[str, Any] = {}
    try:
        with (
            watchdog(raw, seconds),
            tls_context().wrap_socket(
                raw, server_hostname=server_name, do_handshake_on_connect=False
            ) as tls,
        ):
            tls.settimeout(seconds)
            tls.do_handshake()
            details = {"version": tls.version(), "cipher": (tls.cipher() or ("",))[0]}
            outcome = "tls"
    except ssl.SSLError as exc:
        alert = any(m in (exc.reason or str(exc)) for m in _TLS_ALERT_MARKERS)
        outcome = "tls" if alert else "not_tls"
        details = {"error": error_text(exc)}
    except (OSError, ValueError) as exc:  # EOF, reset, silence until the timeout
        outcome, details = "not_tls", {"error": error_text(exc)}
    finally:
        raw.close()
    details["seconds"] = round(time.monotonic() - started, 3)
    return outcome, details
