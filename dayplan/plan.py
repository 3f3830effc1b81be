"""Try a model on one day: a user's events file -> the model's schedule, the judge's verdict, the optimum.

Events files are JSON ({"events": [["Team sync", "09:00", "09:30"], ...], "priorities": ["Team sync"]})
or the prompt's own text (the "Events:" / "Priorities:" lines, task.Instance.text()). The model is the
registry's champion when one is registered, else the newest model the pipeline built.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from dayplan.task import Event, Instance, chat_messages, check_instance, judge, parse_events, parse_instance_text, solve

CACHE_DIR = Path(".cache/champion")  # git-ignored


class PlanError(ValueError):
    """A bad events file or model folder: the message is one line."""


def read_instance(path: str | Path, priorities: list[str] | None = None) -> Instance:
    """The events file (JSON or the prompt's text) -> a checked Instance; priorities replace the file's."""
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise PlanError(f"{path}: {getattr(error, 'strerror', None) or error}") from None
    try:
        if text.lstrip().startswith("{"):
            instance = _json_instance(json.loads(text))
        else:
            instance = parse_instance_text(text)
        if priorities is not None:
            instance = Instance(instance.events, frozenset(priorities))
        check_instance(instance)
    except json.JSONDecodeError as error:
        raise PlanError(f"{path}: not valid JSON: {error}") from None
    except ValueError as error:
        raise PlanError(f"{path}: {error}") from None
    return instance


def _json_instance(data) -> Instance:
    events, priorities = data.get("events"), data.get("priorities", [])
    rows_ok = isinstance(events, list) and all(
        isinstance(row, list) and len(row) == 3 and all(isinstance(v, str) for v in row) for row in events
    )
    if not rows_ok:
        raise ValueError('"events" must be a list of ["name", "HH:MM", "HH:MM"]')
    if not isinstance(priorities, list) or not all(isinstance(name, str) for name in priorities):
        raise ValueError('"priorities" must be a list of event names')
    return Instance.from_row(events, priorities)


# --- which model ---------------------------------------------------------------------------------------


def pipeline_model(models: Path = Path("models")) -> Path | None:
    """The newest model the pipeline built under `models`: merged/epoch<highest>, else warmstart, else base."""
    merged = sorted(
        (p for p in (models / "merged").glob("epoch*") if p.name[5:].isdigit()),
        key=lambda p: int(p.name[5:]),
    )
    for candidate in [*reversed(merged), models / "warmstart", models / "base"]:
        if (candidate / "config.json").exists():
            return candidate
    return None


def champion_model(name: str, cache: Path = CACHE_DIR) -> tuple[Path, str] | None:
    """(folder, version) of models:/<name>@champion, downloaded once per version; None without a champion.

    Only looks where a registry is configured (MLFLOW_TRACKING_URI, or ./mlflow.db), so that a checkout
    without one gets no empty database.
    """
    if not os.environ.get("MLFLOW_TRACKING_URI") and not Path("mlflow.db").exists():
        return None
    import mlflow

    from dayplan import registry
    from dayplan.tracking import tracking_uri

    version = registry.champion_version(registry.client(), name)
    if version is None:
        return None
    folder = cache / f"{name}-v{version.version}"
    if not folder.exists():
        cache.mkdir(parents=True, exist_ok=True)
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        with tempfile.TemporaryDirectory(dir=cache, ignore_cleanup_errors=True) as tmp:
            mlflow.set_registry_uri(tracking_uri())
            mlflow.artifacts.download_artifacts(
                f"models:/{name}@{registry.CHAMPION}", dst_path=tmp, tracking_uri=tracking_uri()
            )
            os.replace(hf_folder(Path(tmp)), folder)
    return folder, str(version.version)


def hf_folder(downloaded: Path) -> Path:
    """A downloaded version -> one folder with the weights and the tokenizer, as transformers loads it.

    Plain artifacts (a merged model folder) are that folder already; an MLflow transformers model keeps
    the weights in model/ and the tokenizer in components/tokenizer/, which are merged into model/.
    """
    for folder in (downloaded, *downloaded.iterdir()):
        if (folder / "config.json").exists():
            return folder
        if (folder / "MLmodel").exists() and (folder / "model" / "config.json").exists():
            tokenizer = folder / "components" / "tokenizer"
            if tokenizer.is_dir():
                shutil.copytree(tokenizer, folder / "model", dirs_exist_ok=True)
            return folder / "model"
    raise PlanError(f"the registered champion ({downloaded}) holds no transformers model folder")


def pick_model(requested: str | None, registered_model: str, models: Path = Path("models")) -> tuple[Path, str]:
    """(folder, how it was chosen): --model, else the registry's champion, else the newest pipeline model."""
    if requested:
        if not (Path(requested) / "config.json").exists():
            raise PlanError(f"--model {requested}: no model folder there (config.json missing)")
        return Path(requested), "--model"
    champion = champion_model(registered_model)
    if champion is not None:
        return champion[0], f"models:/{registered_model}@champion, version {champion[1]}"
    built = pipeline_model(models)
    if built is None:
        raise PlanError(f"no model: no champion registered and no model under {models} (run `dvc repro` first)")
    return built, "newest pipeline model; no champion registered"


# --- run and show --------------------------------------------------------------------------------------


def complete(model_dir: Path, instance: Instance, max_new_tokens: int, decoding: str = "feasible") -> str:
    """The model's greedy answer to the instance's prompt (transformers, as the infer stage on a CPU).

    decoding: free, grounded (only the instance's events, with their times) or feasible (also a valid schedule).
    """
    from transformers.utils import logging

    from dayplan.inference import generate_transformers

    logging.disable_progress_bar()  # a one-answer command: no weight-loading bar
    settings = {"max_new_tokens": max_new_tokens, "temperature": 0.0, "top_p": 1.0, "seed": 0, "decoding": decoding}
    return next(generate_transformers(str(model_dir), [chat_messages(instance.text())], settings, batch_size=1))


def schedule_lines(events: list[Event], instance: Instance) -> list[str]:
    return [
        f"  {e.start}-{e.end}  {e.name}" + ("  (priority)" if e.name in instance.priorities else "") for e in events
    ]


def report(instance: Instance, completion: str) -> str:
    """The model's schedule, the judge's verdict and the optimum, as printed by `python -m stages.plan`."""
    optimum, best = solve(instance)
    verdict = judge(completion, instance, optimum)
    events = parse_events(completion)
    lines = ["Model's schedule:"]
    if events:
        lines += schedule_lines(events, instance)
    else:
        answer = completion.strip().replace("\n", " ")
        cut = " ..." if len(answer) > 300 else ""
        lines.append(f"  (no <event> parsed) raw answer: {answer[:300]!r}{cut}" if answer else "  (no answer)")
    if verdict.broken_rule is None:
        lines.append(f"Verdict: score {verdict.score:.2f} / 100 (weighted duration {verdict.value} of {optimum})")
    else:
        lines.append(f"Verdict: score {verdict.score:.2f} / 100, broken rule: {verdict.broken_rule}")
    lines += [f"Optimum (weighted duration {optimum}):", *schedule_lines(best, instance)]
    return "\n".join(lines)
