"""Every warehouse table Sextant publishes, by name: the one registry assets write and serving reads."""

from __future__ import annotations

import polars as pl

from ops.chain.schema import (
    BLOCKS_KEY,
    BLOCKS_SCHEMA,
    CONTRACTS_KEY,
    CONTRACTS_SCHEMA,
    LOGS_KEY,
    LOGS_SCHEMA,
    TOKEN_TRANSFERS_KEY,
    TOKEN_TRANSFERS_SCHEMA,
    TRANSACTIONS_KEY,
    TRANSACTIONS_SCHEMA,
)
from ops.fraud import schema as fraud
from ops.intel import cluster_delta as delta
from ops.intel.clusters import CLUSTER_KEY, CLUSTER_SCHEMA, LINK_KEY, LINK_SCHEMA
from ops.intel.contracts import CONTRACT_ANALYSIS_KEY, CONTRACT_ANALYSIS_SCHEMA
from ops.intel.mev import ARBITRAGE_KEY, ARBITRAGE_SCHEMA, SANDWICH_KEY, SANDWICH_SCHEMA
from ops.intel.swaps import POOL_KEY, POOL_SCHEMA, SWAP_KEY, SWAP_SCHEMA
from ops.market.features import FEATURES_KEY, FEATURES_SCHEMA
from ops.market.schema import OHLCV_KEY, OHLCV_SCHEMA, RAW_SCHEMA, REJECTS_KEY, REJECTS_SCHEMA
from ops.market.summary import SUMMARY_KEY, SUMMARY_SCHEMA
from ops.nlp import schema as nlp
from ops.price.forecast import FORECAST_KEY, FORECAST_SCHEMA
from resources.chain_capabilities import CAPABILITIES_KEY, CAPABILITIES_SCHEMA
from resources.warehouse import TableSpec

RAW_OHLCV = TableSpec(
    "raw_ohlcv", {**RAW_SCHEMA, "date": pl.Utf8}, ("source", "source_row"), indexes=(("symbol", "date"),)
)
OHLCV = TableSpec("ohlcv", OHLCV_SCHEMA, OHLCV_KEY, indexes=(("symbol", "date"),))
OHLCV_REJECTS = TableSpec("ohlcv_rejects", REJECTS_SCHEMA, REJECTS_KEY, indexes=(("symbol", "date"),))
OHLCV_FEATURES = TableSpec("ohlcv_features", FEATURES_SCHEMA, FEATURES_KEY, indexes=(("symbol", "date"),))
MARKET_DAILY_SUMMARY = TableSpec("market_daily_summary", SUMMARY_SCHEMA, SUMMARY_KEY)

#: Data-quality results, one row per check evaluation of a partition (the pass rate lives here too).
DATA_QUALITY = TableSpec(
    "data_quality_metrics",
    {
        "asset": pl.Utf8,
        "partition": pl.Utf8,
        "check_name": pl.Utf8,
        "success": pl.Boolean,
        "evaluated": pl.Int64,
        "passed": pl.Int64,
        "pass_rate": pl.Float64,
        "row_count": pl.Int64,
        "measured_at": pl.Datetime("us", "UTC"),
    },
    ("asset", "partition", "check_name"),
)

# -- chain (ethereum-etl column names; a range is replaced by block number on re-index) ----------
CHAIN_BLOCKS = TableSpec("chain_blocks", BLOCKS_SCHEMA, BLOCKS_KEY, indexes=(("hash",),))
CHAIN_TRANSACTIONS = TableSpec(
    "chain_transactions",
    TRANSACTIONS_SCHEMA,
    TRANSACTIONS_KEY,
    indexes=(("block_number",), ("from_address",), ("to_address",)),
)
CHAIN_LOGS = TableSpec("chain_logs", LOGS_SCHEMA, LOGS_KEY, indexes=(("address", "topic0"), ("transaction_hash",)))
TOKEN_TRANSFERS = TableSpec(
    "token_transfers",
    TOKEN_TRANSFERS_SCHEMA,
    TOKEN_TRANSFERS_KEY,
    indexes=(("block_number",), ("from_address", "block_number"), ("to_address", "block_number"), ("token_address",)),
)
CONTRACTS = TableSpec("contracts", CONTRACTS_SCHEMA, CONTRACTS_KEY, indexes=(("block_number",),))
#: What each node endpoint was found to support (resources/chain_capabilities.py), so no run asks twice.
CHAIN_NODE_CAPABILITIES = TableSpec("chain_node_capabilities", CAPABILITIES_SCHEMA, CAPABILITIES_KEY)

