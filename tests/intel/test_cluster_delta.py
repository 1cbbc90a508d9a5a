"""Incremental clusters (one range at a time) equal the one-shot computation over the whole history."""

from __future__ import annotations

import polars as pl
import pytest

from ops.intel.cluster_delta import ClusterState, frame_history
from ops.intel.cluster_synth import synthetic_history
from ops.intel.clusters import wallet_clusters
from tests.intel.test_clusters import OWN_WALLET, OWNER, SCAMMER, VICTIMS, approval, drain


def fold(ranges, excluded=()):
    state, seen = ClusterState(), []
    for transfers, logs in ranges:
        seen.append(transfers)
        state.add_range(transfers, logs, frame_history(pl.concat(seen)), excluded)
    return state


def assignment(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.select("address", "cluster_id", "cluster_size", "heuristics", "labels").sort("address")


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_range_by_range_equals_the_full_recomputation(seed):
    ranges = synthetic_history(seed, 6, blocks=50, customers=25)
    full, _ = wallet_clusters(pl.concat([t for t, _ in ranges]), pl.concat([lg for _, lg in ranges]))
    state = fold(ranges)
    assert full.height > 50 and full["cluster_id"].n_unique() > 20  # something to get wrong
    assert assignment(state.rows()).equals(assignment(full))


def test_a_second_owner_unlinks_the_first_approval():
    first = (pl.DataFrame([drain(OWNER, OWN_WALLET, 9, 1)]), pl.DataFrame([approval(VICTIMS[0], SCAMMER, 1)]))
    state = fold([first])
    assert state.cluster_of[VICTIMS[0]] == state.cluster_of[SCAMMER]  # one owner: looks like one's own wallet
    second = (pl.DataFrame([drain(OWNER, OWN_WALLET, 10, 2)]),
              pl.DataFrame([approval(VICTIMS[1], SCAMMER, 2), approval(OWNER, OWN_WALLET, 3)]))
    state = fold([first, second])
    assert VICTIMS[0] not in state.cluster_of and SCAMMER not in state.cluster_of
    assert state.cluster_of[OWNER] == state.cluster_of[OWN_WALLET]


def test_an_address_that_becomes_excluded_stops_linking():
    ranges = synthetic_history(4, 3, blocks=50, customers=20)
    linked = next(a for (a, b, h) in fold(ranges).links if h == "self_authorization")
    state, seen = ClusterState(), []
    for i, (transfers, logs) in enumerate(ranges):
        seen.append(transfers)
        state.add_range(transfers, logs, frame_history(pl.concat(seen)), [linked] if i == 2 else [])
    full, _ = wallet_clusters(pl.concat(seen), pl.concat([lg for _, lg in ranges]), exclude=[linked])
    assert assignment(state.rows()).equals(assignment(full))
    with pytest.raises(ValueError):
        state.add_range(ranges[0][0].head(0), ranges[0][1].head(0), frame_history(pl.concat(seen)), [])


@pytest.mark.parametrize("seed", [5, 6])
def test_state_persisted_in_a_warehouse_between_ranges_gives_the_same_clusters(tmp_path, seed):
    """Each range a fresh state that loads by address from SQLite and writes back what changed."""
    from assets.intel.cluster_store import history, load_state, save_state
    from resources.tables import TOKEN_TRANSFERS, WALLET_CLUSTERS
    from resources.warehouse import Warehouse

    ranges = synthetic_history(seed, 5, blocks=50, customers=25)
    db = Warehouse(f"sqlite:///{tmp_path / 'w.sqlite'}")
    excluded: list[str] = []
    offset = 0
    try:
        for i, (transfers, logs) in enumerate(ranges):
            rows = transfers.with_columns(pl.int_range(offset, offset + transfers.height, dtype=pl.Int64).alias("log_index"))
            offset += transfers.height
            db.upsert(TOKEN_TRANSFERS, rows.with_columns(
                [pl.lit(None, dtype=d).alias(c) for c, d in TOKEN_TRANSFERS.schema.items() if c not in rows.columns]
            ).select(list(TOKEN_TRANSFERS.schema)))
            if i == 3:  # a linked spender learned to be a contract: its links go
                excluded.append(next(b for _a, b, h, _e in db.read("wallet_links").rows() if h == "self_authorization"))
            state, _ = load_state(db)
            rebuilt = state.add_range(transfers, logs, history(db), excluded)
            save_state(db, state, int(transfers["block_number"].max()), state.rows(rebuilt))
        full, _ = wallet_clusters(pl.concat([t for t, _ in ranges]), pl.concat([lg for _, lg in ranges]),
                                  exclude=excluded)
        assert assignment(db.read(WALLET_CLUSTERS.name)).equals(assignment(full))
        sizes = db.read(WALLET_CLUSTERS.name).group_by("cluster_id").agg(pl.len(), pl.col("cluster_size").first())
        assert sizes.filter(pl.col("len") != pl.col("cluster_size")).is_empty()
    finally:
        db.dispose()


def test_a_hot_wallet_that_stops_being_one_becomes_a_deposits_customer():
    """A deposit that stops forwarding (it kept a later payment) leaves its hot wallet one depositor: no
    longer hot, the wallet counts as a sender again and joins the customer of a deposit it paid into."""
    def a(n: int) -> str:
        return "0x" + f"{n:040x}"

    hot, hot2, d1, d2, d3, d4, b, c = (a(n) for n in (0xe1, 0xe2, 0xd1, 0xd2, 0xd3, 0xd4, 0xb, 0xc))

    def move(src: str, dst: str, value: int, block: int) -> dict:
        return {"token_address": "eth", "from_address": src, "to_address": dst, "value": str(value),
                "transaction_hash": f"0x{block:032x}{int(src, 16) % 2**32:016x}{int(dst, 16) % 2**32:016x}",
                "block_number": block}

    first = pl.DataFrame([move(a(1), d1, 100, 1), move(d1, hot, 100, 2), move(a(2), d2, 100, 1), move(d2, hot, 100, 2),
                          move(hot, d3, 50, 3), move(b, d3, 50, 3), move(d3, hot2, 100, 4),
                          move(c, d4, 70, 3), move(d4, hot2, 70, 4)])
    second = pl.DataFrame([move(a(3), d2, 1000, 20)])
    empty = pl.DataFrame(schema={"topic0": pl.Utf8, "topic1": pl.Utf8, "topic2": pl.Utf8, "topic3": pl.Utf8,
                                 "transaction_hash": pl.Utf8})
    state = fold([(first, empty)])
    assert hot in state.hot and b not in state.cluster_of  # the hot wallet is no customer
    state = fold([(first, empty), (second, empty)])
    full, _ = wallet_clusters(pl.concat([first, second]), empty)
    assert hot not in state.hot and state.cluster_of[b] == state.cluster_of[hot]
    assert assignment(state.rows()).equals(assignment(full))
