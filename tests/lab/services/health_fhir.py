"""Lab FHIR-like HTTP endpoint under ``/fhir`` that logs every request.

``--mode open``: anonymous reads allowed (``Patient?_summary=count`` answers a Bundle with
``total``), no SMART configuration. ``--mode protected``: ``metadata`` declares SMART on
FHIR, every resource read without a bearer token gets 401, and
``/fhir/.well-known/smart-configuration`` names HTTPS authorization and token endpoints.
HTTPS with ``--tls CERT KEY``.
"""

from __future__ import annotations

import argparse
import json
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

BASE = "/fhir"
FHIR_JSON = "application/fhir+json"
SMART_CODING = {
    "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
    "code": "SMART-on-FHIR",
}


def capability(protected: bool) -> dict:
    rest = {"mode": "server", "resource": [{"type": "Patient"}]}
    if protected:
        rest["security"] = {"service": [{"coding": [SMART_CODING]}]}
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "kind": "instance",
        "fhirVersion": "4.0.1",
        "format": ["json"],
        "software": {"name": "hygie-lab-fhir", "version": "1.0"},
        "rest": [rest],
    }


def smart_configuration(origin: str) -> dict:
    return {
        "issuer": f"{origin}/auth",
        "authorization_endpoint": f"{origin}/auth/authorize",
        "token_endpoint": f"{origin}/auth/token",
        "capabilities": ["launch-ehr", "client-confidential-asymmetric", "context-ehr-patient"],
    }


def answer(path: str, protected: bool, origin: str) -> tuple[int, dict, str, dict[str, str]]:
    """Status, JSON body, content type and extra headers of the reply to a GET of ``path``."""
    if path == f"{BASE}/metadata":
        return 200, capability(protected), FHIR_JSON, {}
    if path == f"{BASE}/.well-known/smart-configuration" and protected:
        return 200, smart_configuration(origin), "application/json", {}
    if path == f"{BASE}/Patient" and protected:
        challenge = {"WWW-Authenticate": 'Bearer realm="lab"'}
        return 401, {"resourceType": "OperationOutcome"}, FHIR_JSON, challenge
    if path == f"{BASE}/Patient":
        return 200, {"resourceType": "Bundle", "type": "searchset", "total": 42}, FHIR_JSON, {}
    return 404, {"resourceType": "OperationOutcome"}, FHIR_JSON, {}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--mode", choices=("open", "protected"), required=True)
    parser.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    parser.add_argument("--log", required=True)
    args = parser.parse_args()
    protected = args.mode == "protected"
    lock = threading.Lock()

    def log(**entry) -> None:
        with lock, open(args.log, "a") as out:
            out.write(json.dumps({"t": time.time(), "port": args.port, **entry}) + "\n")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            log(
                event="request",
                method="GET",
                path=self.path,
                authorization="Authorization" in self.headers,
                agent=self.headers.get("User-Agent", ""),
            )
            origin = f"https://{self.headers.get('Host', 'localhost')}"
            self.reply(*answer(urlsplit(self.path).path, protected, origin))

        def reply(self, status: int, doc: dict, ctype: str, extra: dict[str, str]) -> None:
            body = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for key, value in extra.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args) -> None:  # our own JSON log only
            pass

    server = ThreadingHTTPServer(("0.0.0.0", args.port), Handler)
    if args.tls:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*args.tls)
        server.socket = context.wrap_socket(  # handshake in the handler thread
            server.socket, server_side=True, do_handshake_on_connect=False
        )
    log(event="ready")
    server.serve_forever()


if __name__ == "__main__":
    main()
