"""SSH on the wire: KEXINIT reading against loopback servers (a real one built with
paramiko's Message, and a tarpit), and the checks on facts recorded in the lab."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from pathlib import Path

import paramiko
import pytest

from hygie.facts.ssh_wire import (
    KEXINIT_FIELDS,
    STRICT_KEX_SERVER,
    parse_kexinit,
    parse_ssh_wire,
    read_kexinit,
)
from hygie.model import Status
from tests.unit.conftest import run_check

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "network"
CHECKS = (
    "net_ssh_weak_kex",
    "net_ssh_weak_ciphers",
    "net_ssh_weak_macs",
    "net_ssh_weak_host_key_algorithms",
    "net_ssh_terrapin",
    "net_ssh_password_auth",
)


def kexinit(
    kex=("curve25519-sha256",),
    ciphers=("aes256-gcm@openssh.com",),
    macs=("hmac-sha2-256",),
    host_keys=("ssh-ed25519",),
) -> bytes:
    msg = paramiko.Message()
    msg.add_byte(bytes([20]))
    msg.add_bytes(os.urandom(16))
    lists = {
        "kex_algorithms": kex,
        "server_host_key_algorithms": host_keys,
        "encryption_algorithms_client_to_server": ciphers,
        "encryption_algorithms_server_to_client": ciphers,
        "mac_algorithms_client_to_server": macs,
        "mac_algorithms_server_to_client": macs,
        "compression_algorithms_client_to_server": ("none",),
        "compression_algorithms_server_to_client": ("none",),
    }
    for name in KEXINIT_FIELDS:
        msg.add_list(list(lists.get(name, ())))
    msg.add_boolean(False)
    msg.add_int(0)
    return msg.asbytes()


def wire_fact(*endpoints: dict) -> bytes:
    return json.dumps({"address": "192.0.2.7", "endpoints": list(endpoints)}).encode()


def endpoint(port=22, methods=("publickey",), **lists) -> dict:
    return {
        "port": port,
        "banner": "SSH-2.0-Test",
        "kexinit": kexinit(**lists).hex(),
        "auth_methods": list(methods),
    }


@pytest.fixture
def loopback_server():
    """A one-shot server on 127.0.0.1 that runs ``behaviour(conn)``."""
    servers = []

    def start(behaviour):
        sock = socket.create_server(("127.0.0.1", 0))
        servers.append(sock)

        def serve():
            conn, _ = sock.accept()
            with conn:
                behaviour(conn)

        threading.Thread(target=serve, daemon=True).start()
        return sock.getsockname()[1]

    yield start
    for s in servers:
        s.close()


def test_kexinit_is_read_after_preamble_lines(loopback_server):
    payload = kexinit(kex=("curve25519-sha256", STRICT_KEX_SERVER))

    def server(conn):
        conn.sendall(b"Welcome to the PACS gateway\r\nSSH-2.0-Device_1.0\r\n")
        padding = 8 - (len(payload) + 5) % 8 + 8
        packet = bytes([padding]) + payload + b"\0" * padding
        conn.sendall(len(packet).to_bytes(4, "big") + packet)
        conn.recv(100)

    port = loopback_server(server)
    banner, raw = read_kexinit("127.0.0.1", port, time.monotonic() + 5)
    assert banner == "SSH-2.0-Device_1.0"
    assert parse_kexinit(raw)["kex_algorithms"] == ["curve25519-sha256", STRICT_KEX_SERVER]


def test_a_tarpit_costs_no_more_than_the_deadline(loopback_server):
    port = loopback_server(lambda conn: time.sleep(3))
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        read_kexinit("127.0.0.1", port, time.monotonic() + 0.5)
    assert time.monotonic() - started < 1.5


def test_weak_lab_host_fails_every_wire_check():
    facts = {"ssh_wire": (FIXTURES / "weak.ssh_wire.json").read_bytes()}
    for check_id in CHECKS:
        verdict = run_check(check_id, facts)
        assert verdict.status == Status.FAIL, (check_id, verdict.message)
        assert verdict.evidence[0].fact == "ssh_wire"
    terrapin = run_check("net_ssh_terrapin", facts).message
    assert "2200/tcp" in terrapin and "22/tcp" not in terrapin  # OpenSSH has strict kex


def test_hardened_lab_host_passes_every_wire_check():
    facts = {"ssh_wire": (FIXTURES / "good.ssh_wire.json").read_bytes()}
    for check_id in CHECKS:
        verdict = run_check(check_id, facts)
        assert verdict.status == Status.PASS, (check_id, verdict.message)


def test_unreadable_ports_are_errors_and_no_ssh_is_not_applicable():
    facts = {"ssh_wire": (FIXTURES / "tarpit.ssh_wire.json").read_bytes()}
    verdict = run_check("net_ssh_weak_ciphers", facts)
    assert verdict.status == Status.ERROR and "2222/tcp" in verdict.message
    none = run_check("net_ssh_terrapin", {"ssh_wire": wire_fact()})
    assert none.status == Status.NOT_APPLICABLE


@pytest.mark.parametrize(
    ("ciphers", "macs", "kex", "exposed"),
    [
        (("chacha20-poly1305@openssh.com",), ("hmac-sha2-256",), ("curve25519-sha256",), True),
        (("aes128-ctr",), ("hmac-sha2-256-etm@openssh.com",), ("curve25519-sha256",), True),
        (
            ("chacha20-poly1305@openssh.com",),
            ("hmac-sha2-256-etm@openssh.com",),
            ("curve25519-sha256", STRICT_KEX_SERVER),
            False,
        ),
        (("aes256-gcm@openssh.com",), ("hmac-sha2-256",), ("curve25519-sha256",), False),
    ],
)
def test_terrapin_needs_a_vulnerable_mode_without_strict_kex(ciphers, macs, kex, exposed):
    facts = {"ssh_wire": wire_fact(endpoint(ciphers=ciphers, macs=macs, kex=kex))}
    verdict = run_check("net_ssh_terrapin", facts)
    assert verdict.status == (Status.FAIL if exposed else Status.PASS), verdict.message


def test_password_methods_and_the_keyboard_interactive_switch():
    kbd = {"ssh_wire": wire_fact(endpoint(methods=("publickey", "keyboard-interactive")))}
    assert run_check("net_ssh_password_auth", kbd).status == Status.FAIL
    verdict = run_check("net_ssh_password_auth", kbd, flag_keyboard_interactive=False)
    assert verdict.status == Status.PASS
    anyone = {"ssh_wire": wire_fact(endpoint(methods=("none",)))}
    assert run_check("net_ssh_password_auth", anyone).status == Status.FAIL


def test_banner_alone_never_decides():
    """An old-looking banner with strong algorithms passes: distributions backport."""
    old = endpoint(kex=("curve25519-sha256", STRICT_KEX_SERVER))
    old["banner"] = "SSH-2.0-OpenSSH_7.4"
    facts = {"ssh_wire": wire_fact(old)}
    assert all(run_check(c, facts).status == Status.PASS for c in CHECKS)
    assert parse_ssh_wire(facts["ssh_wire"])[0].banner == "SSH-2.0-OpenSSH_7.4"
