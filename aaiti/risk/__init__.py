"""Risk: metrics (VaR/CVaR, Sharpe, Sortino, drawdown, Kelly, concentration) that fail closed."""

from aaiti.risk.metrics import (
    Drawdown,
    InsufficientHistoryError,
    VaR,
    cornish_fisher_var,
    herfindahl,
    historical_var,
    kelly_fraction,
    max_drawdown,
    parametric_var,
    portfolio_volatility,
    sharpe_ratio,
    sortino_ratio,
)

__all__ = [
    "Drawdown",
    "InsufficientHistoryError",
    "VaR",
    "cornish_fisher_var",
    "herfindahl",
    "historical_var",
    "kelly_fraction",
    "max_drawdown",
    "parametric_var",
    "portfolio_volatility",
    "sharpe_ratio",
    "sortino_ratio",
]
