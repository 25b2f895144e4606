"""What the collector needs from a transport: run one command, count what it cost.

A host that cannot be assessed fails with one :class:`TransportError` whose ``kind`` is a
stable category from :data:`CATEGORIES`: admins sort hundreds of hosts by it, and every
category names a different fix (a firewall, a key, a sudoers rule, a ForceCommand...).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

#: Why a host could not be assessed, in the order a connection meets them.
CATEGORIES = {
    "config": "hygie's own settings for the host are unusable (environment variable, file)",
    "unreachable": "the address cannot be resolved or reached (no route to host)",
    "refused": "nothing listens on the SSH port (connection refused)",
    "timeout": "a bound was reached: TCP connect, authentication, or the per-host deadline",
    "banner": "TCP connected but no SSH identification line came back",
    "kex": "the SSH key exchange failed or the peer closed the connection during it",
    "host-key": "the host key is unknown or does not match known_hosts (not connecting)",
    "auth": "the server refused every credential offered",
    "privilege": "logged in, but sudo refused to raise privilege (password, sudoers)",
    "exec": "logged in, but the collection script did not run",
    "output-cap": "the session produced more output than any collection can: stopped reading",
    "dropped": "the session ended mid-output without an exit status: nothing evaluated",
    "partial": "tools the collection needs are missing on the target: no check judged",
    "internal": "a bug in hygie while auditing this host (the other hosts are unaffected)",
}


class TransportError(Exception):
    """The host could not be reached or used; ``kind`` is what an admin acts on."""

    def __init__(self, kind: str, message: str):
        if kind not in CATEGORIES:
            raise ValueError(f"unknown failure category {kind!r}")
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message


@dataclass(frozen=True)
class ExecResult:
    """``exit_status`` None: the session ended without one (dropped, capped, timed out)."""

    stdout: bytes
    stderr: bytes
    exit_status: int | None
    timed_out: bool = False
    capped: bool = False


class Transport(Protocol):
    """``connections`` and ``execs`` are counted so tests and benchmarks can prove that a
    host is read with one connection and one exec."""

    connections: int
    execs: int

    def connect(self) -> None: ...

    def run(
        self,
        command: str,
        stdin: bytes | None,
        timeout: float,
        max_bytes: int,
        header: tuple[bytes, int] | None = None,
    ) -> ExecResult:
        """Run ``command`` through the target's shell, bounded in time and output size;
        ``header`` (marker, within): stop reading, as capped, when the output has not shown
        the marker after that many bytes."""
        ...

    def close(self) -> None: ...
