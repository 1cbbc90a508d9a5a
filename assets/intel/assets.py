"""Chain-intelligence assets: thin wiring from the chain tables, through `ops.intel`, to the warehouse.

dex_swaps -> mev_sandwiches, mev_arbitrages (block ranges); contract_analysis (block ranges);
wallet_clusters (unpartitioned: folds the blocks indexed since its last run into persisted state)

The range assets use the chain's own `chain_ranges` partitions and re-materialize eagerly when the
chain assets of their range update, so a re-indexed range (a reorg) flows through on its own.
Pool tokens are looked up once and cached in `dex_pools`: derived from the Transfer logs of the
swaps' transactions where possible, asked of the node (token0()/token1()) otherwise.
"""

import dagster as dg
import polars as pl

from assets.chain.partitions import CHAIN_RANGES, partition_range
from assets.intel.cluster_store import history, load_state, read_by, reset_state, save_state
from assets.intel.ground_truth import GroundTruthConfig, load_truth, phishing_check, sandwich_check
from ops.intel.clusters import (
    APPROVAL_TOPIC,
    TRANSFER_COLUMNS,
    approval_collectors,
    approval_links,
    behaviour_clusters,
    behaviour_features,
    link_assignment,
    native_transfers,
)
from ops.intel.contracts import analysis_frame, analysis_row, analyze
from ops.intel.mev import (
    ARBITRAGE_KEY,
    ROUTER_LOOKBACK_BLOCKS,
    SANDWICH_KEY,
    bundle_costs,
    detect_arbitrages,
    detect_sandwiches,
    find_routers,
    routers_in,
)
from ops.intel.proxy import resolve_implementation
from ops.intel.swaps import (
    SWAP_TOPICS,
    decode_swaps,
    pool_protocols,
    pool_tokens_from_transfers,
    pools_frame,
    swap_logs,
)
from ops.reporting import markdown_table
from ops.stream.events import mev_events
from resources.configurable import ChainRPCResource, WarehouseResource
from resources.stream_events import append_events
from resources.tables import (
    CHAIN_BLOCKS,
    CHAIN_LOGS,
    CHAIN_TRANSACTIONS,
    CONTRACT_ANALYSIS,
    CONTRACTS,
    DEX_POOLS,
    DEX_SWAPS,
    MEV_ARBITRAGES,
    MEV_SANDWICHES,
    TOKEN_TRANSFERS,
    WALLET_CLUSTERS,
    WALLET_LINKS,
)
from resources.token_metadata import native_tokens, pool_tokens
from resources.warehouse import Warehouse

GROUP = "chain_intel"
EAGER = dg.AutomationCondition.eager()
#: wallet_clusters reads every range, and the new-block sensor adds one every few seconds on a live
#: devnet: plain eager waits for "no dependency partition missing or in progress", which never holds
#: while the chain grows, so the clusters were never built. It runs after any update instead.
EAGER_OVER_ALL_RANGES = EAGER.without(~dg.AutomationCondition.any_deps_missing()).without(
    ~dg.AutomationCondition.any_deps_in_progress()
)
def _read_range(db: Warehouse, name: str, start: int, end: int, **where) -> pl.DataFrame:
    if not db.has_table(name):
        return pl.DataFrame()
    return db.read(name, where or None, ranges={"block_number": (start, end + 1)})


