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
from resources.secrets import by_name, redact_url, resolved
from resources.settings import Settings
from resources.warehouse import Warehouse


class WarehouseResource(dg.ConfigurableResource):
    """The warehouse the assets publish to (SQLite file by default, PostgreSQL in production)."""

    url: str  # an EnvVar when it came from WAREHOUSE_URL (resources/secrets.py)

    @cached_property
    def client(self) -> Warehouse:
        return Warehouse(resolved(self.url))


class ModelStoreResource(dg.ConfigurableResource):
    """Versioned model artifacts (local folder by default, any fsspec URL in production)."""

    url: str  # an EnvVar when it came from MODEL_STORE_URL

    @cached_property
    def client(self) -> ModelStore:
        return ModelStore(resolved(self.url))


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

    url: str  # an EnvVar when it came from CHAIN_RPC_URL: provider URLs carry keys
    range_size: int = 0
    confirmations: int = -1
    first_block: int = 0
    head_range_min: int = -1
    max_new_ranges: int = 10
    reorg_window: int = 2
    batch_size: int = 50
    workers: int = 4
    max_rps: float = 0
    timeout_seconds: float = 30
    retry_attempts: int = 10
    breaker_failures: int = 5
    breaker_recovery_seconds: float = 30
    breaker_healthy_seconds: float = 60
    block_receipts: str = "auto"  # auto | on | off (CHAIN_BLOCK_RECEIPTS)

    @property
    def endpoint(self) -> str:
        """The node's URL (resolved from the environment when configured by name)."""
        return resolved(self.url)

    @property
    def shown(self) -> str:
        """The node's URL for logs and messages: no password, no key in the path."""
        return redact_url(self.endpoint)

    @cached_property
    def client(self):
        """The indexing client; what it learns about the node stays in this process."""
        return self.indexer()

    def indexer(self, warehouse: Warehouse | None = None):
        """An indexing client that also remembers what it learns about the node in ``warehouse``."""
        from resources.chain_capabilities import WarehouseCapabilityStore
        from resources.chain_rpc import ChainRPC  # web3 stays out of module import time

        return ChainRPC(
            self.endpoint,
            block_receipts={"on": True, "off": False}.get(self.block_receipts),
            capability_store=WarehouseCapabilityStore(warehouse) if warehouse is not None else None,
            batch_size=self.batch_size,
            workers=self.workers,
            max_rps=self.max_rps or None,
            timeout_seconds=self.timeout_seconds,
            retry_attempts=self.retry_attempts,
            breaker_failures=self.breaker_failures,
            breaker_recovery_seconds=self.breaker_recovery_seconds,
            breaker_healthy_seconds=self.breaker_healthy_seconds,
        )

    @cached_property
    def probe_client(self):
        """A client that gives up fast: sensors must answer within their tick, not retry for a minute."""
        from resources.chain_rpc import ChainRPC

        return ChainRPC(self.endpoint, batch_size=self.batch_size, workers=1, timeout_seconds=10, retry_attempts=2)

    @cached_property
    def is_mainnet(self) -> bool:
        return self.probe_client.chain_id() == 1

    def resolved_range_size(self) -> int:
        """Blocks per partition: the setting, else 1000 on mainnet and 20 on a devnet or testnet."""
        return self.range_size or (1000 if self.is_mainnet else 20)

    def resolved_confirmations(self) -> int:
        """Blocks a range's end must sit below the head: the setting, else 12 on mainnet, 2 elsewhere."""
        return self.confirmations if self.confirmations >= 0 else (12 if self.is_mainnet else 2)

    def resolved_head_range_min(self) -> int:
        """Fewest confirmed blocks the sensor indexes ahead of a full range: the setting, else whole ranges
        only on mainnet (a 12 s chain fills 1000 blocks in hours; short ranges there would be thousands a
        day) and 1 elsewhere (a devnet's blocks reach the API within seconds)."""
        return self.head_range_min if self.head_range_min >= 0 else (0 if self.is_mainnet else 1)


