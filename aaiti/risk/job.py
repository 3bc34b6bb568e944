"""The risk job: portfolio risk of the current positions and the paper account's record.

VaR/CVaR use historical simulation of *today's* positions over the instruments' own recent
returns (so a new account is judged on market history, not on its few own bars). Each
metric is one row in ``risk.metrics``: a value with status ``ok``, or NULL with status
``insufficient_history`` — never a neutral 0 standing in for "unknown".
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from aaiti.books import books, plain_amount
from aaiti.config import Settings, TradingSettings
from aaiti.errors import InputError
from aaiti.market.candles import instrument
from aaiti.market.timeframes import bars_per_year
from aaiti.risk import metrics as m
from aaiti.warehouse import Warehouse
from aaiti.warehouse.sql import load_sql, run

if TYPE_CHECKING:
    import duckdb


@dataclass(frozen=True)
class RiskReport:
    rows: list[dict[str, Any]]

    def value(self, metric: str, *, account: str | None = None) -> float | None:
        return next((r["value"] for r in self._of(metric, account)), None)

    def status(self, metric: str, *, account: str | None = None) -> str | None:
        return next((r["status"] for r in self._of(metric, account)), None)

    @property
    def accounts(self) -> list[str]:
        """The books the rows are of, in their order."""
        return list(dict.fromkeys(r["account"] for r in self.rows))

    def _of(self, metric: str, account: str | None) -> list[dict[str, Any]]:
        """A metric's rows; of one book, which must be named when there are several."""
        if account is None and len(self.accounts) > 1:
            raise InputError(f"name the book: the report holds {', '.join(self.accounts)}")
        return [r for r in self.rows if r["metric"] == metric and account in (None, r["account"])]


@dataclass(frozen=True)
class RiskInputs:
    """What the risk figures are computed from, as loaded from the warehouse."""

    returns: pd.DataFrame  # ts, instrument, r: the instruments' own recent returns
    positions: dict[str, float]  # instrument (exchange:symbol) -> signed notional at the mark
    equity: pd.DataFrame  # ts, equity: the account's record
    current_equity: float


def compute_risk(
    settings: Settings,
    *,
    warehouse: Warehouse | None = None,
    window_bars: int = 1000,
    timeframe: str | None = None,
) -> RiskReport:
    """The shell: for each of the account's books (one per quote currency), load the
    inputs, compute the rows (``risk_rows``); write them all in one transaction."""
    warehouse, cfg = warehouse or Warehouse.from_settings(settings), settings.trading
    timeframe = timeframe or cfg.timeframe
    rows: list[dict[str, Any]] = []
    with warehouse.writer(purpose="risk") as con:
        for book in books(cfg):
            inputs = _load(con, book, timeframe=timeframe, window_bars=window_bars)
            rows += risk_rows(
                inputs,
                account=book.account,
                now=datetime.now(UTC),
                bars_per_year=bars_per_year(timeframe),
                min_obs=book.min_history_bars,
            )
        con.register("metrics_now", pd.DataFrame(rows))
        run(con, load_sql("aaiti.risk", "insert_metrics"))
        con.unregister("metrics_now")
    return RiskReport(rows)


def _load(
    con: duckdb.DuckDBPyConnection, cfg: TradingSettings, *, timeframe: str, window_bars: int
) -> RiskInputs:
    account = cfg.account
    rets = (
        con.sql(
            load_sql("aaiti.risk", "instrument_returns"),
            params=[timeframe, cfg.symbols, window_bars, account],
        )
        .to_arrow_table()
        .to_pandas()
    )
    keys = [instrument(e, s) for e, s in zip(rets.pop("exchange"), rets.pop("symbol"), strict=True)]
    rets.insert(1, "instrument", keys)
    positions = {
        instrument(exchange, symbol): value
        for exchange, symbol, value in con.execute(
            load_sql("aaiti.risk", "account_positions"), [account]
        ).fetchall()
    }
    equity = (
        con.sql(load_sql("aaiti.risk", "account_equity"), params=[account])
        .to_arrow_table()
        .to_pandas()
    )
    current = float(equity["equity"].iloc[-1]) if len(equity) else plain_amount(cfg.initial_cash)
    return RiskInputs(rets, positions, equity, current)


class _Rows(list[dict[str, Any]]):
    """``risk.metrics`` rows: a value with status ``ok``, or NULL with the reason."""

    def __init__(self, account: str, now: datetime) -> None:
        super().__init__()
        self.account, self.now = account, now

    def add(
        self, metric: str, value: float | None, *, n: int, detail: object = None, status: str = "ok"
    ) -> None:
        self.append(
            {
                "computed_at": self.now,
                "account": self.account,
                "metric": metric,
                "value": None if value is None else float(value),
                "status": status,
                "observations": n,
                "detail": None if detail is None else json.dumps(detail, default=str),
            }
        )


