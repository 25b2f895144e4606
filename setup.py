"""Packages found, not listed: the source folders keep the design's names (scanner/,
checks/, policies/, reports/) and install as one import package, ``hygie``. Everything
else about the project is in pyproject.toml."""

from setuptools import find_namespace_packages, setup

#: import name -> source folder
ROOTS = {
    "hygie": "scanner",
    "hygie.checks": "checks",
    "hygie.policies": "policies",
    "hygie.reports": "reports",
}
#: folders that hold only data or caches, never code
SKIP = (
    "__pycache__",
    "*.__pycache__",
    "data.*",
    "templates*",
    "locales*",
    "schema*",
    "frameworks*",
)

packages = []
for name, folder in ROOTS.items():
    packages.append(name)
    packages += [f"{name}.{sub}" for sub in find_namespace_packages(folder, exclude=SKIP)]

setup(packages=packages, package_dir=ROOTS)
