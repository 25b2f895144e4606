"""Ansible inventories of the kinds admins keep, read through ansible-core's own loader."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from hygie.inventory import InventoryError, load_inventory
from hygie.inventory_ansible import is_ansible_inventory

pytest.importorskip("ansible")

VAULT_PASSWORD = "correct horse battery staple"
SECRET = "hunter2-never-printed"

INI = """\
# the web farm and its database, as kept for ansible-playbook
[web]
web[01:20] ansible_user=deploy

[db]
db1 ansible_host=10.0.0.5 ansible_port=2222

[prod:children]
web
db

[prod:vars]
ansible_become=true
ansible_become_method=sudo
"""

YAML_INVENTORY = """\
all:
  vars:
    ansible_user: audit
  children:
    clinics:
      children:
        lyon:
          hosts:
            lyon-app1:
              ansible_host: 192.0.2.10
            lyon-app2:
        paris:
          hosts:
            paris-app1:
              ansible_port: 2200
      vars:
        ansible_ssh_private_key_file: ~/.ssh/audit
"""


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def by_name(path: Path) -> dict:
    return {t.name: t for t in load_inventory(path).targets}


def test_ini_ranges_children_and_group_vars(tmp_path):
    hosts = by_name(write(tmp_path, {"hosts.ini": INI}) / "hosts.ini")
    assert sorted(hosts) == ["db1"] + [f"web{i:02d}" for i in range(1, 21)]
    web = hosts["web07"]
    assert (web.user, web.become, web.address, web.port) == ("deploy", "sudo", None, None)
    assert set(web.groups) == {"web", "prod"}
    db = hosts["db1"]
    assert (db.address, db.port, db.user, db.become) == ("10.0.0.5", 2222, None, "sudo")


def test_yaml_children_with_group_vars_and_host_vars_directories(tmp_path):
    inv = write(
        tmp_path,
        {
            "inventory/hosts.yml": YAML_INVENTORY,
            "inventory/group_vars/all.yml": "hygie_timeout: 120\n",
            "inventory/group_vars/paris.yml": "ansible_user: paris-audit\nhygie_site: paris\n",
            "inventory/host_vars/lyon-app2.yml": "ansible_host: 192.0.2.11\n"
            "hygie_tags: [fragile]\n",
        },
    )
    hosts = by_name(inv / "inventory")
    assert sorted(hosts) == ["lyon-app1", "lyon-app2", "paris-app1"]
    lyon2, paris = hosts["lyon-app2"], hosts["paris-app1"]
    assert (lyon2.address, lyon2.user, lyon2.tags) == ("192.0.2.11", "audit", ("fragile",))
    assert lyon2.keys == (str(Path("~/.ssh/audit").expanduser()),)
    assert set(lyon2.groups) == {"clinics", "lyon"}
    assert (paris.user, paris.port, paris.site, paris.timeout) == (
        "paris-audit",
        2200,
        "paris",
        120,
    )
    selected = load_inventory(inv / "inventory").select({"lyon"}, None)
    assert [t.name for t in selected] == ["lyon-app1", "lyon-app2"]


def test_detection_keeps_hygie_yaml_and_recognises_ansible_shapes(tmp_path):
    files = {
        "hygie.yaml": "defaults: {user: audit}\nhosts: {db1: {address: 10.0.0.5}}\n",
        "broken-hygie.yaml": "groups:\n  web: [\n",
        "ansible.yml": YAML_INVENTORY,
        "hosts": INI,
        "plain": "db1\ndb2 ansible_port=2222\n",
    }
    write(tmp_path, files)
    found = {name: is_ansible_inventory(tmp_path / name) for name in files}
    assert found == {
        "hygie.yaml": False,
        "broken-hygie.yaml": False,
        "ansible.yml": True,
        "hosts": True,
        "plain": True,
    }
    assert is_ansible_inventory(tmp_path)


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("db1 ansible_become=true ansible_become_method=su", ["db1", "become_method", "sudo"]),
        ("db1 ansible_connection=winrm", ["db1", "ansible_connection", "winrm"]),
        ("db1 ansible_port=70000", ["db1", "port", "TCP port"]),
        ("db1 ansible_host='{{ inventory_hostname }}.example.org'", ["db1", "template"]),
        ("db1 hygie_transport=telnet", ["db1", "transport"]),
    ],
)
def test_unusable_host_variables_are_errors_naming_file_and_host(tmp_path, line, words):
    path = write(tmp_path, {"hosts.ini": f"[db]\n{line}\n"}) / "hosts.ini"
    with pytest.raises(InventoryError) as err:
        load_inventory(path)
    assert str(err.value).startswith(str(path))
    for word in words:
        assert word in str(err.value)


def test_hygie_variables_win_over_ansible_ones(tmp_path):
    path = write(
        tmp_path,
        {
            "hosts.ini": "[switches]\nsw1 ansible_connection=network_cli\n"
            "[switches:vars]\nhygie_transport=none\nhygie_tags=fragile\n"
        },
    )
    (target,) = load_inventory(path / "hosts.ini").targets
    assert (target.transport, target.tags, target.groups) == ("none", ("fragile",), ("switches",))


def test_plain_text_passwords_are_ignored_with_a_warning(tmp_path, caplog):
    path = write(tmp_path, {"hosts.ini": f"db1 ansible_become_password={SECRET}\n"}) / "hosts.ini"
    with caplog.at_level(logging.WARNING):
        (target,) = load_inventory(path).targets
    assert target.become_password_env is None
    assert "db1" in caplog.text and "ansible_become_password" in caplog.text
    assert SECRET not in caplog.text and SECRET not in repr(target)


def _vault():
    """A VaultLib with one secret, as `ansible-vault` would use it."""
    from ansible.parsing.vault import VaultLib, VaultSecret

    return VaultLib([("default", VaultSecret(VAULT_PASSWORD.encode()))])


def test_vaulted_values_are_never_decrypted(tmp_path, caplog):
    vault = _vault()
    ciphertext = vault.encrypt(SECRET).decode()
    inline = "\n".join("      " + line for line in ciphertext.splitlines())
    files = {
        "inv/hosts.ini": "[db]\ndb1 ansible_become=yes\n",
        "inv/group_vars/db/main.yml": f"ansible_become_password: !vault |\n{inline}\n",
        "inv/group_vars/db/vault.yml": vault.encrypt(f"vault_secret: {SECRET}\n").decode(),
    }
    inv = write(tmp_path, files) / "inv"
    with caplog.at_level(logging.WARNING):
        (target,) = load_inventory(inv).targets
    assert target.become == "sudo"
    assert "vault.yml: vault-encrypted, not read" in caplog.text
    printed = caplog.text + repr(target)
    assert SECRET not in printed and "$ANSIBLE_VAULT" not in printed

    # a fresh directory: ansible-core caches which vars directories exist, per process
    files["other/hosts.ini"] = files.pop("inv/hosts.ini")
    files["other/host_vars/db1.yml"] = f"ansible_user: !vault |\n{inline}\n"
    with pytest.raises(InventoryError) as err:
        load_inventory(write(tmp_path, files) / "other")
    assert "host db1: ansible_user is vault-encrypted" in str(err.value)
    assert SECRET not in str(err.value) and "$ANSIBLE_VAULT" not in str(err.value)


def test_the_cli_scans_nothing_but_says_what_is_wrong(tmp_path):
    """``hygie scan -i`` on a directory inventory: the error names it, with no traceback."""
    inv = write(tmp_path, {"inv/hosts": "[db]\ndb1 ansible_connection=docker\n"}) / "inv"
    run = subprocess.run(
        [sys.executable, "-m", "hygie.cli", "scan", "-i", str(inv), "--no-store", "-q"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 3
    assert f"{inv}: host db1: ansible_connection 'docker'" in run.stderr
    assert "Traceback" not in run.stderr


def test_missing_extra_names_the_file_and_the_install_command(tmp_path, monkeypatch):
    path = write(tmp_path, {"hosts.ini": INI}) / "hosts.ini"
    monkeypatch.setitem(sys.modules, "ansible.inventory.manager", None)
    with pytest.raises(InventoryError) as err:
        load_inventory(path)
    assert str(err.value).startswith(str(path))
    assert "pip install 'hygie[ansible]'" in str(err.value)
