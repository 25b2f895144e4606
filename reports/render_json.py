"""The report as versioned JSON, described by ``schema/report.schema.json`` (shipped)."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from hygie.reports.model import Report


def schema_path() -> Path:
    return Path(str(resources.files("hygie.reports"))) / "schema" / "report.schema.json"


def render(report: Report) -> str:
    return json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n"
