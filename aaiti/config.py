"""Settings: the only module that reads the environment.

Read once at the edge (CLI command or flow entry) with :func:`load_settings` and pass the
result down. Every option can be set as ``AAITI_<NAME>`` or in an optional ``.env`` file.
"""

from __future__ import annotations

import math
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, ClassVar, Self, cast

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

#: An amount in an account's quote currency, or one per quote currency when its symbols
#: span several (aaiti.trading.accounts splits such an account into a book per currency).
PerQuote = float | dict[str, float]

#: The bundled real candles: the repository's ``data/sample``, found from any data folder.
BUNDLED_SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"

#: Environment that keeps every tool offline and quiet (see shared/STACK.md).
OFFLINE_ENV: dict[str, str] = {
    "DO_NOT_TRACK": "true",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "60",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
    "OMP_WAIT_POLICY": "PASSIVE",
    # MLflow logs its SQLite migrations at INFO on first use: noise on a command's one line
    "MLFLOW_LOGGING_LEVEL": "WARNING",
}


class RiskSettings(BaseModel):
    """Pre-trade limits and the kill switch, read by the risk gate as they are.

    Each field is ``AAITI_RISK_<NAME>``; a new limit is one field here."""

    model_config = ConfigDict(frozen=True)

    max_order_notional: PerQuote = Field(
        default=60_000.0,
        description="Largest notional of one order, in its quote currency (per quote "
        "currency, like AAITI_TRADING_INITIAL_CASH, when the symbols span several).",
    )
    max_position_notional: PerQuote = Field(
        default=60_000.0,
        description="Largest position per symbol (AAITI_RISK_POSITION_LIMITS per symbol), in "
        "its quote currency (per quote currency when the symbols span several).",
    )
    position_limits: dict[str, float] = Field(
        default={}, description='Per-symbol position notional, e.g. {"BTC/USD": 40000}.'
    )
    max_gross_exposure: float = Field(
        default=1.0, gt=0, description="Largest gross position value over equity."
    )
    max_daily_loss: float = Field(
        default=0.05,
        gt=0,
        lt=1,
        description="Loss from the day's starting equity that refuses new risk.",
    )
    drawdown_warn: float = Field(
        default=0.10,
        gt=0,
        lt=1,
        description="Drawdown from the peak that warns (and below which resume is allowed).",
    )
    drawdown_halt: float = Field(
        default=0.15, gt=0, lt=1, description="Drawdown from the peak that trips the kill switch."
    )
    max_consecutive_failures: int = Field(
        default=3, ge=1, description="Order failures in a row that open the order breaker."
    )
    min_history_bars: int = Field(
        default=250, ge=2, description="Below this: no new risk (fail closed)."
    )

    @field_validator("max_order_notional", "max_position_notional")
    @classmethod
    def _positive_amounts(cls, value: PerQuote) -> PerQuote:
        return positive_amounts(value)


def positive_amounts(value: PerQuote) -> PerQuote:
    """An amount, or amounts per quote currency, each positive and named."""
    amounts = value.values() if isinstance(value, dict) else [value]
    if not amounts or not all(math.isfinite(a) and a > 0 for a in amounts):
        raise ValueError(
            "accepted: a positive amount, or positive amounts per quote currency "
            '({"USD": 100000, "USDT": 100000})'
        )
    if isinstance(value, dict) and not all(k.strip() for k in value):
        raise ValueError("a quote currency's name is empty")
    return value


#: Sections nested in ``Settings`` whose fields are read as ``AAITI_<SECTION>_<NAME>``.
NESTED = ("risk", "quality", "supervisor", "alert")


