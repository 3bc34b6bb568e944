"""Live exchange orders: off by default, on only with an explicit setting plus keys.

The same pre-trade risk gate decides; an approved order goes to the exchange through the
ccxt adapter with its client order id. Credentials come from settings (environment or a
secret store) as secrets and never reach logs, messages or the warehouse.
"""

from __future__ import annotations

import hashlib
import logging

from aaiti.config import Settings
from aaiti.errors import RefusedError, StateError
from aaiti.execution.broker import Fill, Order, OrderStatus, PaperBroker
from aaiti.market.exchange import CcxtOrderClient, ExchangeOrder
from aaiti.ops import audit
from aaiti.risk.gate import Decision, RiskGate
from aaiti.warehouse import Warehouse
from aaiti.warehouse.sql import load_sql, run

log = logging.getLogger(__name__)
_SQL = "aaiti.trading"


class LiveTradingDisabledError(RefusedError, ValueError):
    """Live orders were asked for without the opt-in and the keys."""


def live_client(settings: Settings) -> CcxtOrderClient:
    missing = [
        name
        for name, value in (
            ("AAITI_LIVE_TRADING=true", settings.live_trading),
            ("AAITI_LIVE_EXCHANGE", settings.live_exchange),
            ("AAITI_LIVE_API_KEY", settings.live_api_key),
            ("AAITI_LIVE_API_SECRET", settings.live_api_secret),
        )
        if not value
    ]
    if missing:
        raise LiveTradingDisabledError(
            "live exchange orders are off; to enable them set "
            + ", ".join(missing)
            + " (paper trading needs none of these)"
        )
    return CcxtOrderClient(
        settings.live_exchange,
        api_key=settings.live_api_key,
        api_secret=settings.live_api_secret,
        api_base_url=settings.ccxt_api_base_url,
        timeout_ms=settings.ccxt_timeout_ms,
    )


def order_client_from(settings: Settings) -> CcxtOrderClient | None:
    """The exchange client for the trade cycle when live trading is opted in, else None."""
    return live_client(settings) if settings.live_trading else None


def route_live(
    client: CcxtOrderClient,
    gate: RiskGate,
    *,
    symbol: str,
    side: str,
    amount: float,
    reference_price: float,
    client_order_id: str,
    positions: dict[str, float],
    equity: float,
) -> tuple[Decision, ExchangeOrder | None]:
    """The gate first; an approved market order goes to the exchange."""
    decision = gate.check(
        symbol=symbol,
        side=1 if side == "buy" else -1,
        notional=amount * reference_price,
        positions=positions,
        equity=equity,
    )
    if not decision.approved:
        log.warning("live order %s refused by risk: %s", client_order_id, decision.reason)
        return decision, None
    try:
        placed = client.place(
            symbol=symbol,
            side=side,
            order_type="market",
            amount=amount,
            client_order_id=client_order_id,
        )
    except Exception:
        gate.on_order_result(ok=False)
        raise
    gate.on_order_result(ok=True)
    log.info("live order %s: %s %s %s → %s", client_order_id, side, amount, symbol, placed.status)
    return decision, placed


def exchange_client_id(client_order_id: str) -> str:
    """The id the exchange sees: derived from ours, short enough for every venue (≤ 32).

    Binance allows 36 characters, others fewer; our ids name strategy, account, stream, bar
    and leg and are longer. A digest keeps the exchange's duplicate check doing its job.
    """
    return "aaiti" + hashlib.blake2b(client_order_id.encode(), digest_size=12).hexdigest()


