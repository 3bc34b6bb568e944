"""Dashboards on a small warehouse built by the real pipeline: every page through AppTest,
the empty state, the read-only SQL page, halt from the Risk page through the audited command
path, and every page loaded in a real headless Chromium."""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from aaiti.config import load_settings
from aaiti.monitoring.monitor import monitor_champion
from aaiti.risk.job import compute_risk
from aaiti.warehouse import Warehouse
from dashboards.health import PARTS
from tests.conftest import SAMPLE_DIR
from tests.test_trading_flow import paper_traded

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[1]
PAGES = REPO / "dashboards" / "views"
PAGE_FILES = ["overview", "market", "quality", "models", "drift", "trading", "risk", "sql"]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def use(monkeypatch, data_dir: Path) -> None:
    """Point the app's settings at a data folder (the app reads them once, so forget them)."""
    monkeypatch.setenv("AAITI_DATA_DIR", str(data_dir))
    monkeypatch.setenv("AAITI_SAMPLE_DIR", str(SAMPLE_DIR))
    monkeypatch.setenv("AAITI_PREFECT_PORT", "9")  # nothing answers there: the clear note
    st.cache_resource.clear()
    st.cache_data.clear()


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    settings = paper_traded(tmp_path_factory.mktemp("dash") / "data", bars=4)
    compute_risk(settings)
    monitor_champion(settings)
    Warehouse.from_settings(settings).publish_snapshot()
    return settings


def q(settings, sql):
    con = duckdb.connect(str(settings.serving_path), read_only=True)
    try:
        return con.sql(sql).fetchall()
    finally:
        con.close()


def page(name: str) -> AppTest:
    return AppTest.from_file(str(PAGES / f"{name}.py"), default_timeout=120).run()


def test_every_page_shows_real_pipeline_output(built, monkeypatch):
    use(monkeypatch, built.data_dir)
    pages = {name: page(name) for name in PAGE_FILES}
    for name, at in pages.items():
        assert not at.exception, (name, [e.value for e in at.exception])
        assert not [i.value for i in at.info if "has not run yet" in i.value], name

    overview = pages["overview"]
    fresh = overview.dataframe[0].value
    assert set(fresh["symbol"]) == {"BTC/USD", "ETH/USD"}
    assert any("Prefect API does not answer" in w.value for w in overview.warning)
    lines = {m.value.split("**")[1]: m.value for m in overview.markdown if "● " in m.value}
    assert list(lines) == list(PARTS)  # one status line per part, in order
    assert "● RED" in lines["stack"] and "Prefect API does not answer" in lines["stack"]
    for part in ("gates", "strategy", "trading"):  # the planted strategy qualifies and trades
        assert "● GREEN" in lines[part], lines[part]

    assert pages["market"].get("plotly_chart")

    models = pages["models"]
    auc = {m.label: m.value for m in models.metric}["OOS AUC"]
    from aaiti.ml.tracking import tracker_for

    champion = tracker_for(built).by_alias("aaiti-4h", "champion")
    assert auc == f"{champion.metrics['oos_auc']:.4f}"

    drift = pages["drift"]
    share = q(built, "SELECT drifted_share FROM monitoring.drift_runs")[0][0]
    assert {m.label: m.value for m in drift.metric}["Drifted share"] == f"{share:.0%}"

    trading = pages["trading"]
    equity = q(built, "SELECT equity FROM trading.equity ORDER BY ts DESC LIMIT 1")[0][0]
    assert {m.label: m.value for m in trading.metric}["Equity"] == f"{equity:,.2f}"
    sharpe, bh, qualified = q(
        built, "SELECT net_sharpe, bh_sharpe, qualified FROM strategy.evaluations"
    )[0]
    shown = {m.label: m for m in trading.metric}
    assert shown["Net Sharpe"].value == f"{sharpe:.2f}"
    assert shown["Net Sharpe"].delta == f"buy-and-hold {bh:.2f}"
    assert qualified and any(x.value.startswith("QUALIFIED") for x in trading.success)
    assert len(trading.get("plotly_chart")) == 2  # net equity beside buy-and-hold, and the account

    risk = pages["risk"].dataframe[0].value
    assert "var_95_historical" in set(risk["metric"])


