"""Health protocols seen from the network: DICOM, HL7 v2 over MLLP, and FHIR.

Each probe runs on the scanner, talks only to the target's address, and records a JSON
transcript of what it sent and what came back; the checks judge that transcript. The
probes are deliberately harmless because the peers are often clinical devices:

- DICOM: one association with a random calling AE title and a bogus called AE title,
  offering only the Verification SOP class; a C-ECHO if (and only if) it is accepted,
  then a release. Never C-FIND, C-MOVE, C-GET or C-STORE: the probe cannot read, move or
  write an image even on a PACS that accepts anyone.
- HL7 v2 MLLP: a TLS ClientHello and nothing else. A listener that does not answer it with
  TLS is cleartext; no HL7 message is ever sent (an interface engine would route it).
- FHIR: GET only, without credentials: ``[base]/metadata``, ``[base]/Patient?_summary=
  count`` (a count, never a resource) and ``[base]/.well-known/smart-configuration``.
  Only selected fields of each reply are kept, so the stored evidence never holds patient
  data even when a server ignores ``_summary=count``.

Every socket operation is bounded by a per-operation timeout and by the host's deadline
(``ctx.remaining()``), and a watchdog shuts the socket when the whole exchange overruns, so
a tarpit that trickles bytes cannot stall the scan. Ports come from defaults, the host's
``network:`` settings, and the services nmap found (fact ``nmap_services``, when the policy
runs it); endpoints are probed one at a time, which fragile devices tolerate best.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import secrets
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from hygie.facts.network import Port, SettingsError, parse_nmap_services, port_list
from hygie.factspec import ProbeContext, probe_fact
from hygie.resolve import is_ip

NMAP_FACT = "nmap_services"
#: Seconds allowed to one connect, handshake, association step or HTTP exchange.
OPERATION_TIMEOUT = 5.0
#: Bytes read from one HTTP reply; the rest is never read (a CapabilityStatement is
#: rarely above a few hundred KiB).
MAX_HTTP_BYTES = 1 << 20
WATCHDOG_GRACE = 1.0

DICOM_PORTS = (104, 11112)
DICOM_TLS_PORTS = (2762,)  # DICOM over TLS (PS3.15 annex B); certificates: the TLS audit
HL7_PORTS = (2575,)
#: Scanned by nmap (none is in its top-1000 list) and probed when found open: 2761 (DICOM
#: over TLS, ISCL), Orthanc's DICOM (4242) and HTTP/DICOMweb (8042) ports.
ORTHANC_DICOM_PORTS = (2761, 4242)
ORTHANC_HTTP_PORTS = (8042,)
NMAP_DICOM = frozenset({"dicom", "acr-nema"})
NMAP_HL7 = frozenset({"hl7"})
NMAP_HTTP = frozenset({"http", "https", "http-alt", "https-alt", "http-proxy"})
#: Where a FHIR server usually lives on an HTTP service found by nmap (HAPI, Azure,
#: Firely, Google...). Configured ``fhir_base_urls`` are always probed as given.
FHIR_PATHS = ("/", "/fhir", "/fhir/R4", "/baseR4")
SMART_PATH = "/.well-known/smart-configuration"


# -- settings ----------------------------------------------------------------------------


def _port_list(settings: Mapping[str, Any], key: str) -> tuple[int, ...]:
    """TCP ports of ``key`` (same syntax as the other port lists of ``network:``)."""
    ports = port_list(settings, key) or ()
    if any(proto != "tcp" for proto, _ in ports):
        raise SettingsError(f"network.{key} takes TCP ports only")
    return tuple(port for _, port in ports)


def _dicom_settings(settings: Mapping[str, Any], tags: tuple[str, ...] = ()) -> None:
    for key in ("dicom_ports", "dicom_tls_ports"):
        _port_list(settings, key)
    for key in ("dicom_ae_title", "dicom_calling_ae"):
        _ae_title(settings, key)


def _ae_title(settings: Mapping[str, Any], key: str) -> str | None:
    value = settings.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not 0 < len(value.strip()) <= 16 or "\\" in value:
        raise SettingsError(f"network.{key} must be a DICOM AE title (1-16 characters)")
    return value.strip()


def _fhir_url_list(settings: Mapping[str, Any], tags: tuple[str, ...] = ()) -> list[str]:
    value = settings.get("fhir_base_urls", [])
    if not isinstance(value, list) or not all(isinstance(u, str) for u in value):
        raise SettingsError(f"network.fhir_base_urls must be a list of URLs, got {value!r}")
    for url in value:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SettingsError(f"network.fhir_base_urls: {url!r} is not an http(s) URL")
    return value


def _fhir_urls(ctx: ProbeContext) -> tuple[str, ...]:
    """Configured FHIR base URLs; each must point at this target (probes never leave it)."""
    value = _fhir_url_list(ctx.settings)
    names = {ctx.address.lower(), ctx.name.lower(), (ctx.hostname or ctx.name).lower()}
    for url in value:
        parts = urlsplit(url)
        if parts.hostname not in names:
            raise SettingsError(
                f"network.fhir_base_urls: {url!r} does not point at this target "
                f"({ctx.name} / {ctx.address}); probes only talk to the target"
            )
    return tuple(u.rstrip("/") for u in value)


# -- nmap ---------------------------------------------------------------------------------


def _nmap_ports(ctx: ProbeContext) -> tuple[Port, ...]:
    """Open TCP ports nmap found (the engine runs nmap first and never hands a probe a
    failed scan)."""
    return parse_nmap_services(ctx.facts[NMAP_FACT].stdout).open_tcp()


def _sources(*groups: tuple[str, tuple[int, ...]]) -> dict[int, list[str]]:
    """port -> where it came from (``default``, ``settings``, ``nmap``), in port order."""
    found: dict[int, list[str]] = {}
    for source, ports in groups:
        for port in ports:
            found.setdefault(port, [])
            if source not in found[port]:
                found[port].append(source)
    return dict(sorted(found.items()))


# -- bounded I/O ---------------------------------------------------------------------------


def _budget(ctx: ProbeContext, steps: int = 1) -> float:
    """Seconds one operation may take: the per-operation timeout, with ``steps`` such
    operations still fitting in the host's deadline."""
    remaining = ctx.remaining()
    if remaining < 0.5:
        raise TimeoutError("host time limit reached")
    return min(OPERATION_TIMEOUT, remaining / steps)


