"""The fault peers of tests/lab/faults.py misbehave exactly as intended, seen by plain
clients (OpenSSH's ``ssh``, a raw socket) from the lab's scanner namespace: nothing of
hygie runs here, so a failure of test_fault_lab.py is hygie's, not the peer's."""

from __future__ import annotations

import errno
import json
import shlex
import struct
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.lab import faults, skip_unless_lab
from tests.lab.faults import FaultLab
from tests.lab.services.fault_ssh_kex_close import ALGORITHMS, IDENTIFICATION

pytestmark = pytest.mark.lab

#: Connects to ADDRESS PORT within WAIT seconds, optionally sends HEX, then reads until EOF
#: or WAIT seconds of silence; prints what happened as JSON.
WIRE_PROBE = """\
import json, socket, sys, time
address, port, wait, send = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
start, result, data = time.monotonic(), {}, b""
try:
    sock = socket.create_connection((address, port), timeout=wait)
except OSError as exc:
    result["connect_errno"] = exc.errno
else:
    with sock:
        sock.sendall(bytes.fromhex(send))
        try:
            while chunk := sock.recv(65536):
                data += chunk
            result["eof"] = True
        except TimeoutError:
            result["eof"] = False
result |= {"received": data.hex(), "seconds": time.monotonic() - start}
print(json.dumps(result))
"""


@pytest.fixture(scope="module")
def fl(tmp_path_factory) -> Iterator[FaultLab]:
    skip_unless_lab()
    with faults.fault_lab(faults.fault_hosts(), tmp_path_factory.mktemp("fault-peers")) as lab:
        yield lab


def wire(fl: FaultLab, address: str, port: int, wait: float, send: bytes = b"") -> dict:
    argv = [sys.executable, "-c", WIRE_PROBE, address, str(port), str(wait), send.hex()]
    proc = fl.lab.run_in_scanner(argv, timeout=wait * 3 + 10)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    result["received"] = bytes.fromhex(result["received"])
    return result


def ssh(
    fl: FaultLab,
    host: str,
    command: str,
    *,
    key=None,
    known_hosts=None,
    options=(),
    text=True,
    timeout: float = 30,
) -> subprocess.CompletedProcess:
    """``ssh`` as the lab's own client runs it, with a credential changed or ``options``
    first (ssh keeps the first value of an option)."""
    argv = fl.lab.ssh_argv(host, command)
    if key is not None:
        argv[argv.index("-i") + 1] = str(key)
    if known_hosts is not None:
        i = argv.index(f"UserKnownHostsFile={fl.lab.known_hosts_path}")
        argv[i] = f"UserKnownHostsFile={known_hosts}"
    argv[1:1] = options
    return fl.lab.run_in_scanner(argv, timeout=timeout, text=text)


def test_tarpit_accepts_and_never_speaks(fl):
    result = wire(fl, fl.lab.address(faults.WIRE_HOST), faults.TARPIT_PORT, wait=3)
    assert "connect_errno" not in result and result["eof"] is False
    assert result["received"] == b""


def _kexinit_algorithms(data: bytes) -> tuple[str, ...]:
    """The ten name-lists of the first binary packet after the identification line."""
    _, _, packet = data.partition(b"\r\n")
    length, padding = struct.unpack(">IB", packet[:5])
    payload = packet[5 : 4 + length - padding]
    assert payload[0] == 20, payload[:1]  # SSH_MSG_KEXINIT
    names, offset = [], 17  # message number + 16-byte cookie
    for _ in range(10):
        (size,) = struct.unpack(">I", payload[offset : offset + 4])
        names.append(payload[offset + 4 : offset + 4 + size].decode())
        offset += 4 + size
    return tuple(names)


def test_kex_peer_sends_a_valid_banner_and_kexinit_then_closes(fl):
    address = fl.lab.address(faults.WIRE_HOST)
    client_kexinit = bytes([0, 0, 0, 12, 10, 20]) + bytes(10)
    result = wire(
        fl, address, faults.KEX_CLOSE_PORT, wait=10, send=b"SSH-2.0-probe\r\n" + client_kexinit
    )
    assert result["eof"] is True and result["seconds"] < 5
    assert result["received"].startswith(IDENTIFICATION)
    assert _kexinit_algorithms(result["received"]) == ALGORITHMS
    proc = ssh(
        fl,
        faults.WIRE_HOST,
        "true",
        options=("-p", str(faults.KEX_CLOSE_PORT), "-o", "LogLevel=INFO"),
    )
    assert proc.returncode == 255 and "Connection closed by" in proc.stderr, proc.stderr
    log = fl.lab.host_dir(faults.WIRE_HOST) / "var-up" / faults.KEX_CLOSE_LOG.removeprefix("/var/")
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    assert entries[0]["event"] == "ready" and entries[-1]["event"] == "closed"
    assert entries[-1]["client"].startswith("SSH-2.0-OpenSSH") and entries[-1]["client_kexinit"]


