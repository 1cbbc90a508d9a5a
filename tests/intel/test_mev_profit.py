"""Net profit of sandwiches and arbitrages: gas and coinbase payments, and mev-inspect-py's figure beside ours."""

from __future__ import annotations

import polars as pl
import pytest

from ops.intel.mev import (
    ARBITRAGE_SCHEMA,
    SANDWICH_SCHEMA,
    bundle_costs,
    detect_arbitrages,
    detect_sandwiches,
)
from tests.intel.test_mev import BOT_EOA, POOL2, TKN, WETH, frame, hop, swap, victim

MINER = "0x" + "c0" * 20
GWEI = 10**9
NO_ARBS, NO_SANDWICHES = pl.DataFrame(schema=ARBITRAGE_SCHEMA), pl.DataFrame(schema=SANDWICH_SCHEMA)


def tx(hash_, sender, *, to="0x" + "7a" * 20, gas_used=150_000, price=30 * GWEI, value=0, status=1, block=100):
    return {"hash": hash_, "block_number": block, "from_address": sender, "to_address": to, "value": str(value),
            "gas_price": price + 1, "receipt_gas_used": gas_used, "receipt_effective_gas_price": price,
            "receipt_status": status}


def sandwich(front_in=5 * 10**18, bought=10_000, sold=10_000, back_out=6 * 10**18, token=WETH):
    swaps = frame(
        swap(0, token, front_in, TKN, bought, tx_from=BOT_EOA),
        victim(1),
        swap(2, TKN, sold, token, back_out, tx_from=BOT_EOA),
    )
    return detect_sandwiches(swaps), swaps


def test_mev_inspect_figure_ignores_sizes_ours_matches_them():
    found, _ = sandwich(sold=5_000, back_out=3 * 10**18)
    row = found.row(0, named=True)
    assert row["profit"] == pytest.approx(0.5 * 10**18)  # 2.5 WETH paid for the half sold back
    assert row["profit_mev_inspect"] == pytest.approx(-2 * 10**18)  # 3 back minus the whole 5 paid
    assert row["net_profit"] is None and row["gas_cost_wei"] is None  # not costed yet


def test_net_profit_subtracts_gas_of_both_legs_and_the_bundles_coinbase_tip():
    found, _ = sandwich()
    front, back = found["front_transaction_hash"][0], found["back_transaction_hash"][0]
    txs = pl.DataFrame([
        tx(front, BOT_EOA), tx(back, BOT_EOA, gas_used=120_000),
        tx("0x" + "f1" * 32, BOT_EOA, to=MINER, value=10**16, gas_used=21_000),  # the tip, its own transaction
        tx("0x" + "f2" * 32, "0x" + "99" * 20, to=MINER, value=10**17, gas_used=21_000),  # someone else's tip
        tx("0x" + "f3" * 32, BOT_EOA, to=MINER, value=10**18, status=0, gas_used=21_000),  # reverted: paid nothing
    ])
    blocks = pl.DataFrame({"number": [100], "miner": [MINER]})
    costed, _ = bundle_costs(found, NO_ARBS, txs, blocks, native_tokens=[WETH])
    row = costed.row(0, named=True)
    gas = (150_000 + 120_000) * 30 * GWEI
    assert row["gas_cost_wei"] == gas and row["coinbase_transfer_wei"] == 10**16
    assert row["cost_in_profit_token"] == gas + 10**16
    assert row["net_profit"] == pytest.approx(10**18 - gas - 10**16)


def test_costs_convert_through_the_front_run_price_or_stay_unnetted():
    # Paid in TKN for WETH: 10,000 TKN bought 5 WETH, so a wei of cost is 10,000 / 5e18 TKN.
    found = detect_sandwiches(frame(
        swap(0, TKN, 10_000, WETH, 5 * 10**18, tx_from=BOT_EOA),
        swap(1, TKN, 1_000, WETH, 4 * 10**17, tx_from="0x" + "d1" * 20),
        swap(2, WETH, 5 * 10**18, TKN, 11_000, tx_from=BOT_EOA),
    ))
    txs = pl.DataFrame([tx(found["front_transaction_hash"][0], BOT_EOA), tx(found["back_transaction_hash"][0], BOT_EOA)])
    blocks = pl.DataFrame({"number": [100], "miner": [MINER]})
    costed, _ = bundle_costs(found, NO_ARBS, txs, blocks, native_tokens=[WETH])
    gas = 2 * 150_000 * 30 * GWEI
    assert costed["cost_in_profit_token"][0] == pytest.approx(gas * 10_000 / (5 * 10**18))
    # Neither side wrapped ether: gas is still reported in wei, the net is unknown.
    other, _ = bundle_costs(found, NO_ARBS, txs, blocks, native_tokens=["0x" + "ab" * 20])
    assert other["gas_cost_wei"][0] == gas and other["net_profit"][0] is None


def test_unindexed_transactions_leave_costs_null():
    found, _ = sandwich()
    costed, _ = bundle_costs(found, NO_ARBS, pl.DataFrame([tx("0x" + "ee" * 32, BOT_EOA)]),
                             pl.DataFrame({"number": [100], "miner": [MINER]}), native_tokens=[WETH])
    assert costed["gas_cost_wei"][0] is None and costed["net_profit"][0] is None


def test_a_multi_pool_bundle_pays_its_costs_once():
    other_victim = dict(victim(1, pool=POOL2), transaction_hash="0x" + "0d" * 32)
    legs = [
        swap(0, WETH, 5 * 10**18, TKN, 10_000, tx_from=BOT_EOA, log_index=0),
        swap(0, WETH, 5 * 10**18, TKN, 10_000, tx_from=BOT_EOA, pool=POOL2, log_index=1),
        victim(1), other_victim,
        swap(3, TKN, 10_000, WETH, 6 * 10**18, tx_from=BOT_EOA, log_index=5),
        swap(3, TKN, 10_000, WETH, 6 * 10**18, tx_from=BOT_EOA, pool=POOL2, log_index=6),
    ]
    found = detect_sandwiches(frame(*legs))
    assert found.height == 2
    txs = pl.DataFrame([tx(found["front_transaction_hash"][0], BOT_EOA), tx(found["back_transaction_hash"][0], BOT_EOA)])
    costed, _ = bundle_costs(found, NO_ARBS, txs, pl.DataFrame({"number": [100], "miner": [MINER]}),
                             native_tokens=[WETH])
    assert costed["gas_cost_wei"].sum() == 2 * 150_000 * 30 * GWEI
    assert costed["net_profit"].sum() == pytest.approx(2 * 10**18 - 2 * 150_000 * 30 * GWEI)


def test_arbitrage_net_profit_in_wrapped_ether_only():
    arbs = detect_arbitrages(frame(hop(1, "0x" + "01" * 20, WETH, 10**18, TKN, 5000),
                                   hop(2, POOL2, TKN, 5000, WETH, 11 * 10**17)))
    txs = pl.DataFrame([tx(arbs["transaction_hash"][0], BOT_EOA, block=100)])
    blocks = pl.DataFrame({"number": [100], "miner": [MINER]})
    _, costed = bundle_costs(NO_SANDWICHES, arbs, txs, blocks, native_tokens=[WETH])
    assert costed["net_profit"][0] == pytest.approx(10**17 - 150_000 * 30 * GWEI)
    _, unknown = bundle_costs(NO_SANDWICHES, arbs, txs, blocks, native_tokens=[])
    assert unknown["gas_cost_wei"][0] == 150_000 * 30 * GWEI and unknown["net_profit"][0] is None
