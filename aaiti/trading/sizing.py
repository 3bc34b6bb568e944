"""Position sizing as a fraction of equity, and ATR-based stop and target levels."""

from __future__ import annotations

from dataclasses import dataclass

from aaiti.risk.metrics import kelly_fraction

KELLY_CAP = 0.25


def fixed_fraction(*, fraction: float) -> float:
    if not 0 <= fraction <= 1:
        raise ValueError(f"fraction must be in [0, 1], got {fraction}")
    return fraction


def volatility_target(
    *,
    target_annual_vol: float,
    realized_vol_per_bar: float,
    bars_per_year: float,
    max_fraction: float = 1.0,
) -> float:
    """Fraction so the position's annualised volatility is the target (no leverage by default).

    Fails closed: an unknown or zero volatility cannot be sized.
    """
    if (
        not realized_vol_per_bar
        or realized_vol_per_bar <= 0
        or realized_vol_per_bar != realized_vol_per_bar
    ):
        raise ValueError(
            "volatility is unknown or zero: cannot size a volatility-targeted position"
        )
    annual = realized_vol_per_bar * bars_per_year**0.5
    return min(target_annual_vol / annual, max_fraction)


def kelly_size(
    *, probability: float, payoff_ratio: float, fraction: float = 0.5, cap: float = KELLY_CAP
) -> float:
    """Fractional Kelly from the model's probability and the payoff ratio, capped at 0.25."""
    return kelly_fraction(
        p_win=probability, payoff_ratio=payoff_ratio, fraction=fraction, cap=min(cap, KELLY_CAP)
    )


@dataclass(frozen=True)
class Levels:
    stop: float
    target: float


def atr_levels(
    *, entry: float, atr: float, side: int, stop_atr: float = 2.0, target_atr: float = 3.0
) -> Levels:
    """Stop ``stop_atr`` ATRs against the position, target ``target_atr`` ATRs in its favour."""
    if atr <= 0 or atr != atr:
        raise ValueError("ATR is unknown or not positive: no stop can be placed")
    if side not in (1, -1):
        raise ValueError("side must be 1 (long) or -1 (short)")
    return Levels(entry - side * stop_atr * atr, entry + side * target_atr * atr)