@dg.asset(
    group_name=GROUP,
    partitions_def=CHAIN_RANGES,
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=["chain_logs", "token_transfers", "chain_transactions"],
    kinds={"polars", "sql"},
    automation_condition=EAGER,
    check_specs=[
        dg.AssetCheckSpec(
            "every_swap_decoded",
            asset="dex_swaps",
            description="Every Uniswap V2/V3 Swap log of the range became a swap row (its pool's tokens are known).",
        )
    ],
)
def dex_swaps(context: dg.AssetExecutionContext, warehouse: WarehouseResource, chain_rpc: ChainRPCResource):
    """Uniswap V2 and V3 Swap logs decoded into token in/out, amounts, sender, recipient, pool and position."""
    db = warehouse.client
    rng = partition_range(context)
    logs = _read_range(db, CHAIN_LOGS.name, rng.start, rng.end, topic0=list(SWAP_TOPICS))
    raw = swap_logs(logs) if logs.height else logs
    pools = sorted(set(raw["address"].str.to_lowercase().to_list())) if raw.height else []
    cached = db.read(DEX_POOLS.name, {"pool": pools}) if pools and db.has_table(DEX_POOLS.name) else pl.DataFrame()
    tokens = {p: (t0, t1) for p, t0, t1 in cached.select("pool", "token0", "token1").iter_rows()} if cached.height else {}
    missing = [p for p in pools if p not in tokens]
    new: dict[str, tuple[str, str]] = {}
    if missing:
        txs = raw.filter(pl.col("address").str.to_lowercase().is_in(missing))["transaction_hash"].unique().to_list()
        transfers = (
            db.read(TOKEN_TRANSFERS.name, {"transaction_hash": txs}) if db.has_table(TOKEN_TRANSFERS.name) else pl.DataFrame()
        )
        derived = pool_tokens_from_transfers(raw, transfers) if transfers.height else {}
        new.update({p: t for p, t in derived.items() if p in missing})
        from_node = pool_tokens(chain_rpc.client, [p for p in missing if p not in new], context.log.warning)
        protocols = pool_protocols(raw)
        if new:
            db.upsert(DEX_POOLS, pools_frame(new, protocols, "transfers"))
        if from_node:
            db.upsert(DEX_POOLS, pools_frame(from_node, protocols, "rpc"))
        new.update(from_node)
    tokens.update(new)
    txs_frame = _read_range(db, CHAIN_TRANSACTIONS.name, rng.start, rng.end)
    tx_from = dict(txs_frame.select("hash", "from_address").iter_rows()) if txs_frame.height else {}
    swaps = decode_swaps(raw, tokens, tx_from) if raw.height else decode_swaps(pl.DataFrame(schema={
        "topic0": pl.Utf8, "block_number": pl.Int64, "log_index": pl.Int64}), {}, {})
    db.replace_range(DEX_SWAPS, swaps, "block_number", rng.start, rng.end + 1)
    context.log.info(f"dex_swaps {rng.key}: {swaps.height} swaps of {raw.height} Swap logs, {len(new)} new pool(s)")
    by_protocol = swaps.group_by("protocol").len().sort("protocol") if swaps.height else swaps
    return dg.MaterializeResult(
        metadata={
            "rows": dg.MetadataValue.int(swaps.height),
            "swap_logs": dg.MetadataValue.int(raw.height),
            "pools": dg.MetadataValue.int(len(pools)),
            "new_pools_cached": dg.MetadataValue.int(len(new)),
            "by_protocol": dg.MetadataValue.md(markdown_table(by_protocol) if swaps.height else "none"),
            "preview": dg.MetadataValue.md(markdown_table(swaps.head(10)) if swaps.height else "none"),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="every_swap_decoded",
                passed=swaps.height == raw.height,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={"undecoded": dg.MetadataValue.int(raw.height - swaps.height),
                          "pools_without_tokens": dg.MetadataValue.int(len([p for p in pools if p not in tokens]))},
            )
        ],
    )


