"""Ad hoc backtests over symbols and a parameter grid; results to the warehouse and MLflow."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd

from aaiti.config import Settings
from aaiti.errors import StateError
from aaiti.execution.costs import CostModel
from aaiti.ml.tracking import tracker_for
from aaiti.trading.backtest import sma_grid
from aaiti.warehouse import Warehouse
from aaiti.warehouse.sql import load_sql, run

#: The columns a person reads first, in the CLI's table and the flow's artifact.
SUMMARY_COLUMNS = [
    "symbol",
    "fast",
    "slow",
    "total_return",
    "sharpe",
    "max_drawdown",
    "trades",
    "win_rate",
]


@dataclass(frozen=True)
class GridReport:
    backtest_id: str
    results: pd.DataFrame
    mlflow_run_id: str | None

    def summary(self) -> pd.DataFrame:
        return self.results[SUMMARY_COLUMNS].round(4)


def load_grid_candles(settings: Settings, *, timeframe: str) -> dict[str, pd.DataFrame]:
    """Each default symbol's candles of one timeframe, from the serving snapshot."""
    con = Warehouse.from_settings(settings).read()
    try:
        candles = (
            con.sql(
                load_sql("aaiti.trading", "backtest_candles"), params=[timeframe, settings.symbols]
            )
            .to_arrow_table()
            .to_pandas()
        )
    finally:
        con.close()
    if candles.empty:
        raise StateError(
            f"no {timeframe} candles for {settings.symbols}: run ingest and transform first"
        )
    return {
        str(symbol): g[["open", "high", "low", "close"]].reset_index(drop=True)
        for symbol, g in candles.groupby("symbol")
    }


def grid_for_symbol(
    symbol: str,
    candles: pd.DataFrame,
    *,
    fasts: list[int],
    slows: list[int],
    costs: CostModel,
    timeframe: str,
) -> pd.DataFrame:
    """One symbol's grid: a pure function of its candles and the parameters (cacheable)."""
    res = sma_grid(
        open_=candles["open"].to_numpy(),
        high=candles["high"].to_numpy(),
        low=candles["low"].to_numpy(),
        close=candles["close"].to_numpy(),
        fasts=fasts,
        slows=slows,
        costs=costs,
        timeframe=timeframe,
    )
    res.insert(0, "symbol", symbol)
    return res


def run_sma_grid(
    settings: Settings,
    *,
    fasts: list[int],
    slows: list[int],
    timeframe: str | None = None,
    log_to_mlflow: bool = True,
) -> GridReport:
    timeframe = timeframe or settings.timeframe
    costs = costs_from(settings)
    parts = [
        grid_for_symbol(symbol, frame, fasts=fasts, slows=slows, costs=costs, timeframe=timeframe)
        for symbol, frame in load_grid_candles(settings, timeframe=timeframe).items()
    ]
    return store_grid(settings, parts, timeframe=timeframe, log_to_mlflow=log_to_mlflow)


def costs_from(settings: Settings) -> CostModel:
    return CostModel(settings.trading_fee_bps, settings.trading_slippage_bps)


def store_grid(
    settings: Settings, parts: list[pd.DataFrame], *, timeframe: str, log_to_mlflow: bool = True
) -> GridReport:
    """The grid's rows to ``trading.backtests`` (and a run to MLflow), one id for them all."""
    costs = costs_from(settings)
    results = pd.concat(parts, ignore_index=True)
    backtest_id = f"sma-grid-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    run_id = _log(settings, backtest_id, results, costs, timeframe) if log_to_mlflow else None
    rows = pd.DataFrame(
        {
            "backtest_id": backtest_id,
            "created_at": datetime.now(UTC),
            "strategy": "sma_crossover",
            "symbol": results["symbol"],
            "timeframe": timeframe,
            "params": [
                json.dumps({"fast": int(f), "slow": int(s)})
                for f, s in zip(results["fast"], results["slow"], strict=True)
            ],
            "fee_bps": costs.fee_bps,
            "slippage_bps": costs.slippage_bps,
            **{
                k: results[k]
                for k in (
                    "total_return",
                    "cagr",
                    "sharpe",
                    "sortino",
                    "calmar",
                    "max_drawdown",
                    "trades",
                    "win_rate",
                    "profit_factor",
                    "exposure",
                    "turnover",
                )
            },
            "mlflow_run_id": run_id,
        }
    )
    with Warehouse.from_settings(settings).writer(purpose="backtest", publish=True) as wcon:
        wcon.register("backtests_now", rows)
        run(wcon, load_sql("aaiti.trading", "backtests_insert"))
        wcon.unregister("backtests_now")
    return GridReport(backtest_id, results, run_id)


def _log(
    settings: Settings, backtest_id: str, results: pd.DataFrame, costs: CostModel, timeframe: str
) -> str:

    mlflow = tracker_for(settings).mlflow
    with mlflow.start_run(run_name=backtest_id) as run_:
        mlflow.set_tag("kind", "backtest")
        mlflow.log_params(
            {
                "strategy": "sma_crossover",
                "timeframe": timeframe,
                "fee_bps": costs.fee_bps,
                "slippage_bps": costs.slippage_bps,
                "combinations": len(results),
            }
        )
        best = results.sort_values("sharpe", ascending=False).groupby("symbol").head(1)
        for r in best.itertuples(index=False):
            key = r.symbol.replace("/", "_")
            mlflow.log_metrics(
                {
                    f"best_{key}_sharpe": r.sharpe,
                    f"best_{key}_total_return": r.total_return,
                    f"best_{key}_fast": r.fast,
                    f"best_{key}_slow": r.slow,
                }
            )
        mlflow.log_text(results.to_csv(index=False), "grid_results.csv")
        return run_.info.run_id