def test_the_trading_page_totals_the_books_in_the_report_currency_or_says_why_not(
    built, monkeypatch
):
    use(monkeypatch, built.data_dir)
    equity = q(built, "SELECT equity FROM trading.equity ORDER BY ts DESC LIMIT 1")[0][0]
    for currency, says in (
        ("USD", f"**paper** — total {equity:,.2f} USD = paper {equity:,.2f} USD × 1 (same"),
        ("EUR", "**paper** — total in EUR: not given — no USD/EUR rate at or before paper's"),
    ):
        monkeypatch.setenv("AAITI_TRADING_REPORT_CURRENCY", currency)
        st.cache_resource.clear()
        st.cache_data.clear()
        at = page("trading")
        assert not at.exception, [e.value for e in at.exception]
        assert any(m.value.startswith(says) for m in at.markdown), [m.value for m in at.markdown]


def test_pages_have_a_clear_empty_state(tmp_path, monkeypatch):
    use(monkeypatch, tmp_path / "nothing-yet")
    for name in PAGE_FILES:
        at = page(name)
        assert not at.exception, name
        assert any("has not run yet" in i.value for i in at.info), name


def test_sql_page_runs_queries_and_cannot_write(built, monkeypatch):
    use(monkeypatch, built.data_dir)
    at = page("sql")
    at.button[0].click().run()
    assert not at.exception and len(at.dataframe[0].value) >= 2

    from dashboards.data import QueryTimeoutError, analyst_query

    limited = analyst_query("SELECT * FROM raw.ohlcv", row_limit=10, timeout_s=30)
    assert len(limited.frame) == 10 and limited.truncated
    before = q(built, "SELECT count(*) FROM raw.ohlcv")[0][0]
    target = built.data_dir / "elsewhere.duckdb"
    for sql in (
        "DELETE FROM raw.ohlcv",
        "CREATE TABLE main.x AS SELECT 1",
        f"ATTACH '{target}' AS other",
        f"COPY raw.ohlcv TO '{built.data_dir / 'leak.csv'}'",
        "SET enable_external_access = true",
    ):
        with pytest.raises(duckdb.Error):
            analyst_query(sql, row_limit=10, timeout_s=30)
    assert q(built, "SELECT count(*) FROM raw.ohlcv")[0][0] == before
    assert not target.exists() and not (built.data_dir / "leak.csv").exists()
    with pytest.raises(QueryTimeoutError, match="longer than 1 s"):
        analyst_query(
            "SELECT count(*) FROM range(100000000000) a WHERE a.range % 7 = 3",
            row_limit=10,
            timeout_s=1,
        )


def test_an_analyst_query_beyond_its_memory_and_spill_caps_is_stopped(built, monkeypatch):
    use(monkeypatch, built.data_dir)
    monkeypatch.setenv("AAITI_ANALYST_MEMORY_LIMIT", "64MB")
    monkeypatch.setenv("AAITI_ANALYST_TEMP_LIMIT", "64MB")
    from dashboards import data

    data.settings.clear()  # the app reads settings once; this test changes them
    try:
        with pytest.raises(data.QueryLimitError, match="more than an analyst's 64MB of memory"):
            data.analyst_query(
                "SELECT range % 20000000 AS k, count(*) FROM range(60000000) GROUP BY k",
                row_limit=10,
                timeout_s=60,
            )
        small = data.analyst_query("SELECT count(*) FROM raw.ohlcv", row_limit=10, timeout_s=30)
        assert small.frame.iloc[0, 0] == q(built, "SELECT count(*) FROM raw.ohlcv")[0][0]
    finally:
        data.settings.clear()


def test_halt_and_resume_from_the_risk_page_are_audited(built, monkeypatch):
    use(monkeypatch, built.data_dir)
    at = page("risk")
    at.text_input[0].input("tester").run()
    at.text_input[1].input("dashboard drill").run()
    at.button[0].click().run()  # Halt trading
    assert not at.exception
    audit = q(built, "SELECT actor, action, detail FROM audit.log ORDER BY logged_at")
    assert ("dashboard:tester", "halt", "dashboard drill") in audit
    state = json.loads(q(built, "SELECT state FROM risk.state WHERE account = 'paper'")[0][0])
    assert state["manual_halt"] and "dashboard drill" in state["reason"]
    assert any("HALTED" in e.value for e in at.error)  # the page shows it after the rerun
    # resume is refused while the drawdown from the peak is beyond the warning level…
    equity = q(built, "SELECT equity FROM trading.equity ORDER BY ts DESC LIMIT 1")[0][0]
    _set_peak(built, equity / (1 - 2 * built.risk.drawdown_warn))  # twice the warning
    at.button[1].click().run()  # Resume trading
    assert not at.exception
    assert _tester_actions(built)[-1] == "resume refused"
    assert json.loads(q(built, "SELECT state FROM risk.state WHERE account = 'paper'")[0][0])[
        "manual_halt"
    ]
    # …and lifts the halt once the drawdown is back under it
    _set_peak(built, equity)
    at.button[1].click().run()
    assert not at.exception
    assert _tester_actions(built)[-1] == "resume"
    after = json.loads(q(built, "SELECT state FROM risk.state WHERE account = 'paper'")[0][0])
    assert after["manual_halt"] is False


