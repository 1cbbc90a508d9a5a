"""The sandwich and arbitrage detectors on hand-built swaps, each case aimed at one rule."""

from __future__ import annotations

import polars as pl
import pytest

from ops.intel.mev import detect_arbitrages, detect_sandwiches, find_routers, routers_in
from ops.intel.swaps import normalize_swaps, swaps_from_rows

WETH, TKN, USDC, DAI = "0x" + "e0" * 20, "0x" + "a1" * 20, "0x" + "b2" * 20, "0x" + "c3" * 20
POOL, POOL2, POOL3 = "0x" + "01" * 20, "0x" + "02" * 20, "0x" + "03" * 20
BOT, BOT_EOA, ROUTER = "0x" + "b0" * 20, "0x" + "be" * 20, "0x" + "7a" * 20


def swap(tx_index, token_in, amount_in, token_out, amount_out, *, tx_from, sender=None, recipient=None,
         pool=POOL, block=100, log_index=0, tx_hash=None):
    return {
        "block_number": block, "transaction_index": tx_index,
        "transaction_hash": tx_hash or f"0x{block:030x}{tx_index:034x}", "log_index": log_index,
        "pool": pool, "sender": sender or tx_from, "recipient": recipient or tx_from, "tx_from": tx_from,
        "token_in": token_in, "token_out": token_out, "amount_in": str(amount_in), "amount_out": str(amount_out),
    }


def frame(*rows) -> pl.DataFrame:
    return swaps_from_rows(rows)


def victim(tx_index, who="0x" + "d1" * 20, **kw):
    return swap(tx_index, WETH, 10**18, TKN, 1900, tx_from=who, sender=ROUTER, recipient=who, **kw)


def test_classic_sandwich_with_profit():
    found = detect_sandwiches(frame(
        swap(0, WETH, 5 * 10**18, TKN, 10_000, tx_from=BOT_EOA, sender=BOT, recipient=BOT),
        victim(1),
        swap(2, TKN, 10_000, WETH, 6 * 10**18, tx_from=BOT_EOA, sender=BOT, recipient=BOT),
    ), routers=[ROUTER])
    assert found.height == 1
    row = found.row(0, named=True)
    assert row["attacker"] in {BOT, BOT_EOA} and row["victim_count"] == 1
    assert row["profit"] == pytest.approx(10**18) and row["matched_fraction"] == 1.0
    assert row["token_front_in"] == WETH


def test_lone_buy_then_sell_is_not_a_sandwich():
    assert detect_sandwiches(frame(
        swap(0, WETH, 10**18, TKN, 2000, tx_from=BOT_EOA),
        swap(1, TKN, 2000, WETH, 10**18, tx_from=BOT_EOA),
    )).is_empty()


def test_a_swap_in_the_other_direction_is_no_victim():
    assert detect_sandwiches(frame(
        swap(0, WETH, 10**18, TKN, 2000, tx_from=BOT_EOA),
        swap(1, TKN, 500, WETH, 2 * 10**17, tx_from="0x" + "d1" * 20),
        swap(2, TKN, 2000, WETH, 11 * 10**17, tx_from=BOT_EOA),
    )).is_empty()


def test_a_one_block_range_knows_the_router_from_the_blocks_before_it():
    # Attacker and one victim through a router: in that block alone it relays for two, too few to be
    # told from a trader, so it joins them into one actor and the sandwich is missed.
    block = [
        swap(0, WETH, 5 * 10**18, TKN, 10_000, tx_from=BOT_EOA, sender=ROUTER, recipient=BOT_EOA, block=120),
        victim(1, block=120),
        swap(2, TKN, 10_000, WETH, 6 * 10**18, tx_from=BOT_EOA, sender=ROUTER, recipient=BOT_EOA, block=120),
    ]
    assert detect_sandwiches(frame(*block)).is_empty()
    earlier = [victim(0, who=f"0x{i:040x}", block=100 + i) for i in range(1, 4)]  # it relayed for three others
    found = detect_sandwiches(frame(*block), routers=routers_in(frame(*earlier, *block)))
    assert found["block_number"].to_list() == [120] and found.row(0, named=True)["attacker"] == BOT_EOA
    assert routers_in(pl.DataFrame()) == set()  # nothing indexed before the range


