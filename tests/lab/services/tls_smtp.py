"""Lab SMTP server offering STARTTLS with a good TLS configuration (TLS 1.2+, ECDHE with
AEAD suites only): the STARTTLS endpoint of the TLS lab. It answers the ESMTP dialogue
far enough for a client to upgrade, then closes; it never relays anything.

Usage: tls_smtp.py PORT CERT KEY NAME
"""

from __future__ import annotations

import socket
import socketserver
import ssl
import sys


def context(cert: str, key: str) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers("ECDHE+AESGCM:ECDHE+CHACHA20")
    ctx.load_cert_chain(cert, key)
    return ctx


def serve(port: int, ctx: ssl.SSLContext, name: str) -> None:
    class Handler(socketserver.StreamRequestHandler):
        timeout = 30

        def handle(self) -> None:
            self.wfile.write(f"220 {name} ESMTP lab\r\n".encode())
            for line in self.rfile:
                verb = line.strip().upper().split(b" ")[0]
                if verb in (b"EHLO", b"HELO"):
                    self.wfile.write(f"250-{name}\r\n250 STARTTLS\r\n".encode())
                elif verb == b"STARTTLS":
                    self.wfile.write(b"220 2.0.0 Ready to start TLS\r\n")
                    self.wfile.flush()
                    try:
                        with ctx.wrap_socket(self.connection, server_side=True) as tls:
                            tls.settimeout(10)
                            tls.recv(1024)
                    except (OSError, ssl.SSLError):
                        pass
                    return
                elif verb == b"QUIT":
                    self.wfile.write(b"221 bye\r\n")
                    return
                else:
                    self.wfile.write(b"502 5.5.2 not implemented\r\n")

    class Server(socketserver.ThreadingTCPServer):
        daemon_threads = True
        allow_reuse_address = True
        address_family = socket.AF_INET

    with Server(("0.0.0.0", port), Handler) as server:
        server.serve_forever()


if __name__ == "__main__":
    port, cert, key, name = sys.argv[1:5]
    serve(int(port), context(cert, key), name)
