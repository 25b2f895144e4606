"""The lab fleet: one hardened host, five hosts with planted weaknesses, and the hosts that
must come out as ``error`` (no sudo, wrong key, nothing listening).

Each weak host lists the checks its planted weaknesses must fail (``PLANTED``); the
hardened host must fail nothing but the checks this sandbox cannot satisfy for real
(``SANDBOX_LIMITS``: no kernel audit, no LSM, no dm-crypt in the test VM).
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from tests.lab import LabHost, real_file

SANDBOX_LIMITS = {
    "log_auditd_running": "the test kernel refuses audit (auditctl: Operation not permitted)",
    "log_audit_rules": "no audit rules can be loaded without kernel audit",
    "hardening_mac_enforcing": "the test kernel has neither AppArmor nor SELinux",
    "hardening_disk_encryption": "the lab's root file system is the VM disk, not dm-crypt",
}

TODAY = int(time.time() // 86400)
SCANNER_ADDRESS = "198.18.0.1"  # the lab's scanner namespace: every daemon talks only to it


def edit(text: str, values: dict[str, str], sep: str = " ") -> str:
    """Set ``KEY<sep>value`` lines in a config text (replace or append)."""
    for key, value in values.items():
        line = f"{key}{sep}{value}"
        pattern = re.compile(rf"^\s*{re.escape(key)}\b.*$", re.MULTILINE)
        text, n = pattern.subn(line, text)
        if not n:
            text += f"\n{line}\n"
    return text


#: Server packages the test machine may carry for other labs (the network lab's telnetd
#: and FTP servers): left out of every fleet host's package database, so that only the
#: weaknesses planted here are found.
FOREIGN_SERVERS = {
    "inetutils-telnetd",
    "inetutils-inetd",
    "telnetd",
    "vsftpd",
    "snmpd",
    "redis-server",
    "redis-tools",
    "nginx-light",
    "nginx",
    "nginx-common",
}


def _foreign(package: str) -> bool:
    return package in FOREIGN_SERVERS or package.startswith("libnginx-mod-")


def dpkg_status_with(*stanzas: str) -> str:
    """The machine's dpkg status without FOREIGN_SERVERS, plus ``stanzas``."""
    kept = [
        block
        for block in real_file("/var/lib/dpkg/status").split("\n\n")
        if block.strip()
        and not any(
            _foreign(line.split(": ", 1)[1])
            for line in block.splitlines()[:1]
            if line.startswith("Package: ")
        )
    ]
    return "\n\n".join([*kept, *stanzas]) + "\n"


def stanza(package: str, version: str, source: str | None = None) -> str:
    lines = [
        f"Package: {package}",
        "Status: install ok installed",
        "Priority: optional",
        "Section: net",
        "Architecture: amd64",
        f"Version: {version}",
    ]
    if source:
        lines.append(f"Source: {source}")
    lines.append(f"Description: lab stanza for {package}")
    return "\n".join(lines)


def patched_apt_index() -> dict[str, str | None]:
    """An apt index refreshed now with nothing to upgrade: hide the machine's lists and
    leave one fresh Release file (what a fully patched, up-to-date host looks like)."""
    files: dict[str, str | None] = {
        str(p): None for p in Path("/var/lib/apt/lists").glob("*") if p.is_file()
    }
    files["/var/lib/apt/lists/lab.example_dists_stable_InRelease"] = "Origin: lab\n"
    return files


HARDENED_COMMON_PASSWORD = """\
password requisite pam_pwquality.so retry=3
password required pam_pwhistory.so remember=24 enforce_for_root use_authtok
password [success=1 default=ignore] pam_unix.so obscure use_authtok try_first_pass yescrypt
password requisite pam_deny.so
password required pam_permit.so
"""
HARDENED_COMMON_AUTH = """\
auth required pam_faillock.so preauth
auth [success=1 default=ignore] pam_unix.so
auth [default=die] pam_faillock.so authfail
auth requisite pam_deny.so
auth required pam_permit.so
auth sufficient pam_faillock.so authsucc
"""
HARDENED_NFT = """\
table inet filter {
    chain input {
        type filter hook input priority 0; policy drop;
        iif "lo" accept
        ct state established,related accept
        tcp dport 22 accept
        tcp dport 9 reject with tcp reset  # the lab's readiness probe
    }
}
"""
HARDENED_SSHD = """\
PermitRootLogin no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitEmptyPasswords no
MaxAuthTries 4
LoginGraceTime 60
MaxStartups 10:30:60
ClientAliveInterval 300
ClientAliveCountMax 3
X11Forwarding no
AllowTcpForwarding no
Banner /etc/issue.net
AllowGroups auditor
Ciphers chacha20-poly1305@openssh.com,aes256-gcm@openssh.com,aes128-gcm@openssh.com,aes256-ctr
MACs hmac-sha2-512-etm@openssh.com,hmac-sha2-256-etm@openssh.com
KexAlgorithms sntrup761x25519-sha512@openssh.com,curve25519-sha256,curve25519-sha256@libssh.org
"""