class QualitySettings(BaseModel):
    """The quality gates' rules (aaiti.quality.gate).

    Each field is ``AAITI_QUALITY_<NAME>``."""

    model_config = ConfigDict(frozen=True)

    max_abs_log_return: dict[str, float] = Field(
        default={
            "1m": 0.25,
            "5m": 0.3,
            "15m": 0.35,
            "30m": 0.4,
            "1h": 0.45,
            "2h": 0.5,
            "4h": 0.6,
            "6h": 0.65,
            "12h": 0.75,
            "1d": 0.9,
        },
        description="Largest |ln(close/previous close)| between consecutive bars, per timeframe.",
    )
    max_spike: float = Field(
        default=0.28,
        gt=0,
        description="Largest reverting spike: a close's log distance from both neighbours "
        "beyond their own distance (a bad print, not a move).",
    )
    max_stale_run: int = Field(
        default=24, ge=2, description="Bars of equal close with zero volume."
    )
    max_zero_volume_run: int = Field(default=24, ge=2, description="Consecutive zero-volume bars.")
    max_gap_hours: float = Field(default=168.0, gt=0, description="Largest hole (a warning).")
    shift_confirm_bars: int = Field(
        default=3,
        ge=1,
        description="Bars after a jump beyond the return bound that tell a bad print (they "
        "come back: quarantined) from a new level (they stay: the stream blocks).",
    )
    quarantine: bool = Field(
        default=True, description="Move rows failing critical expectations out of raw.ohlcv."
    )
    volume_window: int = Field(
        default=100,
        ge=10,
        description="Previous bars a bar's volume is judged against (log10 space).",
    )
    volume_min_factor: float = Field(
        default=100.0,
        gt=1,
        description="A volume outlier is at least this many times the window's median volume.",
    )
    max_volume_z: float = Field(
        default=6.0, gt=0, description="…and more robust deviations (IQR/1.349) above it than this."
    )
    max_timeframe_mismatch: float = Field(
        default=0.01,
        gt=0,
        description="Largest |log| difference of a native bar's OHLC from the same bucket "
        "resampled from a finer native timeframe (beyond it: critical; any: a warning).",
    )
    incremental: bool = Field(
        default=True,
        description="Validate only new rows plus the window the rules need (off: whole history).",
    )
    docs_keep: int = Field(
        default=50,
        ge=1,
        description="GX validation results kept per suite for Data Docs, newest first "
        "(older ones are pruned so a rebuild does not grow with every run; every verdict "
        "stays in ops.quality_results).",
    )


class SupervisorSettings(BaseModel):
    """The stack supervisor's check interval and restart policy (aaiti.supervisor).

    Each field is ``AAITI_SUPERVISOR_<NAME>``."""

    model_config = ConfigDict(frozen=True)

    interval_s: float = Field(
        default=2.0,
        gt=0,
        le=60,
        description="How often the stack's supervisor checks each service.",
    )
    backoff_s: float = Field(
        default=2.0,
        gt=0,
        description="Wait before restarting a service that died again soon after a restart; "
        "doubles each time (the first death is restarted at once).",
    )
    backoff_max_s: float = Field(
        default=120.0,
        gt=0,
        description="The longest wait between restarts of a crash-looping service.",
    )
    stable_s: float = Field(
        default=60.0,
        gt=0,
        description="A restarted service that stays up this long is stable again: its next "
        "death is restarted at once.",
    )


class AlertSettings(BaseModel):
    """Channels and delivery rules (aaiti.monitoring.alerts).

    Each field is ``AAITI_ALERT_<NAME>``."""

    model_config = ConfigDict(frozen=True)

    urls: Annotated[list[SecretStr], NoDecode] = Field(
        default=[],
        description="Apprise URLs, one per channel, separated by spaces or newlines "
        "(tgram://, slack://, discord://, mailto://, ntfy://, json://, a Slack or Discord "
        "webhook URL as it is …; secrets: never logged).",
    )
    webhook_url: SecretStr | None = Field(
        default=None, description="Generic JSON webhook (sent as Apprise's json://)."
    )
    slack_webhook_url: SecretStr | None = Field(default=None, description="Slack incoming webhook.")
    discord_webhook_url: SecretStr | None = Field(default=None, description="Discord webhook.")
    smtp_host: str | None = Field(default=None, description="Email alerts through this server.")
    smtp_port: int = Field(default=25, ge=1, le=65535, description="SMTP port.")
    smtp_starttls: bool = Field(default=False, description="Use STARTTLS with the SMTP server.")
    smtp_user: str | None = Field(default=None, description="SMTP user.")
    smtp_password: SecretStr | None = Field(
        default=None, description="SMTP password (a secret: never logged)."
    )
    email_from: str = Field(default="aaiti@localhost", description="Sender of email alerts.")
    email_to: Annotated[list[str], NoDecode] = Field(
        default=[], description="Recipients of email alerts, comma-separated."
    )
    min_severity: str = Field(
        default="warning",
        pattern="^(info|warning|critical)$",
        description="Below it: the log only.",
    )
    dedup_window_s: float = Field(default=3600.0, ge=0, description="Same key, same channel.")
    rate_limit_per_hour: int = Field(default=30, ge=1, description="Per channel.")
    retries: int = Field(default=2, ge=0, le=10, description="Retries of a failed delivery.")
    retry_backoff_s: float = Field(
        default=0.5, ge=0, description="First delay between delivery retries."
    )
    timeout_s: float = Field(default=5.0, gt=0, description="Timeout of one delivery.")
    claim_lease_s: float = Field(
        default=600.0,
        ge=0,
        description="A delivery claimed longer ago than this and not done crashed: "
        "the next delivery takes its alerts over and sends what was not sent.",
    )

    @field_validator("email_to", mode="before")
    @classmethod
    def _split_addresses(cls, value: object) -> object:
        if isinstance(value, str):
            return [s.strip() for s in value.split(",") if s.strip()]
        return value

    @field_validator("urls", mode="before")
    @classmethod
    def _split_urls(cls, value: object) -> object:
        if isinstance(value, str):  # URLs may hold commas (mailto://…?to=a,b): split on space
            return value.split()
        return value


