"""Fixtures of the fraud tests: hand-built chain frames, a slice of the public data set, tiny models."""

from __future__ import annotations

import polars as pl
import pytest

from ops.fraud.model import TrainParams
from resources.training_data import load_public_dataset
from tests.serving.conftest import client, make_client  # noqa: F401 - the API tests use the serving fixtures

FRAUD_CSV = "fraud/ethereum_fraud_transaction_dataset.csv"
#: Small boosting for tests: enough to learn the public data well, quick on two shared cores.
TINY = TrainParams(max_iter=25, calibration_folds=2, learning_rate=0.2, bootstrap=200)

A = "0x" + "a" * 40
B = "0x" + "b" * 40
C = "0x" + "c" * 40
K = "0x" + "d" * 40  # the contract A creates
T1 = "0x" + "1" * 40
T2 = "0x" + "2" * 40
WEI = 10**18


def tx(h, frm, to, ether, ts, block, created=None, status=1):
    return {
        "hash": f"0x{h:064x}", "from_address": frm, "to_address": to, "value": str(int(ether * WEI)),
        "block_timestamp": ts, "block_number": block, "receipt_contract_address": created, "receipt_status": status,
    }


def chain_frames() -> dict[str, pl.DataFrame]:
    """Six transactions, three token transfers and one contract, small enough to compute by hand."""
    transactions = pl.DataFrame(
        [
            tx(1, A, B, 1, 1000, 1),
            tx(2, A, B, 3, 1600, 2),
            tx(3, B, C, 0.5, 2200, 3),
            tx(4, A, None, 0, 2800, 4, created=K),
            tx(5, C, K, 2, 4000, 5),
            tx(6, A.upper().replace("0X", "0x"), C, 2, 4600, 6),  # a checksum-style spelling of A
        ],
        schema={"hash": pl.Utf8, "from_address": pl.Utf8, "to_address": pl.Utf8, "value": pl.Utf8,
                "block_timestamp": pl.Int64, "block_number": pl.Int64, "receipt_contract_address": pl.Utf8,
                "receipt_status": pl.Int64},
    )
    transfers = pl.DataFrame(
        [
            {"token_address": T1, "from_address": A, "to_address": B, "value": str(5 * WEI),
             "transaction_hash": "0x01", "log_index": 0, "block_number": 2, "block_timestamp": 1600},
            {"token_address": T1, "from_address": A, "to_address": K, "value": str(1 * WEI),
             "transaction_hash": "0x02", "log_index": 0, "block_number": 4, "block_timestamp": 2800},
            {"token_address": T2, "from_address": C, "to_address": A, "value": str(2 * WEI),
             "transaction_hash": "0x03", "log_index": 1, "block_number": 5, "block_timestamp": 4000},
        ]
    )
    contracts = pl.DataFrame({"address": [K], "creator_address": [A], "block_number": [4]})
    return {"chain_transactions": transactions, "token_transfers": transfers, "contracts": contracts}


@pytest.fixture(scope="session")
def public_frame(shared_data) -> pl.DataFrame:
    return load_public_dataset(shared_data / FRAUD_CSV)


@pytest.fixture(scope="session")
def public_slice_csv(shared_data, tmp_path_factory):
    """About 1,500 rows of the real file (every duplicated address kept), written as the real CSV form."""
    raw = pl.read_csv(shared_data / FRAUD_CSV, infer_schema_length=0)
    dup = raw.filter(pl.col("Address").is_duplicated())
    rest = raw.filter(~pl.col("Address").is_duplicated()).sample(n=1450, seed=7)
    path = tmp_path_factory.mktemp("fraud") / "slice.csv"
    pl.concat([dup, rest]).write_csv(path)
    return path


@pytest.fixture(scope="session")
def tiny_training(public_slice_csv):
    """A tiny fraud model and anomaly model trained on the slice (shared by the ops and API tests)."""
    from ops.fraud.anomaly import fit_anomaly_model
    from ops.fraud.matrix import feature_matrix
    from ops.fraud.model import train_fraud_model
    from ops.fraud.schema import FEATURES

    frame = load_public_dataset(public_slice_csv)
    x, y = feature_matrix(frame), frame["label"].to_numpy()
    result = train_fraud_model(x, y, frame["address"].to_list(), TINY)
    anomaly = fit_anomaly_model(x, y, FEATURES, n_estimators=50)
    return frame, result, anomaly
