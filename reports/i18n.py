"""One translation mechanism for every renderer: key -> text, per language, from YAML.

Check titles, rationales and remediations come from the checks' data files, resolved in
the report's language when the report is built (hygie.reports.gaps); messages quote the
target and stay as the checks wrote them. Everything a renderer adds around them
(headings, states, statuses, severities, column names) goes through here, so a French
report for an HDS auditor has no English chrome left. A key missing from a
translation falls back to English; a key missing from English is a bug and raises.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from importlib import resources
from pathlib import Path

import yaml

LANGS = ("en", "fr")
DEFAULT_LANG = "en"


def locale_dir() -> Path:
    return Path(str(resources.files("hygie.reports"))) / "locales"


@cache
def messages(lang: str) -> dict[str, str]:
    """The key -> text table of ``lang``."""
    if lang not in LANGS:
        raise ValueError(f"unsupported language {lang!r}; supported: {', '.join(LANGS)}")
    data = yaml.safe_load((locale_dir() / f"{lang}.yaml").read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise ValueError(f"{lang}.yaml must map keys to strings")
    return data


def translator(lang: str) -> Callable[..., str]:
    """``t(key, **values)``: the text of ``key`` in ``lang``, with ``{name}`` fields filled."""
    table, fallback = messages(lang), messages(DEFAULT_LANG)

    def t(key: str, **values: object) -> str:
        text = table.get(key) or fallback.get(key)
        if text is None:
            raise KeyError(f"no translation key {key!r} in {DEFAULT_LANG}.yaml")
        return text.format(**values) if values else text

    return t
