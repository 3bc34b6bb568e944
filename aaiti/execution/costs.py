"""The one fill model shared by the backtester and the paper broker.

A market order placed after bar t closes fills at bar t+1's open, moved against the trader
by the slippage; the fee is charged on the filled notional. Buying with ``cash`` gets
``cash / (price · (1 + fee))`` units; selling ``units`` returns ``units · price · (1 − fee)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from aaiti.errors import InputError


@dataclass(frozen=True)
class CostModel:
    fee_bps: float = 10.0
    slippage_bps: float = 5.0

    def __post_init__(self) -> None:
        if self.fee_bps < 0 or self.slippage_bps < 0:
            raise InputError("fees and slippage are costs: they cannot be negative")

    @property
    def fee(self) -> float:
        return self.fee_bps / 10_000

    @property
    def slippage(self) -> float:
        return self.slippage_bps / 10_000

    def buy_price(self, reference: Any, high: Any = None) -> Any:
        """Pay up by the slippage, but never above the bar's high (works on arrays too)."""
        price = reference * (1 + self.slippage)
        return price if high is None else np.minimum(price, high)

    def sell_price(self, reference: Any, low: Any = None) -> Any:
        """Give up the slippage, but never below the bar's low."""
        price = reference * (1 - self.slippage)
        return price if low is None else np.maximum(price, low)

    def units_for_cash(self, cash: float, price: float) -> float:
        return cash / (price * (1 + self.fee))

    def fee_on(self, notional: float) -> float:
        return abs(notional) * self.fee
