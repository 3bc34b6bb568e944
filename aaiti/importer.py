"""``aaiti import``: candle files a user brings, ingested through the same checks and
quarantine as any source, then gated (above both ``aaiti.market`` and ``aaiti.quality``)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

import pandas as pd

from aaiti.config import Settings
from aaiti.market.candles import Stream
from aaiti.market.files import FileImportError, FilesSource, ImportOptions, PassedOver
from aaiti.market.ingest import IngestReport, fill_gaps, ingest_stream
from aaiti.quality import RAW, GateResult, run_gates, validator_for
from aaiti.warehouse import Warehouse


@dataclass(frozen=True)
class ImportReport:
    ingested: list[IngestReport]
    gates: list[GateResult]
    passed_over: list[PassedOver]  # a folder's files not imported, and why
    empty: list[Stream] = field(default_factory=list)  # files that hold no row

    def refusals(self) -> list[str]:
        """Why nothing usable landed, per file that gave nothing or was refused (empty:
        every file gave rows)."""
        said = [f"{p.file}: {p.reason}" for p in self.passed_over if p.refused]
        said += [f"{s}: the file holds no candle (a header, or nothing)" for s in self.empty]
        return said + [why for r in self.ingested if (why := r.nothing_accepted())]


def import_files(
    warehouse: Warehouse, settings: Settings, path: Path, options: ImportOptions
) -> ImportReport:
    """Read every file under ``path`` (all checked before anything is stored), ingest each
    stream through the same checks and quarantine as any source, then gate it: imported
    streams may lie outside the universe, and no stored stream reaches features ungated."""
    source = FilesSource(path, exchange=options.exchange or "", options=options)
    first, refused = _first_bars(source, folder=Path(path).is_dir())
    filled = [s for s, ts in first.items() if not pd.isna(ts)]
    ingested = [_ingested(warehouse, source, s, since=first[s].to_pydatetime()) for s in filled]
    gates = run_gates(warehouse, settings.quality, filled, checkpoint=RAW,
                      validator=validator_for(settings))  # fmt: skip
    empty = [s for s, ts in first.items() if pd.isna(ts)]
    return ImportReport(ingested, gates, source.passed_over + refused, empty)


def _first_bars(
    source: FilesSource, *, folder: bool
) -> tuple[dict[Stream, pd.Timestamp], list[PassedOver]]:
    """Every file read and checked before anything is stored: each stream's first bar. In
    a folder, a file that cannot be read as candles is refused by name, the rest go on."""
    first, refused = {}, []
    for stream in source.streams():
        try:
            first[stream] = source.candles(stream)["ts"].min()
        except FileImportError as err:
            if not folder:
                raise
            file = source.file_of(stream)
            refused.append(PassedOver(file, str(err).split(": ", 1)[-1], refused=True))
    return first, refused


def _ingested(
    warehouse: Warehouse, source: FilesSource, stream: Stream, *, since: datetime
) -> IngestReport:
    """One file's stream stored, and the holes between its bars counted and recorded
    (``ops.gap_checks``: the file itself is asked for them once, and cannot fill them)."""
    report = ingest_stream(warehouse, source, stream, kind="import", since=since)
    if not report.accepted:
        return report
    return replace(report, gaps=fill_gaps(warehouse, source, stream, since=since))
