"""Promotion, refresh and standing aside, decided on net-of-cost walk-forward results.

* A challenger is promoted when it qualifies and its walk-forward net Sharpe beats the
  champion's, evaluated on the same folds, by ``margin``.
* With at least ``min_live_bars`` bars after the deployed model's training end, the
  challenger must also not do worse there than the deployed model as deployed; with fewer,
  that comparison is skipped and the decision says so.
* A challenger of the deployed configuration (the same parameters) that qualifies replaces
  it — a refresh — so retraining changes what trades.
* The first model becomes champion so the pipeline can predict; it trades only if it
  qualifies. A deployed strategy that does not qualify on today's folds stands aside.
"""

from __future__ import annotations

from dataclasses import dataclass

from aaiti.strategy.evaluate import StrategyEvaluation


@dataclass(frozen=True)
class LiveComparison:
    bars: int
    challenger_sharpe: float | None
    deployed_sharpe: float | None

    def holds(self) -> bool:
        if self.challenger_sharpe is None or self.deployed_sharpe is None:
            return self.deployed_sharpe is None
        return self.challenger_sharpe >= self.deployed_sharpe


@dataclass(frozen=True)
class PromotionDecision:
    promoted: bool
    kind: str  # first | promotion | refresh | kept
    reason: str
    qualified: bool  # of what trades after the decision
    qualification: str


def _sharpe(ev: StrategyEvaluation | None) -> float | None:
    return None if ev is None else ev.portfolio["strategy"].sharpe


def decide_promotion(
    *,
    challenger: StrategyEvaluation,
    champion: StrategyEvaluation | None,
    champion_version: int | None,
    same_config: bool,
    margin: float,
    min_live_bars: int,
    live: LiveComparison | None,
) -> PromotionDecision:
    cq = challenger.qualification
    if champion is None or champion_version is None:
        return PromotionDecision(
            True, "first", "first model: no champion to beat", cq.qualified, cq.reason
        )
    if live is None or live.bars < min_live_bars:
        live_note = (
            f"live comparison skipped: {0 if live is None else live.bars} bar(s) after the "
            f"deployed model's training end, {min_live_bars} needed"
        )
        live_ok = True
    else:
        live_ok = live.holds()
        live_note = (
            f"on the {live.bars} bars after v{champion_version}'s training end: challenger "
            f"net Sharpe {_fmt(live.challenger_sharpe)} vs deployed {_fmt(live.deployed_sharpe)}"
        )
    ch, cs = _sharpe(challenger), _sharpe(champion)
    beats = ch is not None and (cs is None or ch >= cs + margin)
    if cq.qualified and live_ok and beats:
        reason = (
            f"net Sharpe {_fmt(ch)} beats champion v{champion_version}'s {_fmt(cs)} on the same "
            f"folds by ≥ {margin}; {live_note}"
        )
        return PromotionDecision(True, "promotion", reason, True, cq.reason)
    if cq.qualified and live_ok and same_config:
        reason = f"refresh: the deployed configuration refit on new data qualifies; {live_note}"
        return PromotionDecision(True, "refresh", reason, True, cq.reason)
    kq = champion.qualification
    why = (
        "does not qualify"
        if not cq.qualified
        else ("loses on live bars" if not live_ok else "does not beat it by the margin")
    )
    reason = (
        f"kept champion v{champion_version}: challenger {why} "
        f"(net Sharpe {_fmt(ch)} vs {_fmt(cs)}, margin {margin}); {live_note}"
    )
    return PromotionDecision(False, "kept", reason, kq.qualified, kq.reason)


def _fmt(x: float | None) -> str:
    return "undefined" if x is None else f"{x:.2f}"
