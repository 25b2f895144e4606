"""Remediation of a stored scan: an Ansible playbook (or a shell script) for its failures.

Each failed check whose data entry has a ``fix`` (``checks/<domain>.yaml``) becomes an
idempotent task on exactly the hosts where it failed, its values taken from the scan's own
policy (the parameters the hosts were judged against), tagged with the check id, its
severity and its framework controls so that ``--tags`` picks a control; every other failure
is listed as manual, with its remediation text. One play per inventory group.

sshd settings go in a marked block at the top of ``/etc/ssh/sshd_config``: sshd keeps the
first value it reads, so the block wins over later lines and over ``Include``d drop-ins,
and each change is validated with ``sshd -t`` before it replaces the file. The playbook is
built as data and written by ``yaml.safe_dump``: no value can change its structure. Values
are checked to be single words (digits, letters, ``._:+-``) since they also land in
configuration lines and in ``sh``.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from hygie.checkdata import PLACEHOLDER, SETS_FILE, Fix, checks_dir, domain_data
from hygie.model import Scan, Status
from hygie.registry import CheckMeta, all_checks

FORMATS = ("ansible", "sh")
SSHD_CONFIG = "/etc/ssh/sshd_config"
LOGIN_DEFS = "/etc/login.defs"
SSHD_HANDLER = "reload sshd"
SAFE_VALUE = re.compile(r"[A-Za-z0-9_.:+-]+")
#: the play-level variable naming, per check, the hosts where it failed
FAILED_VAR = "hygie_failed"


class RemediationError(ValueError):
    """A fix that cannot be written safely from this scan's parameters."""