class Settings(BaseSettings):
    """Everything configurable about AAITI, with defaults that run the bundled demo."""

    model_config = SettingsConfigDict(
        env_prefix="AAITI_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        # a nested section's fields read as AAITI_<SECTION>_<NAME> (AAITI_RISK_MAX_DAILY_LOSS)
        env_nested_delimiter="_",
        env_nested_max_split=1,
    )

    # --- where things live ---------------------------------------------------------------
    data_dir: Path = Field(Path("data"), description="Folder for everything generated.")
    warehouse_path: Path | None = Field(None, description="Writer's DuckDB file.")
    serving_path: Path | None = Field(None, description="Read-only snapshot for readers.")
    sample_dir: Path | None = Field(
        None,
        description="Bundled real candles (Parquet); default: the repository's data/sample, "
        "whatever the data folder.",
    )

    # --- what to ingest by default -------------------------------------------------------
    source: str = Field("sample", description="sample | synthetic | ccxt:<exchange id>")
    exchange: str = Field(
        "coinbase",
        description="Exchange id of the default streams (ccxt id, or the sample's folder).",
    )
    symbols: Annotated[list[str], NoDecode] = Field(
        ["BTC/USD", "ETH/USD"],
        description="Default streams' symbols, comma-separated (BASE/QUOTE).",
    )
    timeframe: str = Field("4h", description="Default streams' timeframe (1m … 1d).")
    universe_file: Path | None = Field(
        None,
        description="A universe file (sources × symbols × timeframes, see universe.example.yml); "
        "unset: the source, exchange, symbols and timeframe above are the universe.",
    )
    backfill_since: datetime | None = Field(
        None, description="Where an empty stream starts when no --since is given."
    )

    # --- market replay of the sample source ----------------------------------------------
    replay_start: datetime = Field(
        datetime(2025, 1, 1, tzinfo=UTC),
        description="Bars opening before this are history, released on the first run.",
    )
    replay_bars_per_run: int = Field(1, ge=1, description="Bars released by each later run.")

    ingest_flush_rows: int = Field(
        50_000, ge=1, description="Candles buffered before one write transaction."
    )

    # --- the writer lock -----------------------------------------------------------------
    writer_lock_timeout_s: float = Field(
        30.0,
        ge=0,
        description="Seconds a writer waits for the warehouse lock before naming its holder.",
    )

    # --- ccxt ----------------------------------------------------------------------------
    ccxt_api_base_url: str | None = Field(
        None, description="Replace the exchange's REST host (a loopback server in tests)."
    )
    ccxt_page_limit: int | None = Field(None, ge=1, description="Candles per request.")
    ccxt_rate_limit_ms: int | None = Field(None, ge=0, description="Override ccxt rateLimit.")
    ccxt_timeout_ms: int = Field(10_000, ge=1, description="Timeout of one exchange request.")
    ccxt_max_retries: int = Field(
        5, ge=0, description="Retries of a transient exchange error (backoff with jitter)."
    )
    ccxt_backoff_base_s: float = Field(
        0.5, ge=0, description="First retry delay; doubles each retry."
    )
    ccxt_backoff_max_s: float = Field(30.0, ge=0, description="Longest retry delay.")
    ccxt_max_retry_after_s: float = Field(
        60.0, ge=0, description="Longest Retry-After honoured from a 429."
    )
    breaker_failure_threshold: int = Field(
        5, ge=1, description="Consecutive failures that open an exchange's circuit breaker."
    )
    breaker_cooldown_s: float = Field(
        30.0, ge=0, description="Seconds an open breaker waits before a trial request."
    )

    # --- dbt ----------------------------------------------------------------------------
    dbt_project_dir: Path = Field(
        Path(__file__).resolve().parents[1] / "models_dbt", description="The dbt project."
    )
    dbt_target: str = Field("dev", description="dbt target in models_dbt/profiles.yml.")

    # --- quality gates (defaults pass the bundled real data; see README) -----------------

    # --- models -------------------------------------------------------------------------
    model_horizon: int = Field(1, ge=1, description="Label: direction over this many bars.")
    model_dead_zone: float = Field(
        0.0005, ge=0, description="|forward log return| at or below this: no label (noise)."
    )
    model_fold_period: str = Field(
        "quarter",
        pattern=r"^(month|quarter|half|year|\d+(\.\d+)?\s*(min|h|d))$",
        description="Walk-forward test blocks, anchored to the calendar: month, quarter, half "
        "or year (UTC), or a fixed duration from the Unix epoch (7d, 12h, 90min). New bars "
        "extend the newest block or open the next; past blocks never move.",
    )
    model_min_train_days: float = Field(
        365.0,
        gt=0,
        description="The first test block is the first that begins this long after the "
        "data's first bar (fixed by the history's start, never by its end).",
    )
    model_embargo_bars: int | None = Field(None, ge=1, description="Default: the horizon.")
    model_search_budget: int = Field(0, ge=0, description="Random-search trials (0 = defaults).")
    model_train_bars: int | None = Field(
        None,
        ge=100,
        description="Newest bars per stream a model trains on (unset: all stored; caps "
        "training's memory and time on a long or wide universe).",
    )
    model_seed: int = Field(
        7, description="Seed of the search and the boosters (same data and config: same model)."
    )

    model_label: str = Field(
        "beyond_cost",
        pattern="^(beyond_cost|direction)$",
        description="beyond_cost: 1 when the horizon's log return exceeds the round-trip "
        "cost, else 0 (every row labelled); direction: up/down outside the dead zone.",
    )

    # --- the strategy: signal rule, holding, sizing, exits, qualification ----------------
    trading_strategy: str = Field("champion-edge", description="The strategy's name.")
    strategy_signal: str = Field(
        "edge",
        pattern="^(edge|probability)$",
        description="edge: enter on expected net edge (calibrated probability × the training "
        "rows' conditional returns − round-trip cost); probability: thresholds on p.",
    )
    strategy_min_edge_bps: float = Field(
        0.0, description="edge rule: enter when the expected net edge exceeds this."
    )
    trading_enter_long: float = Field(0.52, ge=0, le=1, description="probability rule only.")
    trading_exit_long: float = Field(0.50, ge=0, le=1, description="probability rule only.")
    strategy_min_hold_bars: int | None = Field(
        None, ge=1, description="Bars a position is held before a signal exit (default: horizon)."
    )
    strategy_sizing: str = Field(
        "fixed", pattern="^(fixed|vol_target|kelly)$", description="fixed | vol_target | kelly"
    )
    strategy_target_vol: float = Field(
        0.5, gt=0, description="vol_target: annualised volatility per position."
    )
    strategy_kelly_fraction: float = Field(
        0.5, gt=0, le=1, description="kelly: share of the full Kelly bet (capped at 0.25)."
    )
    strategy_stop_atr: float | None = Field(None, gt=0, description="ATR stop (closes).")
    strategy_target_atr: float | None = Field(None, gt=0, description="ATR target (closes).")
    strategy_search: bool = Field(
        False,
        description="Choose entry edge, holding and sizing among 18 candidates on validation data "
        "(every candidate counts in the deflated Sharpe); off: the configured values.",
    )
    strategy_min_dsr: float = Field(
        0.95, ge=0, le=1, description="Deflated Sharpe probability a strategy needs to trade."
    )
    strategy_benchmark: str = Field(
        "buy_and_hold",
        pattern="^(buy_and_hold|flat)$",
        description="What the user could hold instead, which the strategy must beat on the "
        "same out-of-sample bars, net of costs: buy_and_hold (the same streams, bought once, "
        "same costs) or flat (cash).",
    )
    strategy_max_p_value: float = Field(
        0.05,
        gt=0,
        lt=1,
        description="Largest p-value of the tests against the benchmark (Ledoit–Wolf Sharpe "
        "difference, Hansen's SPA over every candidate) with which a strategy may trade.",
    )
    strategy_bootstrap_reps: int = Field(
        1000, ge=100, description="Stationary-bootstrap draws of those tests (seeded)."
    )
    research_log: Path = Field(
        Path(__file__).resolve().parents[1] / "research" / "log.yml",
        description="The committed research log: recipes tried during development, each on "
        "a data set; they count as trials of that data set in the deflated Sharpe ratio.",
    )
    strategy_promotion_margin: float = Field(
        0.1, ge=0, description="Annualised net Sharpe a challenger must beat the champion by."
    )
    strategy_min_live_bars: int = Field(
        30,
        ge=1,
        description="Bars after the deployed model's training end before the "
        "challenger must also match it on them.",
    )

    # --- paper trading and risk -----------------------------------------------------------
    trading_account: str = Field(
        "paper", description="The paper (or live) account the cycle trades."
    )
    trading_initial_cash: PerQuote = Field(
        100_000.0,
        description="Cash of a new paper account, in its quote currency; per quote currency "
        '({"USD": 100000, "USDT": 100000}) when the traded symbols span several.',
    )
    trading_report_currency: str | None = Field(
        None,
        description="Currency the account's books (one per quote currency) are totalled in, "
        "at the close of a stream such as USDT/USD in the warehouse at or before each book's "
        "newest equity (no such stream: no total, never a rate of 1).",
    )
    trading_fee_bps: float = Field(
        10.0, ge=0, description="Fee on each fill's notional, in basis points."
    )
    trading_slippage_bps: float = Field(
        5.0, ge=0, description="Slippage against the trader on each fill, clamped to the bar."
    )
    trading_fraction_per_symbol: float = Field(0.5, gt=0, le=1, description="Equity per position.")
    trading_allow_short: bool = Field(
        False, description="Allow short positions (settings can restrict the deployed strategy)."
    )
    trading_participation_cap: float | None = Field(
        None, gt=0, le=1, description="Largest share of a bar's volume one order may fill."
    )
    trading_max_wait_bars: int = Field(
        1,
        ge=0,
        description="Bars the account waits for a traded stream that is behind the others "
        "before stepping on without it (its later-arriving older bars are then skipped).",
    )
    quality: QualitySettings = Field(
        default_factory=lambda: QualitySettings(),
        description="AAITI_QUALITY_<NAME>: see the quality section below.",
    )
    supervisor: SupervisorSettings = Field(
        default_factory=lambda: SupervisorSettings(),
        description="AAITI_SUPERVISOR_<NAME>: see the supervisor section below.",
    )
    alert: AlertSettings = Field(
        default_factory=lambda: AlertSettings(),
        description="AAITI_ALERT_<NAME>: see the alert section below.",
    )
    risk: RiskSettings = Field(
        default_factory=lambda: RiskSettings(),
        description="Pre-trade limits and the kill switch: AAITI_RISK_<NAME>, see the risk "
        "section below.",
    )

    # --- live exchange orders (off unless explicitly enabled, with keys) -----------------
    live_trading: bool = Field(False, description="Send approved orders to a real exchange.")
    live_exchange: str | None = Field(None, description="ccxt exchange id for live orders.")
    live_api_key: SecretStr | None = Field(None, description="Never logged, printed or stored.")
    live_api_secret: SecretStr | None = Field(None, description="Never logged, printed or stored.")
    live_reconcile_tolerance: float = Field(
        0.002,
        ge=0,
        lt=1,
        description="Live: how far the ledger's cash or position in a currency may differ from "
        "the exchange's balance, relative to the larger of the two, before new orders stop "
        "(two fees of 10 bps: rounding stays under it, a transfer or foreign trade does not).",
    )

    # --- monitoring: drift and the retrain trigger ---------------------------------------
    monitor_current_bars: int = Field(
        180, ge=30, description="Recent bars per stream compared with the training window."
    )
    monitor_drift_method: str = Field(
        "wasserstein", description="Evidently stat test for each feature."
    )
    monitor_drift_threshold: float = Field(
        0.5, gt=0, description="A feature drifts when its score reaches this."
    )
    monitor_drift_share: float = Field(
        0.5, gt=0, le=1, description="Retrain when this share of the features drifts."
    )
    monitor_min_labelled: int = Field(
        100, ge=10, description="Matured predictions needed before quality is judged."
    )
    monitor_max_auc_decay: float = Field(
        0.05, gt=0, lt=1, description="Retrain when live AUC falls this far below the OOS AUC."
    )
    monitor_retrain_cooldown_hours: float = Field(
        24.0, ge=0, description="No drift-triggered retrain sooner than this after the last."
    )
    monitor_retrain: bool = Field(True, description="Let drift start the train flow.")

    # --- alerts: channels (secrets never logged) and delivery rules ----------------------

    duckdb_memory_limit: str = Field(
        "2GB",
        pattern=r"^\d+(\.\d+)?\s*(KB|MB|GB|KiB|MiB|GiB)$",
        description="DuckDB's buffer limit for writers, readers and dbt (it spills to disk "
        "beyond).",
    )
    analyst_memory_limit: str = Field(
        "1GB",
        pattern=r"^\d+(\.\d+)?\s*(KB|MB|GB|KiB|MiB|GiB)$",
        description="Memory an analyst's query on the dashboard's SQL page may use.",
    )
    analyst_temp_limit: str = Field(
        "1GB",
        pattern=r"^\d+(\.\d+)?\s*(KB|MB|GB|KiB|MiB|GiB)$",
        description="Disk an analyst's query may spill to (under the data folder).",
    )
    analyst_threads: int = Field(
        1,
        ge=1,
        le=64,
        description="Threads an analyst's query may use (the rest stay the pipeline's).",
    )

    # --- orchestration ---------------------------------------------------------------------
    dask_address: str | None = Field(
        None, description="tcp://host:port of a Dask scheduler: tasks fan out across its workers."
    )
    replay_interval_s: int = Field(
        120, ge=10, description="Under market replay: seconds between scheduled pipeline runs."
    )
    pipeline_runner: str = Field(
        "warm",
        pattern="^(warm|prefect)$",
        description="warm: served pipeline and risk runs share one warmed executor "
        "process; prefect: Prefect's own runner, a fresh interpreter per run.",
    )
    warm_runner_max_runs: int = Field(
        200, ge=1, description="Runs before the warm executor is replaced by a fresh one."
    )
    warm_runner_poll_s: float = Field(
        2.0, gt=0, le=60, description="How often the warm runner asks for due runs."
    )
    prefect_port: int = Field(
        4200, ge=1, le=65535, description="Port of the local Prefect server and UI (make up)."
    )
    mlflow_port: int = Field(5000, ge=1, le=65535, description="Port of the MLflow UI (make up).")
    dashboard_port: int = Field(
        8501, ge=1, le=65535, description="Port of the dashboard (make up)."
    )
    metrics_port: int = Field(
        9108, ge=1, le=65535, description="Port of the Prometheus exporter (make up)."
    )
    bind_host: str = Field("127.0.0.1", description="Where the local stack listens.")
    dashboard_users: Annotated[list[SecretStr], NoDecode] = Field(
        [],
        description="Dashboard logins, name:role:hash separated by spaces (role viewer or "
        "operator; the hash from `aaiti auth hash`). Required off loopback.",
    )
    stack_auth: SecretStr | None = Field(
        None,
        description="user:password of HTTP basic auth for the Prefect API and UI, the MLflow "
        "UI and the metrics endpoint. Required off loopback.",
    )

    # --- synthetic -----------------------------------------------------------------------
    synthetic_seed: int = Field(
        7, description="Seed of the synthetic streams (same seed and symbol: same candles)."
    )
    synthetic_origin: datetime = Field(
        datetime(2025, 1, 1, tzinfo=UTC), description="First candle of every synthetic stream."
    )

    @field_validator("symbols", mode="before")
    @classmethod
    def _split_symbols(cls, value: object) -> object:
        if isinstance(value, str):
            return [s.strip() for s in value.split(",") if s.strip()]
        return value

    @field_validator("dashboard_users", mode="before")
    @classmethod
    def _split_urls(cls, value: object) -> object:
        if isinstance(value, str):  # URLs may hold commas (mailto://…?to=a,b): split on space
            return value.split()
        return value

    @field_validator("trading_initial_cash")
    @classmethod
    def _positive_amounts(cls, value: PerQuote) -> PerQuote:
        return positive_amounts(value)

    @model_validator(mode="before")
    @classmethod
    def _flat_sections(cls, data: Any) -> Any:
        """A nested section's fields may also be given flat, as their variables are named
        (``risk_max_daily_loss=0.02``, like ``AAITI_RISK_MAX_DAILY_LOSS``)."""
        if not isinstance(data, dict):
            return data
        for section in NESTED:
            flat = {k: data.pop(k) for k in list(data) if k.startswith(f"{section}_")}
            if flat:
                given = data.get(section) or {}
                given = given.model_dump() if isinstance(given, BaseModel) else dict(given)
                data[section] = given | {k.removeprefix(f"{section}_"): v for k, v in flat.items()}
        return data

    @field_validator("replay_start", "backfill_since", "synthetic_origin")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value

    @model_validator(mode="after")
    def _derive_paths(self) -> Settings:
        if self.warehouse_path is None:
            self.warehouse_path = self.data_dir / "warehouse.duckdb"
        if self.serving_path is None:
            self.serving_path = self.data_dir / "serving.duckdb"
        if self.sample_dir is None:  # the repository's, whatever the data folder
            self.sample_dir = BUNDLED_SAMPLE
        return self

    # --- sections: what one stage needs, passed down instead of the whole object -------
    @property
    def strategy(self) -> StrategySettings:
        return StrategySettings.from_settings(self)

    @property
    def model(self) -> ModelSettings:
        return ModelSettings.from_settings(self)

    @property
    def monitor(self) -> MonitorSettings:
        return MonitorSettings.from_settings(self)

    @property
    def trading(self) -> TradingSettings:
        return TradingSettings.from_settings(self)

    # Paths of the tools that would otherwise write into the home folder.
    @property
    def prefect_home(self) -> Path:
        return self.data_dir / "prefect"

    @property
    def dbt_dir(self) -> Path:
        """dbt's generated files (target, logs, docs) live under the data folder."""
        return self.data_dir / "dbt"

    @property
    def gx_dir(self) -> Path:
        """Great Expectations' project (results store, Data Docs) under the data folder."""
        return self.data_dir / "gx"

    @property
    def expectations_dir(self) -> Path:
        """The versioned suites."""
        return Path(__file__).resolve().parents[1] / "expectations"

    @property
    def mlflow_tracking_uri(self) -> str:
        return f"sqlite:///{(self.data_dir / 'mlflow' / 'mlflow.db').resolve()}"

    @property
    def mlflow_artifact_root(self) -> Path:
        return self.data_dir / "mlflow" / "artifacts"


