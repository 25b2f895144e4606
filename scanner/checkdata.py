"""Check texts and references as data: one YAML file per check domain, beside its code.

A check's code (``checks/ssh.py``) holds what the engine needs to run it: id, facts and
parameters. What a reader needs (severity, title, rationale, remediation, framework
references) lives in the domain's data file (``checks/ssh.yaml``), the way Prowler keeps a
metadata file per check and ComplianceAsCode a ``rule.yml``: prose is edited and translated
without touching code, and references come from named sets (``checks/references.yaml``)
written once, so two domains cannot cite the same control differently. Every reference is
validated against the framework catalogs when the data is loaded.
"""

from __future__ import annotations

import importlib.resources
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from hygie.model import Severity
from hygie.yamlfile import DataFileError, Node, check_keys, load_mapping

#: English is the reference text every check must have; other languages fall back to it
LANGUAGES = ("en", "fr")
TEXT_FIELDS = ("title", "rationale", "remediation")
ENTRY_KEYS = {"severity", "references", *TEXT_FIELDS}
#: the optional automatic fix (``hygie remediate``): settings hygie knows how to write
#: (``sshd_config``, ``login_defs``) or Ansible tasks with their ``sh`` equivalent;
#: ``when`` names the policy parameters under which the fix is right
FIX_SETTINGS = ("sshd_config", "login_defs")
FIX_KEYS = {*FIX_SETTINGS, "ansible", "sh", "handlers", "when"}
#: the only placeholders a fix may hold: a check parameter, or one item of a list parameter
PLACEHOLDER = re.compile(r"\{\{\s*(?P<param>[a-z_][a-z0-9_]*)(?:\[(?P<index>\d+)\])?\s*\}\}")
SETS_FILE = "references.yaml"


class CheckDataError(DataFileError):
    """A domain data file that does not describe its checks completely and correctly."""


@dataclass(frozen=True)
class CheckText:
    title: str
    rationale: str
    remediation: str


@dataclass(frozen=True)
class Fix:
    """How ``hygie remediate`` fixes a failed check; values hold ``{{ param }}`` placeholders
    filled from the scan's policy."""

    settings: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    ansible: tuple[Mapping, ...] = ()
    sh: str | None = None
    handlers: tuple[Mapping, ...] = ()
    when: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class CheckData:
    """What a domain data file says of one check."""

    severity: Severity
    references: Mapping[str, tuple[str, ...]]
    texts: Mapping[str, CheckText]  # language -> text; "en" always present
    fix: Fix | None = None

    def text(self, lang: str) -> CheckText:
        return self.texts.get(lang) or self.texts["en"]


def checks_dir() -> Path:
    return Path(str(importlib.resources.files("hygie.checks")))


def _controls(node: Node, source: str, what: str) -> dict[str, tuple[str, ...]]:
    """A mapping framework -> list of control ids, checked against the catalogs."""
    from hygie.frameworks import load_catalogs  # the catalogs load the check registry

    catalogs = load_catalogs()
    if not isinstance(node.value, dict) or not node.value:
        raise CheckDataError(source, node.line, f"{what}: expected framework: [control, ...]")
    out = {}
    for framework, ids in node.value.items():
        catalog = catalogs.get(framework)
        if catalog is None:
            raise CheckDataError(
                source,
                ids.line,
                f"{what}: unknown framework {framework!r}; known: {sorted(catalogs)}",
            )
        if not isinstance(ids.value, list) or not ids.value:
            raise CheckDataError(source, ids.line, f"{what}: {framework} needs a list of ids")
        for cid in ids.value:
            if not isinstance(cid.value, str) or cid.value not in catalog.controls:
                raise CheckDataError(
                    source, cid.line, f"{what}: {cid.value!r} is not a control of {framework}"
                )
        out[framework] = tuple(c.value for c in ids.value)
    return out


@cache
def reference_sets() -> Mapping[str, Mapping[str, tuple[str, ...]]]:
    """The named reference sets every domain may cite."""
    path = checks_dir() / SETS_FILE
    doc = load_mapping(path, CheckDataError)
    return {name: _controls(node, str(path), f"set {name}") for name, node in doc.value.items()}


def _merge(parts: list[Mapping[str, tuple[str, ...]]]) -> dict[str, tuple[str, ...]]:
    merged: dict[str, list[str]] = {}
    for part in parts:
        for framework, ids in part.items():
            merged.setdefault(framework, [])
            merged[framework] += [c for c in ids if c not in merged[framework]]
    return {k: tuple(v) for k, v in merged.items()}


def _references(node: Node, source: str, what: str) -> dict[str, tuple[str, ...]]:
    if not isinstance(node.value, list) or not node.value:
        raise CheckDataError(source, node.line, f"{what}: references must be a non-empty list")
    sets = reference_sets()
    parts = []
    for item in node.value:
        if isinstance(item.value, str):
            if item.value not in sets:
                raise CheckDataError(
                    source,
                    item.line,
                    f"{what}: unknown reference set {item.value!r}; sets are in checks/{SETS_FILE}",
                )
            parts.append(sets[item.value])
        else:
            parts.append(_controls(item, source, what))
    return _merge(parts)


