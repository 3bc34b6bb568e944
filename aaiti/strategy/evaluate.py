"""Walk-forward evaluation of a strategy, net of costs, beside buy-and-hold and flat.

Only out-of-sample predictions are traded: each bar's probability comes from the fold whose
training ended before it, and the fold's edge model (calibration and conditional returns)
is fitted on that fold's own validation and training rows — never on its test block.

Conventions (stated wherever a figure is shown):

* per stream, all-in: the strategy trades the stream with ``fraction = 1`` of its own
  equity; buy-and-hold buys at the open after the first out-of-sample bar (slippage and fee
  paid) and is marked at each close; flat earns 0;
* the strategy's portfolio is the equal-weight mean of the streams' per-bar returns; the
  buy-and-hold portfolio is bought once in equal parts and never rebalanced;
* Sharpe = mean / std (ddof = 1) of per-bar simple returns × √(bars per year), risk-free 0;
  Sortino over the downside deviation of all bars; bars per year = 365.25 × 86400 / bar s.
* the deflated Sharpe ratio counts every configuration tried on the data set (``trials``
  in this run, ``prior`` before it: the trial ledger and the research log);
* a strategy qualifies only when it also beats the benchmark the user could hold instead
  (:mod:`aaiti.strategy.verdict`) on the same bars.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from aaiti.errors import InputError
from aaiti.execution.core import params_of
from aaiti.execution.spec import EdgeModel, StrategySpec, fit_edge_model
from aaiti.market.candles import instrument, stream_columns
from aaiti.market.timeframes import bars_per_year
from aaiti.risk import metrics as m
from aaiti.strategy.breakdown import DRAWDOWN, breakdown
from aaiti.strategy.fastsim import simulate_stream
from aaiti.strategy.ledger import NO_PRIOR, PriorTrials
from aaiti.strategy.verdict import BENCHMARKS, Versus, versus

if TYPE_CHECKING:
    from aaiti.config import StrategySettings


@dataclass(frozen=True)
class Performance:
    total_return: float
    cagr: float | None
    sharpe: float | None  # None: undefined (no variance), never 0 in its place
    sortino: float | None
    max_drawdown: float
    exposure: float
    trades: int
    turnover: float  # traded notional / mean equity, per year
    bars: int

    def as_dict(self) -> dict:
        return asdict(self)


def performance(
    equity: np.ndarray, *, held: np.ndarray, trades: int, traded: float, per_year: float
) -> Performance:
    e = np.asarray(equity, dtype=float)
    r = m.simple_returns(e)
    years = len(e) / per_year
    total = float(e[-1] / e[0] - 1) if len(e) else 0.0

    def ratio(value: float) -> float | None:
        return None if np.isnan(value) else value  # undefined, never 0 in its place

    return Performance(
        total_return=total,
        cagr=float((1 + total) ** (1 / years) - 1) if years > 0 and total > -1 else None,
        sharpe=ratio(m.annualised_sharpe(r, periods_per_year=per_year)),
        sortino=ratio(m.annualised_sortino(r, periods_per_year=per_year)),
        max_drawdown=float(m.drawdown_of(e).depth) if len(e) else 0.0,
        exposure=float(np.mean(np.asarray(held) != 0)) if len(held) else 0.0,
        trades=int(trades),
        turnover=float(traded / np.mean(e) / years) if years > 0 else 0.0,
        bars=len(e),
    )


def buy_and_hold(bars: pd.DataFrame, spec: StrategySpec) -> np.ndarray:
    """Equity of 1 bought at the open after the first bar, with the strategy's costs."""
    o, hi, c = (bars[k].to_numpy(float) for k in ("open", "high", "close"))
    e = np.ones(len(c))
    if len(c) > 1:
        fee, slip = spec.fee_bps / 10_000, spec.slippage_bps / 10_000
        units = 1.0 / (min(o[1] * (1 + slip), hi[1]) * (1 + fee))
        e[1:] = units * c[1:]
    return e


@dataclass(frozen=True)
class StreamResult:
    symbol: str  # the instrument (exchange:symbol), or the symbol of a one-exchange frame
    ts: pd.DatetimeIndex
    strategy: np.ndarray  # equity, net of costs
    buy_and_hold: np.ndarray
    held: np.ndarray
    trades: int
    fees: float
    traded: float


