"""Ansible inventories as hygie inventories, read by ansible-core's own loader.

Admins already keep their fleet in Ansible: INI or YAML files, ``children`` groups,
``group_vars/`` and ``host_vars/`` beside them. Re-implementing that grammar (ranges such as
``web[01:20]``, ``[group:vars]``, variable precedence) would drift from Ansible's; so the
inventory is parsed by ``InventoryManager`` and each host's variables are merged by
``VariableManager``, exactly as ``ansible-playbook`` would see them, and only then mapped to
hygie's :class:`~hygie.inventory.Target` with the validation of hygie's own YAML inventory.

What hygie refuses to do with an Ansible inventory, and why:

- it never decrypts vault: the loader is given no vault secret. A vault-encrypted vars file
  is skipped with a warning; a vaulted value hygie would use (``ansible_user``...) is an
  error for that host, which names the variable, never its text;
- it never uses a password written in the inventory (``ansible_password``,
  ``ansible_become_password``...): passwords come from environment variables
  (``hygie_password_env``, ``hygie_become_password_env``) or ``--ask-pass`` /
  ``--ask-become-pass``; such a variable is ignored with a warning naming the host;
- it runs no code: only the ``yaml`` and ``ini`` inventory plugins are enabled (no inventory
  script, no cloud plugin) and Jinja templates in the values it uses are refused rather
  than evaluated (``ansible-inventory --list -y`` turns a dynamic inventory into a static one);
- it collects as ``sudo`` only: ``ansible_become_method`` other than ``sudo`` is an error.

Any hygie host variable can be given as ``hygie_<name>`` (``hygie_tags``, ``hygie_network``,
``hygie_site``, ``hygie_transport: none``...) in the same files; it wins over the Ansible one.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from hygie.factspec import network_setting_problems
from hygie.inventory import HOST_VARS, TOP_KEYS, Inventory, InventoryError, _problem, _target

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'hygie[ansible]'"
#: Ansible connection variables -> hygie host variables, the current name before the legacy one
CONNECTION_VARS = {
    "ansible_host": "address",
    "ansible_ssh_host": "address",
    "ansible_port": "port",
    "ansible_ssh_port": "port",
    "ansible_user": "user",
    "ansible_ssh_user": "user",
    "ansible_ssh_private_key_file": "key",
    "ansible_private_key_file": "key",
}
PASSWORD_VARS = (
    "ansible_password",
    "ansible_ssh_pass",
    "ansible_become_password",
    "ansible_become_pass",
    "ansible_sudo_pass",
)
SSH_CONNECTIONS = {"ssh", "paramiko", "smart"}
HYGIE_PREFIX = "hygie_"
#: the keys a group of an Ansible YAML inventory may have
GROUP_SHAPE = {"hosts", "children", "vars"}
#: only static inventories: no script, no plugin that calls out
PLUGINS = ["yaml", "ini"]
BUILTIN_GROUPS = {"all", "ungrouped"}
NUMBERS = {"port", "connect_timeout", "timeout"}


class _Unusable(Exception):
    """One host variable hygie cannot use; the message never holds the value."""


def is_ansible_inventory(path: Path) -> bool:
    """A directory, an INI file, or YAML shaped as Ansible's (top-level groups each with
    ``hosts``/``children``/``vars``) rather than hygie's (``defaults``/``groups``/``hosts``)."""
    if path.is_dir():
        return True
    if not path.is_file():  # a pipe or a device: hygie's own loader knows how to refuse it
        return False
    text = path.read_text(errors="replace")
    if _top_keys(text) <= TOP_KEYS:
        return False
    try:
        doc = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except (yaml.YAMLError, RecursionError):
        return _ini_start(text)
    if not isinstance(doc, yaml.MappingNode):
        return isinstance(doc, yaml.ScalarNode) and _ini_start(text)
    return all(_group_shaped(v) for _, v in doc.value)


