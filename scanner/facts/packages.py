"""Facts about installed software and patch level (dpkg/apt and rpm/dnf/yum).

Everything here is read-only: apt's package lists are read as they are and the pending
updates computed on the scanner (``pending_updates``), dnf/yum run from their existing
cache (``-C``) and never refresh metadata. The age of that metadata is collected
separately, because a host that never refreshes its package index will also report
"nothing to install".
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import orjson
from debian.debian_support import version_compare
from univers.versions import RpmVersion

from hygie.facts.system import OsRelease
from hygie.factspec import derived_fact, fact, split_files
from hygie.model import Fact

PACKAGES_DPKG = fact(
    "packages_dpkg",
    "dpkg-query -W -f '${binary:Package}\\t${Version}\\t${db:Status-Abbrev}\\t"
    "${source:Package}\\t${source:Version}\\t${Architecture}\\n'",
    "installed Debian packages: name, version, status, source name and version, architecture",
    max_bytes=8 << 20,
    timeout=0,  # dpkg-query only reads dpkg's database: no timer, two processes fewer
)

PACKAGES_RPM = fact(
    "packages_rpm",
    "rpm -qa --qf '%{NAME}\\t%{EPOCH}\\t%{VERSION}\\t%{RELEASE}\\t%{ARCH}\\t%{SOURCERPM}\\n'",
    "installed RPM packages: name, epoch, version, release, arch, source RPM file name",
    max_bytes=8 << 20,
)

# apt's package lists, read as they are (apt-get -s would rebuild apt's whole cache from
# them in memory: ~2 s of CPU per scan on Debian 12). Per list: the Release header fields
# that name it (stopping at its checksums), and the (Package, Version) pairs of the
# packages installed here, filtered on the target so that only a few hundred lines leave
# it: one grep -F per list with the installed names as fixed "Package: <name>" lines (fed
# through a pipe on fd 5 by the printf builtin: no argument-size limit, no temporary
# file), its Version found within the 4 lines after (archives put it 2nd or 3rd; "! name"
# when not, and the scanner then refuses to guess). "# unreadable" marks a list that could
# not be decompressed or searched. apt-helper cat-file decompresses whatever apt stored
# (.lz4, .gz, .xz, .zst). Pins (apt preferences) are collected to be judged on the scanner.
APT_PACKAGE_LISTS = fact(
    "apt_package_lists",
    "command -v apt-get >/dev/null 2>&1 || exit 127; "
    'for f in /etc/apt/preferences /etc/apt/preferences.d/*; do [ -f "$f" ] || continue; '
    "printf '==> pin %s <==\\n' \"$f\"; grep -E '^(Package|Pin|Pin-Priority):' \"$f\"; done; "
    "cd /var/lib/apt/lists 2>/dev/null || exit 0; "
    'for f in *Release; do [ -f "$f" ] || continue; printf \'==> release %s <==\\n\' "$f"; '
    "awk '/^(MD5Sum|SHA1|SHA256|SHA512):/{exit} "
    '/^(Origin|Label|Suite|Codename|Version|NotAutomatic|ButAutomaticUpgrades):/\' "$f"; done; '
    "P=$(dpkg-query -W -f 'Package: ${Package}\\n' 2>/dev/null); "
    'for f in *_Packages *_Packages.*; do [ -f "$f" ] || continue; '
    "printf '==> packages %s <==\\n' \"$f\"; "
    "printf '%s\\n# unreadable\\n' \"$P\" | { exec 5<&0 </dev/null; case $f in "
    '*_Packages) grep -F -x -A4 -f /dev/fd/5 -- "$f";; '
    "*) { /usr/lib/apt/apt-helper cat-file \"$f\" || echo '# unreadable'; } | "
    "grep -F -x -A4 -f /dev/fd/5;; esac; [ $? -le 1 ] || echo '# unreadable'; } | "
    'awk \'$1=="Package:"{if(p!="")print "! "p;p=$2;next} '
    '$1=="Version:"&&p!=""{print p"\\t"$2;p=""} $0=="# unreadable"{print} '
    'END{if(p!="")print "! "p}\'; done',
    "apt package lists: each list's Release fields and the versions it offers of the "
    "installed packages; apt preferences pins",
    max_bytes=4 << 20,
    timeout=120,
)

# Cache-only: never contacts a repository. dnf (RHEL 8+), yum (RHEL 7). Not yet replaced
# the way apt's simulation was (issue 14): doing so means reading each repository's cached
# updateinfo.xml(.gz/.zst) (tens of MB on RHEL 9) and matching its package EVRs against
# rpm -qa on the scanner; dnf's own cost on the target was not measured in the lab (no RPM
# host there).
DNF_SECURITY_UPDATES = fact(
    "dnf_security_updates",
    "if command -v dnf >/dev/null 2>&1; then dnf -q -C updateinfo list --security; "
    "elif command -v yum >/dev/null 2>&1; then yum -q -C updateinfo list security; "
    "else exit 127; fi",
    "security advisories applicable to installed RPMs, from the cached repository metadata",
    max_bytes=4 << 20,
    timeout=180,
)

# One stat for every index file found (not one per file); it only reads inodes.
PACKAGE_INDEX_AGE = fact(
    "package_index_age",
    "set --; for f in /var/lib/apt/lists/*Release /var/cache/dnf/*/repodata/repomd.xml "
    "/var/cache/libdnf5/*/repodata/repomd.xml /var/cache/yum/*/*/*/repodata/repomd.xml "
    '/var/cache/yum/*/*/repomd.xml; do [ -f "$f" ] && set -- "$@" "$f"; done; '
    "[ $# -eq 0 ] || stat -c '%Y %n' -- \"$@\"; true",
    "modification time (epoch) of each cached repository index (apt Release, dnf repomd)",
    timeout=0,
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
# introduced explicitly so an empty section still says "looked, found nothing". The units'
# states come from one systemctl list-unit-files (the state is-enabled prints, computed by
# the same systemd code) instead of one is-enabled per unit; units without a file are
# printed "not-found", each unit on its line in the same order as before.
AUTO_UPDATES = fact(
    "auto_updates",
    "if command -v apt-config >/dev/null 2>&1; then echo '==> apt-config <=='; "
    "apt-config dump | grep -E '^(APT::Periodic|Unattended-Upgrade::)'; "
    "echo '==> dpkg <=='; dpkg-query -W -f '${db:Status-Abbrev}\\t${Package}\\t${Version}\\n' "
    "unattended-upgrades 2>/dev/null; fi; "
    "if command -v systemctl >/dev/null 2>&1; then echo '==> units <=='; "
    "u='apt-daily.timer apt-daily-upgrade.timer dnf-automatic.timer "
    "dnf-automatic-install.timer dnf5-automatic.timer yum-cron.service'; "
    'systemctl list-unit-files --no-legend --no-pager $u 2>/dev/null | awk -v u="$u" '
    '\'{s[$1]=$2} END{n=split(u,w," ");for(i=1;i<=n;i++)print w[i],(w[i] in s?s[w[i]]:'
    '"not-found")}\'; fi; '
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


# -- pending updates without apt's solver ------------------------------------------------
#
# apt's default policy for a standard install (apt_preferences(5), "APT's default priority
# assignments"): every list has priority 500, a list whose Release says NotAutomatic: yes
# has 1 (100 with ButAutomaticUpgrades: yes, as backports), the installed version 100; the
# candidate is, among the versions not older than the installed one, the first from the
# newest down with the highest priority (apt never downgrades below priority 1000). An
# update is a security update when one of the candidate's lists is a security suite, as
# apt-get -s prints it (``Label:Version/Suite``). Not modelled: pins (a host whose pins
# apply to one of its lists is an error, not a guess), phased updates (Ubuntu), packages
# held back or removed by dependency resolution, packages newly installed by an upgrade (a
# new kernel ABI package: its metapackage's upgrade is still listed), reinstalls of the
# installed version number whose stanza differs from the archive's, and lists left in
# /var/lib/apt/lists for a source since removed from sources.list (apt-get update deletes
# them; until then apt ignores them and hygie does not).

PENDING_UPDATES = "pending_updates"
_DEFAULT_PRIORITY, _INSTALLED_PRIORITY = 500, 100


@dataclass(frozen=True)
class AptList:
    """One package list: its file, the Release fields that name it, what it offers of the
    installed packages (name -> version) and what kept the target from reading it whole
    ("" when nothing did)."""

    file: str
    release: dict[str, str]
    offers: dict[str, str]
    problem: str = ""

    @property
    def arch(self) -> str:
        """``binary-amd64`` in the file name; "" for a flat repository."""
        m = re.search(r"_binary-([a-z0-9-]+)_Packages", self.file)
        return m.group(1) if m else ""

    @property
    def origin(self) -> str:
        """What apt-get -s prints for this list (pkgCache::VerIterator::RelStr)."""
        label = self.release.get("Label") or self.release.get("Origin", "")
        suite, version = self.release.get("Suite", ""), self.release.get("Version", "")
        where = f"{version}/{suite}" if version else suite or self.file.split("_")[0]
        return f"{label}:{where}" if label else where

    @property
    def priority(self) -> int:
        if _on_field(self.release.get("NotAutomatic")):
            return 100 if _on_field(self.release.get("ButAutomaticUpgrades")) else 1
        return _DEFAULT_PRIORITY


def _on_field(value: str | None) -> bool:
    return (value or "").strip().lower() == "yes"


@dataclass(frozen=True)
class AptPin:
    """One apt preferences stanza (apt_preferences(5)), kept to say whether it applies."""

    file: str
    package: str
    pin: str
    priority: str


def _release_of(name: str, releases: dict[str, dict[str, str]]) -> dict[str, str]:
    """The Release whose file-name prefix is the longest one of the list's name."""
    prefixes = [p for p in releases if name.startswith(p)]
    return releases[max(prefixes, key=len)] if prefixes else {}


