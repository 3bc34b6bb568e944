"""The quality gates' pure core: a checkpoint's rule parameters from the settings, and
batches in, verdicts out — which rows are quarantined, whether a stream passes or is
blocked, and why. No I/O; ``aaiti.quality.gate`` reads, validates, quarantines and writes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd

from aaiti.config import QualitySettings, Settings
from aaiti.errors import InputError
from aaiti.market.candles import Stream
from aaiti.quality.checks import VolumeRule
from aaiti.quality.gx import ExpectationOutcome, GxValidator, SuiteOutcome

RAW, FEATURES = "raw", "features"
SUITES = {RAW: "raw_ohlcv", FEATURES: "features"}
MAX_PASSES = 3
#: Failures that block the stream rather than quarantine a row: one bar cannot be blamed
#: for a level the series keeps, or for a jump whose next bars have not arrived.
BLOCKING_COLUMNS = frozenset(
    {"level_shift", "unconfirmed_jump", "volume_shift", "volume_unconfirmed", "wick_unconfirmed"}
)
#: Rows per GX batch when whole histories are judged (memory, not speed, sets it).
FULL_BATCH_ROWS = 600_000


@dataclass(frozen=True)
class GateResult:
    stream: Stream
    checkpoint: str
    status: str  # passed | blocked
    run_id: str
    attempts: list[SuiteOutcome] = field(default_factory=list)
    quarantined: int = 0
    reason: str | None = None
    mode: str = "full"  # full | incremental
    rows_judged: int = 0

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    @property
    def final(self) -> SuiteOutcome:
        return self.attempts[-1]


# --- parameters ----------------------------------------------------------------------------


def raw_parameters(rules: QualitySettings, stream: Stream) -> dict[str, Any]:
    """The raw suite's $PARAMETERs for a stream, from the settings."""
    bounds = rules.max_abs_log_return
    if stream.timeframe not in bounds:
        raise InputError(
            f"no one-bar return bound for timeframe {stream.timeframe}; "
            f"AAITI_QUALITY_MAX_ABS_LOG_RETURN has {sorted(bounds)}"
        )
    return {
        "symbols": [stream.symbol],
        "max_abs_log_return": bounds[stream.timeframe],
        "max_spike": rules.max_spike,
        "max_stale_run": rules.max_stale_run,
        "max_zero_volume_run": rules.max_zero_volume_run,
        "max_gap_hours": rules.max_gap_hours,
        "max_volume_z": rules.max_volume_z,
        "max_timeframe_mismatch": rules.max_timeframe_mismatch,
    }


def volume_rule(rules: QualitySettings) -> VolumeRule:
    return VolumeRule(
        window=rules.volume_window,
        min_factor=rules.volume_min_factor,
        max_z=rules.max_volume_z,
    )


