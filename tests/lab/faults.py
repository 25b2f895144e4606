"""Fault peers for issue 8 ("fail closed"): lab hosts that each break one step of an audit.

A scanner must turn every one of them into an ``error`` naming the host and the true cause,
never into a pass. Each peer is real: OpenSSH's ``sshd`` with one setting bent
(``ForceCommand``, ``ChrootDirectory``, sudoers, a host key) where OpenSSH can do it, a
small socket service of ``services/`` otherwise. Nothing here knows about hygie.

================  =====================================================================
``fault-wire``    port 2222: TCP accepted, never a byte (``services/net_tarpit.py``);
                  port 2223: SSH banner and KEXINIT, then close
                  (``services/fault_ssh_kex_close.py``); port 2224: nothing listens (RST)
``host-key``      a plain sshd whose key in :func:`forged_known_hosts` is another key
``wrong-key``     a plain sshd; audit it with :func:`unrelated_key` (never authorized)
``sudo-password`` sudoers ``auditor ALL=(ALL) ALL``: sudo wants a password
``flood``         ``ForceCommand`` printing 100 MiB of unrelated text, whatever was asked
``hang``          ``ForceCommand`` that sleeps forever without a byte
``dropped``       ``ForceCommand`` that runs the real command, forwards its first 64 KiB,
                  then kills its own sshd session process: no exit status, no channel close
``chroot``        ``ChrootDirectory`` holding only dash (as /bin/sh) and coreutils
``hostile``       a normal host whose files carry :data:`PAYLOAD` (terminal escapes, bidi
                  override, HTML, template syntax), a 100 kB line and non-UTF-8 bytes
================  =====================================================================

The unreachable peer needs no host: ``Lab.unused_address()`` has nobody behind it, so the
scanner namespace's ARP query fails and the connect gets EHOSTUNREACH.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from . import hostfs, nsutil
from .hostfs import AUDITOR, AUDITOR_UID
from .netlab import MAX_HOSTS, Lab, LabHost, real_file
from .nsutil import LabError

SERVICES = Path(__file__).resolve().parent / "services"
KEX_CLOSE_LOG = "/var/log/hygie-lab/kex-close.jsonl"

WIRE_HOST = "fault-wire"
TARPIT_PORT = 2222
KEX_CLOSE_PORT = 2223
CLOSED_PORT = 2224
HOST_KEY_CHANGED = "host-key"

FLOOD_BYTES = 100 << 20
DROP_AFTER = 64 << 10
CHROOT = "/var/lib/hygie-lab-chroot"

#: Hosts that are never assessed only need one cheap host key (RSA 3072 costs ~1 s each).
ED25519_ONLY = [("ed25519", 0)]


def service(script: str, args: str) -> str:
    """A ``daemons`` entry running ``services/<script>`` with the test's interpreter."""
    return f"{sys.executable} {SERVICES / script} {args}"


def wire_faults() -> LabHost:
    """Three wire-level faults on one address: a tarpit, a key-exchange closer, a closed
    port (nothing listens on CLOSED_PORT, so the kernel answers with RST)."""
    return LabHost(
        WIRE_HOST,
        host_key_types=ED25519_ONLY,
        daemons=[
            service("net_tarpit.py", str(TARPIT_PORT)),
            service("fault_ssh_kex_close.py", f"--port {KEX_CLOSE_PORT} --log {KEX_CLOSE_LOG}"),
        ],
    )


def _force_command(name: str, command: str) -> LabHost:
    """A real sshd that runs ``command`` instead of whatever the auditor asks for."""
    return LabHost(
        name,
        host_key_types=ED25519_ONLY,
        sshd_extra=f"Match User {AUDITOR}\n    ForceCommand {command}\n",
    )


def flood() -> LabHost:
    return _force_command(
        "flood", f"yes 'unrelated output of a ForceCommand' | head -c {FLOOD_BYTES}"
    )


def hang() -> LabHost:
    return _force_command("hang", "exec sleep 2147483647")


def dropped() -> LabHost:
    """The real command's first DROP_AFTER bytes, a second for sshd to forward them, then
    SIGKILL to the session's sshd process ($PPID of the ForceCommand shell): the client
    sees the connection end mid-output, with neither exit status nor channel close."""
    return _force_command(
        "dropped",
        f'eval "$SSH_ORIGINAL_COMMAND" | {{ head -c {DROP_AFTER}; sleep 1; kill -KILL $PPID; }}',
    )