@contextlib.contextmanager
def _watchdog(sock: socket.socket, seconds: float) -> Iterator[threading.Event]:
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


def _tls_context() -> ssl.SSLContext:
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


def _connect(address: str, port: int, seconds: float) -> socket.socket:
    return socket.create_connection((address, port), timeout=seconds)


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]


def _json(record: Mapping[str, Any]) -> bytes:
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
        raw = _connect(address, port, seconds)
    except OSError as exc:
        return "closed", {"error": _error(exc)}
    details: dict[str, Any] = {}
    try:
        with (
            _watchdog(raw, seconds),
            _tls_context().wrap_socket(
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
        details = {"error": _error(exc)}
    except (OSError, ValueError) as exc:  # EOF, reset, silence until the timeout
        outcome, details = "not_tls", {"error": _error(exc)}
    finally:
        raw.close()
    details["seconds"] = round(time.monotonic() - started, 3)
    return outcome, details


# -- DICOM ----------------------------------------------------------------------------------


def _random_ae(prefix: str) -> str:
    """A fresh AE title (at most 16 characters), never a title a device could expect."""
    return f"{prefix}{secrets.token_hex((16 - len(prefix)) // 2).upper()}"


#: What each association of the DICOM probe tests (stored with it in the transcript).
PROBE = "probe"  # random calling, bogus called: the association every endpoint gets
CALLING_TEST = "calling_ae"  # random calling, the device's own AE title (dicom_ae_title)
CALLED_TEST = "called_ae"  # a known-allowed calling title (dicom_calling_ae), bogus called


def _dicom_association(
    address: str, port: int, calling: str, called: str, tls: bool, seconds: float
) -> dict[str, Any]:
    """One association offering Verification only; C-ECHO and release if accepted.

    ``seconds`` bounds each step (connect, negotiation, C-ECHO, release)."""
    from pynetdicom import AE, evt  # heavy import: only when a DICOM probe runs
    from pynetdicom.sop_class import Verification

    record: dict[str, Any] = {"calling_ae": calling, "called_ae": called}
    received: list[Any] = []
    ae = AE(ae_title=calling)
    ae.add_requested_context(Verification)
    ae.connection_timeout = ae.acse_timeout = ae.dimse_timeout = seconds
    ae.network_timeout = seconds
    handlers = [(evt.EVT_ACSE_RECV, lambda event: received.append(event.primitive))]
    started = time.monotonic()
    assoc = ae.associate(
        address, port, ae_title=called, evt_handlers=handlers,
        tls_args=(_tls_context(), None) if tls else None,
    )  # fmt: skip
    reply = next((p for p in received if type(p).__name__ == "A_ASSOCIATE"), None)
    if reply is not None and reply.result == 0:
        record["outcome"] = "accepted"
        record["peer_implementation"] = {
            "class_uid": str(assoc.acceptor.implementation_class_uid or ""),
            "version_name": str(assoc.acceptor.implementation_version_name or ""),
        }
    if assoc.is_established:
        status = assoc.send_c_echo()
        record["echo_status"] = int(status.Status) if "Status" in status else None
        assoc.release()
        record["released"] = bool(assoc.is_released)
        if not assoc.is_released:
            assoc.abort()
    elif reply is not None and reply.result == 0:
        record["note"] = "accepted without the Verification context; aborted"
    elif assoc.is_rejected and reply is not None:
        record["outcome"] = "rejected"
        record["reject"] = {
            "result": int(reply.result), "source": int(reply.result_source),
            "reason": int(reply.diagnostic), "result_str": reply.result_str,
            "source_str": reply.source_str, "reason_str": reply.reason_str,
        }  # fmt: skip
    elif any(type(p).__name__ in ("A_ABORT", "A_P_ABORT") for p in received):
        record["outcome"] = "aborted"  # the peer aborted: it speaks DICOM, refused us
    else:
        record["outcome"] = "no_answer"  # no DICOM reply before the timeout or the close
    record["seconds"] = round(time.monotonic() - started, 3)
    return record


def _dicom_endpoint(
    ctx: ProbeContext, port: int, tls: bool, device_ae: str | None, allowed_calling: str | None
) -> dict[str, Any]:
    """The endpoint's transcript: reachability, then one to three harmless associations.

    The first (``probe``) uses a bogus called AE title and a random calling one. When the
    device refuses it, the next tell which title it enforces: the device's own AE title
    (``dicom_ae_title``) with a random calling title tests the calling-AE allow-list, and a
    known-allowed calling title (``dicom_calling_ae``) with the bogus called title tests the
    called-AE check. Without those settings the reason of the refusal is all we know.
    """
    endpoint: dict[str, Any] = {"port": port, "tls": tls}
    if tls:
        outcome, details = tls_handshake(ctx.address, port, _budget(ctx))
        endpoint["handshake"] = {"outcome": outcome, **details}
        if outcome != "tls":
            endpoint["state"] = "closed" if outcome == "closed" else "tls_failed"
            return endpoint
    else:
        try:
            _connect(ctx.address, port, _budget(ctx)).close()
        except OSError as exc:
            return endpoint | {"state": "closed", "error": _error(exc)}
    endpoint["state"] = "open"
    bogus = _random_ae("NOSUCHAE")

    def associate(test: str, calling: str, called: str) -> dict[str, Any]:
        step = _budget(ctx, steps=4)  # connect, negotiate, echo, release
        return {"test": test, **_dicom_association(ctx.address, port, calling, called, tls,
                                                   step)}  # fmt: skip

    attempts = [associate(PROBE, _random_ae("HYG"), bogus)]
    if attempts[0]["outcome"] in ("rejected", "aborted"):
        if device_ae is not None:
            attempts.append(associate(CALLING_TEST, _random_ae("HYG"), device_ae))
        if allowed_calling is not None:
            attempts.append(associate(CALLED_TEST, allowed_calling, bogus))
    endpoint["associations"] = attempts
    return endpoint


@probe_fact(
    "dicom_echo",
    "DICOM associations (Verification only, C-ECHO, release) with random calling and bogus "
    "called AE titles on the DICOM ports (JSON transcript)",
    requires=(NMAP_FACT,),
    timeout=90,
    setting_keys=("dicom_ports", "dicom_tls_ports", "dicom_ae_title", "dicom_calling_ae"),
    settings=_dicom_settings,
    scan_ports=(*DICOM_PORTS, *DICOM_TLS_PORTS, *ORTHANC_DICOM_PORTS),
    port_settings=("dicom_ports", "dicom_tls_ports"),
    version_probes=False,
)
def probe_dicom(ctx: ProbeContext) -> bytes:
    nmap = _nmap_ports(ctx)
    clear = _sources(
        ("default", DICOM_PORTS),
        ("settings", _port_list(ctx.settings, "dicom_ports")),
        ("nmap", tuple(p.port for p in nmap if p.name in NMAP_DICOM and p.tunnel != "ssl")),
    )
    tls = _sources(
        ("default", DICOM_TLS_PORTS),
        ("settings", _port_list(ctx.settings, "dicom_tls_ports")),
        ("nmap", tuple(p.port for p in nmap if p.name in NMAP_DICOM and p.tunnel == "ssl")),
    )
    titles = (
        _ae_title(ctx.settings, "dicom_ae_title"),
        _ae_title(ctx.settings, "dicom_calling_ae"),
    )
    endpoints = []
    for ports, is_tls in ((clear, False), (tls, True)):
        for port, found_by in ports.items():
            if is_tls and port in clear:
                continue  # configured both ways: the cleartext probe already ran
            endpoint = _dicom_endpoint(ctx, port, is_tls, *titles)
            endpoints.append({**endpoint, "found_by": found_by})
    return _json({"address": ctx.address, "endpoints": endpoints,
                  "tls_candidates": [e["port"] for e in endpoints
                                     if e["tls"] and e["state"] == "open"]})  # fmt: skip


#: A-ASSOCIATE-RJ reasons from the service user (PS3.8 table 9-21, source 1).
SOURCE_SERVICE_USER = 1
REJECT_CALLING_AE = 3
REJECT_CALLED_AE = 7


@dataclass(frozen=True)
class DicomAttempt:
    test: str  # PROBE | CALLING_TEST | CALLED_TEST
    calling_ae: str
    called_ae: str
    outcome: str  # accepted | rejected | aborted | no_answer
    reject_reason: str = ""
    reject_code: tuple[int, int, int] | None = None  # (result, source, reason)
    echo_status: int | None = None

    @property
    def accepted(self) -> bool:
        return self.outcome == "accepted"

    @property
    def refused(self) -> bool:
        return self.outcome in ("rejected", "aborted")

    def refused_for(self, reason: int) -> bool:
        """Rejected by the service user for this reason (3 calling, 7 called AE title)."""
        return self.reject_code is not None and self.reject_code[1:] == (
            SOURCE_SERVICE_USER,
            reason,
        )

    def describe(self) -> str:
        text = f"calling {self.calling_ae!r} -> called {self.called_ae!r}: {self.outcome}"
        if self.reject_reason:
            text += f" ({self.reject_reason})"
        if self.echo_status is not None:
            text += f", C-ECHO status 0x{self.echo_status:04X}"
        return text


@dataclass(frozen=True)
class DicomEndpoint:
    port: int
    tls: bool
    state: str  # open | closed | tls_failed
    attempts: tuple[DicomAttempt, ...]

    @property
    def speaks_dicom(self) -> bool:
        return any(a.outcome != "no_answer" for a in self.attempts)

    def attempt(self, test: str) -> DicomAttempt | None:
        return next((a for a in self.attempts if a.test == test), None)

    def describe(self) -> str:
        return f"port {self.port}{' (TLS)' if self.tls else ''}: " + "; ".join(
            a.describe() for a in self.attempts
        )


def parse_dicom(raw: str | bytes) -> list[DicomEndpoint]:
    """The endpoints of a ``dicom_echo`` transcript."""
    endpoints = []
    for e in json.loads(raw)["endpoints"]:
        attempts = []
        for a in e.get("associations", []):
            rj = a.get("reject")
            attempts.append(DicomAttempt(
                a["test"], a["calling_ae"], a["called_ae"], a["outcome"],
                reject_reason=f"{rj['source_str']}: {rj['reason_str']}" if rj else "",
                reject_code=(rj["result"], rj["source"], rj["reason"]) if rj else None,
                echo_status=a.get("echo_status"),
            ))  # fmt: skip
        endpoints.append(DicomEndpoint(e["port"], e["tls"], e["state"], tuple(attempts)))
    return endpoints


# -- HL7 v2 MLLP ----------------------------------------------------------------------------


@probe_fact(
    "hl7_mllp",
    "TLS handshake attempts (never an HL7 message) on the HL7 MLLP ports (JSON transcript)",
    requires=(NMAP_FACT,),
    timeout=60,
    setting_keys=("hl7_ports",),
    settings=lambda settings, tags=(): _port_list(settings, "hl7_ports"),
    scan_ports=HL7_PORTS,
    port_settings=("hl7_ports",),
    version_probes=False,
)
def probe_hl7(ctx: ProbeContext) -> bytes:
    ports = _sources(
        ("default", HL7_PORTS),
        ("settings", _port_list(ctx.settings, "hl7_ports")),
        ("nmap", tuple(p.port for p in _nmap_ports(ctx) if p.name in NMAP_HL7)),
    )
    endpoints = []
    for port, found_by in ports.items():
        outcome, details = tls_handshake(ctx.address, port, _budget(ctx))
        endpoints.append({"port": port, "found_by": found_by, "outcome": outcome, **details})
    tls = [e["port"] for e in endpoints if e["outcome"] == "tls"]
    return _json({"address": ctx.address, "endpoints": endpoints, "tls_candidates": tls})


@dataclass(frozen=True)
class MllpEndpoint:
    port: int
    outcome: str  # tls | not_tls | closed
    detail: str

    def describe(self) -> str:
        return f"port {self.port}: {self.outcome} ({self.detail})"


def parse_hl7(raw: str | bytes) -> list[MllpEndpoint]:
    endpoints = []
    for e in json.loads(raw)["endpoints"]:
        detail = e.get("error") or f"{e.get('version')} {e.get('cipher')}"
        endpoints.append(MllpEndpoint(e["port"], e["outcome"], detail))
    return endpoints


# -- FHIR ------------------------------------------------------------------------------------


def _http_get(ctx: ProbeContext, url: str, accept: str) -> dict[str, Any]:
    """GET ``url`` from the target's address (whatever its host name resolves to), no
    credentials, no redirects followed; the reply's first MAX_HTTP_BYTES are read."""
    parts = urlsplit(url)
    https = parts.scheme == "https"
    port = parts.port or (443 if https else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    record: dict[str, Any] = {"url": url}
    seconds = _budget(ctx)
    started = time.monotonic()
    try:
        raw = _connect(ctx.address, port, seconds)
    except OSError as exc:
        return record | {"error": _error(exc)}
    conn = http.client.HTTPConnection(ctx.address, port, timeout=seconds)
    try:
        with _watchdog(raw, seconds) as cut:
            sock = raw
            if https:
                sni = None if is_ip(parts.hostname or "") else parts.hostname
                sock = _tls_context().wrap_socket(raw, server_hostname=sni)
            conn.sock = sock
            conn.request("GET", path, headers={"Host": parts.netloc, "Accept": accept,
                                               "User-Agent": "hygie-audit"})  # fmt: skip
            resp = conn.getresponse()
            body = resp.read(MAX_HTTP_BYTES + 1)
        if cut.is_set():
            raise TimeoutError(f"exchange cut after {seconds + WATCHDOG_GRACE:.1f} s")
        record |= {
            "status": resp.status,
            "content_type": resp.getheader("Content-Type", ""),
            "location": resp.getheader("Location"),
            "www_authenticate": resp.getheader("WWW-Authenticate"),
            "bytes": min(len(body), MAX_HTTP_BYTES),
            "truncated": len(body) > MAX_HTTP_BYTES,
            "sha256": hashlib.sha256(body[:MAX_HTTP_BYTES]).hexdigest(),
        }
        record["_body"] = body[:MAX_HTTP_BYTES]
    except (OSError, http.client.HTTPException) as exc:
        record["error"] = _error(exc)
    finally:
        conn.close()
        raw.close()
    record["seconds"] = round(time.monotonic() - started, 3)
    return record



def _fhir_get(
    ctx: ProbeContext, url: str, accept: str, summarize: Callable[[Any], dict | None]
) -> dict[str, Any]:
    """One GET, recorded with the ``summary`` kept of a 200 JSON reply (never the body)."""
    record = _http_get(ctx, url, accept)
    body = record.pop("_body", b"")
    doc = None
    if record.get("status") == 200 and not record.get("truncated"):
        with contextlib.suppress(ValueError):
            doc = json.loads(body)
    record["summary"] = summarize(doc) if doc is not None else None
    return record


def capability_summary(doc: Any) -> dict[str, Any] | None:
    """What is kept of a CapabilityStatement: identity and declared security, no more."""
    if not isinstance(doc, dict) or doc.get("resourceType") != "CapabilityStatement":
        return None
    security = []
    for rest in doc.get("rest") or []:
        sec = rest.get("security") or {} if isinstance(rest, dict) else {}
        for service in sec.get("service") or []:
            security += [c.get("code", "") for c in service.get("coding") or []]
    software = doc.get("software") or {}
    return {
        "resourceType": "CapabilityStatement",
        "fhirVersion": str(doc.get("fhirVersion", "")),
        "software": f"{software.get('name', '')} {software.get('version', '')}".strip(),
        "security_services": sorted(set(security)),
    }


def count_summary(doc: Any) -> dict[str, Any] | None:
    """Only the type and ``total`` of a search reply: never an entry (patient data)."""
    if not isinstance(doc, dict):
        return None
    return {"resourceType": str(doc.get("resourceType", "")), "total": doc.get("total")}


def smart_summary(doc: Any) -> dict[str, Any] | None:
    if not isinstance(doc, dict):
        return None
    keep = ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri")
    summary = {k: doc[k] for k in keep if isinstance(doc.get(k), str)}
    caps = doc.get("capabilities")
    summary["capabilities"] = (
        sorted(c for c in caps if isinstance(c, str)) if isinstance(caps, list) else []
    )
    return summary


FHIR_JSON = "application/fhir+json, application/json;q=0.9"


def _fhir_base(ctx: ProbeContext, base: str, found_by: str) -> dict[str, Any]:
    """The three GETs against one base. A configured base is tested even when its
    metadata is withheld (some servers protect it); a discovered one only when it answers
    as FHIR."""
    metadata = _fhir_get(ctx, f"{base}/metadata", FHIR_JSON, capability_summary)
    entry: dict[str, Any] = {"base": base, "found_by": found_by, "metadata": metadata}
    if metadata["summary"] is None and found_by != "settings":
        return entry
    patients = _fhir_get(ctx, f"{base}/Patient?_summary=count", FHIR_JSON, count_summary)
    smart = _fhir_get(ctx, f"{base}{SMART_PATH}", "application/json", smart_summary)
    return entry | {"anonymous_read": patients, "smart_configuration": smart}


def _discovered_bases(ctx: ProbeContext, configured: tuple[str, ...]) -> dict[str, list[str]]:
    """Candidate bases per HTTP(S) service nmap found (origin -> bases to try in order).
    Fragile devices get none: only their configured URLs are probed."""
    if "fragile" in ctx.tags:
        return {}
    covered = {urlsplit(u).port or (443 if u.startswith("https:") else 80) for u in configured}
    host = f"[{ctx.address}]" if ":" in ctx.address else ctx.address
    candidates: dict[str, list[str]] = {}
    for p in _nmap_ports(ctx):
        if p.name not in NMAP_HTTP or p.port in covered:
            continue
        scheme = "https" if p.tunnel == "ssl" or p.name.startswith("https") else "http"
        origin = f"{scheme}://{host}:{p.port}"
        candidates[origin] = [f"{origin}{path}".rstrip("/") for path in FHIR_PATHS]
    return candidates


@probe_fact(
    "fhir_probe",
    "anonymous FHIR requests (metadata, Patient count, SMART configuration) on the "
    "configured FHIR base URLs and the HTTP services nmap found (JSON transcript)",
    requires=(NMAP_FACT,),
    timeout=90,
    setting_keys=("fhir_base_urls",),
    settings=_fhir_url_list,
    scan_ports=ORTHANC_HTTP_PORTS,
)
def probe_fhir(ctx: ProbeContext) -> bytes:
    configured = _fhir_urls(ctx)
    bases = [_fhir_base(ctx, base, "settings") for base in configured]
    not_fhir = []
    for candidates in _discovered_bases(ctx, configured).values():
        for base in candidates:  # the first base answering as FHIR is this service's
            entry = _fhir_base(ctx, base, "nmap")
            if "anonymous_read" in entry:
                bases.append(entry)
                break
            not_fhir.append(entry["metadata"])
    return _json({"address": ctx.address, "bases": bases, "not_fhir": not_fhir})


@dataclass(frozen=True)
class HttpReply:
    url: str
    status: int | None
    error: str
    location: str
    summary: Mapping[str, Any] | None

    def describe(self) -> str:
        if self.status is None:
            return f"GET {self.url}: {self.error or 'no reply'}"
        where = f" -> {self.location}" if self.location else ""
        return f"GET {self.url}: HTTP {self.status}{where}"


@dataclass(frozen=True)
class FhirBase:
    base: str
    found_by: str
    metadata: HttpReply
    anonymous_read: HttpReply | None
    smart: HttpReply | None

    @property
    def is_fhir(self) -> bool:
        return self.metadata.summary is not None

    @property
    def cleartext(self) -> bool:
        return urlsplit(self.base).scheme == "http"


def _reply(record: Mapping[str, Any] | None) -> HttpReply | None:
    if record is None:
        return None
    return HttpReply(record["url"], record.get("status"), record.get("error", ""),
                     record.get("location") or "", record.get("summary"))  # fmt: skip


def parse_fhir(raw: str | bytes) -> list[FhirBase]:
    bases = []
    for b in json.loads(raw)["bases"]:
        bases.append(FhirBase(b["base"], b["found_by"], _reply(b["metadata"]),
                              _reply(b.get("anonymous_read")),
                              _reply(b.get("smart_configuration"))))  # fmt: skip
    return bases