def test_routers_are_not_actors():
    # Attacker and victims all go through the same router: the router must not make them one actor,
    # and the router being the sender of both bot legs must not hide the bot either.
    rows = [
        swap(0, WETH, 10**18, TKN, 2000, tx_from=BOT_EOA, sender=ROUTER, recipient=BOT_EOA),
        *(victim(i, who=f"0x{i:040x}") for i in (1, 2, 3)),
        swap(4, TKN, 2000, WETH, 12 * 10**17, tx_from=BOT_EOA, sender=ROUTER, recipient=BOT_EOA),
    ]
    swaps = frame(*rows)
    assert ROUTER in find_routers(swaps)  # relays for four different people: found without being told
    found = detect_sandwiches(swaps)
    assert found.height == 1
    assert found["attacker"][0] == BOT_EOA and found["victim_count"][0] == 3  # several victims allowed


def test_profit_on_matched_amounts_when_sizes_differ():
    # The bot buys 10,000 TKN for 5 WETH but sells back only 5,000 for 3 WETH: on the matched half
    # it paid 2.5 WETH and got 3 WETH back.
    found = detect_sandwiches(frame(
        swap(0, WETH, 5 * 10**18, TKN, 10_000, tx_from=BOT_EOA),
        victim(1),
        swap(2, TKN, 5_000, WETH, 3 * 10**18, tx_from=BOT_EOA),
    ))
    assert found["profit"][0] == pytest.approx(0.5 * 10**18)
    assert found["matched_fraction"][0] == pytest.approx(0.5)


def test_other_pool_other_block_and_same_transaction_do_not_sandwich():
    assert detect_sandwiches(frame(
        swap(0, WETH, 10**18, TKN, 2000, tx_from=BOT_EOA),
        victim(1, pool=POOL2),
        swap(2, TKN, 2000, WETH, 11 * 10**17, tx_from=BOT_EOA),
    )).is_empty()
    assert detect_sandwiches(frame(
        swap(0, WETH, 10**18, TKN, 2000, tx_from=BOT_EOA, block=100),
        victim(1, block=100),
        swap(0, TKN, 2000, WETH, 11 * 10**17, tx_from=BOT_EOA, block=101),
    )).is_empty()


def test_two_sandwiches_on_one_pool_in_one_block():
    other_bot = "0x" + "bb" * 20
    found = detect_sandwiches(frame(
        swap(0, WETH, 10**18, TKN, 2000, tx_from=BOT_EOA),
        victim(1),
        swap(2, TKN, 2000, WETH, 11 * 10**17, tx_from=BOT_EOA),
        swap(3, TKN, 900, WETH, 4 * 10**17, tx_from=other_bot),
        swap(4, TKN, 300, WETH, 10**17, tx_from="0x" + "d2" * 20),
        swap(5, WETH, 4 * 10**17, TKN, 950, tx_from=other_bot),
    ))
    assert sorted(found["attacker"].to_list()) == sorted([BOT_EOA, other_bot])


def test_wash_trading_block_stays_bounded_and_finds_nothing_false():
    # One actor flipping back and forth 2,000 times with nobody in between: no victims, no sandwich.
    rows = [
        swap(i, *(WETH, 10**18, TKN, 2000) if i % 2 == 0 else (TKN, 2000, WETH, 10**18), tx_from=BOT_EOA)
        for i in range(2000)
    ]
    assert detect_sandwiches(frame(*rows)).is_empty()
    assert detect_arbitrages(frame(*rows)).is_empty()


# -- arbitrage ------------------------------------------------------------------------------------
def hop(log_index, pool, token_in, amount_in, token_out, amount_out, tx_hash="0x" + "aa" * 32, **kw):
    return swap(7, token_in, amount_in, token_out, amount_out, tx_from=BOT_EOA, sender=BOT, recipient=BOT,
                pool=pool, log_index=log_index, tx_hash=tx_hash, **kw)