def hardened(name: str = "hardened") -> LabHost:
    login_defs = edit(
        real_file("/etc/login.defs"),
        {
            "PASS_MAX_DAYS": "365",
            "PASS_MIN_DAYS": "1",
            "PASS_WARN_AGE": "7",
            "UMASK": "027",
            "ENCRYPT_METHOD": "YESCRYPT",
        },
    )
    files: dict[str, str | None] = {
        "/etc/login.defs": login_defs,
        "/etc/default/useradd": "SHELL=/bin/sh\nINACTIVE=30\n",
        "/etc/pam.d/common-password": HARDENED_COMMON_PASSWORD,
        "/etc/pam.d/common-auth": HARDENED_COMMON_AUTH,
        "/etc/security/pwquality.conf": "minlen = 14\nminclass = 3\ndictcheck = 1\n",
        "/etc/security/faillock.conf": "deny = 5\nunlock_time = 900\n",
        "/etc/nftables.conf": HARDENED_NFT,
        "/etc/chrony/chrony.conf": f"server {SCANNER_ADDRESS} iburst\n"
        "driftfile /var/lib/chrony/chrony.drift\n",
        "/etc/rsyslog.conf": real_file("/etc/rsyslog.conf").replace(
            'module(load="imklog")', "# imklog: the lab shares the test machine's kernel log"
        ),
        "/etc/rsyslog.d/90-forward.conf": f"*.* @@{SCANNER_ADDRESS}:514\n",
        "/etc/apt/apt.conf.d/20auto-upgrades": 'APT::Periodic::Update-Package-Lists "1";\n'
        'APT::Periodic::Unattended-Upgrade "1";\n',
        "/var/lib/dpkg/status": dpkg_status_with(stanza("unattended-upgrades", "2.9.1+nmu3")),
        **patched_apt_index(),
    }
    return LabHost(
        name,
        files=files,
        sshd_extra=HARDENED_SSHD,
        auditor_aging=f"{TODAY}:1:365:7:30::",
        daemons=[
            "nft -f /etc/nftables.conf",
            "mkdir -p /run/chrony && chronyd -x -f /etc/chrony/chrony.conf",
            "rsyslogd",
        ],
    )


HOSTILE = "\x1b[31m<script>alert(1)</script>\n@@HYGIE@@ END login_defs 0\n@@HYGIE@@ DONE\n"


def weak_passwords() -> LabHost:
    shadow = real_file("/etc/shadow") + (
        f"legacy:$1$saltsalt$2vjKRZu9B8.BrwGjHXXXX.:{TODAY}:0:99999:7:::\n"
        f"nopass::{TODAY}:0:99999:7:::\n"
        f"toor:!:{TODAY}:0:99999:7:::\n"
    )
    passwd = real_file("/etc/passwd") + (
        "legacy:x:2001:2001::/home/legacy:/bin/bash\n"
        "nopass:x:2002:2002::/home/nopass:/bin/bash\n"
        "toor:x:0:0:backdoor:/root:/bin/bash\n"
    )
    login_defs = edit(real_file("/etc/login.defs"), {"ENCRYPT_METHOD": "MD5"}) + HOSTILE
    return LabHost(
        "weak-passwd",
        files={
            "/etc/shadow": shadow,
            "/etc/passwd": passwd,
            "/etc/login.defs": login_defs,
            "/etc/pam.d/common-password": "password [success=1 default=ignore] pam_unix.so "
            "obscure md5 minlen=6\npassword requisite pam_deny.so\n"
            "password required pam_permit.so\n",
        },
    )


def weak_ssh() -> LabHost:
    """sshd open to root passwords, with weak crypto and a Banner naming no file; root
    has a password hash, so root is reachable over SSH with a password. The hash is
    yescrypt-shaped but no password produces it: nobody can actually log in as root."""
    root_hash = "$y$j9T$hygielab.salt$" + "A" * 43
    others = [ln for ln in real_file("/etc/shadow").splitlines() if not ln.startswith("root:")]
    shadow = "\n".join([f"root:{root_hash}:{TODAY}:0:99999:7:::", *others]) + "\n"
    return LabHost(
        "weak-ssh",
        sshd_extra="PermitRootLogin yes\nPasswordAuthentication yes\nPermitEmptyPasswords yes\n"
        "MaxAuthTries 10\nX11Forwarding yes\nBanner /nonexistent\n"
        "Ciphers aes128-ctr,aes128-cbc,3des-cbc\nMACs hmac-sha2-256,hmac-md5,hmac-sha1\n"
        "KexAlgorithms curve25519-sha256@libssh.org,diffie-hellman-group14-sha1\n",
        files={"/etc/shadow": shadow},
        modes={"/etc/ssh/sshd_config": "0666 root:root"},
        host_key_types=[("ed25519", 0), ("rsa", 1024)],
    )


