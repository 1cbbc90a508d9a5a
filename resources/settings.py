"""Every setting of Sextant in one place.

Each part runs on an embedded default (a laptop with no services) and switches to its production
form by one environment variable. Nothing else in the project reads the environment: code asks
`get_settings()`, tests build a `Settings(...)` with overrides.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

#: Where embedded state lives unless SEXTANT_HOME says otherwise: `.sextant/` in the working directory.
DEFAULT_HOME = Path(".sextant")


class Settings(BaseSettings):
    """Sextant settings, read from the environment (and `.env` when present)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    # Not named `home`: with populate_by_name the field name is read from the environment too, and
    # every shell has HOME (embedded state then landed in the user's home folder).
    sextant_home: Path = Field(DEFAULT_HOME, alias="SEXTANT_HOME", description="Local folder for embedded state.")

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
    devnet_port: int = Field(8545, alias="DEVNET_PORT", description="Port of `sextant devnet` on 127.0.0.1.")
    devnet_seed: int = Field(7, alias="DEVNET_SEED", description="Seed of the devnet scenario.")
    devnet_blocks: int = Field(80, alias="DEVNET_BLOCKS", description="Scenario blocks played after the setup blocks.")
    devnet_block_seconds: float = Field(
        2.0, alias="DEVNET_BLOCK_SECONDS", description="Seconds between blocks of `sextant devnet --live`."
    )
    devnet_live_mev_share: float = Field(
        0.25, alias="DEVNET_LIVE_MEV_SHARE", ge=0, le=1,
        description="Share of `--live` blocks that hold a sandwich or an arbitrage (MEV for the live stream).",
    )
    devnet_ground_truth: Path | None = Field(
        None, alias="DEVNET_GROUND_TRUTH", description="Scenario ground truth JSON; <home>/devnet/ground_truth.json."
    )
    chain_range_size: int = Field(
        0, alias="CHAIN_RANGE_SIZE", description="Blocks per partition; 0 = 1000 on mainnet (chain id 1), 20 elsewhere."
    )
    chain_confirmations: int = Field(
        -1, alias="CHAIN_CONFIRMATIONS", description="Blocks below the head before a range is indexed; -1 = 12 on "
        "mainnet, 2 elsewhere."
    )
    chain_first_block: int = Field(0, alias="CHAIN_FIRST_BLOCK", description="First block the indexer covers.")
    chain_head_range_min: int = Field(
        -1, alias="CHAIN_HEAD_RANGE_MIN", ge=-1, description="At the head, index as few as this many confirmed blocks "
        "as a short range rather than wait for the range to fill; 0 = whole ranges only; -1 = 0 on mainnet, 1 elsewhere."
    )
    chain_max_new_ranges: int = Field(
        10, alias="CHAIN_MAX_NEW_RANGES", description="Ranges the sensor adds per tick (bounded catch-up)."
    )
    chain_reorg_window: int = Field(
        2, alias="CHAIN_REORG_WINDOW", description="Latest indexed ranges whose hashes the sensor re-checks."
    )
    chain_batch_size: int = Field(50, alias="CHAIN_BATCH_SIZE", description="JSON-RPC calls per HTTP batch request.")
    chain_workers: int = Field(4, alias="CHAIN_WORKERS", description="Batch requests the indexer keeps in flight.")
    chain_max_rps: float = Field(
        0, alias="CHAIN_MAX_RPS", description="Client-side limit in JSON-RPC calls per second (a batch of n counts "
        "n); 0 = unlimited."
    )
    chain_timeout_seconds: float = Field(30, alias="CHAIN_TIMEOUT_SECONDS", description="Per HTTP request.")
    chain_retry_attempts: int = Field(
        10, alias="CHAIN_RETRY_ATTEMPTS", description="Attempts per batch (backoff x1.5 with jitter) before giving up."
    )
    chain_breaker_failures: int = Field(
        5, alias="CHAIN_BREAKER_FAILURES", description="Consecutive failed RPC requests that open the breaker."
    )
    chain_breaker_recovery_seconds: float = Field(
        30, alias="CHAIN_BREAKER_RECOVERY_SECONDS", description="How long an open RPC breaker refuses calls."
    )
    chain_breaker_healthy_seconds: float = Field(
        60,
        alias="CHAIN_BREAKER_HEALTHY_SECONDS",
        description="Probation after the RPC breaker recovers: one failure within it re-opens the breaker.",
    )
    chain_block_receipts: Literal["auto", "on", "off"] = Field(
        "auto",
        alias="CHAIN_BLOCK_RECEIPTS",
        description="eth_getBlockReceipts: auto = learnt per node (and remembered), on = always, "
        "off = per-transaction receipts.",
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
        "2010-07-17",
        alias="MARKET_START_DATE",
        description="First day of the market daily partitions (the data's first day); Bitcoin's first exchange "
        "price by default. `sextant up` pins it in a new home to the first day it materializes.",
    )
    landing_dir: Path | None = Field(
        None, alias="LANDING_DIR", description="Folder watched for market CSV files; <home>/landing by default."
    )
    translation_model: str | None = Field(
        None, alias="TRANSLATION_MODEL", description="Hugging Face seq2seq model path; small local model by default."
    )
    nlp_landing_dir: Path | None = Field(
        None, alias="NLP_LANDING_DIR", description="Folder watched for JSONL texts to translate; <home>/nlp_landing."
    )
    nlp_detect_languages: Annotated[list[str], NoDecode] = Field(
        [], alias="NLP_DETECT_LANGUAGES", description="ISO 639-1 codes lingua chooses among (or `all`); a built-in 20."
    )
    nlp_target_languages: Annotated[list[str], NoDecode] = Field(
        ["en"], alias="NLP_TARGET_LANGUAGES", description="Targets of landing texts that name none."
    )
    nlp_max_chars: int = Field(5000, alias="NLP_MAX_CHARS", description="Longest text the NLP API accepts (422 above).")
    nlp_max_texts: int = Field(64, alias="NLP_MAX_TEXTS", description="Texts per /nlp/translate or /nlp/detect call.")
    nlp_max_batch_texts: int = Field(5000, alias="NLP_MAX_BATCH_TEXTS", description="Texts per /nlp/translate/batch.")
    nlp_callback_hosts: Annotated[list[str], NoDecode] = Field(
        [], alias="NLP_CALLBACK_HOSTS", description="Hosts batch callbacks may call besides loopback (none)."
    )
    nlp_train_seconds: float = Field(
        120, alias="NLP_TRAIN_SECONDS", description="Time budget of the from-scratch demo translation model."
    )
    fraud_training_csv: Path | None = Field(
        None, alias="FRAUD_TRAINING_CSV", description="Labelled fraud data set (the public CSV form); none by default."
    )
    fraud_labels_path: Path | None = Field(
        None, alias="FRAUD_LABELS_PATH", description="Extra address labels (CSV address,label or a devnet ground-truth JSON)."
    )
    fraud_min_roc_auc: float = Field(
        0.9, alias="FRAUD_MIN_ROC_AUC", description="Held-out ROC-AUC a new fraud model needs to be promoted."
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
    rate_limit_replicas: int = Field(
        1,
        alias="RATE_LIMIT_REPLICAS",
        ge=1,
        description="Replicas that may serve one client at once: while Redis is down, the in-memory fallback "
        "grants each client budget // replicas per replica (at least 1), so together they stay within the budget.",
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

    # --- live event stream (serving/stream, GET /api/v1/stream) -----------------------------
    stream_enabled: bool = Field(True, alias="STREAM_ENABLED", description="false: no /api/v1/stream route.")
    stream_poll_seconds: float = Field(
        0.5, alias="STREAM_POLL_SECONDS", gt=0, le=60,
        description="How often the stream reads new rows of stream_events (one reader per Redis, else per process).",
    )
    stream_heartbeat_seconds: float = Field(
        15, alias="STREAM_HEARTBEAT_SECONDS", gt=0, le=3600, description="Seconds between heartbeats to a client."
    )
    stream_idle_seconds: float = Field(
        60, alias="STREAM_IDLE_SECONDS", gt=0,
        description="A client that sends nothing (not even a pong to a heartbeat) this long is closed (4408).",
    )
    stream_queue_size: int = Field(
        1000, alias="STREAM_QUEUE_SIZE", ge=1, le=1_000_000,
        description="Events queued for one client before it is dropped as too slow (close 1013).",
    )
    stream_retention_seconds: float = Field(
        86_400, alias="STREAM_RETENTION_SECONDS", gt=0,
        description="How long events stay resumable (a reconnect with an older cursor is refused, 4410).",
    )
    stream_risk_min_score: int = Field(
        80, alias="STREAM_RISK_MIN_SCORE", ge=0, le=100,
        description="A risk score (0-100) reaching this from below is a `risk` event on the stream.",
    )
    stream_max_connections: int = Field(
        5, alias="STREAM_MAX_CONNECTIONS", ge=1, description="Concurrent streams per client on one replica (4429)."
    )

    # --- compute -----------------------------------------------------------------------------
    torch_threads: int = Field(2, alias="TORCH_THREADS")

    # --- deployment (assets/k8s.py, orchestration/hygiene.py, serving/tracing.py) -------
    dagster_executor: str = Field(
        "default", alias="DAGSTER_EXECUTOR", description="default (multiprocess) or k8s: heavy jobs run one pod per step."
    )
    dagster_run_retention_days: int = Field(
        30, alias="DAGSTER_RUN_RETENTION_DAYS", description="Finished runs (and their event logs) older are purged."
    )
    otel_exporter_otlp_endpoint: str | None = Field(
        None, alias="OTEL_EXPORTER_OTLP_ENDPOINT", description="OTLP/HTTP collector; unset = no tracing."
    )

    # --- price model -------------------------------------------------------------------------
    price_interval: str = Field(
        "1h", alias="PRICE_INTERVAL", description="Bar interval the price model learns (1h or 1d)."
    )
    price_horizons: Annotated[list[int], NoDecode] = Field(
        [1, 3], alias="PRICE_HORIZONS", description="Forecast horizons in bars, comma-separated."
    )
    price_max_age_hours: float = Field(
        48, alias="PRICE_MAX_AGE_HOURS", description="Older promoted price model: readiness reports it stale."
    )
    price_drift_psi: float = Field(
        0.2, alias="PRICE_DRIFT_PSI", description="PSI of recent returns vs training that requests a retrain."
    )

    @field_validator("price_horizons", mode="before")
    @classmethod
    def _split_horizons(cls, value: object) -> object:
        """Horizons come from the environment as `1,3`."""
        if isinstance(value, str):
            return [int(part) for part in value.split(",") if part.strip()]
        return value

    @field_validator(
        "market_symbols", "serving_domains", "trusted_proxies", "nlp_detect_languages", "nlp_target_languages",
        "nlp_callback_hosts", mode="before",
    )
    @classmethod
    def _split_commas(cls, value: object) -> object:
        """Lists come from the environment as `a,b,c`, which is what people type."""
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("market_start_date")
    @classmethod
    def _iso_day(cls, value: str) -> str:
        """A typo here would surface as a partition error in every Dagster process; name it once, here."""
        try:
            day = date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"MARKET_START_DATE must be a day as YYYY-MM-DD, not {value!r}") from None
        if day > datetime.now(UTC).date():
            raise ValueError(f"MARKET_START_DATE {value} is in the future")
        return day.isoformat()

    @model_validator(mode="after")
    def _stream_idle_after_heartbeat(self) -> Settings:
        """A client answers heartbeats; closing it as idle before the first one would close every quiet client."""
        if self.stream_idle_seconds <= self.stream_heartbeat_seconds:
            raise ValueError(
                f"STREAM_IDLE_SECONDS ({self.stream_idle_seconds}) must exceed STREAM_HEARTBEAT_SECONDS "
                f"({self.stream_heartbeat_seconds}): clients answer heartbeats to stay connected"
            )
        return self

    @property
    def resolved_home(self) -> Path:
        return self.sextant_home.expanduser().resolve()

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
    def resolved_devnet_ground_truth(self) -> Path:
        return (self.devnet_ground_truth or self.resolved_home / "devnet" / "ground_truth.json").expanduser().resolve()

    @property
    def resolved_nlp_landing_dir(self) -> Path:
        return (self.nlp_landing_dir or self.resolved_home / "nlp_landing").expanduser().resolve()

    @property
    def dagster_home(self) -> Path:
        return self.resolved_home / "dagster"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
