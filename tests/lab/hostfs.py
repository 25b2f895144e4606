"""Build the private filesystem layers of a lab host, and the init script that mounts them.

Layout of one host directory (``<lab workdir>/hosts/<name>/``)::

    etc-up/ etc-work/    overlay upper/work for /etc   (lower = the real /etc)
    var-up/ var-work/    overlay upper/work for /var   (covers /var/lib/dpkg and /var/log)
    home/                bind-mounted on /home          (only the lab's users)
    run-seed/ tmp-seed/  copied into the fresh tmpfs /run and /tmp
    dev/                 mount point of a small tmpfs moved onto /dev at start
    init.sh init.log     PID 1 of the host until it execs sshd

Inside the host, the sshd log is ``/var/log/hygie-lab/sshd.log``, i.e.
``var-up/log/hygie-lab/sshd.log`` from outside.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import shlex
import stat
import subprocess
import tempfile
import threading
from pathlib import Path

from .nsutil import LabError

AUDITOR = "auditor"
AUDITOR_UID = 2000

#: Path prefix inside the host -> (sub-directory of the host dir, is an overlay upper).
#: Overlay uppers get whiteouts for deleted files; the other areas simply omit them.
AREAS: dict[str, tuple[str, bool]] = {
    "/etc": ("etc-up", True),
    "/var": ("var-up", True),
    "/home": ("home", False),
    "/run": ("run-seed", False),
    "/tmp": ("tmp-seed", False),
}

SSHD_LOG = "/var/log/hygie-lab/sshd.log"
SSHD_PID = "/var/log/hygie-lab/sshd.pid"
DAEMON_LOG = "/var/log/hygie-lab/daemons.log"

DEFAULT_HOST_KEYS: tuple[tuple[str, int], ...] = (("ed25519", 0), ("rsa", 3072))

# Host keys are expensive (RSA 3072: ~0.5-1.5 s each, so ~30 s for 50 hosts on 2 vCPUs).
# They are cached per (type, bits, slot), slot = host index in its lab: in memory for the
# process and on disk for later runs, so a lab host keeps the same keys from run to run
# and two hosts of one lab never share a key. HYGIE_LAB_KEY_CACHE=<dir> moves the disk
# cache, HYGIE_LAB_KEY_CACHE=off disables it.
_KEY_CACHE: dict[tuple[str, int, int], tuple[bytes, bytes]] = {}
_KEY_LOCK = threading.Lock()


def key_cache_dir() -> Path | None:
    """Directory of the on-disk host-key cache (None when disabled)."""
    setting = os.environ.get("HYGIE_LAB_KEY_CACHE", "")
    if setting.lower() in ("off", "0", "no", "none"):
        return None
    if setting:
        return Path(setting)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return Path(base) / "hygie-lab" / "hostkeys"


def generate_keypair(ktype: str, bits: int, slot: int) -> tuple[bytes, bytes]:
    """Return (private OpenSSH key, public line) of a passphrase-less key, cached."""
    key = (ktype, bits, slot)
    with _KEY_LOCK:
        if key in _KEY_CACHE:
            return _KEY_CACHE[key]
    cache = key_cache_dir()
    entry = cache / f"{ktype}-{bits}-{slot}.pair" if cache else None
    pair = _load_key(entry) if entry is not None else None
    if pair is None:
        pair = _keygen(ktype, bits)
        if entry is not None:
            _store_key(entry, pair)
    with _KEY_LOCK:
        return _KEY_CACHE.setdefault(key, pair)


_PAIR_SEP = b"\n--- hygie-lab public key ---\n"


def _load_key(entry: Path) -> tuple[bytes, bytes] | None:
    try:
        private, sep, public = entry.read_bytes().partition(_PAIR_SEP)
    except OSError:
        return None
    return (private, public) if sep and private and public else None


def _keygen(ktype: str, bits: int) -> tuple[bytes, bytes]:
    with tempfile.TemporaryDirectory(prefix="hyl-key-") as tmp:
        path = Path(tmp) / "key"
        argv = ["ssh-keygen", "-q", "-t", ktype, "-N", "", "-C", "", "-f", str(path)]
        if bits:
            argv[4:4] = ["-b", str(bits)]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
        if proc.returncode != 0:
            raise LabError(f"ssh-keygen -t {ktype} -b {bits}: {proc.stderr.strip()}")
        return path.read_bytes(), Path(f"{path}.pub").read_bytes()


def _store_key(entry: Path, pair: tuple[bytes, bytes]) -> None:
    """Write a cache entry atomically (one file: a pair can never be mismatched)."""
    try:
        entry.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = entry.parent / f".{entry.name}.{os.getpid()}.{threading.get_ident()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pair[0] + _PAIR_SEP + pair[1])
        os.replace(tmp, entry)
    except OSError:
        pass  # a read-only cache only costs time


def public_from_private(private: bytes) -> bytes:
    """Derive the public key line of a planted private host key (``ssh-keygen -y``)."""
    with tempfile.TemporaryDirectory(prefix="hyl-key-") as tmp:
        path = Path(tmp) / "key"
        path.write_bytes(private)
        path.chmod(0o600)
        proc = subprocess.run(
            ["ssh-keygen", "-y", "-f", str(path)], capture_output=True, timeout=30, check=False
        )
    if proc.returncode != 0:
        raise LabError(f"planted host key unreadable: {proc.stderr.decode().strip()}")
    return proc.stdout


def parse_mode(spec: str) -> tuple[int, int, int]:
    """``"0640 root:shadow"`` -> (0o640, uid, gid). Owner part optional (root:root)."""
    parts = spec.split()
    if not parts or len(parts) > 2:
        raise ValueError(f"bad mode spec {spec!r} (want e.g. '0640 root:shadow')")
    mode = int(parts[0], 8)
    user, _, group = (parts[1] if len(parts) == 2 else "root:root").partition(":")
    return mode, _uid(user), _gid(group or user)


def _uid(name: str) -> int:
    if name.isdigit():
        return int(name)
    return AUDITOR_UID if name == AUDITOR else pwd.getpwnam(name).pw_uid


def _gid(name: str) -> int:
    if name.isdigit():
        return int(name)
    return AUDITOR_UID if name == AUDITOR else grp.getgrnam(name).gr_gid


def default_mode(path: str) -> tuple[int, int, int]:
    """Sensible mode/owner for a planted file when the test does not say."""
    if path.startswith(f"/home/{AUDITOR}/"):
        return 0o600 if "/.ssh/" in path else 0o644, AUDITOR_UID, AUDITOR_UID
    if path in ("/etc/shadow", "/etc/gshadow"):
        return parse_mode("0640 root:shadow")
    if path.startswith("/etc/sudoers"):
        return 0o440, 0, 0
    if path.startswith("/etc/ssh/ssh_host_") and path.endswith("_key"):
        return 0o600, 0, 0
    return 0o644, 0, 0


class HostTree:
    """Writes files into a host directory, mapping in-host paths to the right layer."""

    def __init__(self, root: Path) -> None:
        self.root = root
        for sub in ("etc-up", "etc-work", "var-up", "var-work", "home", "run-seed", "tmp-seed"):
            (root / sub).mkdir(parents=True)
        # The upper root's attributes become those of the merged /etc and /var.
        for top in ("etc", "var"):
            _copy_attrs(Path(f"/{top}"), root / f"{top}-up")
        for sub, mode in (("home", 0o755), ("run-seed", 0o755), ("tmp-seed", 0o1777)):
            (root / sub).chmod(mode)

    def locate(self, path: str) -> tuple[Path, bool]:
        """Host-dir location of in-host ``path`` and whether it lives in an overlay upper."""
        if not path.startswith("/") or "/../" in f"{path}/" or "//" in path:
            raise ValueError(f"lab file path must be absolute and normalised: {path!r}")
        for prefix, (sub, overlay) in AREAS.items():
            if path.startswith(prefix + "/"):
                return self.root / sub / path[len(prefix) + 1 :], overlay
        raise ValueError(f"lab hosts only have private {sorted(AREAS)}; cannot plant {path}")

    def _parents(self, path: str, target: Path) -> None:
        """Create missing parent dirs, copying mode/owner from the real dir when it exists.

        In an overlay, a directory present in the upper layer shows the upper's attributes,
        so a default 0755 here would silently change e.g. /etc/sudoers.d (0750) on the host.
        """
        missing = []
        real, here = Path(path).parent, target.parent
        while not here.exists():
            missing.append((real, here))
            real, here = real.parent, here.parent
        for real_dir, dir_ in reversed(missing):
            dir_.mkdir()
            if real_dir.is_dir():
                _copy_attrs(real_dir, dir_)
            elif str(real_dir).startswith(f"/home/{AUDITOR}"):
                os.chown(dir_, AUDITOR_UID, AUDITOR_UID)
                dir_.chmod(0o700)
            else:
                dir_.chmod(0o755)

    def write(self, path: str, content: str | bytes | None, mode: str | None = None) -> None:
        """Plant ``content`` at in-host ``path``; None deletes it (overlay whiteout)."""
        target, overlay = self.locate(path)
        self._parents(path, target)
        if target.is_symlink() or target.exists():
            target.unlink()
        if content is None:
            if overlay:  # char device 0/0 = "deleted" for overlayfs
                os.mknod(target, stat.S_IFCHR | 0o000, os.makedev(0, 0))
            return
        data = content.encode() if isinstance(content, str) else content
        target.write_bytes(data)
        perm, uid, gid = parse_mode(mode) if mode else default_mode(path)
        os.chown(target, uid, gid)
        target.chmod(perm)

    def mkdir(self, path: str, perm: int, uid: int, gid: int) -> None:
        """Create (or fix the attributes of) a directory at in-host ``path``."""
        target, _ = self.locate(path)
        self._parents(path, target)
        target.mkdir(exist_ok=True)
        os.chown(target, uid, gid)
        target.chmod(perm)

    def read(self, path: str) -> bytes | None:
        """Current content of in-host ``path`` as the host will see it (None if absent)."""
        target, overlay = self.locate(path)
        if target.is_char_device():
            return None
        if target.is_file():
            return target.read_bytes()
        if overlay and Path(path).is_file():
            return Path(path).read_bytes()
        return None


def _copy_attrs(src: Path, dst: Path) -> None:
    st = src.stat()
    os.chown(dst, st.st_uid, st.st_gid)
    dst.chmod(stat.S_IMODE(st.st_mode))


def merged_lines(base: bytes | None, line: str, key: str) -> bytes:
    """``base`` plus ``line`` unless an entry for ``key`` (first field) is already there.

    Bytes in, bytes out: a planted account database may hold non-UTF-8 bytes (a hostile
    GECOS field), which must reach the host unchanged.
    """
    data = base or b""
    if any(existing.split(b":", 1)[0] == key.encode() for existing in data.splitlines()):
        return data
    return data + (b"" if data.endswith(b"\n") or not data else b"\n") + line.encode() + b"\n"


def compose_sshd_config(base: str, extra: str, lab_lines: list[str]) -> str:
    """sshd_config = test overrides, then lab essentials, then the base config.

    sshd keeps the *first* value of a keyword, so lines merely appended after Debian's
    defaults would be ignored. Global lines of ``extra`` therefore go first; from its first
    ``Match`` on, ``extra`` is appended at the very end where Match blocks must be.
    """
    head: list[str] = []
    tail: list[str] = []
    for line in extra.splitlines():
        if tail or line.strip().lower().startswith("match "):
            tail.append(line)
        else:
            head.append(line)
    parts = [
        "# --- hygie lab: test overrides (LabHost.sshd_extra) ---",
        *head,
        "# --- hygie lab: essentials ---",
        *lab_lines,
        "# --- base configuration ---",
        base.rstrip("\n"),
    ]
    if tail:
        parts += ["# --- hygie lab: Match blocks (LabHost.sshd_extra) ---", *tail]
    return "\n".join(parts) + "\n"


#: Mount points the lab replaces with private ones; what ``keep_visible`` names under them
#: is bound back from the real file system.
_PRIVATE_MOUNTS = ("/home", "/tmp")


def init_script(
    name: str,
    address: str,
    prefix_len: int,
    ip: str,
    daemons: list[str],
    sshd: str,
    keep_visible: tuple[str, ...] = (),
) -> str:
    """POSIX sh run as PID 1 of the host's PID namespace, with cwd = the host directory.

    Every source path is relative to the cwd, so later mounts over /tmp, /home or /run
    cannot hide the host directory even when the lab workdir lives under one of them.
    ``keep_visible`` paths (the checkout and the Python environment running the tests,
    which lab services are started from) stay visible although /tmp and /home are private:
    CI may clone the project under /tmp.
    """
    q = shlex.quote
    rebind = {
        mount: [p for p in keep_visible if p.startswith(mount + "/")] for mount in _PRIVATE_MOUNTS
    }
    saved = [f"mkdir -p real{m} && mount --bind {m} real{m}" for m in _PRIVATE_MOUNTS if rebind[m]]
    restore = [
        f"mkdir -p {q(p)} && mount --bind {q('real' + p)} {q(p)}"
        for m in _PRIVATE_MOUNTS
        for p in rebind[m]
    ]
    lines = [
        "#!/bin/sh",
        f"# hygie lab host {name}: network, private mounts, daemons, then exec sshd.",
        "set -eu",
        f"{q(ip)} link set lo up",
        f"{q(ip)} addr add {address}/{prefix_len} dev eth0",
        f"{q(ip)} link set eth0 up",
        f"echo {q(name)} > /proc/sys/kernel/hostname",
        *_private_dev(),
        *saved,
        "mount -t overlay hyl-etc -o lowerdir=/etc,upperdir=etc-up,workdir=etc-work /etc",
        "mount -t overlay hyl-var -o lowerdir=/var,upperdir=var-up,workdir=var-work /var",
        "mount --bind home /home",
        "mount -t tmpfs -o mode=0755,nosuid,nodev,size=32m hyl-run /run",
        "cp -a run-seed/. /run/",
        "mkdir -p -m 0755 /run/sshd",
        "mkdir -p -m 1777 /run/lock",
        "mount -t tmpfs -o mode=1777,nosuid,nodev,size=64m hyl-tmp /tmp",
        "cp -a tmp-seed/. /tmp/",
        *restore,
        "mkdir -p /var/log/hygie-lab",
    ]
    for cmd in daemons:
        lines.append(f"sh -c {q(cmd)} </dev/null >>{DAEMON_LOG} 2>&1 &")
    lines += [
        f"{q(sshd)} -t",
        f"exec {q(sshd)} -D -E {SSHD_LOG} -o PidFile={SSHD_PID}",
    ]
    return "\n".join(lines) + "\n"


def _private_dev() -> list[str]:
    """A minimal private /dev: its own devpts instance (PTYs), /dev/shm and no /dev/log.

    Sharing the real /dev would let a lab daemon (rsyslogd...) replace the machine's
    /dev/log socket; here a syslog daemon started in ``daemons`` gets its own.
    """
    nodes = [
        ("null", 1, 3),
        ("zero", 1, 5),
        ("full", 1, 7),
        ("random", 1, 8),
        ("urandom", 1, 9),
        ("tty", 5, 0),
    ]
    lines = ["mkdir -p dev", "mount -t tmpfs -o mode=0755,nosuid,size=1m hyl-dev dev"]
    lines += [f"mknod -m 0666 dev/{n} c {major} {minor}" for n, major, minor in nodes]
    lines += [
        "mkdir -m 0755 dev/pts && mkdir -m 1777 dev/shm",
        "ln -s /proc/self/fd dev/fd",
        *(f"ln -s /proc/self/fd/{i} dev/{n}" for i, n in enumerate(("stdin", "stdout", "stderr"))),
        "ln -s pts/ptmx dev/ptmx",
        "mount --move dev /dev",
        "mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5 hyl-pts /dev/pts",
        "mount -t tmpfs -o mode=1777,nosuid,nodev,size=16m hyl-shm /dev/shm",
    ]
    return lines


def read_text(path: Path) -> str:
    """File content or "" (logs that do not exist yet)."""
    with contextlib.suppress(FileNotFoundError):
        return path.read_text(errors="replace")
    return ""
