"""Every setting of Sextant in one place.

Each part runs on an embedded default (a laptop with no services) and switches to its production
form by one environment variable. Nothing else in the project reads the environment: code asks
`get_settings()`, tests build a `Settings(...)` with overrides.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

#: Where embedded state lives unless SEXTANT_HOME says otherwise: `.sextant/` in the working directory.
DEFAULT_HOME = Path(".sextant")


class Settings(BaseSettings):
    """Sextant settings, read from the environment (and `.env` when present)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    home: Path = Field(DEFAULT_HOME, alias="SEXTANT_HOME", description="Local folder for embedded state.")

    # --- storage -----------------------------------------------------------------------------
    dagster_pg_url: str | None = Field(
        None, alias="DAGSTER_PG_URL", description="PostgreSQL URL for Dagster run/event/schedule storage."
    )
    warehouse_url: str | None = Field(
        None, alias="WAREHOUSE_URL", description="SQLAlchemy URL of the warehouse; SQLite file by default."
    )
    model_store_url: str | None = Field(
        None, alias="MODEL_STORE_URL", description="fsspec URL of the model store; local folder by default."
    )
    cache_url: str = Field("mem://", alias="CACHE_URL", description="mem:// (in process) or redis://host:port/db.")

    # --- sources -----------------------------------------------------------------------------
    chain_rpc_url: str = Field(
        "http://127.0.0.1:8545", alias="CHAIN_RPC_URL", description="Ethereum JSON-RPC endpoint (devnet by default)."
    )
    chain_range_size: int = Field(
        0, alias="CHAIN_RANGE_SIZE", description="Blocks per partition; 0 = 1000 on mainnet (chain id 1), 20 elsewhere."
    )
    chain_confirmations: int = Field(
        -1, alias="CHAIN_CONFIRMATIONS", description="Blocks below the head before a range is indexed; -1 = 12 on "
        "mainnet, 2 elsewhere."
    )
    chain_first_block: int = Field(0, alias="CHAIN_FIRST_BLOCK", description="First block the indexer covers.")
    chain_max_new_ranges: int = Field(
        10, alias="CHAIN_MAX_NEW_RANGES", description="Ranges the sensor adds per tick (bounded catch-up)."
    )
    chain_reorg_window: int = Field(
        2, alias="CHAIN_REORG_WINDOW", description="Latest indexed ranges whose hashes the sensor re-checks."
    )
    market_source: str = Field(
        "synthetic",
        alias="MARKET_SOURCE",
        description="synthetic (seeded generator), landing (CSV landing folder only), or ccxt:<exchange>.",
    )
    market_symbols: Annotated[list[str], NoDecode] = Field(
        ["BTC-USD", "ETH-USD", "SOL-USD"], alias="MARKET_SYMBOLS", description="Symbols the synthetic source plays."
    )
    market_seed: int = Field(42, alias="MARKET_SEED", description="Seed of the synthetic market generator.")
    market_start_date: str = Field(
        "2014-09-17", alias="MARKET_START_DATE", description="First day of the market daily partitions."
    )
    landing_dir: Path | None = Field(
        None, alias="LANDING_DIR", description="Folder watched for market CSV files; <home>/landing by default."
    )
    translation_model: str | None = Field(
        None, alias="TRANSLATION_MODEL", description="Hugging Face seq2seq model path; small local model by default."
    )

    # --- serving -----------------------------------------------------------------------------
    api_host: str = Field("127.0.0.1", alias="API_HOST")
    api_port: int = Field(8000, alias="API_PORT")
    serving_domains: Annotated[list[str], NoDecode] = Field(
        ["data", "ml", "fraud", "nlp", "chain"], alias="SERVING_DOMAINS", description="Routers this process mounts."
    )
    max_page_size: int = Field(5000, alias="MAX_PAGE_SIZE", description="Largest page the API returns.")
    max_body_bytes: int = Field(1_048_576, alias="MAX_BODY_BYTES", description="Larger request bodies get 413.")
    service_name: str = Field("sextant", alias="SERVICE_NAME", description="Service name in logs and metrics.")
    rate_limit_default: str = Field(
        "100/minute", alias="RATE_LIMIT_DEFAULT", description="Requests per client (token), `limits` notation."
    )
    rate_limit_overrides: dict[str, str] = Field(
        {}, alias="RATE_LIMIT_OVERRIDES", description='Per-route limits as JSON, e.g. {"/api/v1/ml/predict": "20/minute"}.'
    )
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        [], alias="TRUSTED_PROXIES", description="Proxy addresses whose X-Forwarded-For is believed (none by default)."
    )
    metrics_public: bool = Field(True, alias="METRICS_PUBLIC", description="false: /api/metrics needs a token.")
    cache_ttl_seconds: dict[str, int] = Field(
        {"data": 1800, "summary": 3600, "features": 1800, "model": 86_400, "reference": 604_800, "chain": 1800},
        alias="CACHE_TTL_SECONDS",
        description="Cache lifetime per kind of answer (30 minutes to 7 days), JSON.",
    )
    breaker_failures: int = Field(5, alias="BREAKER_FAILURES", description="Consecutive failures that open a breaker.")
    breaker_recovery_seconds: float = Field(30, alias="BREAKER_RECOVERY_SECONDS", description="Open -> half-open.")
    breaker_healthy_seconds: float = Field(60, alias="BREAKER_HEALTHY_SECONDS", description="Health that resets it.")
    retry_attempts: int = Field(3, alias="RETRY_ATTEMPTS", description="Attempts around warehouse and model loads.")
    health_interval_seconds: float = Field(30, alias="HEALTH_INTERVAL_SECONDS")
    health_timeout_seconds: float = Field(5, alias="HEALTH_TIMEOUT_SECONDS")
    health_failures_unhealthy: int = Field(3, alias="HEALTH_FAILURES_UNHEALTHY")
    dagster_graphql_url: str = Field(
        "http://127.0.0.1:3000/graphql", alias="DAGSTER_GRAPHQL_URL", description="For recent runs on the dashboard."
    )

    # --- compute -----------------------------------------------------------------------------
    torch_threads: int = Field(2, alias="TORCH_THREADS")

    @field_validator("market_symbols", "serving_domains", "trusted_proxies", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        """Lists come from the environment as `a,b,c`, which is what people type."""
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @property
    def resolved_home(self) -> Path:
        return self.home.expanduser().resolve()

    @property
    def resolved_warehouse_url(self) -> str:
        if self.warehouse_url:
            return self.warehouse_url
        return f"sqlite:///{self.resolved_home / 'warehouse.sqlite'}"

    @property
    def resolved_model_store_url(self) -> str:
        return self.model_store_url or str(self.resolved_home / "models")

    @property
    def resolved_landing_dir(self) -> Path:
        return (self.landing_dir or self.resolved_home / "landing").expanduser().resolve()

    @property
    def dagster_home(self) -> Path:
        return self.resolved_home / "dagster"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
