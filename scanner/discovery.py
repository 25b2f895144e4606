"""Find the modules that declare checks and facts: nothing keeps a hand-written list.

Subpackages are searched too, so a domain can grow into a folder (``checks/tls/``) without
a registration step.
"""

from __future__ import annotations

import importlib
import pkgutil


def import_all(package_name: str) -> None:
    """Import every module below ``package_name`` except private ones (``_name``)."""
    package = importlib.import_module(package_name)
    for info in pkgutil.walk_packages(package.__path__, prefix=f"{package_name}."):
        if not info.name.rsplit(".", 1)[-1].startswith("_"):
            importlib.import_module(info.name)


def require_package(module: str, package: str, what: str) -> None:
    """Refuse a declaration made by a module imported under another name (``checks.x``
    instead of ``hygie.checks.x``, possible when the source tree is on ``sys.path``): it
    would register everything a second time, as different objects."""
    if module != package and not module.startswith(f"{package}."):
        raise ImportError(f"{what} declared in module {module!r}: import it as {package}.<name>")