@dg.multi_asset(
    specs=[
        dg.AssetSpec("mev_sandwiches", group_name=GROUP, deps=["dex_swaps"], kinds={"polars", "sql"},
                     partitions_def=CHAIN_RANGES, automation_condition=EAGER,
                     description="Sandwiches: front-run, victims, back-run by one actor on one pool in one block."),
        dg.AssetSpec("mev_arbitrages", group_name=GROUP, deps=["dex_swaps"], kinds={"polars", "sql"},
                     partitions_def=CHAIN_RANGES, automation_condition=EAGER,
                     description="Profitable swap cycles through distinct pools inside one transaction."),
    ],
    check_specs=[
        dg.AssetCheckSpec(
            "sandwich_shape",
            asset="mev_sandwiches",
            blocking=True,
            description="Every sandwich has a victim and its front-run comes before its back-run in the block.",
        ),
        dg.AssetCheckSpec(
            "planted_sandwiches_found",
            asset="mev_sandwiches",
            description="Recall per planted case kind (hard cases included) and precision against the devnet's "
            "ground truth, with Wilson 95 % intervals, beside a naive A-B-A rule and mev-inspect-py's rule.",
        ),
    ],
    backfill_policy=dg.BackfillPolicy.single_run(),
    name="mev",
)
def mev(context: dg.AssetExecutionContext, config: GroundTruthConfig, warehouse: WarehouseResource,
        chain_rpc: ChainRPCResource):
    """Run both MEV detectors over the range's swaps (one read, two tables), with what each bundle paid:
    gas and coinbase payments from the range's transactions, net profit where it converts."""
    db = warehouse.client
    rng = partition_range(context)
    # Routers are told from the range and the blocks before it: a short range at the head alone
    # shows a router relaying for too few people to be known as one.
    recent = _read_range(db, DEX_SWAPS.name, max(0, rng.start - ROUTER_LOOKBACK_BLOCKS), rng.end)
    if recent.is_empty():
        from ops.intel.swaps import SWAP_SCHEMA

        recent = pl.DataFrame(schema=SWAP_SCHEMA)
    swaps = recent.filter(pl.col("block_number") >= rng.start)
    sandwiches = detect_sandwiches(swaps, routers=routers_in(recent))
    arbitrages = detect_arbitrages(swaps)
    transactions = _read_range(db, CHAIN_TRANSACTIONS.name, rng.start, rng.end)
    blocks = db.read(CHAIN_BLOCKS.name, ranges={"number": (rng.start, rng.end + 1)}, columns=["number", "miner"]) \
        if db.has_table(CHAIN_BLOCKS.name) else pl.DataFrame()
    if transactions.height and (sandwiches.height or arbitrages.height):
        tokens = set(sandwiches["token_front_in"].to_list() + sandwiches["token_front_out"].to_list()
                     + arbitrages["start_token"].to_list())
        sandwiches, arbitrages = bundle_costs(sandwiches, arbitrages, transactions, blocks,
                                              native_tokens(chain_rpc.client, chain_rpc.endpoint, tokens, context.log.warning))
    db.replace_range(MEV_SANDWICHES, sandwiches, "block_number", rng.start, rng.end + 1)
    db.replace_range(MEV_ARBITRAGES, arbitrages, "block_number", rng.start, rng.end + 1)
    # Live stream: a re-run of a range says its detections again under the same keys.
    append_events(db, mev_events("sandwich", sandwiches.iter_rows(named=True), SANDWICH_KEY)
                  + mev_events("arbitrage", arbitrages.iter_rows(named=True), ARBITRAGE_KEY))  # fmt: skip
    context.log.info(f"mev {rng.key}: {sandwiches.height} sandwiches, {arbitrages.height} arbitrages in {swaps.height} swaps")
    yield dg.MaterializeResult(
        asset_key="mev_sandwiches",
        metadata={
            "rows": dg.MetadataValue.int(sandwiches.height),
            "swaps_scanned": dg.MetadataValue.int(swaps.height),
            "victims": dg.MetadataValue.int(int(sandwiches["victim_count"].sum()) if sandwiches.height else 0),
            "attackers": dg.MetadataValue.int(sandwiches["attacker"].n_unique() if sandwiches.height else 0),
            **_profit_metadata(sandwiches),
            "preview": dg.MetadataValue.md(markdown_table(sandwiches.select(
                "block_number", "pool", "attacker", "victim_count", "token_front_in", "profit", "profit_mev_inspect",
                "gas_cost_wei", "coinbase_transfer_wei", "net_profit").head(10))
                if sandwiches.height else "none"),
        },
    )
    yield dg.MaterializeResult(
        asset_key="mev_arbitrages",
        metadata={
            "rows": dg.MetadataValue.int(arbitrages.height),
            "by_hops": dg.MetadataValue.md(markdown_table(arbitrages.group_by("hops").len().sort("hops"))
                                           if arbitrages.height else "none"),
            **_profit_metadata(arbitrages),
            "preview": dg.MetadataValue.md(markdown_table(arbitrages.select(
                "block_number", "transaction_hash", "hops", "start_token", "profit", "gas_cost_wei",
                "coinbase_transfer_wei", "net_profit").head(10))
                if arbitrages.height else "none"),
        },
    )
    bad = sandwiches.filter(
        (pl.col("victim_count") < 1) | (pl.col("front_transaction_index") >= pl.col("back_transaction_index"))
    )
    yield dg.AssetCheckResult(
        asset_key="mev_sandwiches", check_name="sandwich_shape", passed=bad.is_empty(),
        metadata={"malformed": dg.MetadataValue.int(bad.height)},
    )
    truth, where = load_truth(config)
    indexed = set(transactions["hash"].to_list()) if transactions.height else set()
    yield sandwich_check(truth, where, (rng.start, rng.end), swaps, sandwiches, indexed)


