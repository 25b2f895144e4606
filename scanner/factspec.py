"""How a fact is gathered: a named POSIX-sh snippet with its own bounds.

Fact specs are declared by the domain modules in ``hygie.facts`` (one module per domain:
accounts, ssh, packages, ...). Checks name the facts they need; the collector builds one
script from the union. Specs are discovered, never listed by hand.
"""

from __future__ import annotations

import difflib
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hygie.discovery import import_all, require_package

if TYPE_CHECKING:
    from hygie.model import Fact

DEFAULT_MAX_BYTES = 1 << 20
DEFAULT_TIMEOUT = 30

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
FACTS_PACKAGE = "hygie.facts"


@dataclass(frozen=True)
class FactSpec:
    """``command`` runs under ``sh -c`` on the target with stdin closed.

    It must only read: hygie never changes a target. ``timeout`` 0 means the command only
    reads files and cannot hang (it then runs without its own timer). ``privileged`` says
    the output is incomplete without root (the check then reports ``error`` rather than a
    wrong verdict when the host was scanned without ``become``). ``tools`` are commands
    the fact cannot do without on any supported system: a host lacking one is ``partial``.

    ``requires`` are the facts this one reads (a probe's or a derived fact's inputs): the
    engine gathers them whenever this fact is needed, runs them first, and hands this fact
    only those; if one of them failed, this fact fails with that reason instead of running
    on nothing. ``setting_keys`` are the ``network:`` inventory keys a probe reads and
    ``settings`` parses them (raising ``ValueError`` that names ``network.<key>``), so the
    inventory is validated when it is loaded, not when the probe runs.

    A probe declares the TCP ports its protocol lives on that nmap must always scan
    (``scan_ports``: nmap's top-1000 list has no DICOM or HL7 port) and the ``network:``
    keys that list more of them (``port_settings``); ``version_probes`` False keeps nmap's
    generic service probes off those ports (a clinical interface is identified by the
    probe's own protocol exchange, never by a hundred unrelated payloads).
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
    tools: tuple[str, ...] = ()
    setting_keys: tuple[str, ...] = ()
    settings: SettingsParser | None = None
    scan_ports: tuple[int, ...] = ()
    port_settings: tuple[str, ...] = ()
    version_probes: bool = True

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


SettingsParser = Callable[[Mapping[str, Any], tuple[str, ...]], object]


@dataclass(frozen=True)
class ProbeContext:
    """What a network probe knows about its target. ``address`` is the address the target
    resolved to (the one every probe and the SSH transport use); ``hostname`` the name
    that was resolved, None when the inventory gave an IP. ``settings`` are the host's
    ``network:`` inventory values; ``facts`` exactly the facts the probe ``requires``,
    each collected successfully."""

    name: str
    address: str
    tags: tuple[str, ...]
    settings: Mapping[str, Any]
    facts: Mapping[str, Fact]
    deadline: float
    hostname: str | None = None

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
    tools: tuple[str, ...] = (),
) -> FactSpec:
    """Declare a fact; called at import time by the ``hygie.facts`` modules."""
    if not _NAME.match(name):
        raise ValueError(f"fact name {name!r} must be lower_snake_case")
    if name in _REGISTRY and _REGISTRY[name].command != command:
        raise ValueError(f"fact {name!r} declared twice with different commands")
    spec = FactSpec(name, command, description, privileged, max_bytes, timeout, tools=tools)
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
        require_package(func.__module__, FACTS_PACKAGE, f"fact {name!r}")
        _REGISTRY[name] = FactSpec(name, "", description, requires=requires, derive=func)
        return func

    return register


def probe_fact(
    name: str,
    description: str,
    *,
    requires: tuple[str, ...] = (),
    timeout: int = 120,
    setting_keys: tuple[str, ...] = (),
    settings: SettingsParser | None = None,
    scan_ports: tuple[int, ...] = (),
    port_settings: tuple[str, ...] = (),
    version_probes: bool = True,
) -> Callable[[Callable[[ProbeContext], bytes]], Callable[[ProbeContext], bytes]]:
    """Declare a fact gathered from the scanner over the network (nmap, TLS handshakes,
    protocol probes). ``requires``: the facts it reads (see :class:`FactSpec`). The
    function returns the raw evidence bytes (nmap XML, a JSON record of the handshake...)
    and must stay within ``ctx.remaining()`` and ``timeout``; if it raises, the fact is
    recorded as failed (exit status 1, the error on stderr)."""

    def register(func: Callable[[ProbeContext], bytes]):
        if not _NAME.match(name):
            raise ValueError(f"fact name {name!r} must be lower_snake_case")
        require_package(func.__module__, FACTS_PACKAGE, f"fact {name!r}")
        _REGISTRY[name] = FactSpec(
            name,
            "",
            description,
            timeout=timeout,
            requires=requires,
            probe=func,
            setting_keys=setting_keys,
            settings=settings,
            scan_ports=scan_ports,
            port_settings=port_settings,
            version_probes=version_probes,
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
    """Every declared fact, after importing each module below ``hygie.facts``."""
    import_all(FACTS_PACKAGE)
    return dict(_REGISTRY)


def closure(names: Iterable[str], specs: Mapping[str, FactSpec]) -> set[str]:
    """``names`` and everything they require, transitively."""
    todo, seen = list(names), set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        if name in specs:
            todo.extend(specs[name].requires)
    return seen


def network_setting_problems(
    settings: Mapping[str, Any], tags: tuple[str, ...] = ()
) -> list[tuple[str | None, str]]:
    """What is wrong with a host's ``network:`` mapping, as (key, reason) pairs: keys no
    probe reads (with the closest known key), then each probe's own parse of its keys."""
    specs = [s for s in all_facts().values() if s.setting_keys or s.settings]
    known = sorted({k for s in specs for k in s.setting_keys})
    problems: list[tuple[str | None, str]] = []
    for key in settings:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(known)}"
            problems.append((key, f"network.{key}: unknown network setting{hint}"))
    if problems:
        return problems
    for spec in specs:
        if spec.settings is None:
            continue
        try:
            spec.settings(settings, tags)
        except ValueError as exc:
            found = re.search(r"network\.([a-z_]+)", str(exc))
            problems.append((found.group(1) if found else None, str(exc)))
    return problems
