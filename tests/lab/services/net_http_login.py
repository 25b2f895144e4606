"""Lab plain-HTTP server: ``--mode login`` serves a password form on ``/`` (the weakness
hygie must report); ``--mode redirect`` answers every request with a 301 to https://.

It keeps http.server's own ``Server:`` header, which nmap's service detection knows
(an unknown header makes nmap try every probe, each waiting for its timeout)."""

from __future__ import annotations

import argparse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOGIN_PAGE = b"""<!doctype html><html><head><title>PACS web viewer</title></head><body>
<form method="post" action="/login"><input name="user" type="text">
<input name="password" type="password"><button>Sign in</button></form></body></html>
"""


def handler(mode: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if mode == "redirect":
                host = (self.headers.get("Host") or "localhost").split(":")[0]
                self.send_response(301)
                self.send_header("Location", f"https://{host}{self.path}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(LOGIN_PAGE)))
            self.end_headers()
            self.wfile.write(LOGIN_PAGE)

        def log_message(self, format: str, *args) -> None:
            print(f"{self.address_string()} {format % args}", flush=True)

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=80)
    parser.add_argument("--mode", choices=("login", "redirect"), required=True)
    args = parser.parse_args()
    ThreadingHTTPServer(("0.0.0.0", args.port), handler(args.mode)).serve_forever()


if __name__ == "__main__":
    main()
