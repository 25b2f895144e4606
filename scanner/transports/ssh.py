"""SSH transport (paramiko): one connection per host, strict host keys by default.

``~/.ssh/config`` is honoured (HostName, Port, User, IdentityFile, ProxyJump) through
:mod:`hygie.resolve`, so a fleet already reachable with ``ssh`` is reachable with hygie, and
the transport connects to exactly the address the network probes scan. Secrets
(passwords) come from environment variables or a prompt, live only in memory, and never
appear in an error.

Every failure is classified by the phase it happened in (TCP connect, SSH banner, key
exchange, host key, authentication, exec), because paramiko's own messages name the
symptom seen by its reader thread ("No existing session", an empty ``EOFError``), not the
cause. The whole connection and exec are bounded by the host's deadline: a watchdog closes
the socket when it passes, whatever the peer does.
"""

from __future__ import annotations

import errno
import logging
import select
import socket
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import paramiko

from hygie.inventory import parse_target
from hygie.resolve import Endpoint, ResolveError, load_ssh_config, lookup, ssh_endpoint
from hygie.text import printable
from hygie.transports.base import ExecResult, TransportError

_KNOWN_HOSTS_LOCK = threading.Lock()
_STDERR_CAP = 65536

# paramiko logs its reader thread's exceptions (with tracebacks) through ``logging``; with
# no handler configured Python prints them on stderr. The reason reaches the admin through
# the host's error instead.
logging.getLogger("paramiko").addHandler(logging.NullHandler())
logging.getLogger("paramiko").propagate = False


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


