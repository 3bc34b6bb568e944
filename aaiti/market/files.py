"""Candles from the user's own files: CSV, Parquet, Feather or JSON, one file or a folder.

A file's stream (exchange, symbol, timeframe) comes from options or from its path, in one
of two layouts read as they are, with no manifest to write:

- freqtrade's data folder: ``<exchange>/<BASE>_<QUOTE>-<timeframe>.feather|json|json.gz|
  parquet``, futures as ``<exchange>/futures/<BASE>_<QUOTE>_<SETTLE>-<timeframe>-futures.feather``
  (trades, mark, index and funding-rate files are not candles: passed over and listed, as
  are timeframes the pipeline does not run, such as 1w);
- AAITI's own: ``<exchange>/<BASE>-<QUOTE>/<timeframe>.<ext>`` (as ``data/sample/``).

Columns are found by name (``ts``/``timestamp``/``date``/``time``…, ``open``/``o``…) or
mapped with options; a numeric timestamp's unit is the option's or told by its magnitude;
a naive one is read in the option's timezone. Everything is read and checked before
anything is stored, so a bad file leaves the warehouse as it was.
"""

from __future__ import annotations

import gzip
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from aaiti.errors import InputError
from aaiti.market.candles import CANDLE_COLUMNS, Stream, check_names
from aaiti.market.sample import SampleSource
from aaiti.market.timeframes import SUPPORTED_TIMEFRAMES

FORMATS = {".csv": "csv", ".parquet": "parquet", ".feather": "feather", ".json": "json",
           ".json.gz": "json.gz"}  # fmt: skip
TS_UNITS = ("s", "ms", "us", "ns")
FIELDS = ("ts", "open", "high", "low", "close", "volume")
SYNONYMS = {
    "ts": ("ts", "timestamp", "date", "datetime", "time", "open_time", "opentime", "unix"),
    "open": ("open", "o"),
    "high": ("high", "h"),
    "low": ("low", "l"),
    "close": ("close", "c"),
    "volume": ("volume", "vol", "v"),
}
_FREQTRADE = re.compile(
    r"^(?P<base>[A-Za-z0-9]+)_(?P<quote>[A-Za-z0-9]+)(?:_(?P<settle>[A-Za-z0-9]+))?"
    r"-(?P<tf>\d+[smhdwM])(?:-(?P<kind>[a-z_]+))?$"
)
_NOT_CANDLES = ("mark", "index", "funding_rate", "premiumindex")
#: freqtrade's trades files: ``BTC_USDT-trades.feather`` (and the futures' ``…-trades``)
_TRADES = re.compile(r"^[A-Za-z0-9]+_[A-Za-z0-9]+(?:_[A-Za-z0-9]+)?-trades$")


@dataclass(frozen=True)
class PassedOver:
    """A file of a folder that was not imported, and why. ``refused``: a file that should
    have been candles and could not be read as them (the import says so and exits 2);
    otherwise a file that is not what the pipeline runs (listed, not an error)."""

    file: str
    reason: str
    refused: bool = False


class FileImportError(InputError):
    """A file that cannot be imported; the message names it and what is accepted."""


@dataclass(frozen=True)
class ImportOptions:
    exchange: str | None = None
    symbol: str | None = None
    timeframe: str | None = None
    columns: dict[str, str] = field(default_factory=dict)  # ours → the file's
    tz: str = "UTC"  # of naive timestamps
    ts_unit: str | None = None  # of numeric timestamps; None: told by magnitude

    def __post_init__(self) -> None:
        unknown = sorted(set(self.columns) - set(FIELDS))
        if unknown:
            raise FileImportError(
                f"cannot map column(s) {', '.join(unknown)}; accepted: {', '.join(FIELDS)}"
            )
        if self.ts_unit is not None and self.ts_unit not in TS_UNITS:
            raise FileImportError(
                f"unknown timestamp unit {self.ts_unit!r}; accepted: {', '.join(TS_UNITS)}"
            )
        if self.timeframe is not None and self.timeframe not in SUPPORTED_TIMEFRAMES:
            raise FileImportError(
                f"unsupported timeframe {self.timeframe!r}; supported: "
                f"{', '.join(SUPPORTED_TIMEFRAMES)}"
            )
        try:
            pd.Timestamp("2020-01-01").tz_localize(self.tz)
        except Exception:
            raise FileImportError(
                f"unknown timezone {self.tz!r}; use an IANA name such as UTC or Europe/Berlin"
            ) from None


