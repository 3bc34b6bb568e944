"""The published figures (aaiti.strategy.results): rendered from docs/results.json, found
stale when a number moves, refused where a file lost its markers. The demo-flow test checks
docs/results.json itself against a fresh run."""

from __future__ import annotations

import json

import pytest

from aaiti.strategy.results import RESULTS_JSON, ResultsError, replace_blocks, stale
from tests.conftest import REPO


def committed() -> dict:
    return json.loads((REPO / RESULTS_JSON).read_text())


def test_the_committed_blocks_are_rendered_from_the_committed_results():
    assert stale(REPO, committed()) == []


def test_a_moved_figure_makes_every_file_that_shows_it_stale():
    f = committed()
    f["portfolio"]["strategy"]["sharpe"] = round(f["portfolio"]["strategy"]["sharpe"] + 0.01, 4)
    assert stale(REPO, f) == ["README.md", "docs/strategy.md", RESULTS_JSON]
    g = committed()
    g["breakdown"]["by_year"]["2018"]["strategy"]["total_return"] = 0.5
    assert stale(REPO, g) == ["docs/strategy.md", RESULTS_JSON]


def test_a_file_without_its_markers_is_refused():
    with pytest.raises(ResultsError, match=r"README.md: no <!-- results:readme -->"):
        replace_blocks("no markers here", {"readme": "x"}, where="README.md")
