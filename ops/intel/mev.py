"""MEV detectors over a swaps frame (SWAP_SCHEMA): sandwiches and cyclic arbitrages.

Both are pure functions, linear in the number of swaps: a vectorized polars pass keeps only the
(block, pool) groups and transactions where a pattern is possible at all, and the per-group search
that follows is bounded (a look-ahead window, a hop limit and an expansion budget), so a block full
of wash trades or liquidity churn cannot make it hang.

Who acts: a swap's actors are its transaction's sender (``tx_from``) and the swap's ``sender`` and
``recipient``, minus routers and pools. Routers relay many people's swaps, so two swaps sharing a
router share no actor. Routers are the addresses passed in plus every swap sender that relays for
at least ``ROUTER_MIN_CLIENTS`` distinct counterparts (transaction senders, else recipients).

Profit, three ways (all in the profit token's base units): ``profit`` is ours, on the matched amounts
(a back-run that sells part of what the front-run bought is charged for that part only);
``profit_mev_inspect`` is mev-inspect-py's convention, back-run amount out minus front-run amount in,
whatever the sizes; ``net_profit`` is ours minus what the bundle paid to get in: gas of the front-
and back-run and ether sent straight to the block's coinbase (``bundle_costs``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

import polars as pl

from ops.intel.swaps import normalize_swaps

#: Swaps on the same pool a front-run looks ahead for its back-run.
SANDWICH_WINDOW = 64
ROUTER_MIN_CLIENTS = 3
#: Blocks before a range whose swaps count when telling routers from traders. A router is known by
#: relaying for several people; a short range at the head (a block or two) shows too few of them, and
#: a router left as an "actor" makes attacker and victims one person, so the sandwich goes unseen.
ROUTER_LOOKBACK_BLOCKS = 256
#: Largest cycle an arbitrage search follows, and its node budget per transaction.
MAX_HOPS = 4
ARBITRAGE_BUDGET = 2_000
#: Relative difference allowed between one hop's output and the next hop's input.
CHAIN_TOLERANCE = 0.01

SANDWICH_SCHEMA: dict[str, pl.DataType] = {
    "block_number": pl.Int64,
    "pool": pl.Utf8,
    "attacker": pl.Utf8,
    "front_transaction_hash": pl.Utf8,
    "front_transaction_index": pl.Int64,
    "front_log_index": pl.Int64,
    "back_transaction_hash": pl.Utf8,
    "back_transaction_index": pl.Int64,
    "back_log_index": pl.Int64,
    "victim_transaction_hashes": pl.Utf8,  # comma-joined, in block order
    "victim_count": pl.Int64,
    "token_front_in": pl.Utf8,  # what the attacker pays in the front-run (and the profit token)
    "token_front_out": pl.Utf8,
    "front_amount_in": pl.Float64,
    "front_amount_out": pl.Float64,
    "back_amount_in": pl.Float64,
    "back_amount_out": pl.Float64,
    "matched_fraction": pl.Float64,  # min(front out, back in) / max: 1.0 when sizes agree
    "profit": pl.Float64,  # gross, in token_front_in base units, on the matched amounts
    "profit_mev_inspect": pl.Float64,  # back_amount_out - front_amount_in (mev-inspect-py), token_front_in units
    "gas_cost_wei": pl.Float64,  # gasUsed * effectiveGasPrice of the front- and back-run
    "coinbase_transfer_wei": pl.Float64,  # ether the bundle's senders paid the coinbase directly
    "cost_in_profit_token": pl.Float64,  # the two above in token_front_in units, when convertible
    "net_profit": pl.Float64,  # profit - cost_in_profit_token; null when the cost could not be converted
}
#: Cost columns ``bundle_costs`` fills (null until then, and when the transactions are not indexed).
COST_COLUMNS = ("gas_cost_wei", "coinbase_transfer_wei", "cost_in_profit_token", "net_profit")
SANDWICH_KEY = ("front_transaction_hash", "front_log_index")

ARBITRAGE_SCHEMA: dict[str, pl.DataType] = {
    "block_number": pl.Int64,
    "transaction_hash": pl.Utf8,
    "transaction_index": pl.Int64,
    "first_log_index": pl.Int64,
    "actor": pl.Utf8,
    "start_token": pl.Utf8,
    "hops": pl.Int64,
    "pools": pl.Utf8,  # comma-joined, in route order
    "tokens": pl.Utf8,  # comma-joined path, start token first and last
    "log_indexes": pl.Utf8,
    "amount_in": pl.Float64,
    "amount_out": pl.Float64,
    "profit": pl.Float64,  # gross, in start_token base units
    "gas_cost_wei": pl.Float64,
    "coinbase_transfer_wei": pl.Float64,
    "cost_in_profit_token": pl.Float64,  # in start_token units: only when start_token is wrapped ether
    "net_profit": pl.Float64,
}
ARBITRAGE_KEY = ("transaction_hash", "first_log_index")

_ACTOR_COLUMNS = ("tx_from", "sender", "recipient")


def find_routers(swaps: pl.DataFrame, min_clients: int = ROUTER_MIN_CLIENTS) -> set[str]:
    """Swap senders that relay for at least `min_clients` distinct counterparts."""
    relayed = swaps.filter(pl.col("sender").is_not_null()).with_columns(
        pl.coalesce("tx_from", "recipient").alias("client")
    )
    relayed = relayed.filter(pl.col("client") != pl.col("sender"))
    counts = relayed.group_by("sender").agg(pl.col("client").n_unique().alias("clients"))
    return set(counts.filter(pl.col("clients") >= min_clients)["sender"].to_list())


def routers_in(swaps: pl.DataFrame) -> set[str]:
    """`find_routers` on raw swap rows (as the warehouse holds them)."""
    return find_routers(normalize_swaps(swaps)) if swaps.height else set()


def _prepared(swaps: pl.DataFrame, routers: Iterable[str] | None) -> tuple[pl.DataFrame, set[str]]:
    frame = normalize_swaps(swaps).with_columns(
        pl.col("amount_in").cast(pl.Float64).alias("in_f"),
        pl.col("amount_out").cast(pl.Float64).alias("out_f"),
    )
    excluded = {r.lower() for r in routers or ()} | find_routers(frame) | set(frame["pool"].unique().to_list())
    excluded.discard(None)
    return frame, excluded


def _actor_long(frame: pl.DataFrame, excluded: set[str]) -> pl.DataFrame:
    """One row per (swap, actor), routers and pools removed."""
    parts = [frame.select("row", pl.col(c).alias("actor")) for c in _ACTOR_COLUMNS]
    long = pl.concat(parts).drop_nulls("actor").unique()
    return long.filter(~pl.col("actor").is_in(list(excluded)))


# -- sandwiches -----------------------------------------------------------------------------------
def detect_sandwiches(
    swaps: pl.DataFrame, routers: Iterable[str] | None = None, window: int = SANDWICH_WINDOW
) -> pl.DataFrame:
    """Front-run, victims, back-run on one pool in one block (SANDWICH_SCHEMA), one row per sandwich.

    A front-run F by actor A is closed by A's first later swap on the pool in the opposite
    direction (tokens reversed), within `window` swaps. Every swap between them by someone else in
    F's direction is a victim; with none, it was a lone buy-then-sell and nothing is reported.
    Profit is counted on the matched amounts: when the back-run sells more or less than the
    front-run bought, both legs are scaled to the smaller size before subtracting.
    """
    frame, excluded = _prepared(swaps, routers)
    frame = frame.sort(["block_number", "pool", "transaction_index", "log_index"]).with_row_index("row")
    long = _actor_long(frame, excluded)
    # Only groups where some actor swaps in two transactions in both directions can hold a sandwich.
    keyed = long.join(frame.select("row", "block_number", "pool", "transaction_hash", "token_in"), on="row")
    candidates = (
        keyed.group_by("block_number", "pool", "actor")
        .agg(pl.col("transaction_hash").n_unique().alias("txs"), pl.col("token_in").n_unique().alias("dirs"))
        .filter((pl.col("txs") >= 2) & (pl.col("dirs") >= 2))
        .select("block_number", "pool")
        .unique()
    )
    if candidates.is_empty():
        return pl.DataFrame(schema=SANDWICH_SCHEMA)
    work = frame.join(candidates, on=["block_number", "pool"], how="semi").sort("row")
    actors: dict[int, set[str]] = defaultdict(set)
    for row, actor in long.join(work.select("row"), on="row", how="semi").iter_rows():
        actors[row].add(actor)
    cols = work.select(
        "row", "block_number", "pool", "transaction_hash", "transaction_index", "log_index",
        "token_in", "token_out", "in_f", "out_f",
    ).to_dict(as_series=False)
    out: list[dict] = []
    n = work.height
    start = 0
    while start < n:
        end = start
        while end < n and cols["block_number"][end] == cols["block_number"][start] and cols["pool"][end] == cols["pool"][start]:
            end += 1
        _sandwiches_in_group(cols, actors, start, end, window, out)
        start = end
    return pl.DataFrame(out, schema=SANDWICH_SCHEMA)


def _sandwiches_in_group(cols: dict, actors: dict[int, set[str]], start: int, end: int, window: int, out: list) -> None:
    rows, tx, tin, tout = cols["row"], cols["transaction_hash"], cols["token_in"], cols["token_out"]
    used: set[int] = set()
    for i in range(start, end):
        mine = actors.get(rows[i])
        if i in used or not mine:
            continue
        victims: list[int] = []
        for j in range(i + 1, min(end, i + 1 + window)):
            if tx[j] == tx[i] or j in used:
                continue
            if actors.get(rows[j], set()) & mine:
                if tin[j] == tout[i] and tout[j] == tin[i]:
                    if victims:
                        out.append(_sandwich_row(cols, i, j, victims, mine & actors[rows[j]]))
                        used.update((i, j))
                    break
                continue  # the actor trading on in the same direction: neither victim nor back-run
            if tin[j] == tin[i] and tout[j] == tout[i]:
                victims.append(j)


def _sandwich_row(cols: dict, f: int, b: int, victims: list[int], shared: set[str]) -> dict:
    x_in, y_out = cols["in_f"][f], cols["out_f"][f]
    y_in, x_out = cols["in_f"][b], cols["out_f"][b]
    matched = min(y_out, y_in)
    profit = x_out * matched / y_in - x_in * matched / y_out if y_in and y_out else 0.0
    seen: list[str] = []
    for v in victims:
        if cols["transaction_hash"][v] not in seen:
            seen.append(cols["transaction_hash"][v])
    return {
        "block_number": cols["block_number"][f],
        "pool": cols["pool"][f],
        "attacker": min(shared),
        "front_transaction_hash": cols["transaction_hash"][f],
        "front_transaction_index": cols["transaction_index"][f],
        "front_log_index": cols["log_index"][f],
        "back_transaction_hash": cols["transaction_hash"][b],
        "back_transaction_index": cols["transaction_index"][b],
        "back_log_index": cols["log_index"][b],
        "victim_transaction_hashes": ",".join(seen),
        "victim_count": len(seen),
        "token_front_in": cols["token_in"][f],
        "token_front_out": cols["token_out"][f],
        "front_amount_in": x_in,
        "front_amount_out": y_out,
        "back_amount_in": y_in,
        "back_amount_out": x_out,
        "matched_fraction": matched / max(y_out, y_in) if max(y_out, y_in) else 0.0,
        "profit": profit,
        "profit_mev_inspect": x_out - x_in,
    }


# -- arbitrages -----------------------------------------------------------------------------------
def _chained(out_amount: float, in_amount: float, tolerance: float) -> bool:
    top = max(out_amount, in_amount)
    return top > 0 and abs(out_amount - in_amount) <= tolerance * top


def detect_arbitrages(
    swaps: pl.DataFrame,
    *,
    max_hops: int = MAX_HOPS,
    tolerance: float = CHAIN_TOLERANCE,
    budget: int = ARBITRAGE_BUDGET,
) -> pl.DataFrame:
    """Profitable swap cycles inside one transaction (ARBITRAGE_SCHEMA), one row per cycle.

    A cycle is a run of swaps in log order, each paying in what the previous one paid out (amounts
    within `tolerance`), through distinct pools, ending in the token it started with. From each
    unused swap the search goes breadth-first, so the shortest route wins; swaps of a found cycle
    are not reused. At most `max_hops` swaps per cycle and `budget` partial routes per transaction.
    """
    frame = normalize_swaps(swaps).with_columns(
        pl.col("amount_in").cast(pl.Float64).alias("in_f"),
        pl.col("amount_out").cast(pl.Float64).alias("out_f"),
    )
    # A cycle needs two swaps in the transaction and some token both paid in and paid out.
    per_tx = frame.group_by("transaction_hash").agg(
        pl.len().alias("n"),
        pl.col("token_in").unique().alias("ins"),
        pl.col("token_out").unique().alias("outs"),
    )
    per_tx = per_tx.filter(
        (pl.col("n") >= 2) & (pl.col("ins").list.set_intersection("outs").list.len() > 0)
    )
    if per_tx.is_empty():
        return pl.DataFrame(schema=ARBITRAGE_SCHEMA)
    work = frame.join(per_tx.select("transaction_hash"), on="transaction_hash", how="semi").sort(
        ["block_number", "transaction_index", "transaction_hash", "log_index"]
    )
    cols = work.select(
        "block_number", "transaction_hash", "transaction_index", "log_index", "pool", "token_in", "token_out",
        "in_f", "out_f", "tx_from", "sender",
    ).to_dict(as_series=False)
    out: list[dict] = []
    n, start = work.height, 0
    while start < n:
        end = start
        while end < n and cols["transaction_hash"][end] == cols["transaction_hash"][start]:
            end += 1
        _cycles_in_tx(cols, start, end, max_hops, tolerance, budget, out)
        start = end
    return pl.DataFrame(out, schema=ARBITRAGE_SCHEMA)


def _cycles_in_tx(cols: dict, start: int, end: int, max_hops: int, tolerance: float, budget: int, out: list) -> None:
    tin, tout, pool, a_in, a_out = cols["token_in"], cols["token_out"], cols["pool"], cols["in_f"], cols["out_f"]
    used: set[int] = set()
    for i in range(start, end):
        if i in used or budget <= 0:
            continue
        frontier: list[tuple[int, ...]] = [(i,)]
        found: tuple[int, ...] | None = None
        for _depth in range(1, max_hops):
            grown: list[tuple[int, ...]] = []
            for path in frontier:
                last = path[-1]
                for j in range(last + 1, end):
                    if j in used or tin[j] != tout[last] or not _chained(a_out[last], a_in[j], tolerance):
                        continue
                    if pool[j] in {pool[k] for k in path}:
                        continue
                    budget -= 1
                    if tout[j] == tin[i]:
                        found = (*path, j)
                        break
                    grown.append((*path, j))
                    if budget <= 0:
                        break
                if found or budget <= 0:
                    break
            if found or budget <= 0 or not grown:
                break
            frontier = grown
        if found is None:
            continue
        first, last = found[0], found[-1]
        profit = a_out[last] - a_in[first]
        if profit <= 0:
            continue  # a round trip that lost money is a trade, not an arbitrage
        used.update(found)
        out.append(
            {
                "block_number": cols["block_number"][first],
                "transaction_hash": cols["transaction_hash"][first],
                "transaction_index": cols["transaction_index"][first],
                "first_log_index": cols["log_index"][first],
                "actor": cols["tx_from"][first] or cols["sender"][first],
                "start_token": tin[first],
                "hops": len(found),
                "pools": ",".join(pool[k] for k in found),
                "tokens": ",".join([tin[first], *(tout[k] for k in found)]),
                "log_indexes": ",".join(str(cols["log_index"][k]) for k in found),
                "amount_in": a_in[first],
                "amount_out": a_out[last],
                "profit": profit,
            }
        )


# -- costs: gas and coinbase payments -------------------------------------------------------------
#: Wrapped ether on mainnet; other chains name theirs (``native_tokens``), e.g. from token symbols.
MAINNET_WETH = "0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2"


def _tx_costs(transactions: pl.DataFrame, blocks: pl.DataFrame) -> tuple[dict[str, float], dict[str, float]]:
    """(gas paid per transaction, ether paid to its block's coinbase per transaction), in wei.

    Coinbase payments are the plain value transfers the indexed transactions show (``to`` is the
    block's miner, status 1). A payment made inside a contract call (``block.coinbase.transfer``)
    is an internal call, visible only in traces, which are not indexed: it is missed, and the net
    profit of such a bot is overstated by it.
    """
    if transactions.is_empty():
        return {}, {}
    price = pl.coalesce(
        pl.col("receipt_effective_gas_price").cast(pl.Float64), pl.col("gas_price").cast(pl.Float64)
    )
    tx = transactions.select(
        "hash", "block_number", "from_address", "to_address",
        (pl.col("receipt_gas_used").cast(pl.Float64) * price).alias("gas_wei"),
        pl.col("value").cast(pl.Float64).fill_null(0.0).alias("value_wei"),
        pl.col("receipt_status").fill_null(1).alias("status"),
    )
    gas = dict(tx.select("hash", "gas_wei").drop_nulls().iter_rows())
    coinbase: dict[str, float] = {}
    if blocks.height:
        paid = tx.join(blocks.select(pl.col("number").alias("block_number"), "miner"), on="block_number").filter(
            (pl.col("to_address") == pl.col("miner")) & (pl.col("value_wei") > 0) & (pl.col("status") == 1)
        )
        coinbase = dict(paid.select("hash", "value_wei").iter_rows())
    return gas, coinbase


def _bribes(transactions: pl.DataFrame, coinbase: dict[str, float]) -> dict[tuple[int, str], float]:
    """Coinbase payments summed per (block, sender): a bundle's tip is often its own transaction."""
    if not coinbase:
        return {}
    out: dict[tuple[int, str], float] = defaultdict(float)
    for tx_hash, block, sender in transactions.select("hash", "block_number", "from_address").iter_rows():
        if tx_hash in coinbase:
            out[(block, sender)] += coinbase[tx_hash]
    return out


def bundle_costs(
    sandwiches: pl.DataFrame,
    arbitrages: pl.DataFrame,
    transactions: pl.DataFrame,
    blocks: pl.DataFrame,
    native_tokens: Iterable[str] = (MAINNET_WETH,),
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Sandwiches and arbitrages with their cost columns filled: gas, coinbase payments, net profit.

    A bundle's cost is the gas its transactions burnt (gasUsed x effectiveGasPrice: base fee and
    priority tip alike) plus the ether its senders paid the block's coinbase in that block (a tip
    transaction of its own included). Costs are in wei; the net profit needs them in the profit
    token, which is exact for wrapped ether (``native_tokens``) and, for a sandwich on a wrapped
    ether pair, converted at the front-run's own price. Otherwise the net stays null and the costs
    are still reported in wei beside it. Transactions not indexed leave every cost null.
    """
    native = {t.lower() for t in native_tokens}
    gas, coinbase = _tx_costs(transactions, blocks)
    sender = dict(transactions.select("hash", "from_address").iter_rows()) if transactions.height else {}
    bribes = _bribes(transactions, coinbase)

    def costs(block: int, txs: list[str]) -> tuple[float | None, float | None]:
        if not all(t in gas for t in txs):
            return None, None
        senders = {sender[t] for t in txs if t in sender}
        return sum(gas[t] for t in txs), sum(bribes.get((block, s), 0.0) for s in senders)

    rows = []
    for row in sandwiches.iter_rows(named=True):
        txs = list(dict.fromkeys([row["front_transaction_hash"], row["back_transaction_hash"]]))
        row["gas_cost_wei"], row["coinbase_transfer_wei"] = costs(row["block_number"], txs)
        rate = None  # profit-token units per wei
        if row["token_front_in"] in native:
            rate = 1.0
        elif row["token_front_out"] in native and row["front_amount_out"]:
            rate = row["front_amount_in"] / row["front_amount_out"]
        _net(row, rate)
        rows.append(row)
    # A bundle sandwiching several pools is one front-run and one back-run: charge its costs once,
    # to its first pool's row, so sums over the table count them once.
    seen: set[tuple[str, str]] = set()
    for row in sorted(rows, key=lambda r: (r["front_transaction_hash"], r["front_log_index"])):
        pair = (row["front_transaction_hash"], row["back_transaction_hash"])
        if pair in seen and row["gas_cost_wei"] is not None:
            row["gas_cost_wei"] = row["coinbase_transfer_wei"] = 0.0
            if row["cost_in_profit_token"] is not None:
                row["cost_in_profit_token"], row["net_profit"] = 0.0, row["profit"]
        seen.add(pair)
    arb_rows = []
    for row in arbitrages.iter_rows(named=True):
        row["gas_cost_wei"], row["coinbase_transfer_wei"] = costs(row["block_number"], [row["transaction_hash"]])
        _net(row, 1.0 if row["start_token"] in native else None)
        arb_rows.append(row)
    return (pl.DataFrame(rows, schema=SANDWICH_SCHEMA) if rows else sandwiches,
            pl.DataFrame(arb_rows, schema=ARBITRAGE_SCHEMA) if arb_rows else arbitrages)


def _net(row: dict, rate: float | None) -> None:
    if row["gas_cost_wei"] is None or rate is None:
        row["cost_in_profit_token"] = row["net_profit"] = None
        return
    row["cost_in_profit_token"] = (row["gas_cost_wei"] + row["coinbase_transfer_wei"]) * rate
    row["net_profit"] = row["profit"] - row["cost_in_profit_token"]
