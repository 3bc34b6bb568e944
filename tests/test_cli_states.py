"""Every command, in an empty warehouse and after ingestion only: it succeeds, or it says
in one line what is missing and exits non-zero — never a traceback."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from aaiti.cli import app

runner = CliRunner()

COMMANDS = [
    ["status"],
    ["validate", "--checkpoint", "features"],
    ["train"],
    ["predict"],
    ["model", "list"],
    ["model", "promote", "1", "--reason", "try"],
    ["model", "rollback", "--reason", "try"],
    ["evaluate"],
    ["trade"],
    ["risk"],
    ["backtest"],
    ["release", "BTC/USD", "--reason", "try"],
    ["position", "close", "BTC/USD", "--reason", "try"],
    ["position", "release", "BTC/USD", "--reason", "try"],
]


@pytest.fixture(scope="module", params=["empty", "ingested"])
def state(request, tmp_path_factory):
    from tests.conftest import SAMPLE_DIR

    data = tmp_path_factory.mktemp(request.param) / "data"
    env = {"AAITI_DATA_DIR": str(data), "AAITI_SAMPLE_DIR": str(SAMPLE_DIR)}
    if request.param == "ingested":
        result = runner.invoke(app, ["ingest"], env=env)
        assert result.exit_code == 0, result.output
    return env


@pytest.mark.parametrize("args", COMMANDS, ids=[" ".join(c[:2]) for c in COMMANDS])
def test_a_command_succeeds_or_says_in_one_line_what_is_missing(state, args):
    result = runner.invoke(app, args, env=state)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    if result.exit_code != 0:
        errors = [x for x in result.output.splitlines() if x.startswith("error:")]
        assert len(errors) == 1, result.output
        assert len(errors[0]) < 300, errors[0]


def test_a_dask_scheduler_that_is_down_is_one_line_and_its_own_exit_code(tmp_path, monkeypatch):
    """The gates and the features model spread over AAITI_DASK_ADDRESS; a scheduler that
    cannot be reached stops the command with the address named, before anything is written:
    never a traceback (dbt printed the model's), never one machine instead."""
    import duckdb

    from aaiti import cluster
    from aaiti.cli.errors import EXIT_UNREACHABLE
    from tests.conftest import SAMPLE_DIR

    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT_S", 1)
    env = {"AAITI_DATA_DIR": str(tmp_path / "data"), "AAITI_SAMPLE_DIR": str(SAMPLE_DIR)}
    assert runner.invoke(app, ["ingest"], env=env).exit_code == 0
    down = env | {"AAITI_DASK_ADDRESS": "tcp://127.0.0.1:9"}
    for command in ("validate", "transform"):
        result = runner.invoke(app, [command], env=down)
        assert result.exit_code == EXIT_UNREACHABLE, result.output
        (line,) = [x for x in result.output.splitlines() if x.startswith("error:")]
        assert line.startswith("error: no Dask scheduler at tcp://127.0.0.1:9 "), line
        assert "Traceback" not in result.output
    with duckdb.connect(str(tmp_path / "data" / "warehouse.duckdb"), read_only=True) as con:
        schemas = {
            s for (s,) in con.sql("SELECT schema_name FROM information_schema.schemata").fetchall()
        }
        assert not {"staging", "intermediate", "marts"} & schemas  # dbt did not start


def test_an_account_of_two_quote_currencies_without_amounts_per_currency_refuses_in_one_line(
    tmp_path,
):
    """USD and USDT are two books, each with its own cash: one number for the cash is not
    taken in both currencies; the cycle fails closed before it reads or writes an account."""
    env = {"AAITI_DATA_DIR": str(tmp_path / "data"), "AAITI_SYMBOLS": "BTC/USD,BTC/USDT"}
    result = runner.invoke(app, ["trade"], env=env)
    assert result.exit_code == 2, result.output
    (line,) = [x for x in result.output.splitlines() if x.startswith("error:")]
    assert "quoted in USD, USDT" in line and "AAITI_TRADING_INITIAL_CASH" in line, line
    assert "Traceback" not in result.output
    assert not (tmp_path / "data" / "warehouse.duckdb").exists()


def test_aaiti_universe_shows_the_books_the_symbols_resolve_to_or_why_none(tmp_path):
    import json

    env = {"AAITI_DATA_DIR": str(tmp_path / "data"), "AAITI_SYMBOLS": "BTC/USD,ETH/USDT,BTC/USDT"}
    refused = runner.invoke(app, ["universe", "--json"], env=env)
    assert refused.exit_code == 0, refused.output
    shown = json.loads(refused.output)
    assert shown["books"] == [] and "AAITI_TRADING_INITIAL_CASH must give" in shown["books_refused"]
    amounts = '{"USD": 1000, "USDT": 500}'
    env |= {"AAITI_TRADING_INITIAL_CASH": amounts, "AAITI_RISK_MAX_ORDER_NOTIONAL": amounts,
            "AAITI_RISK_MAX_POSITION_NOTIONAL": amounts}  # fmt: skip
    listed = runner.invoke(app, ["universe"], env=env)
    assert listed.exit_code == 0, listed.output
    assert "book paper.USD (USD): BTC/USD · initial cash 1,000.00 USD" in listed.output
    assert "book paper.USDT (USDT): ETH/USDT, BTC/USDT · initial cash 500.00 USDT" in listed.output


@pytest.mark.parametrize("symbols", ["", "BTCUSD"])
@pytest.mark.parametrize("command", ["trade", "risk", "resume"])
def test_trading_commands_without_a_tradeable_symbol_say_so_in_one_line(tmp_path, command, symbols):
    env = {"AAITI_DATA_DIR": str(tmp_path / "data"), "AAITI_SYMBOLS": symbols}
    result = runner.invoke(app, [command], env=env)
    assert result.exit_code == 2, result.output
    (line,) = [x for x in result.output.splitlines() if x.startswith("error:")]
    assert ("AAITI_SYMBOLS is empty" if not symbols else "'BTCUSD' names no quote") in line
    assert "Traceback" not in result.output


def test_an_emergency_halt_is_never_refused_and_reaches_every_book_the_warehouse_holds(tmp_path):
    """Resume needs settings that resolve; a halt does not: with AAITI_SYMBOLS emptied by
    mistake it still halts the books the warehouse knows."""
    import duckdb

    amounts = '{"USD": 1000, "USDT": 500}'
    env = {"AAITI_DATA_DIR": str(tmp_path / "data"), "AAITI_SYMBOLS": "BTC/USD,BTC/USDT",
           "AAITI_TRADING_INITIAL_CASH": amounts, "AAITI_RISK_MAX_ORDER_NOTIONAL": amounts,
           "AAITI_RISK_MAX_POSITION_NOTIONAL": amounts}  # fmt: skip
    halted = runner.invoke(app, ["halt", "--reason", "drill"], env=env)
    assert halted.exit_code == 0 and "paper.USD: " in halted.output, halted.output
    assert runner.invoke(app, ["resume"], env=env).exit_code == 0

    def halted_books() -> dict[str, bool]:
        with duckdb.connect(str(tmp_path / "data" / "warehouse.duckdb"), read_only=True) as con:
            rows = con.sql("SELECT account, state FROM risk.state").fetchall()
        return {a: json.loads(s)["manual_halt"] for a, s in rows}

    assert halted_books() == {"paper.USD": False, "paper.USDT": False}
    emptied = runner.invoke(app, ["halt", "--reason", "drill"], env=env | {"AAITI_SYMBOLS": ""})
    assert emptied.exit_code == 0, emptied.output
    assert halted_books() == {"paper.USD": True, "paper.USDT": True}
