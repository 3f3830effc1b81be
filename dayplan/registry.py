"""The MLflow Model Registry side of the champion/challenger gate (the decision itself: dayplan/gate.py).

Both outcomes of the gate are registered: the winner gets the alias `champion`, a loser the alias
`challenger` and a `rejected_reason` tag. A version's evaluation metrics (test set fingerprint and
coverage included) are stored as `metric.<name>` tags so that the next gate can compare without
re-scoring; alias history is kept as `champion_from` / `champion_until` tags.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from dayplan.tracking import check_reachable, tracking_uri

CHAMPION = "champion"
CHALLENGER = "challenger"
METRIC_PREFIX = "metric."
ARTIFACT_PATH = "model"


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def metric_tags(metrics: dict) -> dict[str, str]:
    return {f"{METRIC_PREFIX}{key}": json.dumps(value) for key, value in metrics.items()}


def tag_metrics(tags: dict[str, str]) -> dict:
    prefix = len(METRIC_PREFIX)
    return {key[prefix:]: json.loads(value) for key, value in tags.items() if key.startswith(METRIC_PREFIX)}


def client():
    from mlflow import MlflowClient

    check_reachable(tracking_uri())
    return MlflowClient(tracking_uri=tracking_uri(), registry_uri=tracking_uri())


def _missing(error: Exception) -> bool:
    return getattr(error, "error_code", "") in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE")


def champion_version(mlflow_client, name: str):
    """The ModelVersion holding the `champion` alias, or None (no model or no alias yet)."""
    from mlflow.exceptions import MlflowException

    try:
        return mlflow_client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException as error:
        if _missing(error):
            return None
        raise


def recorded_seeds(mlflow_client, name: str) -> list[int]:
    """data.seed of every registered version (a retrain never reuses one, promoted or not)."""
    from mlflow.exceptions import MlflowException

    try:
        versions = mlflow_client.search_model_versions(f"name = '{name}'")
    except MlflowException as error:
        if _missing(error):
            return []
        raise
    return [int(v.tags["data_seed"]) for v in versions if v.tags.get("data_seed", "").lstrip("-").isdigit()]


def register(mlflow_client, name: str, run_id: str, model_dir: str | Path, tags: dict[str, str]):
    """Log model_dir to the run as an MLflow transformers model and register it as a new version.

    The version then loads with one call: mlflow.transformers.load_model("models:/<name>@champion") gives
    a text-generation pipeline (pipe(messages) applies the chat template).
    """
    import mlflow
    import transformers

    pipeline = transformers.pipeline("text-generation", model=str(model_dir), tokenizer=str(model_dir))
    mlflow.set_tracking_uri(tracking_uri())
    mlflow.set_registry_uri(tracking_uri())
    with mlflow.start_run(run_id=run_id):
        info = mlflow.transformers.log_model(
            pipeline,
            name=ARTIFACT_PATH,
            registered_model_name=name,
            # pinned here: MLflow's own inference of requirements imports packages the model does not need
            pip_requirements=[f"transformers=={transformers.__version__}", "torch", "accelerate"],
        )
    version = str(info.registered_model_version)
    mlflow_client.update_registered_model(name, description="dayplan: GRPO day scheduler (merged model)")
    for key, value in tags.items():
        mlflow_client.set_model_version_tag(name, version, key, value)
    return mlflow_client.get_model_version(name, version)


def promote(mlflow_client, name: str, version: str, previous) -> None:
    """Move the champion alias; the old version stays registered with the end of its reign as a tag."""
    stamp = now()
    if previous is not None:
        mlflow_client.set_model_version_tag(name, version, "previous_champion", str(previous.version))
        mlflow_client.set_model_version_tag(name, previous.version, "champion_until", stamp)
    mlflow_client.set_model_version_tag(name, version, "champion_from", stamp)
    mlflow_client.set_registered_model_alias(name, CHAMPION, version)


def reject(mlflow_client, name: str, version: str, reason: str) -> None:
    mlflow_client.set_model_version_tag(name, version, "rejected_reason", reason)
    mlflow_client.set_registered_model_alias(name, CHALLENGER, version)
