"""Audit the machine hygie runs on, without SSH: same script, same parser."""

from __future__ import annotations

import subprocess

from hygie.transports.base import ExecResult

_STDERR_CAP = 65536


class LocalTransport:
    def __init__(self) -> None:
        self.connections = 0
        self.execs = 0

    def connect(self) -> None:
        self.connections += 1

    def run(
        self,
        command: str,
        stdin: bytes | None,
        timeout: float,
        max_bytes: int,
        header: tuple[bytes, int] | None = None,
    ) -> ExecResult:
        """``header`` is not needed here: no login shell or ForceCommand stands between
        hygie and its own script on the local machine."""
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
        if len(proc.stdout) > max_bytes:
            return ExecResult(proc.stdout[:max_bytes], proc.stderr[:_STDERR_CAP], None, capped=True)
        return ExecResult(proc.stdout, proc.stderr[:_STDERR_CAP], proc.returncode)

    def close(self) -> None:
        pass