class FraudDataResource(dg.ConfigurableResource):
    """Where the fraud model's labelled data comes from (the product ships none) and its promotion gate."""

    training_csv: str | None = None
    labels_path: str | None = None
    min_roc_auc: float = 0.9
    #: A score reaching this from below is a `risk` event on the live stream.
    stream_risk_min_score: int = 80


class NlpResource(dg.ConfigurableResource):
    """Where NLP inputs land, which languages to detect and translate into, which model, how hard to train."""

    landing_dir: str
    detect_languages: list[str] = Field(default_factory=list)
    target_languages: list[str] = Field(default_factory=lambda: ["en"])
    max_chars: int = 5000
    translation_model: str | None = None
    torch_threads: int = 2
    train_seconds: float = 120.0
    cache_dir: str
    callback_hosts: list[str] = Field(default_factory=list)


class PriceModelResource(dg.ConfigurableResource):
    """What the price model learns (interval, horizons), its compute budget and its drift threshold."""

    interval: str = "1h"
    horizons: list[int] = Field(default_factory=lambda: [1, 3])
    torch_threads: int = 2
    drift_psi: float = 0.2
    #: Size of the models and of the evaluation; the defaults are the product's, tests shrink them.
    window: int = 16
    lstm_hidden: int = 16
    lstm_epochs: int = 30
    gbm_max_iter: int = 60
    walk_forward_folds: int = 4


def _fraud_labels(settings: Settings) -> str | None:
    """FRAUD_LABELS_PATH, else the local devnet's ground truth when it has been written (its scam addresses)."""
    if settings.fraud_labels_path:
        return str(settings.fraud_labels_path)
    truth = settings.resolved_devnet_ground_truth
    return str(truth) if truth.is_file() else None


def build_resources(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    """The resources of every asset, from one Settings object; URLs that may hold credentials by name."""
    return {
        "warehouse": WarehouseResource(url=by_name("WAREHOUSE_URL", settings.resolved_warehouse_url)),
        "model_store": ModelStoreResource(url=by_name("MODEL_STORE_URL", settings.resolved_model_store_url)),
        "market_source": MarketSourceResource(
            kind=settings.market_source,
            landing_dir=str(settings.resolved_landing_dir),
            seed=settings.market_seed,
            symbols=settings.market_symbols,
        ),
        "chain_rpc": ChainRPCResource(
            url=by_name("CHAIN_RPC_URL", settings.chain_rpc_url),
            range_size=settings.chain_range_size,
            confirmations=settings.chain_confirmations,
            first_block=settings.chain_first_block,
            head_range_min=settings.chain_head_range_min,
            max_new_ranges=settings.chain_max_new_ranges,
            reorg_window=settings.chain_reorg_window,
            batch_size=settings.chain_batch_size,
            workers=settings.chain_workers,
            max_rps=settings.chain_max_rps,
            timeout_seconds=settings.chain_timeout_seconds,
            retry_attempts=settings.chain_retry_attempts,
            breaker_failures=settings.chain_breaker_failures,
            breaker_recovery_seconds=settings.chain_breaker_recovery_seconds,
            breaker_healthy_seconds=settings.chain_breaker_healthy_seconds,
            block_receipts=settings.chain_block_receipts,
        ),
        "fraud_data": FraudDataResource(
            training_csv=str(settings.fraud_training_csv) if settings.fraud_training_csv else None,
            labels_path=_fraud_labels(settings),
            min_roc_auc=settings.fraud_min_roc_auc,
            stream_risk_min_score=settings.stream_risk_min_score,
        ),
        "nlp": NlpResource(
            landing_dir=str(settings.resolved_nlp_landing_dir),
            detect_languages=settings.nlp_detect_languages,
            target_languages=settings.nlp_target_languages,
            max_chars=settings.nlp_max_chars,
            translation_model=settings.translation_model,
            torch_threads=settings.torch_threads,
            train_seconds=settings.nlp_train_seconds,
            cache_dir=str(settings.resolved_home / "cache" / "models"),
            callback_hosts=settings.nlp_callback_hosts,
        ),
        "price": PriceModelResource(
            interval=settings.price_interval,
            horizons=settings.price_horizons,
            torch_threads=settings.torch_threads,
            drift_psi=settings.price_drift_psi,
        ),
    }