class _Section(BaseModel):
    """A typed, read-only view of some settings: the fields one stage needs. It has no
    defaults of its own (``Settings`` holds the one set); a test checks each field's type
    against the setting it comes from."""

    model_config = ConfigDict(frozen=True)

    #: the Settings field of a section field is ``_prefix + name`` …
    _prefix: ClassVar[str] = ""
    #: … except where it is named here
    _source: ClassVar[dict[str, str]] = {}

    @classmethod
    def source_of(cls, name: str) -> str:
        return cls._source.get(name, cls._prefix + name)

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        return cls(**{k: _read(settings, cls.source_of(k)) for k in cls.model_fields})


def _read(settings: Settings, source: str) -> Any:
    """A setting by name; ``section.name`` for a nested section's field."""
    value: Any = settings
    for part in source.split("."):
        value = getattr(value, part)
    return value


class StrategySettings(_Section):
    """What the strategy object is built from (aaiti.execution.spec)."""

    _source: ClassVar[dict[str, str]] = {
        "name": "trading_strategy",
        "signal": "strategy_signal",
        "min_edge_bps": "strategy_min_edge_bps",
        "enter_long": "trading_enter_long",
        "exit_long": "trading_exit_long",
        "min_hold_bars": "strategy_min_hold_bars",
        "sizing": "strategy_sizing",
        "target_vol": "strategy_target_vol",
        "kelly_fraction": "strategy_kelly_fraction",
        "stop_atr": "strategy_stop_atr",
        "target_atr": "strategy_target_atr",
        "min_dsr": "strategy_min_dsr",
        "benchmark": "strategy_benchmark",
        "max_p_value": "strategy_max_p_value",
        "bootstrap_reps": "strategy_bootstrap_reps",
        "seed": "model_seed",
        "search": "strategy_search",
        "promotion_margin": "strategy_promotion_margin",
        "min_live_bars": "strategy_min_live_bars",
        "fee_bps": "trading_fee_bps",
        "slippage_bps": "trading_slippage_bps",
        "fraction": "trading_fraction_per_symbol",
        "allow_short": "trading_allow_short",
        "participation_cap": "trading_participation_cap",
        "horizon": "model_horizon",
    }
    name: str
    signal: str
    min_edge_bps: float
    enter_long: float
    exit_long: float
    min_hold_bars: int | None
    sizing: str
    target_vol: float
    kelly_fraction: float
    stop_atr: float | None
    target_atr: float | None
    min_dsr: float
    benchmark: str
    max_p_value: float
    bootstrap_reps: int
    seed: int
    search: bool
    promotion_margin: float
    min_live_bars: int
    fee_bps: float
    slippage_bps: float
    fraction: float
    allow_short: bool
    participation_cap: float | None
    horizon: int