def weak_patching() -> LabHost:
    buster = (
        'PRETTY_NAME="Debian GNU/Linux 10 (buster)"\nNAME="Debian GNU/Linux"\n'
        'VERSION_ID="10"\nVERSION="10 (buster)"\nVERSION_CODENAME=buster\nID=debian\n'
    )
    return LabHost(
        "weak-patch",
        files={
            "/etc/os-release": buster,
            "/var/lib/dpkg/status": dpkg_status_with(
                stanza("telnetd", "0.17+2.4-2", "inetutils"),
                stanza("vsftpd", "3.0.3-13+b2"),
            ),
            "/run/reboot-required": "*** System restart required ***\n",
            "/run/reboot-required.pkgs": "libc6\n",
        },
    )


def weak_logging() -> LabHost:
    """No syslog, no time sync, no firewall, and world-readable shadow; reached with
    password authentication and a sudo password (both from environment variables)."""
    return LabHost(
        "weak-logs",
        sudo="password",
        modes={"/etc/shadow": "0644 root:shadow", "/etc/passwd": "0666 root:root"},
        files={
            "/etc/shadow": real_file("/etc/shadow"),
            "/etc/passwd": real_file("/etc/passwd"),
            **patched_apt_index(),
        },
    )


#: A service on port 2222 that accepts connections and never says a word (an SSH tarpit).
TARPIT_PORT = 2222
TARPIT = (
    "import socket,time\n"
    "s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
    f"s.bind(('0.0.0.0', {TARPIT_PORT})); s.listen(16); held=[]\n"
    "end=time.time()+3600\n"
    "while time.time()<end: held.append(s.accept()[0])\n"
)


def weak_network() -> LabHost:
    """A firewall that accepts everything, an NTP client with no server, volatile logs."""
    return LabHost(
        "weak-net",
        files={
            "/etc/nftables.conf": "table inet filter {\n chain input {\n"
            "  type filter hook input priority 0; policy accept;\n }\n}\n",
            "/etc/chrony/chrony.conf": "driftfile /var/lib/chrony/chrony.drift\n",
            "/etc/systemd/journald.conf": "[Journal]\nStorage=volatile\n",
            "/etc/lab-tarpit.py": TARPIT,
            **patched_apt_index(),
        },
        sshd_extra="ClientAliveInterval 0\nLogLevel QUIET\n",
        daemons=[
            "nft -f /etc/nftables.conf",
            "mkdir -p /run/chrony && chronyd -x -f /etc/chrony/chrony.conf",
            "/usr/bin/python3 /etc/lab-tarpit.py",
        ],
    )


PLANTED: dict[str, set[str]] = {
    "weak-passwd": {
        "accounts_empty_password",
        "accounts_weak_hash",
        "accounts_uid0_only_root",
        "password_hash_method",
        "password_min_length",
        "password_nullok_absent",
        "password_lockout",
        "password_history",
        "password_complexity",
        "password_max_age",
    },
    "weak-ssh": {
        "ssh_root_login",
        "ssh_password_authentication",
        "ssh_permit_empty_passwords",
        "ssh_max_auth_tries",
        "ssh_x11_forwarding",
        "ssh_weak_ciphers",
        "ssh_weak_macs",
        "ssh_weak_kex",
        "ssh_weak_host_keys",
        "ssh_config_permissions",
        "ssh_banner",
        "accounts_root_access",
    },
    "weak-patch": {
        "os_end_of_life",
        "patch_cleartext_servers_installed",
        "patch_reboot_required",
        "patch_security_updates_pending",
        "patch_automatic_updates",
    },
    "weak-logs": {
        "log_persistent_journal_or_syslog",
        "log_remote_forwarding",
        "time_synchronized",
        "fw_host_firewall_active",
        "hardening_sensitive_file_permissions",
    },
    "weak-net": {
        "fw_host_firewall_active",
        "time_synchronized",
        "ssh_idle_timeout",
        "ssh_log_level",
    },
}


def error_hosts() -> list[LabHost]:
    """Reachable hosts that must still end as ``error``: no sudo rights; wrong key."""
    return [LabHost("no-sudo", sudo="none"), LabHost("wrong-key")]


def fleet() -> list[LabHost]:
    hosts = [
        hardened(),
        weak_passwords(),
        weak_ssh(),
        weak_patching(),
        weak_logging(),
        weak_network(),
        *error_hosts(),
    ]
    for host in hosts:
        host.files.setdefault("/var/lib/dpkg/status", dpkg_status_with())
    return hosts
