"""A small PyTorch LSTM regressor of future log returns (one output per horizon).

Deterministic on CPU: seeds are fixed, batches are drawn from a seeded numpy generator, the thread
count is the caller's (the TORCH_THREADS setting), and the best epoch on a validation slice (the
latest `val_fraction` of the training rows, in time order) is the one kept (early stopping).

Inputs are standardized with the training rows' mean and spread and clipped to +-5 (returns have
fat tails; one crash bar must not saturate the cell), targets are divided by their training spread
so one learning rate suits hourly and daily series alike. The loss is Huber on those scaled
targets: closer to the MAE the models are judged on than a squared error, and smooth near zero.

torch is imported inside the functions: this module is imported by code Dagster loads.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

#: Standardized inputs are clipped to this many spreads.
INPUT_CLIP = 5.0


@dataclass(frozen=True)
class LSTMConfig:
    hidden: int = 16
    layers: int = 1
    dropout: float = 0.1
    epochs: int = 30
    batch_size: int = 128
    learning_rate: float = 3e-3
    weight_decay: float = 1e-4
    patience: int = 5
    val_fraction: float = 0.2
    seed: int = 7


@dataclass
class LSTMFit:
    """A trained LSTM: weights (torch state dict bytes), scalers, and the loss curve."""

    config: LSTMConfig
    n_inputs: int
    n_outputs: int
    state: bytes
    x_mean: np.ndarray
    x_std: np.ndarray
    y_scale: np.ndarray
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0

    def meta(self) -> dict:
        """Everything but the weights, JSON-ready."""
        return {
            "config": asdict(self.config),
            "n_inputs": self.n_inputs,
            "n_outputs": self.n_outputs,
            "x_mean": self.x_mean.tolist(),
            "x_std": self.x_std.tolist(),
            "y_scale": self.y_scale.tolist(),
            "history": self.history,
            "best_epoch": self.best_epoch,
        }

    @classmethod
    def from_meta(cls, meta: dict, state: bytes) -> LSTMFit:
        return cls(
            config=LSTMConfig(**meta["config"]),
            n_inputs=int(meta["n_inputs"]),
            n_outputs=int(meta["n_outputs"]),
            state=state,
            x_mean=np.asarray(meta["x_mean"], dtype=np.float64),
            x_std=np.asarray(meta["x_std"], dtype=np.float64),
            y_scale=np.asarray(meta["y_scale"], dtype=np.float64),
            history=list(meta.get("history", [])),
            best_epoch=int(meta.get("best_epoch", 0)),
        )


def _network(n_inputs: int, n_outputs: int, config: LSTMConfig):
    import torch
    from torch import nn

    class LSTMRegressor(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = nn.LSTM(
                n_inputs,
                config.hidden,
                num_layers=config.layers,
                batch_first=True,
                dropout=config.dropout if config.layers > 1 else 0.0,
            )
            self.drop = nn.Dropout(config.dropout)
            self.head = nn.Linear(config.hidden, n_outputs)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out, _ = self.lstm(x)
            return self.head(self.drop(out[:, -1, :]))

    return LSTMRegressor()


def _standardize(sequences: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    scaled = (np.nan_to_num(sequences.astype(np.float64), nan=0.0) - mean) / std
    return np.clip(scaled, -INPUT_CLIP, INPUT_CLIP).astype(np.float32)


def _set_threads(threads: int) -> None:
    import torch

    if threads and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


def fit_lstm(
    sequences: np.ndarray,
    targets: np.ndarray,
    config: LSTMConfig | None = None,
    *,
    threads: int = 1,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
) -> LSTMFit:
    """Train on `sequences` (rows x window x inputs, time-ordered) to predict `targets` (rows x horizons)."""
    import torch

    config = config or LSTMConfig()
    if len(sequences) != len(targets) or len(sequences) < 4:
        raise ValueError(f"need at least 4 aligned rows to train, got {len(sequences)} and {len(targets)}")
    if np.isnan(targets).any():
        raise ValueError("training targets contain NaN (rows whose future is not known yet)")
    _set_threads(threads)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)

    n_val = round(len(sequences) * config.val_fraction)
    n_val = min(max(n_val, 1), len(sequences) - 2) if config.val_fraction > 0 else 0
    n_train = len(sequences) - n_val
    flat = sequences[:n_train].reshape(-1, sequences.shape[-1]).astype(np.float64)
    x_mean = np.nanmean(flat, axis=0)
    x_std = np.nanstd(flat, axis=0)
    x_std = np.where(x_std > 0, x_std, 1.0)
    y_scale = targets[:n_train].std(axis=0)
    y_scale = np.where(y_scale > 0, y_scale, 1.0)

    x = torch.from_numpy(_standardize(sequences, x_mean, x_std))
    y = torch.from_numpy((targets / y_scale).astype(np.float32))
    x_train, y_train, x_val, y_val = x[:n_train], y[:n_train], x[n_train:], y[n_train:]

    net = _network(sequences.shape[-1], targets.shape[1], config)
    optimizer = torch.optim.AdamW(net.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    loss_fn = torch.nn.HuberLoss(delta=1.0)

    best_state, best_loss, best_epoch, stale = None, math.inf, 0, 0
    history: list[dict[str, float]] = []
    for epoch in range(1, config.epochs + 1):
        net.train()
        order = rng.permutation(n_train)
        total = 0.0
        for start in range(0, n_train, config.batch_size):
            batch = torch.from_numpy(order[start : start + config.batch_size])
            optimizer.zero_grad()
            loss = loss_fn(net(x_train[batch]), y_train[batch])
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            optimizer.step()
            total += loss.item() * len(batch)
        train_loss = total / n_train
        net.eval()
        with torch.no_grad():
            val_loss = float(loss_fn(net(x_val), y_val)) if n_val else train_loss
        point = {"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss}
        history.append(point)
        if on_epoch is not None:
            on_epoch(point)
        if val_loss < best_loss - 1e-6:
            best_loss, best_epoch, stale = val_loss, epoch, 0
            best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
        else:
            stale += 1
            if stale >= config.patience:
                break
    buffer = io.BytesIO()
    torch.save(best_state if best_state is not None else net.state_dict(), buffer)
    return LSTMFit(
        config=config,
        n_inputs=sequences.shape[-1],
        n_outputs=targets.shape[1],
        state=buffer.getvalue(),
        x_mean=x_mean,
        x_std=x_std,
        y_scale=y_scale,
        history=history,
        best_epoch=best_epoch,
    )


def load_network(fit: LSTMFit):
    """The torch module of `fit`, in eval mode (raises when the weights do not fit the shapes)."""
    import torch

    net = _network(fit.n_inputs, fit.n_outputs, fit.config)
    state = torch.load(io.BytesIO(fit.state), map_location="cpu", weights_only=True)
    net.load_state_dict(state)
    net.eval()
    return net


def predict_lstm(fit: LSTMFit, sequences: np.ndarray, *, threads: int = 1, network=None) -> np.ndarray:
    """Predicted log returns, rows x horizons."""
    import torch

    if len(sequences) == 0:
        return np.empty((0, fit.n_outputs))
    _set_threads(threads)
    net = network if network is not None else load_network(fit)
    x = torch.from_numpy(_standardize(sequences, fit.x_mean, fit.x_std))
    outputs = []
    with torch.no_grad():
        for start in range(0, len(x), 4096):
            outputs.append(net(x[start : start + 4096]).numpy().astype(np.float64))
    return np.concatenate(outputs) * fit.y_scale


__all__ = ["LSTMConfig", "LSTMFit", "fit_lstm", "load_network", "predict_lstm"]
