"""The fraud feature contract: our feature names, their meaning, and the public data set's columns.

The labelled public data set (Farrugia et al., 2020: 9,841 addresses, FLAG = 1 for fraud) names
its columns in free text, several with a leading space. Every feature the model sees has one
snake_case name here, mapped to that column, so training on the public file and scoring features
computed from our own chain tables use the very same columns with the very same meaning.

Left out on purpose: `Index` and `id` (row numbers: the file is sorted by label, so they leak it),
the four "ERC20 avg time between ..." columns and the three "ERC20 ... val sent contract" columns
(zero in every row: nothing to learn), and the two "most sent/received token type" names
(free-text token names, not comparable between the public data and a devnet).
"""

from __future__ import annotations

import polars as pl

#: feature name -> (column in the public data set, meaning). Values are in ether (wei / 1e18) and
#: token units (raw value / 1e18), times in minutes; "sent" is a transaction from the address with
#: a recipient, "received" one to it; a contract is an address created by a transaction or listed
#: in the contracts table.
FEATURE_COLUMNS: dict[str, tuple[str, str]] = {
    "avg_min_between_sent_tx": ("Avg min between sent tnx", "mean minutes between consecutive sent transactions"),
    "avg_min_between_received_tx": (
        "Avg min between received tnx", "mean minutes between consecutive received transactions"),
    "time_diff_first_last_min": (
        "Time Diff between first and last (Mins)", "minutes between the first and last transaction"),
    "sent_tx": ("Sent tnx", "transactions sent (contract creations excluded)"),
    "received_tx": ("Received Tnx", "transactions received"),
    "created_contracts": ("Number of Created Contracts", "contracts created by the address's transactions"),
    "unique_received_from": ("Unique Received From Addresses", "distinct senders of received transactions"),
    "unique_sent_to": ("Unique Sent To Addresses", "distinct recipients of sent transactions"),
    "min_value_received": ("min value received", "smallest ether value received"),
    "max_value_received": ("max value received ", "largest ether value received"),
    "avg_value_received": ("avg val received", "mean ether value received"),
    "min_value_sent": ("min val sent", "smallest ether value sent"),
    "max_value_sent": ("max val sent", "largest ether value sent"),
    "avg_value_sent": ("avg val sent", "mean ether value sent"),
    "min_value_sent_to_contract": ("min value sent to contract", "smallest ether value sent to a contract"),
    "max_value_sent_to_contract": ("max val sent to contract", "largest ether value sent to a contract"),
    "avg_value_sent_to_contract": ("avg value sent to contract", "mean ether value sent to a contract"),
    "total_transactions": (
        "total transactions (including tnx to create contract",
        "sent + received + contract creations"),
    "total_ether_sent": ("total Ether sent", "ether sent, all recipients"),
    "total_ether_received": ("total ether received", "ether received"),
    "total_ether_sent_contracts": ("total ether sent contracts", "ether sent to contracts"),
    "total_ether_balance": ("total ether balance", "ether received minus ether sent"),
    "erc20_total_tx": (" Total ERC20 tnxs", "token transfers from or to the address"),
    "erc20_total_received": (" ERC20 total Ether received", "token units received"),
    "erc20_total_sent": (" ERC20 total ether sent", "token units sent"),
    "erc20_total_sent_contract": (" ERC20 total Ether sent contract", "token units sent to contracts"),
    "erc20_uniq_sent_addr": (" ERC20 uniq sent addr", "distinct recipients of token transfers"),
    "erc20_uniq_rec_addr": (" ERC20 uniq rec addr", "distinct senders of token transfers"),
    "erc20_uniq_sent_contract_addr": (
        " ERC20 uniq sent addr.1", "distinct contracts sent tokens (the file's unnamed duplicate column)"),
    "erc20_uniq_rec_contract_addr": (" ERC20 uniq rec contract addr", "distinct token contracts received"),
    "erc20_min_val_rec": (" ERC20 min val rec", "smallest token transfer received"),
    "erc20_max_val_rec": (" ERC20 max val rec", "largest token transfer received"),
    "erc20_avg_val_rec": (" ERC20 avg val rec", "mean token transfer received"),
    "erc20_min_val_sent": (" ERC20 min val sent", "smallest token transfer sent"),
    "erc20_max_val_sent": (" ERC20 max val sent", "largest token transfer sent"),
    "erc20_avg_val_sent": (" ERC20 avg val sent", "mean token transfer sent"),
    "erc20_uniq_sent_token": (" ERC20 uniq sent token name", "distinct tokens sent"),
    "erc20_uniq_rec_token": (" ERC20 uniq rec token name", "distinct tokens received"),
}

#: The model's inputs, in a fixed order (the column order of every matrix built from a frame).
FEATURES: tuple[str, ...] = tuple(FEATURE_COLUMNS)
FEATURE_DESCRIPTIONS: dict[str, str] = {name: meaning for name, (_col, meaning) in FEATURE_COLUMNS.items()}

ADDRESS_FEATURES_SCHEMA: dict[str, pl.DataType] = {
    "address": pl.Utf8,
    **{name: pl.Float64 for name in FEATURES},
    "first_block": pl.Int64,
    "last_block": pl.Int64,
    "computed_at": pl.Datetime("us", "UTC"),
}
ADDRESS_FEATURES_KEY = ("address",)

#: One risk score per address (see ops.fraud.scoring for how each column is made).
RISK_SCORES_SCHEMA: dict[str, pl.DataType] = {
    "address": pl.Utf8,
    "score": pl.Int64,
    "probability": pl.Float64,
    "band": pl.Utf8,
    "reason_1": pl.Utf8,
    "reason_2": pl.Utf8,
    "reason_3": pl.Utf8,
    "anomaly_score": pl.Float64,
    "cluster_id": pl.Int64,
    "cluster_outlier_score": pl.Float64,
    "cluster_fraud_rate": pl.Float64,
    "model_version": pl.Utf8,
    "anomaly_model_version": pl.Utf8,
    "scored_at": pl.Datetime("us", "UTC"),
}
RISK_SCORES_KEY = ("address",)

#: Labels people send back (POST /api/v1/fraud/feedback); one per address, the latest wins.
FEEDBACK_SCHEMA: dict[str, pl.DataType] = {
    "address": pl.Utf8,
    "label": pl.Int64,
    "source": pl.Utf8,
    "note": pl.Utf8,
    "updated_at": pl.Datetime("us", "UTC"),
}
FEEDBACK_KEY = ("address",)


def normalize_address(address: str) -> str:
    """Addresses compare lower-case (checksummed and plain spellings are the same account)."""
    return address.strip().lower()
