"""FHIR seen from the network: anonymous reads, plain HTTP, SMART on FHIR configuration.

The probe runs on the scanner, talks only to the target's address, and records a JSON
transcript; the checks judge it. GET only, without credentials: ``[base]/metadata``,
``[base]/Patient?_summary=count`` (a count, never a resource) and
``[base]/.well-known/smart-configuration``. Only selected fields of each reply are kept,
so the stored evidence never holds patient data even when a server ignores
``_summary=count``. Bounds and port sources: :mod:`hygie.facts._probe_io`.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from hygie.facts._probe_io import (
    NMAP_FACT,
    WATCHDOG_GRACE,
    budget,
    connect,
    error_text,
    nmap_ports,
    tls_context,
    transcript_json,
    watchdog,
)
from hygie.facts.network import SettingsError
from hygie.factspec import ProbeContext, probe_fact
from hygie.resolve import is_ip

#: Bytes read from one HTTP reply; the rest is never read (a CapabilityStatement is
#: rarely above a few hundred KiB).
MAX_HTTP_BYTES = 1 << 20
#: Scanned by nmap (it is not in its top-1000 list) and probed when found open: Orthanc's
#: HTTP/DICOMweb port.
ORTHANC_HTTP_PORTS = (8042,)
NMAP_HTTP = frozenset({"http", "https", "http-alt", "https-alt", "http-proxy"})
#: Where a FHIR server usually lives on an HTTP service found by nmap (HAPI, Azure,
#: Firely, Google...). Configured ``fhir_base_urls`` are always probed as given.
FHIR_PATHS = ("/", "/fhir", "/fhir/R4", "/baseR4")
SMART_PATH = "/.well-known/smart-configuration"


# -- settings ----------------------------------------------------------------------------


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


# -- FHIR ------------------------------------------------------------------------------------


def _http_get(ctx: ProbeContext, url: str, accept: str) -> dict[str, Any]:
    """GET ``url`` from the target's address (whatever its host name resolves to), no
    credentials, no redirects followed; the reply's first MAX_HTTP_BYTES are read."""
    parts = urlsplit(url)
    https = parts.scheme == "https"
    port = parts.port or (443 if https else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    record: dict[str, Any] = {"url": url}
    seconds = budget(ctx)
    started = time.monotonic()
    try:
        raw = connect(ctx.address, port, seconds)
    except OSError as exc:
        return record | {"error": error_text(exc)}
    conn = http.client.HTTPConnection(ctx.address, port, timeout=seconds)
    try:
        with watchdog(raw, seconds) as cut:
            sock = raw
            if https:
                sni = None if is_ip(parts.hostname or "") else parts.hostname
                sock = tls_context().wrap_socket(raw, server_hostname=sni)
            conn.sock = sock
            conn.request(
                "GET",
                path,
                headers={"Host": parts.netloc, "Accept": accept, "User-Agent": "hygie-audit"},
            )
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
        record["error"] = error_text(exc)
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
    for p in nmap_ports(ctx):
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
    return transcript_json({"address": ctx.address, "bases": bases, "not_fhir": not_fhir})


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
    return HttpReply(
        record["url"],
        record.get("status"),
        record.get("error", ""),
        record.get("location") or "",
        record.get("summary"),
    )


def parse_fhir(raw: str | bytes) -> list[FhirBase]:
    bases = []
    for b in json.loads(raw)["bases"]:
        bases.append(
            FhirBase(
                b["base"],
                b["found_by"],
                _reply(b["metadata"]),
                _reply(b.get("anonymous_read")),
                _reply(b.get("smart_configuration")),
            )
        )
    return bases
