"""address_features folded range by range equals the full computation, in the warehouse and in real runs."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg
import polars as pl
import pytest
from dagster._core.storage.defs_state.base import set_defs_state_storage

from assets.fraud import feature_store
from assets.fraud.assets import FRAUD_ASSETS, FRAUD_CHECKS
from ops.fraud.feature_delta import COMPARED
from ops.fraud.feature_synth import concat, synthetic_range
from ops.fraud.features import address_features
from resources.configurable import build_resources
from resources.tables import CHAIN_TRANSACTIONS, CONTRACTS, TOKEN_TRANSFERS
from resources.warehouse import Warehouse
from tests.fraud.conftest import A, B, C, K, chain_frames, tx
from tests.fraud.test_assets import conform

SPECS = (CHAIN_TRANSACTIONS, TOKEN_TRANSFERS, CONTRACTS)
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def write(wh: Warehouse, frames: dict[str, pl.DataFrame]) -> None:
    for spec in SPECS:
        if frames[spec.name].height:
            wh.upsert(spec, conform(frames[spec.name], spec))


def stored(wh: Warehouse) -> pl.DataFrame:
    return wh.read("address_features").sort("address")


def same(a: pl.DataFrame, b: pl.DataFrame) -> None:
    """Every column but computed_at, exactly (floats bit for bit)."""
    assert a["address"].sort().to_list() == b["address"].sort().to_list()
    a, b = a.select(COMPARED).sort("address"), b.select(COMPARED).sort("address")
    differ = [c for c in COMPARED if not a[c].equals(b[c])]
    assert not differ, {c: a.filter(a[c] != b[c]).select("address", c).head(3).to_dicts() for c in differ}


def chunks(frames: dict[str, pl.DataFrame], cuts: list[int]) -> list[dict[str, pl.DataFrame]]:
    bounds = list(zip([-1, *cuts], [*cuts, 10**12], strict=True))
    return [{n: f.filter(pl.col("block_number").is_between(lo + 1, hi)) for n, f in frames.items()} for lo, hi in bounds]


def test_folding_a_synthetic_chain_range_by_range_equals_the_full_computation(settings):
    chain = concat([synthetic_range(s, 20, accounts=150, contracts=12, seed=3) for s in range(0, 120, 20)])
    wh = Warehouse(settings.resolved_warehouse_url)
    folded_to = None
    for i, part in enumerate(chunks(chain, [19, 44, 45, 80, 99])):
        write(wh, part)
        last = feature_store.last_block(wh)
        if folded_to is None:
            feature_store.full(wh, NOW)
        else:
            summary = feature_store.fold(wh, folded_to + 1, last, NOW)
            assert summary["touched"] > 0, i
        folded_to = last
    full = address_features(chain["chain_transactions"], chain["token_transfers"], chain["contracts"])
    same(stored(wh), full)
    # not vacuous: contracts paid before their creation block, ether and tokens sent to contracts
    assert (full["total_ether_sent_contracts"] > 0).sum() > 20 and (full["erc20_total_sent_contract"] > 0).sum() > 5
    wh.dispose()


def test_a_contract_created_after_it_was_paid_changes_its_earlier_senders(settings):
    """A pays K at block 1; K is created at block 3 by B: A is not in blocks 2..3, yet its row changes."""
    rows = [tx(1, A, K, 2, 1000, 1), tx(2, C, B, 1, 1100, 2), tx(3, B, None, 0, 1200, 3, created=K)]
    txs = pl.DataFrame(rows, schema=chain_frames()["chain_transactions"].schema)
    empty = {"token_transfers": chain_frames()["token_transfers"].clear(),
             "contracts": pl.DataFrame({"address": [K], "creator_address": [B], "block_number": [3]})}
    wh = Warehouse(settings.resolved_warehouse_url)
    write(wh, {"chain_transactions": txs.filter(pl.col("block_number") == 1), **empty,
               "contracts": empty["contracts"].clear()})
    feature_store.full(wh, NOW)
    assert stored(wh).filter(pl.col("address") == A)["total_ether_sent_contracts"].item() == 0.0
    write(wh, {"chain_transactions": txs, **empty})
    summary = feature_store.fold(wh, 2, 3, NOW)
    assert A in summary["features"]["address"].to_list()
    assert stored(wh).filter(pl.col("address") == A)["total_ether_sent_contracts"].item() == 2.0
    same(stored(wh), address_features(txs, None, empty["contracts"]))
    wh.dispose()


def test_the_hand_built_chain_block_by_block_with_a_checksum_spelling(settings):
    frames = chain_frames()
    wh = Warehouse(settings.resolved_warehouse_url)
    for block in range(1, 7):
        write(wh, {n: f.filter(pl.col("block_number") == block) for n, f in frames.items()})
        if block == 1:
            feature_store.full(wh, NOW)
        else:
            feature_store.fold(wh, block, block, NOW)
    same(stored(wh), address_features(frames["chain_transactions"], frames["token_transfers"], frames["contracts"]))
    wh.dispose()


# -- real runs ----------------------------------------------------------------------------------------
def run(instance, settings, full=False):
    config = {"ops": {"address_features": {"config": {"full": True}}}} if full else None
    with set_defs_state_storage(instance.defs_state_storage):
        result = dg.materialize([*FRAUD_ASSETS, *FRAUD_CHECKS], instance=instance,
                                resources=build_resources(settings), run_config=config,
                                selection=["address_features"])
    assert result.success
    return result.asset_materializations_for_node("address_features")[0].metadata


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        yield inst


def test_runs_fold_new_ranges_change_nothing_without_them_and_equal_a_full_run(instance, settings):
    chain = concat([synthetic_range(s, 25, accounts=120, contracts=10, seed=5) for s in range(0, 100, 25)])
    wh = Warehouse(settings.resolved_warehouse_url)
    parts = chunks(chain, [24, 49, 74])
    write(wh, parts[0])
    first = run(instance, settings)
    assert first["folded"].value == "full" and first["folded_to"].value == 24
    for part, (lo, hi) in zip(parts[1:], [(25, 49), (50, 74), (75, 99)], strict=True):
        write(wh, part)
        meta = run(instance, settings)
        assert meta["folded"].value == f"blocks {lo}..{hi}" and 0 < meta["rows"].value < wh.count("address_features")
    incremental = stored(wh)
    full = address_features(chain["chain_transactions"], chain["token_transfers"], chain["contracts"])
    same(incremental, full)

    idle = run(instance, settings)  # no new block: nothing read, nothing written, not even computed_at
    assert idle["rows"].value == 0 and idle["folded"].value.startswith("none")
    assert stored(wh).equals(incremental)

    again = run(instance, settings, full=True)
    assert again["folded"].value == "full" and again["rows"].value == full.height
    same(stored(wh), incremental)
    assert (stored(wh)["computed_at"] > incremental["computed_at"].max()).all()  # every row rewritten
    wh.dispose()


def test_scoring_after_a_new_range_rescores_the_changed_rows_only(instance, settings, public_slice_csv, tmp_path):
    """Blocks 1..4 through the whole group; then blocks 5..6: only the addresses they touch are re-scored,
    with the scores a full re-scoring gives; nothing new: nothing scored, no event."""
    from tests.fraud.test_assets import materialize

    truth = tmp_path / "ground_truth.json"
    truth.write_text(f'{{"scam_addresses": ["{A}"], "normal_addresses": ["{C}"]}}')
    settings = settings.model_copy(update={"fraud_training_csv": public_slice_csv, "fraud_labels_path": truth})
    frames = chain_frames()
    wh = Warehouse(settings.resolved_warehouse_url)
    write(wh, {n: f.filter(pl.col("block_number") <= 4) for n, f in frames.items()})
    assert materialize(instance, settings).success
    before = wh.read("address_risk_scores").sort("address")
    assert before["address"].to_list() == sorted([A, B, C, K])
    write(wh, frames)
    scoring = ["address_features", "address_risk_scores"]
    result = materialize(instance, settings, selection=scoring)
    meta = result.asset_materializations_for_node("address_risk_scores")[0].metadata
    touched = {A, C, K}  # blocks 5..6: C pays K, A (in a checksum spelling) pays C, C sends A tokens
    assert meta["scored"].value == "changed rows" and meta["rows"].value == len(touched)
    after = wh.read("address_risk_scores").sort("address")
    kept = after.filter(~pl.col("address").is_in(list(touched)))
    assert kept.equals(before.filter(~pl.col("address").is_in(list(touched))))  # B untouched, scored_at too

    idle = materialize(instance, settings, selection=scoring).asset_materializations_for_node("address_risk_scores")
    assert idle[0].metadata["rows"].value == 0 and wh.read("address_risk_scores").sort("address").equals(after)

    with set_defs_state_storage(instance.defs_state_storage):
        full = dg.materialize([*FRAUD_ASSETS, *FRAUD_CHECKS], instance=instance, resources=build_resources(settings),
                              selection=["address_risk_scores"],
                              run_config={"ops": {"address_risk_scores": {"config": {"full": True}}}})
    assert full.asset_materializations_for_node("address_risk_scores")[0].metadata["scored"].value == "all"
    columns = ["address", "score", "probability", "band", "reason_1", "reason_2", "reason_3", "cluster_id"]
    rescored = wh.read("address_risk_scores").sort("address")
    differ = {c: (rescored[c].to_list(), after[c].to_list()) for c in columns if not rescored[c].equals(after[c])}
    assert not differ
    # the forest averages its trees over chunks of the batch: the same score up to the last bit
    assert rescored["anomaly_score"].to_list() == pytest.approx(after["anomaly_score"].to_list(), rel=1e-12)
    wh.dispose()
