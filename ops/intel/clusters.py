"""Wallet clusters for account-based chains: heuristic links joined with union-find, plus behaviour.

Heuristics (each link says which one made it and the transaction that shows it):

- deposit-address reuse: an exchange gives each customer a deposit address and sweeps it to a hot
  wallet. An address that forwards at least ``FORWARD_SHARE`` of what it received (per token) to a
  hot wallet within ``FORWARD_BLOCKS`` blocks is a deposit address, and everyone who paid into it is
  one customer. A hot wallet is an address that such forwards reach from at least
  ``HOT_WALLET_MIN_DEPOSITS`` different addresses. The deposit and hot addresses are labelled, not
  clustered (they belong to the exchange).
- self-authorization: an ERC-20 ``Approval`` to an externally owned account (not a contract, pool
  or router) links owner and spender: people approve their own other wallets, services approve
  contracts. Not when the spender collects approvals from ``COLLECTOR_MIN_OWNERS`` or more owners:
  that is a phishing drainer (victims approving a scammer, who then pulls with ``transferFrom``)
  or some service, not one person's second wallet, and linking would put every victim in the
  scammer's cluster. A phisher approved by a single victim still looks like self-authorization.

HDBSCAN over per-address behaviour (activity counts, counterparts, value sizes, timing) adds a
context cluster and an outlier score; it never merges heuristic clusters.

Cluster ids are derived from the smallest member address, so they stay the same across runs as
long as membership does not change (and even when a cluster only grows).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable

import numpy as np
import polars as pl

APPROVAL_TOPIC = "0x8c5be1e5ebec7d5bd14f71427d1e84f3dd0314c0f7b2291e5b200ac8c7c3b925"
FORWARD_BLOCKS = 100
FORWARD_SHARE = 0.9
HOT_WALLET_MIN_DEPOSITS = 2
#: A spender approved by this many distinct owners is nobody's own wallet (see the module docstring).
COLLECTOR_MIN_OWNERS = 2

#: Transfers the heuristics read: token or native-ether movements.
TRANSFER_COLUMNS = ("token_address", "from_address", "to_address", "value", "transaction_hash", "block_number")

LINK_SCHEMA: dict[str, pl.DataType] = {
    "address_a": pl.Utf8,  # address_a < address_b
    "address_b": pl.Utf8,
    "heuristic": pl.Utf8,  # deposit_reuse | self_authorization
    "evidence": pl.Utf8,  # the deposit address, or the approval's transaction hash
}
LINK_KEY = ("address_a", "address_b", "heuristic")

CLUSTER_SCHEMA: dict[str, pl.DataType] = {
    "address": pl.Utf8,
    "cluster_id": pl.Utf8,
    "cluster_size": pl.Int64,
    "heuristics": pl.Utf8,  # comma-joined heuristics that linked this address
    "labels": pl.Utf8,  # comma-joined: deposit_address, hot_wallet
    "behaviour_cluster": pl.Int64,  # HDBSCAN label, -1 = noise, null = too little data
    "outlier_score": pl.Float64,
}
CLUSTER_KEY = ("address",)


class UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        parent = self.parent.setdefault(x, x)
        if parent != x:
            root = self.find(parent)
            self.parent[x] = root
            return root
        return x

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)

    def groups(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = defaultdict(list)
        for x in list(self.parent):
            out[self.find(x)].append(x)
        return {root: sorted(members) for root, members in out.items()}


def cluster_id(members: Iterable[str]) -> str:
    """Stable id of a cluster: a hash of its smallest member."""
    return "cl_" + hashlib.sha256(min(members).encode()).hexdigest()[:16]


def native_transfers(transactions: pl.DataFrame) -> pl.DataFrame:
    """Successful ether payments of a transactions frame, in the transfer columns (token "eth")."""
    paid = transactions.filter(
        (pl.col("value") != "0") & pl.col("to_address").is_not_null() & (pl.col("receipt_status").fill_null(1) == 1)
    )
    return paid.select(
        pl.lit("eth").alias("token_address"),
        "from_address",
        "to_address",
        pl.col("value").cast(pl.Utf8),
        pl.col("hash").alias("transaction_hash"),
        "block_number",
    )


def deposit_links(transfers: pl.DataFrame, window: int = FORWARD_BLOCKS, share: float = FORWARD_SHARE,
                  min_deposits: int = HOT_WALLET_MIN_DEPOSITS, exclude: Iterable[str] = ()) -> tuple[pl.DataFrame, set[str], set[str]]:
    """(links, deposit addresses, hot wallets) from the deposit-address-reuse heuristic."""
    excluded = list({e.lower() for e in exclude})
    t = transfers.select(TRANSFER_COLUMNS).with_columns(pl.col("value").cast(pl.Float64).alias("amount"))
    incoming = t.group_by("to_address", "token_address").agg(
        pl.col("amount").sum().alias("received"), pl.col("block_number").min().alias("first_in"),
        pl.col("block_number").max().alias("last_in"),
    ).rename({"to_address": "deposit"})
    outgoing = t.rename({"from_address": "deposit", "to_address": "target"})
    forwards = outgoing.join(incoming, on=["deposit", "token_address"]).filter(
        (pl.col("block_number") >= pl.col("first_in")) & (pl.col("block_number") <= pl.col("last_in") + window)
    )
    swept = forwards.group_by("deposit", "token_address", "target").agg(
        pl.col("amount").sum().alias("forwarded"), pl.col("received").first()
    ).filter((pl.col("forwarded") >= share * pl.col("received")) & (pl.col("received") > 0))
    swept = swept.filter(~pl.col("deposit").is_in(excluded) & ~pl.col("target").is_in(excluded))
    hot = swept.group_by("target").agg(pl.col("deposit").n_unique().alias("deposits")).filter(
        pl.col("deposits") >= min_deposits
    )
    hot_wallets = set(hot["target"].to_list())
    deposits = swept.filter(pl.col("target").is_in(list(hot_wallets)))
    deposit_set = set(deposits["deposit"].to_list()) - hot_wallets
    senders = t.filter(pl.col("to_address").is_in(list(deposit_set))).select(
        pl.col("to_address").alias("deposit"), pl.col("from_address").alias("sender")
    ).unique()
    senders = senders.filter(~pl.col("sender").is_in(list(deposit_set | hot_wallets | set(excluded))))
    links = []
    for deposit, group in senders.group_by("deposit"):
        members = sorted(group["sender"].to_list())
        for other in members[1:]:  # a star from the smallest member is enough for union-find
            links.append({"address_a": members[0], "address_b": other, "heuristic": "deposit_reuse",
                          "evidence": deposit[0]})
    return pl.DataFrame(links, schema=LINK_SCHEMA), deposit_set, hot_wallets


def _eoa_approvals(logs: pl.DataFrame, contracts: Iterable[str]) -> pl.DataFrame:
    """(owner, spender, transaction_hash) of ERC-20 approvals to externally owned accounts."""
    not_eoa = list({c.lower() for c in contracts})
    approvals = logs.filter(
        (pl.col("topic0") == APPROVAL_TOPIC) & pl.col("topic2").is_not_null() & pl.col("topic3").is_null()
    ).select(
        ("0x" + pl.col("topic1").str.slice(-40)).str.to_lowercase().alias("owner"),
        ("0x" + pl.col("topic2").str.slice(-40)).str.to_lowercase().alias("spender"),
        "transaction_hash",
    )
    return approvals.filter(
        ~pl.col("spender").is_in(not_eoa) & (pl.col("owner") != pl.col("spender"))
        & (pl.col("spender") != "0x" + "0" * 40)
    )


def approval_collectors(logs: pl.DataFrame, contracts: Iterable[str], min_owners: int = COLLECTOR_MIN_OWNERS) -> set[str]:
    """Externally owned spenders approved by at least `min_owners` distinct owners."""
    approvals = _eoa_approvals(logs, contracts)
    counts = approvals.group_by("spender").agg(pl.col("owner").n_unique().alias("owners"))
    return set(counts.filter(pl.col("owners") >= min_owners)["spender"].to_list())


def approval_links(logs: pl.DataFrame, contracts: Iterable[str], min_owners: int = COLLECTOR_MIN_OWNERS) -> pl.DataFrame:
    """Self-authorization: ERC-20 approvals whose spender is an externally owned account that no
    other owner approved (collectors of many owners' approvals link nobody)."""
    approvals = _eoa_approvals(logs, contracts)
    collectors = approval_collectors(logs, contracts, min_owners)
    approvals = approvals.filter(~pl.col("spender").is_in(list(collectors)))
    return approvals.select(
        pl.min_horizontal("owner", "spender").alias("address_a"),
        pl.max_horizontal("owner", "spender").alias("address_b"),
        pl.lit("self_authorization").alias("heuristic"),
        pl.col("transaction_hash").alias("evidence"),
    ).unique(subset=["address_a", "address_b"], keep="first").sort("address_a", "address_b")


def behaviour_features(transfers: pl.DataFrame) -> pl.DataFrame:
    """Per-address behaviour: sends, receives, distinct counterparts, log value sizes, active span."""
    t = transfers.select(TRANSFER_COLUMNS).with_columns(pl.col("value").cast(pl.Float64).alias("amount"))
    out_ = t.group_by(pl.col("from_address").alias("address")).agg(
        pl.len().alias("sent"), pl.col("to_address").n_unique().alias("sent_to"),
        (pl.col("amount") + 1).log10().mean().alias("log_sent"),
        pl.col("block_number").min().alias("first_out"), pl.col("block_number").max().alias("last_out"),
    )
    in_ = t.group_by(pl.col("to_address").alias("address")).agg(
        pl.len().alias("received"), pl.col("from_address").n_unique().alias("received_from"),
        (pl.col("amount") + 1).log10().mean().alias("log_received"),
        pl.col("block_number").min().alias("first_in"), pl.col("block_number").max().alias("last_in"),
    )
    both = out_.join(in_, on="address", how="full", coalesce=True).fill_null(0)
    return both.with_columns(
        (pl.max_horizontal("last_out", "last_in") - pl.min_horizontal("first_out", "first_in")).alias("span")
    ).select("address", "sent", "sent_to", "log_sent", "received", "received_from", "log_received", "span")


def behaviour_clusters(features: pl.DataFrame, min_cluster_size: int = 5) -> pl.DataFrame:
    """(address, behaviour_cluster, outlier_score) by HDBSCAN on standardized log features."""
    schema = {"address": pl.Utf8, "behaviour_cluster": pl.Int64, "outlier_score": pl.Float64}
    if features.height < max(min_cluster_size * 2, 10):
        return pl.DataFrame({"address": features["address"]}, schema={"address": pl.Utf8}).with_columns(
            pl.lit(None, dtype=pl.Int64).alias("behaviour_cluster"), pl.lit(None, dtype=pl.Float64).alias("outlier_score")
        )
    import hdbscan

    x = np.log1p(features.drop("address").to_numpy().astype(float).clip(min=0))
    x = (x - x.mean(axis=0)) / (x.std(axis=0) + 1e-9)
    model = hdbscan.HDBSCAN(min_cluster_size=min_cluster_size, core_dist_n_jobs=1).fit(x)
    scores = np.nan_to_num(model.outlier_scores_, nan=0.0)
    return pl.DataFrame(
        {"address": features["address"], "behaviour_cluster": model.labels_.astype(np.int64), "outlier_score": scores},
        schema=schema,
    )


def wallet_clusters(
    transfers: pl.DataFrame,
    logs: pl.DataFrame,
    contracts: Iterable[str] = (),
    exclude: Iterable[str] = (),
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(clusters in CLUSTER_SCHEMA, links in LINK_SCHEMA) over transfers (token + native) and logs.

    Only addresses that some heuristic linked get a cluster row; `exclude` (pools, routers, the
    zero address) never link anything. Every clustered address also carries its behaviour cluster.
    """
    contracts = {c.lower() for c in contracts}
    exclude = {e.lower() for e in exclude} | contracts | {"0x" + "0" * 40}
    deposit, deposit_set, hot_wallets = deposit_links(transfers, exclude=exclude)
    approval = approval_links(logs, contracts | exclude)
    links = pl.concat([deposit, approval]).unique(subset=list(LINK_KEY), keep="first").sort(list(LINK_KEY))
    uf = UnionFind()
    heuristics: dict[str, set[str]] = defaultdict(set)
    for a, b, heuristic, _evidence in links.iter_rows():
        uf.union(a, b)
        heuristics[a].add(heuristic)
        heuristics[b].add(heuristic)
    labels: dict[str, set[str]] = defaultdict(set)
    for d in deposit_set:
        labels[d].add("deposit_address")
    for h in hot_wallets:
        labels[h].add("hot_wallet")
    rows = []
    for members in uf.groups().values():
        cluster = cluster_id(members)
        for m in members:
            rows.append({"address": m, "cluster_id": cluster, "cluster_size": len(members),
                         "heuristics": ",".join(sorted(heuristics[m])), "labels": ",".join(sorted(labels.pop(m, ())))})
    for address, names in labels.items():  # labelled exchange addresses are their own cluster
        rows.append({"address": address, "cluster_id": cluster_id([address]), "cluster_size": 1, "heuristics": "",
                     "labels": ",".join(sorted(names))})
    base = pl.DataFrame(rows, schema={k: v for k, v in CLUSTER_SCHEMA.items() if k not in ("behaviour_cluster", "outlier_score")})
    behaviour = behaviour_clusters(behaviour_features(transfers))
    clusters = base.join(behaviour, on="address", how="left").select(list(CLUSTER_SCHEMA)).sort("cluster_id", "address")
    return clusters, links


def pairwise_scores(predicted: dict[str, str], truth: dict[str, str]) -> tuple[float, float]:
    """Pairwise precision and recall of a clustering (address -> cluster) against ground truth.

    A pair counts when both addresses share a cluster; only addresses the truth names are scored.
    """
    from itertools import combinations

    def pairs(assign: dict[str, str]) -> set[tuple[str, str]]:
        groups: dict[str, list[str]] = defaultdict(list)
        for address, cluster in assign.items():
            if address in truth:
                groups[cluster].append(address)
        return {tuple(sorted(p)) for g in groups.values() for p in combinations(sorted(g), 2)}

    p, t = pairs(predicted), pairs(truth)
    precision = len(p & t) / len(p) if p else 1.0
    recall = len(p & t) / len(t) if t else 1.0
    return precision, recall


def link_assignment(links: pl.DataFrame) -> dict[str, str]:
    """address -> cluster id of the clusters a links frame alone makes (union-find, ids as above)."""
    uf = UnionFind()
    for a, b in links.select("address_a", "address_b").iter_rows():
        uf.union(a, b)
    return {m: cluster_id(members) for members in uf.groups().values() for m in members}


def false_merges(predicted: dict[str, str], scammer: str, victims: Iterable[str]) -> list[str]:
    """Victims put in the scammer's cluster (address -> cluster id; unclustered addresses merge nobody)."""
    theirs = predicted.get(scammer)
    return sorted(v for v in victims if theirs is not None and predicted.get(v) == theirs)


def cluster_summaries(rows: pl.DataFrame, *, sample: int = 5) -> pl.DataFrame:
    """One row per cluster out of ``wallet_clusters`` rows: size, the heuristics and labels that joined
    it (sorted, unique), and the first ``sample`` members; largest clusters first, then by id."""
    if rows.is_empty():
        return pl.DataFrame(schema={"cluster_id": pl.Utf8, "size": pl.Int64, "heuristics": pl.List(pl.Utf8),
                                    "labels": pl.List(pl.Utf8), "members_sample": pl.List(pl.Utf8)})
    return (
        rows.group_by("cluster_id")
        .agg(
            size=pl.len().cast(pl.Int64),
            heuristics=pl.col("heuristics").fill_null("").str.split(",").list.explode().unique().sort(),
            labels=pl.col("labels").fill_null("").str.split(",").list.explode().unique().sort(),
            members_sample=pl.col("address").sort().head(sample),
        )
        .with_columns(pl.col("heuristics", "labels").list.eval(pl.element().filter(pl.element() != "")))
        .sort(["size", "cluster_id"], descending=[True, False])
    )
