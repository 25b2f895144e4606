"""Facts for audit logging, log storage/forwarding and time synchronisation.

These belong together because an audit trail is only evidence if it is complete (auditd
rules), kept (persistent storage or central forwarding) and correctly timestamped (NTP).
Parsers are pure and tolerant: configuration files are read as the daemon would (comments,
drop-in order, empty assignments resetting lists), and unknown syntax is ignored rather
than guessed at.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath

from hygie.factspec import fact, files_fact, split_files

# --- audit -------------------------------------------------------------

AUDIT_RULES = fact(
    "audit_rules",
    "auditctl -l",
    "audit rules loaded in the kernel (auditctl -l)",
    privileged=True,
)
AUDIT_STATUS = fact(
    "audit_status",
    "auditctl -s",
    "kernel audit status (auditctl -s): enabled flag, auditd pid, lost events",
    privileged=True,
)

# --- log storage and forwarding -------------------------------------------------------------

JOURNALD_CONF = files_fact(
    "journald_conf",
    "/usr/lib/systemd/journald.conf /etc/systemd/journald.conf "
    "/usr/lib/systemd/journald.conf.d/*.conf /run/systemd/journald.conf.d/*.conf "
    "/etc/systemd/journald.conf.d/*.conf",
    "journald.conf and its drop-ins (Storage=)",
)
JOURNAL_DIR = fact(
    "journal_dir",
    "ls -ld /var/log/journal",
    "whether /var/log/journal exists (Storage=auto is persistent only when it does)",
)
SYSLOG_CONF = files_fact(
    "syslog_conf",
    "/etc/rsyslog.conf /etc/rsyslog.d/*.conf /etc/syslog-ng/syslog-ng.conf "
    "/etc/syslog-ng/conf.d/*.conf /etc/syslog.conf",
    "rsyslog, syslog-ng and classic syslogd configuration",
)
JOURNAL_UPLOAD_CONF = files_fact(
    "journal_upload_conf",
    "/usr/lib/systemd/journal-upload.conf /etc/systemd/journal-upload.conf "
    "/usr/lib/systemd/journal-upload.conf.d/*.conf /run/systemd/journal-upload.conf.d/*.conf "
    "/etc/systemd/journal-upload.conf.d/*.conf",
    "systemd-journal-upload configuration (URL=)",
)

# --- time -------------------------------------------------------------

CHRONY_CONF = files_fact(
    "chrony_conf",
    "/etc/chrony.conf /etc/chrony/chrony.conf /etc/chrony.d/*.conf /etc/chrony/conf.d/*.conf "
    "/etc/chrony/sources.d/*.sources /run/chrony-dhcp/*.sources",
    "chrony configuration, conf.d and sources.d",
)
TIMESYNCD_CONF = files_fact(
    "timesyncd_conf",
    "/usr/lib/systemd/timesyncd.conf /etc/systemd/timesyncd.conf "
    "/usr/lib/systemd/timesyncd.conf.d/*.conf /run/systemd/timesyncd.conf.d/*.conf "
    "/etc/systemd/timesyncd.conf.d/*.conf",
    "systemd-timesyncd configuration and drop-ins (NTP=, FallbackNTP=)",
)
NTP_CONF = files_fact(
    "ntp_conf",
    "/etc/ntp.conf /etc/ntpsec/ntp.conf /etc/openntpd/ntpd.conf /etc/ntpd.conf",
    "ntpd / ntpsec / OpenNTPD configuration",
)
TIMEDATECTL = fact(
    "timedatectl",
    "command -v timedatectl >/dev/null 2>&1 || exit 127; timedatectl show",
    "timedatectl show: NTP=, NTPSynchronized= (systemd hosts only)",
)


# --- shared config helpers -------------------------------------------------------------


def strip_comment(line: str, markers: str = "#") -> str:
    """The line without a trailing comment (outside double quotes) and surrounding space."""
    in_quote = False
    for i, ch in enumerate(line):
        if ch == '"':
            in_quote = not in_quote
        elif ch in markers and not in_quote:
            return line[:i].strip()
    return line.strip()


def systemd_config_order(files: dict[str, str], main: str) -> list[tuple[str, str]]:
    """Files of one systemd ``*.conf`` in the order systemd applies them.

    The main file (``/etc`` replaces ``/usr/lib``), then drop-ins sorted by file name across
    directories, a drop-in in ``/etc`` masking a same-named one in ``/run`` or ``/usr/lib``.
    """
    mains = [p for p in files if PurePosixPath(p).name == main and ".d/" not in p]
    ordered: list[tuple[str, str]] = []
    etc_main = [p for p in mains if p.startswith("/etc/")]
    for path in etc_main or mains[-1:]:
        ordered.append((path, files[path]))
    dropins: dict[str, str] = {}
    for path in files:
        if path in mains:
            continue
        name = PurePosixPath(path).name
        if name not in dropins or _dropin_rank(path) < _dropin_rank(dropins[name]):
            dropins[name] = path
    ordered.extend((dropins[n], files[dropins[n]]) for n in sorted(dropins))
    return ordered


def _dropin_rank(path: str) -> int:
    """Lower wins when two drop-ins share a name: /etc, then /run, then /usr/lib."""
    return 0 if path.startswith("/etc/") else 1 if path.startswith("/run/") else 2


def systemd_settings(text: str, main: str, section: str) -> dict[str, list[str]]:
    """Every assignment of ``section`` across a files fact, in application order.

    Values are kept as lists so callers choose the semantics: last one wins for scalars,
    accumulate-with-reset-on-empty for lists (``NTP=``).
    """
    values: dict[str, list[str]] = {}
    for _path, content in systemd_config_order(split_files(text), main):
        current = None
        for raw in content.splitlines():
            line = raw.strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("[") and line.endswith("]"):
                current = line[1:-1].strip()
                continue
            if current != section or "=" not in line:
                continue
            key, _, value = line.partition("=")
            values.setdefault(key.strip(), []).append(value.strip())
    return values


def last_value(values: dict[str, list[str]], key: str) -> str | None:
    found = values.get(key)
    return found[-1] if found else None


def list_value(values: dict[str, list[str]], key: str) -> list[str] | None:
    """systemd list semantics: assignments accumulate, an empty one resets. None if unset."""
    if key not in values:
        return None
    items: list[str] = []
    for value in values[key]:
        if not value:
            items = []
        else:
            items.extend(value.split())
    return items


# --- audit parsers -------------------------------------------------------------


@dataclass(frozen=True)
class AuditStatus:
    enabled: int | None
    pid: int | None
    lost: int | None

    @property
    def auditing(self) -> bool:
        """Kernel auditing on: 1 = enabled, 2 = enabled and locked (immutable)."""
        return self.enabled in (1, 2)


def parse_audit_status(text: str) -> AuditStatus:
    """``auditctl -s`` prints ``key value`` lines (``enabled 1``, ``pid 612``)."""
    fields: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[1].lstrip("-").isdigit():
            fields[parts[0]] = int(parts[1])
    return AuditStatus(fields.get("enabled"), fields.get("pid"), fields.get("lost"))


@dataclass(frozen=True)
class AuditRules:
    rules: tuple[str, ...]
    watched_paths: frozenset[str]
    syscalls: frozenset[str]

    def watches(self, path: str) -> bool:
        """A path is covered by a watch on itself or on a directory above it."""
        target = PurePosixPath(path)
        return any(
            target == PurePosixPath(w) or PurePosixPath(w) in target.parents
            for w in self.watched_paths
        )


_AUDIT_PATH = re.compile(r"(?:^-w\s+|-F\s+(?:path|dir)=)(\S+)")
_AUDIT_SYSCALLS = re.compile(r"-S\s+(\S+)")


def parse_audit_rules(text: str) -> AuditRules:
    """``auditctl -l``: one rule per line, or the single line ``No rules``."""
    rules = tuple(
        line.strip()
        for line in text.splitlines()
        if line.strip() and line.strip().lower() != "no rules"
    )
    paths: set[str] = set()
    syscalls: set[str] = set()
    for rule in rules:
        paths.update(p.rstrip("/") or "/" for p in _AUDIT_PATH.findall(rule))
        if rule.startswith("-a") and "never" not in rule.split()[1]:
            for group in _AUDIT_SYSCALLS.findall(rule):
                syscalls.update(s for s in group.split(",") if s)
    return AuditRules(rules, frozenset(paths), frozenset(syscalls))


# --- journald / syslog parsers ---------------------------------------------------------------


def journald_storage(text: str) -> str:
    """Effective ``Storage=`` of journald; compiled default is ``auto``."""
    value = last_value(systemd_settings(text, "journald.conf", "Journal"), "Storage")
    return (value or "auto").lower()


@dataclass(frozen=True)
class SyslogConfig:
    """What the syslog daemons' configuration does with messages."""

    rsyslog_files: tuple[str, ...]
    rsyslog_remote: tuple[str, ...]
    syslog_ng_files: tuple[str, ...]
    syslog_ng_remote: tuple[str, ...]
    syslogd_files: tuple[str, ...]
    syslogd_remote: tuple[str, ...]