def _pin_stanzas(path: str, body: str) -> list[AptPin]:
    """apt reads only preferences.d files without a dot or ending in .pref."""
    base = path.rpartition("/")[2]
    if "/preferences.d/" in path and "." in base and not base.endswith(".pref"):
        return []
    pins, current = [], {}
    for line in [*body.splitlines(), "Package: "]:
        key, _, value = line.partition(":")
        if key == "Package" and current:
            pins.append(
                AptPin(
                    path,
                    current.get("Package", ""),
                    current.get("Pin", ""),
                    current.get("Pin-Priority", ""),
                )
            )
            current = {}
        current[key] = value.strip()
    return pins


def parse_apt_lists(text: str) -> tuple[tuple[AptList, ...], tuple[AptPin, ...]]:
    """``apt_package_lists``: ``==> pin|release|packages <file> <==`` sections, as the
    package lists and the pins."""
    sections = split_files(text)
    releases: dict[str, dict[str, str]] = {}
    pins: list[AptPin] = []
    for title, body in sections.items():
        kind, _, name = title.partition(" ")
        if kind == "release":
            fields = dict(line.partition(": ")[::2] for line in body.splitlines())
            releases[name.removesuffix("InRelease").removesuffix("Release")] = fields
        elif kind == "pin":
            pins += _pin_stanzas(name, body)
    lists = []
    for title, body in sections.items():
        kind, _, name = title.partition(" ")
        if kind != "packages":
            continue
        offers, problems = {}, []
        for line in body.splitlines():
            if line == "# unreadable":
                problems.append("could not be read")
            elif line.startswith("! "):
                problems.append(f"no Version within 4 lines of Package: {line[2:]}")
            package, tab, version = line.partition("\t")
            known = offers.get(package)
            if tab and (known is None or compare_versions("dpkg", version, known) > 0):
                offers[package] = version
        lists.append(AptList(name, _release_of(name, releases), offers, "; ".join(problems)))
    return tuple(lists), tuple(pins)


