"""Hostile input files: every YAML file hygie reads is parsed within bounds (issue 17).

Inventories, policies, waivers and attestations come from many hands; none may make hygie
hang, exhaust memory or print a traceback. The four kinds the issue names (an alias bomb, a
50 MB inventory, thousands of nested lists, a ``!!python/object/apply`` tag) run through
the real CLI, each refused with one line naming the file, the line and the limit, exit 3,
within a wall-time bound. The hostile files are generated here, never committed.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from hygie import yamlfile
from hygie.inventory import load_inventory
from hygie.reports.attest import ReportInputError, load_attestations
from hygie.store import Store
from hygie.yamlfile import DataFileError, Limits, load_mapping
from tests.fixtures.reports.hostile import fleet

WALL = 5.0  # seconds for one CLI run, interpreter start included: refusals are immediate
CORE_TAGS = "(!!str, !!int, !!float, !!bool, !!null, !!timestamp, !!seq, !!map)"
NODES = "more than 2,000,000 values (an alias counts as all it expands to), the limit"
DEPTH = "nested more than 64 levels deep, the limit (HYGIE_MAX_YAML_DEPTH)"


def laughs() -> str:
    """Nine levels of nine aliases: 1 kB that expands to 9**9 strings."""
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for prev, cur in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{cur}: &{cur} [{', '.join([f'*{prev}'] * 9)}]")
    return "\n".join([*lines, "hosts: {web1: {tags: *i}}"]) + "\n"


def write_large_inventory(path: Path, size: int) -> int:
    """A legitimate-looking inventory of ``size`` bytes or a little more, written in blocks
    of 10,000 hosts; returns how many hosts it names."""
    with path.open("w") as f:
        f.write("hosts:\n")
        start = 0
        while f.tell() < size:
            f.write(
                "".join(
                    f"  host-{i:07d}: {{address: 10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}, "
                    "tags: [web, dmz]}\n"
                    for i in range(start, start + 10_000)
                )
            )
            start += 10_000
    return start


ATTESTATION = """\
attestations:
  - id: A-1
    controls: {testfw: [AT-2]}
    statement: training done
    owner: hr
    date: 2026-01-01
    valid_until: 2026-12-31
    evidence: EVIDENCE
"""


def attestation(directory: Path, evidence: str) -> Path:
    path = directory / "att.yaml"
    path.write_text(ATTESTATION.replace("EVIDENCE", evidence))
    return path


# -- through the CLI ------------------------------------------------------------------------


def hygie(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The real CLI in a fresh interpreter, with a temporary HOME and store and the default
    limits; asserts it ended within WALL."""
    (tmp_path / "home").mkdir(exist_ok=True)
    base = {k: v for k, v in os.environ.items() if not k.startswith(("HYGIE_MAX", "HYGIE_EV"))}
    environ = {**base, "HOME": str(tmp_path / "home"), "HYGIE_DB": str(tmp_path / "h.db"), **env}
    start = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "hygie.cli", *args],
        cwd=tmp_path,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )
    elapsed = time.monotonic() - start
    assert elapsed < WALL, f"hygie {' '.join(args)} took {elapsed:.1f} s"
    return result


def assert_refused(result: subprocess.CompletedProcess[str], message: str) -> None:
    """Exit 3 and exactly one line on stderr, ending with ``message``; no traceback."""
    assert result.returncode == 3, (result.returncode, result.stderr[-2000:])
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].endswith(message), result.stderr[-2000:]


def test_scan_refuses_an_alias_bomb(tmp_path):
    path = tmp_path / "laughs.yaml"
    path.write_text(laughs())
    assert path.stat().st_size < 1024
    assert_refused(
        hygie(tmp_path, "scan", "-i", str(path)), f"{path}:7: {NODES} (HYGIE_MAX_YAML_NODES)"
    )


def test_scan_refuses_a_50_mb_inventory_before_reading_it(tmp_path):
    path = tmp_path / "cmdb-export.yaml"
    write_large_inventory(path, 50 * 1024 * 1024)
    size = path.stat().st_size
    message = f"{path}: {size:,} bytes, over the limit of 20,971,520 (HYGIE_MAX_YAML_BYTES)"
    assert_refused(hygie(tmp_path, "scan", "-i", str(path)), message)


@pytest.mark.parametrize(
    ("tail", "line", "message"),
    [
        ("tags:\n      " + "- " * 5000 + "x\n", 4, DEPTH),  # block lists, one per "- "
        ("tags: " + "[" * 5000 + "]" * 5000 + "\n", 3, None),  # flow lists
        ("tags: " + "{a: " * 5000 + "x" + "}" * 5000 + "\n", 3, DEPTH),  # flow mappings
    ],
    ids=["block", "flow-lists", "flow-mappings"],
)
def test_scan_refuses_thousands_of_nested_lists(tmp_path, tail, line, message):
    path = tmp_path / "deep.yaml"
    path.write_text("hosts:\n  web1:\n    " + tail)
    result = hygie(tmp_path, "scan", "-i", str(path))
    # libyaml's scanner refuses flow lists nested past 1,000 itself, before hygie counts them
    nesting = "invalid YAML: exceeded maximum nesting depth" if yamlfile.CParser else DEPTH
    assert_refused(result, f"{path}:{line}: {message or nesting}")


