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
SMART_CODING = {
    "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
    "code": "SMART-on-FHIR",
}


def capability(protected: bool) -> dict:
    rest = {"mode": "server", "resource": [{"type": "Patient"}]}
    if protected:
        rest["security"] = {"service": [{"coding": [SMART_CODING]}]}
    return {"resourceType": "CapabilityStatement", "status": "active", "kind": "instance",
            "fhirVersion": "4.0.1", "format": ["json"],
            "software": {"name": "hygie-lab-fhir", "version": "1.0"}, "rest": [rest]}  # fmt: skip


def smart_configuration(origin: str) -> dict:
    return {
        "issuer": f"{origin}/auth",
        "authorization_endpoint": f"{origin}/auth/authorize",
        "token_endpoint": f"{origin}/auth/token",
        "capabilities": ["launch-ehr", "client-confidential-asymmetric", "context-ehr-patient"],
    }


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
            log(event="request", method="GET", path=self.path,
                authorization="Authorization" in self.headers,
                agent=self.headers.get("User-Agent", ""))  # fmt: skip
            path = urlsplit(self.path).path
            origin = f"https://{self.headers.get('Host', 'localhost')}"
            if path == f"{BASE}/metadata":
                self.reply(200, capability(protected))
            elif path == f"{BASE}/.well-known/smart-configuration" and protected:
                self.reply(200, smart_configuration(origin), "application/json")
            elif path == f"{BASE}/Patient" and protected:
                self.reply(401, {"resourceType": "OperationOutcome"},
                           extra={"WWW-Authenticate": 'Bearer realm="lab"'})  # fmt: skip
            elif path == f"{BASE}/Patient":
                self.reply(200, {"resourceType": "Bundle", "type": "searchset", "total": 42})
            else:
                self.reply(404, {"resourceType": "OperationOutcome"})

        def reply(self, status: int, doc: dict, ctype: str = "application/fhir+json",
                  extra: dict | None = None) -> None:  # fmt: skip
            body = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for key, value in (extra or {}).items():
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