class ModelSettings(_Section):
    """Labels, folds and the search (aaiti.ml.model.TrainConfig is built from it)."""

    _source: ClassVar[dict[str, str]] = {
        "horizon": "model_horizon",
        "dead_zone": "model_dead_zone",
        "label": "model_label",
        "fold_period": "model_fold_period",
        "min_train_days": "model_min_train_days",
        "embargo_bars": "model_embargo_bars",
        "search_budget": "model_search_budget",
        "train_bars": "model_train_bars",
        "seed": "model_seed",
        "fee_bps": "trading_fee_bps",
        "slippage_bps": "trading_slippage_bps",
    }
    horizon: int
    dead_zone: float
    label: str
    fold_period: str
    min_train_days: float
    embargo_bars: int | None
    search_budget: int
    train_bars: int | None
    seed: int
    fee_bps: float  # the round-trip cost a "beyond_cost" label must beat
    slippage_bps: float


class MonitorSettings(_Section):
    """Drift, live quality and the retrain trigger (aaiti.monitoring.monitor)."""

    _prefix: ClassVar[str] = "monitor_"
    _source: ClassVar[dict[str, str]] = {"horizon": "model_horizon", "dead_zone": "model_dead_zone"}
    current_bars: int
    drift_method: str
    drift_threshold: float
    drift_share: float
    min_labelled: int
    max_auc_decay: float
    retrain_cooldown_hours: float
    retrain: bool
    horizon: int  # the labels live quality is judged on
    dead_zone: float


