"""Fixtures of the price tests: market features from the seeded generator, tiny models, a learnable series.

Everything is small on purpose (a few hundred bars, an LSTM of 8 units trained a few epochs): the
tests check behaviour, not accuracy, and share two cores with everything else.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from ops.market.cleaning import clean_ohlcv
from ops.market.features import compute_features
from ops.market.schema import OHLCV_SCHEMA, conform
from ops.market.synthetic import generate_ohlcv
from ops.price.ensemble import EnsembleConfig
from ops.price.lstm import LSTMConfig
from resources.market_source import with_date

END = datetime(2024, 6, 1, tzinfo=UTC)
TINY = EnsembleConfig(
    window=8, inner_folds=2, lstm=LSTMConfig(hidden=8, epochs=4, patience=2, batch_size=64), gbm_max_iter=15
)


def synthetic_bars(symbols=("BTC-USD", "ETH-USD"), days: int = 10, interval: str = "1h") -> pl.DataFrame:
    raw = with_date(generate_ohlcv(list(symbols), interval, END - timedelta(days=days), END))
    clean, _ = clean_ohlcv(raw, now=END + timedelta(days=1))
    return clean


def learnable_bars(symbol: str = "AR-USD", n: int = 600, seed: int = 3, phi: float = 0.6, lag: int = 1) -> pl.DataFrame:
    """Hourly bars whose log returns lean on the return `lag` bars back with coefficient `phi`, so a
    model can beat persistence (a random walk's best forecast) by a wide margin. With `lag` 1 an AR(1)
    baseline is the data's own process; with `lag` 2 it has nothing to go on and the model must learn."""
    rng = np.random.default_rng(seed)
    r = np.zeros(n)
    for i in range(lag, n):
        r[i] = phi * r[i - lag] + rng.normal(0, 0.01)
    close = 100 * np.exp(np.cumsum(r))
    open_ = np.concatenate(([close[0]], close[:-1]))
    ts = [END - timedelta(hours=n - i) for i in range(n)]
    return conform(
        pl.DataFrame(
            {
                "symbol": symbol, "interval": "1h", "ts": ts, "date": [t.date().isoformat() for t in ts],
                "open": open_, "high": np.maximum(open_, close) * 1.001, "low": np.minimum(open_, close) * 0.999,
                "close": close, "volume": rng.lognormal(5, 0.3, n), "gap_before": False, "source": "test",
                "source_row": np.arange(1, n + 1),
            }
        ),
        OHLCV_SCHEMA,
    )


@pytest.fixture(scope="session")
def synthetic_features() -> pl.DataFrame:
    return compute_features(synthetic_bars())


@pytest.fixture(scope="session")
def learnable_features() -> pl.DataFrame:
    return compute_features(learnable_bars())
