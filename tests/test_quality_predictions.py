"""The predictions checkpoint, with the real GX suite: every failure kind names its rows."""

from __future__ import annotations

import pandas as pd
import pytest

from aaiti.quality.predictions import PredictionsRejectedError, check_predictions
from aaiti.quality.verdicts import validator_for


def batch() -> pd.DataFrame:
    ts = pd.date_range("2025-01-01", periods=3, freq="4h", tz="UTC")
    rows = [
        {"exchange": "coinbase", "symbol": s, "timeframe": "4h", "ts": t, "model_name": "aaiti-4h",
         "model_version": 2, "run_id": "r", "probability": 0.55}
        for s in ("BTC/USD", "ETH/USD") for t in ts
    ]  # fmt: skip
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def validator(tmp_path_factory):
    from aaiti.config import load_settings

    settings = load_settings(data_dir=tmp_path_factory.mktemp("gx") / "data")
    return validator_for(settings, docs=False)


def test_a_clean_batch_of_two_streams_passes(validator):
    assert check_predictions(validator, batch(), blocked=set()).passed


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda f: f.assign(probability=[0.5, 1.3, 0.5, 0.5, 0.5, 0.5]),
            "probability in \\[0, 1\\]: 1 row",
        ),
        (
            lambda f: f.assign(probability=[0.5, None, 0.5, 0.5, 0.5, 0.5]),
            "probability is present: 1 row",
        ),
        (
            lambda f: pd.concat([f, f.iloc[[1]]], ignore_index=True),
            "one prediction per stream bar and model version: 2 row",
        ),
        (lambda f: f.assign(run_id=[None, "r", "r", "r", "r", "r"]), "run_id is present: 1 row"),
    ],
)
def test_each_failure_refuses_the_whole_batch_and_names_the_bar(validator, change, message):
    with pytest.raises(PredictionsRejectedError, match=message) as err:
        check_predictions(validator, change(batch()), blocked=set())
    assert "nothing written" in str(err.value) and "e.g. 2025-01-01" in str(err.value)


def test_a_prediction_for_a_blocked_stream_is_refused(validator):
    with pytest.raises(PredictionsRejectedError, match="blocks"):
        check_predictions(validator, batch(), blocked={("coinbase", "ETH/USD")})


@pytest.mark.parametrize("broken", ["great_expectations.yml", "expectations/predictions.json"])
def test_a_gx_project_file_left_empty_by_a_full_disk_is_set_aside_and_made_again(
    tmp_path, broken, caplog
):
    """GX rewrites its project files in place; a full disk at that moment left an empty
    ``great_expectations.yml`` and every later gate failed (found by the soak). A new
    validator sets the unreadable configuration aside, makes it again from the repository's
    suites, and judges as before — a refused batch is still refused."""
    from aaiti.config import load_settings

    settings = load_settings(data_dir=tmp_path / "data")
    assert check_predictions(validator_for(settings, docs=False), batch(), blocked=set()).passed
    project = settings.data_dir / "gx" / "gx"
    assert (project / broken).exists()
    (project / broken).write_text("")  # what a write cut by ENOSPC leaves
    again = validator_for(settings, docs=False)
    with caplog.at_level("ERROR"):
        assert check_predictions(again, batch(), blocked=set()).passed
    assert "set aside" in caplog.text
    (aside,) = project.glob("broken-*")
    assert (aside / broken).read_text() == ""
    assert (project / "great_expectations.yml").stat().st_size > 0
    bad = batch().assign(probability=[0.5, 1.3, 0.5, 0.5, 0.5, 0.5])
    with pytest.raises(PredictionsRejectedError, match="probability in"):
        check_predictions(again, bad, blocked=set())


def test_a_failure_with_every_config_file_readable_is_raised_and_nothing_is_set_aside(tmp_path):
    """Only a config file shown unreadable is set aside: a missing suite (or a bug) is
    raised as it is, and the project is left where it was."""
    from aaiti.config import load_settings
    from aaiti.quality.gx import SuiteNotFoundError

    settings = load_settings(data_dir=tmp_path / "data")
    validator = validator_for(settings, docs=False)
    assert check_predictions(validator, batch(), blocked=set()).passed
    with pytest.raises(SuiteNotFoundError):
        validator.validate("no_such_suite", batch(), parameters={}, batch_label="x")
    project = settings.data_dir / "gx" / "gx"
    assert not list(project.glob("broken-*"))
    assert check_predictions(validator, batch(), blocked=set()).passed


def test_data_docs_keep_the_newest_results_per_suite_so_a_rebuild_does_not_grow(tmp_path):
    """GX renders every stored result at each build (a 200-bar soak took the rebuild from
    ~1 s to 13 s); the store is pruned to the newest ``quality_docs_keep`` per suite, with
    the pages of the pruned ones, and the site's index lists just those."""
    from aaiti.config import load_settings

    settings = load_settings(data_dir=tmp_path / "data", quality_docs_keep=3)
    validator = validator_for(settings, docs=False)
    for _ in range(5):
        check_predictions(validator, batch(), blocked=set())
    newest = max(k.run_id.run_time for k in validator.context.validation_results_store.list_keys())
    index = validator.build_docs()
    pages = sorted(validator.site.glob("validations/predictions/**/*.html"))
    assert len(pages) == 3 and len(list(validator.results.glob("predictions/**/*.json"))) == 3
    assert newest.strftime("%Y%m%dT%H%M%S") in "".join(map(str, pages))
    assert index.read_text().count("validations/predictions/") == 3
    check_predictions(validator, batch(), blocked=set())
    validator.build_docs()
    assert len(list(validator.site.glob("validations/predictions/**/*.html"))) == 3
