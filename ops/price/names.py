"""Names shared by the price assets, the drift sensor and the API."""

from __future__ import annotations

#: Model-store names: the two components of a training run, and the evaluated, servable model.
LSTM_NAME = "price_lstm"
ENSEMBLE_NAME = "price_ensemble"
MODEL_NAME = "price_model"
#: Latest bars per symbol read to forecast (enough for the features' warm-up, the window and the
#: baseline's interval history) and to measure drift against the training returns: two weeks of
#: hourly bars, four months of daily ones.
RECENT_BARS: dict[str, int] = {"1h": 336, "1d": 120}
