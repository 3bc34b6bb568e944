"""The strategy's compiled evaluation against vectorbt (issue 14).

1. one configuration on 1M bars: aaiti.strategy.fastsim (decisions and fills) vs vectorbt
   Portfolio.from_signals on the same signals and costs — target ≥ 3×;
2. 100 configurations (entry, exit, minimum holding): 100 compiled runs vs vectorbt's
   column-wise run of the 100 signal sets — target ≥ 10×;
3. final equity on the same signals where the two execution models coincide (all-in,
   next-open fills, fee on notional, no slippage): relative difference, target ≤ 1e-9.

Both sides are compiled in an untimed warm-up first. Run: python -m benchmarks.bench_strategy
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd

from benchmarks.common import peak_rss_mb, timed, write_result

BARS = 1_000_000
GRID = [
    (e, x, h)
    for e in (0.52, 0.54, 0.56, 0.58, 0.6)
    for x in (0.44, 0.46, 0.48, 0.5)
    for h in (1, 2, 4, 8, 16)
]


def data():
    from aaiti.market.synthetic import GarchT, generate

    params = GarchT(mu=2.7e-4, omega=2.9e-6, alpha=0.1, beta=0.89, nu=3.3, timeframe="4h").rescaled(
        "1m"
    )
    t = generate(
        params, symbols=["SYN/USD"], start=datetime(2024, 1, 1, tzinfo=UTC), bars=BARS, seed=11
    )
    d = {k: t[k].to_numpy() for k in ("open", "high", "low", "close")}
    rng = np.random.default_rng(3)
    d["prob"] = np.clip(0.5 + rng.normal(0, 0.05, BARS), 0, 1)
    return d


def ours(d, enter, exit_, hold, slippage=0.0005):
    from aaiti.execution import StrategySpec, params_of
    from aaiti.strategy.fastsim import simulate_stream

    spec = StrategySpec(
        signal="probability", enter_long=enter, exit_long=exit_, min_hold_bars=hold, fraction=1.0
    )
    return simulate_stream(
        open_=d["open"],
        high=d["high"],
        low=d["low"],
        close=d["close"],
        score=d["prob"],
        prob=d["prob"],
        params=params_of(spec, bars_per_year=525_960),
        fee=0.001,
        slippage=slippage,
    )


def ours_grid(d, slippage=0.0005):
    from aaiti.execution import StrategySpec, params_of
    from aaiti.strategy.fastsim import simulate_grid

    P = np.vstack(
        [
            params_of(
                StrategySpec(
                    signal="probability", enter_long=e, exit_long=x, min_hold_bars=h, fraction=1.0
                ),
                bars_per_year=525_960,
            )
            for e, x, h in GRID
        ]
    )
    return simulate_grid(
        open_=d["open"],
        high=d["high"],
        low=d["low"],
        close=d["close"],
        score=d["prob"],
        prob=d["prob"],
        params=P,
        fee=0.001,
        slippage=slippage,
    )


AGREEMENT_BARS = 200_000  # after ~1M bars of noise trading vectorbt stops at its size floor


def vbt_run(d, held: np.ndarray, slippage=0.0005):
    import vectorbt as vbt

    held = held.astype(bool)
    prev = np.concatenate([np.zeros((1, *held.shape[1:]), bool), held[:-1]], axis=0)
    n = held.shape[1] if held.ndim == 2 else None
    price = d["open"] if n is None else np.repeat(d["open"][:, None], n, axis=1)
    close = d["close"] if n is None else np.repeat(d["close"][:, None], n, axis=1)
    return vbt.Portfolio.from_signals(
        pd.DataFrame(close) if n else pd.Series(close),
        held & ~prev,
        ~held & prev,
        price=price,
        fees=0.001,
        slippage=slippage,
        init_cash=1.0,
        freq="1min",
    )


def main() -> None:
    d = data()
    ours(d, 0.55, 0.5, 1)  # compile
    base = ours(d, 0.55, 0.5, 1)
    vbt_run({k: v[:1000] for k, v in d.items()}, base.held[:1000])  # compile
    single_ours = timed(lambda: ours(d, 0.55, 0.5, 1), repeat=7)
    single_vbt = timed(lambda: vbt_run(d, base.held).value(), repeat=7)
    helds = np.column_stack([ours(d, *g).held for g in GRID])
    grid = ours_grid(d)  # compile
    grid_ours = timed(lambda: ours_grid(d))
    grid_vbt = timed(lambda: vbt_run(d, helds).value(), repeat=1)
    finals = [ours(d, *g).equity[-1] for g in GRID]
    x = {k: v[:AGREEMENT_BARS] for k, v in d.items()}
    same = ours(x, 0.6, 0.45, 4, slippage=0.0)  # trades less: equity stays far from the floor
    vbt_equity = vbt_run(x, same.held, slippage=0.0).value().to_numpy()
    path = write_result(
        "strategy",
        {
            "bars": BARS,
            "reference": "vectorbt 1.0.0 Portfolio.from_signals, same signals and costs",
            "single": {
                "ours": single_ours,
                "vectorbt": single_vbt,
                "speedup": single_vbt["median_s"] / single_ours["median_s"],
                "target": 3,
            },
            "grid_100": {
                "ours": grid_ours,
                "vectorbt": grid_vbt,
                "speedup": grid_vbt["median_s"] / grid_ours["median_s"],
                "target": 10,
                "ours_is": "simulate_grid: the same core, configurations in parallel on the cores",
                "grid_equals_single_runs": bool(np.allclose(grid.final_equity, finals, rtol=1e-12)),
            },
            "final_equity": {
                "bars": AGREEMENT_BARS,
                "execution": "all-in, next-open fills, fee 10 bps on notional, no slippage",
                "ours": float(same.equity[-1]),
                "vectorbt": float(vbt_equity[-1]),
                "relative_difference": float(abs(same.equity[-1] / vbt_equity[-1] - 1)),
                "max_relative_difference_on_the_path": float(
                    np.max(np.abs(same.equity / vbt_equity - 1))
                ),
            },
            "peak_rss_mb": peak_rss_mb(),
        },
    )
    print(path.read_text())


if __name__ == "__main__":
    main()