def _pin_applies(pin: AptPin, lists: tuple[AptList, ...]) -> bool:
    """Whether a pin can change a candidate here: ``origin <host>`` naming a list's host,
    ``release`` options matching one list's Release fields (options not collected, such as
    ``c=`` and ``b=``, count as matching), or any ``version`` pin. Conservative: a pin on a
    package that is not installed, or at priority 500, still counts."""
    kind, _, value = pin.pin.partition(" ")
    if kind == "origin":
        return any(lst.file.split("_")[0] == value.strip().strip('"') for lst in lists)
    if kind != "release":
        return kind == "version"
    keys = {"a": "Suite", "n": "Codename", "o": "Origin", "l": "Label", "v": "Version"}
    wanted = [o.strip().partition("=") for o in value.split(",") if "=" in o]
    return any(
        all(k not in keys or lst.release.get(keys[k], "") == v for k, _, v in wanted)
        for lst in lists
    )


def _candidate(installed: str, offered: list[tuple[str, AptList]]) -> tuple[str, list[str]]:
    """apt's candidate among the offered versions and the lists offering it: walking the
    versions from the newest down to the installed one, apt keeps the first with the
    highest priority, that is the newest of those not older than the installed version
    that have the highest priority (no sort: one comparison per offered version)."""
    by_version: dict[str, list[AptList]] = {installed: []}
    for version, lst in offered:
        by_version.setdefault(version, []).append(lst)

    def priority(version: str) -> int:
        found = max([lst.priority for lst in by_version[version]] + [0])
        return max(found, _INSTALLED_PRIORITY) if version == installed else found

    newer = [v for v in by_version if v == installed or version_compare(v, installed) > 0]
    top = max(priority(v) for v in newer)
    best = installed if priority(installed) == top else ""
    for version in newer:
        if priority(version) == top and (not best or version_compare(version, best) > 0):
            best = version
    return best, [lst.origin for lst in by_version[best]]


