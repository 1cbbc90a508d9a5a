"""What the node says about tokens and pools: `token0()`/`token1()` of a pool, a token's `symbol()`.

The MEV assets need them for swaps whose pools the chain tables do not describe, and to know which
token is wrapped ether (profits in it net against gas). Calls are batched and optional: a node
that cannot answer leaves those swaps or profits for later, with a warning through `warn`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ops.intel.mev import MAINNET_WETH

if TYPE_CHECKING:
    from resources.chain_rpc import ChainRPC

TOKEN0_CALL, TOKEN1_CALL = "0x0dfe1681", "0xd21220a7"
SYMBOL_CALL = "0x95d89b41"
#: token address -> symbol() answer (None: no answer), per node URL: symbols do not change.
_SYMBOLS: dict[tuple[str, str], str | None] = {}


def pool_tokens(client: ChainRPC, pools: list[str], warn: Callable[[str], None]) -> dict[str, tuple[str, str]]:
    """token0()/token1() of each pool from the node; pools it cannot answer for are left out."""
    from ops.intel.proxy import word_to_address

    found: dict[str, tuple[str, str]] = {}
    if not pools:
        return found
    try:
        calls = [("eth_call", [{"to": p, "data": sel}, "latest"]) for p in pools for sel in (TOKEN0_CALL, TOKEN1_CALL)]
        answers = client.call_batch(calls, require=False)
    except Exception as exc:  # noqa: BLE001 - the node is optional here: swaps of those pools wait
        warn(f"pool tokens of {len(pools)} pool(s) unavailable from the node: {exc}")
        return found
    for i, pool in enumerate(pools):
        t0, t1 = (word_to_address(a) if isinstance(a, str) else None for a in answers[2 * i : 2 * i + 2])
        if t0 and t1:
            found[pool] = (t0, t1)
    return found


def native_tokens(client: ChainRPC, endpoint: str, tokens: set[str], warn: Callable[[str], None]) -> set[str]:
    """Wrapped ether among `tokens`: mainnet's WETH, and any token whose symbol() is WETH.

    A token can call itself anything: this only decides which profits can be netted against gas
    exactly (the wei amounts are reported whatever it says).
    """
    from eth_abi import decode

    native = {MAINNET_WETH}
    todo = sorted(t for t in tokens if (endpoint, t) not in _SYMBOLS and t != MAINNET_WETH)
    if todo:
        try:
            answers = client.call_batch(
                [("eth_call", [{"to": t, "data": SYMBOL_CALL}, "latest"]) for t in todo], require=False)
        except Exception as exc:  # noqa: BLE001 - without symbols only mainnet WETH nets against gas
            warn(f"token symbols unavailable from the node: {exc}")
            answers = [None] * len(todo)
        for token, answer in zip(todo, answers, strict=True):
            symbol = None
            if isinstance(answer, str) and len(answer) > 2:
                try:
                    symbol = decode(["string"], bytes.fromhex(answer[2:]))[0]
                except Exception:  # noqa: BLE001 - a bytes32 symbol or no symbol at all
                    symbol = None
            _SYMBOLS[(endpoint, token)] = symbol
    return native | {t for t in tokens if _SYMBOLS.get((endpoint, t)) == "WETH"}