def _top_keys(text: str) -> set[str]:
    """The keys of a block mapping at the top of a YAML text, read from its lines: a
    50,000-host hygie inventory is told apart without being parsed twice. A line that is
    not ``key:`` adds a key no inventory has, so the text is then parsed."""
    keys = set()
    for line in text.splitlines():
        if not line or line[0] in " \t#" or line in ("---", "..."):
            continue
        key, colon, rest = line.partition(":")
        keys.add(key.strip("'\"") if colon and (not rest or rest[0] in " \t") else "\0")
    return keys


def _group_shaped(node: yaml.Node) -> bool:
    if isinstance(node, yaml.ScalarNode):
        return node.value in ("", "~", "null")
    if not isinstance(node, yaml.MappingNode):
        return False
    return all(isinstance(k, yaml.ScalarNode) and k.value in GROUP_SHAPE for k, _ in node.value)


def _ini_start(text: str) -> bool:
    """The first meaningful line is an INI section or a host line, not a YAML ``key:``."""
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            return True
        return line != "---" and not line.split(None, 1)[0].endswith(":")
    return False


def load_ansible_inventory(path: Path) -> Inventory:
    source = str(path)
    loader, manager, variables = _ansible(source)
    problems: list[str] = []
    targets = []
    for host in manager.get_hosts():
        hostvars = variables.get_vars(host=host, include_hostvars=False)
        groups = tuple(g.name for g in host.get_groups() if g.name not in BUILTIN_GROUPS)
        try:
            targets.append(_target(host.name, _values(host.name, hostvars), groups))
        except _Unusable as exc:
            problems.append(f"host {host.name}: {exc}")
    for skipped in dict.fromkeys(loader.skipped):
        log.warning("%s: vault-encrypted, not read: hygie never decrypts vault", skipped)
    if problems:
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise InventoryError(source, None, "; ".join(problems[:5]) + more)
    if not targets:
        raise InventoryError(source, None, "the inventory names no host")
    return Inventory(targets)


def _ansible(source: str) -> tuple[Any, Any, Any]:
    """The loader (without any vault secret), the parsed inventory and its variables."""
    try:
        from ansible.errors import AnsibleError
        from ansible.inventory.manager import InventoryManager
        from ansible.vars.manager import VariableManager
    except ImportError:
        raise InventoryError(
            source, None, f"an Ansible inventory: reading it needs ansible-core: {INSTALL_HINT}"
        ) from None
    loader = _vault_skipping_loader()
    try:
        with _static_plugins_only():
            manager = InventoryManager(loader=loader, sources=[source])
        return loader, manager, VariableManager(loader=loader, inventory=manager)
    except AnsibleError as exc:
        raise InventoryError(source, None, _ansible_reason(exc)) from None


def _ansible_reason(exc: Exception) -> str:
    """Ansible's message, its first line only: a parse error may quote the file, and the
    file may hold vault text."""
    reason = (getattr(exc, "message", None) or str(exc)).strip().splitlines()
    text = reason[0] if reason else type(exc).__name__
    if "vault" in text.lower():
        return f"vault-encrypted: hygie never decrypts vault ({text})"
    return text


def _vault_skipping_loader() -> Any:
    from ansible.parsing.dataloader import DataLoader
    from ansible.parsing.vault import is_encrypted_file

    class VaultSkippingLoader(DataLoader):
        """Reads vars files as Ansible does, but an encrypted one as empty: the variables
        in it stay unknown to hygie rather than decrypted."""

        def __init__(self) -> None:
            super().__init__()
            self.skipped: list[str] = []

        def load_from_file(self, file_name: str, *args: Any, **kwargs: Any) -> Any:
            with open(file_name, "rb") as f:
                if is_encrypted_file(f):
                    self.skipped.append(file_name)
                    return {}
            return super().load_from_file(file_name, *args, **kwargs)

    return VaultSkippingLoader()


@contextlib.contextmanager
def _static_plugins_only() -> Iterator[None]:
    """Only the yaml and ini plugins, and a source that does not parse is an error (Ansible
    would warn and go on with an empty inventory)."""
    import ansible.constants as C

    settings = {
        "INVENTORY_ENABLED": PLUGINS,
        "INVENTORY_ANY_UNPARSED_IS_FAILED": True,
        "INVENTORY_UNPARSED_IS_FAILED": True,
    }
    saved = {name: getattr(C, name) for name in settings}
    for name, value in settings.items():
        setattr(C, name, value)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(C, name, value)