def parse_columns(text: str | None) -> dict[str, str]:
    """``ts=Date,volume=Volume BTC`` → {"ts": "Date", "volume": "Volume BTC"}."""
    if not text:
        return {}
    out = {}
    for part in text.split(","):
        ours, sep, theirs = part.partition("=")
        if not sep or not ours.strip() or not theirs.strip():
            raise FileImportError(f"column mapping {part!r} is not ours=theirs (e.g. ts=Date)")
        out[ours.strip()] = theirs.strip()
    return out


def discover(path: Path, options: ImportOptions) -> pd.DataFrame:
    """The manifest of ``path``: one row per candle file (exchange, symbol, timeframe, file,
    format). A folder's other files are left out (see :func:`survey`)."""
    return survey(path, options)[0]


def survey(path: Path, options: ImportOptions) -> tuple[pd.DataFrame, list[PassedOver]]:
    """(the manifest, the files passed over and why). One file given by name must be
    candles; in a folder, a file that is not, or cannot be told apart, is named and passed
    over — one bad file never refuses the folder."""
    path = Path(path)
    if not path.exists():
        raise FileImportError(f"no file or folder at {path}")
    if path.is_file():
        if not _format(path):
            raise FileImportError(f"{path}: unknown format; accepted: {', '.join(FORMATS)}")
        found = _identify(path, path.parent, options)
        if isinstance(found, PassedOver):
            raise FileImportError(f"{path}: {found.reason}")
        return _checked_manifest([found]), []
    rows, passed = [], []
    for file in sorted(p for p in path.rglob("*") if _format(p)):
        try:
            found = _identify(file, path, options)
        except InputError as err:  # its path, or a name it gives: refused by name
            found = PassedOver(_relative(file, path), str(err).removeprefix(f"{file}: "), True)
        (passed if isinstance(found, PassedOver) else rows).append(found)
    if not rows:
        said = (
            f" ({len(passed)} passed over: {passed[0].file}: {passed[0].reason}…)" if passed else ""
        )
        raise FileImportError(
            f"no candle files under {path}; accepted: {', '.join(FORMATS)} files{said}"
        )
    return _checked_manifest(rows), passed


def _checked_manifest(rows: list[dict[str, str]]) -> pd.DataFrame:
    manifest = pd.DataFrame(rows)
    twice = manifest[manifest.duplicated(["exchange", "symbol", "timeframe"], keep=False)]
    if len(twice):
        r = twice.iloc[0]
        raise FileImportError(
            f"two files hold {r['exchange']}:{r['symbol']}:{r['timeframe']} "
            f"({', '.join(twice['file'].head(2))}); import them one at a time"
        )
    return manifest


def _format(path: Path) -> str | None:
    if not path.is_file():
        return None
    name = path.name.lower()
    return next(
        (f for ext, f in FORMATS.items() if name.endswith(ext) and len(name) > len(ext)), None
    )


def _stem(file: Path) -> str:
    """The name without its format's extension(s): ``BTC_USDT-1h.json.gz`` → ``BTC_USDT-1h``."""
    name = file.name
    ext = max((e for e in FORMATS if name.lower().endswith(e)), key=len, default=file.suffix)
    return name[: len(name) - len(ext)]


def _relative(file: Path, root: Path) -> str:
    return str(file.relative_to(root)) if file.is_relative_to(root) else str(file)


