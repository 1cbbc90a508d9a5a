"""Small renderers for run metadata: Markdown tables and charts people read in the Dagster UI."""

from __future__ import annotations

import base64
import io

import polars as pl


def markdown_table(frame: pl.DataFrame, max_rows: int = 20) -> str:
    """A Markdown table of the first `max_rows` rows (floats rounded to stay readable)."""
    if frame.is_empty():
        return "_no rows_"
    shown = frame.head(max_rows)
    header = "| " + " | ".join(shown.columns) + " |"
    rule = "| " + " | ".join("---" for _ in shown.columns) + " |"
    lines = [header, rule]
    for row in shown.iter_rows():
        lines.append("| " + " | ".join(_cell(v) for v in row) + " |")
    if frame.height > max_rows:
        lines.append(f"\n_{frame.height - max_rows} more rows_")
    return "\n".join(lines)


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value).replace("|", "\\|")


def png_markdown(fig) -> str:
    """Embed a matplotlib figure as an inline PNG in Markdown, then close it."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    plt.close(fig)
    encoded = base64.b64encode(buffer.getvalue()).decode()
    return f"![chart](data:image/png;base64,{encoded})"


def price_chart_markdown(bars: pl.DataFrame, max_points: int = 2_000) -> str:
    """Close price per symbol and interval over the bars' time span, as an inline chart."""
    if bars.is_empty():
        return "_no bars_"
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3))
    for (symbol, interval), series in bars.sort("ts").group_by(["symbol", "interval"], maintain_order=True):
        step = max(1, series.height // max_points)
        thinned = series.gather_every(step)
        ax.plot(thinned["ts"].to_list(), thinned["close"].to_list(), label=f"{symbol} {interval}", lw=1)
    ax.set_ylabel("close")
    ax.legend(loc="best", fontsize=8)
    ax.grid(alpha=0.3)
    return png_markdown(fig)
