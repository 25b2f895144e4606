"""Pending updates computed on the scanner agree with apt's own solver, on real package
databases: each lab host's dpkg status and apt lists are read by the collected snippet
(``apt_package_lists``, run inside the host), the updates derived as a scan derives them,
and compared with ``apt-get -s dist-upgrade`` run inside the same host.

- ``weak-patch``: the machine's dpkg status against the machine's real lists (bookworm,
  -updates, -security, lz4-compressed as the image keeps them): many pending updates.
- ``old``: openssh at 1:9.2p1-2+deb12u2 (regreSSHion): security updates pending (an old
  glibc would leave apt itself with unmet dependencies).
- ``hardened``: no lists at all (the fleet's patched index): nothing pending.
- ``backports``: the machine's lists plus a configured NotAutomatic list offering a newer
  openssh and an ordinary list offering a newer ``less``: apt takes ``less`` only.

Compared: the set of (package, installed, new version) and its security subset. Left out
of apt's side, as not modelled (hygie.facts.packages): packages apt would newly install,
and "upgrades" to the installed version number itself (apt tells versions apart by their
dependency fields too: weak-patch's planted vsftpd stanza has none, so apt would reinstall
the archive's 3.0.3-13+b2 over it).
"""

from __future__ import annotations

import re

import pytest

from hygie.engine import derive_facts
from hygie.facts.packages import (
    APT_PACKAGE_LISTS,
    PACKAGES_DPKG,
    PENDING_UPDATES,
    parse_apt_simulation,
    parse_pending_updates,
)
from hygie.factspec import all_facts
from hygie.model import Fact
from tests.integration.fleet import dpkg_status_with, hardened, weak_patching
from tests.lab import Lab, LabHost, lab_unavailable_reason

pytestmark = pytest.mark.lab

SIMULATE = (
    "LC_ALL=C apt-get -s -o Debug::NoLocking=1 -o Dir::Cache::pkgcache= "
    "-o Dir::Cache::srcpkgcache= dist-upgrade"
)
LISTS = "/var/lib/apt/lists/lab.example_debian_dists_"


def _stanza(package: str, version: str) -> str:
    return (
        f"Package: {package}\nVersion: {version}\nArchitecture: amd64\n"
        f"Maintainer: lab <lab@lab.example>\nFilename: pool/{package}.deb\nSize: 1\n"
        f"Description: lab stanza\n"
    )


def backports() -> LabHost:
    release = "Origin: lab\nLabel: lab\nSuite: {suite}\nCodename: {suite}\nArchitectures: amd64\n"
    release += "Components: main\n"
    return LabHost(
        "backports",
        files={
            "/var/lib/dpkg/status": dpkg_status_with(),
            "/etc/apt/sources.list.d/lab.list": "deb [trusted=yes] http://lab.example/debian "
            "bookworm-backports main\ndeb [trusted=yes] http://lab.example/debian "
            "bookworm-lab main\n",
            f"{LISTS}bookworm-backports_Release": release.format(suite="bookworm-backports")
            + "NotAutomatic: yes\n",
            f"{LISTS}bookworm-backports_main_binary-amd64_Packages": _stanza(
                "openssh-server", "1:99.0p1-1~bpo12+1"
            ),
            f"{LISTS}bookworm-lab_Release": release.format(suite="bookworm-lab"),
            f"{LISTS}bookworm-lab_main_binary-amd64_Packages": _stanza("less", "999-1"),
        },
    )


def downgraded(source: str, version: str) -> str:
    """The machine's dpkg status with the binaries of ``source`` at ``version``, their
    exact-version relations to each other (``openssh-client (= ...)``) following, so that
    apt finds the database consistent."""
    text = dpkg_status_with()
    current = re.search(rf"^Source: {source}\n(?:.*\n)*?Version: (\S+)$", text, re.M)
    assert current, f"{source} is not installed here"
    text = text.replace(f"(= {current.group(1)})", f"(= {version})")
    return _with_version(text, source, version)


def _with_version(text: str, source: str, version: str) -> str:
    stanzas = text.split("\n\n")
    for i, stanza in enumerate(stanzas):
        if re.search(rf"^Source: {source}\b", stanza, re.M):
            stanzas[i] = re.sub(r"^Version: .*$", f"Version: {version}", stanza, flags=re.M)
    return "\n\n".join(stanzas)


def hosts() -> list[LabHost]:
    old = downgraded("openssh", "1:9.2p1-2+deb12u2")
    return [weak_patching(), LabHost("old", files={"/var/lib/dpkg/status": old}), hardened()]


@pytest.fixture(scope="module")
def lab():
    if lab_unavailable_reason():
        pytest.skip(lab_unavailable_reason())
    with Lab([*hosts(), backports()]) as lab:
        yield lab


def _sh(lab: Lab, host: str, command: str) -> Fact:
    proc = lab.run_in_host(host, ["sh", "-c", command], timeout=300)
    return Fact("x", proc.stdout.encode(), proc.stderr.encode(), exit_status=proc.returncode)


def derived(lab: Lab, host: str) -> set[tuple[str, str, str, bool]]:
    collected = {
        "packages_dpkg": _sh(lab, host, PACKAGES_DPKG.command),
        "apt_package_lists": _sh(lab, host, APT_PACKAGE_LISTS.command),
    }
    fact = derive_facts(collected, [all_facts()[PENDING_UPDATES]])[PENDING_UPDATES]
    assert fact.ok, fact.stderr
    return {
        (u.name, u.installed, u.candidate, u.security) for u in parse_pending_updates(fact.text)
    }


def simulated(lab: Lab, host: str) -> set[tuple[str, str, str, bool]]:
    proc = _sh(lab, host, SIMULATE)
    assert proc.ok, proc.stderr
    updates = parse_apt_simulation(proc.text)
    return {
        (u.name, u.installed, u.candidate, u.security)
        for u in updates
        if u.installed and u.installed != u.candidate
    }


@pytest.mark.parametrize("host", ["weak-patch", "old", "hardened", "backports"])
def test_derived_updates_equal_apt_get_simulation(lab, host):
    ours, apts = derived(lab, host), simulated(lab, host)
    assert ours == apts, (sorted(ours - apts)[:20], sorted(apts - ours)[:20])
    security = {u for u in ours if u[3]}
    assert security == {u for u in apts if u[3]}


def test_the_cases_are_not_empty(lab):
    """Each host shows what it is meant to: so the equality above compares something."""
    assert len(derived(lab, "weak-patch")) > 20
    old = {name: sec for name, _, _, sec in derived(lab, "old")}
    assert "openssh-server" in old and any(old.values())
    assert derived(lab, "hardened") == set()
    bpo = {name: new for name, _, new, _ in derived(lab, "backports")}
    assert bpo["less"] == "999-1" and "1:99" not in bpo.get("openssh-server", "")
