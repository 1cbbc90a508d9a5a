"""Synthetic OHLCV bars with the stylised facts of crypto prices, for demos, tests and load.

The platform must run end to end without network access, so this generator stands in for an
exchange. Two promises matter more than realism:

* Determinism and consistency: the bar at (symbol, interval, ts) is the same whatever window is
  requested. Each series is simulated from a fixed origin (2020-01-01T00:00Z), and every random
  stream is drawn in fixed-size chunks from its own generator, so a longer request only appends
  draws and never changes earlier ones. Seeds come from zlib.crc32, never from hash(), which
  Python salts per process.
* Validity: every bar passes the cleaner (OHLC ordered, low > 0, volume > 0, high/low far
  below the implausible-range limits), so synthetic partitions produce no rejects except
  bars in the future.

Realism comes from a hidden two-state Markov regime (calm with upward drift, turbulent with
downward drift and higher volatility), GARCH(1,1) volatility clustering on top of it, Student-t
innovations for fat tails, and volume that rises with the size of the move.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl

from ops.market.parsing import normalize_symbol
from ops.market.schema import INTERVAL_SECONDS, RAW_SCHEMA, UTC_TS, conform, empty

ORIGIN = datetime(2020, 1, 1, tzinfo=UTC)
SOURCE = "synthetic"

#: Rough 2020-2024 price levels by base asset, so charts of several symbols do not overlap.
#: Unknown bases get a stable level between 1 and 1,000 derived from the name.
BASE_PRICES = {
    "BTC": 30_000.0,
    "ETH": 2_000.0,
    "BNB": 300.0,
    "SOL": 60.0,
    "LTC": 100.0,
    "AVAX": 25.0,
    "LINK": 12.0,
    "DOT": 8.0,
    "XRP": 0.6,
    "ADA": 0.5,
    "DOGE": 0.1,
}

#: Volatility relative to BTC; smaller assets swing more.
VOL_SCALE = {"BTC": 1.0, "ETH": 1.2}
DEFAULT_VOL_SCALE = 1.5

#: Traded value per day in quote currency, which sets the volume level.
DAILY_TURNOVER = {"BTC": 2e9, "ETH": 1e9}
DEFAULT_DAILY_TURNOVER = 5e7


@dataclass(frozen=True)
class Regime:
    """One state of the hidden Markov chain, in per-day units (converted per bar)."""

    daily_drift: float
    daily_vol: float
    mean_days: float  # expected time spent in the state before switching


CALM = Regime(daily_drift=0.0015, daily_vol=0.028, mean_days=60.0)
TURBULENT = Regime(daily_drift=-0.003, daily_vol=0.065, mean_days=20.0)

GARCH_ALPHA = 0.06  # reaction to the last shock
GARCH_BETA = 0.92  # persistence of volatility
STUDENT_DF = 5.0  # fat tails with a finite kurtosis
MAX_ABS_LOG_RETURN = 0.4  # hard cap per bar, keeps every bar far inside the cleaner's range limits
WICK_SCALE = 0.6  # wick length in units of the bar's volatility
CHUNK = 4096  # draws per call on a stream; fixed so that prefixes are stable

# Independent random streams per series; the numbers are part of the seed and must not change.
_STREAM_SHOCKS, _STREAM_REGIMES, _STREAM_WICKS, _STREAM_VOLUME = 1, 2, 3, 4


def _stream(seed: int, symbol: str, interval: str, stream: int) -> np.random.Generator:
    entropy = [
        seed & 0xFFFFFFFF,
        (seed >> 32) & 0xFFFFFFFF,
        zlib.crc32(symbol.encode()),
        zlib.crc32(interval.encode()),
        stream,
    ]
    return np.random.default_rng(np.random.SeedSequence(entropy))


def _chunked(draw: Callable[[int], np.ndarray], n: int) -> np.ndarray:
    """`n` values drawn CHUNK at a time, so the first values never depend on `n`."""
    chunks = [draw(CHUNK) for _ in range(-(-n // CHUNK))]
    return np.concatenate(chunks)[:n] if chunks else np.empty(0)


def _regimes(rng: np.random.Generator, n: int, bars_per_day: float) -> np.ndarray:
    """0 (calm) / 1 (turbulent) per bar, starting calm at the origin.

    Drawn as alternating geometric sojourn times rather than bar-by-bar coin flips: same Markov
    chain, but vectorised.
    """
    leave = np.array([1.0 / (CALM.mean_days * bars_per_day), 1.0 / (TURBULENT.mean_days * bars_per_day)])
    per_chunk = 64  # sojourns per call; even, so calm sojourns stay at even positions
    durations: list[np.ndarray] = []
    total = 0
    while total < n:
        chunk = rng.geometric(np.tile(np.minimum(leave, 1.0), per_chunk // 2))
        durations.append(chunk)
        total += int(chunk.sum())
    lengths = np.concatenate(durations) if durations else np.empty(0, dtype=np.int64)
    states = np.tile(np.array([0, 1], dtype=np.int8), len(lengths) // 2)
    return np.repeat(states, lengths)[:n]


def _garch_variance(shocks: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Conditional variance h_t = (1 - a - b) v_t + a h_{t-1} z_{t-1}^2 + b h_{t-1}.

    With eps = sqrt(h) z this is linear in h (h_t = c_t + k_t h_{t-1}), so one cheap scalar loop
    over precomputed coefficients suffices: about 10 ms per 60k bars.
    """
    n = len(shocks)
    previous_z2 = np.concatenate(([1.0], shocks[:-1] ** 2))
    k = (GARCH_ALPHA * previous_z2 + GARCH_BETA).tolist()
    c = ((1.0 - GARCH_ALPHA - GARCH_BETA) * target).tolist()
    out = [0.0] * n
    h = float(target[0]) if n else 0.0
    for t in range(n):
        h = c[t] + k[t] * h
        out[t] = h
    return np.asarray(out)


