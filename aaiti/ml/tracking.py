"""The MLflow adapter: the only module that imports mlflow.

Tracking is SQLite plus local artifacts under the data folder; the registry keeps one
model per timeframe (``aaiti-<timeframe>``, pooled over streams) with the aliases
``challenger`` and ``champion``. The champion's history is kept as a registered-model tag,
so a promotion can be rolled back to the version that was champion before it.
"""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aaiti.config import child_environment
from aaiti.errors import StateError

if TYPE_CHECKING:
    from aaiti.config import Settings

log = logging.getLogger(__name__)
EXPERIMENT = "aaiti"
CHAMPION, CHALLENGER = "champion", "challenger"
HISTORY_TAG = "champion_history"


@dataclass(frozen=True)
class VersionInfo:
    name: str
    version: int
    run_id: str
    aliases: list[str]
    metrics: dict[str, float]
    params: dict[str, str]
    tags: dict[str, str]


#: MLflow 3's limit on one param value; a longer value is an error here, never cut.
MAX_PARAM_CHARS = 6000
INPUTS_ARTIFACT = "inputs.json"


@dataclass(frozen=True)
class ModelInputs:
    streams: list[str]
    features: list[str]


def checked_params(params: dict[str, Any]) -> dict[str, str]:
    """Params as MLflow stores them; raises on a value MLflow would cut (lists that grow
    with the universe belong in an artifact)."""
    out = {k: str(v) for k, v in params.items()}
    long = {k: len(v) for k, v in out.items() if len(v) > MAX_PARAM_CHARS}
    if long:
        raise ValueError(
            f"MLflow params longer than {MAX_PARAM_CHARS} characters would be cut: {long}; "
            "log them as an artifact"
        )
    return out


def model_name(timeframe: str) -> str:
    return f"aaiti-{timeframe}"


class Tracker:
    def __init__(self, *, tracking_uri: str, artifact_root: Path) -> None:
        self.tracking_uri = tracking_uri
        self.artifact_root = Path(artifact_root)
        self._ready = False

    @property
    def mlflow(self) -> Any:
        import mlflow

        if not self._ready:
            db = Path(self.tracking_uri.removeprefix("sqlite:///"))
            db.parent.mkdir(parents=True, exist_ok=True)
            self.artifact_root.mkdir(parents=True, exist_ok=True)
            mlflow.set_tracking_uri(self.tracking_uri)
            mlflow.set_registry_uri(self.tracking_uri)
            if mlflow.get_experiment_by_name(EXPERIMENT) is None:
                mlflow.create_experiment(
                    EXPERIMENT, artifact_location=self.artifact_root.resolve().as_uri()
                )
            mlflow.set_experiment(EXPERIMENT)
            self._ready = True
        return mlflow

    @property
    def client(self) -> Any:
        return self.mlflow.MlflowClient(
            tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri
        )

    # ------------------------------------------------------------------ logging a run
    def log_training(
        self,
        *,
        name: str,
        booster: Any,
        params: dict[str, Any],
        metrics: dict[str, float],
        fold_metrics: list[dict[str, float]],
        tags: dict[str, str],
        artifacts: dict[str, Any],
        figures: dict[str, Any],
        input_example: Any,
    ) -> VersionInfo:
        """One run with everything, the model logged with signature and registered."""
        mlflow = self.mlflow
        from mlflow.models import infer_signature

        with mlflow.start_run(run_name=f"{name} {tags.get('data_end', '')}"):
            mlflow.log_params(checked_params(params))
            mlflow.log_metrics(metrics)
            for fold in fold_metrics:
                step = int(fold.pop("fold"))
                mlflow.log_metrics({f"fold_{k}": v for k, v in fold.items()}, step=step)
            mlflow.set_tags(tags)
            for filename, payload in artifacts.items():
                mlflow.log_text(
                    payload
                    if isinstance(payload, str)
                    else json.dumps(payload, indent=2, default=str),
                    filename,
                )
            for filename, figure in figures.items():
                mlflow.log_figure(figure, filename)
            signature = infer_signature(input_example, booster.inplace_predict(input_example))
            # MLflow checks an example by sending it as JSON, where the stream's categorical
            # becomes a string the booster refuses (a logged warning per run); the signature
            # still names every input and its type.
            categorical = any(str(t) == "category" for t in getattr(input_example, "dtypes", []))
            info = mlflow.xgboost.log_model(
                booster,
                name="model",
                signature=signature,
                input_example=None if categorical else input_example,
                registered_model_name=name,
            )
            version = int(info.registered_model_version)
        self.client.set_registered_model_alias(name, CHALLENGER, str(version))
        return self.version(name, version)

    def model_inputs(self, v: VersionInfo) -> ModelInputs:
        """The streams and input columns a version was trained on, from its run's
        ``inputs.json`` (lists that grow with the universe are artifacts, never params)."""
        from mlflow.exceptions import MlflowException

        try:
            raw = self.mlflow.artifacts.load_dict(f"runs:/{v.run_id}/{INPUTS_ARTIFACT}")
        except (MlflowException, OSError):  # a run logged before inputs.json existed
            if "streams" not in v.params or "features" not in v.params:
                raise StateError(
                    f"{v.name} v{v.version}: its run has no {INPUTS_ARTIFACT} and no input "
                    "params; retrain it (`aaiti train`)"
                ) from None
            raw = {"streams": json.loads(v.params["streams"]),
                   "features": json.loads(v.params["features"])}  # fmt: skip
        return ModelInputs(list(raw["streams"]), list(raw["features"]))

    # ------------------------------------------------------------------ registry
    def version(self, name: str, version: int) -> VersionInfo:
        client = self.client
        mv = client.get_model_version(name, str(version))
        run = client.get_run(mv.run_id)
        return VersionInfo(
            name,
            int(mv.version),
            mv.run_id,
            list(mv.aliases or []),
            dict(run.data.metrics),
            dict(run.data.params),
            dict(run.data.tags),
        )

    def by_alias(self, name: str, alias: str) -> VersionInfo | None:
        from mlflow.exceptions import MlflowException

        try:
            mv = self.client.get_model_version_by_alias(name, alias)
        except MlflowException:
            return None
        return self.version(name, int(mv.version))

    def versions(self, name: str) -> list[VersionInfo]:
        from mlflow.exceptions import MlflowException

        try:
            found = self.client.search_model_versions(f"name = '{name}'")
        except MlflowException:
            return []
        return sorted((self.version(name, int(v.version)) for v in found), key=lambda v: v.version)

    def history(self, name: str) -> list[int]:
        """Champions in the order they were promoted ([] before the first registration)."""
        try:
            model = self.client.get_registered_model(name)
        except self.mlflow.exceptions.MlflowException as err:
            if getattr(err, "error_code", "") == "RESOURCE_DOES_NOT_EXIST":
                return []
            raise
        return [int(v) for v in json.loads((model.tags or {}).get(HISTORY_TAG, "[]"))]

    def promote(self, name: str, version: int, *, reason: str) -> None:
        """Make ``version`` the champion and remember the order of champions."""
        client = self.client
        client.get_model_version(name, str(version))  # raises for an unknown version
        history = [v for v in self.history(name) if v != version] + [version]
        client.set_registered_model_alias(name, CHAMPION, str(version))
        client.set_registered_model_tag(name, HISTORY_TAG, json.dumps(history))
        client.set_model_version_tag(name, str(version), "promotion", reason[:5000])

    def rollback(self, name: str) -> int:
        """Champion back to the version that was champion before; returns it."""
        history = self.history(name)
        if len(history) < 2:
            raise StateError(f"{name} has no earlier champion to roll back to (history: {history})")
        previous = history[-2]
        client = self.client
        client.set_registered_model_alias(name, CHAMPION, str(previous))
        client.set_registered_model_tag(name, HISTORY_TAG, json.dumps(history[:-1]))
        client.set_model_version_tag(name, str(history[-1]), "rolled_back", "true")
        return previous

    def load(self, name: str, alias: str = CHAMPION) -> Any:
        """The booster behind an alias (``models:/name@alias``) or a version number."""
        ref = f"models:/{name}/{alias}" if alias.isdigit() else f"models:/{name}@{alias}"
        return self.mlflow.xgboost.load_model(ref)

    def log_evaluation(
        self, *, run_name: str, metrics: dict[str, float], summary: dict, tags: dict[str, str]
    ) -> str:
        """A run of its own for a strategy evaluation (``aaiti evaluate``); its id."""
        mlflow = self.mlflow
        with mlflow.start_run(run_name=run_name) as run:
            mlflow.set_tags(tags)
            mlflow.log_metrics(metrics)
            mlflow.log_dict(
                json.loads(json.dumps(summary, default=str)), "strategy_evaluation.json"
            )
            return run.info.run_id

    def log_json(self, run_id: str, name: str, obj: Any) -> None:
        """A JSON artifact on an existing run (e.g. the strategy deployed after it)."""
        self.client.log_dict(run_id, json.loads(json.dumps(obj, default=str)), name)

    def log_artifact_file(self, run_id: str, path: Path, folder: str | None = None) -> None:
        self.client.log_artifact(run_id, str(path), folder)