class TradingSettings(_Section):
    """The account a trading cycle keeps (aaiti.trading.cycle)."""

    _prefix: ClassVar[str] = "trading_"
    _source: ClassVar[dict[str, str]] = {
        "strategy_name": "trading_strategy",
        "symbols": "symbols",
        "timeframe": "timeframe",
        "live": "live_trading",
        "reconcile_tolerance": "live_reconcile_tolerance",
        "min_history_bars": "risk.min_history_bars",
        "risk": "risk",
        "strategy": "strategy",
    }
    account: str
    initial_cash: PerQuote
    report_currency: str | None
    fee_bps: float
    slippage_bps: float
    fraction_per_symbol: float
    allow_short: bool
    participation_cap: float | None
    max_wait_bars: int
    strategy_name: str
    symbols: list[str]
    timeframe: str
    live: bool
    reconcile_tolerance: float
    min_history_bars: int
    risk: RiskSettings  # the pre-trade limits
    strategy: StrategySettings  # what trades when no evaluated strategy is deployed


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment (and ``.env``), with explicit overrides on top."""
    return Settings(**overrides)  # type: ignore[arg-type]


def apply_tool_environment(settings: Settings) -> None:
    """Point the tools' own state into the data folder and switch off their telemetry.

    Called at the edge, before Prefect or MLflow are imported. Values already set by the
    user win, so a test or an operator can still point elsewhere.
    """
    for key, value in OFFLINE_ENV.items():
        os.environ.setdefault(key, value)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PREFECT_HOME", str(settings.prefect_home.resolve()))
    os.environ.setdefault("MLFLOW_TRACKING_URI", settings.mlflow_tracking_uri)


def prefect_api_url(settings: Settings) -> str:
    """The Prefect API the flows report to: PREFECT_API_URL, else the local stack's."""
    return os.environ.get("PREFECT_API_URL") or (
        f"http://{settings.bind_host}:{settings.prefect_port}/api"
    )