def test_two_and_three_hop_cycles_with_profit():
    two = frame(hop(1, POOL, WETH, 10**18, TKN, 5000), hop(2, POOL2, TKN, 5000, WETH, 11 * 10**17))
    row = detect_arbitrages(two).row(0, named=True)
    assert (row["hops"], row["start_token"], row["profit"]) == (2, WETH, pytest.approx(10**17))
    assert row["pools"] == f"{POOL},{POOL2}" and row["tokens"] == f"{WETH},{TKN},{WETH}"

    three = frame(
        hop(1, POOL, WETH, 10**18, TKN, 5000),
        hop(2, POOL2, TKN, 4990, USDC, 3000),  # 0.2 % short of the previous output: within 1 %
        hop(3, POOL3, USDC, 3000, WETH, 105 * 10**16),
    )
    row = detect_arbitrages(three).row(0, named=True)
    assert row["hops"] == 3 and row["log_indexes"] == "1,2,3"


def test_amounts_that_do_not_chain_are_no_cycle():
    assert detect_arbitrages(frame(
        hop(1, POOL, WETH, 10**18, TKN, 5000), hop(2, POOL2, TKN, 4000, WETH, 11 * 10**17)
    )).is_empty()


def test_same_pool_round_trip_and_losing_cycle_are_not_arbitrage():
    assert detect_arbitrages(frame(
        hop(1, POOL, WETH, 10**18, TKN, 5000), hop(2, POOL, TKN, 5000, WETH, 11 * 10**17)
    )).is_empty()
    assert detect_arbitrages(frame(
        hop(1, POOL, WETH, 10**18, TKN, 5000), hop(2, POOL2, TKN, 5000, WETH, 9 * 10**17)
    )).is_empty()


def test_shortest_route_wins():
    # WETH -> TKN, then TKN -> WETH directly (pool2) or via DAI (pool3, then pool 4): the 2-hop closes first.
    pool4 = "0x" + "04" * 20
    found = detect_arbitrages(frame(
        hop(1, POOL, WETH, 10**18, TKN, 5000),
        hop(2, POOL3, TKN, 5000, DAI, 2000),
        hop(3, pool4, DAI, 2000, WETH, 12 * 10**17),
        hop(4, POOL2, TKN, 5000, WETH, 11 * 10**17),
    ))
    assert found["hops"].to_list() == [2] and found["log_indexes"][0] == "1,4"


def test_arbitrages_in_separate_transactions_are_separate():
    a = [hop(1, POOL, WETH, 10**18, TKN, 5000), hop(2, POOL2, TKN, 5000, WETH, 11 * 10**17)]
    b = [hop(1, POOL, WETH, 10**18, TKN, 5000, tx_hash="0x" + "bb" * 32),
         hop(2, POOL2, TKN, 5000, WETH, 11 * 10**17, tx_hash="0x" + "bb" * 32)]
    assert detect_arbitrages(frame(*a, *b)).height == 2
    # Split across two transactions, the same swaps are no arbitrage.
    assert detect_arbitrages(frame(a[0], b[1])).is_empty()


def test_trace_addresses_order_swaps_without_log_indexes():
    rows = [hop(0, POOL2, TKN, 5000, WETH, 11 * 10**17), hop(0, POOL, WETH, 10**18, TKN, 5000)]
    for row, trace in zip(rows, ([0, 2], [0, 1]), strict=True):
        del row["log_index"]
        row["trace_address"] = trace
    swaps = swaps_from_rows(rows)
    assert swaps.sort("log_index")["pool"].to_list() == [POOL, POOL2]
    assert detect_arbitrages(swaps).height == 1


def test_missing_columns_are_named():
    with pytest.raises(ValueError, match="token_in"):
        normalize_swaps(pl.DataFrame({"block_number": [1]}))