# A selector line: ``facility.priority[;...]`` then the action (file, @udp, @@tcp host).
_RSYSLOG_ACTION = re.compile(r"^[\w*,;.!=]*\.[\w*,;.!=]+\s+(-?/\S+|@@?\S+|:omfwd:\S*)")
_RAINER_ACTION = re.compile(r"action\s*\(([^)]*)\)", re.S)
_RAINER_FIELD = re.compile(r'(\w+)\s*=\s*"([^"]*)"')
_SNG_DEST = re.compile(r"destination\s+(\S+)\s*\{(.*?)\}\s*;", re.S)
_SNG_FILE = re.compile(r"\bfile\s*\(\s*\"([^\"]+)\"")
_SNG_NET = re.compile(r"\b(network|syslog|tcp6?|udp6?)\s*\(\s*\"?([^\s\"\)]+)")


def _uncomment(content: str) -> str:
    return "\n".join(strip_comment(line) for line in content.splitlines())


def parse_syslog_conf(text: str) -> SyslogConfig:
    """Classify the ``syslog_conf`` fact's actions into local files and remote targets."""
    rs_files: list[str] = []
    rs_remote: list[str] = []
    ng_files: list[str] = []
    ng_remote: list[str] = []
    sd_files: list[str] = []
    sd_remote: list[str] = []
    for path, content in split_files(text).items():
        body = _uncomment(content)
        if "/syslog-ng/" in path:
            for _name, dest in _SNG_DEST.findall(body):
                ng_files.extend(_SNG_FILE.findall(dest))
                ng_remote.extend(host for _kind, host in _SNG_NET.findall(dest))
            continue
        is_rsyslog = "rsyslog" in path
        files, remote = (rs_files, rs_remote) if is_rsyslog else (sd_files, sd_remote)
        for line in body.splitlines():
            m = _RSYSLOG_ACTION.match(line)
            if m:
                action = m.group(1)
                (remote if action.startswith(("@", ":omfwd:")) else files).append(
                    action.lstrip("-")
                )
        if is_rsyslog:
            for args in _RAINER_ACTION.findall(body):
                fields = {k.lower(): v for k, v in _RAINER_FIELD.findall(args)}
                kind = fields.get("type", "").lower()
                if kind in ("omfwd", "omrelp"):
                    rs_remote.append(fields.get("target", kind))
                elif kind == "omfile":
                    rs_files.append(fields.get("file", fields.get("dynafile", "omfile")))
    return SyslogConfig(
        tuple(rs_files),
        tuple(rs_remote),
        tuple(ng_files),
        tuple(ng_remote),
        tuple(sd_files),
        tuple(sd_remote),
    )


