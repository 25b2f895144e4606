"""Patch-level checks and the package-version machinery behind them.

Debian fixtures were captured on a Debian 12 host (apt-get -s dist-upgrade, dpkg-query,
stat of the apt lists); Ubuntu and RHEL ones follow the real tools' output formats.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hygie.engine import derive_facts
from hygie.facts.packages import (
    PENDING_UPDATES,
    compare_versions,
    parse_apt_simulation,
    parse_auto_updates,
    parse_dnf_updateinfo,
    parse_dpkg_packages,
    parse_kernel_packages,
    parse_pending_updates,
    parse_reboot_required,
    parse_rpm_packages,
    rpm_evr_compare,
)
from hygie.factspec import all_facts
from hygie.model import Fact, Status
from hygie.registry import MissingFact

FIXTURES = Path(__file__).parent.parent / "fixtures" / "patching"


def fx(name: str) -> bytes:
    """A fixture; the derived-facts ones live in ``derived/`` (benchmarks/synthetic.py draws
    its hosts from the top-level files only)."""
    path = FIXTURES / name
    return (path if path.exists() else FIXTURES / "derived" / name).read_bytes()


DEBIAN = fx("os_release_debian12.txt")
RHEL = fx("os_release_rhel93.txt")
UBUNTU = fx("os_release_ubuntu2004.txt")
# The Debian fixtures were captured on 2026-11-28.
TODAY = b"2026-11-28\n1795907048\n"
MISSING = Fact("x", b"", b"sh: 1: x: not found\n", exit_status=127)


def days_later(days: int) -> bytes:
    return f"2026-11-28\n{1795907048 + days * 86400}\n".encode()


# -- rpm version comparison: rpm's own test vectors (tests/rpmvercmp.at) ----------------

RPMVERCMP_VECTORS = """
1.0 1.0 0|1.0 2.0 -1|2.0 1.0 1|2.0.1 2.0.1 0|2.0 2.0.1 -1|2.0.1 2.0 1|2.0.1a 2.0.1a 0
2.0.1a 2.0.1 1|2.0.1 2.0.1a -1|5.5p1 5.5p1 0|5.5p1 5.5p2 -1|5.5p2 5.5p1 1|5.5p10 5.5p10 0
5.5p1 5.5p10 -1|5.5p10 5.5p1 1|10xyz 10.1xyz -1|10.1xyz 10xyz 1|xyz10 xyz10 0
xyz10 xyz10.1 -1|xyz10.1 xyz10 1|xyz.4 xyz.4 0|xyz.4 8 -1|8 xyz.4 1|xyz.4 2 -1|2 xyz.4 1
5.5p2 5.6p1 -1|5.6p1 5.5p2 1|5.6p1 6.5p1 -1|6.5p1 5.6p1 1|6.0.rc1 6.0 1|6.0 6.0.rc1 -1
10b2 10a1 1|10a2 10b2 -1|1.0aa 1.0aa 0|1.0a 1.0aa -1|1.0aa 1.0a 1|10.0001 10.0001 0
10.0001 10.1 0|10.1 10.0001 0|10.0001 10.0039 -1|10.0039 10.0001 1|4.999.9 5.0 -1
5.0 4.999.9 1|20101121 20101121 0|20101121 20101122 -1|20101122 20101121 1|2_0 2_0 0
2.0 2_0 0|2_0 2.0 0|a a 0|a+ a+ 0|a+ a_ 0|a_ a+ 0|+a +a 0|+a _a 0|_a +a 0|+_ +_ 0
_+ +_ 0|_+ _+ 0|+ _ 0|_ + 0|1.0~rc1 1.0~rc1 0|1.0~rc1 1.0 -1|1.0 1.0~rc1 1
1.0~rc1 1.0~rc2 -1|1.0~rc2 1.0~rc1 1|1.0~rc1~git123 1.0~rc1~git123 0
1.0~rc1~git123 1.0~rc1 -1|1.0~rc1 1.0~rc1~git123 1|1.0^ 1.0^ 0|1.0^ 1.0 1|1.0 1.0^ -1
1.0^git1 1.0^git1 0|1.0^git1 1.0 1|1.0 1.0^git1 -1|1.0^git1 1.0^git2 -1
1.0^git2 1.0^git1 1|1.0^git1 1.01 -1|1.01 1.0^git1 1|1.0^20160101 1.0^20160101 0
1.0^20160101 1.0.1 -1|1.0.1 1.0^20160101 1|1.0^20160101^git1 1.0^20160101^git1 0
1.0^20160102 1.0^20160101^git1 1|1.0^20160101^git1 1.0^20160102 -1
1.0~rc1^git1 1.0~rc1^git1 0|1.0~rc1^git1 1.0~rc1 1|1.0~rc1 1.0~rc1^git1 -1
1.0^git1~pre 1.0^git1~pre 0|1.0^git1 1.0^git1~pre 1|1.0^git1~pre 1.0^git1 -1
"""


def _vectors() -> list[tuple[str, str, int]]:
    cases = []
    for chunk in RPMVERCMP_VECTORS.replace("\n", "|").split("|"):
        if chunk.strip():
            a, b, result = chunk.split()
            cases.append((a, b, int(result)))
    return cases


@pytest.mark.parametrize(("a", "b", "expected"), _vectors())
def test_rpm_ordering_matches_rpm_upstream_vectors(a, b, expected):
    assert rpm_evr_compare(a, b) == expected


def test_rpm_evr_compare():
    assert rpm_evr_compare("1:1.0-1", "2.0-1") == 1  # epoch wins
    assert rpm_evr_compare("5.14.0-362.18.1.el9_3", "5.14.0-362.8.1.el9_3") == 1
    assert rpm_evr_compare("8.7p1-34.el9", "8.7p1-34.el9") == 0
    assert rpm_evr_compare("0:1.0-1", "1.0-1") == 0


def test_dpkg_ordering_uses_python_debian():
    assert compare_versions("dpkg", "1.0~rc1", "1.0") == -1
    assert compare_versions("dpkg", "2.36-9+deb12u7", "2.36-9+deb12u10") == -1
    assert compare_versions("dpkg", "1:1.0", "9.9") == 1
    assert compare_versions("rpm", "1.0~rc1", "1.0") == -1


# -- parsers ---------------------------------------------------------------------------


def test_parse_dpkg_real_list():
    packages = parse_dpkg_packages(fx("packages_dpkg_debian12.pass.txt").decode())
    by_name = {p.name: p for p in packages}
    assert len(packages) > 500
    assert by_name["apt-transport-https"].source == "apt"
    assert by_name["openssh-server"].installed
    assert all(":" not in p.name for p in packages)


def test_parse_dpkg_status_and_multiarch():
    text = "libc6:amd64\t2.36-9\tii \tglibc\t2.36-9\nvsftpd\t3.0.3-13\trc \tvsftpd\t3.0.3-13\n"
    libc, ftp = parse_dpkg_packages(text)
    assert (libc.name, libc.arch, libc.source) == ("libc6", "amd64", "glibc")
    assert libc.installed and not ftp.installed


def test_parse_rpm_packages():
    text = "openssl-libs\t1\t3.0.7\t25.el9_3\tx86_64\nbash\t(none)\t5.1.8\t6.el9\tx86_64\n"
    ssl, bash = parse_rpm_packages(text)
    assert ssl.version == "1:3.0.7-25.el9_3" and bash.version == "5.1.8-6.el9"


def test_parse_apt_simulation_real():
    updates = parse_apt_simulation(fx("apt_sim_debian12_pending.fail.txt").decode())
    assert len(updates) == 137
    security = {u.name: u for u in updates if u.security}
    assert len(security) == 87
    lzma = security["liblzma5"]
    assert (lzma.installed, lzma.candidate) == ("5.4.1-1", "5.4.1-1+deb12u2")
    assert lzma.origins == ("Debian-Security:12/oldstable-security",)
    assert not {u.name: u for u in updates}["bash"].security


def test_parse_apt_simulation_ubuntu():
    updates = {
        u.name: u for u in parse_apt_simulation(fx("apt_sim_ubuntu2204_mixed.fail.txt").decode())
    }
    assert updates["libc6"].security and updates["vim-tiny"].security
    assert not updates["tzdata"].security
    assert updates["linux-image-5.15.0-92-generic"].installed == ""


def test_parse_dnf_and_yum():
    dnf = parse_dnf_updateinfo(fx("dnf_rhel9_security.fail.txt").decode())
    assert [a.severity for a in dnf][:3] == ["Important", "Important", "Moderate"]
    yum = parse_dnf_updateinfo(fx("yum_rhel7_security.fail.txt").decode())
    assert [a.package for a in yum] == [
        "openssl-libs-1:1.0.2k-26.el7_9.x86_64",
        "curl-7.29.0-59.el7_9.2.x86_64",
    ]
    dnf5 = parse_dnf_updateinfo("FEDORA-2024-1 security Moderate curl-8.6.0-7.fc40.x86_64 x\n")
    assert dnf5[0].package == "curl-8.6.0-7.fc40.x86_64"


def test_parse_reboot_and_kernels():
    rhel = parse_reboot_required(fx("reboot_rhel9_needed.fail.txt").decode())
    assert rhel.needs_restarting == 1 and "* kernel" in rhel.reasons
    deb = parse_reboot_required(fx("reboot_debian12_absent.pass.txt").decode())
    assert not deb.flag and deb.needs_restarting is None
    kernels = parse_kernel_packages(fx("kernels_debian12_two.txt").decode())
    assert [k.release for k in kernels] == ["6.1.0-18-amd64", "6.1.0-21-amd64"]
    rpm = parse_kernel_packages(fx("kernels_rhel9_two.txt").decode())
    assert rpm[1].release == "5.14.0-362.18.1.el9_3.x86_64"


def test_parse_auto_updates():
    auto = parse_auto_updates(fx("auto_updates_debian12_enabled.pass.txt").decode())
    assert auto.unattended_upgrades_installed
    assert auto.apt_config["APT::Periodic::Unattended-Upgrade"] == "1"
    rhel = parse_auto_updates(fx("auto_updates_rhel9_dnf_automatic.pass.txt").decode())
    assert rhel.conf["/etc/dnf/automatic.conf"]["apply_updates"] == "yes"
    assert rhel.units["dnf-automatic.timer"] == "enabled"


# -- pending updates derived from the package lists -------------------------------------

UBUNTU_DPKG = (
    b"dpkg\t1.21.1ubuntu2.2\tii \tdpkg\t1.21.1ubuntu2.2\tamd64\n"
    b"libc6:amd64\t2.35-0ubuntu3.5\tii \tglibc\t2.35-0ubuntu3.5\tamd64\n"
    b"libc-bin\t2.35-0ubuntu3.5\tii \tglibc\t2.35-0ubuntu3.5\tamd64\n"
    b"tzdata\t2023c-0ubuntu0.22.04.2\tii \ttzdata\t2023c-0ubuntu0.22.04.2\tall\n"
    b"vim-tiny\t2:8.2.3995-1ubuntu2.13\tii \tvim\t2:8.2.3995-1ubuntu2.13\tamd64\n"
)


def derive(lists: bytes | Fact, dpkg: bytes = b"") -> Fact:
    """``pending_updates`` as the engine derives it from the two collected facts."""
    dpkg = dpkg or fx("packages_dpkg_debian12.pass.txt")
    collected = {
        "packages_dpkg": Fact("packages_dpkg", dpkg),
        "apt_package_lists": lists if isinstance(lists, Fact) else Fact("apt_package_lists", lists),
    }
    spec = all_facts()[PENDING_UPDATES]
    return derive_facts(collected, [spec])[PENDING_UPDATES]


def updates_of(fact: Fact) -> set[tuple[str, str, str, bool]]:
    return {
        (u.name, u.installed, u.candidate, u.security) for u in parse_pending_updates(fact.text)
    }


def test_derived_updates_equal_the_captured_apt_simulation():
    """The Debian capture (137 upgrades, 87 from -security) and the Ubuntu one, whose
    newly installed kernel package is not modelled (see hygie.facts.packages)."""
    debian = derive(fx("apt_package_lists_debian12_pending.fail.txt"))
    sim = parse_apt_simulation(fx("apt_sim_debian12_pending.fail.txt").decode())
    assert updates_of(debian) == {(u.name, u.installed, u.candidate, u.security) for u in sim}
    assert debian.stdout + b"\n" == fx("pending_updates_debian12_pending.fail.txt")
    ubuntu = derive(fx("apt_package_lists_ubuntu2204_mixed.fail.txt"), UBUNTU_DPKG)
    sim = parse_apt_simulation(fx("apt_sim_ubuntu2204_mixed.fail.txt").decode())
    assert updates_of(ubuntu) == {
        (u.name, u.installed, u.candidate, u.security) for u in sim if u.installed
    }
    clean = derive(fx("apt_package_lists_debian12_clean.pass.txt"))
    assert clean.stdout + b"\n" == fx("pending_updates_debian12_clean.pass.txt")


def lists_text(*lists: tuple[str, str, dict[str, str]], pins: str = "") -> bytes:
    """apt_package_lists output: (list name, Release header, {package: version})."""
    out = [pins] if pins else []
    for name, header, _ in lists:
        out.append(f"==> release {name}_InRelease <==\n{header}")
    for name, _, offers in lists:
        body = "".join(f"{p}\t{v}\n" for p, v in offers.items())
        out.append(f"==> packages {name}_main_binary-amd64_Packages <==\n{body}")
    return ("\n".join(out) + "\n").encode()


DPKG_ONE = b"dpkg\t1.21.22\tii \tdpkg\t1.21.22\tamd64\nfoo\t1.0-1\tii \tfoo\t1.0-1\tamd64\n"
SECURITY = "Label: Debian-Security\nSuite: stable-security\nVersion: 12"
MAIN = "Label: Debian\nSuite: stable\nVersion: 12.8"
BACKPORTS = "Label: Debian Backports\nSuite: stable-backports\nNotAutomatic: yes"


def candidates(*lists, dpkg: bytes = DPKG_ONE, pins: str = "") -> dict[str, tuple[str, bool]]:
    fact = derive(lists_text(*lists, pins=pins), dpkg)
    return {name: (new, sec) for name, _, new, sec in updates_of(fact)}


def test_apt_default_policy():
    sec = ("h_debian-security_dists_bookworm-security", SECURITY, {"foo": "1.0-1+deb12u1"})
    main = ("h_debian_dists_bookworm", MAIN, {"foo": "1.0-2"})
    assert candidates(sec, main) == {"foo": ("1.0-2", False)}  # highest version wins
    assert candidates(sec) == {"foo": ("1.0-1+deb12u1", True)}
    assert candidates(("h_d_dists_x", MAIN, {"foo": "0.9-1"})) == {}  # never a downgrade
    backports = ("h_d_dists_bookworm-backports", BACKPORTS, {"foo": "2.0-1~bpo12+1"})
    assert candidates(backports, sec) == {"foo": ("1.0-1+deb12u1", True)}
    automatic = (*backports[:1], BACKPORTS + "\nButAutomaticUpgrades: yes", backports[2])
    assert candidates(automatic) == {"foo": ("2.0-1~bpo12+1", False)}
    held = DPKG_ONE.replace(b"ii ", b"hi ")
    assert candidates(sec, dpkg=held) == {}
    both = ("h_debian_dists_bookworm", MAIN, {"foo": "1.0-1+deb12u1"})
    fact = derive(lists_text(sec, both), DPKG_ONE)
    (update,) = parse_pending_updates(fact.text)
    assert update.origins == ("Debian-Security:12/stable-security", "Debian:12.8/stable")


def test_pins_that_apply_are_not_guessed():
    sec = ("h_debian-security_dists_bookworm-security", SECURITY, {"foo": "1.0-1+deb12u1"})
    elsewhere = "==> pin /etc/apt/preferences.d/nodejs <==\nPackage: nodejs\n"
    elsewhere += "Pin: origin deb.nodesource.com\nPin-Priority: 600"
    assert candidates(sec, pins=elsewhere) == {"foo": ("1.0-1+deb12u1", True)}
    applies = "==> pin /etc/apt/preferences <==\nPackage: *\nPin: release l=Debian-Security\n"
    applies += "Pin-Priority: -1"
    fact = derive(lists_text(sec, pins=applies), DPKG_ONE)
    assert fact.exit_status == 1 and b"pins applying" in fact.stderr
    ignored = applies.replace("/etc/apt/preferences <", "/etc/apt/preferences.d/x.disabled <")
    assert candidates(sec, pins=ignored) == {"foo": ("1.0-1+deb12u1", True)}


def test_unreadable_lists_and_missing_apt():
    for marker in (b"# unreadable\n", b"! foo\n"):
        unread = derive(lists_text(("h_d_dists_x", MAIN, {})) + marker, DPKG_ONE)
        assert unread.exit_status == 1 and b"not read whole" in unread.stderr
    assert parse_pending_updates(derive(MISSING, DPKG_ONE).text) is None
    failed = Fact("apt_package_lists", b"", b"Killed\n", exit_status=137)
    assert derive(failed, DPKG_ONE).exit_status == 1


def _dpkg_compare(a: str, b: str) -> int:
    for op, result in (("lt", -1), ("eq", 0)):
        argv = ["dpkg", "--compare-versions", a, op, b]
        if subprocess.run(argv, check=False).returncode == 0:
            return result
    return 1


_PART = st.text(alphabet="0123456789", min_size=1, max_size=2)
_VERSION = st.builds(
    lambda epoch, up, suffix, rev: f"{epoch}{up}{suffix}{rev}",
    st.sampled_from(["", "", "1:"]),
    st.lists(_PART, min_size=1, max_size=3).map(".".join),
    st.sampled_from(["", "~rc1", "+dfsg", "a"]),
    st.sampled_from(["", "-1", "-2", "-1+deb12u1", "-1~bpo12+1"]),
)


@pytest.mark.skipif(shutil.which("dpkg") is None, reason="needs the real dpkg")
@settings(max_examples=40, deadline=None)
@given(
    installed=st.dictionaries(st.sampled_from("abcd"), _VERSION, min_size=1, max_size=4),
    offered=st.lists(st.dictionaries(st.sampled_from("abcde"), _VERSION), min_size=1, max_size=3),
)
def test_pending_updates_match_dpkg_ordering(installed, offered):
    """Random installed versions against random lists (default priority): the derived
    updates are exactly the packages for which dpkg itself finds a newer offer, at the
    newest one."""
    dpkg = "".join(f"{n}\t{v}\tii \t{n}\t{v}\tamd64\n" for n, v in installed.items())
    lists = [(f"h_r{i}_dists_s{i}", f"Label: L{i}\nSuite: s{i}", o) for i, o in enumerate(offered)]
    got = {n: new for n, (new, _) in candidates(*lists, dpkg=dpkg.encode()).items()}
    expected = {}
    for name, version in installed.items():
        best = version
        for offers in offered:
            if name in offers and _dpkg_compare(offers[name], best) > 0:
                best = offers[name]
        if best != version:
            expected[name] = best
    assert got == expected


# -- patch_security_updates_pending ------------------------------------------------------


def pending_facts(os_release=DEBIAN, apt=b"", dnf=MISSING, index=None, today=TODAY):
    return {
        "os_release": os_release,
        "date_utc": today,
        "pending_updates": apt,
        "dnf_security_updates": dnf,
        "package_index_age": fx("index_age_debian12.txt") if index is None else index,
    }


NO_APT = b'{"apt": false}'


def test_pending_real_debian(check_runner):
    verdict = check_runner(
        "patch_security_updates_pending",
        pending_facts(apt=fx("pending_updates_debian12_pending.fail.txt")),
    )
    assert verdict.status is Status.FAIL
    assert verdict.message.startswith("87 security updates pending")
    assert "liblzma5 5.4.1-1 -> 5.4.1-1+deb12u2" in verdict.evidence[0].actual
    assert "(+37 more)" in verdict.evidence[0].actual


def test_pending_clean_and_params(check_runner):
    clean = pending_facts(apt=fx("pending_updates_debian12_clean.pass.txt"))
    verdict = check_runner("patch_security_updates_pending", clean)
    assert verdict.status is Status.PASS and "0 day(s) ago" in verdict.message
    derived = derive(fx("apt_package_lists_ubuntu2204_mixed.fail.txt"), UBUNTU_DPKG)
    ubuntu = pending_facts(UBUNTU, apt=derived)
    assert check_runner("patch_security_updates_pending", ubuntu, max_pending=3).status is (
        Status.PASS
    )
    verdict = check_runner(
        "patch_security_updates_pending", ubuntu, max_pending=3, security_only=False
    )
    assert verdict.status is Status.FAIL and verdict.message.startswith("4 updates")


def test_pending_stale_index_fails(check_runner):
    facts = pending_facts(apt=fx("pending_updates_debian12_clean.pass.txt"), today=days_later(10))
    verdict = check_runner("patch_security_updates_pending", facts)
    assert verdict.status is Status.FAIL and "10 day(s) ago" in verdict.message
    assert check_runner("patch_security_updates_pending", facts, max_index_age_days=30).status is (
        Status.PASS
    )


def test_pending_without_index_is_error(check_runner):
    facts = pending_facts(apt=fx("pending_updates_debian12_clean.pass.txt"), index=b"")
    assert check_runner("patch_security_updates_pending", facts).status is Status.ERROR


def test_pending_lists_failure_raises(check_runner):
    broken = derive(Fact("apt_package_lists", b"", b"Killed\n", exit_status=137), DPKG_ONE)
    with pytest.raises(MissingFact):
        check_runner("patch_security_updates_pending", pending_facts(apt=broken))


def test_pending_rhel(check_runner):
    index = fx("index_age_rhel9.txt")
    facts = pending_facts(RHEL, apt=NO_APT, dnf=fx("dnf_rhel9_security.fail.txt"), index=index)
    verdict = check_runner("patch_security_updates_pending", facts)
    assert verdict.status is Status.FAIL and verdict.message.startswith("5 security updates")
    assert "RHSA-2024:1130" in verdict.evidence[0].actual
    facts = pending_facts(RHEL, apt=NO_APT, dnf=fx("dnf_clean.pass.txt"), index=index)
    assert check_runner("patch_security_updates_pending", facts).status is Status.PASS
    no_cache = Fact("dnf_security_updates", b"", b"Error: Cache-only enabled but no cache\n", 1)
    with pytest.raises(MissingFact):
        check_runner("patch_security_updates_pending", pending_facts(RHEL, NO_APT, no_cache))


def test_pending_without_package_manager(check_runner):
    facts = pending_facts(apt=derive(MISSING, DPKG_ONE))
    assert check_runner("patch_security_updates_pending", facts).status is Status.NOT_APPLICABLE


# -- reboot / kernel ---------------------------------------------------------------------


def test_reboot_required(check_runner):
    run = check_runner
    absent = fx("reboot_debian12_absent.pass.txt")
    assert run(
        "patch_reboot_required", {"os_release": DEBIAN, "reboot_required": absent}
    ).status is (Status.PASS)
    flag = b"flag present\npkg linux-image-6.1.0-21-amd64\npkg libc6\nneeds-restarting missing\n"
    verdict = run("patch_reboot_required", {"os_release": DEBIAN, "reboot_required": flag})
    assert verdict.status is Status.FAIL and "linux-image-6.1.0-21-amd64, libc6" in verdict.message
    needed = fx("reboot_rhel9_needed.fail.txt")
    verdict = run("patch_reboot_required", {"os_release": RHEL, "reboot_required": needed})
    assert verdict.status is Status.FAIL and "kernel, systemd" in verdict.message
    fine = b"flag absent\nneeds-restarting 0\n"
    assert run("patch_reboot_required", {"os_release": RHEL, "reboot_required": fine}).status is (
        Status.PASS
    )
    assert run("patch_reboot_required", {"os_release": RHEL, "reboot_required": absent}).status is (
        Status.ERROR
    )


def kernel_facts(release: str, kernels: bytes) -> dict:
    return {"uname": f"Linux\n{release}\nx86_64\n".encode(), "kernel_packages": kernels}


def test_running_kernel_container(check_runner):
    verdict = check_runner("patch_running_kernel_latest", kernel_facts("6.18.44-fc-v782", b""))
    assert verdict.status is Status.NOT_APPLICABLE


# -- automatic updates -------------------------------------------------------------------


def test_automatic_updates_debian(check_runner):
    run = check_runner
    on = fx("auto_updates_debian12_enabled.pass.txt")
    assert run("patch_automatic_updates", {"os_release": DEBIAN, "auto_updates": on}).status is (
        Status.PASS
    )
    real = fx("auto_updates_debian12_none.fail.txt")
    verdict = run("patch_automatic_updates", {"os_release": DEBIAN, "auto_updates": real})
    assert verdict.status is Status.FAIL and "unattended-upgrades not installed" in verdict.message
    masked = on.replace(b"apt-daily-upgrade.timer enabled", b"apt-daily-upgrade.timer masked")
    verdict = run("patch_automatic_updates", {"os_release": DEBIAN, "auto_updates": masked})
    assert verdict.status is Status.FAIL and "masked" in verdict.message
    off = on.replace(b'Unattended-Upgrade "1"', b'Unattended-Upgrade "0"')
    facts = {"os_release": DEBIAN, "auto_updates": off}
    assert run("patch_automatic_updates", facts).status is Status.FAIL
    assert run("patch_automatic_updates", facts, accept_download_only=True).status is Status.PASS


def test_automatic_updates_rhel(check_runner):
    run = check_runner
    on = fx("auto_updates_rhel9_dnf_automatic.pass.txt")
    assert run("patch_automatic_updates", {"os_release": RHEL, "auto_updates": on}).status is (
        Status.PASS
    )
    notify = on.replace(b"apply_updates = yes", b"apply_updates = no")
    facts = {"os_release": RHEL, "auto_updates": notify}
    assert run("patch_automatic_updates", facts).status is Status.FAIL
    assert run("patch_automatic_updates", facts, accept_download_only=True).status is Status.PASS
    install = notify.replace(
        b"dnf-automatic-install.timer disabled", b"dnf-automatic-install.timer enabled"
    )
    assert run("patch_automatic_updates", {"os_release": RHEL, "auto_updates": install}).status is (
        Status.PASS
    )
    nothing = fx("auto_updates_debian12_none.fail.txt")
    assert run("patch_automatic_updates", {"os_release": RHEL, "auto_updates": nothing}).status is (
        Status.FAIL
    )


# -- end of life -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("os_release", "today", "status", "text"),
    [
        (DEBIAN, TODAY, Status.PASS, "2028-06-30 (580 days left); regular security"),
        (DEBIAN, b"2028-07-01\n0\n", Status.FAIL, "1 days ago"),
        (RHEL, TODAY, Status.PASS, "until 2032-05-31"),
        (UBUNTU, TODAY, Status.FAIL, "ESM until 2030-04-30"),
        (DEBIAN, b"2028-02-01\n0\n", Status.PASS, "plan the upgrade"),
    ],
)
def test_os_end_of_life(check_runner, os_release, today, status, text):
    verdict = check_runner("os_end_of_life", {"os_release": os_release, "date_utc": today})
    assert verdict.status is status and text in verdict.message, verdict.message


def test_os_end_of_life_esm_and_unknown(check_runner):
    facts = {"os_release": UBUNTU, "date_utc": TODAY}
    assert check_runner("os_end_of_life", facts, accept_esm=True).status is Status.PASS
    fedora = b'ID=fedora\nVERSION_ID=40\nPRETTY_NAME="Fedora Linux 40"\n'
    verdict = check_runner("os_end_of_life", {"os_release": fedora, "date_utc": TODAY})
    assert verdict.status is Status.ERROR and "os_eol.yaml" in verdict.message


def test_os_eol_table_is_complete():
    from datetime import date

    from hygie.checks.packages import os_eol_table

    table = os_eol_table()
    assert set(table["debian"]) == {"9", "10", "11", "12", "13"}
    assert set(table["ubuntu"]) == {"16.04", "18.04", "20.04", "22.04", "24.04"}
    for distro in ("rhel", "rocky", "almalinux"):
        assert {"8", "9", "10"} <= set(table[distro])
    for releases in table.values():
        for entry in releases.values():
            eol = date.fromisoformat(entry["eol"])
            assert date.fromisoformat(entry.get("security_end", entry["eol"])) <= eol
            assert date.fromisoformat(entry.get("esm", entry["eol"])) >= eol


# -- cleartext servers -------------------------------------------------------------------


def test_cleartext_servers_debian(check_runner):
    real = fx("packages_dpkg_debian12.pass.txt")
    facts = {"packages_dpkg": real, "packages_rpm": MISSING}
    assert check_runner("patch_cleartext_servers_installed", facts).status is Status.PASS
    extra = (
        real
        + b"telnetd\t0.17+2.4-2\tii \tinetutils\t2:2.4-2\nvsftpd\t3.0.3-13\trc \tvsftpd\t3.0.3-13\n"
    )
    verdict = check_runner(
        "patch_cleartext_servers_installed", {"packages_dpkg": extra, "packages_rpm": MISSING}
    )
    assert verdict.status is Status.FAIL
    assert "telnetd 0.17+2.4-2" in verdict.message and "vsftpd" not in verdict.message


def test_cleartext_servers_rhel_and_param(check_runner):
    rpm = b"vsftpd\t(none)\t3.0.5\t5.el9\tx86_64\nbash\t(none)\t5.1.8\t6.el9\tx86_64\n"
    facts = {"packages_dpkg": MISSING, "packages_rpm": rpm}
    assert check_runner("patch_cleartext_servers_installed", facts).status is Status.FAIL
    assert (
        check_runner("patch_cleartext_servers_installed", facts, forbidden=["telnet-server"]).status
        is Status.PASS
    )


def test_cleartext_servers_no_package_manager(check_runner):
    facts = {"packages_dpkg": MISSING, "packages_rpm": MISSING}
    with pytest.raises(MissingFact):
        check_runner("patch_cleartext_servers_installed", facts)
