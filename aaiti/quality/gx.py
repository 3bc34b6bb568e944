"""The Great Expectations adapter: the only module that imports great_expectations.

Suites are the JSON files in ``expectations/``. A batch is a pandas DataFrame taken from
DuckDB (GX's SQL datasource fails on DuckDB, see STACK.md), validated through a file-backed
GX project under the data folder so results land in its store and in Data Docs.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from aaiti.cluster import mapper, width
from aaiti.errors import StateError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExpectationOutcome:
    expectation: str
    column: str | None
    description: str
    severity: str  # critical | warning | info
    success: bool
    unexpected_count: int | None
    unexpected_ts: list[str] = field(default_factory=list)
    observed: str | None = None
    #: (exchange, symbol, timeframe, ts) of each offending row, where the batch has them
    unexpected_keys: list[tuple[str, str, str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class SuiteOutcome:
    suite: str
    rows: int
    outcomes: list[ExpectationOutcome]

    @property
    def critical_failures(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success and o.severity == "critical"]

    @property
    def warnings(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success and o.severity != "critical"]

    @property
    def passed(self) -> bool:
        return not self.critical_failures


#: What names an offending row: its stream and bar (batches hold several streams).
INDEX_COLUMNS = ("exchange", "symbol", "timeframe", "ts")


#: What of a GX project is configuration, made again from ``expectations/`` when unreadable.
CONFIG_PARTS = ("great_expectations.yml", "expectations", "validation_definitions", "checkpoints")


def unreadable_config(project: Path) -> list[str]:
    """The project's config files that do not parse to a mapping (empty, cut, not YAML or
    JSON), relative to ``project``."""
    import yaml  # type: ignore[import-untyped,unused-ignore]

    files = [project / CONFIG_PARTS[0]] + [
        f for part in CONFIG_PARTS[1:] for f in sorted((project / part).glob("**/*.json"))
    ]
    out = []
    for f in files:
        if not f.exists():
            continue
        try:
            text = f.read_text()
            parsed = yaml.safe_load(text) if f.suffix == ".yml" else json.loads(text)
        except (OSError, UnicodeDecodeError, ValueError, yaml.YAMLError):
            parsed = None
        if not isinstance(parsed, dict):
            out.append(str(f.relative_to(project)))
    return out


class SuiteNotFoundError(StateError, FileNotFoundError):
    pass


def load_suite_json(expectations_dir: Path, name: str) -> dict[str, Any]:
    path = expectations_dir / f"{name}.json"
    if not path.exists():
        known = sorted(p.stem for p in expectations_dir.glob("*.json"))
        raise SuiteNotFoundError(f"no suite {name!r} in {expectations_dir}; have: {known}")
    suite: dict[str, Any] = json.loads(path.read_text())
    return suite


def suite_parameters(expectations_dir: Path, name: str) -> set[str]:
    """Every $PARAMETER a suite needs."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "$PARAMETER" in node:
                found.add(node["$PARAMETER"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(load_suite_json(expectations_dir, name)["expectations"])
    return found


class GxValidator:
    """Runs the repository's suites on DataFrames; one GX project per data folder."""

    def __init__(
        self,
        *,
        expectations_dir: Path,
        gx_dir: Path,
        docs: bool = True,
        keep_results: int | None = None,
        dask_address: str | None = None,
    ) -> None:
        self.expectations_dir = Path(expectations_dir)
        self.gx_dir = Path(gx_dir)
        self.docs = docs
        self.keep_results = keep_results
        self.dask_address = dask_address
        self._width: int | None = None
        self._context: Any = None
        self._checkpoints: dict[str, Any] = {}

    @property
    def context(self) -> Any:
        if self._context is None:
            try:
                self._context = self._open()
            except Exception as exc:  # only a config file shown unreadable is set aside
                self._set_aside(exc)
                self._context = self._open()
        return self._context

    def _open(self) -> Any:
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        self.gx_dir.mkdir(parents=True, exist_ok=True)
        ctx = gx.get_context(mode="file", project_root_dir=str(self.gx_dir.resolve()))
        bars = ctx.variables.progress_bars
        shown = bars.get("globally") if isinstance(bars, dict) else getattr(bars, "globally", None)
        if shown is not False:  # written once, not rewritten at every open
            ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
            ctx.variables.save()
        return ctx

    def _set_aside(self, exc: Exception) -> None:
        """Move the GX project's configuration (its YAML and the suite, definition and
        checkpoint stores) into ``gx/broken-<time>/``; validation results and Data Docs
        stay. Everything moved is made again from ``expectations/`` by the next open.

        GX rewrites these files in place: a full disk at that moment leaves them empty
        (found by the soak: an empty ``great_expectations.yml`` failed every later gate).
        GX reports such a file as whatever its parser tripped on (a TypeError, a
        ValueError, …), so the evidence is the files, not the exception: when every one of
        them parses, ``exc`` is re-raised untouched (a missing suite, a bug) and nothing moves.
        """
        project = self.gx_dir / "gx"
        broken = unreadable_config(project)
        if not broken:
            raise exc
        aside = project / f"broken-{datetime.now(UTC):%Y%m%dT%H%M%S%f}"
        aside.mkdir(parents=True)
        for name in CONFIG_PARTS:
            if (project / name).exists():
                (project / name).rename(aside / name)
        self._context, self._checkpoints = None, {}
        log.error("GX project at %s was unreadable (%s: %s; %s); its configuration is set "
                  "aside in %s and made again from %s", project, type(exc).__name__,
                  str(exc)[:200], ", ".join(broken), aside.name,
                  self.expectations_dir)  # fmt: skip

    def _checkpoint(self, suite_name: str) -> Any:
        if suite_name not in self._checkpoints:
            try:
                self._checkpoints[suite_name] = self._make_checkpoint(suite_name)
            except Exception as exc:  # a store file left unreadable: once, set aside
                self._set_aside(exc)
                self._checkpoints[suite_name] = self._make_checkpoint(suite_name)
        return self._checkpoints[suite_name]

    def _make_checkpoint(self, suite_name: str) -> Any:
        import great_expectations as gx

        ctx = self.context
        try:
            source = ctx.data_sources.get("aaiti")
        except (KeyError, ValueError):
            source = ctx.data_sources.add_pandas("aaiti")
        try:
            asset = source.get_asset(suite_name)
        except (LookupError, ValueError):
            asset = source.add_dataframe_asset(suite_name)
        try:
            batch = asset.get_batch_definition("whole")
        except (KeyError, ValueError, LookupError):
            batch = asset.add_batch_definition_whole_dataframe("whole")
        spec = self._spec(suite_name)
        spec.pop("id", None)
        for exp in spec["expectations"]:
            exp.pop("id", None)
        suite = ctx.suites.add_or_update(gx.ExpectationSuite(**spec))
        definition = ctx.validation_definitions.add_or_update(
            gx.ValidationDefinition(data=batch, suite=suite, name=suite_name)
        )
        from great_expectations.checkpoint.actions import UpdateDataDocsAction

        actions: list[Any] = [UpdateDataDocsAction(name="data_docs")] if self.docs else []
        checkpoint = ctx.checkpoints.add_or_update(
            gx.Checkpoint(
                name=f"{suite_name}_checkpoint",
                validation_definitions=[definition],
                actions=actions,
                result_format={
                    "result_format": "COMPLETE",
                    "unexpected_index_column_names": list(INDEX_COLUMNS),
                },
            )
        )
        return checkpoint

    def _spec(self, suite_name: str) -> dict[str, Any]:
        return load_suite_json(self.expectations_dir, suite_name)

    def _run(
        self,
        suite_name: str,
        frame: pd.DataFrame,
        parameters: dict[str, Any],
        run_name: str | None = None,
    ) -> tuple[Any, Any]:
        """(GX's result key, its suite validation result) of one batch."""
        from great_expectations.core.run_identifier import RunIdentifier

        run_id = RunIdentifier(run_name=run_name, run_time=datetime.now(UTC)) if run_name else None
        result = self._checkpoint(suite_name).run(
            batch_parameters={"dataframe": frame},
            expectation_parameters=parameters,
            run_id=run_id,
        )
        ((key, validation),) = result.run_results.items()
        return key, validation

    def validate(
        self, suite_name: str, frame: pd.DataFrame, *, parameters: dict[str, Any], batch_label: str
    ) -> SuiteOutcome:
        """Validate one batch; every expectation's result, named rows for failures."""
        _, validation = self._run(suite_name, frame, parameters)
        return _suite_outcome(suite_name, frame, validation, batch_label)

    @property
    def width(self) -> int:
        """How many batches to validate at once: the cluster's threads (asked once), else 1."""
        if self._width is None:
            self._width = width(self.dask_address)
        return self._width

    def validate_all(self, suite_name: str, jobs: Sequence[Job]) -> list[SuiteOutcome]:
        """Validate several batches of one suite, in order; on the Dask cluster at
        ``dask_address`` when one is named. There each batch is judged in a worker's own
        in-memory GX project; its result comes back and is stored here, in this project,
        so Data Docs and the pruning see every result wherever it was computed."""
        if not self.dask_address or not jobs:
            return [
                self.validate(suite_name, j.frame, parameters=j.parameters, batch_label=j.label)
                for j in jobs
            ]

        spec = self._spec(suite_name)
        tag = uuid.uuid4().hex[:8]  # results of one call, stored side by side, never on one key
        detached = [
            Detached(suite_name, spec, j, f"{tag}-{i + 1}of{len(jobs)}") for i, j in enumerate(jobs)
        ]
        with mapper(self.dask_address) as run:
            done: list[tuple[SuiteOutcome, Any, Any]] = run(validate_detached, detached)
        self._store(suite_name, [(key, validation) for _, key, validation in done])
        return [outcome for outcome, _, _ in done]

    def _store(self, suite_name: str, results: list[tuple[Any, Any]]) -> None:
        """Results computed elsewhere, into this project's store (and its Data Docs)."""
        from great_expectations.data_context.types.resource_identifiers import (
            ExpectationSuiteIdentifier,
        )

        checkpoint = self._checkpoint(suite_name)  # the suite and checkpoint the pages name
        (definition,) = checkpoint.validation_definitions
        suite = ExpectationSuiteIdentifier(name=suite_name)
        store = self.context.validation_results_store
        for key, validation in results:
            validation.meta["validation_id"] = definition.id
            validation.meta["checkpoint_id"] = checkpoint.id
            store.store_validation_results(
                suite_validation_result=validation,
                suite_validation_result_identifier=key,
                expectation_suite_identifier=suite,
            )
        if self.docs:
            keys = [key for key, _ in results]
            self.context.build_data_docs(resource_identifiers=[*keys, suite])

    @staticmethod
    def _outcome(r: Any) -> ExpectationOutcome:
        config = r.expectation_config
        res = r.result or {}
        index = res.get("unexpected_index_list") or []
        rows = [item for item in index if isinstance(item, dict) and "ts" in item]
        ts = [str(item["ts"]) for item in rows]
        keys = [tuple(str(item.get(k)) for k in INDEX_COLUMNS) for item in rows]
        observed = res.get("observed_value")
        severity = getattr(config, "severity", None)
        severity = getattr(severity, "value", severity) or "critical"
        return ExpectationOutcome(
            expectation=config.type,
            column=config.kwargs.get("column") or config.kwargs.get("column_A"),
            description=getattr(config, "description", None) or config.type,
            severity=str(severity).lower(),
            success=bool(r.success),
            unexpected_count=res.get("unexpected_count"),
            unexpected_ts=ts,
            observed=None if observed is None else str(observed)[:200],
            unexpected_keys=keys,  # type: ignore[arg-type]
        )

    def build_docs(self) -> Path:
        """Build the Data Docs site; returns its index page.

        GX renders every stored validation result at each build, so the stored ones are
        first pruned to the newest ``keep_results`` per suite: the rebuild stays the same
        size however many runs came before (it grew from ~1 s to 13 s over a 200-bar soak).
        """
        ctx = self.context
        if self.keep_results is not None:
            self.prune_results(keep=self.keep_results)
        ctx.build_data_docs()
        return self.site / "index.html"

    @property
    def site(self) -> Path:
        return self.gx_dir / "gx" / "uncommitted" / "data_docs" / "local_site"

    def prune_results(self, *, keep: int) -> int:
        """Remove all but the newest ``keep`` validation results of each suite from GX's
        store, with their rendered pages; returns how many were removed."""
        store = self.context.validation_results_store
        by_suite: dict[str, list[Any]] = {}
        for key in store.list_keys():
            by_suite.setdefault(key.expectation_suite_identifier.name, []).append(key)
        removed = 0
        for keys in by_suite.values():
            keys.sort(key=lambda k: (k.run_id.run_time, k.run_id.run_name or ""), reverse=True)
            for key in keys[keep:]:
                store.remove_key(key)
                parts = list(map(str, key.to_tuple()))
                for tree, suffix in ((self.site / "validations", ".html"), (self.results, "")):
                    leaf = tree.joinpath(*parts)
                    leaf.with_name(leaf.name + suffix).unlink(missing_ok=True)
                    _drop_empty(leaf.parent, stop=tree)
                removed += 1
        return removed

    @property
    def results(self) -> Path:
        return self.gx_dir / "gx" / "uncommitted" / "validations"


def _suite_outcome(
    suite_name: str, frame: pd.DataFrame, validation: Any, batch_label: str
) -> SuiteOutcome:
    outcomes = [GxValidator._outcome(r) for r in validation.results]
    log.info(
        "%s on %s: %d rows, %d critical failure(s)",
        suite_name,
        batch_label,
        len(frame),
        sum(1 for o in outcomes if not o.success and o.severity == "critical"),
    )
    return SuiteOutcome(suite_name, len(frame), outcomes)


@dataclass(frozen=True)
class Job:
    """One batch to validate: its rows, the suite's $PARAMETERs, a label for the log."""

    frame: pd.DataFrame
    parameters: dict[str, Any]
    label: str


@dataclass(frozen=True)
class Detached:
    """A job with its suite's specification, so a worker needs no file of this project."""

    suite: str
    spec: dict[str, Any]
    job: Job
    run_name: str


class _InMemory(GxValidator):
    """A GX project in memory, with the suite it was given: nothing is written to disk."""

    def __init__(self, spec: dict[str, Any]) -> None:
        super().__init__(expectations_dir=Path("."), gx_dir=Path("."), docs=False)
        self.spec = spec

    def _open(self) -> Any:
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        ctx = gx.get_context(mode="ephemeral")
        ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
        return ctx

    def _spec(self, suite_name: str) -> dict[str, Any]:
        copy: dict[str, Any] = json.loads(json.dumps(self.spec))  # the checkpoint edits it
        return copy


#: A worker's in-memory projects, by suite and its specification (made once per process).
_IN_MEMORY: dict[str, _InMemory] = {}
_IN_MEMORY_MAX = 4


def validate_detached(d: Detached) -> tuple[SuiteOutcome, Any, Any]:
    """On a worker: (outcome, GX's result key, its result) of one job, in a project in
    memory — GX's file stores are one folder that workers must not race on."""
    tag = d.suite + json.dumps(d.spec, sort_keys=True)
    if tag not in _IN_MEMORY:
        while len(_IN_MEMORY) >= _IN_MEMORY_MAX:  # changed suites: the oldest goes
            del _IN_MEMORY[next(iter(_IN_MEMORY))]
        _IN_MEMORY[tag] = _InMemory(d.spec)
    held = _IN_MEMORY[tag]
    key, validation = held._run(d.suite, d.job.frame, d.job.parameters, d.run_name)
    held.context.validation_results_store.remove_key(key)  # it lives on in the caller's
    return _suite_outcome(d.suite, d.job.frame, validation, d.job.label), key, validation


def _drop_empty(folder: Path, *, stop: Path) -> None:
    """Remove ``folder`` and its parents up to ``stop`` while they are empty."""
    while folder != stop and folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
        folder = folder.parent
