"""A loopback HTTP server that speaks enough of Binance's spot REST API for ccxt.

It serves real sample candles through ``/api/v3/exchangeInfo`` and ``/api/v3/klines`` and
can inject faults (timeouts, 429 with Retry-After, 5xx, malformed JSON, duplicated and
out-of-order candles) so the real ccxt client and our adapter are tested end to end.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pandas as pd

INTERVAL_MS = {"1m": 60_000, "5m": 300_000, "1h": 3_600_000, "4h": 14_400_000, "1d": 86_400_000}


@dataclass
class Fault:
    """One fault, applied to the next matching request."""

    kind: str  # timeout | 429 | 500 | 503 | malformed | duplicate | shuffle | 400
    seconds: float = 0.0  # timeout: how long to stall; 429: Retry-After value
    path: str = "/api/v3/klines"


@dataclass
class FakeBinanceState:
    candles: dict[str, pd.DataFrame] = field(default_factory=dict)  # "BTCUSDT" -> frame (1 tf)
    interval: dict[str, str] = field(default_factory=dict)
    faults: deque[Fault] = field(default_factory=deque)
    requests: list[tuple[float, str, dict[str, str]]] = field(default_factory=list)
    max_limit: int = 1000
    orders: dict[str, dict] = field(default_factory=dict)  # clientOrderId -> order
    api_keys_seen: list[str] = field(default_factory=list)
    delay_s: float = 0.0  # added to every klines answer (to slow a backfill down)
    # market orders: "now" fill at once (fills + commission in the answer, as Binance's FULL
    # response); "later" rest as NEW and show FILLED on the next query (no fee in it, as
    # Binance's GET /order); "reject" refuse with an insufficient-balance error
    market_fill: str = "now"
    commission_rate: float = 0.001
    price: dict[str, float] = field(default_factory=dict)  # market price; else the last close
    # the account's balances per asset (GET /api/v3/account); fills move them, commission
    # in the quote asset; a test changes them to play a deposit, withdrawal or manual trade
    balances: dict[str, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _symbol_entry(market: str, base: str, quote: str) -> dict:
    return {
        "symbol": market,
        "status": "TRADING",
        "baseAsset": base,
        "baseAssetPrecision": 8,
        "quoteAsset": quote,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"],
        "icebergAllowed": True,
        "ocoAllowed": True,
        "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": True,
        "cancelReplaceAllowed": True,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": "0.01",
                "maxPrice": "1000000.00",
                "tickSize": "0.01",
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": "0.00001",
                "maxQty": "9000.0",
                "stepSize": "0.00001",
            },
            {"filterType": "NOTIONAL", "minNotional": "5.0", "maxNotional": "9000000.0"},
        ],
        "permissions": ["SPOT"],
        "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["EXPIRE_TAKER"],
    }


class _Handler(BaseHTTPRequestHandler):
    state: FakeBinanceState

    def _signed_params(self) -> dict[str, str] | None:
        """Params of a signed request (query or body); None (and a 401) if not signed."""
        url = urlparse(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        params = {k: v[-1] for k, v in parse_qs(url.query).items()}
        params.update({k: v[-1] for k, v in parse_qs(body).items()})
        key = self.headers.get("X-MBX-APIKEY")
        if not key or "signature" not in params or "timestamp" not in params:
            self._send(401, '{"code": -2014, "msg": "API-key format invalid."}')
            return None
        with self.state.lock:
            self.state.api_keys_seen.append(key)
        return params

    def _order_json(self, o: dict) -> str:
        return json.dumps({k: v for k, v in o.items() if not k.startswith("_")})

    def do_POST(self) -> None:
        url = urlparse(self.path)
        if url.path != "/api/v3/order":
            self._send(404, '{"code": -1, "msg": "not found"}')
            return
        params = self._signed_params()
        if params is None:
            return
        st = self.state
        market = params.get("symbol", "")
        if market not in st.candles:
            self._send(400, '{"code": -1121, "msg": "Invalid symbol."}')
            return
        cid = params.get("newClientOrderId") or f"auto-{len(st.orders)}"
        with st.lock:
            if cid in st.orders:
                self._send(400, '{"code": -2010, "msg": "Duplicate order sent."}')
                return
            if params.get("type") == "MARKET" and st.market_fill == "reject":
                self._send(
                    400,
                    '{"code": -2010, "msg": "Account has insufficient balance for requested action."}',
                )
                return
            last = st.candles[market].iloc[-1]
            qty = float(params.get("quantity", 0))
            price = float(params.get("price") or st.price.get(market, last.close))
            filled = params.get("type") == "MARKET" and st.market_fill == "now"
            rests_then_fills = params.get("type") == "MARKET" and st.market_fill == "later"
            order = {
                "symbol": market,
                "orderId": len(st.orders) + 1,
                "orderListId": -1,
                "clientOrderId": cid,
                "transactTime": int(time.time() * 1000),
                "price": f"{price:.8f}" if params.get("type") != "MARKET" else "0.00000000",
                "origQty": f"{qty:.8f}",
                "executedQty": f"{qty if filled else 0:.8f}",
                "cummulativeQuoteQty": f"{qty * price if filled else 0:.8f}",
                "status": "FILLED" if filled else "NEW",
                "timeInForce": params.get("timeInForce", "GTC"),
                "type": params.get("type"),
                "side": params.get("side"),
                "fills": [
                    {
                        "price": f"{price:.8f}",
                        "qty": f"{qty:.8f}",
                        "commission": f"{qty * price * st.commission_rate:.8f}",
                        "commissionAsset": self._split(market)[1],
                    }
                ]
                if filled
                else [],
            }
            if rests_then_fills:
                order["_fill_on_query"] = f"{qty * price:.8f}"
            if filled:
                self._settle(market, params.get("side", ""), qty, price)
            st.orders[cid] = order
        self._send(200, self._order_json(order))

    def do_DELETE(self) -> None:
        params = self._signed_params()
        if params is None:
            return
        with self.state.lock:
            order = next(
                (
                    o
                    for o in self.state.orders.values()
                    if str(o["orderId"]) == params.get("orderId")
                    or o["clientOrderId"] == params.get("origClientOrderId")
                ),
                None,
            )
            if order is None:
                self._send(400, '{"code": -2011, "msg": "Unknown order sent."}')
                return
            order["status"] = "CANCELED"
        self._send(200, self._order_json(order))

    def log_message(self, *args) -> None:  # keep test output quiet
        pass

    def _send(self, status: int, body: str, headers: dict[str, str] | None = None) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(data)

    def do_GET(self) -> None:
        url = urlparse(self.path)
        params = {k: v[-1] for k, v in parse_qs(url.query).items()}
        st = self.state
        with st.lock:
            st.requests.append((time.time(), url.path, params))
            fault = st.faults.popleft() if st.faults and st.faults[0].path == url.path else None
        if fault and fault.kind == "timeout":
            time.sleep(fault.seconds)
            self._send(504, '{"code": -1, "msg": "late"}')
            return
        if fault and fault.kind == "429":
            self._send(
                429,
                '{"code": -1003, "msg": "Too many requests"}',
                {"Retry-After": str(int(fault.seconds))},
            )
            return
        if fault and fault.kind in ("500", "503"):
            self._send(int(fault.kind), '{"code": -1001, "msg": "Internal error"}')
            return
        if fault and fault.kind == "400":
            self._send(400, '{"code": -1100, "msg": "Illegal characters found in a parameter."}')
            return
        if fault and fault.kind == "401":
            self._send(401, '{"code": -2015, "msg": "Invalid API-key, IP, or permissions."}')
            return
        if fault and fault.kind == "malformed":
            self._send(200, '[[1, "2", "3"')
            return
        if url.path == "/api/v3/ping":
            self._send(200, "{}")
        elif url.path == "/api/v3/time":
            self._send(200, json.dumps({"serverTime": int(time.time() * 1000)}))
        elif url.path == "/api/v3/exchangeInfo":
            symbols = [_symbol_entry(m, *self._split(m)) for m in sorted(st.candles)]
            self._send(
                200,
                json.dumps(
                    {
                        "timezone": "UTC",
                        "serverTime": int(time.time() * 1000),
                        "rateLimits": [],
                        "exchangeFilters": [],
                        "symbols": symbols,
                    }
                ),
            )
        elif url.path in (
            "/sapi/v1/capital/config/getall",
            "/sapi/v1/margin/allPairs",
            "/sapi/v1/margin/isolated/allPairs",
        ):  # asked for when keys are set
            if self._signed_params() is not None:
                self._send(200, "[]")
        elif url.path == "/api/v3/order":
            signed = self._signed_params()
            if signed is None:
                return
            order = next(
                (
                    o
                    for o in st.orders.values()
                    if str(o["orderId"]) == signed.get("orderId")
                    or o["clientOrderId"] == signed.get("origClientOrderId")
                ),
                None,
            )
            if order is None:
                self._send(400, '{"code": -2013, "msg": "Order does not exist."}')
            else:
                with st.lock:
                    if "_fill_on_query" in order:
                        order["cummulativeQuoteQty"] = order.pop("_fill_on_query")
                        order["executedQty"], order["status"] = order["origQty"], "FILLED"
                        qty = float(order["origQty"])
                        price = float(order["cummulativeQuoteQty"]) / qty
                        self._settle(order["symbol"], order["side"], qty, price)
                self._send(200, self._order_json(order))
        elif url.path == "/api/v3/account":
            if self._signed_params() is not None:
                self._send(200, json.dumps(self._account()))
        elif url.path == "/api/v3/openOrders":
            signed = self._signed_params()
            if signed is not None:
                with st.lock:
                    found = [
                        o
                        for o in st.orders.values()
                        if o["status"] in ("NEW", "PARTIALLY_FILLED")
                        and "_fill_on_query" not in o
                        and signed.get("symbol") in (None, o["symbol"])
                    ]
                self._send(200, "[" + ",".join(self._order_json(o) for o in found) + "]")
        elif url.path == "/api/v3/ticker/24hr":
            self._send(200, json.dumps([self._ticker(m) for m in sorted(st.candles)]))
        elif url.path == "/api/v3/klines":
            if st.delay_s:
                time.sleep(st.delay_s)
            self._klines(params, fault)
        else:
            self._send(404, '{"code": -1, "msg": "not found"}')

    def _settle(self, market: str, side: str, qty: float, price: float) -> None:
        """A fill moves the balances (the caller holds the lock)."""
        base, quote = self._split(market)
        b = self.state.balances
        sign = 1.0 if side.upper() == "BUY" else -1.0
        b[base] = b.get(base, 0.0) + sign * qty
        b[quote] = b.get(quote, 0.0) - sign * qty * price - qty * price * self.state.commission_rate

    def _account(self) -> dict:
        with self.state.lock:
            balances = [
                {"asset": a, "free": f"{v:.8f}", "locked": "0.00000000"}
                for a, v in sorted(self.state.balances.items())
            ]
        return {
            "makerCommission": 10,
            "takerCommission": 10,
            "canTrade": True,
            "canWithdraw": True,
            "canDeposit": True,
            "updateTime": int(time.time() * 1000),
            "accountType": "SPOT",
            "balances": balances,
            "permissions": ["SPOT"],
        }

    def _ticker(self, market: str) -> dict:
        """24 h statistics from the served candles' last day (quote volume = Σ close × volume)."""
        frame = self.state.candles[market]
        ms = INTERVAL_MS[self.state.interval[market]]
        day = frame.tail(max(1, 86_400_000 // ms))
        last = day.iloc[-1]
        return {
            "symbol": market,
            "lastPrice": str(last["close"]),
            "openPrice": str(day["open"].iloc[0]),
            "highPrice": str(day["high"].max()),
            "lowPrice": str(day["low"].min()),
            "volume": str(day["volume"].sum()),
            "quoteVolume": str((day["close"] * day["volume"]).sum()),
            "openTime": int(day["ts_ms"].iloc[0]),
            "closeTime": int(last["ts_ms"]) + ms - 1,
            "count": len(day),
        }

    @staticmethod
    def _split(market: str) -> tuple[str, str]:
        for quote in ("USDT", "BUSD", "USD", "EUR", "BTC"):
            if market.endswith(quote):
                return market[: -len(quote)], quote
        return market[:3], market[3:]

    def _klines(self, params: dict[str, str], fault: Fault | None) -> None:
        st = self.state
        market = params.get("symbol", "")
        if market not in st.candles:
            self._send(400, '{"code": -1121, "msg": "Invalid symbol."}')
            return
        interval = params.get("interval")
        if interval != st.interval[market]:
            self._send(400, '{"code": -1120, "msg": "Invalid interval."}')
            return
        frame = st.candles[market]
        ts = frame["ts_ms"]
        mask = pd.Series(True, index=frame.index)
        if "startTime" in params:
            mask &= ts >= int(params["startTime"])
        if "endTime" in params:
            mask &= ts <= int(params["endTime"])
        limit = min(int(params.get("limit", 500)), st.max_limit)
        page = frame[mask].head(limit)
        step = INTERVAL_MS[interval]
        rows = [
            [
                int(r.ts_ms),
                f"{r.open:.8f}",
                f"{r.high:.8f}",
                f"{r.low:.8f}",
                f"{r.close:.8f}",
                f"{r.volume:.8f}",
                int(r.ts_ms) + step - 1,
                "0",
                1,
                "0",
                "0",
                "0",
            ]
            for r in page.itertuples()
        ]
        if fault and fault.kind == "duplicate" and rows:
            rows = rows + rows[: max(1, len(rows) // 3)]
        if fault and fault.kind == "shuffle" and rows:
            rows = rows[::-1]
        self._send(200, json.dumps(rows))


class FakeBinance:
    """Context manager: ``with FakeBinance({...}) as ex: ex.url``."""

    def __init__(
        self,
        candles: dict[str, pd.DataFrame],
        interval: str,
        *,
        max_limit: int = 1000,
        delay_s: float = 0.0,
    ):
        self.state = FakeBinanceState(max_limit=max_limit, delay_s=delay_s)
        for market, frame in candles.items():
            f = frame.copy()
            f["ts_ms"] = (f["ts"] - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(1, "ms")
            self.state.candles[market] = f.sort_values("ts_ms").reset_index(drop=True)
            self.state.interval[market] = interval
        handler = type("Handler", (_Handler,), {"state": self.state})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def inject(self, *faults: Fault) -> None:
        with self.state.lock:
            self.state.faults.extend(faults)

    def kline_requests(self) -> list[dict[str, str]]:
        return [p for _, path, p in self.state.requests if path == "/api/v3/klines"]

    def __enter__(self) -> FakeBinance:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