def _tester_actions(settings) -> list[str]:
    rows = q(settings, "SELECT actor, action FROM audit.log ORDER BY logged_at")
    return [a for actor, a in rows if actor == "dashboard:tester"]


def _set_peak(settings, peak: float) -> None:
    """Put the account's recorded equity peak where the test needs the drawdown to be."""
    wh = Warehouse.from_settings(settings)
    with wh.writer() as con:
        (state,) = con.execute("SELECT state FROM risk.state WHERE account = 'paper'").fetchone()
        s = json.loads(state)
        s["peak_equity"] = peak
        con.execute("UPDATE risk.state SET state = ? WHERE account = 'paper'", [json.dumps(s)])
    wh.publish_snapshot()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _loopback(url: str) -> bool:
    from urllib.parse import urlparse

    parsed = urlparse(url)
    return parsed.scheme in {"data", "blob", "about", "chrome-error"} or parsed.hostname in {
        "127.0.0.1", "localhost", "::1",
    }  # fmt: skip


def test_every_page_loads_in_a_real_browser_without_an_exception(built, tmp_path, monkeypatch):
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: `make browser` installs Debian's package")

    from aaiti.stack import down, up

    use(monkeypatch, built.data_dir)
    monkeypatch.setenv("AAITI_DASHBOARD_PORT", str(free_port()))
    settings = load_settings()
    try:
        urls = up(settings, repo=REPO, only=["dashboard"], timeout_s=90)
        base = urls["dashboard"]
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=CHROMIUM,
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                      "--disable-component-update", "--disable-sync", "--no-first-run"],
            )  # fmt: skip
            pg = browser.new_page(viewport={"width": 1400, "height": 1000})
            outside: list[str] = []  # every request a page makes must stay on loopback
            pg.on("request", lambda r: outside.append(r.url) if not _loopback(r.url) else None)
            for name in PAGE_FILES:
                pg.goto(f"{base}/{'' if name == 'overview' else name}", wait_until="networkidle")
                pg.wait_for_selector("h1", timeout=60_000)
                pg.wait_for_function(
                    "!document.querySelector('[data-testid=\"stStatusWidget\"]')",
                    timeout=60_000,
                )
                shot = tmp_path / f"{name}.png"
                pg.screenshot(path=str(shot), full_page=True)
                assert shot.stat().st_size > 10_000, name
                text = pg.inner_text("body")
                assert pg.locator('[data-testid="stException"]').count() == 0, name
                assert "Traceback" not in text and "has not run yet" not in text, name
                if name == "overview":  # health at a glance, one line per part
                    pg.wait_for_function(  # the page draws on after its title
                        "document.body.innerText.includes(' alerts — ')", timeout=60_000
                    )
                    text = pg.inner_text("body")
                    for part in PARTS:
                        assert f" {part} — " in text, (part, text[:600])
            browser.close()
            assert outside == [], sorted(set(outside))[:10]
    finally:
        down(settings)


def test_ages_and_amounts_read_as_a_person_reads_them():
    from dashboards.data import human_age, money

    assert human_age(pd.Timedelta(days=699, hours=7, minutes=12, seconds=44.69)) == "699 d 7 h"
    assert human_age(pd.Timedelta(hours=3, minutes=12, seconds=5)) == "3 h 12 min"
    assert human_age(pd.Timedelta(minutes=2, seconds=5)) == "2 min 5 s"
    assert human_age(pd.Timedelta(seconds=45)) == "45 s"
    assert human_age(pd.NaT) == "–"
    assert money(100257.51310543381) == "100,257.51" and money(None) == "–"