def test_closed_port_refuses(fl):
    result = wire(fl, fl.lab.address(faults.WIRE_HOST), faults.CLOSED_PORT, wait=3)
    assert result["connect_errno"] == errno.ECONNREFUSED and result["seconds"] < 1


def test_unused_address_has_no_route(fl):
    """Nobody answers ARP for it: the connect fails with EHOSTUNREACH in ~3 s."""
    result = wire(fl, fl.lab.unused_address(), 22, wait=10)
    assert result["connect_errno"] == errno.EHOSTUNREACH and result["seconds"] < 9.5


def test_changed_host_key_is_refused_by_openssh(fl):
    proc = ssh(fl, faults.HOST_KEY_CHANGED, "true", known_hosts=fl.known_hosts)
    assert proc.returncode == 255 and "REMOTE HOST IDENTIFICATION HAS CHANGED" in proc.stderr
    assert ssh(fl, faults.HOST_KEY_CHANGED, "true").returncode == 0  # the lab's own file


def test_unrelated_key_is_refused(fl):
    proc = ssh(fl, "wrong-key", "true", key=fl.other_key)
    assert proc.returncode == 255 and "Permission denied (publickey" in proc.stderr
    assert ssh(fl, "wrong-key", "true").returncode == 0


def test_sudo_wants_a_password(fl):
    proc = ssh(fl, "sudo-password", "sudo -n id -u")
    assert proc.returncode == 1 and "a password is required" in proc.stderr, proc.stderr


def test_flood_prints_100_mib_whatever_is_asked(fl):
    """Into a file, not this process: 100 MiB in pytest's memory would also count in the
    peak RSS that test_fault_lab.py measures (Linux carries it across fork and exec)."""
    out = fl.workdir / "flood.out"
    argv = fl.lab.ssh_argv("flood", "id -u")
    proc = fl.lab.run_in_scanner(["sh", "-c", f'{shlex.join(argv)} > "$0"', str(out)], timeout=120)
    try:
        assert proc.returncode == 0 and out.stat().st_size == faults.FLOOD_BYTES
        with out.open("rb") as fh:
            assert fh.read(35) == b"unrelated output of a ForceCommand\n"
    finally:
        out.unlink(missing_ok=True)


def test_hang_never_answers(fl):
    with pytest.raises(subprocess.TimeoutExpired) as hung:
        ssh(fl, "hang", "echo answered", timeout=5)
    assert not hung.value.stdout


def test_dropped_session_ends_mid_output_without_exit_status(fl):
    proc = ssh(fl, "dropped", "echo real; yes real | head -c 1000000", text=False)
    assert proc.returncode == 255, proc.stderr  # ssh's "connection lost", not an exit status
    assert b"closed by remote host" in proc.stderr
    assert proc.stdout.startswith(b"real\nreal\n")
    assert len(proc.stdout) == faults.DROP_AFTER  # sshd had a second to forward it all


def test_chroot_has_only_dash_and_coreutils(fl):
    tools = "awk sed grep find dpkg-query rpm sudo bash"
    proc = ssh(
        fl,
        "chroot",
        f"ls /; ls /dev; id -u; for t in {tools}; do "
        "command -v $t >/dev/null || echo missing:$t; done",
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.split()
    assert lines[:7] == ["bin", "dev", "lib", "lib64", "usr", "null", "2000"]
    assert lines[7:] == [f"missing:{t}" for t in tools.split()]


def test_hostile_strings_are_where_an_audit_reads(fl):
    version = wire(fl, fl.lab.address("hostile"), 22, wait=3)["received"]
    assert faults.VERSION_PAYLOAD.encode() in version.partition(b"\r\n")[0]
    proc = ssh(
        fl,
        "hostile",
        "cat /etc/passwd /etc/login.defs /etc/motd; sudo -n id -u",
        options=("-o", "LogLevel=INFO"),
        text=False,
    )
    assert proc.returncode == 0 and proc.stdout.endswith(b"\n0\n"), proc.stderr
    assert faults.HTML.encode() in proc.stderr  # the Banner, /etc/issue.net
    payload = faults.PAYLOAD.encode()
    assert proc.stdout.count(payload) == 4 and faults.NON_UTF8 in proc.stdout
    assert proc.stdout.count(faults.LONG_LINE.encode()) == 2
    dpkg = fl.lab.run_in_host("hostile", ["dpkg-query", "-W", "hygie-lab-hostile"], timeout=30)
    assert (dpkg.returncode, dpkg.stdout, dpkg.stderr) == (0, "hygie-lab-hostile\t1.0\n", "")
