"""Lab tarpit: accepts TCP connections on the given ports and never sends a byte."""

from __future__ import annotations

import argparse
import selectors
import socket


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("ports", type=int, nargs="+")
    ports = parser.parse_args().ports
    selector = selectors.DefaultSelector()
    for port in ports:
        selector.register(socket.create_server(("0.0.0.0", port), backlog=64), selectors.EVENT_READ)
    held = []
    while True:
        for key, _ in selector.select():
            held.append(key.fileobj.accept()[0])  # kept open, never answered


if __name__ == "__main__":
    main()
