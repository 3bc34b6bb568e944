"""Which new bars a cycle steps, and in what order: the bars the account has not stepped,
with the pinned model's predictions, kept in bar time across streams that arrive at
different cycles (late bars skipped and their closes restated, early ones left waiting)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pandas as pd

from aaiti.config import TradingSettings
from aaiti.execution.broker import PaperBroker
from aaiti.execution.session import stream_bars
from aaiti.market.timeframes import timeframe_ms
from aaiti.ml.tracking import model_name
from aaiti.ops import raise_alert
from aaiti.trading.book import SQL, Con
from aaiti.warehouse.sql import fetch_one, load_sql, run

log = logging.getLogger(__name__)


def new_bars(
    con: Con, cfg: TradingSettings, timeframe: str, *, model_version: int | None
) -> tuple[pd.DataFrame, bool]:
    """The closed bars this account has not stepped through, with the pinned model's
    predictions; and whether any prediction of that version was found for them."""
    name = model_name(timeframe)
    bars = (
        con.sql(load_sql(SQL, "new_bars"), params=[timeframe, cfg.symbols, name, cfg.account])
        .to_arrow_table()
        .to_pandas()
    )
    if bars.empty:
        return bars, True
    first = bars["ts"].min().to_pydatetime()
    preds = (
        con.sql(
            load_sql(SQL, "predictions_at"), params=[timeframe, name, first, model_version or -1]
        )
        .to_arrow_table()
        .to_pandas()
    )
    return with_predictions(bars, preds), not preds.empty


def with_predictions(bars: pd.DataFrame, preds: pd.DataFrame) -> pd.DataFrame:
    """Each bar with its prediction of the pinned model version (NaN where none)."""
    p = preds.rename(columns={"ts": "prediction_ts"}).assign(ts=lambda f: f["prediction_ts"])
    cols = ["exchange", "symbol", "ts", "prediction_ts", "probability", "model_name",
            "model_version", "run_id", "atr_14", "realized_vol_20"]  # fmt: skip
    return bars.merge(p[cols], on=["exchange", "symbol", "ts"], how="left")


@dataclass(frozen=True)
class InOrder:
    """The new bars by what the account may do with them this cycle."""

    now: pd.DataFrame  # stepped now, in bar-time order
    late: pd.DataFrame  # older than a bar time the account has stepped: skipped
    waiting: pd.DataFrame  # past a slower stream's newest bar: left for a later cycle
    until: pd.Timestamp | None  # the newest bar time stepped now (None: no bound)


def in_order(
    bars: pd.DataFrame,
    *,
    stepped: pd.Timestamp | None,
    newest: list[pd.Timestamp],
    bar: pd.Timedelta,
    max_wait: int,
) -> InOrder:
    """Keep the account in bar time. Streams' bars arrive at different cycles; stepped as
    they come, a late stream's fill met the cash other streams' later fills had left, and
    the equity rows between mixed bar times. So a bar time is stepped once every traded
    stream has reached it (``newest``: each one's newest bar); a stream more than
    ``max_wait`` bars behind the fastest is not waited for (it is down, not late). A bar
    older than one the account has stepped (``stepped``) is never stepped: it is late,
    and skipped."""
    late = bars["ts"] < stepped if stepped is not None else pd.Series(False, index=bars.index)
    until = min(t for t in newest if t >= max(newest) - max_wait * bar) if newest else None
    waiting = bars["ts"] > until if until is not None else pd.Series(False, index=bars.index)
    return InOrder(bars[~late & ~waiting], bars[late], bars[waiting & ~late], until)


def bars_to_step(
    con: Con, cfg: TradingSettings, timeframe: str, bars: pd.DataFrame, broker: PaperBroker
) -> tuple[pd.DataFrame, list[str]]:
    """The new bars the account steps now (see :func:`in_order`), and what to say about
    the rest: the late ones are skipped (their streams' cursors move past them, alerted,
    and their closes restate the equity rows of their times where the instrument is
    held), the waiting ones said."""
    if bars.empty:
        return bars, []
    (stepped,) = fetch_one(con, load_sql(SQL, "account_stepped"), [cfg.account, timeframe]) or (
        None,
    )
    bar = pd.Timedelta(milliseconds=timeframe_ms(timeframe))
    since = bars["ts"].min() - cfg.max_wait_bars * bar
    newest = con.execute(
        load_sql(SQL, "stream_newest"), [timeframe, cfg.symbols, model_name(timeframe), since]
    ).fetchall()
    split = in_order(
        bars,
        stepped=None if stepped is None else pd.Timestamp(stepped),
        newest=[pd.Timestamp(ts) for _, _, ts in newest],
        bar=bar,
        max_wait=cfg.max_wait_bars,
    )
    said = []
    late = _skip_late(con, cfg, timeframe, split.late, stepped)
    if not late.empty:
        _restate(con, cfg.account, late_marks(late, broker))
        said.append(_late_message(late, stepped))
    if not split.waiting.empty:
        slow = sorted(f"{ex}:{sym}" for ex, sym, ts in newest if pd.Timestamp(ts) == split.until)
        said.append(
            f"{len(split.waiting)} bar(s) after {split.until} wait for {', '.join(slow)} "
            f"(at most {cfg.max_wait_bars} bar(s) behind the others before they step on)"
        )
    return split.now, said


def _late_message(late: pd.DataFrame, stepped: object) -> str:
    streams = sorted(
        {f"{ex}:{sym}" for ex, sym in zip(late["exchange"], late["symbol"], strict=True)}
    )
    return (
        f"{len(late)} late bar(s) of {', '.join(streams)} skipped: they arrived after the "
        f"account had stepped {stepped}; their orders fill at the next bar stepped in order"
    )


def late_marks(late: pd.DataFrame, broker: PaperBroker) -> pd.DataFrame:
    """``ts, delta``: what each late close of a held instrument adds to the position value
    of its bar time's equity row, which marked it at its mark then (the broker's now: the
    instrument has not been stepped since)."""
    rows = []
    for b in stream_bars(late):
        pos = broker.positions.get(b.instrument)
        if pos is not None and abs(pos.quantity) > 1e-12:
            mark = broker.marks.get(b.instrument, pos.average_price)
            rows.append({"ts": b.ts, "delta": pos.quantity * (b.close - mark)})
    return pd.DataFrame(rows, columns=["ts", "delta"])


def _restate(con: Con, account: str, marks: pd.DataFrame) -> None:
    if marks.empty:
        return
    con.register("late_marks", marks)
    try:
        run(con, load_sql(SQL, "equity_restate"), [account])
        run(con, load_sql(SQL, "equity_drawdowns"), [account, marks["ts"].min()])
    finally:
        con.unregister("late_marks")


def _skip_late(
    con: Con, cfg: TradingSettings, timeframe: str, late: pd.DataFrame, stepped: object
) -> pd.DataFrame:
    """Move each stream's cursor past its bars older than the account's; alert those of
    streams it had stepped before (see :func:`sort_late`). Returns those streams' bars."""
    if late.empty:
        return late
    known = {
        (ex, sym)
        for ex, sym in late[["exchange", "symbol"]].drop_duplicates().itertuples(index=False)
        if fetch_one(con, load_sql(SQL, "cursor_get"), [cfg.account, ex, sym, timeframe])
        is not None
    }
    sorted_ = sort_late(late, known)
    for (ex, sym), ts in sorted_.cursors.items():
        run(con, load_sql(SQL, "cursor_upsert"), [cfg.account, ex, sym, timeframe, ts])
    for ex, sym in sorted_.joining:
        log.info("%s: %s:%s joins at %s", cfg.account, ex, sym, stepped)
    for (ex, sym), group in sorted_.late.groupby(["exchange", "symbol"]):
        raise_alert(
            con,
            source="trading",
            severity="warning",
            dedup_key=f"trading:{cfg.account}:{ex}:{sym}:late",
            message=f"{cfg.account}: {_late_message(group, stepped)}",
        )
    return sorted_.late


@dataclass(frozen=True)
class LateBars:
    cursors: dict[tuple[str, str], pd.Timestamp]  # each stream's cursor: past its late bars
    joining: list[tuple[str, str]]  # streams new to the account
    late: pd.DataFrame  # the bars of streams it had stepped before


def sort_late(late: pd.DataFrame, known: set[tuple[str, str]]) -> LateBars:
    """Bars older than the account's, by stream. A stream with no cursor (``known`` lacks
    it: a symbol just added) joins at the account's bar time, and its history is not late:
    alerted, each added symbol raised a warning."""
    cursors, joining, kept = {}, [], []
    for (ex, sym), group in late.groupby(["exchange", "symbol"]):
        cursors[(ex, sym)] = group["ts"].max()
        if (ex, sym) in known:
            kept.append(group)
        else:
            joining.append((ex, sym))
    return LateBars(cursors, joining, pd.concat(kept) if kept else late.iloc[:0])
