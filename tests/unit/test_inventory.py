"""Inventory parsing: precedence of vars, ad-hoc targets, errors with file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from hygie.inventory import InventoryError, load_inventory, parse_target


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "inv.yaml"
    path.write_text(text)
    return path


def test_host_vars_override_group_vars_which_override_defaults(tmp_path):
    inv = load_inventory(
        write(
            tmp_path,
            """
defaults: {user: audit, become: sudo, port: 22}
groups:
  pacs:
    vars: {port: 2222, tags: [imaging, fragile]}
    hosts:
      pacs1: {address: 198.18.0.10}
      pacs2: {address: 198.18.0.11, port: 22022}
hosts:
  web1: {address: 198.18.0.20, key: ~/.ssh/id_ed25519}
""",
        )
    )
    by_name = {t.name: t for t in inv.targets}
    assert by_name["pacs1"].port == 2222 and by_name["pacs1"].user == "audit"
    assert by_name["pacs2"].port == 22022
    assert by_name["pacs1"].tags == ("imaging", "fragile")
    assert by_name["pacs1"].groups == ("pacs",)
    assert by_name["web1"].port == 22 and by_name["web1"].become == "sudo"
    assert by_name["web1"].keys[0].endswith("/.ssh/id_ed25519")
    assert [t.name for t in inv.select({"pacs"}, None)] == ["pacs1", "pacs2"]
    assert [t.name for t in inv.select(None, {"fragile"})] == ["pacs1", "pacs2"]


def test_group_host_lists_and_top_level_vars_layer(tmp_path):
    inv = load_inventory(
        write(
            tmp_path,
            """
groups:
  linux: {hosts: [a, b], vars: {user: root}}
hosts:
  a: {address: 198.18.0.1}
""",
        )
    )
    a = next(t for t in inv.targets if t.name == "a")
    assert a.user == "root" and a.address == "198.18.0.1"


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("hosts:\n  a: {prot: 22}\n", 2, "unknown key 'prot'"),
        ("hosts:\n  a:\n    port: 70000\n", 3, "TCP port"),
        ("hosts:\n  a:\n    become: su\n", 3, "become"),
        ("hosts:\n  a: {address: x\n", 3, "invalid YAML"),
        ("hosts:\n  a: {}\n  a: {}\n", 3, "duplicate key"),
        ("groups:\n  g: {members: [a]}\n", 2, "unknown key 'members'"),
        ("hosts: {}\n", 1, "names no host"),
        ("- a\n- b\n", 1, "mapping"),
    ],
)
def test_errors_name_file_and_line(tmp_path, text, line, words):
    path = write(tmp_path, text)
    with pytest.raises(InventoryError) as err:
        load_inventory(path)
    assert err.value.line == line, str(err.value)
    assert words in str(err.value) and str(path) in str(err.value)


@pytest.mark.parametrize(
    ("spec", "user", "host", "port"),
    [
        ("db1", None, "db1", None),
        ("root@db1", "root", "db1", None),
        ("audit@198.18.0.5:2222", "audit", "198.18.0.5", 2222),
        ("audit@[fd00::5]:2222", "audit", "fd00::5", 2222),
    ],
)
def test_adhoc_targets(spec, user, host, port):
    t = parse_target(spec)
    assert (t.user, t.address, t.port) == (user, host, port)


def test_adhoc_default_user_applies_only_when_the_spec_has_none():
    assert parse_target("db1", user="audit").user == "audit"
    assert parse_target("root@db1", user="audit").user == "root"


def test_local_target_and_bad_specs():
    assert parse_target("local").transport == "local"
    with pytest.raises(InventoryError):
        parse_target("a@b@c")
    with pytest.raises(InventoryError):
        parse_target("host:99999")