def run_stream(bars: pd.DataFrame, spec: StrategySpec, *, per_year: float) -> StreamResult:
    """``bars``: ts, open, high, low, close, score, prob, atr, vol (one stream, in order)."""
    all_in = replace(spec, fraction=1.0)
    run = simulate_stream(
        open_=bars["open"].to_numpy(float),
        high=bars["high"].to_numpy(float),
        low=bars["low"].to_numpy(float),
        close=bars["close"].to_numpy(float),
        score=bars["score"].to_numpy(float),
        prob=bars["prob"].to_numpy(float),
        payoff=bars["payoff"].to_numpy(float),
        atr=bars["atr"].to_numpy(float),
        vol=bars["vol"].to_numpy(float),
        params=params_of(all_in, bars_per_year=per_year),
        fee=spec.fee_bps / 10_000,
        slippage=spec.slippage_bps / 10_000,
        allow_short=spec.allow_short,
    )
    first = bars.iloc[0]
    return StreamResult(
        instrument(first["exchange"], first["symbol"]) if "exchange" in bars else first["symbol"],
        pd.DatetimeIndex(bars["ts"]),
        run.equity,
        buy_and_hold(bars, spec),
        run.held,
        run.trades,
        run.fees,
        run.traded_notional,
    )


def stream_runs(bars: pd.DataFrame, spec: StrategySpec, *, per_year: float) -> list[StreamResult]:
    """Each stream of ``bars`` (an instrument: exchange and symbol) traded on its own."""
    return [run_stream(g, spec, per_year=per_year) for _, g in bars.groupby(stream_columns(bars))]


def portfolio_returns(streams: list[StreamResult], curve: str) -> pd.Series:
    """Equal-weight mean of the streams' per-bar returns on the union of their bars."""
    parts = {
        s.symbol: pd.Series(getattr(s, curve), index=s.ts).pct_change().iloc[1:] for s in streams
    }
    frame = pd.DataFrame(parts).sort_index()
    return frame.mean(axis=1, skipna=True).fillna(0.0)


def held_once_returns(streams: list[StreamResult]) -> pd.Series:
    """Buy-and-hold of the streams bought once in equal parts, never rebalanced: the mean of
    their equity curves (each 1 until its stream's first bar), on the union of their bars."""
    parts = {s.symbol: pd.Series(s.buy_and_hold, index=s.ts) for s in streams}
    equity = pd.DataFrame(parts).sort_index().ffill().fillna(1.0).mean(axis=1)
    return equity.pct_change().iloc[1:]


@dataclass(frozen=True)
class VerdictRules:
    """What a strategy must show to trade (settings ``AAITI_STRATEGY_*``)."""

    min_dsr: float = 0.95
    benchmark: str = "buy_and_hold"
    max_p_value: float = 0.05
    reps: int = 1000
    seed: int = 0

    def __post_init__(self) -> None:
        if self.benchmark not in BENCHMARKS:
            raise InputError(f"benchmark {self.benchmark!r}: use one of {', '.join(BENCHMARKS)}")

    @classmethod
    def from_section(cls, strategy: StrategySettings) -> VerdictRules:
        return cls(strategy.min_dsr, strategy.benchmark, strategy.max_p_value,
                   strategy.bootstrap_reps, strategy.seed)  # fmt: skip


@dataclass(frozen=True)
class Qualification:
    qualified: bool
    reason: str


