"""The TLS audit's child process: sslyze runs here, never in the scanner.

``hygie.facts.tls`` plans the endpoints and starts ``python -m hygie.facts.tls_worker``
with one JSON request on stdin; this module audits them and prints one JSON line per
endpoint as soon as it is done. Living apart keeps sslyze (imported only inside
:func:`_audit`) and its uncancellable thread pools out of the scanner process, which can
then always kill the child at the host's deadline and keep the lines already printed.

It declares no fact: fact discovery imports it like any module of ``hygie.facts`` and
finds nothing to register.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from concurrent.futures import TimeoutError as FuturesTimeout
from datetime import datetime
from pathlib import Path
from typing import Any

from hygie.facts.tls import INTRUSIVE, SCAN_COMMANDS, STARTTLS


def _audit(request: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """One line saying which sslyze and trust store, then one line per endpoint, each as
    soon as it is done."""
    from sslyze import (
        CertificateInfoExtraArgument,
        ProtocolWithOpportunisticTlsEnum,
        ScanCommand,
        ScanCommandsExtraArguments,
        Scanner,
        ServerNetworkConfiguration,
        ServerNetworkLocation,
        ServerScanRequest,
        ServerScanResultAsJson,
        ServerScanStatusEnum,
    )
    from sslyze.__version__ import __version__
    from sslyze.plugins.certificate_info.trust_stores.trust_store_repository import (
        TrustStoresRepository,
    )

    started = time.monotonic()
    bundle = request["ca_bundle"]
    mozilla = TrustStoresRepository.get_default().get_main_store()
    store = {
        "kind": "sslyze",
        "name": mozilla.name,
        "version": mozilla.version,
        "path": str(mozilla.path),
    }
    yield {"tool": f"sslyze {__version__}", "trust_store": store}
    store_path = Path(bundle) if bundle else Path(mozilla.path)
    skipped = set(INTRUSIVE) if request["fragile"] else set()
    commands = {ScanCommand(c) for c in SCAN_COMMANDS if c not in skipped}
    extra = (
        ScanCommandsExtraArguments(
            certificate_info=CertificateInfoExtraArgument(custom_ca_file=Path(bundle))
        )
        if bundle
        else ScanCommandsExtraArguments()
    )
    scanned_at = datetime.fromisoformat(request["scanned_at"])

    def audit_one(spec: Mapping[str, Any]) -> dict[str, Any]:
        starttls = spec["starttls"]
        # One Scanner per endpoint: a Scanner yields nothing before every endpoint it was
        # given has passed its connectivity test, so a tarpit would hold back the others.
        scanner = Scanner(
            per_server_concurrent_connections_limit=request["connections"],
            concurrent_server_scans_limit=1,
        )
        scanner.queue_scans(
            [
                ServerScanRequest(
                    server_location=ServerNetworkLocation(
                        hostname=request["server_name"],
                        port=spec["port"],
                        ip_address=request["address"],
                    ),
                    network_configuration=ServerNetworkConfiguration(
                        tls_server_name_indication=request["server_name"],
                        tls_opportunistic_encryption=ProtocolWithOpportunisticTlsEnum(
                            STARTTLS[starttls]
                        )
                        if starttls
                        else None,
                        network_timeout=request["network_timeout"],
                        network_max_retries=1,
                    ),
                    scan_commands=commands,
                    scan_commands_extra_arguments=extra,
                )
            ]
        )
        (result,) = scanner.get_results()
        line = {
            **spec,
            "elapsed_s": round(time.monotonic() - started, 3),
            "error": None,
            "sslyze": ServerScanResultAsJson.model_validate(result).model_dump(mode="json"),
        }
        if result.scan_status == ServerScanStatusEnum.COMPLETED:
            return line | {"status": "completed", "trust": _trust(result, store_path, scanned_at)}
        trace = result.connectivity_error_trace
        kind = trace.exc_type.__name__ if trace and trace.exc_type else "ConnectionError"
        detail = "".join(trace.format_exception_only()).strip() if trace else kind
        status = "no_tls" if kind == "ServerRejectedOpportunisticTlsNegotiation" else "error"
        return line | {"status": status, "error": detail}

    with ThreadPoolExecutor(max_workers=len(request["endpoints"])) as pool:
        futures = {pool.submit(audit_one, spec): spec for spec in request["endpoints"]}
        try:
            for future in as_completed(futures, timeout=request["endpoint_timeout"]):
                yield (
                    future.result()
                    if future.exception() is None
                    else {
                        **futures[future],
                        "status": "error",
                        "error": f"{type(future.exception()).__name__}: {future.exception()}",
                    }
                )
        except FuturesTimeout:
            for future, spec in futures.items():
                if not future.done():
                    yield {
                        **spec,
                        "status": "error",
                        "error": (
                            f"timeout: no TLS audit result within {request['endpoint_timeout']} s "
                            "(tarpit or very slow service)"
                        ),
                    }
            _exit_now()


def _trust(result: Any, store_path: Path, scanned_at: datetime) -> list[dict[str, Any]]:
    """Whether each certificate chain the server sent leads to the trust store, judged on
    its own: at a time inside the leaf's validity and for a name the leaf carries, so an
    expired or misnamed certificate is reported by its own check, not as 'untrusted'."""
    from cryptography import x509
    from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

    attempt = result.scan_result.certificate_info
    if attempt.result is None:
        return []
    store = Store(x509.load_pem_x509_certificates(store_path.read_bytes()))
    verdicts = []
    for deployment in attempt.result.certificate_deployments:
        leaf, *intermediates = deployment.received_certificate_chain
        when = min(max(scanned_at, leaf.not_valid_before_utc), leaf.not_valid_after_utc)
        try:
            sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except x509.ExtensionNotFound:
            verdicts.append({"trusted": False, "error": "leaf certificate has no subjectAltName"})
            continue
        names = sans.get_values_for_type(x509.DNSName)
        ips = sans.get_values_for_type(x509.IPAddress)
        subject = (
            x509.DNSName(names[0].replace("*.", "wildcard.", 1))
            if names
            else (x509.IPAddress(ips[0]) if ips else None)
        )
        if subject is None:
            verdicts.append({"trusted": False, "error": "subjectAltName has no DNS name or IP"})
            continue
        verifier = PolicyBuilder().store(store).time(when).build_server_verifier(subject)
        try:
            chain = verifier.verify(leaf, intermediates)
        except VerificationError as exc:
            verdicts.append({"trusted": False, "error": str(exc)})
        else:
            verdicts.append(
                {
                    "trusted": True,
                    "error": None,
                    "chain": [c.subject.rfc4514_string() for c in chain],
                }
            )
    return verdicts


def _exit_now() -> None:
    """Leave at once, abandoning sslyze threads still stuck on a tarpit (a normal exit
    would wait for them)."""
    sys.stdout.flush()
    os._exit(0)


def _main() -> None:
    request = json.loads(sys.stdin.read())
    for line in _audit(request):
        print(json.dumps(line, sort_keys=True), flush=True)


if __name__ == "__main__":
    _main()
