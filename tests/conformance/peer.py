"""Independent node implementations for the indexer's conformance tests: Hardhat Network and Ganache.

Both are installed from npm into ``tests/peers`` (``make peers``: ``npm ci --prefix tests/peers``,
exact versions pinned in its package-lock.json). ``PeerNode`` starts one on 127.0.0.1 in a process
group of its own, waits until ``eth_chainId`` answers, and kills the whole group on ``stop``.
``rpc`` is a plain JSON-RPC call with ``requests``: the tests read the node's truth with it,
independently of the indexer's client. Both nodes derive their funded, unlocked accounts from the
same mnemonic (Hardhat's default), so ``eth_accounts`` is the same list on each.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

PEERS_DIR = Path(__file__).resolve().parents[1] / "peers"
BIN_DIR = PEERS_DIR / "node_modules" / ".bin"
INSTALL_HINT = "run `make peers` (npm ci --prefix tests/peers) with Node.js >= 20 installed"
#: Hardhat's default mnemonic; Ganache is given it too.
MNEMONIC = "test test test test test test test test test test test junk"
CHAIN_ID = 31337


def _command(name: str, port: int) -> list[str]:
    if name == "hardhat":
        return [str(BIN_DIR / "hardhat"), "node", "--hostname", "127.0.0.1", "--port", str(port)]
    if name == "ganache":
        return [
            str(BIN_DIR / "ganache"),
            "--server.host", "127.0.0.1",
            "--server.port", str(port),
            "--server.ws", "false",
            "--chain.chainId", str(CHAIN_ID),
            "--wallet.mnemonic", MNEMONIC,
            "--miner.instamine", "strict",  # a hash comes back at once, also while mining is stopped
            "--logging.quiet",
        ]
    raise ValueError(f"unknown peer node {name!r}")


PEERS = ("hardhat", "ganache")


class NodeRPCError(RuntimeError):
    """The node answered a JSON-RPC error object."""

    def __init__(self, method: str, error: dict[str, Any]) -> None:
        super().__init__(f"{method}: {error.get('message')} (code {error.get('code')})")
        self.method = method
        self.code = error.get("code")
        self.message = error.get("message")
        self.error = error


def missing_prerequisite(name: str) -> str | None:
    """Why the peer node ``name`` cannot start here (None when it can)."""
    if shutil.which("node") is None:
        return f"Node.js (`node`) not on PATH; {INSTALL_HINT}"
    if not (BIN_DIR / name).exists():
        return f"{name} not installed in {PEERS_DIR / 'node_modules'}; {INSTALL_HINT}"
    return None


def package_version(name: str) -> str:
    import json

    return json.loads((PEERS_DIR / "node_modules" / name / "package.json").read_text())["version"]


class PeerNode:
    """Peer node ``name`` on 127.0.0.1:``port``; its output goes to ``log_path`` (read it when it fails)."""

    def __init__(self, name: str, port: int) -> None:
        self.name = name
        self.command = _command(name, port)
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = Path(tempfile.mkstemp(prefix=f"{name}-node-", suffix=".log")[1])
        self._session = requests.Session()
        self._ids = 0

    def __repr__(self) -> str:
        return f"PeerNode({self.name} {package_version(self.name)} at {self.url})"

    def start(self, timeout: float = 60.0) -> None:
        assert self.process is None, "already running"
        env = dict(os.environ, HARDHAT_DISABLE_TELEMETRY_PROMPT="true", NO_COLOR="1")
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                self.command,
                cwd=PEERS_DIR,  # where hardhat.config.js is
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # its own process group: stop() kills node and anything it spawned
            )
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                code = self.process.returncode
                self.process = None
                raise RuntimeError(f"{self.name} exited with {code}: {self.log_tail()}")
            try:
                self.rpc("eth_chainId")
                return
            except (requests.RequestException, NodeRPCError):
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"{self.name} did not answer in {timeout} s: {self.log_tail()}") from None
                time.sleep(0.1)

    def stop(self) -> None:
        self._session.close()
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=10)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    # --- mining control (the two nodes name it differently) -----------------------------------

    def pause_mining(self) -> None:
        """Transactions sent from now on wait in the pool until ``mine``."""
        if self.name == "hardhat":
            self.rpc("evm_setAutomine", False)
        else:
            self.rpc("miner_stop")

    def resume_mining(self) -> None:
        if self.name == "hardhat":
            self.rpc("evm_setAutomine", True)
        else:
            self.rpc("miner_start")

    def mine(self) -> None:
        self.rpc("evm_mine")

    # --- plain JSON-RPC -----------------------------------------------------------------------

    def raw(self, method: str, *params: Any) -> dict[str, Any]:
        """The whole answer object (result or error)."""
        self._ids += 1
        body = {"jsonrpc": "2.0", "id": self._ids, "method": method, "params": list(params)}
        response = self._session.post(self.url, json=body, timeout=30)
        response.raise_for_status()
        return response.json()

    def rpc(self, method: str, *params: Any) -> Any:
        answer = self.raw(method, *params)
        if "error" in answer:
            raise NodeRPCError(method, answer["error"])
        return answer["result"]

    def head(self) -> int:
        return int(self.rpc("eth_blockNumber"), 16)
