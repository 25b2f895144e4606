"""Low-level namespace helpers for the integration lab (Linux only, root only).

Kept apart from :mod:`tests.lab.netlab` so the policy (what a lab host looks like) does not
mix with the mechanics (setns, killing namespace processes, reaping stale labs).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

#: Every namespace a lab creates starts with this prefix, followed by a 5-hex-digit run id and
#: a role suffix (``s`` = scanner, ``h<n>`` = host n). Short on purpose: names show up in
#: ``ip netns`` and error messages.
NS_PREFIX = "hyl"
NS_RE = re.compile(rf"^{NS_PREFIX}(?P<rid>[0-9a-f]{{5}})(?:s|h\d+)$")

#: One JSON file per live lab (owner pid + start time + workdir). Lets a later run tell a
#: crashed lab (owner gone) from a concurrent one (owner alive, e.g. a pytest-xdist worker).
STATE_DIR = Path("/run/hygie-lab")

#: Marker file that proves a directory is a lab workdir before anything removes it.
WORKDIR_MARKER = ".hygie-lab"

_CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


class LabError(RuntimeError):
    """The lab could not be built or torn down."""


def _setns(fd: int) -> None:
    if _libc.setns(fd, _CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns(CLONE_NEWNET): {os.strerror(err)}")


@contextlib.contextmanager
def netns_entered(name: str) -> Iterator[None]:
    """Move the *current thread* into network namespace ``/run/netns/<name>``, then back.

    Only this thread switches (setns acts per task); threads started inside the block
    inherit the namespace, so a scanner using a thread pool connects from the lab.
    """
    original = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        target = os.open(f"/run/netns/{name}", os.O_RDONLY | os.O_CLOEXEC)
        try:
            wanted = os.fstat(target).st_ino
            _setns(target)
        finally:
            os.close(target)
        try:
            # Safety: never let a caller believe it is isolated when it is not (a packet
            # sent from the root namespace could follow its default route off the machine).
            if os.stat("/proc/thread-self/ns/net").st_ino != wanted:
                raise LabError(f"setns into {name} did not take effect")
            yield
        finally:
            _setns(original)
    finally:
        os.close(original)


def run(argv: list[str], timeout: float = 30.0, input_text: str | None = None) -> str:
    """Run a setup command, raise :class:`LabError` with its stderr when it fails."""
    try:
        proc = subprocess.run(
            argv, input=input_text, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise LabError(f"timed out after {timeout}s: {' '.join(argv)}") from exc
    if proc.returncode != 0:
        raise LabError(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout


def ip_batch(ip: str, commands: list[str], netns: str | None = None) -> None:
    """Run many ``ip`` commands in one process (``ip -batch``): 50 hosts in ~0.1 s."""
    if not commands:
        return
    argv = [ip, "-force"] + (["-n", netns] if netns else []) + ["-batch", "-"]
    run(argv, timeout=60.0, input_text="\n".join(commands) + "\n")


def list_netns() -> list[str]:
    """Names under /run/netns (what ``ip netns list`` shows, without spawning ip)."""
    try:
        return sorted(os.listdir("/run/netns"))
    except FileNotFoundError:
        return []


def netns_pids(name: str) -> list[int]:
    """Pids of all processes whose network namespace is ``name`` (as ``ip netns pids``)."""
    try:
        target = os.stat(f"/run/netns/{name}")
    except FileNotFoundError:
        return []
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            st = os.stat(f"/proc/{entry}/ns/net")
        except OSError:
            continue
        if (st.st_dev, st.st_ino) == (target.st_dev, target.st_ino):
            pids.append(int(entry))
    return pids


def kill_netns_processes(names: list[str], timeout: float = 5.0) -> list[int]:
    """SIGKILL every process in the given namespaces (never ourselves); wait until gone.

    Killing the PID-1 of a lab host's PID namespace makes the kernel kill the whole
    namespace, so ssh sessions and daemons spawned inside go too. Waits (bounded) until
    every killed pid is dead (gone or a zombie). Returns the pids still alive at the
    deadline, normally none.
    """
    me = os.getpid()
    deadline = time.monotonic() + timeout
    killed: set[int] = set()
    for _ in range(200):  # bounded: each round re-lists and kills what appeared meanwhile
        current = [p for n in names for p in netns_pids(n) if p != me]
        for pid in current:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        killed.update(current)
        # Zombies hold nothing but a pid; their (possibly foreign) parent reaps them later.
        killed = {p for p in killed if _state(p) not in ("Z", None)}
        if not killed or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    return sorted(killed)


def _state(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def delete_netns(ip: str, names: list[str]) -> None:
    """``ip netns del`` each name that still exists (one ip process for all)."""
    existing = set(list_netns())
    ip_batch(ip, [f"netns del {n}" for n in names if n in existing])


def process_start_time(pid: int) -> int | None:
    """Start time (clock ticks since boot) of ``pid``, or None if it does not exist."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 22; the command name (field 2) may contain spaces, so split after its ')'.
    return int(stat.rsplit(")", 1)[1].split()[19])


def write_state(rid: str, workdir: Path, own_workdir: bool) -> Path:
    """Record that this process owns lab ``rid`` (written before any namespace exists)."""
    STATE_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = STATE_DIR / f"{rid}.json"
    pid = os.getpid()
    state = {
        "pid": pid,
        "start": process_start_time(pid),
        "workdir": str(workdir),
        "own_workdir": own_workdir,
    }
    path.write_text(json.dumps(state))
    return path


def _owner_alive(rid: str) -> bool:
    try:
        state = json.loads((STATE_DIR / f"{rid}.json").read_text())
    except (OSError, ValueError):
        return False
    return process_start_time(int(state["pid"])) == state.get("start")


#: What a lab creates inside a caller-provided workdir (removed at teardown).
LAB_ENTRIES = ("hosts", "client", WORKDIR_MARKER)


def remove_workdir(path: Path, own: bool) -> None:
    """Delete a lab workdir (``own``) or only the lab's entries in a caller's directory.

    Nothing happens unless the directory carries the lab marker.
    """
    if not (path / WORKDIR_MARKER).is_file():
        return
    if own:
        shutil.rmtree(path, ignore_errors=True)
        return
    for name in LAB_ENTRIES:
        entry = path / name
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


def reap_stale_labs(ip: str) -> list[str]:
    """Tear down namespaces left by earlier lab runs whose owner process is gone.

    A crashed or SIGKILLed pytest leaves namespaces and sshd processes behind; the next
    run removes them. Labs of live owners (parallel test workers) are left alone.
    """
    stale: dict[str, list[str]] = {}
    for name in list_netns():
        m = NS_RE.match(name)
        if m and not _owner_alive(m["rid"]):
            stale.setdefault(m["rid"], []).append(name)
    if STATE_DIR.is_dir():  # state files of crashed runs whose namespaces are already gone
        for state in STATE_DIR.glob("*.json"):
            if not _owner_alive(state.stem):
                stale.setdefault(state.stem, [])
    for rid, names in stale.items():
        kill_netns_processes(names)
        delete_netns(ip, names)
        state = STATE_DIR / f"{rid}.json"
        with contextlib.suppress(OSError, ValueError, KeyError):
            recorded = json.loads(state.read_text())
            remove_workdir(Path(recorded["workdir"]), bool(recorded.get("own_workdir")))
        state.unlink(missing_ok=True)
    return sorted(n for names in stale.values() for n in names)
