"""Chain assets: one fetch of a block range from the node feeds five tables.

chain_blocks, chain_transactions (with receipt fields), chain_logs, token_transfers, contracts

They are one multi-asset because one round of JSON-RPC calls yields all five; splitting them would
fetch every block five times. Each run replaces its range in every table in one transaction, so a
re-run (or a re-index after a reorg) leaves exactly the node's current rows: no duplicates, no
orphans. The decoding lives in `ops.chain.decode`, the range and hash-chain logic in
`ops.chain.ranges`; this module fetches, writes and reports.
"""

import dagster as dg
import polars as pl

from assets.chain.indexing import index_range
from assets.chain.partitions import CHAIN_RANGES, partition_range
from assets.chain.span import IndexedSpan, indexed_span
from ops.chain.ranges import BlockRange, continuity_breaks
from ops.reporting import markdown_table
from ops.stream.events import block_events
from resources.configurable import ChainRPCResource, WarehouseResource
from resources.stream_events import append_events
from resources.tables import CHAIN_BLOCKS, CHAIN_LOGS, CHAIN_TRANSACTIONS, CONTRACTS, TOKEN_TRANSFERS
from resources.warehouse import TableSpec, Warehouse

GROUP = "chain"
#: Asset name -> the warehouse table it publishes (the same name, so lineage and SQL agree).
CHAIN_TABLES: dict[str, TableSpec] = {
    "chain_blocks": CHAIN_BLOCKS,
    "chain_transactions": CHAIN_TRANSACTIONS,
    "chain_logs": CHAIN_LOGS,
    "token_transfers": TOKEN_TRANSFERS,
    "contracts": CONTRACTS,
}
DESCRIPTIONS = {
    "chain_blocks": "Block headers, one row per block (ethereum-etl `blocks` schema).",
    "chain_transactions": "Transactions with their receipt fields (ethereum-etl `transactions` schema).",
    "chain_logs": "Event logs of every receipt (ethereum-etl `logs` schema).",
    "token_transfers": "ERC-20 and ERC-721 Transfer events decoded from the logs.",
    "contracts": "Contracts created by a transaction of the range, with their runtime bytecode.",
}


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            name,
            group_name=GROUP,
            kinds={"ethereum", "sql"},
            partitions_def=CHAIN_RANGES,
            description=DESCRIPTIONS[name],
            deps=[] if name == "chain_blocks" else ["chain_blocks"],
        )
        for name in CHAIN_TABLES
    ],
    check_specs=[
        dg.AssetCheckSpec(
            "hash_chain_continuous",
            asset="chain_blocks",
            description="Every block's parent hash is the stored hash of the block before it, across the "
            "range and against the previous range. A break means a reorg: the sensor re-indexes.",
        ),
        dg.AssetCheckSpec(
            "range_complete",
            asset="chain_transactions",
            blocking=True,
            description="Every block of the range is stored and each block's transaction_count matches "
            "its stored transactions, each with a receipt.",
        ),
        dg.AssetCheckSpec(
            "span_has_no_gaps",
            asset="chain_blocks",
            description="Every block from the first known range to the newest stored block is stored. Missing "
            "ranges are listed; the new-block sensor re-indexes ranges whose run failed, with backoff.",
        ),
    ],
    can_subset=False,
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def chain_range(context: dg.AssetExecutionContext, chain_rpc: ChainRPCResource, warehouse: WarehouseResource):
    """Index one block range (or a backfill's span of ranges) from the configured JSON-RPC node."""

    block_range = partition_range(context)
    db = warehouse.client
    context.log.info(f"indexing blocks {block_range.start}-{block_range.end} from {chain_rpc.shown}")
    with chain_rpc.indexer(db) as rpc:  # what it learns about the node is kept in the warehouse
        frames = index_range(rpc, block_range.start, block_range.end)
    for level, notice in rpc.notices:
        context.log.log(level, notice)
    if frames.renumbered_blocks:
        shown = ", ".join(map(str, frames.renumbered_blocks[:10]))
        context.log.warning(
            f"the node's receipts number logs per transaction in {len(frames.renumbered_blocks)} block(s) "
            f"({shown}{', ...' if len(frames.renumbered_blocks) > 10 else ''}): renumbered in block order"
        )
    by_asset = {
        "chain_blocks": frames.blocks,
        "chain_transactions": frames.transactions,
        "chain_logs": frames.logs,
        "token_transfers": frames.token_transfers,
        "contracts": frames.contracts,
    }
    # The previous range's last block, read before this range's rows replace anything.
    previous_hash = _stored_hash(db, block_range.start - 1)
    for name, frame in by_asset.items():
        db.replace_range(CHAIN_TABLES[name], frame, "block_number" if name != "chain_blocks" else "number",
                         block_range.start, block_range.end + 1)
        context.log.info(f"{name}: {frame.height} rows for blocks {block_range.start}-{block_range.end}")
    # The live stream's `blocks` topic (a re-indexed range says its blocks again, with their new hashes).
    append_events(db, block_events(frames.blocks.iter_rows(named=True)))

    yield from _materializations(block_range, by_asset, len(frames.renumbered_blocks))
    yield _continuity_check(frames.blocks, previous_hash)
    yield _completeness_check(block_range, frames.blocks, frames.transactions)
    known = [BlockRange.parse(k) for k in context.instance.get_dynamic_partitions(CHAIN_RANGES.name)]
    yield _span_check(indexed_span(db, known))