def place_for_cycle(
    client: CcxtOrderClient,
    order: Order,
    *,
    symbol: str,
    reference_price: float,
    fee_rate: float,
) -> ExchangeOrder:
    """Send one approved cycle order as a market order; a notional becomes units at the close.

    Looks before it places: if the exchange already holds an order under this id (a cycle that
    crashed after sending it), that order is adopted instead of being refused as a duplicate.
    """
    exchange_id = exchange_client_id(order.client_order_id)
    existing = client.find(symbol=symbol, client_order_id=exchange_id)
    if existing is not None:
        order.quantity, order.notional = existing.amount, None
        return existing
    amount = (
        order.quantity
        if order.quantity is not None
        else order.notional / (reference_price * (1 + fee_rate))
    )
    placed = client.place(
        symbol=symbol,
        side=str(order.side),
        order_type="market",
        amount=amount,
        client_order_id=exchange_id,
    )
    order.quantity, order.notional = placed.amount or amount, None
    return placed


def book_exchange_state(
    book: PaperBroker, order: Order, state: ExchangeOrder, *, ts: object, fee_rate: float
) -> tuple[Fill | None, str | None]:
    """Book what the exchange filled since we last looked, then take its status.

    Returns the new fill (if any) and a note when the fee had to be estimated or could not be
    priced — the exchange's word is used whenever it gives one.
    """
    note = None
    fill = None
    new_quantity = state.filled - order.filled_quantity
    if new_quantity > 1e-12 and state.average:
        price = (state.average * state.filled - order.average_price * order.filled_quantity) / (
            new_quantity
        )
        reported, unpriced = state.fee_in_quote()
        if state.fees:
            fee = reported * new_quantity / state.filled
            if unpriced:
                note = f"fee {', '.join(unpriced)} not in the quote currency; not booked"
        else:
            fee = new_quantity * price * fee_rate
            note = f"fee estimated at {fee_rate * 1e4:g} bps: the exchange reported none for it"
        fill = book.book_fill(order, ts=ts, quantity=new_quantity, price=price, fee=fee)
        if note:
            order.reason = note
    elif new_quantity > 1e-12:  # a fill without a price cannot be booked: say so, retry later
        note = f"exchange reports {new_quantity:g} filled without an average price; not booked"
        order.reason = note
        log.warning("order %s: %s", order.client_order_id, note)
    if state.status == "canceled" and order.status in (
        OrderStatus.NEW,
        OrderStatus.PARTIALLY_FILLED,
    ):
        order.move(OrderStatus.CANCELLED, "cancelled on the exchange")
    elif state.status in ("rejected", "expired") and order.status == OrderStatus.NEW:
        order.move(OrderStatus.REJECTED, f"exchange: {state.status}")
    return fill, note


class NothingToAcceptError(StateError, ValueError):
    """``aaiti live accept`` with no difference on record."""


def accept_exchange_balances(settings: Settings, *, actor: str, reason: str, warehouse=None) -> str:
    """An operator accepts the exchange's figures after a reconciliation difference: the
    next live cycle adopts them. Audited with the difference it accepts (ledger → exchange)."""
    import json
    from datetime import UTC, datetime

    account = settings.trading_account
    warehouse = warehouse or Warehouse.from_settings(settings)
    with warehouse.writer(purpose=f"accept {account}") as con:
        latest = con.execute(load_sql(_SQL, "reconcile_latest"), [account]).fetchall()
        differing = [r for r in latest if not r[4]]
        if not differing:
            raise NothingToAcceptError(
                f"nothing to accept for {account}: "
                + ("its latest live check agrees with the exchange" if latest
                   else "no live check on record")
            )  # fmt: skip
        now = datetime.now(UTC)
        detail = {
            "account": account,
            "reason": reason,
            "checked_at": str(latest[0][5]),
            "ledger → exchange": {r[1]: [r[2], r[3]] for r in differing},
        }
        run(con, load_sql(_SQL, "reconcile_accept_insert"), [account, now, actor, reason])
        audit(con, actor=actor, action="reconcile accept", detail=json.dumps(detail, default=str),
              at=now)  # fmt: skip
    what = ", ".join(f"{r[1]} {r[2]:.8g} → {r[3]:.8g}" for r in differing)
    return f"{account}: accepted the exchange's figures ({what}); the next live cycle adopts them"
