"""Fixtures of the serving tests: an app over the parametrized warehouse, and small seed frames."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from fastapi.testclient import TestClient

from ops.market.schema import INTERVAL_SECONDS, OHLCV_SCHEMA, conform

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def bars(symbol: str, interval: str, n: int, start: datetime = T0) -> pl.DataFrame:
    """`n` consecutive, valid OHLCV bars of one series, conformed to OHLCV_SCHEMA."""
    step = timedelta(seconds=INTERVAL_SECONDS[interval])
    ts = [start + i * step for i in range(n)]
    close = [100.0 + i for i in range(n)]
    return conform(
        pl.DataFrame(
            {
                "symbol": [symbol] * n,
                "interval": [interval] * n,
                "ts": ts,
                "date": [t.date().isoformat() for t in ts],
                "open": [c - 0.5 for c in close],
                "high": [c + 1.0 for c in close],
                "low": [c - 1.0 for c in close],
                "close": close,
                "volume": [10.0 + i for i in range(n)],
                "quote_volume": [None if i % 2 else 1000.0 * i for i in range(n)],
                "trade_count": [i for i in range(n)],
                "gap_before": [i == 3 for i in range(n)],
                "source": ["synthetic"] * n,
                "source_row": list(range(1, n + 1)),
            }
        ),
        OHLCV_SCHEMA,
    )


def bearer(warehouse, client_id: str = "tests", scopes: str = "read") -> dict[str, str]:
    """Authorization header of a fresh token in `warehouse`."""
    from resources.tokens import TokenStore

    return {"Authorization": f"Bearer {TokenStore(warehouse).create(client_id, scopes).token}"}


@pytest.fixture
def make_client(settings, warehouse):
    """Build (and start) a TestClient over `create_app(settings, warehouse)`; closed after the test.

    The client carries a read token (pass `anonymous=True` for none) and, unless the test passes
    its own settings, a budget large enough that the rate limit never interferes.
    """
    from serving.app import create_app

    clients: list[TestClient] = []

    def make(anonymous: bool = False, **kwargs) -> TestClient:
        app_settings = kwargs.pop("settings", settings.model_copy(update={"rate_limit_default": "100000/minute"}))
        client = TestClient(create_app(settings=app_settings, warehouse=warehouse), **kwargs)
        client.__enter__()
        if not anonymous:
            client.headers.update(bearer(warehouse))
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client) -> TestClient:
    return make_client()
