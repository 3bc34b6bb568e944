"""Ingestion of one stream: source → validation → quarantine / upsert, with a run record.

Network I/O happens outside the writer lock; every flush of fetched candles is one short
transaction that writes the candles, their rejected rows, the high-water mark, the
breaker state and the run's progress together. A run killed at any point leaves the
warehouse consistent, and running it again converges to the same table.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol, overload

import duckdb
import pandas as pd

from aaiti.market import replay as replay_mod
from aaiti.market.breaker import BreakerState, CircuitBreaker
from aaiti.market.candles import Stream, split_valid
from aaiti.market.errors import InvalidRangeError
from aaiti.market.store import (
    UpsertResult,
    advance_high_water_mark,
    find_gaps,
    high_water_mark,
    quarantine_rows,
    upsert_candles,
)
from aaiti.market.timeframes import timeframe_ms
from aaiti.ops import raise_alert
from aaiti.warehouse import Warehouse
from aaiti.warehouse.sql import fetch_one, load_sql, run

log = logging.getLogger(__name__)
_SQL = "aaiti.market"


class CandleSource(Protocol):
    """What every source offers: one schema, validated streams, pages of candles."""

    name: str

    def validate_stream(self, symbol: str, timeframe: str) -> Stream: ...

    def fetch(
        self, stream: Stream, *, since: datetime | None, until: datetime | None
    ) -> Iterator[pd.DataFrame]: ...


@dataclass(frozen=True)
class ReplayConfig:
    start: datetime
    bars_per_run: int


@dataclass(frozen=True)
class IngestReport:
    """What one run of one stream did (also stored in ``ops.ingest_runs``)."""

    run_id: str
    kind: str
    source: str
    stream: Stream
    since: datetime | None
    until: datetime | None
    status: str
    fetched: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    duplicates: int = 0
    retries: int = 0
    duration_s: float = 0.0
    newest_ts: datetime | None = None
    error: str | None = None
    replay_exhausted: bool = False
    gaps: GapFillReport | None = None
    notes: tuple[str, ...] = ()
    reasons: tuple[tuple[str, int], ...] = ()  # why rows were rejected, the commonest first

    @property
    def accepted(self) -> int:
        """Rows stored or found stored already: fetched = accepted + duplicates + rejected."""
        return self.inserted + self.updated + self.unchanged

    def nothing_accepted(self) -> str | None:
        """Why a run that fetched rows stored none of them (None when some landed)."""
        if self.fetched == 0 or self.accepted:
            return None
        why = ", ".join(f"{n:,} as '{r}'" for r, n in self.reasons[:3])
        return (
            f"{self.stream}: none of its {self.fetched:,} row(s) was accepted — "
            f"{self.rejected:,} quarantined{' (' + why + ')' if why else ''}"
            f"{f', {self.duplicates:,} duplicate(s)' if self.duplicates else ''}"
        )


@dataclass(frozen=True)
class GapFillReport:
    found: int
    refetched: int
    bars_missing: int
    bars_filled: int


@dataclass
class _Tally:
    fetched: int = 0
    rejected: int = 0
    duplicates: int = 0
    upsert: UpsertResult = field(default_factory=lambda: UpsertResult(0, 0, 0))
    newest: datetime | None = None
    notes: list[str] = field(default_factory=list)
    reasons: Counter[str] = field(default_factory=Counter)  # each rejected row's reasons


def _held(blocked: int) -> Counter[str]:
    """Candles identical to ones a quality gate quarantined: not stored again."""
    return Counter({"held in a quality gate's quarantine": blocked} if blocked else {})


@overload
def _utc(value: datetime) -> datetime: ...
@overload
def _utc(value: None) -> None: ...
@overload
def _utc(value: datetime | None) -> datetime | None: ...
def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _load_breaker(con: duckdb.DuckDBPyConnection, breaker: CircuitBreaker) -> None:
    row = fetch_one(con, load_sql(_SQL, "breaker_get"), [breaker.state.exchange])
    if row:
        state, failures, opens, opened_at, cooldown, last_error = row
        breaker.state = BreakerState(
            breaker.state.exchange,
            state,
            failures,
            opens,
            float(opened_at) if opened_at is not None else None,
            cooldown,
            last_error,
        )


def _save_breaker(con: duckdb.DuckDBPyConnection, breaker: CircuitBreaker) -> None:
    """Persist the breaker; an opening (a new one, not one already stored) raises an alert."""

    s = breaker.state
    before = fetch_one(con, load_sql(_SQL, "breaker_get"), [s.exchange])
    if s.state == "open" and (before is None or before[0] != "open" or before[2] != s.open_count):
        raise_alert(
            con,
            source="ingest",
            severity="critical",
            dedup_key=f"breaker:{s.exchange}",
            message=(
                f"circuit breaker for {s.exchange} opened after {s.consecutive_failures} "
                f"consecutive failures (last: {s.last_error}); cool-down {s.cooldown_s:.0f} s"
            ),
        )
    run(
        con,
        load_sql(_SQL, "breaker_set"),
        [
            s.exchange,
            s.state,
            s.consecutive_failures,
            s.open_count,
            s.opened_at,
            s.cooldown_s,
            s.last_error,
            datetime.now(UTC),
        ],
    )


def ingest_stream(
    warehouse: Warehouse,
    source: CandleSource,
    stream: Stream,
    *,
    kind: str = "ingest",
    since: datetime | None = None,
    until: datetime | None = None,
    replay: ReplayConfig | None = None,
    default_since: datetime | None = None,
    default_lookback_bars: int = 500,
    flush_rows: int = 50_000,
    progress: Callable[[datetime, int], None] | None = None,
    now: datetime | None = None,
) -> IngestReport:
    """Fetch, validate and store one stream; returns (and records) what happened.

    Without ``since`` the run continues from the stream's high-water mark. With ``replay``
    (the sample source) the window is bounded by the market-replay clock, which the run
    advances in the same transaction as the candles it releases.
    """
    since, until = _utc(since), _utc(until)
    if since and until and since >= until:
        raise InvalidRangeError(
            f"since ({since:%Y-%m-%d %H:%M}) must be before until ({until:%Y-%m-%d %H:%M})"
        )
    job = _Run(
        warehouse, source, stream, kind=kind, replay=replay,
        run_id=f"{kind}-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}",
    )  # fmt: skip
    since, until = job.start(
        since=since, until=until, default_since=default_since,
        default_lookback_bars=default_lookback_bars, now=now,
    )  # fmt: skip
    try:
        if until is None or since is None or since < until:
            for page in source.fetch(stream, since=since, until=until):
                job.take(page, now=now, progress=progress)
                if job.buffered >= flush_rows:
                    job.flush(final=False)
        job.flush(final=True)
    except BaseException as err:
        job.finish(status="failed", error=f"{type(err).__name__}: {err}")
        raise
    job.finish(status="ok", error=None)
    return job.report(since=since, until=until)


class _Run:
    """One ingest run's shell: its record, its window, its buffer and its flushes (each
    flush one writer transaction)."""

    def __init__(self, warehouse: Warehouse, source: CandleSource, stream: Stream, *,
                 kind: str, replay: ReplayConfig | None, run_id: str) -> None:  # fmt: skip
        self.warehouse, self.source, self.stream = warehouse, source, stream
        self.kind, self.replay, self.run_id = kind, replay, run_id
        self.breaker: CircuitBreaker | None = getattr(source, "breaker", None)
        self.started = time.monotonic()
        self.tally = _Tally()
        self.replay_step: replay_mod.ReplayStep | None = None
        self.buffer: list[pd.DataFrame] = []
        self.buffered = 0

    def start(
        self,
        *,
        since: datetime | None,
        until: datetime | None,
        default_since: datetime | None,
        default_lookback_bars: int,
        now: datetime | None,
    ) -> tuple[datetime | None, datetime | None]:
        """Abandon dead runs of the stream, load the breaker, decide the window and record
        the run as running; the window (since, until)."""
        stream, replay = self.stream, self.replay
        step = timedelta(milliseconds=timeframe_ms(stream.timeframe))
        with self.warehouse.writer(purpose=f"{self.kind} {stream}") as con:
            for stale_id, pid in con.execute(
                load_sql(_SQL, "runs_running"), [stream.exchange, stream.symbol, stream.timeframe]
            ).fetchall():
                if not _pid_alive(pid):
                    run(con, load_sql(_SQL, "run_abandon"), [stale_id])
            if self.breaker is not None:
                _load_breaker(con, self.breaker)
            hwm = high_water_mark(con, stream=stream)
            if replay is not None:
                since, until = self._replay_window(con, hwm, step, since, until)
            elif since is None:
                if hwm is not None:
                    since = hwm + step
                elif default_since is not None:
                    since = default_since
                else:
                    since = (now or datetime.now(UTC)) - step * default_lookback_bars
            run(
                con,
                load_sql(_SQL, "run_start"),
                [self.run_id, os.getpid(), self.kind, self.source.name, stream.exchange,
                 stream.symbol, stream.timeframe, since, until, datetime.now(UTC)],
            )  # fmt: skip
        return since, until

    def _replay_window(
        self,
        con: duckdb.DuckDBPyConnection,
        hwm: datetime | None,
        step: timedelta,
        since: datetime | None,
        until: datetime | None,
    ) -> tuple[datetime | None, datetime | None]:
        """Under market replay: an ingest releases the next bars; a backfill may not run
        ahead of the replay clock."""
        replay, stream = self.replay, self.stream
        assert replay is not None
        candles = self.source.candles(stream)  # type: ignore[attr-defined]
        self.replay_step = replay_mod.next_step(
            candles,
            released_until=replay_mod.replay_clock(con, stream),
            start=replay.start,
            bars_per_run=replay.bars_per_run,
            timeframe=stream.timeframe,
        )
        if self.kind == "ingest":
            return since or (hwm + step if hwm else None), self.replay_step.until
        released = replay_mod.replay_clock(con, stream) or _utc(replay.start)
        return since, (min(until, released) if until else released)

    def take(
        self,
        page: pd.DataFrame,
        *,
        now: datetime | None,
        progress: Callable[[datetime, int], None] | None,
    ) -> None:
        """One fetched page: validated, its rejected rows quarantined at once, the rest
        buffered."""
        tally, stream = self.tally, self.stream
        tally.fetched += len(page)
        checked = split_valid(page, stream=stream, now=now or datetime.now(UTC))
        tally.duplicates += checked.duplicates_dropped
        tally.notes.extend(checked.notes)
        if not checked.rejected.empty:
            tally.rejected += len(checked.rejected)
            tally.reasons.update(checked.rejected["reason"])
            with self.warehouse.writer(purpose=f"{self.kind} {stream}: quarantine") as con:
                quarantine_rows(
                    con, checked.rejected, batch_id=self.run_id, source=self.source.name
                )
            log.warning(
                "%s: %d row(s) quarantined, first reason: %s",
                stream,
                len(checked.rejected),
                checked.rejected["reason"].iloc[0],
            )
        if not checked.valid.empty:
            self.buffer.append(checked.valid)
            self.buffered += len(checked.valid)
            if progress:
                progress(checked.valid["ts"].max().to_pydatetime(), tally.fetched)

    def flush(self, *, final: bool) -> None:
        """The buffer stored, the high-water mark (and, last, the replay clock) advanced and
        the run's progress recorded, in one transaction."""
        tally, stream = self.tally, self.stream
        batch = pd.concat(self.buffer, ignore_index=True) if self.buffer else None
        if batch is not None and not batch.empty:
            before = len(batch)
            batch = batch.drop_duplicates(
                subset=["exchange", "symbol", "timeframe", "ts"], keep="last"
            ).sort_values("ts")
            tally.duplicates += before - len(batch)
        with self.warehouse.writer(purpose=f"{self.kind} {stream}") as con:
            if batch is not None and not batch.empty:
                tally.upsert = tally.upsert + upsert_candles(con, batch, batch_id=self.run_id)
                newest = batch["ts"].max().to_pydatetime()
                tally.newest = max(tally.newest, newest) if tally.newest else newest
                advance_high_water_mark(
                    con, source=self.source.name, stream=stream, newest_ts=newest
                )
            if (
                final
                and self.replay is not None
                and self.replay_step is not None
                and (self.kind == "ingest")
            ):
                replay_mod.save_clock(
                    con,
                    stream,
                    start=self.replay.start,
                    bars_per_run=self.replay.bars_per_run,
                    released_until=self.replay_step.until,
                )
            if self.breaker is not None:
                _save_breaker(con, self.breaker)
            u = tally.upsert
            run(
                con,
                load_sql(_SQL, "run_progress"),
                [self.run_id, tally.fetched, u.inserted, u.updated, u.unchanged, tally.rejected,
                 getattr(self.source, "retries", 0), None],
            )  # fmt: skip
        self.buffer, self.buffered = [], 0

    def finish(self, *, status: str, error: str | None) -> None:
        _finish(self.warehouse, self.run_id, self.tally, self.source, self.breaker,
                status=status, started=self.started, error=error)  # fmt: skip

    def report(self, *, since: datetime | None, until: datetime | None) -> IngestReport:
        u, tally = self.tally.upsert, self.tally
        return IngestReport(
            run_id=self.run_id,
            kind=self.kind,
            source=self.source.name,
            stream=self.stream,
            since=since,
            until=until,
            status="ok",
            fetched=tally.fetched,
            inserted=u.inserted,
            updated=u.updated,
            unchanged=u.unchanged,
            rejected=tally.rejected + u.blocked,
            duplicates=tally.duplicates,
            reasons=tuple((tally.reasons + _held(u.blocked)).most_common()),
            retries=getattr(self.source, "retries", 0),
            duration_s=time.monotonic() - self.started,
            newest_ts=tally.newest,
            replay_exhausted=bool(self.replay_step and self.replay_step.exhausted),
            notes=tuple(tally.notes),
        )