def test_scan_refuses_a_python_tag_and_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "inv.yaml"
    path.write_text(
        f"hosts:\n  web1:\n    address: !!python/object/apply:os.system ['touch {marker}']\n"
    )
    message = f"{path}:3: tag '!!python/object/apply:os.system' is not allowed: hygie reads "
    assert_refused(
        hygie(tmp_path, "scan", "-i", str(path)), message + f"only YAML's core tags {CORE_TAGS}"
    )
    assert not marker.exists()


def test_policies_validate_refuses_deep_nesting_with_the_line(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text(
        "name: p\nversion: 1\nchecks:\n" + "".join(" " * i + "- \n" for i in range(1, 200))
    )
    assert_refused(hygie(tmp_path, "policies", "validate", str(path)), f"{path}:67: {DEPTH}")


@pytest.fixture
def stored(tmp_path):
    """A store holding one scan, so ``hygie report`` reaches the waiver and attestation files."""
    store = Store(tmp_path / "h.db")
    store.save(fleet())
    store.close()


@pytest.mark.usefixtures("stored")
def test_report_refuses_hostile_waivers_and_attestations(tmp_path):
    waivers = tmp_path / "waivers.yaml"
    waivers.write_text(laughs().replace("hosts: {web1: {tags: *i}}", "waivers: [*i]"))
    result = hygie(tmp_path, "report", "--format", "md", "--waivers", str(waivers))
    assert_refused(result, f"{waivers}:7: {NODES} (HYGIE_MAX_YAML_NODES)")

    (tmp_path / "secret").write_text("not evidence")
    (tmp_path / "site").mkdir()
    path = attestation(tmp_path / "site", "../secret")
    result = hygie(tmp_path, "report", "--format", "md", "--attestations", str(path))
    message = f"{path}:8: evidence file '../secret' is outside {tmp_path / 'site'} (other "
    assert_refused(result, message + "directories must be listed in HYGIE_EVIDENCE_DIRS)")

    path.write_text(ATTESTATION.replace("EVIDENCE", "!!binary aGk="))
    result = hygie(tmp_path, "report", "--format", "md", "--attestations", str(path))
    assert_refused(
        result,
        f"{path}:8: tag '!!binary' is not allowed: hygie reads only YAML's core tags {CORE_TAGS}",
    )


# -- the loader ---------------------------------------------------------------------------


@pytest.fixture(params=["libyaml", "pure"])
def parser(request, monkeypatch):
    """Each loader test with libyaml's C parser and with the pure-Python one it falls back
    to: both must give the same values, lines and refusals."""
    if request.param == "libyaml" and yamlfile.CParser is None:
        pytest.skip("PyYAML is built without libyaml")
    if request.param == "pure":
        monkeypatch.setattr(yamlfile, "CParser", None)
    return request.param


def load(tmp_path: Path, text: str | bytes, limits: Limits | None = None) -> yamlfile.Node:
    path = tmp_path / "f.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return load_mapping(path, limits=limits)


def refusal(tmp_path: Path, text: str | bytes, limits: Limits | None = None) -> str:
    """``path:line: reason`` with the path cut, as the loader refused ``text``."""
    with pytest.raises(DataFileError) as exc:
        load(tmp_path, text, limits)
    return str(exc.value).removeprefix(str(tmp_path / "f.yaml"))


#: Malformed files keep the messages the loader gave before it had limits.
KEPT = [
    (b"hosts:\n  a: {address: caf\xe9}\n", ": cannot read: 'utf-8' codec can't decode byte"),
    (b"\x00\x01\xff", ": cannot read: 'utf-8' codec can't decode byte 0xff"),
    ("a: 1\nb: \x01\n", ":2: invalid YAML: "),  # libyaml: control, pure: special
    ("hosts: {a: {}}\n---\nhosts: {b: {}}\n", ":2: invalid YAML: but found another document"),
    ("", ":1: expected a YAML mapping at the top level"),
    ("# nothing\n", ":1: expected a YAML mapping at the top level"),
    ("- a\n", ":1: expected a YAML mapping at the top level"),
    ("hosts:\n  1: {}\n", ":2: key 1 is not a string"),
    ("hosts:\n  ? [a]\n  : {}\n", ":2: key ['a'] is not a string"),
    ("hosts:\n  a: {}\n  a: {}\n", ":3: duplicate key 'a'"),
    ("hosts:\n  a: {address: x\n", ":3: invalid YAML: "),
]
#: Tags beyond YAML's core ones, and values their tag cannot construct.
REFUSED = [
    ("a: !!binary aGk=\n", ":1: tag '!!binary' is not allowed"),
    ("a: !!set {x}\n", ":1: tag '!!set' is not allowed"),
    ("a: !!omap [x: 1]\n", ":1: tag '!!omap' is not allowed"),
    ("a: 1\nb: !!python/name:os.system ''\n", ":2: tag '!!python/name:os.system' is not"),
    ("a:\n  b: !vault |\n    $ANSIBLE_VAULT;1.1\n", ":2: tag '!vault' is not allowed"),
    ("a: !<tag:example.com,2000:x> 1\n", ":1: tag 'tag:example.com,2000:x' is not"),
    ("a: !!str [1]\n", ":1: tag '!!str' is not allowed"),
    ("a: !!map [1]\n", ":1: tag '!!map' is not allowed"),
    ("a: 2026-13-45\n", ":1: '2026-13-45' is not a valid !!timestamp"),
    ("a: !!int abc\n", ":1: 'abc' is not a valid !!int"),
    ("a: !!bool maybe\n", ":1: 'maybe' is not a valid !!bool"),
    ("d: &d {user: x}\nh:\n  <<: *d\n", ":3: merge keys ('<<') are not supported"),
    ("a: &a [*a]\n", ":1: invalid YAML: found undefined alias 'a'"),
]


@pytest.mark.usefixtures("parser")
@pytest.mark.parametrize(("text", "expected"), KEPT + REFUSED)
def test_refusals_name_the_line(tmp_path, text, expected):
    assert refusal(tmp_path, text).startswith(expected)


@pytest.mark.usefixtures("parser")
def test_core_tags_and_shared_aliases_load(tmp_path):
    root = load(
        tmp_path,
        """\
common: &common {tags: [a, b], port: 22}
a: !!str 123
b: !!int "7"
c: !!timestamp 2026-01-02
d: !!map {x: !!null ''}
e: !!seq [!!float 1, !!bool yes]
f: *common
g: ! 12
""",
    )
    plain = root.plain()
    assert plain == yaml.safe_load((tmp_path / "f.yaml").read_text())
    assert plain["a"] == "123" and plain["b"] == 7 and str(plain["c"]) == "2026-01-02"
    assert plain["d"] == {"x": None} and plain["e"] == [1.0, True] and plain["g"] == 12
    assert plain["f"] == plain["common"] == {"tags": ["a", "b"], "port": 22}
    f = root.value["f"]
    assert f.line == 7 and f.value is root.value["common"].value  # shared, never copied


@pytest.mark.usefixtures("parser")
@pytest.mark.parametrize(
    ("text", "limits", "expected"),
    [
        ("a: [" + "x, " * 20 + "x]\n", Limits(max_nodes=10), ":1: more than 10 values"),
        ("a: &a [1, 2, 3]\nb: [\n  *a,\n  *a,\n  *a]\n", Limits(max_nodes=12), ":4: more than 12"),
        ("a: &a 1\nb: [*a, *a,\n  *a]\n", Limits(max_aliases=2), ":3: more than 2 aliases, the"),
        ("a: &a [[[1]]]\nb: *a\nc:\n  - *a\n", Limits(max_depth=4), ":4: nested more than 4"),
        ("a:\n- - - - x\n", Limits(max_depth=4), ":2: nested more than 4 levels deep"),
    ],
    ids=["values", "alias-values", "aliases", "alias-depth", "depth"],
)
def test_limits_stop_the_parse_where_they_are_hit(tmp_path, text, limits, expected):
    assert refusal(tmp_path, text, limits).startswith(expected)


def test_limits_are_overridden_by_the_environment(tmp_path, monkeypatch):
    text = "hosts: {web1: {address: 198.18.0.1}}\n"
    assert load(tmp_path, text).plain()["hosts"]["web1"]["address"] == "198.18.0.1"
    monkeypatch.setenv("HYGIE_MAX_YAML_BYTES", "20")
    assert refusal(tmp_path, text) == ": 37 bytes, over the limit of 20 (HYGIE_MAX_YAML_BYTES)"
    monkeypatch.setenv("HYGIE_MAX_YAML_BYTES", "20k")
    with pytest.raises(DataFileError, match="HYGIE_MAX_YAML_BYTES: must be a positive integer"):
        load(tmp_path, text)
    monkeypatch.delenv("HYGIE_MAX_YAML_BYTES")
    monkeypatch.setenv("HYGIE_MAX_YAML_NODES", "3")
    assert refusal(tmp_path, text).startswith(":1: more than 3 values")


def test_devices_and_pipes_are_read_within_bounds(tmp_path):
    with pytest.raises(DataFileError, match="/dev/zero: not a regular file"):
        load_mapping(Path("/dev/zero"))
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    start = time.monotonic()
    with pytest.raises(DataFileError, match="expected a YAML mapping"):  # no writer: empty
        load_mapping(fifo)
    assert time.monotonic() - start < 1
    read, write = os.pipe()
    os.write(write, b"a: " + b"x" * 5000 + b"\n")
    os.close(write)
    try:
        with pytest.raises(DataFileError, match="at least 1,001 bytes, over the limit of 1,000"):
            load_mapping(Path(f"/proc/self/fd/{read}"), limits=Limits(max_bytes=1000))
    finally:
        os.close(read)


def test_a_large_inventory_stays_fast(tmp_path):
    """20,000 hosts (1.1 MB): well under the limits and loaded in a few seconds."""
    path = tmp_path / "inv.yaml"
    hosts = write_large_inventory(path, 1_000_000)
    start = time.monotonic()
    inventory = load_inventory(path)
    assert time.monotonic() - start < 5 and len(inventory.targets) == hosts == 20_000
    assert inventory.targets[-1].tags == ("web", "dmz")


PLAIN = [
    "yes",
    "No",
    "on",
    "~",
    "null",
    "0x1F",
    "0o17",
    "017",
    "1_000",
    "1e3",
    "-.Inf",
    "2026-01-01",
    "2026-01-01 10:00:00",
    "12:30:45",
    "1.5",
    "+12",
    "a b",
    "'q'",
]


@pytest.mark.usefixtures("parser")
@pytest.mark.parametrize("scalar", PLAIN)
def test_plain_scalars_resolve_as_safe_load_does(tmp_path, scalar):
    text = f"k: {scalar}\nl: [{scalar}]\n"
    assert load(tmp_path, text).plain() == yaml.safe_load(text)


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.text(),
    st.sampled_from(PLAIN),
    st.floats(allow_nan=False),
    st.dates(),
)
documents = st.dictionaries(
    st.text(),
    st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
        max_leaves=20,
    ),
    min_size=1,
    max_size=5,
)