def _identify(file: Path, root: Path, options: ImportOptions) -> dict[str, str] | PassedOver:
    """The file's stream from options first, then its path; or why it is passed over."""
    found = _from_path(file)
    if isinstance(found, PassedOver):
        return PassedOver(_relative(file, root), found.reason)
    exchange, symbol, timeframe = (
        options.exchange or (found and found[0]),
        options.symbol or (found and found[1]),
        options.timeframe or (found and found[2]),
    )
    if not (exchange and symbol and timeframe):
        raise FileImportError(
            f"{file}: cannot tell its exchange, symbol and timeframe from its path; give "
            "--exchange, --symbol and --timeframe, or use freqtrade's layout "
            "(<exchange>/BTC_USDT-1h.feather) or AAITI's (<exchange>/BTC-USDT/1h.parquet)"
        )
    if timeframe not in SUPPORTED_TIMEFRAMES:
        reason = (
            f"unsupported timeframe {timeframe!r}; supported: {', '.join(SUPPORTED_TIMEFRAMES)}"
        )
        if options.timeframe:  # the user asked for it: an error, not a file to pass over
            raise FileImportError(f"{file}: {reason}")
        return PassedOver(
            _relative(file, root), f"timeframe {timeframe} is not one the pipeline runs"
        )
    check_names(exchange, symbol)
    return {"exchange": exchange, "symbol": symbol, "timeframe": timeframe,
            "file": _relative(file, root), "path": str(file), "format": _format(file) or ""}  # fmt: skip


def _from_path(file: Path) -> tuple[str, str, str] | PassedOver | None:
    stem = _stem(file)
    if _TRADES.match(stem):
        return PassedOver(str(file), "trades, not candles (freqtrade's -trades file)")
    match = _FREQTRADE.match(stem)
    if match:
        if match["kind"] in _NOT_CANDLES:
            return PassedOver(str(file), f"not candles ({match['kind'].replace('_', ' ')})")
        parent = file.parent
        exchange = parent.parent.name if parent.name == "futures" else parent.name
        symbol = f"{match['base']}/{match['quote']}".upper()
        if match["settle"]:
            symbol += f":{match['settle'].upper()}"
        return exchange.lower(), symbol, match["tf"]
    pair = file.parent.name
    if "-" in pair and stem in SUPPORTED_TIMEFRAMES:
        return file.parent.parent.name.lower(), pair.replace("-", "/").upper(), stem
    return None


def read_candles(row: pd.Series, options: ImportOptions) -> pd.DataFrame:
    """One file's rows as candles of its stream, sorted by ts, in UTC."""
    path = Path(row["path"])
    try:
        raw = _read(path, row["format"])
    except FileImportError:
        raise
    except Exception as err:
        raise FileImportError(f"{path}: cannot be read as {row['format']}: {err}") from None
    frame = _columns(raw, options, path)
    frame["ts"] = _timestamps(frame["ts"], options, path)
    for col in ("open", "high", "low", "close", "volume"):
        values = pd.to_numeric(frame[col], errors="coerce")
        if values.isna().any() and not frame[col].isna().all():
            bad = frame.loc[values.isna(), col].iloc[0]
            raise FileImportError(f"{path}: column {col} holds {bad!r}, not a number")
        frame[col] = values.astype(float)
    frame["exchange"], frame["symbol"], frame["timeframe"] = (
        row["exchange"], row["symbol"], row["timeframe"],
    )  # fmt: skip
    frame = frame.loc[:, list(CANDLE_COLUMNS)].sort_values("ts", kind="stable")
    return frame.reset_index(drop=True)


def _read(path: Path, fmt: str) -> pd.DataFrame:
    if fmt == "csv":
        return pd.read_csv(path)
    if fmt == "parquet":
        return pd.read_parquet(path)
    if fmt == "feather":
        return pd.read_feather(path)
    text = gzip.decompress(path.read_bytes()).decode() if fmt == "json.gz" else path.read_text()
    data = json.loads(text)
    if isinstance(data, list) and data and isinstance(data[0], list):  # freqtrade's JSON
        return pd.DataFrame(data, columns=["date", "open", "high", "low", "close", "volume"])
    return pd.DataFrame(data)


def _columns(raw: pd.DataFrame, options: ImportOptions, path: Path) -> pd.DataFrame:
    by_lower = {str(c).strip().lower(): c for c in raw.columns}
    picked = {}
    for ours in FIELDS:
        theirs = options.columns.get(ours)
        if theirs is not None and theirs not in raw.columns:
            raise FileImportError(
                f"{path}: no column {theirs!r} (mapped to {ours}); it has: "
                f"{', '.join(map(str, raw.columns))}"
            )
        theirs = theirs or next((by_lower[s] for s in SYNONYMS[ours] if s in by_lower), None)
        if theirs is None:
            raise FileImportError(
                f"{path}: no {ours} column among {', '.join(map(str, raw.columns))}; "
                f"map one with --columns {ours}=<name>"
            )
        picked[ours] = raw[theirs]
    return pd.DataFrame(picked)


