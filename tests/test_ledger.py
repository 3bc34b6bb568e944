"""The trial ledger (aaiti.strategy.ledger): N in the deflated Sharpe ratio counts every
recipe ever evaluated on a data set, across runs, and the committed research log.

Real walk-forwards on the bundled BTC/ETH 4h candles, a real DuckDB warehouse."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import pytest

from aaiti.execution.spec import StrategySpec
from aaiti.ml.dataset import build_dataset
from aaiti.ml.model import make_folds, walk_forward_evaluate
from aaiti.strategy.evaluate import VerdictRules
from aaiti.strategy.ledger import ResearchLogError, research_entries
from aaiti.strategy.service import (
    data_set_of,
    judge_walk_forward,
    prior_for,
    run_recipes,
    run_trials,
)
from aaiti.warehouse.sql import load_sql, run
from tests.test_ml_core import CFG, STREAMS, features_of

RULES = VerdictRules(reps=100)


@pytest.fixture(scope="module")
def runs(candles_2019):
    """The same recipe walked forward on 2019–2022 and on 200 more bars."""
    out = []
    for end in ("2022-09-01", "2022-10-04"):
        window = {s: c[c["ts"] < end].reset_index(drop=True) for s, c in candles_2019.items()}
        features = features_of(window)
        for col in ("open", "high", "low"):  # the strategy fills at the next open
            features[col] = np.concatenate([c[col].to_numpy() for c in window.values()])
        ds = build_dataset(features, timeframe="4h", horizon=1, dead_zone=0.0005, streams=STREAMS)
        out.append((ds, walk_forward_evaluate(ds, CFG, folds=make_folds(ds, CFG))))
    return out


@pytest.fixture(scope="module")
def candles_2019():
    from tests.conftest import sample_frame

    out = {}
    for symbol, pair in (("BTC/USD", "BTC-USD"), ("ETH/USD", "ETH-USD")):
        c = sample_frame("coinbase", pair, "4h")
        out[symbol] = c[c["ts"] >= "2019-01-01"].reset_index(drop=True)
    return out


def _judge(settings, ds, wf, spec, *, search: bool = False):
    """One evaluation the way training runs it: the prior read, the trials recorded."""
    from aaiti.strategy.ledger import record
    from aaiti.warehouse import Warehouse

    data = data_set_of(ds.meta, "4h")
    horizon = 1 if search else None
    recipes = run_recipes(CFG, spec, train_bars=None, search_horizon=horizon)
    judged = judge_walk_forward(
        spec, ds=ds, wf=wf, trials=1, rules=RULES, search_horizon=horizon,
        prior=prior_for(settings, data, recipes),
    )  # fmt: skip
    with Warehouse.from_settings(settings).writer() as con:
        record(con, data, run_trials(judged.evaluation, recipes, weight=1), source="train",
               at=datetime.now(UTC))  # fmt: skip
    return judged.evaluation


def _ledger(settings):
    from aaiti.warehouse import Warehouse

    with Warehouse.from_settings(settings).writer() as con:
        return con.sql("SELECT recipe_key, observations, sharpe FROM strategy.trials").fetchall()


def test_a_retrain_on_more_data_is_no_new_trial_a_changed_recipe_is(settings, runs):
    (ds, wf), (ds_more, wf_more) = runs
    spec = StrategySpec(timeframe="4h")
    first = _judge(settings, ds, wf, spec)
    assert (first.trials, first.trials_before, first.dsr.trials) == (1, 0, 1)
    assert data_set_of(ds.meta, "4h") == data_set_of(ds_more.meta, "4h")  # same history start

    again = _judge(settings, ds_more, wf_more, spec)  # 200 more bars: the same trial
    rows = _ledger(settings)
    assert again.trials == 1 and len(rows) == 1
    assert rows[0][1] == len(again.returns) > len(first.returns)  # the row follows the data

    changed = replace(spec, min_edge=0.001)  # another entry threshold: another trial
    third = _judge(settings, ds_more, wf_more, changed)
    assert (third.trials, third.trials_before) == (2, 1) and len(_ledger(settings)) == 2
    # the variance of trial Sharpes is the two recipes' own (Bailey & López de Prado's SR0)
    from scipy.stats import norm

    v = float(np.var([r[2] for r in _ledger(settings)], ddof=1))
    gamma = 0.5772156649015329
    expected = np.sqrt(v) * (
        (1 - gamma) * norm.ppf(1 - 1 / 2) + gamma * norm.ppf(1 - 1 / (2 * np.e))
    )
    assert v > 0 and third.dsr.expected_max_sharpe == pytest.approx(expected, rel=1e-9)

    # evaluating the first recipe once more adds nothing; it sees the changed one as before
    fourth = _judge(settings, ds_more, wf_more, spec)
    assert (fourth.trials, fourth.trials_before) == (2, 1) and len(_ledger(settings)) == 2


def test_every_candidate_of_a_search_is_a_trial_and_the_chosen_one_is_not_counted_twice(
    settings, runs
):
    ds, wf = runs[1]
    searched = _judge(settings, ds, wf, StrategySpec(timeframe="4h"), search=True)
    assert searched.trials == 18 and len(_ledger(settings)) == 18
    chosen = _judge(settings, ds, wf, searched.spec)  # `aaiti evaluate` of what the search chose
    assert chosen.trials == 18 and len(_ledger(settings)) == 18


def test_the_research_log_counts_for_its_own_data_set_only(settings, runs, tmp_path):
    ds, wf = runs[0]
    log = tmp_path / "log.yml"
    log.write_text(
        "trials:\n"
        "  - {recipe: a, timeframe: 4h, streams: [coinbase:ETH/USD, coinbase:BTC/USD],"
        " first_day: '2019-01-01', count: 3}\n"
        "  - {recipe: b, timeframe: 4h, streams: [coinbase:BTC/USD], first_day: '2019-01-01'}\n"
        "  - {recipe: c, timeframe: 1h, streams: [coinbase:BTC/USD, coinbase:ETH/USD],"
        " first_day: '2019-01-01'}\n"
    )
    ev = _judge(settings.model_copy(update={"research_log": log}), ds, wf, StrategySpec())
    assert (ev.trials, ev.trials_before) == (4, 3)  # a's three; b and c are other data sets


def test_the_committed_research_log_reads_and_names_the_demo_data_set():
    from aaiti.config import load_settings
    from aaiti.strategy.ledger import DataSet, research_count

    entries = research_entries(load_settings().research_log)
    demo = DataSet("4h", ("coinbase:BTC/USD", "coinbase:ETH/USD"), "2016-05-18")
    assert research_count(entries, demo) >= 5


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("trials: [1, 2", "not YAML"),
        ("- recipe: a", "a list under 'trials'"),
        ("trials: [{recipe: a, timeframe: 4h}]", "trial 1 needs recipe, timeframe, streams"),
        (
            "trials: [{recipe: a, timeframe: 4h, streams: [x], first_day: '2019-01-01', count: 0}]",
            "count must be a whole number",
        ),
    ],
)
def test_a_broken_research_log_is_refused_in_one_line(tmp_path, text, error):
    log = tmp_path / "log.yml"
    log.write_text(text)
    with pytest.raises(ResearchLogError, match=error):
        research_entries(log)


def test_the_ledger_upsert_keeps_one_row_per_recipe(warehouse):
    with warehouse.writer() as con:
        for obs in (10, 20):
            run(con, load_sql("aaiti.strategy", "trials_upsert"),
                ["d", "{}", "r", "{}", "train", 0.1, obs, 1, "2026-01-01"])  # fmt: skip
        assert con.sql("SELECT count(*), max(observations) FROM strategy.trials").fetchall() == [
            (1, 20)
        ]


def test_a_sliding_training_window_is_one_data_set_whatever_its_first_bar(runs):
    """AAITI_MODEL_TRAIN_BARS moves the first bar each run; the market history is the same,
    so its retrains share one data set (and one ledger row per recipe)."""
    (ds, _), (ds_more, _) = runs
    later = ds_more.meta[ds_more.meta["ts"] >= "2020-01-01"]
    assert data_set_of(ds.meta, "4h") != data_set_of(later, "4h")
    assert data_set_of(ds.meta, "4h", sliding=True) == data_set_of(later, "4h", sliding=True)
