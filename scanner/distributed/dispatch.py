"""The central side of a multi-site scan: send each host to its site's queue, wait for the
signed results (a bar per site), ingest them, and give up on sites nobody serves.

Bounds: a site none of whose runners returned a result or answered a ping (Celery's
``inspect``, sent when a site was quiet for ``ping_every`` seconds) for ``site_timeout``
seconds has its waiting hosts made ``error`` (``runner: no runner for site X``); a host a
live runner holds is waited for (the runner enforces its deadline). While the broker is
unreachable (a restart) the central retries, for up to ``site_timeout`` seconds, then
makes every waiting host ``error``. Tasks expire when a runner could no longer be waited
for, so a runner started late does not audit hosts for a scan that is closed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from celery import Celery
from celery import states as celery_states
from celery.backends.base import BaseBackend
from kombu.exceptions import OperationalError
from redis.exceptions import RedisError

from hygie.engine import new_scan
from hygie.inventory import Target
from hygie.model import HostScan, Scan
from hygie.policy import Policy
from hygie.text import printable

from .app import QUEUE_PREFIX, make_app, queue_name
from .ingest import Ingest, RunnerKeys
from .tasks import AUDIT_TASK
from .wire import target_to_task

BROKER_ERRORS = (OSError, RedisError, OperationalError)


class BrokerError(Exception):
    """The broker could not be reached to dispatch the scan (nothing was audited)."""


@dataclass(frozen=True)
class BrokerScan:
    """How to scan through a broker."""

    broker: str
    runner_keys: RunnerKeys
    site_timeout: float
    poll: float = 0.2
    ping_every: float = 2.0


def dispatch_scan(
    targets: Iterable[Target],
    policy: Policy,
    settings: BrokerScan,
    on_host: Callable[[HostScan], None] | None = None,
) -> tuple[Scan, list[str]]:
    """One Scan of ``targets`` (every one has a ``site``), assessed by the runners of their
    sites; and the refused results, one line each ("<host>: <reason>")."""
    targets = list(targets)
    scan = new_scan(policy)
    ingest = Ingest(scan.id, policy, settings.runner_keys)
    sender = make_app(settings.broker, results=False)  # publishes, pings
    results = make_app(settings.broker).backend  # read by polling, never subscribed
    waiter = _Waiter(sender, results, settings, ingest, on_host or (lambda _: None))
    try:
        waiter.send(targets, policy)
    except BROKER_ERRORS as exc:
        raise BrokerError(f"cannot dispatch through {settings.broker}: {exc}") from None
    waiter.wait()
    scan.hosts = [ingest.hosts[t.name] for t in targets]
    scan.finished = time.time()
    return scan, ingest.refusals


@dataclass
class _Waiter:
    app: Celery
    results: BaseBackend
    settings: BrokerScan
    ingest: Ingest
    on_host: Callable[[HostScan], None]
    pending: dict[str, Target] = field(default_factory=dict)  # task id -> target
    seen: dict[str, float] = field(default_factory=dict)  # site -> a runner last answered
    reached: float = field(default_factory=time.monotonic)  # the broker last answered
    pinged: float = 0.0  # when the last ping was sent

    def send(self, targets: list[Target], policy: Policy) -> None:
        document = policy.document()
        budget: dict[str, float] = {}
        for t in targets:
            budget[t.site] = budget.get(t.site, self.settings.site_timeout) + t.timeout
        for t in targets:
            sent = self.app.send_task(
                AUDIT_TASK,
                args=[self.ingest.scan_id, target_to_task(t), document],
                queue=queue_name(t.site),
                expires=budget[t.site],
            )
            self.pending[sent.id] = t
            self.seen.setdefault(t.site, time.monotonic())

    def wait(self) -> None:
        while self.pending:
            try:
                self._collect()
                if self._quiet_sites():
                    self._ping()
                self.reached = time.monotonic()
            except BROKER_ERRORS as exc:
                self._broker_down(exc)
            if self.pending:
                time.sleep(self.settings.poll)

    def _collect(self) -> None:
        backend = self.results
        ids = list(self.pending)
        values = backend.mget([backend.get_key_for_task(i) for i in ids])
        for task_id, value in zip(ids, values, strict=True):
            if value is None:
                continue
            meta = backend.decode_result(value)
            if meta["status"] not in celery_states.READY_STATES:
                continue
            target = self.pending.pop(task_id)
            self.seen[target.site] = time.monotonic()  # a result: a runner of it is alive
            result = meta["result"]
            if meta["status"] == celery_states.SUCCESS and isinstance(result, dict):
                self._report(self.ingest.accept(target, str(result.get("envelope")).encode()))
            else:
                error = f"runner: the task failed: {printable(str(result), 300)}"
                self._report(self.ingest.fail(target, error))

    def _quiet_sites(self) -> bool:
        """Whether a site with waiting hosts has given no sign of life for ``ping_every``
        (results count: a busy scan pings nobody), at most one ping per ``ping_every``."""
        now = time.monotonic()
        if now - self.pinged < self.settings.ping_every:
            return False
        sites = {t.site for t in self.pending.values()}
        return any(now - self.seen[s] > self.settings.ping_every for s in sites)

    def _ping(self) -> None:
        self.pinged = time.monotonic()
        replies = self.app.control.inspect(timeout=1.0).active_queues() or {}
        now = time.monotonic()
        for queues in replies.values():
            for queue in queues or ():
                name = str(queue.get("name", ""))
                if name.startswith(QUEUE_PREFIX):
                    self.seen[name[len(QUEUE_PREFIX) :]] = now
        bound = self.settings.site_timeout
        for task_id, target in list(self.pending.items()):
            if now - self.seen[target.site] > bound:
                del self.pending[task_id]
                error = f"runner: no runner for site {target.site} answered within {bound:g}s"
                self._report(self.ingest.fail(target, error))

    def _broker_down(self, exc: Exception) -> None:
        down = time.monotonic() - self.reached
        if down <= self.settings.site_timeout:
            return
        reason = printable(f"{type(exc).__name__}: {exc}", 200)
        for target in self.pending.values():
            self._report(self.ingest.fail(target, f"runner: broker unreachable ({reason})"))
        self.pending.clear()

    def _report(self, host: HostScan | None) -> None:
        if host is not None:
            self.on_host(host)
