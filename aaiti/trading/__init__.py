"""Trading: the cycle that keeps each account's book, and the vectorised backtester."""

from aaiti.trading.backtest import (
    BacktestMetrics,
    BacktestResult,
    backtest,
    equity_curve,
    held_positions,
)

__all__ = [
    "BacktestMetrics",
    "BacktestResult",
    "backtest",
    "equity_curve",
    "held_positions",
]