def _profit_metadata(frame: pl.DataFrame) -> dict[str, dg.MetadataValue]:
    """Totals in wei of what the bundles paid, and how many nets could be worked out."""
    if frame.is_empty():
        return {}
    return {
        "gas_cost_wei_total": dg.MetadataValue.float(float(frame["gas_cost_wei"].fill_null(0).sum())),
        "coinbase_transfer_wei_total": dg.MetadataValue.float(float(frame["coinbase_transfer_wei"].fill_null(0).sum())),
        "net_profit_known": dg.MetadataValue.int(frame.filter(pl.col("net_profit").is_not_null()).height),
        "net_negative": dg.MetadataValue.int(frame.filter(pl.col("net_profit") < 0).height),
    }


@dg.asset(
    group_name=GROUP,
    partitions_def=CHAIN_RANGES,
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=["contracts"],
    kinds={"ethereum", "sql"},
    automation_condition=EAGER,
    check_specs=[
        dg.AssetCheckSpec(
            "proxies_resolved",
            asset="contract_analysis",
            description="Every proxy found in the range has its implementation address resolved from storage.",
        )
    ],
)
def contract_analysis(context: dg.AssetExecutionContext, warehouse: WarehouseResource, chain_rpc: ChainRPCResource):
    """Selectors with state mutability, risk flags, interfaces, compiler and proxy kind of every new contract.

    Proxies are resolved with eth_getStorageAt (and the beacon's implementation() call); an
    implementation the range did not create is fetched with eth_getCode and analysed too.
    """
    db = warehouse.client
    rng = partition_range(context)
    contracts = _read_range(db, CONTRACTS.name, rng.start, rng.end)
    rows, unresolved, implementations = [], 0, set()
    for address, code, block in (contracts.select("address", "bytecode", "block_number").iter_rows() if contracts.height else ()):
        result = analyze(code or "0x")
        implementation = beacon = None
        if result.proxy.is_proxy:
            try:
                implementation, beacon = resolve_implementation(
                    address, result.proxy,
                    lambda a, s: chain_rpc.client.get_storage_at(a, s),
                    lambda a, d: chain_rpc.client.call("eth_call", [{"to": a, "data": d}, "latest"]),
                )
            except Exception as exc:  # noqa: BLE001 - report the proxy unresolved rather than fail the range
                context.log.warning(f"could not resolve the proxy at {address}: {exc}")
            unresolved += implementation is None
            if implementation:
                implementations.add(implementation)
        rows.append(analysis_row(address, result, block_number=block, implementation=implementation, beacon=beacon))
    known = {r["address"] for r in rows}
    if implementations - known and db.has_table(CONTRACTS.name):
        stored = db.read(CONTRACTS.name, {"address": sorted(implementations - known)}, columns=["address", "bytecode"])
        codes = dict(stored.iter_rows())
    else:
        codes = {}
    for implementation in sorted(implementations - known):
        code = codes.get(implementation)
        if code is None:
            try:
                code = chain_rpc.client.get_code(implementation)
            except Exception as exc:  # noqa: BLE001
                context.log.warning(f"could not fetch the implementation {implementation}: {exc}")
                continue
        rows.append(analysis_row(implementation, analyze(code), analysed_as="implementation"))
    frame = analysis_frame(rows)
    db.upsert(CONTRACT_ANALYSIS, frame)
    context.log.info(f"contract_analysis {rng.key}: {frame.height} contracts, {int(frame['risky'].sum() or 0)} risky")
    return dg.MaterializeResult(
        metadata={
            "rows": dg.MetadataValue.int(frame.height),
            "proxies": dg.MetadataValue.int(frame.filter(pl.col("proxy_kind").is_not_null()).height),
            "risky": dg.MetadataValue.int(frame.filter(pl.col("risky")).height),
            "preview": dg.MetadataValue.md(markdown_table(frame.select(
                "address", "analysed_as", "proxy_kind", "implementation", "interfaces", "compiler", "risk_reasons"))
                if frame.height else "none"),
        },
        check_results=[
            dg.AssetCheckResult(check_name="proxies_resolved", passed=unresolved == 0,
                                severity=dg.AssetCheckSeverity.WARN,
                                metadata={"unresolved": dg.MetadataValue.int(unresolved)})
        ],
    )