def fault_hosts() -> list[LabHost]:
    """Every fault peer of the module docstring's table (``hostile`` last)."""
    return [
        wire_faults(),
        LabHost(HOST_KEY_CHANGED, host_key_types=ED25519_ONLY),
        LabHost("wrong-key", host_key_types=ED25519_ONLY),
        LabHost("sudo-password", sudo="password", host_key_types=ED25519_ONLY),
        flood(),
        hang(),
        dropped(),
        chroot_host(),
        hostile(),
    ]


# --------------------------------------------------------------------------- chroot


def _coreutils() -> list[Path]:
    """The programs of Debian's coreutils package (``dpkg-query -L``)."""
    listing = subprocess.run(
        ["dpkg-query", "-L", "coreutils"], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    return [Path(p) for p in listing.splitlines() if re.fullmatch(r"/(usr/)?s?bin/[^/]+", p)]


_LDD_PATH = re.compile(r"(?:=>\s*)?(/\S+)\s+\(0x[0-9a-f]+\)")


def _libraries(programs: list[Path]) -> set[str]:
    """Every shared library (and the dynamic loader) the programs load, as ldd names them."""
    paths: set[str] = set()
    for program in programs:
        out = subprocess.run(
            ["ldd", str(program)], capture_output=True, text=True, timeout=30, check=False
        ).stdout
        paths.update(m[1] for m in _LDD_PATH.finditer(out))
    return paths


def chroot_files() -> dict[str, bytes]:
    """The tree under :data:`CHROOT`, as ``LabHost.files``: dash at /bin/sh, every coreutils
    program in /usr/bin, their shared libraries and the dynamic loader at the paths ldd
    reports (/lib/x86_64-linux-gnu/..., /lib64/ld-linux-x86-64.so.2). Regular files only:
    /dev/null is made by :func:`chroot_host`'s daemon (a device node cannot be planted).

    Not there on purpose: awk, sed, grep, find (findutils, gawk/mawk...), dpkg-query, rpm,
    sudo, bash. Directories are created 0755 root:root, as ChrootDirectory requires.
    """
    programs = {f"{CHROOT}/bin/sh": Path("/bin/dash").resolve()}
    programs |= {f"{CHROOT}/usr/bin/{p.name}": p.resolve() for p in _coreutils()}
    files = {path: source.read_bytes() for path, source in programs.items()}
    for library in _libraries(list(programs.values())):
        files[f"{CHROOT}{library}"] = Path(library).resolve().read_bytes()
    return files


def chroot_host() -> LabHost:
    """sshd chroots the auditor into :data:`CHROOT`; its login shell there is dash (the
    lab's default /bin/bash does not exist inside). Audit it with ``become: none``."""
    files: dict[str, str | bytes | None] = dict(chroot_files())
    files["/etc/passwd"] = real_file("/etc/passwd") + (
        f"{AUDITOR}:x:{AUDITOR_UID}:{AUDITOR_UID}:hygie lab auditor:/home/{AUDITOR}:/bin/sh\n"
    )
    return LabHost(
        "chroot",
        files=files,
        modes=dict.fromkeys((p for p in files if p.startswith(CHROOT)), "0755 root:root"),
        host_key_types=ED25519_ONLY,
        sshd_extra=f"ChrootDirectory {CHROOT}\n",
        daemons=[f"mkdir -p -m 0755 {CHROOT}/dev && mknod -m 0666 {CHROOT}/dev/null c 1 3"],
    )


# --------------------------------------------------------------------------- hostile strings

ANSI = "\x1b[2J\x1b[31m"
#: An OSC 8 hyperlink (terminals render "click" as a link); no ':' so it fits passwd fields.
OSC8 = "\x1b]8;;evil.example/x\x1b\\click\x1b]8;;\x1b\\"
BIDI = "\u202e"
HTML = "<script>alert(1)</script>"
#: Rendered by a template engine, this would read hyA49hyB (or fail on the bare raw tag).
TEMPLATE = "hyA{{ 7*7 }}hyB {% raw %}"
PAYLOAD = ANSI + OSC8 + BIDI + HTML + TEMPLATE
#: The SSH identification line must stay one UTF-8 line (sshd refuses CR).
VERSION_PAYLOAD = ANSI + BIDI + HTML + "hyA{{ 7*7 }}hyB"
NON_UTF8 = b"\xff\xfe\xc3\x28 caf\xe9"
LONG_LINE = "#" + "A" * 100_000
#: A uid-0 account with a hostile name: it must reach the report as a finding (so the
#: report's escaping is really exercised), not as markup.
HOSTILE_ACCOUNT = "root" + PAYLOAD


def _lines(*parts: str | bytes) -> bytes:
    return b"".join((p.encode() if isinstance(p, str) else p) + b"\n" for p in parts)


def hostile() -> LabHost:
    """Hostile strings in the files an audit reads (passwd, login.defs, dpkg status, sshd
    -T) and in what an SSH client shows (Banner, VersionAddendum, motd); still a host that
    is assessed normally, with sudo and the lab key."""
    status = real_file("/var/lib/dpkg/status").rstrip("\n")
    return LabHost(
        "hostile",
        sshd_extra=f"Banner /etc/issue.net\nVersionAddendum {VERSION_PAYLOAD}\n",
        files={
            "/etc/passwd": real_file("/etc/passwd").encode()
            + _lines(
                b"hostile:x:2101:2101:" + PAYLOAD.encode() + NON_UTF8 + b":/nonexistent:"
                b"/usr/sbin/nologin",
                f"{HOSTILE_ACCOUNT}:x:0:0::/root:/usr/sbin/nologin",
            ),
            "/etc/issue.net": _lines(PAYLOAD, NON_UTF8),
            "/etc/motd": _lines(PAYLOAD, LONG_LINE, NON_UTF8),
            "/etc/login.defs": real_file("/etc/login.defs").encode()
            + _lines(f"# {PAYLOAD}", LONG_LINE, b"# " + NON_UTF8),
            "/var/lib/dpkg/status": _lines(
                status,
                "",
                "Package: hygie-lab-hostile",
                "Status: install ok installed",
                "Priority: optional",
                "Section: misc",
                "Maintainer: hygie lab <lab@hygie.invalid>",
                "Architecture: all",
                "Version: 1.0",
                f"Description: {PAYLOAD}",
                f" {LONG_LINE}",
                b" " + NON_UTF8,
            ),
        },
    )


# --------------------------------------------------------------------------- credentials


def forged_known_hosts(lab: Lab, host: str) -> str:
    """The lab's known_hosts with ``host``'s keys replaced by an ed25519 key it never had
    (the key cache slot MAX_HOSTS, which no lab host uses): a changed host key."""
    address = lab.address(host)
    _, foreign = hostfs.generate_keypair("ed25519", 0, MAX_HOSTS)
    kept = [
        line
        for line in lab.known_hosts_path.read_text().splitlines()
        if not line.startswith(f"{address} ")
    ]
    return "\n".join([*kept, f"{address} {foreign.decode().strip()}"]) + "\n"


def unrelated_key(directory: Path) -> Path:
    """A fresh ed25519 key that no lab host authorizes (the ``wrong-key`` credential)."""
    path = directory / "unrelated_ed25519"
    nsutil.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "", "-f", str(path)])
    return path


