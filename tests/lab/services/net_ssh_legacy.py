"""Lab SSH server in the style of a legacy appliance: paramiko without the strict
key-exchange countermeasure (Terrapin-exposed with its EtM MACs), CBC ciphers, MD5/SHA-1
MACs, and password authentication offered (every password is refused)."""

from __future__ import annotations

import argparse
import socket
import threading

import paramiko


class Server(paramiko.ServerInterface):
    def get_allowed_auths(self, username: str) -> str:
        return "password"

    def check_auth_password(self, username: str, password: str) -> int:
        return paramiko.AUTH_FAILED


def session(conn: socket.socket, key: paramiko.PKey) -> None:
    transport = paramiko.Transport(conn, strict_kex=False)
    transport.add_server_key(key)
    try:
        transport.start_server(server=Server())
        transport.accept(timeout=20)
    except (paramiko.SSHException, EOFError, OSError):
        pass
    finally:
        transport.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=2200)
    port = parser.parse_args().port
    key = paramiko.RSAKey.generate(2048)
    server = socket.create_server(("0.0.0.0", port), reuse_port=True)
    while True:
        conn, _ = server.accept()
        threading.Thread(target=session, args=(conn, key), daemon=True).start()


if __name__ == "__main__":
    main()