def _stored_hash(db: Warehouse, number: int) -> str | None:
    if number < 0 or not db.has_table(CHAIN_BLOCKS.name):
        return None
    row = db.read(CHAIN_BLOCKS.name, {"number": number}, columns=["hash"], limit=1)
    return None if row.is_empty() else row["hash"][0]


def _materializations(block_range: BlockRange, by_asset: dict[str, pl.DataFrame], renumbered: int):
    blocks = by_asset["chain_blocks"]
    first_ts = int(blocks["timestamp"].min()) if blocks.height else None
    last_ts = int(blocks["timestamp"].max()) if blocks.height else None
    for name, frame in by_asset.items():
        metadata: dict[str, dg.MetadataValue] = {
            "rows": dg.MetadataValue.int(frame.height),
            "first_block": dg.MetadataValue.int(block_range.start),
            "last_block": dg.MetadataValue.int(block_range.end),
        }
        if name == "chain_blocks" and blocks.height:
            metadata["transactions_per_block"] = dg.MetadataValue.float(
                float(blocks["transaction_count"].mean())
            )
            metadata["first_timestamp"] = dg.MetadataValue.timestamp(float(first_ts))
            metadata["last_timestamp"] = dg.MetadataValue.timestamp(float(last_ts))
        if name == "chain_logs":
            metadata["blocks_with_logs_renumbered"] = dg.MetadataValue.int(renumbered)
        if name == "token_transfers" and frame.height:
            top = (
                frame.group_by("token_address")
                .len("transfers")
                .sort(["transfers", "token_address"], descending=[True, False])
                .head(10)
            )
            metadata["top_tokens"] = dg.MetadataValue.md(markdown_table(top))
        if name == "chain_transactions" and frame.height:
            failed = frame.filter(pl.col("receipt_status") == 0).height
            metadata["failed_transactions"] = dg.MetadataValue.int(failed)
        yield dg.MaterializeResult(asset_key=name, metadata=metadata)


def _continuity_check(blocks: pl.DataFrame, previous_hash: str | None) -> dg.AssetCheckResult:
    rows = blocks.sort("number").select("number", "hash", "parent_hash").iter_rows()
    breaks = continuity_breaks(rows, previous_hash)
    return dg.AssetCheckResult(
        asset_key="chain_blocks",
        check_name="hash_chain_continuous",
        passed=not breaks,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "breaks": dg.MetadataValue.int(len(breaks)),
            "checked_against_previous_range": dg.MetadataValue.bool(previous_hash is not None),
            "first_breaks": dg.MetadataValue.md("\n".join(f"- {b.describe()}" for b in breaks[:10]) or "none"),
        },
    )


def _completeness_check(
    block_range: BlockRange, blocks: pl.DataFrame, transactions: pl.DataFrame
) -> dg.AssetCheckResult:
    missing_blocks = block_range.size - blocks["number"].n_unique()
    declared = int(blocks["transaction_count"].sum()) if blocks.height else 0
    without_receipt = transactions.filter(pl.col("receipt_gas_used").is_null()).height
    return dg.AssetCheckResult(
        asset_key="chain_transactions",
        check_name="range_complete",
        passed=missing_blocks == 0 and declared == transactions.height and without_receipt == 0,
        metadata={
            "missing_blocks": dg.MetadataValue.int(missing_blocks),
            "declared_transactions": dg.MetadataValue.int(declared),
            "stored_transactions": dg.MetadataValue.int(transactions.height),
            "transactions_without_receipt": dg.MetadataValue.int(without_receipt),
        },
    )


def _span_check(span: IndexedSpan | None) -> dg.AssetCheckResult:
    gaps = span.gaps if span else ()
    listed = "\n".join(f"- blocks {g.start}-{g.end} ({g.size})" for g in gaps[:20])
    return dg.AssetCheckResult(
        asset_key="chain_blocks",
        check_name="span_has_no_gaps",
        passed=not gaps,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "span": dg.MetadataValue.text(f"{span.start}-{span.end}" if span else "nothing stored"),
            "stored_blocks": dg.MetadataValue.int(span.stored if span else 0),
            "missing_blocks": dg.MetadataValue.int(span.missing if span else 0),
            "missing_ranges": dg.MetadataValue.md(
                (listed + ("\n- ..." if len(gaps) > 20 else "")) if gaps else "none"
            ),
        },
    )


CHAIN_ASSETS = [chain_range]