def pending_apt_updates(packages: tuple[Package, ...], lists: tuple[AptList, ...]) -> list[dict]:
    """The upgrades apt would pick for the installed packages (held ones are kept back)."""
    native = next((p.arch for p in packages if p.name == "dpkg" and p.arch), "")
    native = native or next((lst.arch for lst in lists if lst.arch), "")
    updates = []
    for pkg in packages:
        if not pkg.installed or pkg.status.startswith("h"):
            continue
        arch = native if pkg.arch in ("", "all") else pkg.arch
        offered = [
            (lst.offers[pkg.name], lst)
            for lst in lists
            if pkg.name in lst.offers and (lst.arch or arch) == arch
        ]
        if all(version == pkg.version for version, _ in offered):
            continue  # the common case: nothing newer offered, no ordering needed
        candidate, origins = _candidate(pkg.version, offered)
        if candidate != pkg.version:
            updates.append(
                {
                    "name": pkg.name,
                    "arch": arch,
                    "installed": pkg.version,
                    "candidate": candidate,
                    "origins": sorted(set(origins)),
                    "security": any(_is_security_origin(o) for o in origins),
                }
            )
    return updates


@derived_fact(
    PENDING_UPDATES,
    requires=("packages_dpkg", "apt_package_lists"),
    description="pending apt updates computed on the scanner from the installed versions "
    "and the package lists' versions (apt's default policy, python-debian ordering)",
)
def pending_updates(facts: Mapping[str, Fact]) -> bytes:
    lists_fact = facts["apt_package_lists"]
    if lists_fact.command_missing:
        return orjson.dumps({"apt": False})
    for name in ("packages_dpkg", "apt_package_lists"):
        if not facts[name].ok or facts[name].truncated:
            state = "truncated" if facts[name].truncated else f"exit {facts[name].exit_status}"
            raise ValueError(f"{name} unavailable ({state}): pending updates unknown")
    lists, pins = parse_apt_lists(lists_fact.text)
    unread = [f"{lst.file}: {lst.problem}" for lst in lists if lst.problem]
    if unread:
        raise ValueError(f"package lists not read whole: {unread}")
    applying = [
        f"{p.file}: {p.package} {p.pin} {p.priority}" for p in pins if _pin_applies(p, lists)
    ]
    if applying:
        raise ValueError(f"not modelled: apt pins applying to the package lists {applying}")
    packages = parse_dpkg_packages(facts["packages_dpkg"].text)
    document = {
        "apt": True,
        "lists": [
            {"file": lst.file, "origin": lst.origin, "priority": lst.priority} for lst in lists
        ],
        "pins_ignored": [f"{p.file}: {p.package} {p.pin}" for p in pins],
        "updates": pending_apt_updates(packages, lists),
    }
    return orjson.dumps(document)


def parse_pending_updates(text: str) -> tuple[PendingUpdate, ...] | None:
    """``pending_updates``; None when the host has no apt."""
    document = orjson.loads(text)
    if not document["apt"]:
        return None
    return tuple(
        PendingUpdate(u["name"], u["installed"], u["candidate"], tuple(u["origins"]), u["security"])
        for u in document["updates"]
    )


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
