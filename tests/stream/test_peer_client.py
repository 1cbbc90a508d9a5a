"""The stream with a WebSocket client written elsewhere: wscat (Node.js `ws`), from tests/peers.

What a person at a terminal would type: connect with the bearer header, send a subscription with a
cursor, read the MEV events that assets appended (the ones before the cursor not repeated), and
be refused with the close code the protocol documents when the token lacks the scope.
"""

from __future__ import annotations

import json
import os
import pty
import select
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from ops.stream import protocol as p
from ops.stream.events import mev_events
from tests.stream.conftest import publish, serving, stream_settings, strip_scopes, token

WSCAT = Path(__file__).resolve().parents[1] / "peers" / "node_modules" / ".bin" / "wscat"


@pytest.fixture(scope="module")
def wscat() -> str:
    if not (WSCAT.exists() and shutil.which("node")):
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"{WSCAT} is required under CI (make peers)")
        pytest.skip("wscat not installed (make peers)")
    return str(WSCAT)


def sandwich(block: int) -> dict:
    return {"block_number": block, "pool": "0x" + "01" * 20, "attacker": "0x" + "be" * 20,
            "front_transaction_hash": f"0x{block:064x}", "profit": 1.5e18}  # fmt: skip


def run_wscat(binary: str, url: str, bearer: str, message: dict, wait: float = 3.0) -> str:
    """wscat as a person uses it, in a terminal (a pseudo-terminal here: without one it prints no
    control lines such as the close code): `wscat --no-color -c URL -H 'Authorization: Bearer T'`,
    the message typed once it says "Connected", then WAIT seconds of what it prints."""
    command = [binary, "--no-color", "-c", url, "-H", f"Authorization: Bearer {bearer}"]
    master, terminal = pty.openpty()
    child = subprocess.Popen(command, stdin=terminal, stdout=terminal, stderr=terminal, close_fds=True)
    os.close(terminal)
    said = b""

    def read_for(seconds: float, until: bytes | None = None) -> None:
        nonlocal said
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not (until and until in said):
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    said += os.read(master, 65536)
                except OSError:  # the child closed the terminal
                    return

    try:
        read_for(20, until=b"Connected")
        if b"Connected" in said:
            os.write(master, json.dumps(message).encode() + b"\r")
            read_for(wait, until=b"Disconnected")
    finally:
        child.kill()
        child.wait(timeout=10)
        os.close(master)
    return said.decode(errors="replace")


def frames(output: str) -> list[dict]:
    """The JSON messages wscat printed as received ("< {...}", after any prompt)."""
    decoder, out = json.JSONDecoder(), []
    for line in output.splitlines():
        start = line.find("< {")
        if start >= 0:  # the prompt and terminal codes may follow on the same line
            out.append(decoder.raw_decode(line, start + 2)[0])
    return out


def test_wscat_subscribes_and_reads_mev_events_from_a_cursor(wscat, tmp_path, warehouse_url, warehouse):
    first = publish(warehouse, mev_events("sandwich", [sandwich(100)], ["block_number", "front_transaction_hash"]))
    publish(warehouse, mev_events("sandwich", [sandwich(101), sandwich(102)], ["block_number", "front_transaction_hash"]))
    bearer = token(warehouse)
    with serving(stream_settings(tmp_path, warehouse_url), warehouse) as (url, _app):
        started = time.monotonic()
        said = run_wscat(wscat, url, bearer, {"type": "subscribe", "topics": ["mev"], "cursor": first[-1]})
        assert time.monotonic() - started < 40
    got = frames(said)
    assert got and got[0]["type"] == "subscribed" and got[0]["topics"] == ["mev"], said
    events = [f for f in got if f["type"] == "event"]
    assert [e["data"]["block_number"] for e in events] == [101, 102]  # after the cursor only, in order
    assert all(e["topic"] == "mev" and e["data"]["kind"] == "sandwich" for e in events)
    assert events[0]["cursor"] > first[-1]


def test_wscat_without_the_read_scope_is_closed_with_4403(wscat, tmp_path, warehouse_url, warehouse):
    bearer = token(warehouse, client_id="scopeless")
    strip_scopes(warehouse, bearer)
    with serving(stream_settings(tmp_path, warehouse_url), warehouse) as (url, _app):
        said = run_wscat(wscat, url, bearer, {"type": "subscribe", "topics": ["mev"]}, wait=1)
    assert f"Disconnected (code: {p.CLOSE_FORBIDDEN}" in said and "missing scope 'read'" in said, said
    assert not [f for f in frames(said) if f.get("type") == "event"]