@dataclass(frozen=True)
class StrategyEvaluation:
    spec: StrategySpec
    timeframe: str
    start: str
    end: str
    per_stream: dict[str, dict[str, Performance]]  # instrument → strategy / buy_and_hold
    portfolio: dict[str, Performance]
    dsr: m.DeflatedSharpe | None
    pbo: float | None
    trials: int
    qualification: Qualification
    curves: pd.DataFrame = field(repr=False)  # ts, series, strategy, buy_and_hold
    returns: pd.Series = field(repr=False)  # the portfolio's per-bar net returns
    versus: Versus | None = None  # the tests against the benchmark (None: too few bars)
    run_sharpes: dict[str, float] = field(default_factory=dict)  # this run's trials, per bar
    trials_before: int = 0  # of ``trials``: the ledger's other recipes and the research log
    breakdowns: dict[str, dict] = field(default_factory=dict)  # series → by year, by regime

    def summary(self) -> dict:
        return {
            "strategy": self.spec.name,
            "strategy_version": self.spec.version,
            "model": f"{self.spec.model_name} v{self.spec.model_version}",
            "timeframe": self.timeframe,
            "out_of_sample": {"start": self.start, "end": self.end},
            "conventions": {
                "costs": f"fee {self.spec.fee_bps} bps + slippage {self.spec.slippage_bps} bps per fill",
                "fills": "decided at a close, filled at the next open",
                "per_stream": "all-in on the stream (fraction 1)",
                "portfolio": "strategy: equal-weight mean of the streams' per-bar returns; "
                "buy-and-hold: equal parts bought once, never rebalanced",
                "sharpe": "mean/std (ddof 1) of per-bar simple returns × √bars per year, rf 0",
                "buy_and_hold": "bought at the open after the first out-of-sample bar, same costs",
                "regimes": f"drawdown: buy-and-hold more than {DRAWDOWN:.0%} below its peak "
                "at the close before the bar; rising: otherwise",
            },
            "portfolio": {k: v.as_dict() for k, v in self.portfolio.items()},
            "per_stream": {
                s: {k: v.as_dict() for k, v in d.items()} for s, d in self.per_stream.items()
            },
            "deflated_sharpe": None if self.dsr is None else asdict(self.dsr),
            "pbo": self.pbo,
            "trials": self.trials,
            "trials_before_this_run": self.trials_before,
            "versus_benchmark": None if self.versus is None else self.versus.as_dict(),
            "qualified": self.qualification.qualified,
            "reason": self.qualification.reason,
            "breakdowns": self.breakdowns,
            "spec": self.spec.as_dict(),
        }


def fold_edge_models(
    *, proba_val: pd.DataFrame, meta: pd.DataFrame, y: np.ndarray, cost: float
) -> dict[int, EdgeModel]:
    """One edge model per fold from its validation rows (the rows before its test block)."""
    out = {}
    fwd = meta["forward_log_return"].to_numpy(float)
    for fold, part in proba_val.groupby("fold"):
        rows = part["row"].to_numpy()
        out[int(fold)] = fit_edge_model(
            part["proba"].to_numpy(float), y[rows], fwd[rows], cost=cost
        )
    return out


def scored_bars(
    *, oos: pd.DataFrame, meta: pd.DataFrame, spec: StrategySpec, edges: dict[int, EdgeModel]
) -> pd.DataFrame:
    """The out-of-sample span of each stream with each bar's score from its own fold."""
    frame = meta.copy()
    frame["proba"] = np.nan
    frame["fold"] = -1
    frame.loc[oos["row"].to_numpy(), "proba"] = oos["proba"].to_numpy(float)
    frame.loc[oos["row"].to_numpy(), "fold"] = oos["fold"].to_numpy()
    frame["score"], frame["prob"], frame["payoff"] = np.nan, np.nan, np.nan
    for fold, idx in frame[frame["fold"] >= 0].groupby("fold").groups.items():
        s = replace(spec, edge_model=edges.get(int(fold), spec.edge_model))
        p = frame.loc[idx, "proba"].to_numpy(float)
        frame.loc[idx, "score"], frame.loc[idx, "prob"] = s.score(p), s.calibrated(p)
        frame.loc[idx, "payoff"] = s.edge_model.payoff_ratio
    first, last = oos["ts"].min(), oos["ts"].max()
    frame = frame[(frame["ts"] >= first) & (frame["ts"] <= last)]
    frame = frame.rename(columns={"atr_14": "atr", "realized_vol_20": "vol"})
    for col in ("atr", "vol"):
        if col not in frame:
            frame[col] = np.nan
    return frame.sort_values([*stream_columns(frame), "ts"]).reset_index(drop=True)