def _profile(base: str) -> tuple[float, float, float]:
    """(starting price, volatility scale, daily turnover) of a base asset."""
    if base in BASE_PRICES:
        price = BASE_PRICES[base]
    else:
        price = float(10 ** (3 * (zlib.crc32(base.encode()) % 10_000) / 10_000))
    return price, VOL_SCALE.get(base, DEFAULT_VOL_SCALE), DAILY_TURNOVER.get(base, DEFAULT_DAILY_TURNOVER)


def _simulate(symbol: str, interval: str, n: int, seed: int) -> dict[str, np.ndarray]:
    """The first `n` bars of a series, from the origin."""
    bars_per_day = 86_400 / INTERVAL_SECONDS[interval]
    price0, vol_scale, turnover = _profile(symbol.split("-")[0])

    rng_regime = _stream(seed, symbol, interval, _STREAM_REGIMES)
    rng_shock = _stream(seed, symbol, interval, _STREAM_SHOCKS)
    rng_wick = _stream(seed, symbol, interval, _STREAM_WICKS)
    rng_volume = _stream(seed, symbol, interval, _STREAM_VOLUME)

    state = _regimes(rng_regime, n, bars_per_day)
    drift = np.where(state == 0, CALM.daily_drift, TURBULENT.daily_drift) / bars_per_day
    regime_vol = vol_scale * np.where(state == 0, CALM.daily_vol, TURBULENT.daily_vol) / np.sqrt(bars_per_day)

    t_scale = np.sqrt((STUDENT_DF - 2.0) / STUDENT_DF)  # unit variance
    shocks = _chunked(lambda size: rng_shock.standard_t(STUDENT_DF, size), n) * t_scale
    variance = _garch_variance(shocks, regime_vol**2)
    sigma = np.sqrt(variance)
    log_returns = np.clip(drift - 0.5 * variance + sigma * shocks, -MAX_ABS_LOG_RETURN, MAX_ABS_LOG_RETURN)

    close = price0 * np.exp(np.cumsum(log_returns))
    open_ = np.concatenate(([price0], close[:-1]))
    wicks = np.abs(_chunked(rng_wick.standard_normal, 2 * n).reshape(n, 2))
    wick_sigma = np.minimum(WICK_SCALE * sigma, MAX_ABS_LOG_RETURN / 4)[:, None]
    wicks = np.minimum(wicks * wick_sigma, MAX_ABS_LOG_RETURN / 2)
    high = np.maximum(open_, close) * np.exp(wicks[:, 0])
    low = np.minimum(open_, close) * np.exp(-wicks[:, 1])

    # Volume: turnover per bar, scaled up by the size of the shock and the volatility level,
    # with lognormal noise; divided by price to get base units.
    noise = _chunked(rng_volume.standard_normal, n)
    calm_vol = vol_scale * CALM.daily_vol / np.sqrt(bars_per_day)
    activity = np.exp(0.45 * (np.abs(shocks) - 0.8) + 0.5 * np.log(sigma / calm_vol) + 0.3 * noise)
    typical = (open_ + high + low + close) / 4.0
    quote_volume = turnover / bars_per_day * activity
    volume = quote_volume / typical
    trade_count = np.maximum(1, np.rint(quote_volume / 2_000.0)).astype(np.int64)
    return {
        "open": open_,
        "high": high,
        "low": low,
        "close": close,
        "volume": volume,
        "quote_volume": quote_volume,
        "trade_count": trade_count,
    }


