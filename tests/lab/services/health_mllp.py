"""Lab HL7 v2 MLLP listener that logs what each connection sent.

Cleartext by default, behind TLS with ``--tls CERT KEY``; ``--tarpit`` accepts connections
and never reads or answers (a hung interface engine). The log says, per connection, how
many bytes came in and whether any of them looked like HL7 (an MLLP start block followed
by ``MSH``): the scanner must never send an HL7 message.
"""

from __future__ import annotations

import argparse
import json
import socket
import ssl
import threading
import time

MLLP_START = b"\x0bMSH"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    parser.add_argument("--tarpit", action="store_true")
    parser.add_argument("--log", required=True)
    args = parser.parse_args()
    lock = threading.Lock()

    def log(**entry) -> None:
        with lock, open(args.log, "a") as out:
            out.write(json.dumps({"t": time.time(), "port": args.port, **entry}) + "\n")

    context = None
    if args.tls:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*args.tls)

    def serve(conn: socket.socket) -> None:
        data, tls = b"", "none"
        conn.settimeout(10)
        try:
            if context is not None:
                conn = context.wrap_socket(conn, server_side=True)
                tls = conn.version() or "?"
            while chunk := conn.recv(4096):
                data += chunk
        except OSError as exc:
            tls = tls if context is None or tls != "none" else f"failed: {exc}"
        finally:
            conn.close()
        log(event="connection", bytes=len(data), hl7=MLLP_START in data or b"MSH|" in data, tls=tls)

    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("0.0.0.0", args.port))
    server.listen(16)
    log(event="ready")
    held = []
    while True:
        conn, _ = server.accept()
        if args.tarpit:
            held.append(conn)
            log(event="held")
        else:
            threading.Thread(target=serve, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    main()
