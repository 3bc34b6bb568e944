"""The strategy as one versioned object: model, signal rule, holding, sizing, exits, costs.

A strategy's *score* for a bar comes from the model's raw probability:

* ``edge`` (default): the expected net edge of entering now and holding for the label's
  horizon, ``p̂·m₁ + (1 − p̂)·m₀ − c``: ``p̂`` the calibrated probability that the horizon's
  log return beats the round-trip cost ``c``, ``m₁``/``m₀`` the mean horizon log return of
  the training rows labelled 1/0, ``c`` the round-trip cost in log terms. Thresholds follow
  from that, not from a fit: enter long when the edge exceeds ``min_edge``; a held long is
  kept while the expected *gross* return is not negative (edge ≥ −c), since the entry cost
  is already paid; shorts mirror it.
* ``probability``: hysteresis thresholds on the raw probability.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from aaiti.errors import InputError

SIZING_CODES = {"fixed": 0, "vol_target": 1, "kelly": 2}


def round_trip_cost(*, fee_bps: float, slippage_bps: float) -> float:
    """Log cost of a round trip: fee and slippage paid on both fills."""
    f, s = fee_bps / 10_000, slippage_bps / 10_000
    return float(math.log((1 + f) * (1 + s)) - math.log((1 - f) * (1 - s)))


@dataclass(frozen=True)
class EdgeModel:
    """From a raw probability to an expected net edge (all fitted on past rows only)."""

    a: float = 0.0  # Platt scaling on the logit: p̂ = σ(a + b·logit(p))
    b: float = 1.0
    up_return: float = 0.0  # m₁: mean horizon log return of rows labelled 1
    down_return: float = 0.0  # m₀: of rows labelled 0
    cost: float = 0.0

    def calibrated(self, proba: np.ndarray) -> np.ndarray:
        p = np.clip(np.asarray(proba, dtype=float), 1e-6, 1 - 1e-6)
        z = self.a + self.b * np.log(p / (1 - p))
        return 1 / (1 + np.exp(-z))

    def edge(self, proba: np.ndarray) -> np.ndarray:
        p = self.calibrated(proba)
        return p * self.up_return + (1 - p) * self.down_return - self.cost

    @property
    def payoff_ratio(self) -> float:
        """Kelly's b: the mean win over the mean loss, net of cost (NaN when undefined)."""
        win, loss = self.up_return - self.cost, -(self.down_return - self.cost)
        return win / loss if loss > 0 and win > 0 else float("nan")


def fit_edge_model(
    proba: np.ndarray, label: np.ndarray, forward_return: np.ndarray, *, cost: float
) -> EdgeModel:
    """Platt calibration on (proba, label) and the conditional returns of the same rows.

    Raises when the rows cannot judge it (one class only): the caller fails closed.
    """
    from sklearn.linear_model import LogisticRegression

    y = np.asarray(label, dtype=float)
    r = np.asarray(forward_return, dtype=float)
    ok = np.isfinite(y) & np.isfinite(r) & np.isfinite(proba)
    y, r, p = y[ok], r[ok], np.clip(np.asarray(proba, dtype=float)[ok], 1e-6, 1 - 1e-6)
    if len(np.unique(y)) < 2:
        raise ValueError("calibration needs rows of both classes")
    z = np.log(p / (1 - p)).reshape(-1, 1)
    fit = LogisticRegression(C=1e6).fit(z, y.astype(int))
    return EdgeModel(
        a=float(fit.intercept_[0]),
        b=float(fit.coef_[0, 0]),
        up_return=float(r[y == 1].mean()),
        down_return=float(r[y == 0].mean()),
        cost=cost,
    )


@dataclass(frozen=True)
class StrategySpec:
    name: str = "champion-edge"
    timeframe: str = "4h"
    model_name: str | None = None
    model_version: int | None = None
    signal: str = "edge"  # edge | probability
    min_edge: float = 0.0  # edge rule: entry threshold (log return)
    enter_long: float = 0.52  # probability rule
    exit_long: float = 0.50
    allow_short: bool = False
    min_hold_bars: int = 1
    sizing: str = "fixed"  # fixed | vol_target | kelly
    fraction: float = 0.5  # of equity per position (and the cap of the other sizings)
    target_vol: float = 0.5
    kelly_fraction: float = 0.5
    stop_atr: float | None = None
    target_atr: float | None = None
    fee_bps: float = 10.0
    slippage_bps: float = 5.0
    participation_cap: float | None = None
    edge_model: EdgeModel = field(default_factory=EdgeModel)

    def __post_init__(self) -> None:
        if self.signal not in ("edge", "probability"):
            raise InputError(f"signal must be edge or probability, got {self.signal!r}")
        if self.sizing not in SIZING_CODES:
            raise InputError(f"sizing must be one of {sorted(SIZING_CODES)}, got {self.sizing!r}")
        if not 0 < self.fraction <= 1:
            raise InputError(f"fraction must be in (0, 1], got {self.fraction}")

    # ------------------------------------------------------------------ identity
    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def version(self) -> str:
        """Content hash of everything that decides a trade (the model version included)."""
        blob = json.dumps(self.as_dict(), sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:12]

    @classmethod
    def from_dict(cls, raw: dict) -> StrategySpec:
        raw = dict(raw)
        raw["edge_model"] = EdgeModel(**raw.get("edge_model", {}))
        return cls(**raw)

    def with_model(
        self, *, name: str, version: int | None, edge_model: EdgeModel | None = None
    ) -> StrategySpec:
        return replace(
            self, model_name=name, model_version=version, edge_model=edge_model or self.edge_model
        )

    # ------------------------------------------------------------------ the rule
    @property
    def cost(self) -> float:
        return round_trip_cost(fee_bps=self.fee_bps, slippage_bps=self.slippage_bps)

    def thresholds(self) -> tuple[float, float, float, float]:
        """(enter_long, exit_long, enter_short, exit_short) in score units."""
        if self.signal == "probability":
            return self.enter_long, self.exit_long, 1 - self.enter_long, 1 - self.exit_long
        c = self.cost
        return self.min_edge, -c, -2 * c - self.min_edge, -c

    def score(self, proba: np.ndarray) -> np.ndarray:
        p = np.asarray(proba, dtype=float)
        return p if self.signal == "probability" else self.edge_model.edge(p)

    def calibrated(self, proba: np.ndarray) -> np.ndarray:
        p = np.asarray(proba, dtype=float)
        return p if self.signal == "probability" else self.edge_model.calibrated(p)


def spec_from_settings(section, *, timeframe: str) -> StrategySpec:
    """The configured strategy (``settings.strategy``), before a model is attached."""
    return StrategySpec(
        name=section.name,
        timeframe=timeframe,
        signal=section.signal,
        min_edge=section.min_edge_bps / 10_000,
        enter_long=section.enter_long,
        exit_long=section.exit_long,
        allow_short=section.allow_short,
        min_hold_bars=section.min_hold_bars or section.horizon,
        sizing=section.sizing,
        fraction=section.fraction,
        target_vol=section.target_vol,
        kelly_fraction=section.kelly_fraction,
        stop_atr=section.stop_atr,
        target_atr=section.target_atr,
        fee_bps=section.fee_bps,
        slippage_bps=section.slippage_bps,
        participation_cap=section.participation_cap,
    )
