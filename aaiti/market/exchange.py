"""The ccxt adapter: the only module that imports ccxt.

Pages ``fetch_ohlcv`` forward from ``since``, honours the exchange's rate limit (ccxt's own
throttle), retries transient errors with exponential backoff and full jitter (or the
server's Retry-After), never retries permanent ones, and guards the exchange with a
:class:`~aaiti.market.breaker.CircuitBreaker`. The still-open last candle is dropped.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import pandas as pd

from aaiti.market.breaker import CircuitBreaker
from aaiti.market.candles import CANDLE_COLUMNS, Stream
from aaiti.market.errors import (
    MarketDataError,
    PermanentExchangeError,
    TimeframeNotOfferedError,
    TransientExchangeError,
    UnknownExchangeError,
    UnknownSymbolError,
)
from aaiti.market.timeframes import SUPPORTED_TIMEFRAMES, timeframe_ms
from aaiti.redact import redact_in_logs

log = logging.getLogger(__name__)
T = TypeVar("T")
DEFAULT_PAGE_LIMIT = 500


def known_exchange_ids() -> list[str]:
    import ccxt

    return list(ccxt.exchanges)


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 5
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
    max_retry_after_s: float = 60.0

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Full-jitter exponential backoff for the ``attempt``-th retry (1-based)."""
        cap = min(self.backoff_max_s, self.backoff_base_s * 2 ** (attempt - 1))
        return rng.uniform(0, cap)


class MalformedResponseError(MarketDataError):
    """The exchange answered with something that is not a list of candles."""


