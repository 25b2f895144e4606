"""Integration-test lab: real sshd targets in Linux namespaces (see :mod:`tests.lab.netlab`)."""

from .netlab import Lab, LabHost, lab_unavailable_reason, real_file, skip_unless_lab
from .nsutil import LabError

__all__ = ["Lab", "LabError", "LabHost", "lab_unavailable_reason", "real_file", "skip_unless_lab"]
