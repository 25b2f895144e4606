"""Audit the machine hygie runs on, without SSH: same script, same parser."""

from __future__ import annotations

import subprocess

from hygie.transports.base import ExecResult


class LocalTransport:
    def __init__(self) -> None:
        self.connections = 0
        self.execs = 0

    def connect(self) -> None:
        self.connections += 1

    def run(self, command: str, stdin: bytes | None, timeout: float, max_bytes: int) -> ExecResult:
        self.execs += 1
        try:
            proc = subprocess.run(
                ["/bin/sh", "-c", command],
                input=stdin or b"",
                capture_output=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            return ExecResult(exc.stdout or b"", exc.stderr or b"", None, timed_out=True)
        return ExecResult(proc.stdout[:max_bytes], proc.stderr[:65536], proc.returncode)

    def close(self) -> None:
        pass
