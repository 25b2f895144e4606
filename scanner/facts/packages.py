"""Facts about installed software and patch level (dpkg/apt and rpm/dnf/yum).

Everything here is read-only: apt runs in simulation mode without taking its lock or
writing its binary caches, dnf/yum run from their existing cache (``-C``) and never
refresh metadata. The age of that metadata is collected separately, because a host that
never refreshes its package index will also report "nothing to install".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from debian.debian_support import version_compare
from univers.versions import RpmVersion

from hygie.facts.system import OsRelease
from hygie.factspec import fact, split_files

PACKAGES_DPKG = fact(
    "packages_dpkg",
    "dpkg-query -W -f '${binary:Package}\\t${Version}\\t${db:Status-Abbrev}\\t"
    "${source:Package}\\t${source:Version}\\t${Architecture}\\n'",
    "installed Debian packages: name, version, status, source name and version, architecture",
    max_bytes=8 << 20,
)

PACKAGES_RPM = fact(
    "packages_rpm",
    "rpm -qa --qf '%{NAME}\\t%{EPOCH}\\t%{VERSION}\\t%{RELEASE}\\t%{ARCH}\\t%{SOURCERPM}\\n'",
    "installed RPM packages: name, epoch, version, release, arch, source RPM file name",
    max_bytes=8 << 20,
)

# -s: simulate; NoLocking: do not take (or wait for) the dpkg lock; empty pkgcache /
# srcpkgcache: build the cache in memory instead of rewriting /var/cache/apt/*.bin.
APT_UPGRADE_SIMULATION = fact(
    "apt_upgrade_simulation",
    "command -v apt-get >/dev/null 2>&1 || exit 127; "
    "LC_ALL=C apt-get -s -o Debug::NoLocking=1 -o Dir::Cache::pkgcache= "
    "-o Dir::Cache::srcpkgcache= dist-upgrade",
    "simulated apt dist-upgrade: the upgrades apt would install, with their origins",
    max_bytes=4 << 20,
    timeout=180,
)

# Cache-only: never contacts a repository. dnf (RHEL 8+), yum (RHEL 7).
DNF_SECURITY_UPDATES = fact(
    "dnf_security_updates",
    "if command -v dnf >/dev/null 2>&1; then dnf -q -C updateinfo list --security; "
    "elif command -v yum >/dev/null 2>&1; then yum -q -C updateinfo list security; "
    "else exit 127; fi",
    "security advisories applicable to installed RPMs, from the cached repository metadata",
    max_bytes=4 << 20,
    timeout=180,
)

PACKAGE_INDEX_AGE = fact(
    "package_index_age",
    "for f in /var/lib/apt/lists/*Release /var/cache/dnf/*/repodata/repomd.xml "
    "/var/cache/libdnf5/*/repodata/repomd.xml /var/cache/yum/*/*/*/repodata/repomd.xml "
    '/var/cache/yum/*/*/repomd.xml; do [ -f "$f" ] && stat -c \'%Y %n\' -- "$f"; done; true',
    "modification time (epoch) of each cached repository index (apt Release, dnf repomd)",
)

REBOOT_REQUIRED = fact(
    "reboot_required",
    "if [ -e /var/run/reboot-required ]; then echo 'flag present'; else echo 'flag absent'; fi; "
    "[ -r /var/run/reboot-required.pkgs ] && sed 's/^/pkg /' /var/run/reboot-required.pkgs; "
    "if command -v needs-restarting >/dev/null 2>&1; then "
    "out=$(needs-restarting -r 2>&1); rc=$?; printf '%s\\n' \"$out\" | sed 's/^/nr /'; "
    'echo "needs-restarting $rc"; '
    "else echo 'needs-restarting missing'; fi; true",
    "reboot-required flag (Debian/Ubuntu) and needs-restarting -r (RHEL)",
)

KERNEL_PACKAGES = fact(
    "kernel_packages",
    "if command -v dpkg-query >/dev/null 2>&1; then "
    "dpkg-query -W -f 'deb\\t${Package}\\t${Version}\\t${db:Status-Abbrev}\\n' "
    "'linux-image-*' 2>/dev/null; fi; "
    "if command -v rpm >/dev/null 2>&1; then "
    "rpm -qa --qf 'rpm\\t%{NAME}\\t%{EPOCH}\\t%{VERSION}\\t%{RELEASE}\\t%{ARCH}\\n' "
    "'kernel' 'kernel-core' 'kernel-uek' 'kernel-uek-core' 'kernel-rt-core' 2>/dev/null; fi; "
    "true",
    "installed kernel packages (dpkg linux-image-*, rpm kernel/kernel-core)",
)

# pipefail is not POSIX: the pipeline's grep status is irrelevant, every section is
# introduced explicitly so an empty section still says "looked, found nothing".
AUTO_UPDATES = fact(
    "auto_updates",
    "if command -v apt-config >/dev/null 2>&1; then echo '==> apt-config <=='; "
    "apt-config dump | grep -E '^(APT::Periodic|Unattended-Upgrade::)'; "
    "echo '==> dpkg <=='; dpkg-query -W -f '${db:Status-Abbrev}\\t${Package}\\t${Version}\\n' "
    "unattended-upgrades 2>/dev/null; fi; "
    "if command -v systemctl >/dev/null 2>&1; then echo '==> units <=='; "
    "for u in apt-daily.timer apt-daily-upgrade.timer dnf-automatic.timer "
    "dnf-automatic-install.timer dnf5-automatic.timer yum-cron.service; do "
    's=$(systemctl is-enabled "$u" 2>/dev/null); echo "$u ${s:-not-found}"; done; fi; '
    'for f in /etc/dnf/automatic.conf /etc/yum/yum-cron.conf; do [ -f "$f" ] || continue; '
    "echo \"==> $f <==\"; grep -E '^[[:space:]]*(\\[|apply_updates|upgrade_type|update_cmd)' "
    '"$f"; done; true',
    "automatic update configuration: unattended-upgrades/APT::Periodic, dnf-automatic, "
    "yum-cron and their systemd units",
)


# -- package inventory -----------------------------------------------------------------


@dataclass(frozen=True)
class Package:
    """One installed package. ``version`` is the full comparable version string:
    dpkg ``[epoch:]upstream[-revision]`` or rpm ``[epoch:]version-release``."""

    name: str
    version: str
    arch: str = ""
    status: str = "ii"
    source: str = ""
    source_version: str = ""
    manager: str = "dpkg"

    @property
    def installed(self) -> bool:
        """dpkg status letter 2 is ``n`` (not installed) or ``c`` (config files only)."""
        return self.manager == "rpm" or (len(self.status) > 1 and self.status[1] not in "nc")


def parse_dpkg_packages(text: str) -> tuple[Package, ...]:
    """``packages_dpkg`` lines; ``name:arch`` (Multi-Arch: same) is split into name, arch.

    The architecture column (sixth) is absent from facts collected before it was added;
    the ``:arch`` suffix then still gives it for Multi-Arch: same packages."""
    packages = []
    for line in text.splitlines():
        fields = line.split("\t")
        if len(fields) < 3 or not fields[0]:
            continue
        fields += [""] * (6 - len(fields))
        name, _, arch = fields[0].partition(":")
        packages.append(
            Package(
                name=name,
                version=fields[1],
                arch=fields[5].strip() or arch,
                status=fields[2].strip(),
                source=fields[3] or name,
                source_version=fields[4] or fields[1],
            )
        )
    return tuple(packages)


def rpm_evr(epoch: str, version: str, release: str) -> str:
    """``epoch:version-release``, epoch omitted when rpm printed ``(none)`` or 0."""
    evr = f"{version}-{release}" if release else version
    return f"{epoch}:{evr}" if epoch not in ("", "(none)", "0") else evr


_SRPM = re.compile(r"^(.+)-[^-]+-[^-]+\.(?:no)?src\.rpm$")


def source_rpm_name(srpm: str) -> str:
    """``openssh-8.7p1-38.el9.src.rpm`` -> ``openssh``; "" for ``(none)`` (gpg-pubkey)."""
    m = _SRPM.match(srpm.strip())
    return m.group(1) if m else ""


def parse_rpm_packages(text: str) -> tuple[Package, ...]:
    """``packages_rpm`` lines: NAME EPOCH VERSION RELEASE ARCH [SOURCERPM], tab-separated.

    RHEL-family advisories (OSV ``Rocky Linux``, ``AlmaLinux``) name the source RPM; the
    source RPM shares the binary's epoch:version-release, so only its name is kept."""
    packages = []
    for line in text.splitlines():
        fields = line.split("\t")
        if len(fields) not in (5, 6) or not fields[0]:
            continue
        name, epoch, version, release, arch = fields[:5]
        source = source_rpm_name(fields[5]) if len(fields) == 6 else ""
        packages.append(
            Package(
                name=name,
                version=rpm_evr(epoch, version, release),
                arch=arch,
                status="ii",
                source=source or name,
                source_version=rpm_evr(epoch, version, release),
                manager="rpm",
            )
        )
    return tuple(packages)


