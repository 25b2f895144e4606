"""Patch level: pending security updates, reboots, kernels, automatic updates, OS support
and cleartext network servers.

Unpatched, internet-reachable software is the most common way into hospital networks;
these checks read only what the package managers already know on the host (no metadata
refresh), and say so when that knowledge is too old to be trusted.
"""

from __future__ import annotations

import fnmatch
import functools
import importlib.resources
import re
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

import yaml

from hygie.facts.packages import (
    KernelPackage,
    Package,
    compare_versions,
    parse_auto_updates,
    parse_dnf_updateinfo,
    parse_dpkg_packages,
    parse_index_age,
    parse_kernel_packages,
    parse_pending_updates,
    parse_reboot_required,
    parse_rpm_packages,
)
from hygie.facts.system import parse_date_utc, parse_os_release, parse_uname
from hygie.model import Evidence
from hygie.registry import (
    Facts,
    Param,
    Verdict,
    check,
    errored,
    failed,
    judge,
    not_applicable,
    passed,
)

#: Public ids are never renamed: patching checks are patch_, end of life os_.
ID_PREFIXES = ("patch_", "os_")


def _capped(items: Iterable[str], limit: int = 50) -> str:
    items = list(items)
    text = ", ".join(items[:limit])
    if len(items) > limit:
        text += f" (+{len(items) - limit} more)"
    return text or "none"


def _family(facts: Facts) -> str:
    return facts.parsed("os_release", parse_os_release).family


def _today(facts: Facts) -> tuple[date, int]:
    day, epoch = facts.parsed("date_utc", parse_date_utc)
    return date.fromisoformat(day), epoch


# -- pending security updates ----------------------------------------------------------