class CcxtSource:
    """Candles from any exchange ccxt supports."""

    def __init__(
        self,
        exchange_id: str,
        *,
        breaker: CircuitBreaker,
        retry: RetryPolicy | None = None,
        api_base_url: str | None = None,
        page_limit: int | None = None,
        rate_limit_ms: int | None = None,
        timeout_ms: int = 10_000,
        sleep: Callable[[float], None] = time.sleep,
        seed: int | None = None,
    ) -> None:
        self.exchange_id = exchange_id
        self.breaker = breaker
        self.retry = retry or RetryPolicy()
        self.api_base_url = api_base_url
        self.page_limit = page_limit
        self.rate_limit_ms = rate_limit_ms
        self.timeout_ms = timeout_ms
        self.sleep = sleep
        self.rng = random.Random(seed)
        self.retries = 0  # transient retries made, for the run record
        self._client: Any = None

    @property
    def name(self) -> str:
        return f"ccxt:{self.exchange_id}"

    # ------------------------------------------------------------------ client
    @property
    def client(self) -> Any:
        if self._client is None:
            import ccxt

            if self.exchange_id not in ccxt.exchanges:
                raise UnknownExchangeError(self.exchange_id, ccxt.exchanges)
            cls = getattr(ccxt, self.exchange_id)
            config: dict[str, Any] = {
                "enableRateLimit": True,
                "timeout": self.timeout_ms,
                "enableLastResponseHeaders": True,
                "enableLastJsonResponse": True,
                "enableLastHttpResponse": True,
                # space requests evenly instead of ccxt's default rolling window, which lets
                # a backfill burst a whole window's allowance at once
                "rateLimiterAlgorithm": "leakyBucket",
            }
            options = _spot_only_options(cls)
            if options:
                config["options"] = options
            if self.rate_limit_ms is not None:
                # ccxt builds its throttle from rateLimit at construction time
                config["rateLimit"] = self.rate_limit_ms
                config["enableRateLimit"] = self.rate_limit_ms > 0
            client = cls(config)
            if self.api_base_url:
                client.urls["api"] = _rebase_urls(client.urls["api"], self.api_base_url)
            self._client = client
        return self._client

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        """Run one request under the breaker and the retry policy."""
        import ccxt

        attempt = 0
        while True:
            self.breaker.before_call()
            try:
                result = fn()
            except (ccxt.OperationFailed, MalformedResponseError) as err:
                # OperationFailed is ccxt's base of NetworkError (timeouts, 429, 5xx,
                # maintenance) and BadResponse: failures that a retry can fix.
                self.breaker.record_failure(f"{type(err).__name__}: {err}")
                attempt += 1
                if attempt > self.retry.max_retries:
                    raise TransientExchangeError(
                        f"{self.exchange_id} {what} still failing after "
                        f"{self.retry.max_retries} retries: {type(err).__name__}: {err}"
                    ) from err
                delay = self._retry_after(err)
                if delay is None:
                    delay = self.retry.backoff(attempt, self.rng)
                self.retries += 1
                log.warning(
                    "%s %s failed (%s: %s); retry %d/%d in %.2f s",
                    self.exchange_id,
                    what,
                    type(err).__name__,
                    str(err)[:200],
                    attempt,
                    self.retry.max_retries,
                    delay,
                )
                self.breaker.before_call()  # an opened breaker stops the retries at once
                self.sleep(delay)
                continue
            except ccxt.BaseError as err:
                # BadSymbol, AuthenticationError, BadRequest and every other exchange error:
                # retrying cannot fix them. They say nothing about the exchange's health.
                raise PermanentExchangeError(
                    f"{self.exchange_id} {what} refused: {type(err).__name__}: {err}"
                ) from err
            self.breaker.record_success()
            return result

    def _retry_after(self, err: Exception) -> float | None:
        import ccxt

        if not isinstance(err, ccxt.DDoSProtection):
            return None
        headers = getattr(self.client, "last_response_headers", None) or {}
        value = headers.get("Retry-After") or headers.get("retry-after")
        if value is None:
            return None
        try:
            seconds = float(value)
        except ValueError:
            try:
                when = pd.Timestamp(value)
                seconds = (when - pd.Timestamp.now(tz=UTC)).total_seconds()
            except (ValueError, TypeError):
                return None
        return max(0.0, min(seconds, self.retry.max_retry_after_s))

    # ------------------------------------------------------------------ streams
    def validate_stream(self, symbol: str, timeframe: str) -> Stream:
        """Check the symbol and timeframe against the exchange's own lists."""
        timeframe_ms(timeframe)  # raises with the supported list
        client = self.client
        markets = self._call("load_markets", client.load_markets)
        if symbol not in markets:
            raise UnknownSymbolError(symbol, self.exchange_id, markets.keys())
        offered = getattr(client, "timeframes", None) or {}
        if offered and timeframe not in offered:
            raise TimeframeNotOfferedError(
                timeframe,
                self.exchange_id,
                [t for t in SUPPORTED_TIMEFRAMES if t in offered],
            )
        return Stream(self.exchange_id, symbol, timeframe)

    def top_symbols(self, n: int, *, quotes: tuple[str, ...] = ()) -> list[str]:
        """The ``n`` active spot markets with the largest 24 h quote volume (``quotes``: only
        those quote currencies), ranked by the exchange's own tickers."""
        client = self.client
        markets = self._call("load_markets", client.load_markets)
        tickers = self._call("fetch_tickers", client.fetch_tickers)
        ranked = sorted(
            (
                (float(t.get("quoteVolume") or 0.0), sym)
                for sym, t in tickers.items()
                if sym in markets
                and markets[sym].get("spot", True)
                and markets[sym].get("active", True) is not False
                and (not quotes or markets[sym].get("quote") in quotes)
            ),
            reverse=True,
        )
        return [sym for _, sym in ranked[:n]]

    def _page_limit(self) -> int:
        if self.page_limit:
            return self.page_limit
        features = getattr(self.client, "features", None) or {}
        limit = (features.get("spot") or {}).get("fetchOHLCV", {}) or {}
        return int(limit.get("limit") or DEFAULT_PAGE_LIMIT)

    def fetch(
        self, stream: Stream, *, since: datetime, until: datetime | None = None
    ) -> Iterator[pd.DataFrame]:
        """Closed candles with ``since <= ts < until`` (until defaults to now), page by page."""
        step = timeframe_ms(stream.timeframe)
        client = self.client
        limit = self._page_limit()
        cursor = _ms(since)
        end = _ms(until) if until else None
        while True:
            now = int(client.milliseconds())
            stop = min(end, now) if end is not None else now
            if cursor >= stop:
                return
            params = {"until": stop - 1}
            page = self._call(
                f"fetch_ohlcv {stream.symbol} {stream.timeframe}",
                lambda c=cursor, p=params: self._fetch_page(stream, since=c, limit=limit, params=p),
            )
            if not page:
                return
            newest = max(row[0] for row in page)
            frame = pd.DataFrame([row[:6] for row in page], columns=["ts", *CANDLE_COLUMNS[4:]])
            frame = frame[(frame["ts"] >= cursor) & (frame["ts"] < stop)]
            frame = frame[frame["ts"] + step <= now]  # the still-open candle is not a candle yet
            if not frame.empty:
                frame.insert(0, "timeframe", stream.timeframe)
                frame.insert(0, "symbol", stream.symbol)
                frame.insert(0, "exchange", stream.exchange)
                yield frame.loc[:, list(CANDLE_COLUMNS)].reset_index(drop=True)
            if newest < cursor:
                return  # no progress: the exchange has nothing newer
            cursor = newest + step

    def _fetch_page(
        self, stream: Stream, *, since: int, limit: int, params: dict[str, Any]
    ) -> list[list[Any]]:
        try:
            page = self.client.fetch_ohlcv(
                stream.symbol, stream.timeframe, since=since, limit=limit, params=params
            )
        except (TypeError, ValueError, KeyError, IndexError) as err:
            raise MalformedResponseError(f"could not parse the candles: {err}") from err
        body = getattr(self.client, "last_http_response", None)
        if body and getattr(self.client, "last_json_response", None) is None:
            # ccxt turns an unparseable body into an empty list: that is not "no candles".
            raise MalformedResponseError(f"response is not valid JSON: {str(body)[:120]!r}")
        return self._checked_page(page)

    @staticmethod
    def _checked_page(page: Any) -> list[list[Any]]:
        if not isinstance(page, list) or not all(
            isinstance(row, list | tuple) and len(row) >= 6 for row in page
        ):
            raise MalformedResponseError(f"expected a list of candles, got {str(page)[:120]!r}")
        return page