# -- version comparison ----------------------------------------------------------------


def rpm_evr_compare(a: str, b: str) -> int:
    """Compare ``[epoch:]version[-release]`` the way rpm does (epoch, then rpmvercmp on
    version and release, with ``~`` and ``^``), using univers' port of rpm's algorithm."""
    left, right = RpmVersion(a), RpmVersion(b)
    return (left > right) - (left < right)


def compare_versions(manager: str, a: str, b: str) -> int:
    """-1/0/1 with the ordering of the package manager that owns the versions."""
    if manager == "rpm":
        return rpm_evr_compare(a, b)
    result = version_compare(a, b)
    return (result > 0) - (result < 0)


# -- advisory ecosystems ---------------------------------------------------------------

#: os-release ID -> OSV ecosystem base name (https://ossf.github.io/osv-schema/). Each of
#: these names its advisories by SOURCE package, scoped by a ``:<release>`` suffix.
OSV_ECOSYSTEMS = {
    "debian": "Debian",
    "ubuntu": "Ubuntu",
    "rocky": "Rocky Linux",
    "almalinux": "AlmaLinux",
}
_ECOSYSTEM_MANAGER = {"Debian": "dpkg", "Ubuntu": "dpkg", "Rocky Linux": "rpm", "AlmaLinux": "rpm"}