@check(
    facts=(
        "os_release",
        "date_utc",
        "pending_updates",
        "dnf_security_updates",
        "package_index_age",
    ),
    params={
        "max_pending": Param(0, "security updates tolerated", minimum=0),
        "security_only": Param(
            True, "count only security updates (apt; dnf always reports security advisories)"
        ),
        "max_index_age_days": Param(
            7, "older package metadata makes the result untrustworthy (fail)", minimum=1
        ),
    },
)
def patch_security_updates_pending(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    family = _family(facts)
    if family == "debian":
        fact = "pending_updates"
        updates = facts.parsed(fact, parse_pending_updates)
        if updates is None:
            return not_applicable("apt-get is not installed")
        selected = [u for u in updates if u.security or not params["security_only"]]
        kind = "security updates" if params["security_only"] else "updates"
        pending = [u.describe() for u in selected]
    else:
        fact = "dnf_security_updates"
        if facts.get(fact).command_missing:
            return not_applicable("neither dnf nor yum is installed")
        advisories = facts.parsed(fact, parse_dnf_updateinfo)
        kind = "security updates"
        pending = list(dict.fromkeys(f"{a.package} ({a.id} {a.severity})" for a in advisories))
    expected = f"<= {params['max_pending']} pending {kind}, package index <= "
    expected += f"{params['max_index_age_days']} days old"

    ages = facts.parsed("package_index_age", parse_index_age)
    if not ages:
        return errored(
            "no cached package index (apt lists / dnf repodata): pending updates cannot be "
            "known; run `apt-get update` or `dnf makecache`",
            Evidence(expected, "no repository index files", "package_index_age"),
        )
    _, now = _today(facts)
    age_days = max(0, now - max(ages.values())) // 86400
    stale = age_days > params["max_index_age_days"]
    age_note = f"package index refreshed {age_days} day(s) ago"
    actual = f"{len(pending)} pending: {_capped(pending)}; {age_note}"
    evidence = (Evidence(expected, actual, fact),)
    if len(pending) > params["max_pending"]:
        stale_note = " (index is stale: there may be more)" if stale else ""
        return failed(
            f"{len(pending)} {kind} pending{stale_note}: {_capped(pending, 20)}", *evidence
        )
    if stale:
        return failed(
            f"{age_note}, more than {params['max_index_age_days']}: the host is not "
            "refreshing its package metadata, so missing updates would not show",
            *evidence,
        )
    return passed(f"no {kind} pending ({age_note})", *evidence)


# -- reboot and kernel -----------------------------------------------------------------


@check(
    facts=("os_release", "reboot_required"),
)
def patch_reboot_required(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    status = facts.parsed("reboot_required", parse_reboot_required)
    fact = "reboot_required"
    if _family(facts) == "debian":
        expected = "no /var/run/reboot-required"
        if status.flag:
            pkgs = _capped(status.flag_packages) if status.flag_packages else "unknown packages"
            return failed(
                f"reboot required by {pkgs}",
                Evidence(expected, f"/var/run/reboot-required present ({pkgs})", fact),
            )
        return passed(
            "no /var/run/reboot-required flag (written by update-notifier/unattended-upgrades "
            "hooks; see patch_running_kernel_latest for the kernel itself)",
            Evidence(expected, "absent", fact),
        )
    expected = "needs-restarting -r exits 0"
    if status.needs_restarting is None:
        return errored(
            "needs-restarting is not installed (dnf-utils / yum-utils)",
            Evidence(expected, "needs-restarting missing", fact),
        )
    reasons = _capped(r.lstrip("* ") for r in status.reasons if r.startswith("*"))
    actual = f"exit {status.needs_restarting}; {reasons}"
    if status.needs_restarting == 1:
        return failed(f"reboot required (updated: {reasons})", Evidence(expected, actual, fact))
    if status.needs_restarting == 0:
        return passed("no reboot required", Evidence(expected, actual, fact))
    return errored(f"needs-restarting -r failed ({actual})", Evidence(expected, actual, fact))


def _newest(kernels: list[KernelPackage]) -> KernelPackage:
    def order(a: KernelPackage, b: KernelPackage) -> int:
        return compare_versions(a.manager, a.version, b.version)

    return max(kernels, key=functools.cmp_to_key(order))


@check(
    facts=("uname", "kernel_packages"),
)
def patch_running_kernel_latest(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    running = facts.parsed("uname", parse_uname).release
    kernels = list(facts.parsed("kernel_packages", parse_kernel_packages))
    if not kernels:
        return not_applicable(
            f"no distribution kernel package installed (running {running}): container or "
            "custom kernel"
        )
    match = [k for k in kernels if k.release == running]
    if match:
        # Same package name family (Debian: all ABIs; RHEL: kernel-core vs kernel-uek).
        peers = [
            k
            for k in kernels
            if k.manager == match[0].manager and (k.manager == "dpkg" or k.name == match[0].name)
        ]
        newest = _newest(peers)
        current = _newest(match)
        up_to_date = compare_versions(newest.manager, current.version, newest.version) >= 0
    else:
        newest = _newest(kernels)
        current = None
        up_to_date = False
    expected = f"running {newest.release}"
    actual = f"running {running}; installed: {_capped(k.describe() for k in kernels)}"
    evidence = Evidence(expected, actual, "kernel_packages")
    if up_to_date:
        return passed(f"running the newest installed kernel {newest.describe()}", evidence)
    if current is None:
        return failed(
            f"running kernel {running} is not an installed package; newest installed is "
            f"{newest.describe()}: reboot",
            evidence,
        )
    return failed(
        f"running {current.describe()} but {newest.describe()} is installed: reboot", evidence
    )


# -- automatic updates -----------------------------------------------------------------


def _on(value: str | None) -> bool:
    return (value or "").strip().strip('"').lower() not in ("", "0", "no", "false", "off")


def _enabled(state: str | None) -> bool:
    return (state or "") in ("enabled", "enabled-runtime", "static", "alias", "indirect")


@check(
    facts=("os_release", "auto_updates"),
    params={
        "accept_download_only": Param(
            False, "accept automatic download/notification without installation"
        )
    },
)
def patch_automatic_updates(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    auto = facts.parsed("auto_updates", parse_auto_updates)
    fact = "auto_updates"
    if _family(facts) == "debian":
        expected = (
            "unattended-upgrades installed, APT::Periodic::Update-Package-Lists and "
            "APT::Periodic::Unattended-Upgrade non-zero, apt-daily-upgrade.timer not disabled"
        )
        lists = auto.apt_config.get("APT::Periodic::Update-Package-Lists")
        upgrade = auto.apt_config.get("APT::Periodic::Unattended-Upgrade")
        timer = auto.units.get("apt-daily-upgrade.timer", "not-found")
        problems = []
        if not auto.unattended_upgrades_installed:
            problems.append("unattended-upgrades not installed")
        if not _on(lists):
            problems.append(f"APT::Periodic::Update-Package-Lists is {lists or 'unset'}")
        if not _on(upgrade) and not params["accept_download_only"]:
            problems.append(f"APT::Periodic::Unattended-Upgrade is {upgrade or 'unset'}")
        if timer in ("disabled", "masked"):
            problems.append(f"apt-daily-upgrade.timer is {timer}")
        actual = (
            f"unattended-upgrades {'installed' if auto.unattended_upgrades_installed else 'absent'}"
            f"; Update-Package-Lists {lists or 'unset'}; Unattended-Upgrade "
            f"{upgrade or 'unset'}; apt-daily-upgrade.timer {timer}"
        )
        return judge(
            not problems,
            "; ".join(problems) if problems else "unattended-upgrades installs updates daily",
            Evidence(expected, actual, fact),
        )
    # RHEL family: dnf-automatic(-install) timers or yum-cron.
    expected = (
        "dnf-automatic-install.timer enabled, or dnf-automatic.timer enabled with "
        "apply_updates = yes (RHEL 7: yum-cron enabled with apply_updates = yes)"
    )
    dnf_conf = auto.conf.get("/etc/dnf/automatic.conf", {})
    yum_conf = auto.conf.get("/etc/yum/yum-cron.conf", {})
    applies = {
        "dnf-automatic-install.timer": True,
        "dnf-automatic.timer": _on(dnf_conf.get("apply_updates")),
        "dnf5-automatic.timer": _on(dnf_conf.get("apply_updates")),
        "yum-cron.service": _on(yum_conf.get("apply_updates")),
    }
    active = [u for u in applies if _enabled(auto.units.get(u))]
    installing = [u for u in active if applies[u]]
    actual = _capped(f"{u} {auto.units.get(u, 'not-found')}" for u in applies)
    if dnf_conf:
        actual += f"; automatic.conf apply_updates = {dnf_conf.get('apply_updates', 'unset')}"
    if yum_conf:
        actual += f"; yum-cron.conf apply_updates = {yum_conf.get('apply_updates', 'unset')}"
    if installing:
        return passed(
            f"updates installed automatically by {', '.join(installing)}",
            Evidence(expected, actual, fact),
        )
    if active and params["accept_download_only"]:
        return passed(
            f"{', '.join(active)} downloads/notifies (accepted by policy)",
            Evidence(expected, actual, fact),
        )
    reason = (
        f"{', '.join(active)} enabled but apply_updates is not yes"
        if active
        else "no dnf-automatic or yum-cron unit enabled"
    )
    return failed(reason, Evidence(expected, actual, fact))


# -- end of life -----------------------------------------------------------------------


@functools.cache
def os_eol_table() -> dict[str, dict[str, dict[str, str]]]:
    """The shipped end-of-life table (hygie/data/os_eol.yaml), read once."""
    text = (importlib.resources.files("hygie") / "data" / "os_eol.yaml").read_text("utf-8")
    return yaml.safe_load(text)


def _release_key(os_id: str, version_id: str) -> str:
    """Ubuntu is keyed by full LTS version (22.04), the others by major (9.4 -> 9)."""
    return version_id if os_id == "ubuntu" else version_id.split(".")[0]


@check(
    facts=("os_release", "date_utc"),
    params={
        "warn_days": Param(
            180, "mention the approaching end of life this many days before", minimum=0
        ),
        "accept_esm": Param(False, "count Ubuntu Pro ESM as support (subscription required)"),
    },
)
def os_end_of_life(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    release = facts.parsed("os_release", parse_os_release)
    today, _ = _today(facts)
    key = _release_key(release.id, release.version_id)
    entry = os_eol_table().get(release.id, {}).get(key)
    label = release.pretty_name or f"{release.id} {release.version_id}"
    if entry is None:
        return errored(
            f"no end-of-life data for {label} (id {release.id!r}, version {key!r}); add it to "
            "hygie/data/os_eol.yaml",
            Evidence("a known release", f"{release.id} {release.version_id}", "os_release"),
        )
    eol = date.fromisoformat(entry["eol"])
    basis = "end of support"
    if params["accept_esm"] and "esm" in entry:
        eol, basis = date.fromisoformat(entry["esm"]), "end of ESM"
    days = (eol - today).days
    evidence = Evidence(
        f"{basis} after {today.isoformat()}", f"{label}: {basis} {eol}", "os_release"
    )
    if days < 0:
        esm = (
            f"; ESM until {entry['esm']} with Ubuntu Pro"
            if "esm" in entry and not params["accept_esm"]
            else ""
        )
        return failed(f"{label} reached its {basis} on {eol} ({-days} days ago){esm}", evidence)
    note = ""
    if "security_end" in entry and date.fromisoformat(entry["security_end"]) < today:
        note = f"; regular security support ended {entry['security_end']}, now LTS"
    soon = (
        f" — plan the upgrade (within {params['warn_days']} days)"
        if days <= params["warn_days"]
        else ""
    )
    return passed(f"{label} supported until {eol} ({days} days left){soon}{note}", evidence)


# -- cleartext servers -----------------------------------------------------------------


def _inventory(facts: Facts) -> tuple[str, tuple[Package, ...]]:
    """The host's package list: dpkg when it answers with packages, else rpm.

    A Debian host can have the rpm tool with an empty database, hence "with packages".
    """
    dpkg = facts.get("packages_dpkg")
    if dpkg.ok and dpkg.stdout.strip():
        return "packages_dpkg", parse_dpkg_packages(dpkg.text)
    rpm = facts.get("packages_rpm")
    if rpm.ok and rpm.stdout.strip():
        return "packages_rpm", parse_rpm_packages(rpm.text)
    # Neither gave a list: report the more telling failure as error.
    name = "packages_rpm" if dpkg.command_missing else "packages_dpkg"
    facts.text(name)
    return name, ()


_CLEARTEXT_DEFAULT = [
    "telnetd",
    "telnetd-ssl",
    "inetutils-telnetd",
    "krb5-telnetd",
    "telnet-server",
    "vsftpd",
    "proftpd",
    "proftpd-basic",
    "proftpd-core",
    "pure-ftpd*",
    "ftpd",
    "ftpd-ssl",
    "inetutils-ftpd",
    "rsh-server",
    "rsh-redone-server",
    "tftpd",
    "tftpd-hpa",
    "atftpd",
    "tftp-server",
    "nis",
    "ypserv",
    "talkd",
    "inetutils-talkd",
]


@check(
    facts=("packages_dpkg", "packages_rpm"),
    params={"forbidden": Param(_CLEARTEXT_DEFAULT, "shell patterns of forbidden package names")},
)
def patch_cleartext_servers_installed(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    fact, packages = _inventory(facts)
    patterns = params["forbidden"]
    # one regex for all the shell patterns: a host has thousands of packages
    forbidden = re.compile("|".join(f"(?:{fnmatch.translate(pat)})" for pat in patterns) or "(?!)")
    found = sorted(
        {f"{p.name} {p.version}" for p in packages if p.installed and forbidden.match(p.name)}
    )
    expected = "none of: " + ", ".join(patterns)
    if found:
        return failed(
            f"cleartext servers installed: {_capped(found)}",
            Evidence(expected, _capped(found), fact),
        )
    return passed(
        f"none of {len(patterns)} cleartext server packages among {len(packages)} installed",
        Evidence(expected, "none installed", fact),
    )