def importance_figure(booster: Any, *, title: str) -> Any:
    """A horizontal bar chart of total gain per feature."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scores = booster.get_score(importance_type="total_gain")
    items = sorted(scores.items(), key=lambda kv: kv[1])
    fig, ax = plt.subplots(figsize=(7, max(3, 0.3 * len(items))))
    ax.barh([k for k, _ in items], [v for _, v in items])
    ax.set_title(title)
    ax.set_xlabel("total gain")
    fig.tight_layout()
    return fig


def temp_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="aaiti-mlflow-"))


def tracker_for(settings: Settings) -> Tracker:
    """The project's MLflow store (tracking database and artifacts under the data folder)."""
    return Tracker(
        tracking_uri=settings.mlflow_tracking_uri, artifact_root=settings.mlflow_artifact_root
    )


def ui_main(argv: list[str] | None = None) -> None:
    """``python -m aaiti.ml.tracking OPTIONS``: ``mlflow ui OPTIONS``, its web server run in
    the launcher's own process instead of a child of it.

    ``mlflow ui`` imports MLflow, starts uvicorn as a child and only waits for it: 269 MB
    resident that does nothing, an eighth of the stack's 2 GB budget (``make status``).
    MLflow's own setup still runs (the basic-auth bootstrap, its environment for the
    server); only the final spawn becomes an exec, so the pid ``aaiti stack`` recorded is
    the server itself and a stop signal reaches it directly.

    MLflow's one private API this project touches (``mlflow.server._exec_cmd``: MLflow
    offers no public way to run its server in-process); ``tests/test_private_apis.py``
    fails with what changed on an upgrade that moves it."""
    import os
    import sys

    import mlflow.server
    from mlflow.cli import cli

    def exec_in_place(cmd: list[str], *, extra_env: dict[str, str] | None = None, **_: Any) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(cmd[0], cmd, child_environment(extra_env or {}))

    mlflow.server._exec_cmd = exec_in_place  # type: ignore[assignment]
    cli.main(args=["ui", *(sys.argv[1:] if argv is None else argv)], prog_name="mlflow")


if __name__ == "__main__":
    ui_main()
