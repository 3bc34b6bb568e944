"""The strategy backtest as it trades: a fresh session stepped over a window of bars.

The same :class:`~aaiti.execution.session.Session` the paper cycle steps bar by bar — the
decision core, the paper broker with shared cash, the sizing, the pre-trade risk gate and
its refusals — over every bar of the window in one go. The strategy-level parity test holds
a cycle replayed bar by bar through the warehouse to this, to 1e-9.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from aaiti.config import RiskSettings
from aaiti.execution.broker import Fill, PaperBroker
from aaiti.execution.core import params_of
from aaiti.execution.costs import CostModel
from aaiti.execution.session import Intent, Session, stream_bars
from aaiti.execution.spec import StrategySpec
from aaiti.risk.gate import RiskGate
from aaiti.strategy.evaluate import bars_per_year


@dataclass
class TradedWindow:
    equity: pd.DataFrame  # ts, cash, position_value, equity, drawdown
    fills: list[Fill] = field(default_factory=list)
    intents: list[Intent] = field(default_factory=list)
    broker: PaperBroker | None = None


def trade_window(
    bars: pd.DataFrame,
    spec: StrategySpec,
    *,
    initial_cash: float,
    limits: RiskSettings,
    account: str = "backtest",
    risk_known: bool = True,
    qualified: bool = True,
) -> TradedWindow:
    """``bars``: the streams' closed bars with ``probability`` (and ``atr_14``,
    ``realized_vol_20``) where the model scored them — see :func:`stream_bars`."""
    broker = PaperBroker(
        cash=initial_cash,
        costs=CostModel(spec.fee_bps, spec.slippage_bps),
        participation_cap=spec.participation_cap,
        allow_short=spec.allow_short,
    )
    session = Session(
        spec=spec,
        params=params_of(spec, bars_per_year=bars_per_year(spec.timeframe)),
        account=account,
        timeframe=spec.timeframe,
        broker=broker,
        gate=RiskGate(limits),
        qualified=qualified,
        risk_known=risk_known,
    )
    rows, out = [], TradedWindow(pd.DataFrame(), broker=broker)
    for ts, group in bars.groupby("ts", sort=True):
        step = session.step(ts, stream_bars(group))
        out.fills += [f for f, _ in step.fills]
        out.intents += step.intents
        rows.append(
            {
                "ts": ts,
                "cash": broker.cash,
                "position_value": broker.position_value(),
                "equity": step.equity,
                "drawdown": step.drawdown,
            }
        )
    out.equity = pd.DataFrame(rows)
    return out
