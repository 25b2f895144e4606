"""The report as versioned JSON, described by ``schema/report.schema.json`` (shipped)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from hygie.jsonfmt import pretty
from hygie.reports.model import Report


def schema_path() -> Path:
    return Path(str(resources.files("hygie.reports"))) / "schema" / "report.schema.json"


def render(report: Report) -> str:
    return pretty(report.to_dict()).decode()
