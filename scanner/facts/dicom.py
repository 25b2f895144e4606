"""DICOM seen from the network: is an association refused to unknown AE titles, and is
DICOM spoken only over TLS?

The probe runs on the scanner, talks only to the target's address, and records a JSON
transcript of what it sent and what came back; the checks judge that transcript. It is
deliberately harmless because the peers are often clinical devices: one association with a
random calling AE title and a bogus called AE title, offering only the Verification SOP
class; a C-ECHO if (and only if) it is accepted, then a release. Never C-FIND, C-MOVE,
C-GET or C-STORE: the probe cannot read, move or write an image even on a PACS that
accepts anyone. Bounds and port sources: :mod:`hygie.facts._probe_io`.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hygie.facts._probe_io import (
    NMAP_FACT,
    budget,
    connect,
    error_text,
    nmap_ports,
    port_sources,
    tcp_ports,
    tls_context,
    tls_handshake,
    transcript_json,
)
from hygie.facts.network import SettingsError
from hygie.factspec import ProbeContext, probe_fact

DICOM_PORTS = (104, 11112)
DICOM_TLS_PORTS = (2762,)  # DICOM over TLS (PS3.15 annex B); certificates: the TLS audit
#: Scanned by nmap (none is in its top-1000 list) and probed when found open: 2761 (DICOM
#: over TLS, ISCL) and Orthanc's DICOM port (4242).
ORTHANC_DICOM_PORTS = (2761, 4242)
NMAP_DICOM = frozenset({"dicom", "acr-nema"})


# -- settings ----------------------------------------------------------------------------


def _dicom_settings(settings: Mapping[str, Any], tags: tuple[str, ...] = ()) -> None:
    for key in ("dicom_ports", "dicom_tls_ports"):
        tcp_ports(settings, key)
    for key in ("dicom_ae_title", "dicom_calling_ae"):
        _ae_title(settings, key)


def _ae_title(settings: Mapping[str, Any], key: str) -> str | None:
    value = settings.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not 0 < len(value.strip()) <= 16 or "\\" in value:
        raise SettingsError(f"network.{key} must be a DICOM AE title (1-16 characters)")
    return value.strip()


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
        address,
        port,
        ae_title=called,
        evt_handlers=handlers,
        tls_args=(tls_context(), None) if tls else None,
    )
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
            "result": int(reply.result),
            "source": int(reply.result_source),
            "reason": int(reply.diagnostic),
            "result_str": reply.result_str,
            "source_str": reply.source_str,
            "reason_str": reply.reason_str,
        }
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
        outcome, details = tls_handshake(ctx.address, port, budget(ctx))
        endpoint["handshake"] = {"outcome": outcome, **details}
        if outcome != "tls":
            endpoint["state"] = "closed" if outcome == "closed" else "tls_failed"
            return endpoint
    else:
        try:
            connect(ctx.address, port, budget(ctx)).close()
        except OSError as exc:
            return endpoint | {"state": "closed", "error": error_text(exc)}
    endpoint["state"] = "open"
    bogus = _random_ae("NOSUCHAE")

    def associate(test: str, calling: str, called: str) -> dict[str, Any]:
        step = budget(ctx, steps=4)  # connect, negotiate, echo, release
        return {"test": test, **_dicom_association(ctx.address, port, calling, called, tls, step)}

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
    nmap = nmap_ports(ctx)
    clear = port_sources(
        ("default", DICOM_PORTS),
        ("settings", tcp_ports(ctx.settings, "dicom_ports")),
        ("nmap", tuple(p.port for p in nmap if p.name in NMAP_DICOM and p.tunnel != "ssl")),
    )
    tls = port_sources(
        ("default", DICOM_TLS_PORTS),
        ("settings", tcp_ports(ctx.settings, "dicom_tls_ports")),
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
    return transcript_json(
        {
            "address": ctx.address,
            "endpoints": endpoints,
            "tls_candidates": [e["port"] for e in endpoints if e["tls"] and e["state"] == "open"],
        }
    )


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
            attempts.append(
                DicomAttempt(
                    a["test"],
                    a["calling_ae"],
                    a["called_ae"],
                    a["outcome"],
                    reject_reason=f"{rj['source_str']}: {rj['reason_str']}" if rj else "",
                    reject_code=(rj["result"], rj["source"], rj["reason"]) if rj else None,
                    echo_status=a.get("echo_status"),
                )
            )
        endpoints.append(DicomEndpoint(e["port"], e["tls"], e["state"], tuple(attempts)))
    return endpoints
