"""`sextant contract analyze`: any argument gives JSON or a one-line error with exit code 2, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from orchestration.cli import app
from tests.intel.test_proxy_interpreter import RECORDS, code_of

TRANSPARENT = next(r for r in RECORDS if r["name"] == "OpenZeppelin TransparentUpgradeableProxy (creation)")


def run(*args: str):
    return CliRunner().invoke(app, ["contract", "analyze", *args])


def assert_bad(result, words: str) -> None:
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)  # a usage error, not a crash
    assert "Traceback" not in result.output
    assert words in " ".join(result.output.replace("│", " ").split())


def test_long_hex_creation_code_is_analysed_not_tried_as_a_file_name():
    hex_code = TRANSPARENT["hex"]
    assert len(hex_code) > 4096  # longer than any file name may be
    result = run(hex_code)
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["proxy"] == {"kind": "eip1967", "target": None, "slot": TRANSPARENT["slot"]}
    assert body["code_size"] == len(code_of(TRANSPARENT))
    assert run(hex_code[2:]).exit_code == 0  # without 0x too
    assert run("0x" + "60" * 200_000).exit_code == 0  # far beyond any path limit
    # Longer than a file name (255) but shorter than a path (4096): the length that used to crash.
    runtime = next(r for r in RECORDS if r["name"] == "OpenZeppelin ERC1967Proxy (runtime)")
    assert 255 < len(runtime["hex"]) < 4096
    result = run(runtime["hex"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["proxy"]["kind"] == "eip1967"


@pytest.mark.parametrize(
    ("argument", "words"),
    [
        ("", "no bytecode given"),
        ("   ", "no bytecode given"),
        ("0xabc", "odd number of digits"),
        ("0x" + "a" * 5001, "odd number of digits"),
        ("0xzz", "not hex, and no such file"),
        ("hello world", "not hex, and no such file"),
        ("/no/such/dir/code.bin", "not hex, and no such file"),
        ("0x60\x0060", "not hex, and no such file"),
        ("x" * 10_000, "not hex, and no such file"),
    ],
    ids=["empty", "blank", "odd", "long odd", "non-hex", "words", "missing file", "NUL", "long non-hex"],
)
def test_bad_arguments_are_one_line_errors(argument, words):
    assert_bad(run(argument), words)


def test_a_directory_an_empty_file_and_an_unreadable_file(tmp_path, monkeypatch):
    assert_bad(run(str(tmp_path)), "is a directory")
    empty = tmp_path / "empty.hex"
    empty.write_text("\n")
    assert_bad(run(str(empty)), "is empty")
    locked = tmp_path / "locked.bin"
    locked.write_bytes(b"\x00")
    real_read = Path.read_bytes

    def refuse(self: Path) -> bytes:
        if self == locked:
            raise PermissionError(13, "Permission denied")
        return real_read(self)

    monkeypatch.setattr(Path, "read_bytes", refuse)  # root reads any file; refuse like chmod 000 would
    assert_bad(run(str(locked)), "Permission denied")


def test_files_of_hex_text_and_of_raw_binary(tmp_path):
    text = tmp_path / "code.hex"
    hex_code = TRANSPARENT["hex"]
    text.write_text("\n".join(hex_code[i : i + 64] for i in range(0, len(hex_code), 64)) + "\n")  # wrapped lines
    body = json.loads(run(str(text)).stdout)
    assert body["proxy"]["kind"] == "eip1967"
    binary = tmp_path / "code.bin"
    binary.write_bytes(code_of(TRANSPARENT))
    assert json.loads(run(str(binary)).stdout) == body
    noise = tmp_path / "noise.bin"
    noise.write_bytes(bytes(range(256)) * 8)  # not a contract, but bytes are bytecode: analysed, no crash
    result = run(str(noise))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["code_size"] == 2048
