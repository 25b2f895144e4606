"""The feed matcher's version sort keys against the reference comparators.

``compare_versions`` (python-debian, univers) is the reference the keys must agree with,
and ``dpkg --compare-versions`` on this machine is the ground truth for dpkg ordering.
"""

from __future__ import annotations

import itertools
import shutil
import subprocess

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hygie.facts.packages import compare_versions
from hygie.feeds.versions import dpkg_key, rpm_key, version_key


def sign(a, b) -> int:
    return (a > b) - (a < b)


# Versions built from the characters that matter to each algorithm: digits, letters,
# separators, ~ (and + for dpkg, ^ for rpm), with optional epoch and revision/release.
_DPKG_UPSTREAM = st.from_regex(r"[0-9][0-9a-z.+~]{0,8}", fullmatch=True)
_DPKG_REVISION = st.from_regex(r"[0-9a-z.+~]{1,8}", fullmatch=True)
DPKG_VERSIONS = st.builds(
    lambda epoch, upstream, revision: (
        (f"{epoch}:" if epoch is not None else "") + upstream + (f"-{revision}" if revision else "")
    ),
    st.one_of(st.none(), st.integers(0, 3)),
    _DPKG_UPSTREAM,
    st.one_of(st.none(), _DPKG_REVISION),
)
# univers accepts only versions starting with a digit and folds case (rpm compares bytes):
# real RPM versions are lower-case and start with a digit, so the oracle is used there.
_RPM_PART = st.from_regex(r"[0-9][0-9a-z._~^+]{0,8}", fullmatch=True)
RPM_VERSIONS = st.builds(
    lambda epoch, version, release: (
        (f"{epoch}:" if epoch is not None else "") + version + (f"-{release}" if release else "")
    ),
    st.one_of(st.none(), st.integers(0, 3)),
    _RPM_PART,
    st.one_of(st.none(), _RPM_PART),
)

KNOWN_DPKG = [  # each strictly lower than the next
    "1.0~rc1",
    "1.0",
    "1.0-0.1",
    "1.0-1",
    "1.0a",
    "1.0+b1",
    "1.0.1",
    "2.36-9+deb12u4",
    "2.36-9+deb12u10",
    "2.36-10",
    "1:0.1",
    "1:9.2p1-2+deb12u2",
    "1:9.2p1-2+deb12u3",
    "2:0",
]
KNOWN_RPM = [
    "1.0~rc1",
    "1.0",
    "1.0^git1",
    "1.0a",
    "1.0.1",
    "5.14.0-362.8.1.el9_3",
    "5.14.0-362.18.1.el9_3",
    "8.7p1-38.el9",
    "8.7p1-38.el9_4.1",
    "1:1.0",
]


@pytest.mark.parametrize(("manager", "ordered"), [("dpkg", KNOWN_DPKG), ("rpm", KNOWN_RPM)])
def test_known_orderings(manager, ordered):
    keys = [version_key(manager, v) for v in ordered]
    assert keys == sorted(keys)
    assert len({*keys}) == len(keys)
    for a, b in itertools.pairwise(ordered):
        assert compare_versions(manager, a, b) == -1, (a, b)


def test_equal_spellings():
    assert dpkg_key("1.0") == dpkg_key("1.0-0") == dpkg_key("0:1.0")
    assert dpkg_key("1.01") == dpkg_key("1.1")
    assert rpm_key("1.0") == rpm_key("1..0") == rpm_key("0:1.0")
    assert rpm_key("el8_10") > rpm_key("el8_9")


@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow])
@given(DPKG_VERSIONS, DPKG_VERSIONS)
def test_dpkg_key_matches_python_debian(a, b):
    assert sign(dpkg_key(a), dpkg_key(b)) == compare_versions("dpkg", a, b), (a, b)


@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow])
@given(RPM_VERSIONS, RPM_VERSIONS)
def test_rpm_key_matches_univers(a, b):
    assert sign(rpm_key(a), rpm_key(b)) == compare_versions("rpm", a, b), (a, b)


def _dpkg_says(a: str, op: str, b: str) -> bool:
    return subprocess.run(["dpkg", "--compare-versions", a, op, b], check=False).returncode == 0


@pytest.mark.skipif(shutil.which("dpkg") is None, reason="needs dpkg (Debian/Ubuntu)")
@settings(max_examples=200, deadline=None)
@given(DPKG_VERSIONS, DPKG_VERSIONS)
def test_dpkg_key_matches_dpkg_itself(a, b):
    expected = 0 if _dpkg_says(a, "eq", b) else (-1 if _dpkg_says(a, "lt", b) else 1)
    assert sign(dpkg_key(a), dpkg_key(b)) == expected, (a, b)