def journal_upload_url(text: str) -> str | None:
    """``URL=`` of systemd-journal-upload, or None when unset."""
    value = last_value(systemd_settings(text, "journal-upload.conf", "Upload"), "URL")
    return value or None


# --- time parsers -------------------------------------------------------------

_CHRONY_SOURCE = ("server", "pool", "peer", "refclock")
_NTP_SOURCE = ("server", "servers", "pool", "peer", "sensor")


def _source_lines(text: str, keywords: tuple[str, ...], markers: str = "#") -> list[str]:
    sources = []
    for content in split_files(text).values():
        for raw in content.splitlines():
            parts = strip_comment(raw, markers).split()
            if len(parts) >= 2 and parts[0].lower() in keywords:
                sources.append(f"{parts[0].lower()} {parts[1]}")
    return sources


def chrony_sources(text: str) -> list[str]:
    """``server``/``pool``/``peer``/``refclock`` directives of chrony (``#``, ``!``, ``;``
    and ``%`` start comments)."""
    return _source_lines(text, _CHRONY_SOURCE, "#!;%")


def ntp_sources(text: str) -> list[str]:
    """Time sources of ntpd/ntpsec (``server``, ``pool``, ``peer``) and OpenNTPD
    (``servers``, ``sensor``)."""
    return _source_lines(text, _NTP_SOURCE)


@dataclass(frozen=True)
class TimesyncdServers:
    ntp: tuple[str, ...]
    fallback: tuple[str, ...] | None  # None: compiled-in fallback servers (not configured)


def timesyncd_servers(text: str) -> TimesyncdServers:
    values = systemd_settings(text, "timesyncd.conf", "Time")
    fallback = list_value(values, "FallbackNTP")
    return TimesyncdServers(
        tuple(list_value(values, "NTP") or ()),
        None if fallback is None else tuple(fallback),
    )


def parse_key_values(text: str) -> dict[str, str]:
    """``KEY=value`` lines, e.g. ``timedatectl show``."""
    result = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            result[key.strip()] = value.strip()
    return result
