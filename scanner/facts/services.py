"""Which daemons run on the host, whether or not it is managed by systemd.

Targets are not all systemd machines: containers and lightweight namespaces run daemons as
plain processes, so "is chronyd running?" cannot be answered by ``systemctl`` alone. The
``services`` fact therefore always records the process list and, only where systemd is PID 1
(``/run/systemd/system`` exists, see sd_booted(3)), the running and enabled service units
as well. Checks ask :meth:`RunningServices.is_running` with every name the daemon may go
by (unit stem or process name) and never care which source answered.
"""

from __future__ import annotations

from dataclasses import dataclass

from hygie.factspec import fact, split_files

# The kernel truncates a process name (``comm``) to 15 bytes: ``systemd-timesyncd`` is seen
# as ``systemd-timesyn``.
COMM_LEN = 15

SERVICES = fact(
    "services",
    "if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then "
    "echo '==> systemd-running <=='; "
    "systemctl list-units --type=service --state=running --no-legend --plain --no-pager"
    " 2>/dev/null; "
    "echo '==> systemd-enabled <=='; "
    "systemctl list-unit-files --type=service --state=enabled --no-legend --no-pager"
    " 2>/dev/null; "
    "fi; "
    "echo '==> processes <=='; "
    "ps -e -o comm= 2>/dev/null || cat /proc/[0-9]*/comm 2>/dev/null; "
    "exit 0",
    "running/enabled systemd service units (when systemd is PID 1) and the process names",
)


@dataclass(frozen=True)
class RunningServices:
    """Service units (``systemd`` hosts only) and process names seen on the host."""

    systemd: bool
    units_running: frozenset[str]
    units_enabled: frozenset[str]
    processes: frozenset[str]

    def is_running(self, *names: str) -> bool:
        """True when any name is a running unit (``name`` or ``name.service``) or process.

        Process names are compared after the kernel's 15-byte truncation, so callers pass
        the full daemon name.
        """
        return any(self._running(name) for name in names)

    def running_names(self, *names: str) -> list[str]:
        """The subset of ``names`` that is running, in the order given."""
        return [name for name in names if self._running(name)]

    def unit_running(self, name: str) -> bool:
        """Running per systemd only: for daemons whose truncated process name is ambiguous
        (``systemd-journal-upload`` and ``systemd-journald`` both show as
        ``systemd-journal``)."""
        return _unit(name) in self.units_running

    def is_enabled(self, *names: str) -> bool | None:
        """True/False from systemd's enabled unit files; None when the host has no systemd
        (there is no portable notion of "enabled" without it)."""
        if not self.systemd:
            return None
        return any(_unit(name) in self.units_enabled for name in names)

    def _running(self, name: str) -> bool:
        return (
            _unit(name) in self.units_running
            or name in self.processes
            or name[:COMM_LEN] in self.processes
        )


def _unit(name: str) -> str:
    return name if name.endswith(".service") else f"{name}.service"


def _first_column(text: str) -> frozenset[str]:
    names = set()
    for line in text.splitlines():
        fields = line.split()
        # ``systemctl --plain`` may still prefix failed units with a bullet on old versions.
        if fields and fields[0] in ("*", "\u25cf"):
            fields = fields[1:]
        if fields:
            names.add(fields[0])
    return frozenset(names)


def parse_services(text: str) -> RunningServices:
    """Parse the ``services`` fact (sections introduced by ``==> name <==`` lines)."""
    sections = split_files(text)
    processes = frozenset(
        line.strip() for line in sections.get("processes", "").splitlines() if line.strip()
    )
    return RunningServices(
        systemd="systemd-running" in sections,
        units_running=_first_column(sections.get("systemd-running", "")),
        units_enabled=_first_column(sections.get("systemd-enabled", "")),
        processes=processes,
    )


# Gathered for ``hygie drift`` (see hygie.drift): what listens, from the host's own socket
# table. Read-only (``ss`` only reads netlink), numeric (no name lookups), no process
# names (they need root and say nothing a port does not).
LISTENING_SOCKETS = fact(
    "listening_sockets",
    "command -v ss >/dev/null 2>&1 || exit 127; ss -Hltnu",
    "listening TCP and UDP sockets from the host's socket table (ss -Hltnu)",
    max_bytes=256 << 10,
    timeout=10,
)


def parse_listening_sockets(text: str) -> frozenset[tuple[str, str, int]]:
    """(protocol, local address, port) of each ``ss -Hltnu`` line; UDP sockets are
    ``UNCONN`` rather than ``LISTEN`` and count as listening. ``0.0.0.0%lo`` and
    ``[::1]`` forms keep their address as printed, without brackets."""
    found = set()
    for line in text.splitlines():
        cols = line.split()
        if len(cols) < 5 or cols[0] not in ("tcp", "udp"):
            continue
        address, _, port = cols[4].rpartition(":")
        if port.isdigit():
            found.add((cols[0], address.strip("[]"), int(port)))
    return frozenset(found)
