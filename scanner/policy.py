"""Policy packs: which checks to run, with which thresholds and severities.

A policy is data (YAML in ``policies/``): it selects checks and sets parameters, it never
contains logic. ``extends:`` layers a pack on another. Every error names the file and the
line, because the people who edit policies are auditors, not programmers.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from hygie.model import Severity
from hygie.registry import CheckMeta, all_checks
from hygie.yamlfile import DataFileError, Node, check_keys, load_mapping

TOP_KEYS = {"name", "version", "description", "extends", "checks", "exclude", "collect"}
ENTRY_KEYS = {"params", "severity"}
DEFAULT_POLICY = "health-baseline"


class PolicyError(DataFileError):
    """A policy that cannot be used, with the file and line to fix."""


@dataclass(frozen=True)
class Selection:
    check_id: str
    params: dict[str, Any]
    severity: Severity


@dataclass(frozen=True)
class Policy:
    name: str
    version: str
    description: str
    sources: tuple[str, ...]
    selections: dict[str, Selection]
    #: facts gathered for a need no check has (``drift``: hygie.drift.COLLECTIONS)
    collect: tuple[str, ...] = ()

    def document(self) -> dict:
        """The fully resolved policy, as stored with a scan so it can be reproduced."""
        return {
            "name": self.name,
            "version": self.version,
            "description": self.description,
            "sources": list(self.sources),
            "checks": {
                s.check_id: {"params": s.params, "severity": s.severity.value}
                for s in self.selections.values()
            },
        } | ({"collect": list(self.collect)} if self.collect else {})

    @property
    def digest(self) -> str:
        canonical = json.dumps(self.document()["checks"], sort_keys=True).encode()
        return hashlib.sha256(canonical).hexdigest()

    @classmethod
    def from_document(cls, doc: dict) -> Policy:
        """Rebuild a stored policy; parameters are re-validated against today's registry."""
        registry = all_checks()
        selections = {}
        for check_id, entry in doc["checks"].items():
            if check_id not in registry:
                raise PolicyError("stored policy", None, f"unknown check {check_id!r}")
            params = registry[check_id].defaults() | entry.get("params", {})
            selections[check_id] = Selection(check_id, params, Severity(entry["severity"]))
        return cls(
            doc["name"],
            doc["version"],
            doc.get("description", ""),
            tuple(doc.get("sources", ())),
            selections,
            tuple(doc.get("collect", ())),
        )


def builtin_dir() -> Path:
    return Path(str(resources.files("hygie.policies")))


def builtin_policies() -> dict[str, Path]:
    return {p.stem: p for p in sorted(builtin_dir().glob("*.yaml"))}


def resolve_path(ref: str, relative_to: Path | None = None) -> Path:
    """A policy reference is a built-in name or a path (relative to the extending file)."""
    builtin = builtin_policies()
    if ref in builtin:
        return builtin[ref]
    candidates = [Path(ref)]
    if relative_to is not None:
        candidates.insert(0, relative_to.parent / ref)
    for path in candidates:
        if path.is_file():
            return path
    known = ", ".join(builtin) or "none"
    raise PolicyError(ref, None, f"no such policy file or built-in policy (built-in: {known})")


def load_policy(ref: str = DEFAULT_POLICY) -> Policy:
    return _load(resolve_path(ref), chain=())