def osv_ecosystem(release: OsRelease) -> str | None:
    """The OSV ecosystem whose advisories apply to this OS release, or None (RHEL itself,
    Debian testing/sid: no numeric release in OSV's naming).

    ``Debian:12``; Ubuntu ``22.04:LTS`` (LTS releases are the even-year April ones, which
    os-release does not say in a machine-readable field); ``Rocky Linux:9``, ``AlmaLinux:9``
    (major release: advisories are per major)."""
    base = OSV_ECOSYSTEMS.get(release.id)
    version = release.version_id
    if base is None or not version or not version.split(".")[0].isdigit():
        return None
    if release.id == "ubuntu":
        year, _, month = version.partition(".")
        lts = month == "04" and int(year) % 2 == 0
        return f"Ubuntu:{version}:LTS" if lts else f"Ubuntu:{version}"
    if release.id == "debian":
        return f"Debian:{version}"
    return f"{base}:{version.split('.')[0]}"


def ecosystem_manager(ecosystem: str) -> str | None:
    """``dpkg`` or ``rpm``: whose version ordering an OSV ecosystem's ranges use; None for
    ecosystems hygie does not match hosts against."""
    return _ECOSYSTEM_MANAGER.get(ecosystem.split(":")[0])


# -- pending updates -------------------------------------------------------------------


@dataclass(frozen=True)
class PendingUpdate:
    name: str
    installed: str
    candidate: str
    origins: tuple[str, ...]
    security: bool

    def describe(self) -> str:
        return f"{self.name} {self.installed or '(new)'} -> {self.candidate}"


# Inst libc6 [2.36-9+deb12u4] (2.36-9+deb12u7 Debian-Security:12/stable-security [amd64])
_INST = re.compile(r"^Inst (\S+) (?:\[([^\]]*)\] )?\((\S+) (.*) \[[^\]]*\]\)")


def _is_security_origin(origin: str) -> bool:
    """Debian-Security:12/stable-security, Ubuntu:22.04/jammy-security, ESM *-security."""
    return "security" in origin.lower()


def parse_apt_simulation(text: str) -> tuple[PendingUpdate, ...]:
    """``Inst`` lines of ``apt-get -s dist-upgrade``; ``Conf``/``Remv`` lines are ignored."""
    updates = []
    for line in text.splitlines():
        m = _INST.match(line)
        if not m:
            continue
        origins = tuple(o.strip() for o in m.group(4).split(",") if o.strip())
        updates.append(
            PendingUpdate(
                name=m.group(1),
                installed=m.group(2) or "",
                candidate=m.group(3),
                origins=origins,
                security=any(_is_security_origin(o) for o in origins),
            )
        )
    return tuple(updates)


@dataclass(frozen=True)
class Advisory:
    id: str
    severity: str
    package: str


def parse_dnf_updateinfo(text: str) -> tuple[Advisory, ...]:
    """``updateinfo list --security`` lines.

    dnf 4 / yum: ``RHSA-2024:0897 Important/Sec. kernel-5.14.0-362.18.1.el9_3.x86_64``;
    dnf 5: ``FEDORA-2024-1 security Moderate pkg-1.2-3.fc40.x86_64 2024-01-01 ...``.
    """
    advisories = []
    for line in text.splitlines():
        tokens = line.split()
        if len(tokens) >= 3 and tokens[1].endswith("/Sec."):
            advisories.append(Advisory(tokens[0], tokens[1].removesuffix("/Sec."), tokens[2]))
        elif len(tokens) >= 4 and tokens[1] == "security":
            advisories.append(Advisory(tokens[0], tokens[2], tokens[3]))
    return tuple(advisories)


