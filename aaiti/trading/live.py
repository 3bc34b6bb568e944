"""Live exchange orders: off by default, on only with an explicit setting plus keys.

The same pre-trade risk gate decides; an approved order goes to the exchange through the
ccxt adapter with its client order id. Credentials come from settings (environment or a
secret store) as secrets and never reach logs, messages or the warehouse.
"""

from __future__ import annotations

import logging

from aaiti.config import Settings
from aaiti.market.exchange import CcxtOrderClient, ExchangeOrder
from aaiti.risk.gate import Decision, RiskGate

log = logging.getLogger(__name__)


class LiveTradingDisabledError(RuntimeError):
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