def rules_hash(rules: QualitySettings, checkpoint: str) -> str:
    """What a verdict depends on besides the data: a change re-judges whole histories."""
    q = rules.model_dump(exclude={"incremental", "quarantine"})
    blob = json.dumps([checkpoint, q], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def window_rows(rules: QualitySettings) -> tuple[int, int]:
    """(context, rejudge): rows before the first new one that the rules read, and how many
    of those are judged again because new bars change their verdict (a spike's or wick's
    next bar, a run that grows, a jump's confirming bars)."""
    runs = max(rules.max_stale_run, rules.max_zero_volume_run)
    confirm = rules.shift_confirm_bars
    rejudge = max(runs, confirm, 1) + 1
    context = max(runs, rules.volume_window) + 1
    return context, rejudge


def validator_for(settings: Settings, *, docs: bool = True) -> GxValidator:
    return GxValidator(
        expectations_dir=settings.expectations_dir,
        gx_dir=settings.gx_dir,
        docs=docs,
        keep_results=settings.quality.docs_keep,
        dask_address=settings.dask_address,
    )


# --- the pure core: batches in, verdicts out -----------------------------------------------


@dataclass(frozen=True)
class Plan:
    """One stream's part of a run: which rows the rules read and which they judge."""

    stream: Stream
    mode: str  # full | incremental | unchanged
    since: pd.Timestamp | None = None  # first row read (None: the whole history)
    judge_from: pd.Timestamp | None = None  # first row judged (None: every row read)
    ingest_mark: pd.Timestamp | None = None
    rows: int = 0  # expected rows read (sizes the batches)


def judged(prepared: pd.DataFrame, plan: Plan, rejudge: int) -> pd.DataFrame:
    """The rows a plan judges: from ``rejudge`` rows before the first changed one."""
    if plan.judge_from is None:
        return prepared
    if rejudge == 0:
        return prepared[prepared["ts"] >= plan.judge_from]
    before = prepared.index[prepared["ts"] < plan.judge_from]
    start = before[-rejudge] if len(before) >= rejudge else prepared.index[0]
    return prepared.loc[start:]


def split_outcome(outcome: SuiteOutcome, rows: dict[Stream, int]) -> dict[Stream, SuiteOutcome]:
    """A many-stream batch's outcome as one outcome per stream (its own offending rows)."""
    per: dict[Stream, list[ExpectationOutcome]] = {s: [] for s in rows}
    for o in outcome.outcomes:
        mine: dict[Stream, list[tuple[str, str, str, str]]] = {s: [] for s in rows}
        for key in o.unexpected_keys:
            mine.setdefault(Stream(*key[:3]), []).append(key)
        for s in rows:
            keys = mine.get(s, [])
            named = bool(o.unexpected_keys)
            success = o.success or (named and not keys)
            per[s].append(
                replace(
                    o,
                    success=success,
                    unexpected_count=len(keys) if named else o.unexpected_count,
                    unexpected_ts=[k[3] for k in keys] if named else o.unexpected_ts,
                    unexpected_keys=keys,
                )
            )
    return {s: SuiteOutcome(outcome.suite, rows[s], per[s]) for s in rows}


def rejects(outcomes: dict[Stream, SuiteOutcome]) -> pd.DataFrame:
    """(stream, ts) → reason for the rows to quarantine in this pass (never a blocking row)."""
    out = []
    for stream, outcome in outcomes.items():
        reasons: dict[str, list[str]] = {}
        blocking: set[str] = set()
        for o in outcome.critical_failures:
            for ts in o.unexpected_ts:
                if o.column in BLOCKING_COLUMNS:
                    blocking.add(ts)
                reasons.setdefault(ts, []).append(f"gate: {o.description} ({o.expectation})")
        out += [
            (stream.exchange, stream.symbol, stream.timeframe, ts, "; ".join(r))
            for ts, r in reasons.items()
            if ts not in blocking
        ]
    frame = pd.DataFrame(out, columns=["exchange", "symbol", "timeframe", "ts", "reason"])
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    return frame


def verdict(attempts: list[SuiteOutcome]) -> tuple[str, str | None]:
    """(status, reason): blocked while a critical expectation still fails; the reason names
    what the first attempt found."""
    status = "passed" if attempts[-1].passed else "blocked"
    first = attempts[0].critical_failures
    reason = (
        "; ".join(
            f"{o.description}: {o.unexpected_count or 0} row(s)"
            + (f", e.g. {o.unexpected_ts[0]}" if o.unexpected_ts else "")
            for o in first
        )
        if first
        else None
    )
    return status, reason


def batches(plans: list[Plan], limit: int = FULL_BATCH_ROWS) -> list[list[Plan]]:
    """Plans grouped so that each batch's rows stay under ``limit`` (one at least)."""
    out: list[list[Plan]] = []
    size = 0
    for p in sorted(plans, key=lambda p: (p.stream.timeframe, str(p.stream))):
        if not out or size + p.rows > limit:
            out.append([])
            size = 0
        out[-1].append(p)
        size += p.rows
    return out
