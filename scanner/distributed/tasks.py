"""The runner's one task: audit a host with the engine, sign the result, return it.

The runner audits exactly as an in-process scan does (hygie.engine.audit_host: one SSH
connection, one exec, the host's deadline) with its own SSH settings (known_hosts,
ssh_config) and its own secrets: key files and password environment variables named by the
task are read here, on the runner's machine.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from celery import Celery

from hygie.engine import EngineOptions, audit_host, needed_facts
from hygie.factspec import FactSpec
from hygie.policy import Policy
from hygie.signing import Signer, canonical_json, seal

from .wire import host_statement, target_from_task

AUDIT_TASK = "hygie.audit_host"


@dataclass
class Runner:
    site: str
    signer: Signer
    options: EngineOptions
    _plans: dict[bytes, tuple[Policy, list[FactSpec]]] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def _plan(self, document: dict) -> tuple[Policy, list[FactSpec]]:
        """The policy and its facts, built once per policy (every task of a scan sends
        the same document)."""
        key = canonical_json(document)
        with self._lock:
            if key not in self._plans:
                policy = Policy.from_document(document)
                self._plans[key] = (policy, needed_facts(policy))
            return self._plans[key]

    def audit(self, scan_id: str, target: dict[str, Any], policy: dict) -> dict[str, str]:
        """The signed envelope of one host's HostScan, as text (JSON results only)."""
        pol, specs = self._plan(policy)
        host = audit_host(target_from_task(target), specs, pol, self.options)
        host.site, host.runner = self.site, self.signer.keyid
        envelope = seal(host_statement(scan_id, self.site, host), self.signer)
        return {"envelope": envelope.decode()}


def register(app: Celery, runner: Runner) -> None:
    @app.task(name=AUDIT_TASK)
    def audit(scan_id: str, target: dict[str, Any], policy: dict) -> dict[str, str]:
        return runner.audit(scan_id, target, policy)
