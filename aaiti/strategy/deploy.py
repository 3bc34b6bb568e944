"""The training shell's strategy steps: figures for MLflow, the live comparison with what is
deployed, and the decision recorded in the warehouse (state and evaluations, one transaction)."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING

import pandas as pd

from aaiti.execution.spec import StrategySpec, spec_from_settings
from aaiti.strategy.evaluate import StrategyEvaluation, VerdictRules, fold_edge_models
from aaiti.strategy.ledger import record as record_trials
from aaiti.strategy.promotion import LiveComparison, PromotionDecision, decide_promotion
from aaiti.strategy.service import (
    Judged,
    compare_live,
    data_set_of,
    deployed_spec,
    judge_walk_forward,
    now,
    prior_for,
    run_recipes,
    run_trials,
)
from aaiti.strategy.store import (
    DeployedStrategy,
    load_state,
    new_evaluation_id,
    save_evaluation,
    save_state,
)
from aaiti.warehouse import Warehouse

if TYPE_CHECKING:
    from aaiti.config import Settings
    from aaiti.ml.dataset import Dataset
    from aaiti.ml.model import TrainConfig, WalkForwardResult
    from aaiti.ml.tracking import Tracker, VersionInfo

log = logging.getLogger(__name__)


def strategy_metrics(ev: StrategyEvaluation) -> dict[str, float]:
    """Net-of-cost figures for the MLflow run (undefined ones are left out, not zeroed)."""
    out: dict[str, float] = {"strategy_qualified": float(ev.qualification.qualified)}
    for curve in ("strategy", "buy_and_hold"):
        for k, v in ev.portfolio[curve].as_dict().items():
            if v is not None:
                out[f"{curve}_net_{k}" if curve == "strategy" else f"buy_and_hold_{k}"] = float(v)
    if ev.dsr is not None:
        out["strategy_deflated_sharpe_probability"] = ev.dsr.probability
    if ev.pbo is not None:
        out["strategy_pbo"] = ev.pbo
    out["strategy_trials"] = float(ev.trials)
    if ev.versus is not None:
        out["strategy_benchmark_p_value"] = ev.versus.sharpe_test.p_value
        out["strategy_spa_p_value"] = ev.versus.spa_p_value
    return out


def deployed_state(settings: Settings, *, timeframe: str) -> DeployedStrategy | None:
    import duckdb

    con = Warehouse.from_settings(settings).read()
    try:
        return load_state(con, name=settings.trading_strategy, timeframe=timeframe)
    except duckdb.CatalogException:  # a snapshot from before the strategy tables
        return None
    finally:
        con.close()


def live_comparison(
    settings: Settings,
    tracker: Tracker,
    champion: VersionInfo,
    spec: StrategySpec,
    judged: Judged,
    wf: WalkForwardResult,
    ds: Dataset,
    name: str,
) -> LiveComparison | None:
    """The challenger against the deployed model as deployed, after its training end."""
    state = deployed_state(settings, timeframe=spec.timeframe)
    if state is None or state.spec.model_version != champion.version:
        return None
    after = pd.Timestamp(champion.params["data_end"])
    rows = ds.meta.index[ds.meta["ts"] > after]
    if len(rows) < settings.strategy_min_live_bars:
        return LiveComparison(int(ds.meta.loc[rows, "ts"].nunique()), None, None)
    features = tracker.model_inputs(champion).features
    if not set(features) <= set(ds.X.columns):
        log.warning(
            "live comparison skipped: v%s's inputs are not in today's data", champion.version
        )
        return None
    booster = tracker.load(name, str(champion.version))
    proba = booster.inplace_predict(ds.X.loc[rows, features])
    y = ds.y.to_numpy(float)
    edges = fold_edge_models(proba_val=wf.validation, meta=ds.meta, y=y, cost=spec.cost)
    return compare_live(
        challenger=judged.evaluation.spec,
        challenger_wf=wf,
        challenger_edges=edges,
        deployed=state.spec,
        deployed_proba=proba,
        ds=ds,
        after=after,
    )


def kept_spec(
    settings: Settings,
    spec: StrategySpec,
    name: str,
    champion: VersionInfo,
    champ_judged: Judged | None,
) -> StrategySpec:
    """What keeps trading when the champion stays: its deployed strategy, as deployed."""
    state = deployed_state(settings, timeframe=spec.timeframe)
    if state is not None and state.spec.model_version == champion.version:
        return state.spec
    if champ_judged is None:
        return deployed_spec(spec, model_name=name, version=champion.version, edge=spec.edge_model)
    return deployed_spec(
        champ_judged.evaluation.spec,
        model_name=name,
        version=champion.version,
        edge=champ_judged.deployed_edge,
    )


def record_decision(
    settings: Settings,
    *,
    deployed: StrategySpec,
    decision: PromotionDecision,
    evaluations: list[tuple[str, Judged, int]],
) -> str:
    """The evaluations and the deployed strategy's state, in one writer transaction."""
    evaluation_id, at = new_evaluation_id(), now()
    with Warehouse.from_settings(settings).writer(purpose="strategy decision") as con:
        for role, judged, version in evaluations:
            ev = judged.evaluation
            ev = StrategyEvaluation(
                **{
                    **ev.__dict__,
                    "spec": ev.spec.with_model(name=ev.spec.model_name or "", version=version),
                }
            )
            save_evaluation(con, ev, evaluation_id=evaluation_id, role=role, at=at)
            if judged.data is not None:  # the challenger's recipes: this run's trials
                record_trials(con, judged.data, list(judged.trials), source="train", at=at)
        reason = f"{decision.kind}: {decision.reason}; {decision.qualification}"
        save_state(con, DeployedStrategy(deployed, decision.qualified, reason, at))
    return evaluation_id


