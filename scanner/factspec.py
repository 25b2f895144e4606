"""How a fact is gathered: a named POSIX-sh snippet with its own bounds.

Fact specs are declared by the domain modules in ``hygie.facts`` (one module per domain:
accounts, ssh, packages, ...). Checks name the facts they need; the collector builds one
script from the union. Specs are discovered, never listed by hand.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hygie.model import Fact

DEFAULT_MAX_BYTES = 1 << 20
DEFAULT_TIMEOUT = 30

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class FactSpec:
    """``command`` runs under ``sh -c`` on the target with stdin closed.

    It must only read: hygie never changes a target. ``timeout`` 0 means the command only
    reads files and cannot hang (it then runs without its own timer). ``privileged`` says
    the output is incomplete without root (the check then reports ``error`` rather than a
    wrong verdict when the host was scanned without ``become``).
    """

    name: str
    command: str
    description: str
    privileged: bool = False
    max_bytes: int = DEFAULT_MAX_BYTES
    timeout: int = DEFAULT_TIMEOUT
    requires: tuple[str, ...] = ()
    derive: Callable[[Mapping[str, Fact]], bytes] | None = None
    probe: Callable[[ProbeContext], bytes] | None = None

    @property
    def derived(self) -> bool:
        return self.derive is not None

    @property
    def kind(self) -> str:
        """``shell`` (collected on the target), ``probe`` (from the scanner over the
        network) or ``derived`` (computed on the scanner from other facts)."""
        if self.derive is not None:
            return "derived"
        return "probe" if self.probe is not None else "shell"


@dataclass(frozen=True)
class ProbeContext:
    """What a network probe knows about its target. ``settings`` are the host's
    ``network:`` inventory values; ``facts`` the facts gathered before this probe (probes
    run after the shell collection, in the order their ``requires`` impose)."""

    name: str
    address: str
    tags: tuple[str, ...]
    settings: Mapping[str, Any]
    facts: Mapping[str, Fact]
    deadline: float

    def remaining(self) -> float:
        return max(0.0, self.deadline - time.monotonic())


_REGISTRY: dict[str, FactSpec] = {}


def fact(
    name: str,
    command: str,
    description: str,
    *,
    privileged: bool = False,
    max_bytes: int = DEFAULT_MAX_BYTES,
    timeout: int = DEFAULT_TIMEOUT,
) -> FactSpec:
    """Declare a fact; called at import time by the ``hygie.facts`` modules."""
    if not _NAME.match(name):
        raise ValueError(f"fact name {name!r} must be lower_snake_case")
    if name in _REGISTRY and _REGISTRY[name].command != command:
        raise ValueError(f"fact {name!r} declared twice with different commands")
    spec = FactSpec(name, command, description, privileged, max_bytes, timeout)
    _REGISTRY[name] = spec
    return spec


def derived_fact(
    name: str, requires: tuple[str, ...], description: str
) -> Callable[[Callable[[Mapping[str, Fact]], bytes]], Callable[[Mapping[str, Fact]], bytes]]:
    """Declare a fact computed on the scanner from collected facts plus outside knowledge
    (for example installed packages matched against advisory feeds).

    It is derived after collection and again on every offline re-evaluation, stored with
    the scan that derived it, and hashed like any fact: checks stay pure functions of facts.
    The function receives the host's collected facts and returns the fact's bytes; if it
    raises, the fact is recorded as failed (exit status 1, the error on stderr).
    """

    def register(func: Callable[[Mapping[str, Fact]], bytes]):
        if not _NAME.match(name):
            raise ValueError(f"fact name {name!r} must be lower_snake_case")
        _REGISTRY[name] = FactSpec(name, "", description, requires=requires, derive=func)
        return func

    return register


def probe_fact(
    name: str, description: str, *, requires: tuple[str, ...] = (), timeout: int = 120
) -> Callable[[Callable[[ProbeContext], bytes]], Callable[[ProbeContext], bytes]]:
    """Declare a fact gathered from the scanner over the network (nmap, TLS handshakes,
    protocol probes). ``requires`` orders the probe after those probes and lets it read
    their facts when the policy gathers them; it does not make the policy gather them.
    The function returns the raw evidence bytes (nmap XML, a JSON
    record of the handshake...) and must stay within ``ctx.remaining()`` and ``timeout``;
    if it raises, the fact is recorded as failed (exit status 1, the error on stderr)."""

    def register(func: Callable[[ProbeContext], bytes]):
        if not _NAME.match(name):
            raise ValueError(f"fact name {name!r} must be lower_snake_case")
        _REGISTRY[name] = FactSpec(
            name, "", description, timeout=timeout, requires=requires, probe=func
        )
        return func

    return register


def file_fact(name: str, path: str, description: str, **kwargs) -> FactSpec:
    """A fact that is the content of one file (exit status 1 when it is absent).

    Reading a file cannot hang, so it runs without its own ``timeout`` (cheaper)."""
    return fact(name, f"cat -- {path}", description, **({"timeout": 0} | kwargs))


def files_fact(name: str, pattern: str, description: str, **kwargs) -> FactSpec:
    """Several files (a glob) in one fact, each introduced by a ``==> path <==`` line.

    Used for ``*.d`` drop-in directories, where order and file names matter.
    """
    command = (
        f'for f in {pattern}; do [ -f "$f" ] || continue; '
        'printf "==> %s <==\\n" "$f"; cat -- "$f"; echo; done'
    )
    return fact(name, command, description, **({"timeout": 0} | kwargs))


def split_files(text: str) -> dict[str, str]:
    """Inverse of :func:`files_fact`: path -> content, in the order collected."""
    files: dict[str, str] = {}
    current: str | None = None
    for line in text.splitlines(keepends=True):
        m = re.match(r"^==> (.+) <==\n?$", line)
        if m:
            current = m.group(1)
            files[current] = ""
        elif current is not None:
            files[current] += line
    return {k: v.removesuffix("\n") for k, v in files.items()}


def all_facts() -> dict[str, FactSpec]:
    """Every declared fact, after importing each module of ``hygie.facts``."""
    package = importlib.import_module("hygie.facts")
    for info in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"hygie.facts.{info.name}")
    return dict(_REGISTRY)