def _texts(fields: Mapping[str, Node], source: str, what: str) -> dict[str, CheckText]:
    per_lang: dict[str, dict[str, str]] = {}
    for name in TEXT_FIELDS:
        node = fields[name]
        check_keys(node, set(LANGUAGES), source, f"{what}.{name}", CheckDataError)
        if "en" not in node.value:
            raise CheckDataError(source, node.line, f"{what}.{name}: the English text is required")
        for lang, text in node.value.items():
            if not isinstance(text.value, str) or not text.value.strip():
                raise CheckDataError(source, text.line, f"{what}.{name}.{lang}: empty text")
            per_lang.setdefault(lang, {})[name] = text.value.strip()
    for lang, texts in per_lang.items():
        missing = [f for f in TEXT_FIELDS if f not in texts]
        if missing:
            raise CheckDataError(
                source, fields["title"].line, f"{what}: {lang} lacks {', '.join(missing)}"
            )
    return {lang: CheckText(**texts) for lang, texts in per_lang.items()}


def _fix(node: Node, source: str, what: str) -> Fix:
    check_keys(node, FIX_KEYS, source, what, CheckDataError)
    fields = node.value
    if not (set(fields) & {*FIX_SETTINGS, "ansible"}):
        raise CheckDataError(source, node.line, f"{what}: names no setting and no ansible task")
    if ("ansible" in fields) != ("sh" in fields):
        raise CheckDataError(
            source, node.line, f"{what}: ansible tasks need their sh equivalent, and sh its tasks"
        )
    for name, child in fields.items():
        _fix_part(name, child, source, f"{what}.{name}")
    plain = {name: child.plain() for name, child in fields.items()}
    return Fix(
        settings={
            k: {key: str(v) for key, v in plain[k].items()} for k in FIX_SETTINGS if k in plain
        },
        ansible=tuple(plain.get("ansible", ())),
        sh=plain.get("sh"),
        handlers=tuple(plain.get("handlers", ())),
        when=plain.get("when", {}),
    )


def _fix_part(name: str, node: Node, source: str, what: str) -> None:
    """The shape of one part of a fix, and its placeholders, with the line at fault."""
    if name in (*FIX_SETTINGS, "when"):
        ok = isinstance(node.value, dict) and all(
            isinstance(v.value, str | int | bool) for v in node.value.values()
        )
        shape = "a mapping of names to single values"
    elif name == "sh":
        ok, shape = isinstance(node.value, str) and bool(node.value.strip()), "shell text"
    else:
        ok = isinstance(node.value, list) and all(
            isinstance(t.value, dict) and isinstance(t.value.get("name", Node(0, 0)).value, str)
            for t in node.value
        )
        shape = "a list of tasks, each with its name"
    if not ok:
        raise CheckDataError(source, node.line, f"{what}: must be {shape}")
    for text in re.findall(r"\{\{.*?\}\}|\{%", str(node.plain())):
        if not PLACEHOLDER.fullmatch(text):
            raise CheckDataError(
                source, node.line, f"{what}: {text!r}: only {{{{ param }}}} placeholders"
            )


def _entry(check_id: str, node: Node, source: str) -> CheckData:
    check_keys(node, ENTRY_KEYS | {"fix"}, source, check_id, CheckDataError)
    fields = node.value
    missing = sorted(ENTRY_KEYS - set(fields))
    if missing:
        raise CheckDataError(source, node.line, f"{check_id}: missing {', '.join(missing)}")
    try:
        severity = Severity(fields["severity"].value)
    except ValueError:
        raise CheckDataError(
            source,
            fields["severity"].line,
            f"{check_id}: severity must be one of {[s.value for s in Severity]}",
        ) from None
    return CheckData(
        severity=severity,
        references=_references(fields["references"], source, check_id),
        texts=_texts(fields, source, check_id),
        fix=_fix(fields["fix"], source, f"{check_id}.fix") if "fix" in fields else None,
    )


@cache
def domain_data(domain: str) -> Mapping[str, CheckData]:
    """Every entry of ``checks/<domain>.yaml`` by check id."""
    path = checks_dir() / f"{domain}.yaml"
    if not path.is_file():
        raise CheckDataError(str(path), None, f"missing: the checks of {domain}.py need it")
    return load_domain_file(path)


def load_domain_file(path: Path) -> dict[str, CheckData]:
    doc = load_mapping(path, CheckDataError)
    return {cid: _entry(cid, node, str(path)) for cid, node in doc.value.items()}


def data_for(domain: str, check_ids: set[str]) -> Mapping[str, CheckData]:
    """The entries of ``domain`` for exactly ``check_ids``: an entry without a check, or a
    check without an entry, is an error naming both."""
    data = domain_data(domain)
    source = str(checks_dir() / f"{domain}.yaml")
    stray = sorted(set(data) - check_ids)
    if stray:
        raise CheckDataError(source, None, f"no check {domain}.{stray[0]} for this entry")
    missing = sorted(check_ids - set(data))
    if missing:
        raise CheckDataError(source, None, f"no entry for check {missing[0]} of {domain}.py")
    return data