def _as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _first_index_at_or_after(moment: datetime, step: timedelta) -> int:
    """Index of the first bar whose open time is >= moment (may be negative before the origin)."""
    offset = (_as_utc(moment) - ORIGIN) // timedelta(microseconds=1)
    step_us = step // timedelta(microseconds=1)
    return -(-offset // step_us)


def generate_ohlcv(
    symbols: Sequence[str], interval: str, start: datetime, end: datetime, seed: int = 42
) -> pl.DataFrame:
    """Bars opening in [start, end) for each symbol, in RAW_SCHEMA (source "synthetic:<symbol>:<interval>").

    Series begin at ORIGIN: earlier parts of a window are empty. `source_row` is the 1-based bar
    number counted from ORIGIN, stable across requests. Naive datetimes are read as UTC.
    """
    if interval not in INTERVAL_SECONDS:
        raise ValueError(f"unknown interval {interval!r}; expected one of {sorted(INTERVAL_SECONDS)}")
    step = timedelta(seconds=INTERVAL_SECONDS[interval])
    first = max(0, _first_index_at_or_after(start, step))
    stop = _first_index_at_or_after(end, step)
    if stop <= first or not symbols:
        return empty(RAW_SCHEMA)

    frames = []
    index = np.arange(first, stop, dtype=np.int64)
    origin_us = int(ORIGIN.timestamp()) * 1_000_000
    ts_us = origin_us + index * (INTERVAL_SECONDS[interval] * 1_000_000)
    for symbol in dict.fromkeys(normalize_symbol(s) for s in symbols):
        bars = _simulate(symbol, interval, stop, seed)
        frames.append(
            pl.DataFrame(
                {
                    "source_row": index + 1,
                    "ts": pl.Series(ts_us).cast(UTC_TS),
                    **{name: values[first:stop] for name, values in bars.items()},
                }
            ).with_columns(pl.lit(symbol).alias("symbol"))
        )
    out = pl.concat(frames).with_columns(
        # One source per series, so (source, source_row) identifies a bar across symbols and intervals.
        pl.format("{}:{}:{}", pl.lit(SOURCE), pl.col("symbol"), pl.lit(interval)).alias("source"),
        pl.lit(interval).alias("interval"),
        pl.col("ts").dt.strftime("%Y-%m-%dT%H:%M:%SZ").alias("ts_raw"),
    )
    return conform(out, RAW_SCHEMA)


def describe_stylized_facts(close: np.ndarray) -> dict[str, float]:
    """Summary statistics that separate real-looking prices from a Gaussian random walk.

    Fat tails show as excess kurtosis of log returns well above 0; volatility clustering as a
    lag-1 autocorrelation of |returns| clearly above that of the returns themselves (which is
    near 0 in an efficient market). Non-positive or non-finite closes are ignored.
    """
    prices = np.asarray(close, dtype=float)
    prices = prices[np.isfinite(prices) & (prices > 0)]
    returns = np.diff(np.log(prices))
    nan = float("nan")
    if len(returns) < 3 or not np.std(returns) > 0:
        return {
            "n_returns": float(len(returns)),
            "volatility": nan,
            "excess_kurtosis": nan,
            "autocorr_returns": nan,
            "autocorr_abs_returns": nan,
        }
    centred = returns - returns.mean()
    variance = float(np.mean(centred**2))
    return {
        "n_returns": float(len(returns)),
        "volatility": float(np.sqrt(variance)),
        "excess_kurtosis": float(np.mean(centred**4) / variance**2 - 3.0),
        "autocorr_returns": _lag1_autocorr(returns),
        "autocorr_abs_returns": _lag1_autocorr(np.abs(returns)),
    }


def _lag1_autocorr(values: np.ndarray) -> float:
    lead, lag = values[1:], values[:-1]
    if np.std(lead) == 0 or np.std(lag) == 0:
        return float("nan")
    return float(np.corrcoef(lag, lead)[0, 1])
