"""Synthetic candles for scale tests and benchmarks only — always ``exchange='synthetic'``.

Returns follow a GARCH(1,1) with Student-t innovations (volatility clustering and fat
tails) whose parameters are fitted by maximum likelihood on the bundled real candles. The
per-bar variance is rescaled to the requested timeframe (variance grows with time), the
per-bar persistence is kept. Same seed and symbol → same candles.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pyarrow as pa

from aaiti.errors import InputError
from aaiti.market.candles import CANDLE_SCHEMA, Stream
from aaiti.market.timeframes import timeframe_ms

SYNTHETIC_EXCHANGE = "synthetic"


@dataclass(frozen=True)
class GarchT:
    """Per-bar GARCH(1,1)-t of log returns at ``timeframe``."""

    mu: float
    omega: float
    alpha: float
    beta: float
    nu: float
    timeframe: str

    @property
    def unconditional_var(self) -> float:
        return self.omega / (1.0 - self.alpha - self.beta)

    def rescaled(self, timeframe: str) -> GarchT:
        """Same clustering and tails, variance and drift scaled to another bar length."""
        k = timeframe_ms(timeframe) / timeframe_ms(self.timeframe)
        var = self.unconditional_var * k
        return GarchT(
            mu=self.mu * k,
            omega=var * (1.0 - self.alpha - self.beta),
            alpha=self.alpha,
            beta=self.beta,
            nu=self.nu,
            timeframe=timeframe,
        )


MAX_PERSISTENCE = 0.99


def fit_garch_t(log_returns: np.ndarray, *, timeframe: str) -> GarchT:
    """GARCH(1,1)-t by maximum likelihood with variance targeting.

    Returns are winsorised at the 0.05 %/99.95 % quantiles first (the sample holds real bad
    prints such as ETH's 0.10 flash crash), the unconditional variance is pinned to theirs,
    and persistence alpha + beta is kept at most 0.99 so the variance stays finite.
    """
    from scipy import optimize, signal, special

    r = np.asarray(log_returns, dtype=float)
    r = r[np.isfinite(r)]
    lo, hi = np.quantile(r, [0.0005, 0.9995])
    r = np.clip(r, lo, hi)
    mu = float(np.mean(r))
    var = float(np.var(r))
    eps = r - mu
    e2 = np.concatenate([[var], eps[:-1] ** 2])

    def unpack(theta: np.ndarray) -> tuple[float, float, float]:
        persistence = MAX_PERSISTENCE / (1 + np.exp(-theta[0]))
        alpha = persistence / (1 + np.exp(-theta[1]))
        return alpha, persistence - alpha, 2.05 + float(np.exp(theta[2]))

    def nll(theta: np.ndarray) -> float:
        alpha, beta, nu = unpack(theta)
        omega = var * (1 - alpha - beta)
        # sigma2_t = omega + alpha*e2_{t-1} + beta*sigma2_{t-1}: a first-order linear filter
        sigma2 = signal.lfilter([1.0], [1.0, -beta], omega + alpha * e2)
        sigma2 = np.maximum(sigma2, 1e-300)
        ll = (
            special.gammaln((nu + 1) / 2)
            - special.gammaln(nu / 2)
            - 0.5 * np.log(np.pi * (nu - 2) * sigma2)
            - (nu + 1) / 2 * np.log1p(eps**2 / ((nu - 2) * sigma2))
        )
        return -float(np.sum(ll))

    res = optimize.minimize(
        nll,
        np.array([2.0, -2.0, np.log(3.0)]),
        method="Nelder-Mead",
        options={"maxiter": 2000, "xatol": 1e-6, "fatol": 1e-6},
    )
    alpha, beta, nu = unpack(res.x)
    return GarchT(mu, var * (1 - alpha - beta), alpha, beta, nu, timeframe)


def calibrate_on_sample(frames: list[pd.DataFrame], *, timeframe: str) -> GarchT:
    """Fit on the pooled log returns of real candle frames of one timeframe."""
    returns = [np.diff(np.log(f.sort_values("ts")["close"].to_numpy())) for f in frames]
    return fit_garch_t(np.concatenate(returns), timeframe=timeframe)


def _garch_paths(params: GarchT, z: np.ndarray, chunk: int = 64) -> np.ndarray:
    """Conditional variances for innovations ``z`` (bars × paths), vectorised in chunks.

    sigma2_t = omega + (alpha z_{t-1}^2 + beta) sigma2_{t-1} is linear in sigma2 with a
    time-varying coefficient c, so within a chunk sigma2_k = P_k (s0 + omega Σ 1/P_j) with
    P the running product of c; chunks stay short enough that P never under/overflows.
    """
    n, m = z.shape
    out = np.empty_like(z)
    s = np.full(m, params.unconditional_var)
    for start in range(0, n, chunk):
        zc = z[start : start + chunk]
        prev = np.vstack([z[start - 1 : start] if start else np.zeros((1, m)), zc[:-1]])
        c = params.alpha * prev**2 + params.beta
        if start == 0:
            c[0] = 1.0  # the first bar starts at the unconditional variance
        p = np.cumprod(c, axis=0)
        sig = p * (s + params.omega * np.cumsum(1.0 / p, axis=0))
        if start == 0:
            sig[0] = params.unconditional_var
        out[start : start + chunk] = sig
        s = sig[-1]
    return out


def generate(
    params: GarchT,
    *,
    symbols: list[str],
    start: datetime,
    bars: int,
    seed: int,
    start_price: float = 100.0,
) -> pa.Table:
    """``bars`` candles per symbol from ``start`` (an aligned open time), as Arrow."""
    step = timeframe_ms(params.timeframe)
    start_ms = int(start.timestamp() * 1000)
    if start_ms % step:
        raise ValueError(f"start {start} is not aligned to {params.timeframe}")
    tables = []
    for symbol in symbols:
        rng = np.random.default_rng([seed, zlib.crc32(symbol.encode())])
        t = rng.standard_t(params.nu, size=(bars, 1)) * np.sqrt((params.nu - 2) / params.nu)
        sigma2 = _garch_paths(params, t)[:, 0]
        sigma = np.sqrt(sigma2)
        r = params.mu + sigma * t[:, 0]
        close = start_price * np.exp(np.cumsum(r))
        open_ = np.concatenate([[start_price], close[:-1]])
        wick_hi = np.abs(rng.standard_normal(bars)) * sigma * 0.5
        wick_lo = np.abs(rng.standard_normal(bars)) * sigma * 0.5
        high = np.maximum(open_, close) * np.exp(wick_hi)
        low = np.minimum(open_, close) * np.exp(-wick_lo)
        volume = rng.lognormal(mean=3.0, sigma=0.5, size=bars) * (1.0 + np.abs(t[:, 0]))
        ts = start_ms + step * np.arange(bars, dtype=np.int64)
        tables.append(
            pa.table(
                {
                    "exchange": pa.array([SYNTHETIC_EXCHANGE] * bars, pa.string()),
                    "symbol": pa.array([symbol] * bars, pa.string()),
                    "timeframe": pa.array([params.timeframe] * bars, pa.string()),
                    "ts": pa.array(ts, pa.timestamp("ms", tz="UTC")),
                    "open": open_,
                    "high": high,
                    "low": low,
                    "close": close,
                    "volume": volume,
                },
                schema=CANDLE_SCHEMA,
            )
        )
    return pa.concat_tables(tables)


class SyntheticSource:
    """Deterministic synthetic streams starting at ``origin``; labelled synthetic everywhere."""

    name = "synthetic"
    exchange = SYNTHETIC_EXCHANGE

    def __init__(self, params: GarchT, *, seed: int, origin: datetime) -> None:
        self.params = params
        self.seed = seed
        self.origin = origin

    def validate_stream(self, symbol: str, timeframe: str) -> Stream:
        timeframe_ms(timeframe)
        if not symbol or "/" not in symbol:
            raise InputError(f"synthetic symbols look like BASE/QUOTE, got {symbol!r}")
        return Stream(SYNTHETIC_EXCHANGE, symbol, timeframe)

    def fetch(
        self, stream: Stream, *, since: datetime | None = None, until: datetime | None = None
    ) -> Iterator[pd.DataFrame]:
        """The path from ``origin`` up to ``until`` (default now), sliced from ``since``."""
        step = timeframe_ms(stream.timeframe)
        until = until or datetime.now(UTC)
        bars = max(0, (int(until.timestamp() * 1000) - int(self.origin.timestamp() * 1000)) // step)
        if bars == 0:
            return
        table = generate(
            self.params.rescaled(stream.timeframe),
            symbols=[stream.symbol],
            start=self.origin,
            bars=bars,
            seed=self.seed,
        )
        frame = table.to_pandas()
        if since is not None:
            frame = frame[frame["ts"] >= pd.Timestamp(since)]
        if not frame.empty:
            yield frame.reset_index(drop=True)
