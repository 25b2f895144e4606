"""Checks and facts are discovered, never listed, and never registered twice."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

from hygie.registry import all_checks

ROOT = Path(__file__).resolve().parents[2]


def test_a_check_module_imported_under_its_source_name_is_refused(monkeypatch):
    before = all_checks()
    monkeypatch.syspath_prepend(str(ROOT))
    sys.modules.pop("checks.accounts", None)
    with pytest.raises(ImportError, match=r"import it as hygie\.checks"):
        importlib.import_module("checks.accounts")
    assert all_checks() == before


def test_every_check_module_is_found_without_a_list():
    modules = {meta.func.__module__ for meta in all_checks().values()}
    sources = {f"hygie.checks.{p.stem}" for p in (ROOT / "checks").glob("[!_]*.py")}
    assert modules == sources