def qualify(
    *,
    sharpe: float | None,
    dsr: m.DeflatedSharpe | None,
    vs: Versus | None,
    rules: VerdictRules,
    benchmark_sharpe: float | None,
) -> Qualification:
    """Trades only with a positive net Sharpe that beats the benchmark's (both tests'
    p-values at most ``rules.max_p_value``) and a deflated probability ≥ ``rules.min_dsr``."""
    if sharpe is None or not math.isfinite(sharpe):
        return Qualification(False, "net Sharpe undefined (no trades or no variance)")
    if sharpe <= 0:
        return Qualification(False, f"walk-forward net Sharpe {sharpe:.2f} is not above 0")
    name = rules.benchmark.replace("_", "-")
    if vs is None:
        return Qualification(False, f"too few bars to test against {name}")
    theirs = "0" if benchmark_sharpe is None else f"{benchmark_sharpe:.2f}"
    alpha = rules.max_p_value
    p = vs.sharpe_test.p_value
    if p > alpha:
        return Qualification(
            False,
            f"net Sharpe {sharpe:.2f} does not beat {name}'s {theirs} "
            f"(Ledoit–Wolf p = {p:.3f} > {alpha})",
        )
    if vs.spa_p_value > alpha:
        return Qualification(
            False,
            f"no candidate of {vs.candidates} beats {name} once the search is counted "
            f"(SPA p = {vs.spa_p_value:.3f} > {alpha})",
        )
    if dsr is None:
        return Qualification(False, "deflated Sharpe undefined")
    if dsr.probability < rules.min_dsr:
        return Qualification(
            False,
            f"deflated Sharpe probability {dsr.probability:.3f} < {rules.min_dsr} "
            f"(net Sharpe {sharpe:.2f}, {dsr.trials} trial(s))",
        )
    return Qualification(
        True,
        f"net Sharpe {sharpe:.2f} beats {name}'s {theirs} (Ledoit–Wolf p = {p:.3f}, "
        f"SPA p = {vs.spa_p_value:.3f}, ≤ {alpha}) and deflated Sharpe probability "
        f"{dsr.probability:.3f} ≥ {rules.min_dsr} ({dsr.trials} trial(s))",
    )


def evaluate(
    bars: pd.DataFrame,
    spec: StrategySpec,
    *,
    timeframe: str,
    trials: int = 1,
    trial_returns: pd.DataFrame | None = None,
    rules: VerdictRules = VerdictRules(),
    prior: PriorTrials = NO_PRIOR,
) -> StrategyEvaluation:
    """Trade ``bars`` (from :func:`scored_bars`) and judge the result.

    ``trials`` counts every configuration tried in the run; ``trial_returns`` (bars × the
    configurations evaluated, portfolio returns) gives the Sharpe variance across trials,
    the PBO and the candidates of the SPA test. ``prior`` is what the trial ledger and the
    research log hold for the data set: it adds to N and to the Sharpes' variance."""
    per_year = bars_per_year(timeframe)
    streams = stream_runs(bars, spec, per_year=per_year)
    per_stream = _per_stream(streams, per_year=per_year)
    returns = portfolio_returns(streams, "strategy")
    bh = held_once_returns(streams).reindex(returns.index).fillna(0.0)
    portfolio = _portfolio(streams, per_stream, returns, bh, per_year=per_year)
    sharpes = trial_sharpes(returns, trial_returns)
    dsr, pbo = _deflated(returns, trials=trials, trial_returns=trial_returns,
                         run_sharpes=sharpes, prior=prior)  # fmt: skip
    vs = _versus(returns, bh, rules=rules, trial_returns=trial_returns)
    q = qualify(
        sharpe=portfolio["strategy"].sharpe, dsr=dsr, vs=vs, rules=rules,
        benchmark_sharpe=portfolio[rules.benchmark].sharpe,
    )  # fmt: skip
    parts = {"portfolio": breakdown(returns, bh, per_year=per_year)}
    for st in streams:
        r = pd.DataFrame({"s": st.strategy, "b": st.buy_and_hold}, index=st.ts).pct_change()
        parts[st.symbol] = breakdown(r["s"].iloc[1:], r["b"].iloc[1:], per_year=per_year)
    return StrategyEvaluation(
        spec,
        timeframe,
        str(bars["ts"].min()),
        str(bars["ts"].max()),
        per_stream,
        portfolio,
        dsr,
        pbo,
        trials + prior.n,
        q,
        _curves(streams, returns, bh),
        returns,
        vs,
        sharpes,
        prior.n,
        parts,
    )


def _equity(returns: pd.Series) -> np.ndarray:
    """The equity curve from 1 of per-bar returns (one point longer)."""
    return np.concatenate([[1.0], np.cumprod(1 + returns.to_numpy())])


def _per_stream(
    streams: list[StreamResult], *, per_year: float
) -> dict[str, dict[str, Performance]]:
    return {
        s.symbol: {
            "strategy": performance(
                s.strategy, held=s.held, trades=s.trades, traded=s.traded, per_year=per_year
            ),
            "buy_and_hold": performance(
                s.buy_and_hold, held=np.ones(len(s.held)), trades=1, traded=1.0, per_year=per_year
            ),
        }
        for s in streams
    }