def test_with_logins_a_viewer_sees_and_only_an_operator_halts_audited_by_name(built, monkeypatch):
    from aaiti.auth import hash_password

    use(monkeypatch, built.data_dir)
    monkeypatch.setenv(
        "AAITI_DASHBOARD_USERS",
        f"ann:operator:{hash_password('ann-pass')} vic:viewer:{hash_password('vic-pass')}",
    )
    st.cache_resource.clear()
    at = page("risk")
    assert not at.exception and [t.value for t in at.title] == ["AAITI — log in"]
    assert not at.dataframe  # nothing of the page before the login

    def log_in(at, name: str, password: str) -> None:  # one submit of the login form
        at.text_input[0].input(name)
        at.text_input[1].input(password)
        at.button[0].click().run()

    log_in(at, "ann", "wrong")
    assert any("wrong password" in e.value for e in at.error)

    viewer = page("risk")
    log_in(viewer, "vic", "vic-pass")
    assert not viewer.exception and "Risk" in [t.value for t in viewer.title]
    assert any("need the operator role" in w.value for w in viewer.warning)
    viewer.text_input[0].input("viewer tries").run()  # the reason
    halt_button = next(b for b in viewer.button if b.label == "Halt trading")
    assert halt_button.disabled  # a browser cannot click it (AppTest refuses to, too)
    assert next(b for b in viewer.button if b.label == "Resume trading").disabled

    operator = page("risk")
    log_in(operator, "ann", "ann-pass")
    operator.text_input[0].input("drill by ann").run()
    next(b for b in operator.button if b.label == "Halt trading").click().run()
    assert not operator.exception
    audit = q(built, "SELECT actor, action, detail FROM audit.log ORDER BY logged_at")
    assert audit[-1] == ("dashboard:ann", "halt", "drill by ann")
    _set_peak(built, q(built, "SELECT equity FROM trading.equity ORDER BY ts DESC LIMIT 1")[0][0])
    next(b for b in operator.button if b.label == "Resume trading").click().run()
    assert q(built, "SELECT actor, action FROM audit.log ORDER BY logged_at")[-1] == (
        "dashboard:ann", "resume")  # fmt: skip


def test_in_a_real_browser_the_dashboard_asks_for_a_login_and_an_operator_halts(built, monkeypatch):
    """Chromium against the dashboard as `make up` starts it, with logins configured:
    nothing but the login form before it, a wrong password refused, and the operator's
    halt audited under the name they logged in with."""
    from playwright.sync_api import sync_playwright

    from aaiti.auth import hash_password
    from aaiti.stack import down, up

    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: `make browser` installs Debian's package")
    use(monkeypatch, built.data_dir)
    monkeypatch.setenv("AAITI_DASHBOARD_PORT", str(free_port()))
    monkeypatch.setenv("AAITI_DASHBOARD_USERS", f"ann:operator:{hash_password('ann-pass')}")
    settings = load_settings()
    try:
        base = up(settings, repo=REPO, only=["dashboard"], timeout_s=90)["dashboard"]
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM,
                                         args=["--no-sandbox", "--disable-gpu"])  # fmt: skip
            pg = browser.new_page(viewport={"width": 1400, "height": 1000})
            pg.goto(f"{base}/risk", wait_until="networkidle")
            pg.get_by_text("AAITI — log in").wait_for(timeout=60_000)
            assert pg.get_by_text("Halt trading").count() == 0  # nothing before the login

            def log_in(password: str) -> None:
                user = pg.get_by_role("textbox", name="User")
                secret = pg.get_by_role("textbox", name="Password")
                user.fill("ann")
                secret.fill(password)  # and straight to the button, as a person does
                pg.get_by_role("button", name="Log in").click()

            log_in("not-it")
            pg.get_by_text("Unknown user or wrong password.").wait_for(timeout=30_000)
            log_in("ann-pass")
            pg.get_by_text("Logged in as").wait_for(timeout=60_000)
            reason = pg.get_by_role("textbox", name="Reason for a halt")
            reason.fill("browser drill")
            reason.press("Tab")
            pg.get_by_role("button", name="Halt trading").click()
            pg.get_by_text("Last command:").wait_for(timeout=60_000)
            browser.close()
    finally:
        down(settings)
    audit = q(built, "SELECT actor, action, detail FROM audit.log ORDER BY logged_at")
    assert audit[-1] == ("dashboard:ann", "halt", "browser drill")
