"""The check registry: a check is one pure function, joined with its data.

The ``@check`` decorator keeps beside the code what the engine needs to run it (facts
needed, OS families, parameters); what a reader needs (severity, title, rationale,
remediation in each language, framework references) is the check's entry in its domain's
data file (hygie.checkdata), so texts are translatable and a control mapping has exactly
one source of truth. Checks are discovered by importing every module of
``hygie.checks``; nothing keeps a hand-written list.

A check id starts with a prefix of its module: ``<domain>_`` (``ssh_root_login`` in
``checks/ssh.py``), or one of the module's ``ID_PREFIXES`` when its ids predate the
module's name (``ID_PREFIXES = ("net_",)`` in ``checks/ssh_wire.py``). Ids are public,
stable names (stored scans, policies, waivers and reports cite them), so they are never
renamed to follow the code; the prefix instead says where the code of an id lives, and
:func:`all_checks` refuses an id outside its module's prefixes, naming both.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, TypeVar

from hygie.checkdata import CheckData, CheckText, data_for
from hygie.discovery import import_all, require_package
from hygie.model import Evidence, Fact, Severity, Status

CHECKS_PACKAGE = "hygie.checks"
FAMILIES = ("debian", "rhel")
#: For checks that judge a host from the network: they apply whatever the OS, and to
#: network-only targets (devices reached without a shell).
ANY_FAMILY = "any"
_ID = re.compile(r"^[a-z][a-z0-9_]*$")
T = TypeVar("T")


class MissingFact(Exception):
    """A check asked for a fact the host did not provide: the engine turns it into
    ``error`` so that missing evidence never reads as a pass."""

    def __init__(self, name: str, reason: str):
        super().__init__(f"fact {name!r} unavailable: {reason}")
        self.fact = name
        self.reason = reason


@dataclass(frozen=True)
class Param:
    """A tunable threshold of a check; policies set it, the check never hard-codes it."""

    default: Any
    description: str
    minimum: int | None = None
    maximum: int | None = None
    choices: tuple[Any, ...] | None = None

    @property
    def kind(self) -> type:
        return type(self.default)

    def validate(self, value: Any) -> str | None:
        """Why ``value`` is unacceptable, or None."""
        if self.kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        return (
            self._type_problem(value) or self._choice_problem(value) or self._range_problem(value)
        )

    def _type_problem(self, value: Any) -> str | None:
        kind = self.kind
        if kind is not bool and isinstance(value, bool):
            return f"expected {kind.__name__}, got a boolean"
        if not isinstance(value, kind):
            return f"expected {kind.__name__}, got {type(value).__name__} {value!r}"
        return None

    def _choice_problem(self, value: Any) -> str | None:
        """A list holds strings, each among the choices; any other value is one of them."""
        if isinstance(value, list):
            if not all(isinstance(v, str) for v in value):
                return "expected a list of strings"
            if self.choices is not None:
                bad = [v for v in value if v not in self.choices]
                if bad:
                    return f"unknown values {bad}; allowed: {list(self.choices)}"
        elif self.choices is not None and value not in self.choices:
            return f"{value!r} not one of {list(self.choices)}"
        return None

    def _range_problem(self, value: Any) -> str | None:
        if not isinstance(value, int | float):
            return None
        if self.minimum is not None and value < self.minimum:
            return f"{value} is below the minimum {self.minimum}"
        if self.maximum is not None and value > self.maximum:
            return f"{value} is above the maximum {self.maximum}"
        return None


@dataclass(frozen=True)
class Verdict:
    """What a check function returns; the engine adds host, id, title and severity."""

    status: Status
    message: str
    evidence: tuple[Evidence, ...] = ()


def passed(message: str, *evidence: Evidence) -> Verdict:
    return Verdict(Status.PASS, message, evidence)


def failed(message: str, *evidence: Evidence) -> Verdict:
    return Verdict(Status.FAIL, message, evidence)


def not_applicable(message: str, *evidence: Evidence) -> Verdict:
    return Verdict(Status.NOT_APPLICABLE, message, evidence)


def errored(message: str, *evidence: Evidence) -> Verdict:
    return Verdict(Status.ERROR, message, evidence)


def judge(ok: bool, message: str, *evidence: Evidence) -> Verdict:
    """``passed`` or ``failed`` with the same message and evidence."""
    return Verdict(Status.PASS if ok else Status.FAIL, message, evidence)


class Facts:
    """Read-only view of one host's facts, handed to check functions.

    Asking for a fact that was not collected, or whose collection was truncated, raises
    :class:`MissingFact`; the engine turns that into ``error`` for the check.
    """

    def __init__(
        self,
        facts: Mapping[str, Fact],
        *,
        privileged: bool = True,
        parsed: dict[tuple[str, Callable], Any] | None = None,
    ):
        self._facts = facts
        self.privileged = privileged
        self._parsed = {} if parsed is None else parsed

    def __contains__(self, name: str) -> bool:
        return name in self._facts

    def get(self, name: str) -> Fact:
        fact = self._facts.get(name)
        if fact is None:
            raise MissingFact(name, "not collected")
        if fact.truncated:
            raise MissingFact(name, "output exceeded the size cap and was truncated")
        return fact

    def raw(self, name: str) -> bytes:
        """Standard output, as bytes, of a fact whose command succeeded (exit status 0)."""
        fact = self.get(name)
        if not fact.ok:
            detail = fact.stderr_text.strip().splitlines()[-1:] or [""]
            raise MissingFact(name, f"command exited {fact.exit_status} {detail[0]}".strip())
        return fact.stdout

    def text(self, name: str) -> str:
        """Standard output of a fact whose command succeeded (exit status 0)."""
        return self.raw(name).decode("utf-8", errors="replace")

    def parsed(self, name: str, parser: Callable[[str], T]) -> T:
        """``parser(text)`` of a fact, computed once per host and shared by every check
        that reads it (18 TLS checks read one sslyze document). A parser that raises
        raises again for each reader, so each check reports the same error."""
        key = (name, parser)
        if key not in self._parsed:
            text = self.text(name)  # MissingFact is not cached: it is cheap and per view
            try:
                self._parsed[key] = (True, parser(text))
            except Exception as exc:
                self._parsed[key] = (False, exc)
        ok, value = self._parsed[key]
        if not ok:
            raise value
        return value


CheckFunc = Callable[[Facts, Mapping[str, Any]], Verdict]


@dataclass(frozen=True)
class CheckMeta:
    """A check as reports see it: its code's declaration joined with its domain's data."""

    id: str
    title: str
    severity: Severity
    rationale: str
    remediation: str
    references: Mapping[str, tuple[str, ...]]
    facts: tuple[str, ...]
    families: tuple[str, ...]
    params: Mapping[str, Param]
    func: CheckFunc = field(repr=False, compare=False)
    texts: Mapping[str, CheckText] = field(default_factory=dict, repr=False, compare=False)

    def text(self, lang: str) -> CheckText:
        """Title, rationale and remediation in ``lang``, English where not translated."""
        return self.texts.get(lang) or CheckText(self.title, self.rationale, self.remediation)

    def defaults(self) -> dict[str, Any]:
        return {name: p.default for name, p in self.params.items()}

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "title": self.title,
            "severity": self.severity.value,
            "rationale": self.rationale,
            "remediation": self.remediation,
            "references": {k: list(v) for k, v in self.references.items()},
            "facts": list(self.facts),
            "families": list(self.families),
            "params": {
                k: {"default": p.default, "description": p.description}
                for k, p in self.params.items()
            },
        }


@dataclass(frozen=True)
class _Declared:
    """What a check's code declares; its texts come from the domain's data file."""

    func: CheckFunc
    facts: tuple[str, ...]
    families: tuple[str, ...]
    params: Mapping[str, Param]


_DECLARED: dict[str, _Declared] = {}
_REGISTRY: dict[str, CheckMeta] = {}


def check(
    *,
    facts: Iterable[str],
    families: Iterable[str] = FAMILIES,
    params: Mapping[str, Param] | None = None,
) -> Callable[[CheckFunc], CheckFunc]:
    """Register a check; its id is the function's name, so id, file and code agree. Its
    severity, texts and references are the entry of that id in the domain's data file."""

    def register(func: CheckFunc) -> CheckFunc:
        check_id = func.__name__
        require_package(func.__module__, CHECKS_PACKAGE, f"check {check_id!r}")
        if not _ID.match(check_id):
            raise ValueError(f"check id {check_id!r} must be lower_snake_case")
        if check_id in _DECLARED and _DECLARED[check_id].func is not func:
            raise ValueError(f"check {check_id!r} registered twice")
        fams = tuple(families)
        unknown = set(fams) - {*FAMILIES, ANY_FAMILY}
        if unknown:
            raise ValueError(f"check {check_id}: unknown families {sorted(unknown)}")
        _DECLARED[check_id] = _Declared(func, tuple(facts), fams, dict(params or {}))
        return func

    return register