@dataclass
class Failure:
    """One failed check and the hosts where it failed, with what is needed to fix it."""

    meta: CheckMeta
    severity: str
    hosts: list[str] = field(default_factory=list)
    fix: Fix | None = None
    params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def automatic(self) -> bool:
        return self.fix is not None and all(
            self.params.get(k) == v for k, v in self.fix.when.items()
        )

    def tags(self) -> list[str]:
        controls = (
            f"{fw}:{'_'.join(c.split())}" for fw, ids in self.meta.references.items() for c in ids
        )
        return [self.meta.id, f"severity:{self.severity}", *controls]

    def fill(self, value: Any) -> Any:
        """``value`` with each ``{{ param }}`` replaced by this policy's parameter."""
        if isinstance(value, str):
            return PLACEHOLDER.sub(self._param, value)
        if isinstance(value, Mapping):
            return {k: self.fill(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.fill(v) for v in value]
        return value

    def _param(self, match: re.Match) -> str:
        name, index = match.group("param"), match.group("index")
        if name not in self.params:
            raise RemediationError(f"{self.meta.id}: its fix names no parameter {name!r}")
        value = self.params[name]
        if index is not None:
            value = value[int(index)] if isinstance(value, list) and value else None
        text = str(value).lower() if isinstance(value, bool) else str(value)
        if not SAFE_VALUE.fullmatch(text):
            raise RemediationError(f"{self.meta.id}: {name}={value!r} is not a single word")
        return text


def fixes() -> dict[str, Fix]:
    """Every check's fix, from every domain data file."""
    found = {}
    for path in sorted(checks_dir().glob("*.yaml")):
        if path.name != SETS_FILE:
            found.update({cid: d.fix for cid, d in domain_data(path.stem).items() if d.fix})
    return found


def failures(scan: Scan) -> list[Failure]:
    """The scan's failed checks, in check order, each with the hosts where it failed."""
    registry, known = all_checks(), fixes()
    policy = scan.policy_document.get("checks", {})
    found: dict[str, Failure] = {}
    for host in scan.hosts:
        for result in host.results:
            if result.status != Status.FAIL or result.check_id not in registry:
                continue
            if result.check_id not in found:
                found[result.check_id] = Failure(
                    meta=registry[result.check_id],
                    severity=result.severity.value,
                    fix=known.get(result.check_id),
                    params=policy.get(result.check_id, {}).get("params", {}),
                )
            found[result.check_id].hosts.append(host.name)
    return [found[cid] for cid in sorted(found)]


# ------------------------------------------------------------------------------- Ansible


def playbook(scan: Scan, groups: Mapping[str, str] | None = None) -> list[dict]:
    """One play per group (``groups``: host -> its inventory group; without it, one play),
    limited to the hosts with a failure; each task runs only where its check failed."""
    plays: dict[str, list[Failure]] = {}
    for failure in failures(scan):
        for host in failure.hosts:
            group = (groups or {}).get(host, "all")
            per_group = plays.setdefault(group, [])
            mine = next((f for f in per_group if f.meta.id == failure.meta.id), None)
            if mine is None:
                mine = Failure(failure.meta, failure.severity, [], failure.fix, failure.params)
                per_group.append(mine)
            mine.hosts.append(host)
    return [_play(scan, group, found) for group, found in sorted(plays.items())]


def _play(scan: Scan, group: str, found: list[Failure]) -> dict:
    tasks, handlers = [], {}
    for failure in found:
        when = f"inventory_hostname in {FAILED_VAR}.{failure.meta.id}"
        for task in _tasks(failure):
            tasks.append({**task, "when": when, "tags": failure.tags()})
        if failure.automatic and failure.fix is not None:
            handlers.update({h["name"]: h for h in _handlers(failure, failure.fix)})
    hosts = sorted({h for f in found for h in f.hosts})
    return {
        "name": f"hygie remediation of scan {scan.id}: {group}",
        "hosts": hosts,
        "become": True,
        "gather_facts": False,
        "vars": {FAILED_VAR: {f.meta.id: sorted(f.hosts) for f in found}},
        "tasks": tasks,
    } | ({"handlers": list(handlers.values())} if handlers else {})


def _tasks(failure: Failure) -> list[dict]:
    if not failure.automatic or failure.fix is None:
        message = f"manual ({failure.severity}): {failure.meta.title}. {failure.meta.remediation}"
        return [{"name": f"{failure.meta.id}: manual", "ansible.builtin.debug": {"msg": message}}]
    fix, tasks = failure.fix, []
    sshd = failure.fill(dict(fix.settings.get("sshd_config", {})))
    if sshd:
        tasks.append(_sshd_task(failure.meta.id, sshd))
    for key, value in failure.fill(dict(fix.settings.get("login_defs", {}))).items():
        tasks.append(_login_defs_task(failure.meta.id, key, value))
    for task in failure.fill(list(fix.ansible)):
        tasks.append({**task, "name": f"{failure.meta.id}: {task['name']}"})
    return tasks


def _sshd_task(check_id: str, settings: Mapping[str, str]) -> dict:
    return {
        "name": f"{check_id}: sshd " + ", ".join(f"{k} {v}" for k, v in settings.items()),
        "ansible.builtin.blockinfile": {
            "path": SSHD_CONFIG,
            "insertbefore": "BOF",
            "marker": f"# {{mark}} hygie: {check_id}",
            "block": "\n".join(f"{k} {v}" for k, v in settings.items()),
            "validate": "/usr/sbin/sshd -t -f %s",
        },
        "notify": SSHD_HANDLER,
    }


def _login_defs_task(check_id: str, key: str, value: str) -> dict:
    return {
        "name": f"{check_id}: login.defs {key} {value}",
        "ansible.builtin.lineinfile": {
            "path": LOGIN_DEFS,
            "regexp": rf"^\s*{key}\s",
            "line": f"{key}\t{value}",
        },
    }


def _handlers(failure: Failure, fix: Fix) -> list[dict]:
    found = list(fix.handlers)
    if "sshd_config" in fix.settings:
        service = "{{ sshd_service | default('sshd') }}"  # Debian's ssh.service is aliased
        found.append(
            {
                "name": SSHD_HANDLER,
                "ansible.builtin.service": {"name": service, "state": "reloaded"},
            }
        )
    return failure.fill(found)


def ansible_text(scan: Scan, groups: Mapping[str, str] | None = None) -> str:
    plays = playbook(scan, groups)
    header = (
        f"# hygie remediation of scan {scan.id} ({scan.policy_name} {scan.policy_version})\n"
        "# dry run first: ansible-playbook -i INVENTORY THIS_FILE --check --diff\n"
    )
    body = yaml.safe_dump(plays, sort_keys=False, allow_unicode=True, width=100) if plays else ""
    return header + ("---\n" + body if plays else "# nothing failed: nothing to do\n[]\n")


# ------------------------------------------------------------------------------- shell

SH_HELPERS = r"""hygie_sshd_block() {  # CHECK_ID LINE...: a marked block, at the top of sshd_config
  id=$1; shift
  f=/etc/ssh/sshd_config; tmp=$(mktemp); lines=$(mktemp)
  begin="# BEGIN hygie: $id"; end="# END hygie: $id"
  printf '%s\n' "$@" > "$lines"
  if grep -qxF "$begin" "$f"; then  # replaced where it is
    awk -v b="$begin" -v e="$end" -v lines="$lines" '
      $0 == b { print; while ((getline l < lines) > 0) print l; skip = 1; next }
      $0 == e { skip = 0 }
      !skip' "$f" > "$tmp"
  else
    { echo "$begin"; cat "$lines"; echo "$end"; cat "$f"; } > "$tmp"
  fi
  if cmp -s "$tmp" "$f"; then :
  elif /usr/sbin/sshd -t -f "$tmp"; then cat "$tmp" > "$f"; reload_sshd=1
  else echo "hygie: sshd -t refused the change of $id" >&2; status=1
  fi
  rm -f "$tmp" "$lines"
}
hygie_login_defs() {  # KEY VALUE
  if grep -qE "^[[:space:]]*$1[[:space:]]" /etc/login.defs; then
    sed -i -E "s/^[[:space:]]*$1[[:space:]].*/$1	$2/" /etc/login.defs
  else
    printf '%s\t%s\n' "$1" "$2" >> /etc/login.defs
  fi
}
"""
SH_FOOTER = """if [ -n "$reload_sshd" ]; then
  systemctl reload ssh 2>/dev/null || systemctl reload sshd || status=1
fi
exit "$status"
"""


def shell_text(scan: Scan) -> str:
    """A POSIX sh script to run as root on each host, given its name in the scan."""
    found = failures(scan)
    lines = [
        "#!/bin/sh",
        f"# hygie remediation of scan {scan.id} ({scan.policy_name} {scan.policy_version})",
        "# run as root on each host: sh THIS_FILE HOST (the host's name in the scan)",
        "set -u",
        "host=${1:?usage: sh remediate.sh HOST}",
        "status=0 reload_sshd=",
        SH_HELPERS,
    ]
    for failure in found:
        lines += _sh_function(failure)
    lines.append('case "$host" in')
    for host in sorted({h for f in found for h in f.hosts}):
        calls = [f"fix_{f.meta.id}" for f in found if host in f.hosts]
        lines.append(f"  {shlex.quote(host)}) {'; '.join(calls)} ;;")
    lines += [
        '  *) echo "hygie: nothing failed on $host in this scan" >&2 ;;',
        "esac",
        SH_FOOTER,
    ]
    return "\n".join(lines)


def _sh_function(failure: Failure) -> list[str]:
    head = [f"fix_{failure.meta.id}() {{  # {' '.join(failure.tags())}"]
    if not failure.automatic or failure.fix is None:
        text = " ".join(failure.meta.remediation.split())
        return [*head, f"  echo {shlex.quote(f'hygie: manual: {failure.meta.id}: {text}')}", "}"]
    fix, body = failure.fix, []
    sshd = failure.fill(dict(fix.settings.get("sshd_config", {})))
    if sshd:
        words = " ".join(shlex.quote(f"{k} {v}") for k, v in sshd.items())
        body.append(f"hygie_sshd_block {failure.meta.id} {words}")
    for key, value in failure.fill(dict(fix.settings.get("login_defs", {}))).items():
        body.append(f"hygie_login_defs {key} {shlex.quote(value)}")
    if fix.sh:
        body += failure.fill(fix.sh).rstrip("\n").splitlines()
    return [*head, *(f"  {line}" for line in body), "}"]


def render(scan: Scan, fmt: str, groups: Mapping[str, str] | None = None) -> str:
    return ansible_text(scan, groups) if fmt == "ansible" else shell_text(scan)


def first_groups(targets: Iterable[Any]) -> dict[str, str]:
    """host -> its first inventory group (``ungrouped`` for none): the play it goes in."""
    return {t.name: (t.groups[0] if t.groups else "ungrouped") for t in targets}
