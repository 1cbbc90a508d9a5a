"""Dagster resources: thin configurable wrappers that hand assets the plain clients.

The clients (Warehouse, ModelStore, MarketSource) know nothing of Dagster, so serving and tests
use them directly; these wrappers only carry their configuration into a run.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import dagster as dg
from pydantic import Field

from resources.market_source import MarketSource
from resources.model_store import ModelStore
from resources.settings import Settings
from resources.warehouse import Warehouse


class WarehouseResource(dg.ConfigurableResource):
    """The warehouse the assets publish to (SQLite file by default, PostgreSQL in production)."""

    url: str

    @cached_property
    def client(self) -> Warehouse:
        return Warehouse(self.url)


class ModelStoreResource(dg.ConfigurableResource):
    """Versioned model artifacts (local folder by default, any fsspec URL in production)."""

    url: str

    @cached_property
    def client(self) -> ModelStore:
        return ModelStore(self.url)


class MarketSourceResource(dg.ConfigurableResource):
    """Market bars: the seeded synthetic generator and/or the CSV landing folder."""

    kind: str = "synthetic"
    landing_dir: str
    seed: int = 42
    symbols: list[str] = Field(default_factory=list)

    @cached_property
    def client(self) -> MarketSource:
        return MarketSource(self.kind, Path(self.landing_dir), seed=self.seed)


def build_resources(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    """The resources of every asset, from one Settings object."""
    return {
        "warehouse": WarehouseResource(url=settings.resolved_warehouse_url),
        "model_store": ModelStoreResource(url=settings.resolved_model_store_url),
        "market_source": MarketSourceResource(
            kind=settings.market_source,
            landing_dir=str(settings.resolved_landing_dir),
            seed=settings.market_seed,
            symbols=settings.market_symbols,
        ),
    }