def _timestamps(ts: pd.Series, options: ImportOptions, path: Path) -> pd.Series:
    """UTC millisecond timestamps from numbers (unit by option or magnitude), datetimes
    or text; naive ones are read in ``options.tz``."""
    if pd.api.types.is_numeric_dtype(ts) and not pd.api.types.is_bool_dtype(ts):
        values = ts.to_numpy(dtype=float)
        if np.isnan(values).any():
            raise FileImportError(f"{path}: a timestamp is empty")
        fits = _unit_of(float(np.nanmedian(np.abs(values))))
        unit = options.ts_unit or fits
        if unit != fits:
            raise FileImportError(
                f"{path}: timestamps such as {int(values[0])} are not in {unit} (--ts-unit "
                f"{unit}): their size fits {fits} ({_as_date(values[0], fits)}); accepted: "
                f"--ts-unit {fits}, or no --ts-unit (the unit is then read from the size)"
            )
        try:
            out = pd.to_datetime(values.astype("int64"), unit=unit, utc=True)
        except (OverflowError, pd.errors.OutOfBoundsDatetime) as err:
            raise FileImportError(f"{path}: timestamps out of range in {unit}: {err}") from None
        return pd.Series(out, index=ts.index).astype("datetime64[ms, UTC]")
    try:
        out = pd.to_datetime(ts, utc=False, format="mixed")
    except (ValueError, TypeError, OverflowError) as err:
        raise FileImportError(f"{path}: timestamps cannot be read: {err}") from None
    if out.isna().any():
        raise FileImportError(f"{path}: a timestamp is empty")
    if getattr(out.dt, "tz", None) is None:
        try:
            out = out.dt.tz_localize(options.tz, ambiguous="raise", nonexistent="raise")
        except Exception as err:
            raise FileImportError(f"{path}: a local time is not one instant in {options.tz}: "
                                  f"{err}") from None  # fmt: skip
    return out.dt.tz_convert("UTC").astype("datetime64[ms, UTC]")


def _as_date(value: float, unit: str) -> str:
    return f"{pd.Timestamp(int(value), unit=unit, tz='UTC'):%Y-%m-%d %H:%M} UTC"


def _unit_of(magnitude: float) -> str:
    """Epoch numbers of today: ~1.7e9 s, ~1.7e12 ms, ~1.7e15 µs, ~1.7e18 ns."""
    for unit, bound in (("s", 1e11), ("ms", 1e14), ("us", 1e17)):
        if magnitude < bound:
            return unit
    return "ns"


class FilesSource(SampleSource):
    """A folder of the user's files served like the sample (replayable), with no manifest:
    the manifest is what :func:`discover` finds."""

    name = "files"

    def __init__(self, path: Path, *, exchange: str, options: ImportOptions | None = None):
        super().__init__(Path(path), exchange=exchange)
        self.options = options or ImportOptions()
        manifest, passed = survey(Path(path), self.options)
        self.__dict__["manifest"] = manifest
        self.passed_over: list[PassedOver] = passed

    def candles(self, stream: Stream) -> pd.DataFrame:
        if stream not in self._cache:
            m = self.manifest
            row = m[(m["exchange"] == stream.exchange) & (m["symbol"] == stream.symbol)
                    & (m["timeframe"] == stream.timeframe)]  # fmt: skip
            if row.empty:
                self.validate_stream(stream.symbol, stream.timeframe)
            self._cache[stream] = read_candles(row.iloc[0], self.options)
        return self._cache[stream]

    def streams(self) -> list[Stream]:
        m = self.manifest
        return [Stream(*r) for r in m[["exchange", "symbol", "timeframe"]].itertuples(False)]

    def file_of(self, stream: Stream) -> str:
        m = self.manifest
        row = m[(m["exchange"] == stream.exchange) & (m["symbol"] == stream.symbol)
                & (m["timeframe"] == stream.timeframe)]  # fmt: skip
        return str(row["file"].iloc[0])