def _domain(module_name: str) -> str:
    """``ssh`` of ``hygie.checks.ssh``: the name its data file and its default prefix use."""
    return module_name.removeprefix(f"{CHECKS_PACKAGE}.")


def id_prefixes(module: ModuleType) -> tuple[str, ...]:
    """What the ids of a check module's checks start with: its ``ID_PREFIXES``, else its
    domain name and ``_`` (the folder's name for a module in a folder: ``tls_`` for
    ``checks/tls/protocols.py``)."""
    domain = _domain(module.__name__).split(".", 1)[0]
    prefixes = getattr(module, "ID_PREFIXES", (f"{domain}_",))
    if (
        not isinstance(prefixes, tuple)
        or not prefixes
        or not all(isinstance(p, str) and _ID.match(p) and p.endswith("_") for p in prefixes)
    ):
        raise ValueError(
            f"{module.__name__}.ID_PREFIXES must be a non-empty tuple of lower_snake_case "
            f"prefixes ending in '_', not {prefixes!r}"
        )
    return prefixes


def _require_prefixes(module: ModuleType, check_ids: Iterable[str]) -> None:
    """Refuse a check whose id does not say which module holds it."""
    prefixes = id_prefixes(module)
    for check_id in sorted(check_ids):
        if not check_id.startswith(prefixes):
            raise ValueError(
                f"check {check_id!r} of module {module.__name__}: its id must start with "
                f"{' or '.join(prefixes)} (the module's ID_PREFIXES, by default its name and _)"
            )