@settings(max_examples=150, deadline=None)
@given(documents, st.booleans())
def test_any_safe_document_loads_as_safe_load_loads_it(tmp_path_factory, doc, flow):
    text = yaml.safe_dump(doc, default_flow_style=flow, allow_unicode=True)
    path = tmp_path_factory.mktemp("doc") / "f.yaml"
    path.write_text(text, encoding="utf-8")
    assert load_mapping(path).plain() == yaml.safe_load(text)


# -- attestation evidence -------------------------------------------------------------------


@pytest.mark.parametrize("evidence", ["../secret", "/etc/hostname", "link", "sub/../../secret"])
def test_evidence_must_stay_in_the_attestation_files_directory(tmp_path, evidence):
    (tmp_path / "secret").write_text("not evidence")
    site = tmp_path / "site"
    (site / "sub").mkdir(parents=True)
    (site / "link").symlink_to(tmp_path / "secret")
    path = attestation(site, evidence)
    with pytest.raises(ReportInputError, match=f"evidence file '{evidence}' is outside {site}"):
        load_attestations(path)


def test_evidence_elsewhere_needs_an_explicit_allowance(tmp_path, monkeypatch):
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "plan.pdf").write_bytes(b"%PDF signed")
    site = tmp_path / "site"
    (site / "records").mkdir(parents=True)
    (site / "records" / "training.txt").write_text("ok")
    assert load_attestations(attestation(site, "records/training.txt"))[0].evidence_sha256
    monkeypatch.setenv("HYGIE_EVIDENCE_DIRS", f"/nonexistent{os.pathsep}{shared}")
    (att,) = load_attestations(attestation(site, str(shared / "plan.pdf")))
    assert att.evidence_sha256 == hashlib.sha256(b"%PDF signed").hexdigest()


def test_evidence_is_a_regular_file_within_the_size_limit(tmp_path, monkeypatch):
    os.mkfifo(tmp_path / "fifo")
    start = time.monotonic()
    with pytest.raises(ReportInputError, match=r":8: evidence file .*fifo: not a regular file"):
        load_attestations(attestation(tmp_path, "fifo"))
    assert time.monotonic() - start < 1
    (tmp_path / "proof.txt").write_text("signed")
    monkeypatch.setenv("HYGIE_MAX_EVIDENCE_BYTES", "3")
    with pytest.raises(
        ReportInputError, match=r"6 bytes, over the limit of 3 \(HYGIE_MAX_EVIDENCE"
    ):
        load_attestations(attestation(tmp_path, "proof.txt"))
    with pytest.raises(ReportInputError, match=r"evidence file 'a\\x00b': not a valid path"):
        load_attestations(attestation(tmp_path, '"a\\0b"'))