def child_environment(extra: dict[str, str]) -> dict[str, str]:
    """The environment for a process the project starts: this one's, plus ``extra``."""
    return {**os.environ, **extra}


def apply_dbt_environment(settings: Settings) -> None:
    """The variables models_dbt reads: the warehouse path, no usage stats, the memory
    limit (profiles.yml); the Dask scheduler the features spread over (dbt_project.yml).

    Deliberately not ``AAITI_WAREHOUSE_PATH``: writing a settings variable here would make
    every later ``load_settings()`` in the process point at this warehouse.
    """
    os.environ["DBT_DUCKDB_PATH"] = str(Path(str(settings.warehouse_path)).resolve())
    os.environ["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    os.environ["DBT_DUCKDB_MEMORY_LIMIT"] = settings.duckdb_memory_limit
    os.environ["DBT_AAITI_DASK_ADDRESS"] = settings.dask_address or ""


def settings_reference() -> str:
    """The settings reference (docs/settings.md), generated from :class:`Settings`."""
    lines = [
        "# Settings reference",
        "",
        "Generated from `aaiti/config.py` by `python -m aaiti.config` (a test keeps it",
        "current). Each setting is an environment variable (or a line of `.env`); lists take",
        "commas, dicts take JSON.",
        "",
        "| variable | default | meaning |",
        "|---|---|---|",
    ]
    for name, field in Settings.model_fields.items():
        if name in NESTED:
            continue
        lines.append(_reference_line(f"AAITI_{name.upper()}", field))
    for section in NESTED:
        model = cast("type[BaseModel]", Settings.model_fields[section].annotation)
        lines += ["", f"## {section}", "", (model.__doc__ or "").split("\n")[0], "",
                  "| variable | default | meaning |", "|---|---|---|"]  # fmt: skip
        for name, field in model.model_fields.items():
            lines.append(_reference_line(f"AAITI_{section.upper()}_{name.upper()}", field))
    return "\n".join(lines) + "\n"


def _reference_line(variable: str, field: Any) -> str:
    default = field.default
    if isinstance(default, Path) and default.is_absolute():
        default = default.name
    shown = "–" if default is None else f"`{default}`"
    meaning = (field.description or "").replace("|", "\\|")
    return f"| `{variable}` | {shown} | {meaning} |"


if __name__ == "__main__":
    print(settings_reference(), end="")
