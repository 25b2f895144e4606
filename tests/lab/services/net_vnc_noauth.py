"""Lab VNC server that offers security type None (RFB 3.8, RFC 6143 §7.1-7.2): enough of
the handshake for nmap's service detection and its vnc-info script, then it hangs up."""

from __future__ import annotations

import argparse
import socket
import threading

SECURITY_NONE = 1


def session(conn: socket.socket) -> None:
    with conn:
        conn.settimeout(10)
        try:
            conn.sendall(b"RFB 003.008\n")
            if len(conn.recv(12)) < 12:
                return
            conn.sendall(bytes([1, SECURITY_NONE]))  # one security type offered: None
            if conn.recv(1) == bytes([SECURITY_NONE]):
                conn.sendall((0).to_bytes(4, "big"))  # SecurityResult OK
                conn.recv(1)  # ClientInit
        except OSError:
            return


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=5900)
    port = parser.parse_args().port
    server = socket.create_server(("0.0.0.0", port), reuse_port=True)
    while True:
        conn, _ = server.accept()
        threading.Thread(target=session, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    main()