class SshTransport:
    """``endpoint`` and ``address`` come from the host's resolution (:mod:`hygie.resolve`);
    ``deadline`` (``time.monotonic()``) bounds everything this transport does."""

    def __init__(
        self,
        name: str,
        endpoint: Endpoint,
        address: str | None,
        options: SshOptions,
        *,
        connect_timeout: float,
        deadline: float,
        deadline_label: str,
        password: str | None = None,
    ):
        self.name = name
        self.endpoint = endpoint
        self.address = address
        self.options = options
        self.connect_timeout = connect_timeout
        self.deadline = deadline
        self.deadline_label = deadline_label
        self._password = password
        self.connections = 0
        self.execs = 0
        self._clients: list[paramiko.SSHClient] = []
        self._sockets: list[socket.socket] = []
        self._expired = threading.Event()
        self._watchdog: threading.Timer | None = None

    # --- bounds ------------------------------------------------------------------------------

    def _remaining(self) -> float:
        return self.deadline - time.monotonic()

    def _bound(self) -> float:
        """The timeout of one connection step: the connect timeout, within the deadline."""
        remaining = self._remaining()
        if remaining <= 0:
            raise self._deadline_error("before connecting")
        return max(0.1, min(self.connect_timeout, remaining))

    def _start_watchdog(self) -> None:
        self._watchdog = threading.Timer(max(0.0, self._remaining()), self._expire)
        self._watchdog.daemon = True
        self._watchdog.start()

    def _expire(self) -> None:
        """At the deadline, close every socket: whatever paramiko waits on returns."""
        self._expired.set()
        for client in list(self._clients):
            client.close()
        for sock in list(self._sockets):
            sock.close()

    def _deadline_error(self, during: str) -> TransportError:
        reason = f"per-host deadline ({self.deadline_label}) reached {during}"
        return TransportError("timeout", f"{self._where()}: {reason}")

    @property
    def where(self) -> str:
        """``name at address:port``: how every reason about this host starts."""
        return self._where()

    def _where(self, ep: Endpoint | None = None, address: str | None = None) -> str:
        ep = ep or self.endpoint
        label = self.name if ep is self.endpoint else ep.host
        shown = f"{address or self.address or ep.host}:{ep.port}"
        if ep is not self.endpoint and address is None:
            shown = f"{ep.host}:{ep.port}"
        return shown if label == shown.rsplit(":", 1)[0] else f"{label} at {shown}"

    # --- connecting ----------------------------------------------------------------------

    def connect(self) -> None:
        self._start_watchdog()
        ep = self.endpoint
        if ep.jumps:
            sock = self._through_jumps(ep)
            client = self._open(ep, None, sock, self._password)
        else:
            if self.address is None:
                raise TransportError("unreachable", f"{ep.host}: no address to connect to")
            client = self._open(ep, self.address, self._tcp(ep, self.address), self._password)
        self._clients.append(client)

    def _tcp(self, ep: Endpoint, address: str) -> socket.socket:
        timeout = self._bound()
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        self._sockets.append(sock)
        sock.settimeout(timeout)
        where = self._where(ep, address)
        try:
            sock.connect((address, ep.port))
        except TimeoutError:
            sock.close()
            if self._expired.is_set():
                raise self._deadline_error("during TCP connect") from None
            raise TransportError(
                "timeout", f"{where}: no answer to the TCP connection within {timeout:g}s"
            ) from None
        except OSError as exc:
            sock.close()
            raise _socket_error(exc, where) from None
        return sock

    def _through_jumps(self, endpoint: Endpoint) -> paramiko.Channel:
        """Each hop of ``ProxyJump a,b`` carries the TCP stream to the next one."""
        config = _ssh_config(self.options.ssh_config)
        hops = [parse_target(h.strip()) for h in (endpoint.proxy_jump or "").split(",")]
        # A hop without its own user or key in ~/.ssh/config uses the target's, as
        # `ssh -i key -l user -J hop` does.
        chain = [
            ssh_endpoint(h.name, config, port=h.port, user=h.user or endpoint.user) for h in hops
        ]
        chain = [hop if hop.keys else replace(hop, keys=endpoint.keys) for hop in chain]
        sock = None
        for index, (hop, next_hop) in enumerate(zip(chain, [*chain[1:], endpoint], strict=True)):
            if index == 0:
                try:
                    address = lookup(hop.host)[0]
                except ResolveError as exc:
                    raise TransportError("unreachable", f"jump host {exc}") from None
                sock = self._tcp(hop, address)
            client = self._open(hop, None, sock, None)
            self._clients.append(client)
            try:
                sock = client.get_transport().open_channel(
                    "direct-tcpip",
                    (next_hop.host, next_hop.port),
                    ("127.0.0.1", 0),
                    timeout=self._bound(),
                )
            except (paramiko.SSHException, OSError) as exc:
                raise TransportError(
                    "unreachable",
                    f"{next_hop.host}:{next_hop.port} via jump host {hop.host}: "
                    f"{printable(str(exc))}",
                ) from None
        return sock

    def _open(
        self, ep: Endpoint, address: str | None, sock, password: str | None
    ) -> paramiko.SSHClient:
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
        self._clients.append(client)
        timeout = self._bound()
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
        except TransportError as exc:
            client.close()
            raise TransportError(exc.kind, f"{self._where(ep, address)}: {exc.message}") from None
        except Exception as exc:
            phase = _phase(client)
            client.close()
            if self._expired.is_set():
                raise self._deadline_error(f"during {phase}") from None
            raise _classify(exc, phase, ep, self._where(ep, address), timeout) from None
        finally:
            self._clients.remove(client)
        return client

    # --- running ---------------------------------------------------------------------------

    def run(
        self,
        command: str,
        stdin: bytes | None,
        timeout: float,
        max_bytes: int,
        header: tuple[bytes, int] | None = None,
    ) -> ExecResult:
        if not self._clients:
            raise TransportError("internal", "run() before connect()")
        transport = self._clients[-1].get_transport()
        deadline = min(self.deadline, time.monotonic() + timeout)
        try:
            channel = transport.open_session(timeout=self._bound())
            self.execs += 1
            channel.exec_command(command)
            if stdin:
                channel.sendall(stdin)
            channel.shutdown_write()
            result = _drain(channel, deadline, max_bytes, header)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            if self._expired.is_set():
                raise self._deadline_error("while the collection ran") from None
            raise TransportError(
                "exec", f"{self._where()}: could not start the collection: {printable(str(exc))}"
            ) from None
        if self._expired.is_set():
            # The watchdog closed the channel: paramiko then reports it as ended, without
            # a status. That is the deadline, not a dropped session.
            return ExecResult(result.stdout, result.stderr, None, timed_out=True)
        return result

    def close(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
        for client in reversed(self._clients):
            client.close()
        for sock in self._sockets:
            sock.close()
        self._clients.clear()
        self._sockets.clear()


def _ssh_config(path: Path | None) -> paramiko.SSHConfig | None:
    try:
        return load_ssh_config(path)
    except ResolveError as exc:
        raise TransportError("config", str(exc)) from None


def _drain(
    channel: paramiko.Channel, deadline: float, max_bytes: int, header: tuple[bytes, int] | None
) -> ExecResult:
    """Read stdout and stderr until exit, the deadline or the size cap, whichever first.

    ``header`` (marker, within): output that has not shown ``marker`` after ``within`` bytes
    is not what was asked for (a ForceCommand flooding, a restricted shell): stop there.
    paramiko reports a session that ended without an exit status (the remote process was
    killed, the connection dropped) as status -1: that is returned as None."""
    out, err = bytearray(), bytearray()
    pending_header = header
    while True:
        while channel.recv_ready() and len(out) <= max_bytes:
            out += channel.recv(65536)
            if pending_header and pending_header[0] in out:
                pending_header = None
        while channel.recv_stderr_ready():
            chunk = channel.recv_stderr(65536)
            if len(err) < _STDERR_CAP:
                err += chunk
        if len(out) > max_bytes or (pending_header and len(out) > pending_header[1]):
            channel.close()
            return ExecResult(bytes(out[:max_bytes]), bytes(err), None, capped=True)
        # OpenSSH may send the exit status before the last of the output: the session is
        # over only once the server also sent EOF (or closed the channel).
        if (
            channel.exit_status_ready()
            and (channel.eof_received or channel.closed)
            and not channel.recv_ready()
            and not channel.recv_stderr_ready()
        ):
            status = channel.recv_exit_status()
            channel.close()
            return ExecResult(bytes(out), bytes(err), None if status < 0 else status)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            channel.close()
            return ExecResult(bytes(out), bytes(err), None, timed_out=True)
        select.select([channel], [], [], min(remaining, 0.5))


def _phase(client: paramiko.SSHClient) -> str:
    """How far the connection got before it failed, from paramiko's transport state."""
    transport = client.get_transport()
    if transport is None or not transport.remote_version:
        return "banner"
    if transport.host_key is None:
        return "kex"
    return "auth"


def _socket_error(exc: OSError, where: str) -> TransportError:
    if exc.errno == errno.ECONNREFUSED:
        return TransportError("refused", f"{where}: connection refused")
    if exc.errno == errno.EHOSTUNREACH:
        return TransportError("unreachable", f"{where}: no route to host (no ARP/ND answer)")
    if exc.errno == errno.ENETUNREACH:
        return TransportError("unreachable", f"{where}: network unreachable (no route)")
    return TransportError("unreachable", f"{where}: {printable(exc.strerror or str(exc))}")


def _classify(
    exc: Exception, phase: str, ep: Endpoint, where: str, timeout: float
) -> TransportError:
    if isinstance(exc, paramiko.BadHostKeyException):
        return TransportError(
            "host-key",
            f"{where}: host key does not match known_hosts (got "
            f"{fingerprint(exc.key)}, expected {fingerprint(exc.expected_key)}): "
            "possible man-in-the-middle; not connecting",
        )
    if isinstance(exc, paramiko.AuthenticationException):
        return TransportError("auth", f"{where}: authentication failed for user {ep.user!r}")
    detail = printable(str(exc)) or type(exc).__name__
    if phase == "banner":
        if isinstance(exc, EOFError) or "EOF" in str(exc):
            return TransportError(
                "banner", f"{where}: closed the connection before sending an SSH banner"
            )
        return TransportError(
            "banner", f"{where}: no SSH banner within {timeout:g}s (is this an SSH server?)"
        )
    if phase == "kex":
        if isinstance(exc, EOFError | OSError) or "No existing session" in str(exc):
            return TransportError("kex", f"{where}: closed the connection during key exchange")
        return TransportError("kex", f"{where}: key exchange failed: {detail}")
    if isinstance(exc, TimeoutError):
        return TransportError("timeout", f"{where}: authentication took longer than {timeout:g}s")
    return TransportError("auth", f"{where}: authentication did not complete: {detail}")
