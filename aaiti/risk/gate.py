"""The pre-trade risk gate: one implementation for the backtest and the paper/live broker.

Checks, in order, each naming the rule that refused: emergency halt, drawdown kill switch,
order-failure circuit breaker, unknown equity or risk (fail closed), max order notional,
max position per symbol, max gross exposure, max daily loss. While halted, an order that
reduces exposure (closing or shrinking a position) is still allowed, so a halt can flatten;
anything that adds risk is refused.

The drawdown kill switch warns at ``drawdown_warn`` and halts at ``drawdown_halt`` from the
equity peak; it is re-enabled only by an explicit :meth:`RiskGate.resume` once the drawdown
is back under the warning level.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date

from aaiti.books import plain_amount
from aaiti.config import RiskSettings
from aaiti.errors import RefusedError
from aaiti.market.candles import split_instrument

#: What ``RiskGate.room`` leaves unused, so that the order's own sum of the limits stays within
#: them after rounding.
ROOM_MARGIN = 1e-9


def position_limit(limits: RiskSettings, symbol: str) -> float:
    """``symbol`` an instrument (``exchange:symbol``) or a bare symbol: a limit set for the
    instrument wins, then one for the symbol on any exchange, then the default."""
    bare = split_instrument(symbol)[1]
    own = limits.position_limits
    return own.get(symbol, own.get(bare, plain_amount(limits.max_position_notional)))


@dataclass
class RiskState:
    manual_halt: bool = False
    kill_switch: bool = False
    breaker_open: bool = False
    reason: str | None = None
    peak_equity: float | None = None
    day: date | None = None
    day_start_equity: float | None = None
    consecutive_failures: int = 0
    warned: bool = False

    @property
    def halted(self) -> bool:
        return self.manual_halt or self.kill_switch or self.breaker_open


@dataclass(frozen=True)
class Decision:
    approved: bool
    rule: str  # which check decided
    reason: str


@dataclass(frozen=True)
class RiskEvent:
    kind: str  # drawdown_warn | kill_switch | breaker_open | halt | resume
    message: str


@dataclass
class RiskGate:
    limits: RiskSettings = field(default_factory=lambda: RiskSettings())
    state: RiskState = field(default_factory=RiskState)

    # ------------------------------------------------------------------ state updates
    def on_equity(self, equity: float, *, day: date) -> list[RiskEvent]:
        """Track the peak and the day's start; trip the kill switch on a deep drawdown."""
        s, events = self.state, []
        if not math.isfinite(equity) or equity <= 0:
            s.kill_switch, s.reason = True, f"equity is not a positive number ({equity})"
            return [RiskEvent("kill_switch", s.reason)]
        if s.day != day:
            s.day, s.day_start_equity = day, equity
        s.peak_equity = max(s.peak_equity or equity, equity)
        dd = 1 - equity / s.peak_equity
        if dd >= self.limits.drawdown_halt and not s.kill_switch:
            s.kill_switch = True
            s.reason = f"drawdown {dd:.1%} from the peak reached the halt level {self.limits.drawdown_halt:.0%}"
            events.append(RiskEvent("kill_switch", s.reason))
        elif dd >= self.limits.drawdown_warn and not s.warned:
            s.warned = True
            events.append(
                RiskEvent(
                    "drawdown_warn",
                    f"drawdown {dd:.1%} passed the warning level {self.limits.drawdown_warn:.0%}",
                )
            )
        elif dd < self.limits.drawdown_warn:
            s.warned = False
        return events

    def drawdown(self, equity: float) -> float:
        return 0.0 if not self.state.peak_equity else 1 - equity / self.state.peak_equity

    def on_order_result(self, *, ok: bool) -> list[RiskEvent]:
        s = self.state
        if ok:
            s.consecutive_failures = 0
            return []
        s.consecutive_failures += 1
        if s.consecutive_failures >= self.limits.max_consecutive_failures and not s.breaker_open:
            s.breaker_open = True
            s.reason = f"{s.consecutive_failures} consecutive order failures"
            return [RiskEvent("breaker_open", s.reason)]
        return []

    def halt(self, *, reason: str) -> RiskEvent:
        self.state.manual_halt, self.state.reason = True, reason
        return RiskEvent("halt", reason)

    def resume(self, *, equity: float) -> RiskEvent:
        """Lift every halt — refused while the drawdown is still at or above the warning level."""
        dd = self.drawdown(equity)
        if dd >= self.limits.drawdown_warn:
            raise RefusedError(
                f"cannot resume: drawdown {dd:.1%} has not recovered below {self.limits.drawdown_warn:.0%}"
            )
        s = self.state
        s.manual_halt = s.kill_switch = s.breaker_open = False
        s.consecutive_failures, s.reason = 0, None
        return RiskEvent("resume", f"trading resumed at drawdown {dd:.1%}")

    # ------------------------------------------------------------------ the check
    def room(self, *, symbol: str, side: int, positions: dict[str, float], equity: float) -> float:
        """The largest notional an order adding exposure on ``symbol`` can have and pass the
        order, position and gross limits, so an entry is sized into them rather than sent
        and refused at every bar. Halts and unknown equity or risk are still for ``check``
        to refuse (infinite room here)."""
        if not math.isfinite(equity) or equity <= 0:
            return math.inf
        limits = self.limits
        toward = side * positions.get(symbol, 0.0)  # the position, signed in the order's direction
        others = sum(abs(v) for k, v in positions.items() if k != symbol)
        room = min(
            plain_amount(limits.max_order_notional),
            position_limit(limits, symbol) - toward,
            limits.max_gross_exposure * equity - others - toward,
        )
        return max(0.0, room * (1 - ROOM_MARGIN))

    def check(
        self,
        *,
        symbol: str,
        side: int,  # +1 buy, -1 sell
        notional: float,
        positions: dict[str, float],  # signed position value per symbol, at current marks
        equity: float,
        risk_known: bool = True,  # False when the risk engine lacks history: fail closed
    ) -> Decision:
        limits, s = self.limits, self.state
        current = positions.get(symbol, 0.0)
        after = current + side * notional
        reduces = abs(after) < abs(current) - 1e-12 and math.copysign(
            1, after or current
        ) == math.copysign(1, current)
        if s.halted and not reduces:
            rule = (
                "manual_halt"
                if s.manual_halt
                else "kill_switch"
                if s.kill_switch
                else "order_breaker"
            )
            return Decision(False, rule, f"trading halted: {s.reason}")
        if reduces:
            return Decision(True, "reduces_exposure", "reduces an existing position")
        if not math.isfinite(equity) or equity <= 0:
            return Decision(False, "equity_unknown", f"equity is not a positive number ({equity})")
        if not risk_known:
            return Decision(False, "risk_unknown", "too little history to judge the portfolio risk")
        if notional > plain_amount(limits.max_order_notional):
            return Decision(
                False,
                "max_order_notional",
                f"order notional {notional:,.2f} exceeds {plain_amount(limits.max_order_notional):,.2f}",
            )
        if abs(after) > position_limit(limits, symbol):
            return Decision(
                False,
                "max_position",
                f"{symbol} position {abs(after):,.2f} would exceed {position_limit(limits, symbol):,.2f}",
            )
        gross = sum(abs(v) for k, v in positions.items() if k != symbol) + abs(after)
        if gross > limits.max_gross_exposure * equity:
            return Decision(
                False,
                "max_gross_exposure",
                f"gross exposure {gross / equity:.2f}× equity would exceed {limits.max_gross_exposure:.2f}×",
            )
        if s.day_start_equity and 1 - equity / s.day_start_equity >= limits.max_daily_loss:
            return Decision(
                False,
                "max_daily_loss",
                f"today's loss {1 - equity / s.day_start_equity:.1%} reached {limits.max_daily_loss:.0%}",
            )
        return Decision(True, "approved", "within every limit")