def _portfolio(
    streams: list[StreamResult],
    per_stream: dict[str, dict[str, Performance]],
    returns: pd.Series,
    bh: pd.Series,
    *,
    per_year: float,
) -> dict[str, Performance]:
    """The strategy's portfolio, buy-and-hold's (bought once) and flat, on the same bars."""
    eq, bh_eq = _equity(returns), _equity(bh)
    exposure = np.mean([np.mean(s.held != 0) for s in streams]) if streams else 0.0
    return {
        "strategy": replace(
            performance(eq, held=np.ones(len(eq)), trades=0, traded=0.0, per_year=per_year),
            exposure=float(exposure),
            trades=sum(s.trades for s in streams),
            turnover=float(np.mean([per_stream[s.symbol]["strategy"].turnover for s in streams])),
        ),
        "buy_and_hold": performance(
            bh_eq, held=np.ones(len(bh_eq)), trades=len(streams), traded=1.0, per_year=per_year
        ),
        "flat": Performance(0.0, 0.0, None, None, 0.0, 0.0, 0, 0.0, len(eq)),
    }


def _curves(streams: list[StreamResult], returns: pd.Series, bh: pd.Series) -> pd.DataFrame:
    """Equity net of costs beside buy-and-hold: the portfolio's, then each stream's."""
    portfolio = pd.DataFrame(
        {"ts": returns.index, "series": "portfolio", "strategy": _equity(returns)[1:],
         "buy_and_hold": _equity(bh)[1:]}
    )  # fmt: skip
    per = [
        pd.DataFrame(
            {"ts": s.ts, "series": s.symbol, "strategy": s.strategy, "buy_and_hold": s.buy_and_hold}
        )
        for s in streams
    ]
    return pd.concat([portfolio, *per], ignore_index=True)


def _versus(
    returns: pd.Series, bh: pd.Series, *, rules: VerdictRules, trial_returns: pd.DataFrame | None
) -> Versus | None:
    """The tests against the benchmark on the portfolio's bars (None: under 30 bars)."""
    if len(returns) < 30:
        return None
    bench = None if rules.benchmark == "flat" else bh.to_numpy(float)
    cands = None
    if trial_returns is not None and trial_returns.shape[1] >= 2:
        cands = trial_returns.reindex(returns.index).fillna(0.0).to_numpy(float)
    return versus(returns.to_numpy(float), bench, name=rules.benchmark, candidates=cands,
                  reps=rules.reps, seed=rules.seed)  # fmt: skip


def trial_sharpes(returns: pd.Series, trial_returns: pd.DataFrame | None) -> dict[str, float]:
    """Per-bar Sharpe of each configuration this run evaluated: the search's candidates by
    label, or the strategy alone under ``""`` (NaN: no variance)."""
    frame = (
        trial_returns
        if trial_returns is not None and trial_returns.shape[1] >= 2
        else pd.DataFrame({"": returns})
    )
    x = frame.to_numpy(float)
    sd = x.std(axis=0, ddof=1) if len(x) > 1 else np.zeros(x.shape[1])
    safe = np.where(sd > 0, sd, 1.0)
    values = (
        np.where(sd > 0, x.mean(axis=0) / safe, np.nan) if len(x) else np.full(x.shape[1], np.nan)
    )
    return dict(zip(map(str, frame.columns), map(float, values), strict=True))


def _deflated(
    returns: pd.Series,
    *,
    trials: int,
    trial_returns: pd.DataFrame | None,
    run_sharpes: dict[str, float],
    prior: PriorTrials,
) -> tuple[m.DeflatedSharpe | None, float | None]:
    """DSR with N = this run's trials and every earlier one on the data set; the variance
    of trial Sharpes across all of them (an undefined one counts as 0: it never traded),
    or, with fewer than two, the null's sampling variance of a Sharpe estimate, 1 / T."""
    r = returns.to_numpy(float)
    srs = [0.0 if math.isnan(v) else v for v in run_sharpes.values()] + list(prior.sharpes)
    variance = float(np.var(srs, ddof=1)) if len(srs) >= 2 else 1.0 / max(len(r), 1)
    pbo = None
    if trial_returns is not None and trial_returns.shape[1] >= 2:
        try:
            pbo = m.probability_of_backtest_overfitting(
                trial_returns.to_numpy(float), blocks=16
            ).pbo
        except ValueError:
            pbo = None
    try:
        n = trials + prior.n
        return m.deflated_sharpe(r, trials=n, sharpe_variance=variance, min_obs=30), pbo
    except ValueError:
        return None, pbo
