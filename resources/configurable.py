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


class ChainRPCResource(dg.ConfigurableResource):
    """An Ethereum JSON-RPC node (the local devnet by default) and how the indexer walks it."""

    url: str
    range_size: int = 0
    confirmations: int = -1
    first_block: int = 0
    max_new_ranges: int = 10
    reorg_window: int = 2

    @cached_property
    def client(self):
        from resources.chain_rpc import ChainRPC  # web3 stays out of module import time

        return ChainRPC(self.url)

    @cached_property
    def is_mainnet(self) -> bool:
        return self.client.chain_id() == 1

    def resolved_range_size(self) -> int:
        """Blocks per partition: the setting, else 1000 on mainnet and 20 on a devnet or testnet."""
        return self.range_size or (1000 if self.is_mainnet else 20)

    def resolved_confirmations(self) -> int:
        """Blocks a range's end must sit below the head: the setting, else 12 on mainnet, 2 elsewhere."""
        return self.confirmations if self.confirmations >= 0 else (12 if self.is_mainnet else 2)


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
        "chain_rpc": ChainRPCResource(
            url=settings.chain_rpc_url,
            range_size=settings.chain_range_size,
            confirmations=settings.chain_confirmations,
            first_block=settings.chain_first_block,
            max_new_ranges=settings.chain_max_new_ranges,
            reorg_window=settings.chain_reorg_window,
        ),
    }
