"""Address features on the devnet, against values counted by hand from the node's raw blocks.

The raw JSON-RPC blocks and Transfer logs are walked in plain Python (no polars, no decoder) for a scam address, an
exchange deposit address and a trader; the feature frame computed from the indexed tables must agree.
"""

from __future__ import annotations

import pytest

from ops.chain.schema import TRANSFER_TOPIC as TRANSFER
from ops.fraud.features import address_features


@pytest.fixture(scope="module")
def devnet_chain(played_devnet):
    from assets.chain.indexing import index_range
    from resources.chain_rpc import ChainRPC

    server, truth = played_devnet
    backend = server.world.backend
    last = truth["last_block"]
    raw = [backend.call("eth_getBlockByNumber", [hex(n), True]) for n in range(last + 1)]
    transfers = backend.call("eth_getLogs", [{"fromBlock": "0x0", "toBlock": hex(last), "topics": [TRANSFER]}])
    with ChainRPC(server.url) as rpc:
        frames = index_range(rpc, 0, last)
    return truth, (raw, transfers), frames


def by_hand(raw: tuple[list[dict], list[dict]], address: str) -> dict[str, float]:
    raw_blocks, transfer_logs = raw
    word = "0x" + address[2:].rjust(64, "0")
    token_moves = [log for log in transfer_logs if len(log["topics"]) == 3 and word in log["topics"][1:]]
    sent = [t for b in raw_blocks for t in b["transactions"] if t["from"] == address and t["to"]]
    received = [t for b in raw_blocks for t in b["transactions"] if t["to"] == address]
    ether = lambda txs: sum(int(t["value"], 16) for t in txs) / 1e18
    return {
        "sent_tx": len(sent),
        "received_tx": len(received),
        "unique_received_from": len({t["from"] for t in received}),
        "unique_sent_to": len({t["to"] for t in sent}),
        "total_ether_received": ether(received),
        "total_ether_sent": ether(sent),
        "erc20_total_tx": len(token_moves),
    }


def test_features_match_hand_counts_for_scam_deposit_and_trader(devnet_chain):
    truth, raw, frames = devnet_chain
    scam = truth["scam_addresses"][0]["address"]
    deposit = truth["clusters"][0]["deposit_address"]
    trader = truth["accounts"]["traders"][0]
    features = address_features(frames.transactions, frames.token_transfers, frames.contracts,
                                addresses=[scam, deposit, trader])
    rows = {row["address"]: row for row in features.iter_rows(named=True)}
    for address in (scam, deposit, trader):
        expected = by_hand(raw, address)
        got = {name: rows[address][name] for name in expected}
        assert got == pytest.approx(expected, rel=1e-9), address
    # Not vacuous: the scam address did collect from several victims, the deposit address swept onwards.
    assert rows[scam]["received_tx"] + rows[scam]["erc20_total_tx"] >= 2
    assert rows[deposit]["sent_tx"] + rows[deposit]["erc20_total_tx"] >= 1


def test_the_devnet_folded_range_by_range_equals_one_full_computation(devnet_chain, settings):
    """The indexed devnet written and folded eight blocks at a time, as the incremental asset does."""
    import polars as pl

    from assets.fraud import feature_store
    from ops.fraud.feature_delta import COMPARED
    from resources.tables import CHAIN_TRANSACTIONS, CONTRACTS, TOKEN_TRANSFERS
    from resources.warehouse import Warehouse

    truth, _raw, frames = devnet_chain
    tables = [(CHAIN_TRANSACTIONS, frames.transactions), (TOKEN_TRANSFERS, frames.token_transfers),
              (CONTRACTS, frames.contracts)]
    wh = Warehouse(settings.resolved_warehouse_url)
    for start in range(0, truth["last_block"] + 1, 8):
        for spec, frame in tables:
            wh.upsert(spec, frame.filter(pl.col("block_number").is_between(start, start + 7)))
        if start == 0:
            feature_store.full(wh, None)
        else:
            feature_store.fold(wh, start, start + 7, None)
    folded = wh.read("address_features").select(COMPARED).sort("address")
    full = address_features(frames.transactions, frames.token_transfers, frames.contracts).select(COMPARED)
    assert folded.height > 20 and folded.equals(full.sort("address"))
    wh.dispose()