# -- chain intelligence (ops/intel) ------------------------------------------------------------------
DEX_POOLS = TableSpec("dex_pools", POOL_SCHEMA, POOL_KEY)
DEX_SWAPS = TableSpec("dex_swaps", SWAP_SCHEMA, SWAP_KEY, indexes=(("block_number",), ("pool", "block_number")))
MEV_SANDWICHES = TableSpec(
    "mev_sandwiches", SANDWICH_SCHEMA, SANDWICH_KEY, indexes=(("block_number",), ("attacker",))
)
MEV_ARBITRAGES = TableSpec("mev_arbitrages", ARBITRAGE_SCHEMA, ARBITRAGE_KEY, indexes=(("block_number",), ("actor",)))
CONTRACT_ANALYSIS = TableSpec(
    "contract_analysis", CONTRACT_ANALYSIS_SCHEMA, CONTRACT_ANALYSIS_KEY, indexes=(("block_number",),)
)
WALLET_CLUSTERS = TableSpec("wallet_clusters", CLUSTER_SCHEMA, CLUSTER_KEY, indexes=(("cluster_id",),))
WALLET_LINKS = TableSpec("wallet_links", LINK_SCHEMA, LINK_KEY, indexes=(("address_b",), ("evidence",)))
#: The incremental clusters' state between ranges (ops/intel/cluster_delta.py), read by address.
CLUSTER_INCOMING = TableSpec("cluster_incoming", delta.INCOMING_SCHEMA, delta.INCOMING_KEY)
CLUSTER_SWEEPS = TableSpec("cluster_sweeps", delta.SWEEPS_SCHEMA, delta.SWEEPS_KEY, indexes=(("target",),))
CLUSTER_TARGETS = TableSpec("cluster_targets", delta.TARGETS_SCHEMA, delta.TARGETS_KEY)
APPROVAL_SPENDERS = TableSpec("approval_spenders", delta.SPENDERS_SCHEMA, delta.SPENDERS_KEY)
CLUSTER_EXCLUDED = TableSpec("cluster_excluded", delta.EXCLUDED_SCHEMA, delta.EXCLUDED_KEY)
CLUSTER_CURSOR = TableSpec("cluster_cursor", delta.CURSOR_SCHEMA, delta.CURSOR_KEY)

# -- nlp (ops/nlp/schema.py): API batches, inputs, detections, translations --------------------------
NLP_BATCHES = TableSpec("nlp_batches", nlp.BATCHES_SCHEMA, nlp.BATCHES_KEY, indexes=(("status",),))
NLP_BATCH_INPUTS = TableSpec("nlp_batch_inputs", nlp.BATCH_INPUTS_SCHEMA, nlp.BATCH_INPUTS_KEY)
TRANSLATION_INPUTS = TableSpec(
    "translation_inputs", nlp.INPUTS_SCHEMA, nlp.INPUTS_KEY, indexes=(("origin", "origin_ref"),)
)
LANGUAGE_DETECTIONS = TableSpec("language_detections", nlp.DETECTIONS_SCHEMA, nlp.DETECTIONS_KEY)
TRANSLATIONS = TableSpec("translations", nlp.TRANSLATIONS_SCHEMA, nlp.TRANSLATIONS_KEY)

# -- fraud (ops/fraud) ---------------------------------------------------------------------------------
ADDRESS_FEATURES = TableSpec("address_features", fraud.ADDRESS_FEATURES_SCHEMA, fraud.ADDRESS_FEATURES_KEY)
ADDRESS_RISK_SCORES = TableSpec(
    "address_risk_scores", fraud.RISK_SCORES_SCHEMA, fraud.RISK_SCORES_KEY, indexes=(("band",), ("score",))
)
FRAUD_FEEDBACK = TableSpec("fraud_feedback", fraud.FEEDBACK_SCHEMA, fraud.FEEDBACK_KEY)
#: The incremental fraud assets' cursors (assets/fraud/feature_store.py): `address_features` keeps the last
#: block it folded and the computed_at of its last write, `address_risk_scores` the computed_at it scored
#: through and the model versions it scored with.
ADDRESS_FEATURES_CURSOR = TableSpec(
    "address_features_cursor",
    {"name": pl.Utf8, "folded_to": pl.Int64, "through": pl.Datetime("us", "UTC"), "versions": pl.Utf8},
    ("name",),
)
#: Model quality figures (model, metric, version); serving's metrics and dashboard read the latest.
#: Quality measurements of models (price MAE ratio, BLEU, fraud precision and recall, ...), one row per
#: (model, metric, version); every domain writes here, serving exports the latest values as metrics.
MODEL_METRICS = TableSpec(
    "model_metrics",
    {
        "model": pl.Utf8,
        "metric": pl.Utf8,
        "version": pl.Utf8,
        "value": pl.Float64,
        "measured_at": pl.Datetime("us", "UTC"),
    },
    ("model", "metric", "version"),
)

