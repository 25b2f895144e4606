"""SSH transport (paramiko): one connection per host, strict host keys by default.

``~/.ssh/config`` is honoured (HostName, Port, User, IdentityFile, ProxyJump) so a fleet
already reachable with ``ssh`` is reachable with hygie. Secrets (passwords) come from
environment variables or a prompt, live only in memory, and never appear in an error.
"""

from __future__ import annotations

import select
import socket
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import paramiko

from hygie.inventory import Target, parse_target
from hygie.transports.base import ExecResult, TransportError

_KNOWN_HOSTS_LOCK = threading.Lock()


@dataclass(frozen=True)
class SshOptions:
    known_hosts: Path = field(default_factory=lambda: Path("~/.ssh/known_hosts").expanduser())
    trust_on_first_use: bool = False
    ssh_config: Path | None = field(default_factory=lambda: Path("~/.ssh/config").expanduser())
    password: str | None = field(default=None, repr=False)
    use_agent: bool = True


def fingerprint(key: paramiko.PKey) -> str:
    return f"{key.get_name()} {key.fingerprint}"


class _Strict(paramiko.MissingHostKeyPolicy):
    def missing_host_key(self, client, hostname, key):
        raise TransportError(
            "host-key",
            f"unknown host key for {hostname} ({fingerprint(key)}); add it to known_hosts "
            "(ssh-keyscan, verified out of band) or pass --trust-on-first-use",
        )


class _TrustOnFirstUse(paramiko.MissingHostKeyPolicy):
    """Accept an unknown key once and record it, like OpenSSH's ``accept-new``.

    A *changed* key is still refused: paramiko raises BadHostKeyException before asking
    this policy.
    """

    def __init__(self, path: Path):
        self.path = path

    def missing_host_key(self, client, hostname, key):
        entry = f"{hostname} {key.get_name()} {key.get_base64()}\n"
        with _KNOWN_HOSTS_LOCK:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            with self.path.open("a", encoding="ascii") as fh:
                fh.write(entry)
        client.get_host_keys().add(hostname, key.get_name(), key)


@dataclass(frozen=True)
class _Endpoint:
    host: str
    port: int
    user: str | None
    keys: tuple[str, ...]
    proxy_jump: str | None


class SshTransport:
    def __init__(self, target: Target, options: SshOptions, password: str | None = None):
        self.target = target
        self.options = options
        self._password = password
        self.connections = 0
        self.execs = 0
        self._clients: list[paramiko.SSHClient] = []

    # --- connecting ----------------------------------------------------------------------

    def _ssh_config(self) -> paramiko.SSHConfig | None:
        path = self.options.ssh_config
        if path is None or not path.is_file():
            return None
        try:
            return paramiko.SSHConfig.from_path(str(path))
        except (OSError, ValueError) as exc:
            raise TransportError("config", f"{path}: {exc}") from None

    def _endpoint(
        self,
        alias: str,
        port: int | None,
        user: str | None,
        keys: tuple[str, ...],
        proxy_jump: str | None,
    ) -> _Endpoint:
        """Inventory values win over ~/.ssh/config, which wins over defaults (as ssh does
        for command-line options)."""
        config = self._ssh_config()
        found = config.lookup(alias) if config else {}
        config_keys = tuple(str(Path(k).expanduser()) for k in found.get("identityfile", []))
        return _Endpoint(
            host=found.get("hostname", alias),
            port=port or int(found.get("port", 22)),
            user=user or found.get("user"),
            keys=keys or config_keys,
            proxy_jump=proxy_jump or found.get("proxyjump"),
        )

    def connect(self) -> None:
        t = self.target
        endpoint = self._endpoint(t.address or t.name, t.port, t.user, t.keys, t.proxy_jump)
        sock = None
        if endpoint.proxy_jump and endpoint.proxy_jump.lower() != "none":
            sock = self._through_jumps(endpoint)
        client = self._open(endpoint, sock, self._password)
        self._clients.append(client)

    def _through_jumps(self, endpoint: _Endpoint) -> paramiko.Channel:
        """Each hop of ``ProxyJump a,b`` carries the TCP stream to the next one."""
        hops = [parse_target(h.strip()) for h in (endpoint.proxy_jump or "").split(",")]
        # A hop without its own user or key in ~/.ssh/config uses the target's, as
        # `ssh -i key -l user -J hop` does.
        chain = [self._endpoint(h.name, h.port, h.user or endpoint.user, (), None) for h in hops]
        chain = [hop if hop.keys else replace(hop, keys=endpoint.keys) for hop in chain]
        sock = None
        for hop, next_hop in zip(chain, [*chain[1:], endpoint], strict=True):
            client = self._open(hop, sock, None)
            self._clients.append(client)
            try:
                sock = client.get_transport().open_channel(
                    "direct-tcpip",
                    (next_hop.host, next_hop.port),
                    ("127.0.0.1", 0),
                    timeout=self.target.connect_timeout,
                )
            except (paramiko.SSHException, OSError) as exc:
                raise TransportError("unreachable", f"via jump host {hop.host}: {exc}") from None
        return sock

    def _open(self, ep: _Endpoint, sock, password: str | None) -> paramiko.SSHClient:
        client = paramiko.SSHClient()
        for path in (Path("/etc/ssh/ssh_known_hosts"), self.options.known_hosts):
            if path.is_file():
                try:
                    client.load_system_host_keys(str(path))
                except (OSError, paramiko.SSHException) as exc:
                    raise TransportError("config", f"known_hosts {path}: {exc}") from None
        policy = (
            _TrustOnFirstUse(self.options.known_hosts)
            if self.options.trust_on_first_use
            else _Strict()
        )
        client.set_missing_host_key_policy(policy)
        timeout = self.target.connect_timeout
        self.connections += 1
        try:
            client.connect(
                ep.host,
                port=ep.port,
                username=ep.user,
                password=password,
                key_filename=list(ep.keys) or None,
                allow_agent=self.options.use_agent,
                look_for_keys=not ep.keys,
                timeout=timeout,
                banner_timeout=timeout,
                auth_timeout=timeout,
                channel_timeout=timeout,
                sock=sock,
            )
        except TransportError:
            client.close()
            raise
        except Exception as exc:
            client.close()
            raise _classify(exc, ep, timeout) from None
        return client

    # --- running ---------------------------------------------------------------------------

    def run(self, command: str, stdin: bytes | None, timeout: float, max_bytes: int) -> ExecResult:
        if not self._clients:
            raise TransportError("internal", "run() before connect()")
        transport = self._clients[-1].get_transport()
        deadline = time.monotonic() + timeout
        try:
            channel = transport.open_session(timeout=self.target.connect_timeout)
            self.execs += 1
            channel.exec_command(command)
            if stdin:
                channel.sendall(stdin)
            channel.shutdown_write()
            return _drain(channel, deadline, max_bytes)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise TransportError("ssh", f"exec failed: {exc}") from None

    def close(self) -> None:
        for client in reversed(self._clients):
            client.close()
        self._clients.clear()