def _spot_only_options(cls: Any) -> dict:
    """Ask exchanges that load several market types (spot, futures, margin) for spot only."""
    fetch_markets = (cls().options or {}).get("fetchMarkets")
    if isinstance(fetch_markets, dict) and "types" in fetch_markets:
        return {"fetchMarkets": {"types": ["spot"]}, "fetchMargins": False}
    return {}


def _rebase_urls(urls: Any, base: str) -> Any:
    """Point every REST URL of a ccxt exchange at ``base`` (keeping the path)."""
    if isinstance(urls, dict):
        return {k: _rebase_urls(v, base) for k, v in urls.items()}
    if isinstance(urls, str):
        return re.sub(r"^https?://[^/]+", base.rstrip("/"), urls)
    return urls


def _ms(value: datetime) -> int:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp() * 1000)


@dataclass(frozen=True)
class ExchangeOrder:
    """An exchange's answer about one order, normalised (no credentials inside)."""

    exchange_order_id: str
    client_order_id: str
    symbol: str
    side: str
    type: str
    status: str  # open | closed | canceled | rejected (ccxt's unified statuses)
    amount: float
    filled: float
    average: float | None
    fees: tuple[tuple[str, float], ...] = ()  # (currency, cost) as the exchange charged them

    def fee_in_quote(self) -> tuple[float, list[str]]:
        """Fees in the quote currency, and those that cannot be priced from this order alone.

        A fee in the base currency is priced at the order's average price; a fee in a third
        currency (an exchange token, say) is returned unpriced for the caller to report.
        """
        base, _, quote = self.symbol.partition("/")
        quote = quote.split(":")[0]
        total, unpriced = 0.0, []
        for currency, cost in self.fees:
            if currency == quote:
                total += cost
            elif currency == base and self.average:
                total += cost * self.average
            elif cost:
                unpriced.append(f"{cost:g} {currency}")
        return total, unpriced


