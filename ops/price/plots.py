"""Pictures of training and evaluation, as PNG bytes (saved next to the model, embedded in metadata)."""

from __future__ import annotations

import base64
import io

import numpy as np
import polars as pl


def _figure(width: float = 8, height: float = 3, rows: int = 1):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(rows, 1, figsize=(width, height), sharex=rows > 1)


def _png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def png_markdown(png: bytes, alt: str = "chart") -> str:
    """Markdown embedding `png` inline (the Dagster UI renders it)."""
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode()})"


def loss_curve_png(history: list[dict[str, float]], title: str = "LSTM loss") -> bytes:
    fig, ax = _figure(6, 3)
    epochs = [p["epoch"] for p in history]
    ax.plot(epochs, [p["train_loss"] for p in history], label="train", lw=1.5)
    ax.plot(epochs, [p["val_loss"] for p in history], label="validation", lw=1.5)
    if history:
        best = min(history, key=lambda p: p["val_loss"])
        ax.axvline(best["epoch"], color="grey", ls="--", lw=1, label=f"kept (epoch {best['epoch']})")
    ax.set_xlabel("epoch")
    ax.set_ylabel("Huber loss (scaled targets)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _png(fig)


def forecast_vs_actual_png(predictions: pl.DataFrame, horizon: int, max_points: int = 600) -> bytes:
    """Walk-forward test forecasts (with interval) against what happened, one series, latest points."""
    rows = predictions.filter(pl.col("horizon") == horizon)
    if rows.is_empty():
        fig, ax = _figure(8, 3)
        ax.text(0.5, 0.5, "no test predictions", ha="center")
        return _png(fig)
    symbol = rows.group_by("symbol").len().sort("len", descending=True)["symbol"][0]
    rows = rows.filter(pl.col("symbol") == symbol).sort("ts").tail(max_points)
    fig, (top, bottom) = _figure(8, 5, rows=2)
    ts = rows["ts"].to_list()
    top.fill_between(ts, rows["lower"].to_numpy(), rows["upper"].to_numpy(), alpha=0.25, label="interval")
    top.plot(ts, rows["actual"].to_numpy(), lw=0.8, color="black", label="actual")
    top.plot(ts, rows["forecast"].to_numpy(), lw=1.2, color="tab:red", label="forecast")
    top.axhline(0, color="grey", lw=0.6)
    top.set_ylabel(f"{horizon}-bar log return")
    top.set_title(f"{symbol}: walk-forward test forecasts vs actual")
    top.legend(fontsize=8, loc="upper left")
    err_model = np.cumsum(np.abs(rows["actual"].to_numpy() - rows["forecast"].to_numpy()))
    err_persist = np.cumsum(np.abs(rows["actual"].to_numpy()))
    bottom.plot(ts, err_persist - err_model, color="tab:green", lw=1.2)
    bottom.axhline(0, color="grey", lw=0.6)
    bottom.set_ylabel("cum. |err| saved\nvs persistence")
    for ax in (top, bottom):
        ax.grid(alpha=0.3)
    return _png(fig)


__all__ = ["forecast_vs_actual_png", "loss_curve_png", "png_markdown"]
