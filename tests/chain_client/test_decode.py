"""Decoding raw node answers (pure, no server) against ethereum-etl's export of mainnet blocks."""

from __future__ import annotations

import copy

import polars as pl
import pytest

from ops.chain.decode import DecodeError, decode_range, decode_token_transfers
from ops.chain.schema import TABLE_SCHEMAS, TRANSFER_TOPIC
from orchestration.simulator.replay import etl_export_to_raw
from tests.chain_client.etl_compare import mismatches


@pytest.fixture(scope="module")
def raw(etl_folder):
    return etl_export_to_raw(etl_folder)


def test_decoding_reproduces_ethereum_etl_column_by_column(raw, expected):
    blocks, receipts = raw
    frames = decode_range(blocks, receipts, {})

    assert frames.counts() == {
        "blocks": 2,
        "transactions": 298,
        "logs": 681,
        "token_transfers": 291,
        "contracts": 1,
    }
    assert mismatches(frames, expected) == []
    for name, (schema, key) in TABLE_SCHEMAS.items():
        frame = getattr(frames, name)
        assert frame.schema == pl.Schema(schema), name
        assert not frame.select(key).is_duplicated().any(), f"{name}: duplicate keys"


def test_extra_columns_agree_with_the_etl_ones(raw):
    frames = decode_range(*raw, {})
    logs = frames.logs
    rebuilt = logs.select(
        pl.concat_str(["topic0", "topic1", "topic2", "topic3"], separator=",", ignore_nulls=True).alias("t")
    )["t"].fill_null("")
    assert rebuilt.to_list() == logs["topics"].to_list()

    transfers = frames.token_transfers
    assert transfers["token_standard"].value_counts(sort=True).rows() == [("erc20", 282), ("erc721", 9)]
    nfts = transfers.filter(pl.col("token_standard") == "erc721")
    assert nfts["token_id"].to_list() == nfts["value"].to_list()
    assert transfers.filter(pl.col("token_standard") == "erc20")["token_id"].null_count() == 282


def test_receipts_may_come_as_a_list_per_block_in_any_transaction_order(raw):
    blocks, receipts = raw
    by_hash = decode_range(blocks, receipts, {})
    shuffled = [list(reversed(receipts[b["hash"]])) for b in blocks]
    by_position = decode_range(blocks, shuffled, {})
    reversed_blocks = decode_range(list(reversed(blocks)), list(reversed(shuffled)), {})
    for name in TABLE_SCHEMAS:
        assert getattr(by_position, name).equals(getattr(by_hash, name)), name
        assert getattr(reversed_blocks, name).equals(getattr(by_hash, name)), name


def test_a_missing_receipt_is_an_error_not_a_gap(raw):
    blocks, receipts = raw
    damaged = copy.deepcopy(receipts)
    victim = blocks[1]["hash"]
    dropped = damaged[victim].pop(7)
    with pytest.raises(
        DecodeError, match=f"block 17173050: no receipt for 1 of 182 .*{dropped['transactionHash']}"
    ):
        decode_range(blocks, damaged, {})


def test_empty_ranges_and_empty_blocks_give_typed_empty_tables():
    empty = decode_range([], {}, {})
    block = {
        "number": "0x5",
        "hash": "0x" + "11" * 32,
        "parentHash": "0x" + "22" * 32,
        "gasLimit": "0x1c9c380",
        "gasUsed": "0x0",
        "timestamp": "0x10",
        "transactions": [],
    }
    one_empty_block = decode_range([block], {}, {})
    for name, (schema, _) in TABLE_SCHEMAS.items():
        assert getattr(empty, name).schema == pl.Schema(schema), name
        assert getattr(one_empty_block, name).schema == pl.Schema(schema), name
    assert empty.counts() == dict.fromkeys(TABLE_SCHEMAS, 0)
    assert one_empty_block.blocks.select("number", "gas_limit", "transaction_count", "miner").row(0) == (
        5,
        30_000_000,
        0,
        None,
    )


def test_hash_only_blocks_are_refused(raw):
    blocks, _ = raw
    hash_only = [{**b, "transactions": [t["hash"] for t in b["transactions"]]} for b in blocks]
    with pytest.raises(DecodeError, match="full transaction objects"):
        decode_range(hash_only, [[] for _ in blocks], {})


def test_created_contracts_carry_the_code_that_was_fetched(raw, expected):
    blocks, receipts = raw
    creation = next(t for t in expected["transactions"] if t["receipt_contract_address"])
    address = creation["receipt_contract_address"]
    frames = decode_range(blocks, receipts, {address.upper().replace("0X", "0x"): "0x6080604052"})
    assert frames.contracts.rows(named=True) == [
        {
            "address": address,
            "bytecode": "0x6080604052",
            "block_number": creation["block_number"],
            "block_timestamp": creation["block_timestamp"],
            "block_hash": creation["block_hash"],
            "transaction_hash": creation["hash"],
            "creator_address": creation["from_address"],
        }
    ]


def _log(topics: list[str], data: str, index: int) -> dict:
    return {
        "log_index": index,
        "transaction_hash": "0x" + "ab" * 32,
        "transaction_index": 0,
        "address": "0x" + "11" * 20,
        "data": data,
        "topics": ",".join(topics),
        **{f"topic{i}": topics[i] if i < len(topics) else None for i in range(4)},
        "block_number": 1,
        "block_timestamp": 1_700_000_000,
        "block_hash": "0x" + "cd" * 32,
    }


def test_malformed_transfer_logs_are_skipped_and_big_values_survive():
    alice, bob = "0x" + "00" * 12 + "aa" * 20, "0x" + "00" * 12 + "bb" * 20
    huge = 2**256 - 1
    word = "0x" + format(huge, "064x")
    logs = pl.DataFrame(
        [
            _log([TRANSFER_TOPIC, alice, bob], word, 0),  # ERC-20, value beyond int64 and uint128
            _log([TRANSFER_TOPIC, alice, bob, "0x" + format(42, "064x")], "0x", 1),  # ERC-721 id 42
            _log([TRANSFER_TOPIC, alice, bob], "0x" + "00" * 31, 2),  # ERC-20 with a short data word
            _log([TRANSFER_TOPIC, alice, bob], word + "00" * 32, 3),  # ERC-20 with two data words
            _log([TRANSFER_TOPIC, alice, bob, "0x" + "00" * 32], word, 4),  # 4 topics plus data
            _log([TRANSFER_TOPIC, alice], word, 5),  # 2 topics
            _log([TRANSFER_TOPIC], word + word[2:] + word[2:], 6),  # unindexed (non-standard)
            _log(["0x" + "ee" * 32, alice, bob], word, 7),  # another event
            _log([TRANSFER_TOPIC, "0x1234", bob], word, 8),  # a topic that is not a word
        ]
    )
    transfers = decode_token_transfers(logs)
    assert transfers.select("log_index", "token_standard", "value", "token_id", "from_address").rows() == [
        (0, "erc20", str(huge), None, "0x" + "aa" * 20),
        (1, "erc721", "42", "42", "0x" + "aa" * 20),
    ]