def _drain(channel: paramiko.Channel, deadline: float, max_bytes: int) -> ExecResult:
    """Read stdout and stderr until exit, the deadline or the size cap, whichever first."""
    out, err = bytearray(), bytearray()
    while True:
        while channel.recv_ready() and len(out) <= max_bytes:
            out += channel.recv(65536)
        while channel.recv_stderr_ready():
            chunk = channel.recv_stderr(65536)
            if len(err) < 65536:
                err += chunk
        if len(out) > max_bytes:
            channel.close()
            return ExecResult(bytes(out[:max_bytes]), bytes(err), None, timed_out=False)
        if (
            channel.exit_status_ready()
            and not channel.recv_ready()
            and not channel.recv_stderr_ready()
        ):
            status = channel.recv_exit_status()
            channel.close()
            return ExecResult(bytes(out), bytes(err), status)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            channel.close()
            return ExecResult(bytes(out), bytes(err), None, timed_out=True)
        select.select([channel], [], [], min(remaining, 0.5))


def _classify(exc: Exception, ep: _Endpoint, timeout: float) -> TransportError:
    where = f"{ep.host}:{ep.port}"
    if isinstance(exc, paramiko.BadHostKeyException):
        return TransportError(
            "host-key",
            f"host key for {where} does not match known_hosts (got "
            f"{fingerprint(exc.key)}, expected {fingerprint(exc.expected_key)}): "
            "possible man-in-the-middle; not connecting",
        )
    if isinstance(exc, paramiko.AuthenticationException):
        return TransportError("auth", f"authentication failed for user {ep.user!r} at {where}")
    if isinstance(exc, socket.timeout | TimeoutError):
        return TransportError("unreachable", f"{where}: no answer within {timeout:g}s")
    if isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError):
        return TransportError("unreachable", f"{where}: connection refused")
    if isinstance(exc, socket.gaierror):
        return TransportError("unreachable", f"{ep.host}: cannot resolve host name")
    if isinstance(exc, paramiko.SSHException):
        return TransportError("ssh", f"{where}: {_printable(str(exc))}")
    if isinstance(exc, OSError):
        return TransportError("unreachable", f"{where}: {exc.strerror or exc}")
    return TransportError("ssh", f"{where}: {type(exc).__name__}: {_printable(str(exc))}")


def _printable(text: str, limit: int = 300) -> str:
    """Server-supplied text (banners) can hold control characters: keep it inert."""
    clean = "".join(c if c.isprintable() else "?" for c in text)
    return clean[:limit] + ("..." if len(clean) > limit else "")
