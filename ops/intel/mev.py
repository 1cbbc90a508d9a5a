"""MEV detectors over a swaps frame (SWAP_SCHEMA): sandwiches and cyclic arbitrages.

Both are pure functions, linear in the number of swaps: a vectorized polars pass keeps only the
(block, pool) groups and transactions where a pattern is possible at all, and the per-group search
that follows is bounded (a look-ahead window, a hop limit and an expansion budget), so a block full
of wash trades or liquidity churn cannot make it hang.

Who acts: a swap's actors are its transaction's sender (``tx_from``) and the swap's ``sender`` and
``recipient``, minus routers and pools. Routers relay many people's swaps, so two swaps sharing a
router share no actor. Routers are the addresses passed in plus every swap sender that relays for
at least ``ROUTER_MIN_CLIENTS`` distinct counterparts (transaction senders, else recipients).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

import polars as pl

from ops.intel.swaps import normalize_swaps

#: Swaps on the same pool a front-run looks ahead for its back-run.
SANDWICH_WINDOW = 64
ROUTER_MIN_CLIENTS = 3
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
    "profit": pl.Float64,  # in token_front_in base units, on the matched amounts
}
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
    "profit": pl.Float64,  # in start_token base units
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
