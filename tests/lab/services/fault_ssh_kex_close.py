"""Lab SSH peer that dies in the key exchange: it sends a valid identification line and a
valid KEXINIT, waits for the client's identification line and KEXINIT, then closes the
connection without a word (a crashing or rate-limiting sshd, a middlebox cutting SSH).

A scanner must report this as a key-exchange failure, not as "no banner" and never as an
assessed host. The log (JSON lines) says per connection what the client sent, so a test
can prove the peer reached the point where only the key exchange was left.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import struct
import threading
import time

IDENTIFICATION = b"SSH-2.0-OpenSSH_9.2p1 hygie-lab-kex-close\r\n"
MSG_KEXINIT = 20
#: Algorithms both paramiko and OpenSSH implement (paramiko knows curve25519 only by its
#: libssh.org name): the KEXINIT is acceptable, so the client goes on to the key exchange
#: proper before the peer vanishes.
ALGORITHMS = (
    "curve25519-sha256,curve25519-sha256@libssh.org",  # key exchange
    "ssh-ed25519",  # host key
    "aes128-ctr", "aes128-ctr",  # ciphers, client to server then server to client
    "hmac-sha2-256", "hmac-sha2-256",  # MACs
    "none", "none",  # compression
    "", "",  # languages
)  # fmt: skip
READ_LIMIT = 64 * 1024
READ_TIMEOUT = 10.0


def kexinit_packet() -> bytes:
    """An unencrypted binary packet (RFC 4253 section 6) carrying SSH_MSG_KEXINIT."""
    payload = bytes([MSG_KEXINIT]) + os.urandom(16)
    payload += b"".join(struct.pack(">I", len(n)) + n.encode() for n in ALGORITHMS)
    payload += b"\x00" + struct.pack(">I", 0)  # first_kex_packet_follows, reserved
    padding = 8 - (5 + len(payload)) % 8
    padding += 8 if padding < 4 else 0
    return struct.pack(">IB", 1 + len(payload) + padding, padding) + payload + bytes(padding)


def client_hello(conn: socket.socket) -> tuple[bytes, bool]:
    """The client's identification line and whether its first packet was a KEXINIT."""
    data = b""
    deadline = time.monotonic() + READ_TIMEOUT
    while len(data) < READ_LIMIT and time.monotonic() < deadline:
        line, sep, rest = data.partition(b"\r\n")
        if sep and len(rest) >= 6:
            return line, rest[5] == MSG_KEXINIT
        conn.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            chunk = conn.recv(4096)
        except OSError:
            break
        if not chunk:
            break
        data += chunk
    return data.partition(b"\r\n")[0][:200], False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log", required=True)
    args = parser.parse_args()
    lock = threading.Lock()

    def log(**entry: object) -> None:
        with lock, open(args.log, "a") as out:
            out.write(json.dumps({"t": time.time(), "port": args.port, **entry}) + "\n")

    def serve(conn: socket.socket) -> None:
        with conn:
            try:
                conn.sendall(IDENTIFICATION + kexinit_packet())
            except OSError as exc:  # the client left first: nothing to prove on this one
                log(event="client gone", error=str(exc))
                return
            banner, kexinit = client_hello(conn)
        log(event="closed", client=banner.decode("ascii", "replace"), client_kexinit=kexinit)

    server = socket.create_server(("0.0.0.0", args.port), backlog=64)
    log(event="ready")
    while True:
        conn, _ = server.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    main()
