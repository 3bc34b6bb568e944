"""Live orders: off by default; through the real ccxt client against the loopback exchange."""

from __future__ import annotations

import logging

import pytest

from aaiti.config import RiskSettings
from aaiti.market.errors import PermanentExchangeError
from aaiti.risk.gate import RiskGate
from aaiti.trading.live import LiveTradingDisabledError, live_client, route_live
from tests.conftest import sample_frame
from tests.support.fake_binance import FakeBinance

KEY, SECRET = "test-key-5f2a9c", "test-secret-d41d8cd98f00b204"

pytestmark = pytest.mark.integration


def test_live_orders_are_off_by_default_and_say_how_to_enable(settings):
    with pytest.raises(
        LiveTradingDisabledError, match="AAITI_LIVE_TRADING=true, AAITI_LIVE_EXCHANGE"
    ):
        live_client(settings)


def test_keys_are_secrets_in_settings(monkeypatch, settings):
    monkeypatch.setenv("AAITI_LIVE_API_KEY", KEY)
    monkeypatch.setenv("AAITI_LIVE_API_SECRET", SECRET)
    from aaiti.config import load_settings

    s = load_settings(data_dir=settings.data_dir)
    assert s.live_api_key.get_secret_value() == KEY  # read from the environment
    for text in (repr(s), str(s), s.model_dump_json()):
        assert KEY not in text and SECRET not in text


def test_a_live_order_goes_through_the_gate_to_the_exchange_without_leaking_keys(
    settings, caplog, warehouse
):
    candles = sample_frame("binance", "BTC-USDT", "1d")
    with FakeBinance({"BTCUSDT": candles}, "1d") as ex:
        live = settings.model_copy(
            update={
                "live_trading": True,
                "live_exchange": "binance",
                "ccxt_api_base_url": ex.url,
                "live_api_key": __import__("pydantic").SecretStr(KEY),
                "live_api_secret": __import__("pydantic").SecretStr(SECRET),
            }
        )
        client = live_client(live)
        gate = RiskGate(RiskSettings(max_order_notional=10_000))
        gate.on_equity(100_000, day=__import__("datetime").date(2025, 1, 1))
        caplog.set_level(logging.DEBUG)
        decision, order = route_live(
            client,
            gate,
            symbol="BTC/USDT",
            side="buy",
            amount=0.05,
            reference_price=29_000,
            client_order_id="s:binance:BTC/USDT:1d:x:enter",
            positions={},
            equity=100_000,
        )
        assert (
            decision.approved and order.status == "closed" and order.filled == pytest.approx(0.05)
        )
        assert order.client_order_id == "s:binance:BTC/USDT:1d:x:enter"
        assert set(ex.state.api_keys_seen) == {
            KEY
        }  # the key goes to the exchange only, as a header
        # the gate still decides: too big an order never reaches the exchange
        refused, none = route_live(
            client,
            gate,
            symbol="BTC/USDT",
            side="buy",
            amount=1.0,
            reference_price=29_000,
            client_order_id="big",
            positions={},
            equity=100_000,
        )
        assert not refused.approved and none is None and "big" not in ex.state.orders
        # a duplicate client order id is refused by the exchange: never traded twice
        with pytest.raises(PermanentExchangeError, match="Duplicate order"):
            route_live(
                client,
                gate,
                symbol="BTC/USDT",
                side="buy",
                amount=0.05,
                reference_price=29_000,
                client_order_id="s:binance:BTC/USDT:1d:x:enter",
                positions={},
                equity=100_000,
            )
        assert len(ex.state.orders) == 1
    logged = caplog.text + repr(client)
    assert KEY not in logged and SECRET not in logged
    with warehouse.writer():
        pass
    assert (
        KEY.encode() not in warehouse.path.read_bytes()
        and SECRET.encode() not in warehouse.path.read_bytes()
    )