class ClustersConfig(GroundTruthConfig):
    """`full`: forget the folded state and fold the whole history again (after a reorg inside folded
    blocks, or when an address left the excluded set)."""

    full: bool = False


def _fold_span(db: Warehouse, start: int, end: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(token + native transfers, Approval logs) of blocks start..end, read by block range."""
    columns = list(TRANSFER_COLUMNS)
    parts = []
    transfers = _read_range(db, TOKEN_TRANSFERS.name, start, end)
    if transfers.height:
        parts.append(transfers.select(columns))
    transactions = _read_range(db, CHAIN_TRANSACTIONS.name, start, end)
    if transactions.height:
        parts.append(native_transfers(transactions))
    moves = pl.concat(parts) if parts else pl.DataFrame(
        schema={c: (pl.Int64 if c == "block_number" else pl.Utf8) for c in columns})
    logs = _read_range(db, CHAIN_LOGS.name, start, end, topic0=APPROVAL_TOPIC)
    return moves, logs


@dg.asset(
    name="wallet_clusters",
    group_name=GROUP,
    deps=["token_transfers", "chain_logs", "chain_transactions", "contracts", "dex_swaps"],
    kinds={"polars", "sql"},
    automation_condition=EAGER_OVER_ALL_RANGES,
    check_specs=[
        dg.AssetCheckSpec(
            "one_cluster_per_address",
            asset="wallet_clusters",
            blocking=True,
            description="Every address is in exactly one cluster and each cluster's size matches its members "
            "(over the clusters this run rebuilt).",
        ),
        dg.AssetCheckSpec(
            "no_false_merges_on_approvals",
            asset="wallet_clusters",
            description="No planted phishing victim is in its scammer's cluster (approving a scammer does not "
            "make one the scammer); scored against the devnet's ground truth.",
        ),
    ],
)
def wallet_clusters_asset(context: dg.AssetExecutionContext, config: ClustersConfig, warehouse: WarehouseResource):
    """Wallet clusters, folded in incrementally: the blocks indexed since the last run (a cursor) are read by
    block range, the state and history of the addresses they touch by address, and only the rebuilt cluster
    rows are written (deposit-address reuse and self-authorization joined by union-find, ids from the
    smallest member; HDBSCAN behaviour context over the rebuilt addresses). Equal to the full recomputation."""
    db = warehouse.client
    if config.full:
        reset_state(db)
    state, folded_to = load_state(db)
    tops = [db.aggregate(name, last=("max", column)).get("last") for name, column in (
        (CHAIN_BLOCKS.name, "number"), (TOKEN_TRANSFERS.name, "block_number"), (CHAIN_TRANSACTIONS.name, "block_number"))
        if db.has_table(name)]
    last = max([int(t) for t in tops if t is not None], default=folded_to)
    contracts = set(db.read(CONTRACTS.name, columns=["address"])["address"].to_list()) if db.has_table(CONTRACTS.name) else set()
    swaps = (db.read(DEX_SWAPS.name, columns=["pool", "sender", "tx_from", "recipient"])
             if db.has_table(DEX_SWAPS.name) else pl.DataFrame())
    service = set(swaps["pool"].unique().to_list()) | find_routers(swaps) if swaps.height else set()
    moves, logs = _fold_span(db, folded_to + 1, last) if last > folded_to else (pl.DataFrame(), pl.DataFrame())
    try:
        rebuilt = state.add_range(moves, logs, history(db), contracts | service) if last > folded_to or \
            not (contracts | service) <= state.excluded else set()
    except ValueError as exc:  # an address left the excluded set: fold everything again
        context.log.warning(f"wallet_clusters: {exc}")
        reset_state(db)
        state, folded_to = load_state(db)
        moves, logs = _fold_span(db, 0, last)
        rebuilt = state.add_range(moves, logs, history(db), contracts | service)
    rows = state.rows(rebuilt)
    if rows.height:
        read = history(db)
        addresses = rows["address"].to_list()
        behaviour_moves = pl.concat([read("from_address", addresses), read("to_address", addresses)]).unique()
        features = behaviour_features(behaviour_moves).filter(pl.col("address").is_in(addresses))
        rows = rows.drop("behaviour_cluster", "outlier_score").join(
            behaviour_clusters(features), on="address", how="left").select(list(rows.columns))
    save_state(db, state, max(last, folded_to), rows)
    # The check reads back what was written: every rebuilt cluster's rows, and none left under a dropped id.
    ids = sorted(set(rows["cluster_id"].to_list())) if rows.height else []
    written = read_by(db, WALLET_CLUSTERS, "cluster_id", ids) if ids else rows
    gone = sorted(state.gone_clusters)
    stale = read_by(db, WALLET_CLUSTERS, "cluster_id", gone, columns=["address"]).height if gone else 0
    sizes = written.group_by("cluster_id").agg(pl.len().alias("n"), pl.col("cluster_size").first())
    truth, where = load_truth(config)
    predicted, collectors, baseline = pl.DataFrame(schema={"address": pl.Utf8, "cluster_id": pl.Utf8}), set(), {}
    if truth is not None and truth.get("phishing"):
        # Scoring against a devnet's ground truth: its addresses' rows, and the baseline rule over its approvals.
        named = sorted({a for e in truth["phishing"] for a in [e["scammer"], *e["victims"]]})
        predicted = db.read(WALLET_CLUSTERS.name, {"address": named})
        every_logs = db.read(CHAIN_LOGS.name, {"topic0": APPROVAL_TOPIC}) if db.has_table(CHAIN_LOGS.name) else pl.DataFrame()
        if every_logs.height:
            collectors = approval_collectors(every_logs, contracts | service)
            every_approval = approval_links(every_logs, contracts | service | {"0x" + "0" * 40}, min_owners=2**62)
            links = db.read(WALLET_LINKS.name, {"address_a": named}).vstack(db.read(WALLET_LINKS.name, {"address_b": named}))
            baseline = link_assignment(pl.concat([links.filter(pl.col("heuristic") != "self_authorization"), every_approval]))
    context.log.info(f"wallet_clusters: blocks {folded_to + 1}..{last}, {rows.height} rows rebuilt in {sizes.height} clusters")
    return dg.MaterializeResult(
        metadata={
            "folded_blocks": dg.MetadataValue.text(f"{folded_to + 1}..{last}" if last > folded_to else "none"),
            "new_transfers": dg.MetadataValue.int(moves.height),
            "rows_rebuilt": dg.MetadataValue.int(rows.height),
            "clusters_rebuilt": dg.MetadataValue.int(sizes.height),
            "addresses": dg.MetadataValue.int(db.count(WALLET_CLUSTERS.name)),
            "largest_rebuilt": dg.MetadataValue.md(markdown_table(sizes.sort("n", descending=True).head(10))
                                                   if sizes.height else "none"),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="one_cluster_per_address",
                passed=written["address"].n_unique() == written.height and stale == 0
                and sizes.filter(pl.col("n") != pl.col("cluster_size")).is_empty(),
                metadata={"clusters_checked": dg.MetadataValue.int(sizes.height),
                          "rows_under_dropped_ids": dg.MetadataValue.int(stale)},
            ),
            phishing_check(truth, where, predicted, collectors, baseline),
        ],
    )


INTEL_ASSETS = [dex_swaps, mev, contract_analysis, wallet_clusters_asset]
