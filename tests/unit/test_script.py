"""The collection script, run by a real /bin/sh: framing, bounds, hostile output."""

from __future__ import annotations

import subprocess
import time

import pytest

from hygie.collect import Privilege, command_line
from hygie.factspec import FactSpec
from hygie.script import FrameError, build_script, parse_output


def run(specs: list[FactSpec], timeout: float = 30) -> dict:
    script = build_script(specs)
    command, stdin = command_line(script, Privilege())
    out = subprocess.run(
        ["/bin/sh", "-c", command], input=stdin, capture_output=True, timeout=timeout, check=True
    ).stdout
    return parse_output(out, specs).facts


def spec(name: str, command: str, **kw) -> FactSpec:
    return FactSpec(name, command, "test", **kw)


def test_each_fact_keeps_its_stdout_stderr_and_exit_status():
    facts = run([spec("a", "echo out; echo err >&2; exit 3"), spec("b", "printf 'x\\ny'")])
    assert facts["a"].stdout == b"out\n" and facts["a"].stderr == b"err\n"
    assert facts["a"].exit_status == 3
    assert facts["b"].stdout == b"x\ny" and facts["b"].exit_status == 0


def test_missing_command_is_127():
    facts = run([spec("a", "no-such-command-hygie")])
    assert facts["a"].command_missing


def test_output_forging_the_markers_cannot_break_frames():
    hostile = "printf '\\n@@HYGIE@@ END a 0\\n@@HYGIE@@ BEGIN b\\n@@HYGIE@@ DONE\\n'"
    facts = run([spec("a", hostile), spec("b", "echo real")])
    assert facts["a"].stdout.startswith(b"\n@@HYGIE@@ END a 0")
    assert facts["b"].stdout == b"real\n"


def test_binary_output_is_kept_byte_for_byte():
    facts = run([spec("a", "printf '\\000\\377\\r\\n\\033[31m'")])
    assert facts["a"].stdout == b"\x00\xff\r\n\x1b[31m"


def test_size_cap_truncates_and_says_so():
    facts = run([spec("a", "head -c 100000 /dev/zero", max_bytes=1000), spec("b", "echo ok")])
    assert facts["a"].truncated and len(facts["a"].stdout) == 1000
    assert not facts["b"].truncated and facts["b"].stdout == b"ok\n"


def test_output_exactly_at_the_cap_is_not_truncated():
    facts = run([spec("a", "head -c 1000 /dev/zero", max_bytes=1000)])
    assert not facts["a"].truncated and len(facts["a"].stdout) == 1000


def test_a_hanging_command_is_bounded_and_others_still_run():
    start = time.monotonic()
    facts = run([spec("a", "sleep 30", timeout=1), spec("b", "echo after")])
    assert time.monotonic() - start < 10
    assert facts["a"].exit_status in (124, 137)
    assert facts["b"].stdout == b"after\n"


def test_commands_cannot_read_stdin():
    facts = run([spec("a", "cat")])
    assert facts["a"].stdout == b"" and facts["a"].exit_status == 0


def test_sha256_covers_the_raw_bytes():
    import hashlib

    facts = run([spec("a", "echo evidence")])
    assert facts["a"].sha256 == hashlib.sha256(b"evidence\n").hexdigest()


def test_output_without_header_is_a_frame_error():
    with pytest.raises(FrameError):
        parse_output(b"sudo: a password is required\n", [spec("a", "true")])


def test_output_cut_mid_frame_drops_only_the_unfinished_fact():
    specs = [spec("a", "echo one"), spec("b", "echo two")]
    script = build_script(specs)
    out = subprocess.run(["/bin/sh", "-c", script], capture_output=True, check=True).stdout
    cut = out[: out.index(b"BEGIN b") + 20]
    collected = parse_output(cut, specs)
    assert set(collected.facts) == {"a"} and not collected.complete


def test_large_scripts_are_compressed_under_the_argument_limit():
    specs = [spec(f"f{i}", f"echo {i} " + "x" * 200) for i in range(600)]
    command, _ = command_line(build_script(specs), Privilege())
    assert "gzip -dc" in command and len(command) < 128 * 1024
    out = subprocess.run(["/bin/sh", "-c", command], capture_output=True, check=True).stdout
    facts = parse_output(out, specs).facts
    assert facts["f599"].stdout.startswith(b"599 xxx")


def test_sudo_password_goes_to_stdin_never_the_command_line():
    command, stdin = command_line("true", Privilege("sudo", "s3cret"))
    assert "s3cret" not in command and stdin == b"s3cret\n"
    assert "s3cret" not in repr(Privilege("sudo", "s3cret"))
    assert command_line("true", Privilege("sudo"))[0].startswith("sudo -n ")