class CcxtOrderClient:
    """Places, fetches and cancels orders through ccxt with the account's keys.

    The keys are handed to ccxt and nowhere else: they are not kept on this object's
    attributes, never formatted into messages, and never returned. Placing an order is not
    retried automatically (a timeout may hide a fill); the client order id makes a deliberate
    resubmission safe, since the exchange refuses a duplicate id.
    """

    def __init__(
        self,
        exchange_id: str,
        *,
        api_key,
        api_secret,
        api_base_url: str | None = None,
        timeout_ms: int = 10_000,
    ) -> None:
        import ccxt

        if exchange_id not in ccxt.exchanges:
            raise UnknownExchangeError(exchange_id, ccxt.exchanges)
        cls = getattr(ccxt, exchange_id)
        options = _spot_only_options(cls)
        self._client = cls(
            {
                "apiKey": api_key.get_secret_value(),
                "secret": api_secret.get_secret_value(),
                "enableRateLimit": True,
                "timeout": timeout_ms,
                "options": options,
            }
        )
        if api_base_url:
            self._client.urls["api"] = _rebase_urls(self._client.urls["api"], api_base_url)
        self.exchange_id = exchange_id
        _redact_in_logs(api_key.get_secret_value(), api_secret.get_secret_value())

    def __repr__(self) -> str:
        return f"CcxtOrderClient({self.exchange_id!r}, keys=<hidden>)"

    def _normal(self, o: dict) -> ExchangeOrder:
        return ExchangeOrder(
            exchange_order_id=str(o.get("id")),
            client_order_id=str(o.get("clientOrderId")),
            symbol=o.get("symbol"),
            side=o.get("side"),
            type=o.get("type"),
            status=o.get("status"),
            amount=float(o.get("amount") or 0),
            filled=float(o.get("filled") or 0),
            average=float(o["average"]) if o.get("average") else None,
            fees=tuple(
                (str(f.get("currency")), float(f.get("cost") or 0))
                for f in (o.get("fees") or ([o["fee"]] if o.get("fee") else []))
            ),
        )

    def _guard(self, what: str, fn):
        import ccxt

        try:
            return fn()
        except ccxt.BaseError as err:
            raise PermanentExchangeError(
                f"{self.exchange_id} {what} failed: {type(err).__name__}: {_scrub(str(err))}"
            ) from None

    def place(
        self,
        *,
        symbol: str,
        side: str,
        order_type: str,
        amount: float,
        client_order_id: str,
        price: float | None = None,
    ) -> ExchangeOrder:
        self._guard("load_markets", self._client.load_markets)
        params = (
            {"newClientOrderId": client_order_id}
            if self.exchange_id.startswith("binance")
            else {"clientOrderId": client_order_id}
        )
        raw = self._guard(
            f"create_order {client_order_id}",
            lambda: self._client.create_order(symbol, order_type, side, amount, price, params),
        )
        return self._normal(raw)

    def find(self, *, symbol: str, client_order_id: str) -> ExchangeOrder | None:
        """The order the exchange holds under our client id, or None if it has none."""
        import ccxt

        self._guard("load_markets", self._client.load_markets)
        try:
            raw = self._client.fetch_order(None, symbol, {"clientOrderId": client_order_id})
        except ccxt.OrderNotFound:
            return None
        except ccxt.BaseError as err:
            raise PermanentExchangeError(
                f"{self.exchange_id} fetch_order {client_order_id} failed: "
                f"{type(err).__name__}: {_scrub(str(err))}"
            ) from None
        return self._normal(raw)

    def fetch(self, *, symbol: str, exchange_order_id: str) -> ExchangeOrder:
        return self._normal(
            self._guard("fetch_order", lambda: self._client.fetch_order(exchange_order_id, symbol))
        )

    def cancel(self, *, symbol: str, exchange_order_id: str) -> ExchangeOrder:
        return self._normal(
            self._guard(
                "cancel_order", lambda: self._client.cancel_order(exchange_order_id, symbol)
            )
        )

    def balances(self) -> dict[str, float]:
        """The account's total (free + locked) per currency, as the exchange holds it."""
        raw = self._guard("fetch_balance", self._client.fetch_balance)
        return {str(c): float(v) for c, v in (raw.get("total") or {}).items() if v is not None}

    def open_orders(self, symbols: list[str]) -> list[ExchangeOrder]:
        """Orders open on the exchange for these symbols (asked per symbol: exchanges
        rate-limit the all-symbols query heavily)."""
        self._guard("load_markets", self._client.load_markets)
        return [
            self._normal(o)
            for symbol in symbols
            for o in self._guard(
                f"fetch_open_orders {symbol}", lambda s=symbol: self._client.fetch_open_orders(s)
            )
        ]


def _redact_in_logs(*secrets: str) -> None:
    """ccxt's debug log prints request headers: redact on the loggers it writes with."""
    redact_in_logs(secrets, ("ccxt", "ccxt.base.exchange", "urllib3.connectionpool"))


def _scrub(message: str) -> str:
    """Exchange error texts can echo request URLs: drop query strings (signatures, keys)."""
    return re.sub(r"\?[^\s]*", "?…", message)
