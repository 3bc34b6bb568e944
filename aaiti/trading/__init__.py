"""Trading: one fill model for the vectorised backtester and the event-driven paper broker."""

from aaiti.trading.backtest import (
    BacktestMetrics,
    BacktestResult,
    backtest,
    equity_curve,
    held_positions,
)
from aaiti.trading.broker import (
    Bar,
    Fill,
    Order,
    OrderStatus,
    OrderType,
    PaperBroker,
    Position,
    Side,
    TimeInForce,
)
from aaiti.trading.costs import CostModel

__all__ = [
    "BacktestMetrics",
    "BacktestResult",
    "Bar",
    "CostModel",
    "Fill",
    "Order",
    "OrderStatus",
    "OrderType",
    "PaperBroker",
    "Position",
    "Side",
    "TimeInForce",
    "backtest",
    "equity_curve",
    "held_positions",
]