def _load(path: Path, chain: tuple[str, ...]) -> Policy:
    source = str(path)
    if source in chain:
        raise PolicyError(source, None, f"'extends' cycle: {' -> '.join((*chain, source))}")
    root = load_mapping(path, PolicyError)
    check_keys(root, TOP_KEYS, source, "policy", PolicyError)
    doc: dict[str, Node] = root.value
    for key in ("name", "version"):
        if key not in doc or not isinstance(doc[key].value, str | int | float):
            raise PolicyError(source, root.line, f"'{key}' is required and must be a string")

    selections: dict[str, Selection] = {}
    sources: tuple[str, ...] = ()
    collect: tuple[str, ...] = ()
    if "extends" in doc:
        parent = _load_parent(doc["extends"], path, (*chain, source))
        selections, sources, collect = dict(parent.selections), parent.sources, parent.collect

    for item in _list(doc.get("exclude"), source, "exclude"):
        if item.value not in selections:
            raise PolicyError(source, item.line, f"cannot exclude {item.value!r}: not selected")
        del selections[item.value]

    checks = doc.get("checks")
    if checks is not None and not isinstance(checks.value, dict):
        raise PolicyError(source, checks.line, "'checks' must map check ids to settings")
    registry = all_checks()
    for check_id, entry in (checks.value if checks else {}).items():
        if check_id not in registry:
            raise PolicyError(source, entry.line, f"unknown check {check_id!r} (hygie checks)")
        selections[check_id] = _select(registry[check_id], entry, selections.get(check_id), source)

    return Policy(
        name=str(doc["name"].value),
        version=str(doc["version"].value),
        description=str(doc["description"].value) if "description" in doc else "",
        sources=(*sources, source),
        selections=selections,
        collect=tuple(dict.fromkeys((*collect, *_collect(doc.get("collect"), source)))),
    )


def _collect(node: Node | None, source: str) -> list[str]:
    """``collect:`` needs, each one of hygie.drift.COLLECTIONS (inherited ones are kept)."""
    from hygie.drift import COLLECTIONS

    if node is None:
        return []
    if not isinstance(node.value, list) or not all(isinstance(n.value, str) for n in node.value):
        raise PolicyError(
            source, node.line, f"'collect' must be a list of: {', '.join(COLLECTIONS)}"
        )
    for item in node.value:
        if item.value not in COLLECTIONS:
            known = ", ".join(COLLECTIONS)
            raise PolicyError(source, item.line, f"unknown collect need {item.value!r} ({known})")
    return [n.value for n in node.value]


def _load_parent(ref: Node, path: Path, chain: tuple[str, ...]) -> Policy:
    source = str(path)
    if not isinstance(ref.value, str):
        raise PolicyError(source, ref.line, "'extends' must name one policy")
    try:
        parent_path = resolve_path(ref.value, path)
    except PolicyError as exc:
        raise PolicyError(source, ref.line, exc.reason) from None
    return _load(parent_path, chain)


def _select(meta: CheckMeta, entry: Node, base: Selection | None, source: str) -> Selection:
    """Layer one ``checks:`` entry over the inherited selection (or the check's defaults)."""
    params = dict(base.params) if base else meta.defaults()
    severity = base.severity if base else meta.severity
    settings = entry.value if entry.value is not None else {}
    check_keys(Node(settings, entry.line), ENTRY_KEYS, source, meta.id, PolicyError)
    if "severity" in settings:
        node = settings["severity"]
        if node.value not in {s.value for s in Severity}:
            allowed = [s.value for s in Severity]
            raise PolicyError(source, node.line, f"{meta.id}: severity must be one of {allowed}")
        severity = Severity(node.value)
    raw = settings.get("params")
    if raw is not None:
        if not isinstance(raw.value, dict):
            raise PolicyError(source, raw.line, f"{meta.id}: 'params' must be a mapping")
        for name, node in raw.value.items():
            if name not in meta.params:
                allowed = ", ".join(meta.params) or "none"
                reason = f"{meta.id}: unknown parameter {name!r} (allowed: {allowed})"
                raise PolicyError(source, node.line, reason)
            value = node.plain()
            problem = meta.params[name].validate(value)
            if problem:
                raise PolicyError(source, node.line, f"{meta.id}.{name}: {problem}")
            params[name] = value
    return Selection(meta.id, params, severity)


def _list(node: Node | None, source: str, key: str) -> list[Node]:
    if node is None:
        return []
    if not isinstance(node.value, list) or not all(isinstance(n.value, str) for n in node.value):
        raise PolicyError(source, node.line, f"'{key}' must be a list of check ids")
    return node.value
