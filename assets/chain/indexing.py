"""One block range from the node into the five chain tables, piece by piece.

Fetching (the node client, resources/chain_rpc.py) and decoding (pure, ops/chain/decode.py) meet
here, in the step that indexes a range: the chain asset, the CLI's runs, tests and benchmarks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ops.chain.decode import ChainFrames
    from resources.chain_rpc import ChainRPC


def index_range(rpc: ChainRPC, start: int, end: int, *, step: int | None = None) -> ChainFrames:
    """Fetch blocks ``start..end`` (inclusive) and decode them into the five chain tables.

    Works through the range ``step`` blocks at a time (by default one batch per worker: every
    worker busy), decoding each piece before fetching the next, so the raw answers of a 1000-block
    mainnet range (gigabytes as Python dicts) are never all held at once. (Prefetching the next
    piece while decoding was measured: no faster, as both sides are CPU work under one GIL.)
    """
    from ops.chain.decode import ChainFrames, decode_range

    if end < start:
        raise ValueError(f"empty range {start}..{end}")
    step = step or rpc.batch_size * rpc.workers
    decoded = []
    for first in range(start, end + 1, step):
        raw = rpc.fetch_range(first, min(first + step - 1, end))
        decoded.append(decode_range(raw.blocks, raw.receipts, raw.codes))
        del raw
    return decoded[0] if len(decoded) == 1 else ChainFrames.concat(decoded)
