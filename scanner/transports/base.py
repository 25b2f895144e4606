"""What the collector needs from a transport: run one command, count what it cost."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class TransportError(Exception):
    """The host could not be reached or used; ``kind`` is what an admin acts on."""

    def __init__(self, kind: str, message: str):
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message


@dataclass(frozen=True)
class ExecResult:
    stdout: bytes
    stderr: bytes
    exit_status: int | None
    timed_out: bool = False


class Transport(Protocol):
    """``connections`` and ``execs`` are counted so tests and benchmarks can prove that a
    host is read with one connection and one exec."""

    connections: int
    execs: int

    def connect(self) -> None: ...

    def run(self, command: str, stdin: bytes | None, timeout: float, max_bytes: int) -> ExecResult:
        """Run ``command`` through the target's shell, bounded in time and output size."""
        ...

    def close(self) -> None: ...