def _finish(
    warehouse: Warehouse,
    run_id: str,
    tally: _Tally,
    source: CandleSource,
    breaker: CircuitBreaker | None,
    *,
    status: str,
    started: float,
    error: str | None,
) -> None:
    u = tally.upsert
    try:
        with warehouse.writer(purpose=f"finish {run_id}") as con:
            if breaker is not None:
                _save_breaker(con, breaker)
            run(
                con,
                load_sql(_SQL, "run_finish"),
                [
                    run_id,
                    status,
                    datetime.now(UTC),
                    time.monotonic() - started,
                    error,
                    tally.fetched,
                    u.inserted,
                    u.updated,
                    u.unchanged,
                    tally.rejected + u.blocked,
                    getattr(source, "retries", 0),
                    "; ".join(tally.notes) or None,
                ],
            )
    except Exception:  # recording the failure must not hide the original error
        if status == "ok":
            raise
        log.exception("could not record the end of run %s", run_id)


def fill_gaps(
    warehouse: Warehouse,
    source: CandleSource,
    stream: Stream,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    recheck: bool = False,
) -> GapFillReport:
    """Find holes in the stored stream and ask the source for them again.

    Holes the source could not fill before are skipped unless ``recheck`` (a real exchange
    outage stays a hole; asking for it on every run would only burn rate limit).
    """
    since, until = _utc(since), _utc(until)
    with warehouse.writer(purpose=f"gaps {stream}") as con:
        gaps = find_gaps(con, stream=stream, since=since, until=until)
        known = {
            _utc(a): _utc(b)
            for a, b in con.execute(
                load_sql(_SQL, "gap_checks_done"),
                [stream.exchange, stream.symbol, stream.timeframe],
            ).fetchall()
        }
    step = timedelta(milliseconds=timeframe_ms(stream.timeframe))
    refetched = missing_total = filled_total = 0
    for gap in gaps:
        missing_total += gap.missing
        if not recheck and known.get(gap.first) == gap.last:
            continue
        refetched += 1
        pages = list(source.fetch(stream, since=gap.first, until=gap.last + step))
        valid = [split_valid(p, stream=stream, now=datetime.now(UTC)).valid for p in pages]
        batch = pd.concat(valid, ignore_index=True) if valid else pd.DataFrame()
        with warehouse.writer(purpose=f"gaps {stream}") as con:
            filled = 0
            if not batch.empty:
                batch = batch.drop_duplicates(
                    subset=["exchange", "symbol", "timeframe", "ts"], keep="last"
                )
                filled = upsert_candles(
                    con, batch, batch_id=f"gap-fill-{uuid.uuid4().hex[:8]}"
                ).inserted
            run(
                con,
                load_sql(_SQL, "gap_check_record"),
                [
                    stream.exchange,
                    stream.symbol,
                    stream.timeframe,
                    gap.first,
                    gap.last,
                    gap.missing,
                    filled,
                    datetime.now(UTC),
                ],
            )
        filled_total += filled
    return GapFillReport(len(gaps), refetched, missing_total, filled_total)
