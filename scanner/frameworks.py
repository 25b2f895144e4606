"""Framework catalogs: the controls of each standard hygie maps its checks to, as data.

A gap report must list every control of a standard, not only those a check happens to
touch, and it must say which controls no technical check can ever evidence (training,
incident response, risk analysis): those need a human attestation. So each standard is a
YAML file in ``policies/frameworks/`` with its official source and version, and the check
registry's ``references`` are validated against it (a reference to a control that does not
exist is a bug, caught by the tests, not a silent hole in a report).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

from hygie.registry import CheckMeta, all_checks
from hygie.yamlfile import DataFileError, Node, check_keys, load_mapping

TOP_KEYS = {"id", "title", "version", "source", "controls"}
CONTROL_KEYS = {"id", "title", "title_en", "automatable", "parent", "kind"}
_REQUIRED_TOP = ("id", "title", "version", "source", "controls")
_REQUIRED_CONTROL = ("id", "title", "automatable", "kind")


class FrameworkError(DataFileError):
    """A catalog file that cannot be used, with the file and line to fix."""


@dataclass(frozen=True)
class Control:
    """One control, standard, implementation specification, subcategory or measure."""

    id: str
    title: str
    automatable: bool
    parent: str | None
    kind: str
    title_en: str | None = None  # English title when the official text is not in English


@dataclass(frozen=True)
class Catalog:
    """One standard: its controls in the order of the official text."""

    id: str
    title: str
    version: str
    source: str
    controls: dict[str, Control]

    def control(self, cid: str) -> Control:
        try:
            return self.controls[cid]
        except KeyError:
            raise KeyError(
                f"{cid!r} is not a control of {self.id} ({self.title}, {self.version})"
            ) from None


def catalog_dir() -> Path:
    return Path(str(resources.files("hygie.policies"))) / "frameworks"


def load_catalog(path: Path) -> Catalog:
    """Parse and validate one catalog file; errors name the file and the line."""
    source = str(path)
    root = load_mapping(path, FrameworkError)
    check_keys(root, TOP_KEYS, source, "catalog", FrameworkError)
    _check_header(root, path.stem, source)
    doc = root.value
    return Catalog(
        id=doc["id"].value,
        title=doc["title"].value.strip(),
        version=doc["version"].value.strip(),
        source=doc["source"].value.strip(),
        controls=_controls(doc["controls"], source),
    )


def _check_header(root: Node, stem: str, source: str) -> None:
    """The catalog's own fields: all present, non-empty, and its id is its file name."""
    doc = root.value
    for key in _REQUIRED_TOP:
        if key not in doc:
            raise FrameworkError(source, root.line, f"missing required key {key!r}")
    for key in ("id", "title", "version", "source"):
        if not isinstance(doc[key].value, str) or not doc[key].value.strip():
            raise FrameworkError(source, doc[key].line, f"{key!r} must be a non-empty string")
    if doc["id"].value != stem:
        raise FrameworkError(
            source, doc["id"].line, f"id {doc['id'].value!r} must match the file name"
        )


def _controls(entries: Node, source: str) -> dict[str, Control]:
    """The non-empty list of controls, by id: ids unique, every parent a control here."""
    if not isinstance(entries.value, list) or not entries.value:
        raise FrameworkError(source, entries.line, "'controls' must be a non-empty list")
    controls: dict[str, Control] = {}
    lines: dict[str, int] = {}
    for entry in entries.value:
        control = _control(entry, source)
        if control.id in controls:
            raise FrameworkError(source, entry.line, f"duplicate control {control.id!r}")
        controls[control.id] = control
        lines[control.id] = entry.line
    for control in controls.values():
        if control.parent is not None and control.parent not in controls:
            raise FrameworkError(
                source, lines[control.id], f"{control.id}: unknown parent {control.parent!r}"
            )
    return controls


def _control(entry: Node, source: str) -> Control:
    check_keys(entry, CONTROL_KEYS, source, "control", FrameworkError)
    fields = entry.value
    for key in _REQUIRED_CONTROL:
        if key not in fields:
            raise FrameworkError(source, entry.line, f"control: missing required key {key!r}")
    values = {k: n.value for k, n in fields.items()}
    for key in ("id", "title", "kind"):
        if not isinstance(values[key], str) or not values[key].strip():
            raise FrameworkError(
                source, fields[key].line, f"control {key!r} must be a non-empty string"
            )
    if not isinstance(values["automatable"], bool):
        raise FrameworkError(source, fields["automatable"].line, "'automatable' must be a boolean")
    for key in ("parent", "title_en"):
        if values.get(key) is not None and not isinstance(values[key], str):
            raise FrameworkError(source, fields[key].line, f"{key!r} must be a string or null")
    return Control(
        id=values["id"],
        title=values["title"].strip(),
        automatable=values["automatable"],
        parent=values.get("parent"),
        kind=values["kind"],
        title_en=values.get("title_en"),
    )


@cache
def _catalogs() -> Mapping[str, Catalog]:
    return {p.stem: load_catalog(p) for p in sorted(catalog_dir().glob("*.yaml"))}


def load_catalogs() -> dict[str, Catalog]:
    """Every built-in catalog by framework key (the keys of check ``references``)."""
    return dict(_catalogs())


def coverage(
    checks: Mapping[str, CheckMeta] | None = None,
) -> dict[str, dict[str, list[str]]]:
    """framework -> control id -> ids of the checks that reference it (direct references
    only; rolling a specification up to its standard is the gap model's decision)."""
    out: dict[str, dict[str, list[str]]] = {}
    for check_id, meta in (all_checks() if checks is None else checks).items():
        for framework, cids in meta.references.items():
            per_control = out.setdefault(framework, {})
            for cid in cids:
                per_control.setdefault(cid, []).append(check_id)
    return out


def unknown_references(
    checks: Mapping[str, CheckMeta] | None = None,
    catalogs: Mapping[str, Catalog] | None = None,
) -> list[str]:
    """Every check reference naming a framework or control absent from the catalogs, as
    ``check: framework control`` lines (empty when the mapping is sound)."""
    catalogs = load_catalogs() if catalogs is None else catalogs
    problems = []
    for framework, per_control in coverage(checks).items():
        catalog = catalogs.get(framework)
        for cid, check_ids in per_control.items():
            if catalog is None or cid not in catalog.controls:
                problems += [f"{c}: {framework} {cid}" for c in check_ids]
    return sorted(problems)
