"""A real redis-server for the multi-site tests and benchmark: a Unix socket only (port 0),
its data in a directory of the caller's, every write persisted (AOF) so that a restart
keeps the queues and results. Unix sockets cross network namespaces: runners inside lab
namespaces reach it with no route at all."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path


class Redis:
    """redis-server on a Unix socket only (port 0), persisting every write (AOF)."""

    def __init__(self, root: Path):
        self.dir = root / "redis"
        self.dir.mkdir()
        self.socket = self.dir / "redis.sock"
        self.url = f"redis+socket://{self.socket}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        conf = [
            "--port",
            "0",
            "--unixsocket",
            str(self.socket),
            "--unixsocketperm",
            "700",
            "--dir",
            str(self.dir),
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--save",
            "",
            "--daemonize",
            "no",
            "--logfile",
            str(self.dir / "redis.log"),
        ]
        self.proc = subprocess.Popen(["redis-server", *conf])
        deadline = time.monotonic() + 10
        while self.cli("PING").strip() != "PONG":
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: redis finishes writing its AOF and exits
            self.proc.wait(timeout=15)
        self.proc = None

    def cli(self, *args: str) -> str:
        proc = subprocess.run(
            ["redis-cli", "-s", str(self.socket), *args],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        return proc.stdout
