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
    """Log model_dir to the run under model/, then register runs:/<run_id>/model as a new version.

    MLflow 3's register_model() wants a logged MLflow Model; a merged HF folder is plain artifacts, so
    the version is created from the run's artifact path directly.
    """
    from mlflow.exceptions import MlflowException

    mlflow_client.log_artifacts(run_id, str(model_dir), ARTIFACT_PATH)
    try:
        mlflow_client.create_registered_model(name, description="dayplan: GRPO day scheduler (merged HF model)")
    except MlflowException as error:
        if getattr(error, "error_code", "") != "RESOURCE_ALREADY_EXISTS":
            raise
    return mlflow_client.create_model_version(name, f"runs:/{run_id}/{ARTIFACT_PATH}", run_id=run_id, tags=tags)


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
