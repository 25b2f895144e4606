"""Facts that identify the host: OS release, kernel, hostname, and the OS family that
decides which checks apply."""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from hygie.factspec import fact, file_fact

OS_RELEASE = fact(
    "os_release",
    "cat /etc/os-release 2>/dev/null || cat /usr/lib/os-release",
    "os-release(5): distribution id, version and codename",
)
UNAME = fact("uname", "uname -s; uname -r; uname -m", "kernel name, running release, machine")
HOSTNAME = file_fact("hostname", "/proc/sys/kernel/hostname", "kernel host name")

DEBIAN_FAMILY = {"debian", "ubuntu", "raspbian", "linuxmint", "kali", "devuan"}
RHEL_FAMILY = {"rhel", "centos", "rocky", "almalinux", "fedora", "ol", "amzn", "scientific"}


@dataclass(frozen=True)
class OsRelease:
    id: str
    id_like: tuple[str, ...]
    version_id: str
    codename: str
    pretty_name: str

    @property
    def family(self) -> str:
        """``debian``, ``rhel`` or ``other``: the families checks declare support for."""
        ids = {self.id, *self.id_like}
        if ids & DEBIAN_FAMILY:
            return "debian"
        if ids & RHEL_FAMILY:
            return "rhel"
        return "other"


def parse_os_release(text: str) -> OsRelease:
    """os-release is shell-compatible ``KEY=value`` with optional quoting."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, raw = line.partition("=")
        try:
            parts = shlex.split(raw)
        except ValueError:
            parts = [raw.strip("'\"")]
        values[key.strip()] = parts[0] if parts else ""
    return OsRelease(
        id=values.get("ID", "").lower(),
        id_like=tuple(values.get("ID_LIKE", "").lower().split()),
        version_id=values.get("VERSION_ID", ""),
        codename=values.get("VERSION_CODENAME", ""),
        pretty_name=values.get("PRETTY_NAME", ""),
    )


@dataclass(frozen=True)
class Uname:
    system: str
    release: str
    machine: str


def parse_uname(text: str) -> Uname:
    lines = [*text.splitlines(), "", "", ""]
    return Uname(lines[0].strip(), lines[1].strip(), lines[2].strip())


DATE_UTC = fact("date_utc", "date -u +%Y-%m-%d; date -u +%s", "the target's date (UTC)")


def parse_date_utc(text: str) -> tuple[str, int]:
    """(``YYYY-MM-DD``, epoch seconds) as the target saw them when facts were collected.

    Checks that depend on "today" read this instead of the scanner's clock, so that a stored
    scan re-judged later gives the same verdict.
    """
    lines = text.split()
    return lines[0], int(lines[1])
