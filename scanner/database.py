"""The one SQLite file hygie keeps (scans, evidence, results, threat feeds): where it is and
how it is opened.

Shared by the scan store and the feed store, which own their tables but not the file: one
place decides the default path (``$HYGIE_DB``), the file's mode and what a transaction is.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def default_path() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path("~/.local/share").expanduser())
    return Path(base) / "hygie" / "hygie.db"


def database_path(given: Path | None = None) -> Path:
    """``--db``, else ``$HYGIE_DB``, else the default."""
    return given or Path(os.environ.get("HYGIE_DB") or default_path())


def open_database(path: Path, schema: str) -> sqlite3.Connection:
    """Open (creating it if needed) the SQLite file with ``schema`` applied, readable by
    its owner only: evidence and findings describe weaknesses."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path)
    db.execute("PRAGMA foreign_keys = ON")
    db.executescript(schema)
    db.commit()
    os.chmod(path, 0o600)
    return db


@contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """Commit on success, roll back on any error: a scan is stored whole or not at all."""
    try:
        yield db
        db.commit()
    except BaseException:
        db.rollback()
        raise
