"""Signals from model probabilities, with hysteresis so noise around 0.5 does not churn.

Go long when p ≥ ``enter_long``; stay long until p < ``exit_long`` (below the entry level).
With shorts allowed: go short when p ≤ ``enter_short``, stay short until p > ``exit_short``.
Each decision uses only the probability at its own bar and the previous position.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Hysteresis:
    enter_long: float = 0.55
    exit_long: float = 0.50
    enter_short: float = 0.45
    exit_short: float = 0.50
    allow_short: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.exit_long <= self.enter_long <= 1:
            raise ValueError("need 0 <= exit_long <= enter_long <= 1")
        if not 0 <= self.enter_short <= self.exit_short <= 1:
            raise ValueError("need 0 <= enter_short <= exit_short <= 1")
        if self.allow_short and self.enter_short >= self.enter_long:
            raise ValueError("enter_short must be below enter_long")

    def step(self, previous: int, p: float) -> int:
        """The next position (-1, 0, 1) given the previous one and this bar's probability."""
        if np.isnan(p):
            return 0  # no prediction, no position: flat
        if previous == 1:
            return 1 if p >= self.exit_long else self._from_flat(p)
        if previous == -1:
            return -1 if p <= self.exit_short else self._from_flat(p)
        return self._from_flat(p)

    def _from_flat(self, p: float) -> int:
        if p >= self.enter_long:
            return 1
        if self.allow_short and p <= self.enter_short:
            return -1
        return 0

    def run(self, probabilities, *, start: int = 0) -> np.ndarray:
        out = np.zeros(len(probabilities))
        pos = start
        for i, p in enumerate(np.asarray(probabilities, dtype=float)):
            pos = self.step(pos, p)
            out[i] = pos
        return out