def judge_strategies(
    settings: Settings,
    cfg: TrainConfig,
    *,
    name: str,
    ds: Dataset,
    wf: WalkForwardResult,
    champ_wf: WalkForwardResult | None,
    champion: VersionInfo | None,
    trials: int,
) -> tuple[StrategySpec, Judged, Judged | None]:
    """The configured strategy, judged on the challenger's and the champion's folds."""
    spec = spec_from_settings(settings.strategy, timeframe=cfg.timeframe)
    horizon = cfg.horizon if settings.strategy_search else None
    data = data_set_of(ds.meta, cfg.timeframe, sliding=settings.model.train_bars is not None)
    recipes = run_recipes(cfg, spec, train_bars=settings.model.train_bars, search_horizon=horizon)
    prior = prior_for(settings, data, recipes)

    def judge(w: WalkForwardResult, version: int | None) -> Judged:
        return judge_walk_forward(
            replace(spec, model_name=name, model_version=version), ds=ds, wf=w, trials=trials,
            rules=VerdictRules.from_section(settings.strategy), search_horizon=horizon,
            prior=prior,
        )  # fmt: skip

    champ = None if champ_wf is None or champion is None else judge(champ_wf, champion.version)
    challenger = judge(wf, None)
    ledger = run_trials(challenger.evaluation, recipes, weight=trials)
    return spec, replace(challenger, data=data, trials=tuple(ledger)), champ


def decide_and_deploy(
    settings: Settings,
    tracker: Tracker,
    *,
    name: str,
    version: int,
    run_id: str,
    champion: VersionInfo | None,
    spec: StrategySpec,
    judged: Judged,
    champ_judged: Judged | None,
    wf: WalkForwardResult,
    ds: Dataset,
    same_config: bool,
) -> PromotionDecision:
    """Promotion, refresh or standing aside; the registry, the warehouse and MLflow told."""
    decision = decide_promotion(
        challenger=judged.evaluation,
        champion=None if champ_judged is None else champ_judged.evaluation,
        champion_version=champion.version if champion else None,
        same_config=same_config,
        margin=settings.strategy_promotion_margin,
        min_live_bars=settings.strategy_min_live_bars,
        live=None
        if champion is None
        else live_comparison(settings, tracker, champion, spec, judged, wf, ds, name),
    )
    if decision.promoted:
        tracker.promote(name, version, reason=decision.reason)
    tracker.client.set_model_version_tag(name, str(version), "decision", decision.reason)
    tracker.client.set_model_version_tag(
        name, str(version), "strategy_qualified", str(judged.evaluation.qualification.qualified)
    )
    if decision.promoted:
        deployed = deployed_spec(
            judged.evaluation.spec, model_name=name, version=version, edge=judged.deployed_edge
        )
    else:
        assert champion is not None, "decide_promotion promotes a first model, always"
        deployed = kept_spec(settings, spec, name, champion, champ_judged)
    record_decision(
        settings,
        deployed=deployed,
        decision=decision,
        evaluations=[("challenger", judged, version)]
        + (
            []
            if champ_judged is None or champion is None
            else [("champion", champ_judged, champion.version)]
        ),
    )
    tracker.log_json(run_id, "strategy_deployed.json", deployed.as_dict())
    log.info("%s v%d: %s", name, version, decision.reason)
    return decision
