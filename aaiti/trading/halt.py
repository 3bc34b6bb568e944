"""An operator's halt and resume of an account's books (audited, alerted)."""

from __future__ import annotations

from datetime import UTC, datetime

from aaiti.books import BookSettingsError, books, plain_amount
from aaiti.config import RiskSettings, Settings, TradingSettings
from aaiti.errors import RefusedError
from aaiti.ops import audit, raise_alert
from aaiti.risk.gate import RiskGate
from aaiti.trading.book import SQL, Con, load_gate, risk_state, save_risk_state
from aaiti.warehouse import Warehouse
from aaiti.warehouse.sql import fetch_one, load_sql


def halt(settings: Settings, *, actor: str, reason: str, warehouse: Warehouse | None = None) -> str:
    """Emergency halt of every book: no new risk from the next bar on; written to
    audit.log. Never refused: settings that name no book still halt the account and every
    book of it the warehouse holds."""
    warehouse, cfg, now = (
        warehouse or Warehouse.from_settings(settings),
        settings.trading,
        datetime.now(UTC),
    )
    messages = []
    with warehouse.writer(purpose="halt") as con:
        accounts = _halt_accounts(con, cfg)
        for account in accounts:
            state = risk_state(con, account)
            event = RiskGate(RiskSettings(), state).halt(reason=f"{reason} (by {actor})")
            save_risk_state(con, account, state, now=now)
            audit(con, actor=actor, action="halt", detail=_audit_line(accounts, account, reason))
            raise_alert(
                con,
                source="risk",
                severity="critical",
                dedup_key=f"risk:{account}:halt",
                message=f"{account}: {event.message}",
            )
            messages.append((account, event.message))
    return _by_book(messages)


def _halt_accounts(con: Con, cfg: TradingSettings) -> list[str]:
    """The settings' books and every book of the account already in the warehouse."""
    try:
        named = {b.account for b in books(cfg)}
    except BookSettingsError:  # an emergency halt is not refused for a settings mistake
        named = set()
    known = {a for (a,) in con.execute(load_sql(SQL, "books_known"), [cfg.account]).fetchall()}
    return sorted(named | known) or [cfg.account]


def resume(settings: Settings, *, actor: str, warehouse: Warehouse | None = None) -> str:
    """Lift halts and the kill switch of each book — refused for a book whose drawdown has
    not recovered (the others resume)."""
    warehouse, now = warehouse or Warehouse.from_settings(settings), datetime.now(UTC)
    parts, messages, refused = books(settings.trading), [], []
    accounts = [b.account for b in parts]
    with warehouse.writer(purpose="resume") as con:
        for cfg in parts:
            gate = load_gate(con, cfg)
            latest = fetch_one(con, load_sql(SQL, "latest_equity"), [cfg.account])
            equity = latest[1] if latest else plain_amount(cfg.initial_cash)
            try:
                event = gate.resume(equity=equity)
            except PermissionError as err:  # audited and committed: raising here rolls back
                refused.append((cfg.account, str(err)))
                detail = _audit_line(accounts, cfg.account, str(err))
                audit(con, actor=actor, action="resume refused", detail=detail)
            else:
                save_risk_state(con, cfg.account, gate.state, now=now)
                detail = _audit_line(accounts, cfg.account, event.message)
                audit(con, actor=actor, action="resume", detail=detail)
                messages.append((cfg.account, event.message))
    if refused:
        raise RefusedError(_by_book(refused if len(parts) == 1 else refused + messages))
    return _by_book(messages)


def _audit_line(accounts: list[str], account: str, text: str) -> str:
    """An audit line: named by its book when the account has several."""
    return text if len(accounts) == 1 else f"{account}: {text}"


def _by_book(messages: list[tuple[str, str]]) -> str:
    """One book's message as it is; several, each named by its book."""
    if len(messages) == 1:
        return messages[0][1]
    return "; ".join(f"{account}: {message}" for account, message in messages)