# --------------------------------------------------------------------------- the lab


def wait_listening(lab: Lab, host: str, ports: tuple[int, ...], timeout: float = 15.0) -> None:
    """Wait until a lab host's daemons listen on ``ports``, asking its kernel (``ss``), so
    that waiting sends no packet and leaves no trace in the peers' logs."""
    deadline = time.monotonic() + timeout
    while True:
        listing = lab.run_in_host(host, ["ss", "-Hltn"], timeout=10).stdout
        listening = {int(m[1]) for m in re.finditer(r"\S+:(\d+)\s", listing)}
        if set(ports) <= listening:
            return
        if time.monotonic() > deadline:
            raise LabError(f"{host}: ports {sorted(set(ports) - listening)} not listening")
        time.sleep(0.1)


@dataclass(frozen=True)
class FaultLab:
    """A running lab with the fault peers; ``known_hosts`` is the forged one."""

    lab: Lab
    workdir: Path
    known_hosts: Path
    other_key: Path


@contextlib.contextmanager
def fault_lab(hosts: list[LabHost], workdir: Path) -> Iterator[FaultLab]:
    """Bring up ``hosts`` (which must include :func:`fault_hosts`), wait for the wire peers,
    and prove at the end that no namespace of this lab outlived it, even after a failure."""
    other_key = unrelated_key(workdir)
    lab = Lab(hosts)
    try:
        with lab:
            wait_listening(lab, WIRE_HOST, (TARPIT_PORT, KEX_CLOSE_PORT))
            known = workdir / "known_hosts"
            known.write_text(forged_known_hosts(lab, HOST_KEY_CHANGED))
            yield FaultLab(lab, workdir, known, other_key)
    finally:
        prefix = f"{nsutil.NS_PREFIX}{lab.rid}"
        leftover = [n for n in nsutil.list_netns() if n.startswith(prefix)]
        if leftover:
            raise LabError(f"lab namespaces survived teardown: {leftover}")