# -- price model (ops/price) ---------------------------------------------------------------------------
#: The snapshot of `ohlcv_features` (one interval) the price models of a run were trained on.
PRICE_TRAINING_SET = TableSpec("price_training_set", FEATURES_SCHEMA, FEATURES_KEY, indexes=(("interval", "ts"),))
#: Walk-forward metrics of each evaluated price model version, per fold and horizon.
PRICE_EVALUATION = TableSpec(
    "price_model_evaluation",
    {
        "model": pl.Utf8,
        "version": pl.Utf8,
        "fold": pl.Int64,
        "horizon": pl.Int64,
        "train_rows": pl.Int64,
        "test_first_ts": pl.Datetime("us", "UTC"),
        "test_last_ts": pl.Datetime("us", "UTC"),
        "rows": pl.Int64,
        "mae": pl.Float64,
        "rmse": pl.Float64,
        "mae_persistence": pl.Float64,
        "rmse_persistence": pl.Float64,
        "mae_train_mean": pl.Float64,
        "mae_ratio": pl.Float64,
        "directional_accuracy": pl.Float64,
        "up_share": pl.Float64,
        "coverage": pl.Float64,
        "gate_passed": pl.Boolean,
        "measured_at": pl.Datetime("us", "UTC"),
    },
    ("model", "version", "fold", "horizon"),
)
#: Next-horizon forecasts with intervals, per symbol, from the promoted model (or the baseline).
PRICE_FORECASTS = TableSpec("price_forecasts", FORECAST_SCHEMA, FORECAST_KEY, indexes=(("symbol", "as_of"),))

# -- the live event stream (resources/stream_events.py) ------------------------------------------------
#: What the assets tell the WebSocket stream: one row per event, `seq` the global order and clients' cursor.
STREAM_EVENTS = TableSpec(
    "stream_events",
    {
        "seq": pl.Int64,
        "topic": pl.Utf8,
        "key": pl.Utf8,
        "client_id": pl.Utf8,  # null: every client; else only that one
        "payload": pl.Utf8,  # JSON object
        "created_at": pl.Datetime("us", "UTC"),
    },
    ("seq",),
    indexes=(("created_at",),),
)

ALL_TABLES = (
    RAW_OHLCV,
    OHLCV,
    OHLCV_REJECTS,
    OHLCV_FEATURES,
    MARKET_DAILY_SUMMARY,
    DATA_QUALITY,
    CHAIN_BLOCKS,
    CHAIN_TRANSACTIONS,
    CHAIN_LOGS,
    TOKEN_TRANSFERS,
    CONTRACTS,
    CHAIN_NODE_CAPABILITIES,
    DEX_POOLS,
    DEX_SWAPS,
    MEV_SANDWICHES,
    MEV_ARBITRAGES,
    CONTRACT_ANALYSIS,
    WALLET_CLUSTERS,
    WALLET_LINKS,
    CLUSTER_INCOMING,
    CLUSTER_SWEEPS,
    CLUSTER_TARGETS,
    APPROVAL_SPENDERS,
    CLUSTER_EXCLUDED,
    CLUSTER_CURSOR,
    NLP_BATCHES,
    NLP_BATCH_INPUTS,
    TRANSLATION_INPUTS,
    LANGUAGE_DETECTIONS,
    TRANSLATIONS,
    ADDRESS_FEATURES,
    ADDRESS_RISK_SCORES,
    FRAUD_FEEDBACK,
    ADDRESS_FEATURES_CURSOR,
    MODEL_METRICS,
    PRICE_TRAINING_SET,
    PRICE_EVALUATION,
    PRICE_FORECASTS,
    STREAM_EVENTS,
)