def risk_rows(
    inputs: RiskInputs, *, account: str, now: datetime, bars_per_year: float, min_obs: int
) -> list[dict[str, Any]]:
    """The pure core: every risk metric of the inputs, one row each."""
    rows = _Rows(account, now)
    matrix = inputs.returns.pivot(index="ts", columns="instrument", values="r").dropna()
    weights = np.array(
        [inputs.positions.get(s, 0.0) / inputs.current_equity for s in matrix.columns]
    )
    _var_rows(rows, inputs, matrix, weights, min_obs=min_obs)
    _portfolio_rows(rows, matrix, weights, bars_per_year=bars_per_year, min_obs=min_obs)
    _exposure_rows(rows, inputs)
    _record_rows(rows, inputs.equity, bars_per_year=bars_per_year, min_obs=min_obs)
    return list(rows)


def _var_rows(
    rows: _Rows, inputs: RiskInputs, matrix: pd.DataFrame, weights: np.ndarray, *, min_obs: int
) -> None:
    """VaR and CVaR at 95 % and 99 %, three ways, of today's positions over the window."""
    n = len(matrix)
    held = inputs.positions
    unpriced = sorted(s for s, v in held.items() if v and s not in matrix.columns)
    portfolio = matrix.to_numpy() @ weights if n else np.empty(0)
    for alpha in (0.95, 0.99):
        for name, fn in (
            ("historical", m.historical_var),
            ("parametric", m.parametric_var),
            ("cornish_fisher", m.cornish_fisher_var),
        ):
            tag = f"{int(alpha * 100)}_{name}"
            try:
                if unpriced:  # a held instrument without returns: no partial figure, no 0
                    raise m.InsufficientHistoryError(
                        f"no returns in the risk window for held {', '.join(unpriced)}"
                    )
                if not weights.any():
                    rows.add(f"var_{tag}", 0.0, n=n, detail={"why": "no open position"})
                    rows.add(f"cvar_{tag}", 0.0, n=n, detail={"why": "no open position"})
                    continue
                v = fn(portfolio, alpha=alpha, min_obs=min_obs)
                money = inputs.current_equity
                rows.add(f"var_{tag}", v.var, n=n, detail={"currency": v.var * money})
                rows.add(f"cvar_{tag}", v.cvar, n=n, detail={"currency": v.cvar * money})
            except m.InsufficientHistoryError as err:
                rows.add(f"var_{tag}", None, n=n, status="insufficient_history", detail=str(err))
                rows.add(f"cvar_{tag}", None, n=n, status="insufficient_history", detail=str(err))


def _portfolio_rows(
    rows: _Rows, matrix: pd.DataFrame, weights: np.ndarray, *, bars_per_year: float, min_obs: int
) -> None:
    n = len(matrix)
    if n < min_obs:
        rows.add("portfolio_volatility", None, n=n, status="insufficient_history",
                 detail=f"{n} bars; at least {min_obs} needed")  # fmt: skip
        return
    rows.add(
        "portfolio_volatility",
        m.portfolio_volatility(
            weights, matrix.to_numpy(), periods_per_year=bars_per_year, min_obs=min_obs
        ),
        n=n,
    )
    rows.add(
        "correlation",
        None if matrix.shape[1] < 2 else float(matrix.corr().to_numpy()[0, 1]),
        n=n,
        detail=matrix.corr().round(4).to_dict(),
    )


def _exposure_rows(rows: _Rows, inputs: RiskInputs) -> None:
    positions = inputs.positions
    gross = sum(abs(v) for v in positions.values())
    rows.add("gross_exposure", gross / inputs.current_equity, n=len(positions))
    rows.add(
        "concentration_hhi",
        m.herfindahl(list(positions.values())) if gross else None,
        n=len(positions),
        status="ok" if gross else "no_exposure",
    )


def _record_rows(rows: _Rows, equity: pd.DataFrame, *, bars_per_year: float, min_obs: int) -> None:
    """The account's own record: Sharpe, Sortino, maximum drawdown."""
    e = equity["equity"].to_numpy(float)
    r = m.simple_returns(e)
    for metric, fn in (("sharpe", m.sharpe_ratio), ("sortino", m.sortino_ratio)):
        try:
            rows.add(metric, fn(r, periods_per_year=bars_per_year, min_obs=min_obs), n=len(r))
        except m.InsufficientHistoryError as err:
            rows.add(metric, None, n=len(r), status="insufficient_history", detail=str(err))
        except ValueError as err:
            rows.add(metric, None, n=len(r), status="undefined", detail=str(err))
    if len(e) < 2:
        rows.add("max_drawdown", None, n=len(e), status="insufficient_history")
        return
    dd = m.max_drawdown(e)
    rows.add(
        "max_drawdown",
        dd.depth,
        n=len(e),
        detail={
            "peak": str(equity["ts"].iloc[dd.peak]),
            "trough": str(equity["ts"].iloc[dd.trough]),
            "duration_bars": dd.duration,
        },
    )
