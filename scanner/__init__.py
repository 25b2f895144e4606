"""hygie: compliance scanner and posture auditor for digital-health infrastructure."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("hygie")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"
