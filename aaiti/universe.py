"""The universe: every stream the system runs — sources × symbols × timeframes — in one file.

``universe.yml`` (``AAITI_UNIVERSE_FILE``) lists sources; each names how candles arrive
(``sample``, ``synthetic``, ``ccxt:<exchange id>``), the symbols (listed, or the top N of
the exchange's markets by quote volume, optionally only some quote currencies) and the
timeframes. ``models`` says which timeframes feed which model (default: each its own).
Without a file, the settings' one source, symbols and timeframe are the universe, which
reproduces the two default streams. The file is checked when it is read: an error names
the line and what is accepted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aaiti.config import Settings
from aaiti.errors import InputError
from aaiti.market.candles import Stream, check_names
from aaiti.market.exchange import CcxtSource
from aaiti.market.sources import open_source, parse_source, stream_exchange
from aaiti.market.store import ingested_streams
from aaiti.market.timeframes import SUPPORTED_TIMEFRAMES

if TYPE_CHECKING:
    from aaiti.warehouse import Warehouse

SOURCE_KEYS = ("source", "exchange", "symbols", "top", "quote", "timeframes")
TOP_KEYS = ("top", "quote")


class UniverseError(InputError):
    """The universe file is not valid: the message names the line and what is accepted."""


@dataclass(frozen=True)
class UniverseSource:
    source: str  # sample | synthetic | ccxt:<id> | files:<folder>
    exchange: str  # the exchange column its streams carry
    timeframes: tuple[str, ...]
    symbols: tuple[str, ...] = ()  # listed, or
    top: int | None = None  # the top N markets by quote volume (ccxt)
    quotes: tuple[str, ...] = ()  # …with these quote currencies only


@dataclass(frozen=True)
class UniverseStream:
    source: str
    stream: Stream
    model: str  # the model timeframe this stream feeds


@dataclass(frozen=True)
class Universe:
    sources: tuple[UniverseSource, ...]
    models: dict[str, tuple[str, ...]] = field(default_factory=dict)
    path: Path | None = None

    def model_of(self, timeframe: str) -> str:
        for model, inputs in self.models.items():
            if timeframe in inputs:
                return model
        return timeframe

    def streams(self, top: dict[str, list[str]] | None = None) -> list[UniverseStream]:
        """Every stream; a top-N source takes its symbols from ``top`` (source → symbols)."""
        out = []
        for src in self.sources:
            symbols = src.symbols if src.top is None else tuple((top or {}).get(src.source, ()))
            out += [
                UniverseStream(src.source, Stream(src.exchange, sym, tf), self.model_of(tf))
                for sym in symbols
                for tf in src.timeframes
            ]
        return out


def universe_for(settings: Settings) -> Universe:
    """The file's universe when ``AAITI_UNIVERSE_FILE`` names one, else the settings'."""
    if settings.universe_file is not None:
        return load_universe(Path(settings.universe_file), default_exchange=settings.exchange)
    source = settings.source
    return Universe(
        (
            UniverseSource(
                source,
                stream_exchange(source, settings.exchange),
                (settings.timeframe,),
                tuple(settings.symbols),
            ),
        )
    )


def load_universe(path: Path, *, default_exchange: str = "coinbase") -> Universe:
    """Read and check a universe file (see the module doc)."""
    import yaml  # type: ignore[import-untyped,unused-ignore]

    if not path.exists():
        raise UniverseError(f"no universe file at {path} (AAITI_UNIVERSE_FILE)")
    try:
        root = yaml.compose(path.read_text())
    except yaml.YAMLError as err:
        raise UniverseError(f"{path}: {_yaml_error(err)}") from None
    where = _Where(path)
    top = where.mapping(root, "the file", ("sources", "models"))
    if "sources" not in top:
        raise UniverseError(f"{path}: line 1: no `sources:`; a universe lists at least one")
    sources_node = top["sources"][1]
    if not isinstance(sources_node, yaml.SequenceNode) or not sources_node.value:
        raise where.error(sources_node, "`sources:` is a list of sources (- source: …)")
    sources = tuple(_source(where, n, default_exchange) for n in sources_node.value)
    _no_stream_twice(where, sources, sources_node.value)
    timeframes = {tf for s in sources for tf in s.timeframes}
    models = _models(where, top.get("models", (None, None))[1], timeframes)
    return Universe(sources, models, path)


def _yaml_error(err: Exception) -> str:
    """Where a YAML error is: an unclosed bracket or quote is found a line later, so the
    line the construct opened on is named first."""
    problem, context = getattr(err, "problem_mark", None), getattr(err, "context_mark", None)
    what = getattr(err, "problem", None) or str(err)
    if context is not None and problem is not None and context.line < problem.line:
        return (
            f"line {context.line + 1}: not valid YAML: {getattr(err, 'context', '')} opened "
            f"here, then {what} at line {problem.line + 1}"
        )
    return f"{f'line {problem.line + 1}: ' if problem else ''}not valid YAML ({what})"


def _no_stream_twice(where: _Where, sources: tuple[UniverseSource, ...], nodes: list[Any]) -> None:
    """A stream listed twice (one source's list, or two sources) would be fetched, gated
    and traded twice over."""
    seen: dict[tuple[str, str, str], int] = {}
    for src, node in zip(sources, nodes, strict=True):
        for sym in src.symbols:
            for tf in src.timeframes:
                key = (src.exchange, sym, tf)
                if key in seen:
                    raise where.error(
                        node, f"stream {src.exchange}:{sym}:{tf} is listed twice (first at "
                        f"line {seen[key]}); list each stream once"
                    )  # fmt: skip
                seen[key] = node.start_mark.line + 1


class _Where:
    """Errors that say where in the file, and the scalar checks that need it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def error(self, node: Any, message: str) -> UniverseError:
        line = node.start_mark.line + 1 if node is not None else 1
        return UniverseError(f"{self.path}: line {line}: {message}")

    def mapping(
        self, node: Any, what: str, accepted: tuple[str, ...]
    ) -> dict[str, tuple[Any, Any]]:
        import yaml

        if not isinstance(node, yaml.MappingNode):
            raise self.error(node, f"{what} is a mapping with keys {', '.join(accepted)}")
        out = {}
        for key, value in node.value:
            if key.value not in accepted:
                raise self.error(
                    key, f"unknown key {key.value!r} in {what}; accepted: {', '.join(accepted)}"
                )
            out[key.value] = (key, value)
        return out

    def scalar(self, node: Any, what: str) -> str:
        import yaml

        if not isinstance(node, yaml.ScalarNode) or not node.value:
            raise self.error(node, f"{what} is one name, not a list or a mapping")
        return str(node.value)

    def strings(self, node: Any, what: str) -> tuple[str, ...]:
        import yaml

        if isinstance(node, yaml.ScalarNode):
            return (node.value,)
        if not isinstance(node, yaml.SequenceNode) or not all(
            isinstance(v, yaml.ScalarNode) for v in node.value
        ):
            raise self.error(node, f"{what} is a list of strings")
        if not node.value:
            raise self.error(node, f"{what} is empty: list at least one")
        return tuple(v.value for v in node.value)


def _source(where: _Where, node: Any, default_exchange: str) -> UniverseSource:
    keys = where.mapping(node, "a source", SOURCE_KEYS)
    if "source" not in keys:
        raise where.error(
            node, "a source needs `source:` (sample, synthetic, ccxt:<exchange> or files:<folder>)"
        )
    source_node = keys["source"][1]
    spec = where.scalar(source_node, "`source:`")
    try:
        kind, exchange = parse_source(spec, default_exchange)
    except ValueError as err:
        raise where.error(source_node, str(err)) from None
    if kind == "files" and not Path(spec.partition(":")[2]).expanduser().is_dir():
        raise where.error(source_node, f"no folder at {spec.partition(':')[2]!r} for {spec!r}")
    exchange_node = keys.get("exchange", (None, None))[1]
    if exchange_node is not None:
        exchange = where.scalar(exchange_node, "`exchange:`")
    exchange = "synthetic" if kind == "synthetic" else exchange or default_exchange
    _checked(where, exchange_node or source_node, exchange, "BTC/USD")
    if "timeframes" not in keys:
        raise where.error(node, f"source {spec!r} needs `timeframes:` (e.g. [4h])")
    tf_node = keys["timeframes"][1]
    timeframes = where.strings(tf_node, "`timeframes:`")
    for tf in timeframes:
        if tf not in SUPPORTED_TIMEFRAMES:
            raise where.error(
                tf_node,
                f"unsupported timeframe {tf!r}; supported: {', '.join(SUPPORTED_TIMEFRAMES)}",
            )
    has_list, has_top = "symbols" in keys, "top" in keys
    if has_list == has_top:
        raise where.error(
            node, f"source {spec!r} needs `symbols:` (a list) or `top:` (a number), one of them"
        )
    if has_list:
        sym_node = keys["symbols"][1]
        symbols = where.strings(sym_node, "`symbols:`")
        for sym in symbols:
            _checked(where, sym_node, exchange, sym)
        if "quote" in keys:
            raise where.error(keys["quote"][0], "`quote:` filters `top:`, not a listed `symbols:`")
        return UniverseSource(spec, exchange, timeframes, symbols)
    top_node = keys["top"][1]
    if kind != "ccxt":
        raise where.error(
            top_node, f"`top:` ranks an exchange's markets: it needs a ccxt source, not {spec!r}"
        )
    top_text = where.scalar(top_node, "`top:`")
    try:
        top = int(top_text)
    except ValueError:
        top = 0
    if top < 1:
        raise where.error(
            top_node, f"`top:` is a positive number of markets, not {top_node.value!r}"
        )
    quotes = where.strings(keys["quote"][1], "`quote:`") if "quote" in keys else ()
    return UniverseSource(spec, exchange, timeframes, (), top, quotes)


def _checked(where: _Where, node: Any, exchange: str, symbol: str) -> None:
    try:
        check_names(exchange, symbol)
    except InputError as err:
        raise where.error(node, str(err)) from None


def _models(where: _Where, node: Any, timeframes: set[str]) -> dict[str, tuple[str, ...]]:
    if node is None:
        return {}
    import yaml

    if not isinstance(node, yaml.MappingNode):
        raise where.error(node, "`models:` maps a model's timeframe to the timeframes feeding it")
    out: dict[str, tuple[str, ...]] = {}
    for key, value in node.value:
        inputs = where.strings(value, f"model {key.value!r}'s inputs")
        unknown = [tf for tf in (key.value, *inputs) if tf not in timeframes]
        if unknown:
            raise where.error(
                key, f"model {key.value!r} names {unknown[0]!r}, not a timeframe of any source; "
                f"the sources have {', '.join(sorted(timeframes))}"
            )  # fmt: skip
        out[key.value] = inputs
    return out


def resolve_top(universe: Universe, settings: Settings) -> dict[str, list[str]]:
    """The symbols of each top-N source, ranked by 24 h quote volume on its exchange."""

    out: dict[str, list[str]] = {}
    for src in universe.sources:
        if src.top is None:
            continue

        client = open_source(settings, source=src.source, exchange=src.exchange)
        if not isinstance(client, CcxtSource):  # the file's check refuses top: elsewhere
            raise UniverseError(f"`top:` needs a ccxt source, not {src.source!r}")
        out[src.source] = client.top_symbols(src.top, quotes=src.quotes)
    return out


def universe_streams(settings: Settings, *, ingested: Iterable[Stream] = ()) -> list[Stream]:
    """The universe's streams: the listed ones, and of each top-N source every stream it has
    stored (``ingested``), whatever today's ranking — the gates judge what was stored."""
    universe = universe_for(settings)
    return [u.stream for u in universe.streams(stored_top(universe, ingested))]


def stored_top(universe: Universe, ingested: Iterable[Stream]) -> dict[str, list[str]]:
    """Each top-N source's symbols among the stored streams of its exchange, timeframes
    and quote currencies."""
    stored = list(ingested)
    out: dict[str, list[str]] = {}
    for src in universe.sources:
        if src.top is None:
            continue
        out[src.source] = sorted(
            {
                s.symbol
                for s in stored
                if s.exchange == src.exchange
                and s.timeframe in src.timeframes
                and (not src.quotes or _quote(s.symbol) in src.quotes)
            }
        )
    return out


def _quote(symbol: str) -> str:
    """BTC/USDT → USDT; BTC/USDT:USDT (a ccxt swap) → USDT."""
    return symbol.split("/")[-1].split(":")[0]


def gated_streams(settings: Settings, warehouse: Warehouse) -> list[Stream]:
    """The streams a gate run judges: the universe's, top-N sources' as they were stored,
    so that no stored stream reaches the features ungated."""

    with warehouse.writer(purpose="gated streams") as con:
        ingested = ingested_streams(con)
    return universe_streams(settings, ingested=ingested)


def universe_groups(settings: Settings) -> dict[tuple[str, str, str], list[Stream]]:
    """The universe's streams by (source, exchange, timeframe), top-N sources ranked now."""
    universe = universe_for(settings)
    out: dict[tuple[str, str, str], list[Stream]] = {}
    for u in universe.streams(resolve_top(universe, settings)):
        out.setdefault((u.source, u.stream.exchange, u.stream.timeframe), []).append(u.stream)
    return out
