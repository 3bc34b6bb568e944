import numpy as np
import pytest

from aaiti.trading.signals import Hysteresis
from aaiti.trading.sizing import atr_levels, fixed_fraction, kelly_size, volatility_target


def test_hysteresis_enters_high_exits_lower_and_ignores_noise():
    h = Hysteresis(enter_long=0.55, exit_long=0.50)
    p = [0.52, 0.56, 0.53, 0.51, 0.49, 0.54, 0.60, np.nan, 0.7]
    assert h.run(p).tolist() == [0, 1, 1, 1, 0, 0, 1, 0, 1]


def test_hysteresis_with_shorts():
    h = Hysteresis(enter_long=0.6, exit_long=0.5, enter_short=0.4, exit_short=0.5, allow_short=True)
    assert h.run([0.39, 0.45, 0.51, 0.61, 0.55, 0.3]).tolist() == [-1, -1, 0, 1, 1, -1]
    with pytest.raises(ValueError):
        Hysteresis(enter_long=0.5, exit_long=0.6)


def test_sizing():
    assert fixed_fraction(fraction=0.3) == 0.3
    # 2 % daily vol → 38.2 % annual: a 20 % target takes 52.4 % of equity
    assert volatility_target(
        target_annual_vol=0.2, realized_vol_per_bar=0.02, bars_per_year=365
    ) == pytest.approx(0.2 / (0.02 * 365**0.5))
    assert (
        volatility_target(target_annual_vol=0.5, realized_vol_per_bar=0.001, bars_per_year=365)
        == 1.0
    )
    with pytest.raises(ValueError, match="unknown or zero"):
        volatility_target(
            target_annual_vol=0.2, realized_vol_per_bar=float("nan"), bars_per_year=365
        )
    assert kelly_size(probability=0.6, payoff_ratio=1.0) == pytest.approx(0.1)  # half Kelly of 0.2
    assert kelly_size(probability=0.9, payoff_ratio=2.0, fraction=1.0) == 0.25  # capped
    assert kelly_size(probability=0.45, payoff_ratio=1.0) == 0.0


def test_atr_levels():
    long = atr_levels(entry=100, atr=2, side=1)
    assert (long.stop, long.target) == (96, 106)
    short = atr_levels(entry=100, atr=2, side=-1, stop_atr=1, target_atr=2)
    assert (short.stop, short.target) == (102, 96)