def _values(host: str, hostvars: Mapping[str, Any]) -> dict[str, Any]:
    """hygie host variables from the host's merged Ansible variables, validated as hygie's
    YAML inventory validates them."""
    for name in PASSWORD_VARS:
        if name in hostvars:
            log.warning(
                "host %s: %s ignored: hygie reads passwords only from environment variables "
                "(hygie_password_env, hygie_become_password_env) or --ask-pass/--ask-become-pass",
                host,
                name,
            )
    values: dict[str, Any] = {}
    for name, key in CONNECTION_VARS.items():
        if name in hostvars and key not in values:
            values[key] = _plain(name, hostvars[name])
    values.update(_connection(hostvars))
    for key in HOST_VARS:
        if HYGIE_PREFIX + key in hostvars:
            values[key] = _plain(HYGIE_PREFIX + key, hostvars[HYGIE_PREFIX + key])
    for key, value in values.items():
        values[key] = _validate(key, value)
    return values


def _connection(hostvars: Mapping[str, Any]) -> dict[str, Any]:
    """``transport`` from ``ansible_connection`` (any, when ``hygie_transport`` says how to
    audit the host: ``none`` for a switch or a Windows host seen from the network only),
    ``become`` from ``ansible_become``."""
    from ansible.module_utils.parsing.convert_bool import boolean

    out: dict[str, Any] = {}
    connection = _plain("ansible_connection", hostvars.get("ansible_connection", "ssh"))
    if connection == "local":
        out["transport"] = "local"
    elif connection not in SSH_CONNECTIONS and HYGIE_PREFIX + "transport" not in hostvars:
        raise _Unusable(f"ansible_connection {connection!r}: hygie audits over ssh or locally")
    try:
        become = boolean(_plain("ansible_become", hostvars.get("ansible_become", False)))
    except TypeError:
        raise _Unusable("ansible_become: must be a boolean") from None
    method = _plain("ansible_become_method", hostvars.get("ansible_become_method", "sudo"))
    if become and method != "sudo":
        raise _Unusable(f"ansible_become_method {method!r}: hygie collects under sudo only")
    out["become"] = "sudo" if become else "none"
    return out


def _plain(name: str, value: Any) -> Any:
    """``value`` as plain Python data (Ansible tags its strings and numbers), refusing a
    vaulted or templated one."""
    if isinstance(value, _vault_types()):
        raise _Unusable(f"{name} is vault-encrypted: hygie never decrypts vault")
    if isinstance(value, Mapping):
        return {str(k): _plain(f"{name}.{k}", v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(name, v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    text = str(value)
    if "{{" in text or "{%" in text:
        raise _Unusable(f"{name} is a Jinja template: hygie does not evaluate templates")
    return text


def _validate(key: str, value: Any) -> Any:
    """``value`` checked as hygie's YAML inventory checks it; numbers given as text (an INI
    ``[group:vars]`` section gives only text) are read as numbers first."""
    if key in NUMBERS and isinstance(value, str):
        with contextlib.suppress(ValueError):
            value = float(value) if "." in value else int(value)
    problem = _problem(key, value)
    if not problem and key == "network":
        problem = next((reason for _, reason in network_setting_problems(value)), None)
    if problem:
        raise _Unusable(f"{key}: {problem}")
    return value


def _vault_types() -> tuple[type, ...]:
    """The classes of a vaulted value: ``EncryptedString`` (ansible-core 2.19 and later),
    ``AnsibleVaultEncryptedUnicode`` before."""
    from ansible.parsing import vault
    from ansible.parsing.yaml import objects

    found = (vars(vault).get("EncryptedString"), vars(objects).get("AnsibleVaultEncryptedUnicode"))
    return tuple(t for t in found if isinstance(t, type))