def parse_index_age(text: str) -> dict[str, int]:
    """``epoch path`` lines -> path: mtime."""
    ages = {}
    for line in text.splitlines():
        stamp, _, path = line.partition(" ")
        if stamp.isdigit() and path:
            ages[path] = int(stamp)
    return ages


# -- reboot, kernels, automatic updates --------------------------------------------------


@dataclass(frozen=True)
class RebootStatus:
    flag: bool
    flag_packages: tuple[str, ...]
    needs_restarting: int | None  # exit status of needs-restarting -r; None when absent
    reasons: tuple[str, ...]


def parse_reboot_required(text: str) -> RebootStatus:
    flag = False
    pkgs: list[str] = []
    status: int | None = None
    reasons: list[str] = []
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if key == "flag":
            flag = value.strip() == "present"
        elif key == "pkg":
            pkgs.append(value.strip())
        elif key == "nr":
            if value.strip():
                reasons.append(value.strip())
        elif key == "needs-restarting" and value.strip().isdigit():
            status = int(value)
    return RebootStatus(flag, tuple(dict.fromkeys(pkgs)), status, tuple(reasons))


@dataclass(frozen=True)
class KernelPackage:
    manager: str
    name: str
    version: str  # comparable: dpkg version or rpm [epoch:]version-release
    release: str  # what ``uname -r`` prints when this kernel runs

    def describe(self) -> str:
        return f"{self.release} ({self.name} {self.version})"


_DEB_KERNEL = re.compile(r"^linux-image-(?:unsigned-)?(\d.*?)(?:-unsigned)?$")
RPM_KERNELS = ("kernel", "kernel-core", "kernel-uek", "kernel-uek-core", "kernel-rt-core")


def kernel_release(package: Package) -> str | None:
    """What ``uname -r`` prints while this kernel image package runs; None when the package
    is not a kernel image (Debian meta packages such as linux-image-amd64 and -dbg too)."""
    if package.manager == "rpm":
        if package.name not in RPM_KERNELS:
            return None
        return f"{package.version.rpartition(':')[2]}.{package.arch}"
    m = _DEB_KERNEL.match(package.name)
    if not m or package.name.endswith(("-dbg", "-dbgsym")):
        return None
    return m.group(1)


def parse_kernel_packages(text: str) -> tuple[KernelPackage, ...]:
    """Installed kernels; Debian meta packages (linux-image-amd64) and -dbg are skipped."""
    kernels = []
    for line in text.splitlines():
        fields = line.split("\t")
        if fields[0] == "deb" and len(fields) >= 4:
            _, name, version, status = fields[:4]
            m = _DEB_KERNEL.match(name)
            if not m or name.endswith(("-dbg", "-dbgsym")) or status[1:2] in ("n", "c", ""):
                continue
            kernels.append(KernelPackage("dpkg", name, version, m.group(1)))
        elif fields[0] == "rpm" and len(fields) == 6:
            _, name, epoch, version, release, arch = fields
            kernels.append(
                KernelPackage(
                    "rpm", name, rpm_evr(epoch, version, release), f"{version}-{release}.{arch}"
                )
            )
    return tuple(kernels)


@dataclass(frozen=True)
class AutoUpdates:
    """What is configured to install updates unattended (no judgement here)."""

    apt_config: dict[str, str]
    unattended_upgrades_installed: bool
    units: dict[str, str]
    conf: dict[str, dict[str, str]]  # path -> option -> value ([commands]/[main] options)


_APT_CONF = re.compile(r'^(\S+) "(.*)";$')


def parse_auto_updates(text: str) -> AutoUpdates:
    sections = split_files(text)
    apt_config = {}
    for line in sections.get("apt-config", "").splitlines():
        m = _APT_CONF.match(line.strip())
        if m:
            apt_config[m.group(1)] = m.group(2)
    installed = any(
        line.split("\t")[0][1:2] not in ("n", "c", "")
        for line in sections.get("dpkg", "").splitlines()
        if line.strip()
    )
    units = {}
    for line in sections.get("units", "").splitlines():
        unit, _, state = line.partition(" ")
        if unit:
            units[unit] = state.strip()
    conf: dict[str, dict[str, str]] = {}
    for path, body in sections.items():
        if not path.startswith("/"):
            continue
        options: dict[str, str] = {}
        for line in body.splitlines():
            key, sep, value = line.partition("=")
            if sep:
                options[key.strip()] = value.strip()
        conf[path] = options
    return AutoUpdates(apt_config, installed, units, conf)