def _join(check_id: str, declared: _Declared, data: CheckData) -> CheckMeta:
    english = data.texts["en"]
    return CheckMeta(
        id=check_id,
        title=english.title,
        severity=data.severity,
        rationale=english.rationale,
        remediation=english.remediation,
        references=data.references,
        facts=declared.facts,
        families=declared.families,
        params=declared.params,
        func=declared.func,
        texts=data.texts,
    )


def all_checks() -> dict[str, CheckMeta]:
    """Every registered check, after importing each module below ``hygie.checks``, with
    its domain's data (a check without an entry, or an entry without a check, raises
    :class:`~hygie.checkdata.CheckDataError` naming the file; an id outside its module's
    prefixes raises ``ValueError`` naming both)."""
    import_all(CHECKS_PACKAGE)
    if len(_REGISTRY) != len(_DECLARED):
        modules: dict[str, set[str]] = {}
        for check_id, declared in _DECLARED.items():
            modules.setdefault(declared.func.__module__, set()).add(check_id)
        for module, ids in modules.items():
            _require_prefixes(sys.modules[module], ids)
            data = data_for(_domain(module), ids)
            _REGISTRY.update({cid: _join(cid, _DECLARED[cid], data[cid]) for cid in ids})
    return dict(sorted(_REGISTRY.items()))
