"""``aaiti import``: candle files a user brings, ingested through the same checks and
quarantine as any source, then gated (above both ``aaiti.market`` and ``aaiti.quality``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from aaiti.config import Settings
from aaiti.market.files import FilesSource, ImportOptions, skipped_files
from aaiti.market.ingest import IngestReport, ingest_stream
from aaiti.quality import RAW, GateResult, run_gates, validator_for
from aaiti.warehouse import Warehouse


@dataclass(frozen=True)
class ImportReport:
    ingested: list[IngestReport]
    gates: list[GateResult]
    skipped: list[str]  # files under the path that are not candles


def import_files(
    warehouse: Warehouse, settings: Settings, path: Path, options: ImportOptions
) -> ImportReport:
    """Read every file under ``path`` (all checked before anything is stored), ingest each
    stream through the same checks and quarantine as any source, then gate it: imported
    streams may lie outside the universe, and no stored stream reaches features ungated."""
    source = FilesSource(path, exchange=options.exchange or "", options=options)
    streams = source.streams()
    first = {s: source.candles(s)["ts"].min() for s in streams}  # reads and checks all
    ingested = [
        ingest_stream(warehouse, source, s, kind="import", since=first[s].to_pydatetime())
        for s in streams
        if not pd.isna(first[s])
    ]
    gates = run_gates(warehouse, settings.quality, streams, checkpoint=RAW,
                      validator=validator_for(settings))  # fmt: skip
    return ImportReport(ingested, gates, skipped_files(Path(path)))
