"""Data validation of every split the pipeline reads (train, test, warm-start pool) with Great Expectations 1.x.

The dataset's rules (valid times, known priorities, correct optima...) are per-row facts about nested
lists, which GX's built-in expectations cannot see. So each rule becomes a derived per-row column computed
with pandas and dayplan.task, checked with plain built-in expectations; the Data Docs then name the rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from dayplan.config import DataParams
from dayplan.data import row_instance
from dayplan.dataset import read_typed_rows
from dayplan.task import count_overlapping_pairs, parse_instance_text, parse_time, solve

SPLITS = ("train", "test", "pool")
RULE_COLUMNS = (
    "n_events",
    "times_valid",
    "starts_before_ends",
    "names_unique",
    "priorities_known",
    "optimal_score_correct",
    "overlapping_pairs",
    "prompt_matches_events",
    "prompt_in_other_split",
)


@dataclass(frozen=True)
class Failure:
    split: str
    expectation: str
    column: str | None
    bad_rows: int | None
    observed: object = None

    def line(self) -> str:
        target = f"({self.column})" if self.column else "(table)"
        detail = f"{self.bad_rows} bad rows" if self.bad_rows is not None else f"observed {self.observed}"
        return f"{self.split}: {self.expectation}{target}: {detail}"


def _times_valid(events: list) -> bool:
    try:
        for _, start, end in events:
            parse_time(start), parse_time(end)
    except (ValueError, TypeError):
        return False
    return True


def _starts_before_ends(events: list) -> bool:
    try:
        return all(parse_time(start) < parse_time(end) for _, start, end in events)
    except (ValueError, TypeError):
        return False


def _optimum_matches(row: dict) -> bool:
    try:
        return solve(row_instance(row))[0] == row["optimal_score"]
    except (ValueError, TypeError):  # malformed times or events: reported by their own columns too
        return False


def _overlapping_pairs(row: dict) -> int:
    try:
        return count_overlapping_pairs(row_instance(row).events)
    except (ValueError, TypeError):
        return 0


def _prompt_matches(row: dict) -> bool:
    """The prompt (what the model reads) lists exactly the row's events and priorities (what rewards use)."""
    try:
        return parse_instance_text(row["prompt"]).same_as(row_instance(row))
    except (ValueError, TypeError):
        return False


def derived_frame(rows: list[dict], other_prompts: set[str]) -> pd.DataFrame:
    """One row per instance, one column per rule (ints and bools), plus the prompt."""
    records = []
    for row in rows:
        events = [list(e) for e in row["events"]]
        names = [e[0] for e in events]
        records.append(
            {
                "n_events": len(events),
                "times_valid": _times_valid(events),
                "starts_before_ends": _starts_before_ends(events),
                "names_unique": len(set(names)) == len(names),
                "priorities_known": set(row["priority_events"]) <= set(names),
                "optimal_score_correct": _optimum_matches(row),
                "overlapping_pairs": _overlapping_pairs(row),
                "prompt_matches_events": _prompt_matches(row),
                "prompt_in_other_split": row.get("prompt") in other_prompts,
                "prompt": row.get("prompt"),
            }
        )
    return pd.DataFrame.from_records(records, columns=[*RULE_COLUMNS, "prompt"])


def expectation_suite(name: str, n_rows: int | None, min_events: int, max_events: int):
    """The dataset's rules; n_rows=None (a Hub dataset) only requires a non-empty split."""
    import great_expectations as gx

    e = gx.expectations
    suite = gx.ExpectationSuite(name=name)
    if n_rows is None:
        suite.add_expectation(e.ExpectTableRowCountToBeBetween(min_value=1))
    else:
        suite.add_expectation(e.ExpectTableRowCountToEqual(value=n_rows))
    suite.add_expectation(
        e.ExpectColumnValuesToBeBetween(column="n_events", min_value=min_events, max_value=max_events)
    )
    checks = ("times_valid", "starts_before_ends", "names_unique", "priorities_known", "optimal_score_correct")
    for column in (*checks, "prompt_matches_events"):
        suite.add_expectation(e.ExpectColumnValuesToBeInSet(column=column, value_set=[True]))
    suite.add_expectation(e.ExpectColumnValuesToBeBetween(column="overlapping_pairs", min_value=1))
    suite.add_expectation(e.ExpectColumnValuesToBeInSet(column="prompt_in_other_split", value_set=[False]))
    suite.add_expectation(e.ExpectColumnValuesToBeUnique(column="prompt"))
    return suite


def run_validation(
    frames: dict[str, pd.DataFrame],
    row_counts: dict[str, int | None],
    min_events: int,
    max_events: int,
    docs_dir: Path,
) -> tuple[dict, list[Failure]]:
    """Validate each split's derived frame with a checkpoint that writes Data Docs under docs_dir.

    Returns the summary (flat-ish, numbers and bools: a DVC metric) and the failing expectations.
    """
    import great_expectations as gx
    from great_expectations.checkpoint import UpdateDataDocsAction
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(),
        analytics_enabled=False,  # no usage events sent from a pipeline stage
        progress_bars=ProgressBarsConfig(globally=False),  # metrics take milliseconds here
        data_docs_sites={
            "dayplan": {
                "class_name": "SiteBuilder",
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": str(Path(docs_dir).resolve()),
                },
            }
        },
    )
    context = gx.get_context(mode="ephemeral", project_config=config)
    source = context.data_sources.add_pandas("dayplan")
    summary: dict = {"success": True, "splits": {}, "expectations": {}}
    failures: list[Failure] = []
    for split, frame in frames.items():
        batch = source.add_dataframe_asset(split).add_batch_definition_whole_dataframe(split)
        suite = context.suites.add(expectation_suite(f"dayplan_{split}", row_counts[split], min_events, max_events))
        definition = context.validation_definitions.add(gx.ValidationDefinition(name=split, data=batch, suite=suite))
        checkpoint = context.checkpoints.add(
            gx.Checkpoint(
                name=f"validate_{split}",
                validation_definitions=[definition],
                actions=[UpdateDataDocsAction(name="data_docs", site_names=["dayplan"])],
                result_format="SUMMARY",
            )
        )
        result = checkpoint.run(batch_parameters={"dataframe": frame})
        split_failures, checks = _read_results(split, result)
        failures += split_failures
        summary["splits"][split] = {
            "rows": len(frame),
            "success": not split_failures,
            "evaluated": len(checks),
            "failed": len(split_failures),
        }
        summary["expectations"][split] = checks
    summary["success"] = not failures
    return summary, failures


def _read_results(split: str, checkpoint_result) -> tuple[list[Failure], dict]:
    failures, checks = [], {}
    for validation in checkpoint_result.run_results.values():
        for item in validation.results:
            config = item.expectation_config
            column = config.kwargs.get("column")
            result = item.result or {}
            bad_rows = result.get("unexpected_count")
            key = f"{column or 'table'}__{config.type}"
            checks[key] = {"success": bool(item.success), "bad_rows": int(bad_rows or 0)}
            observed = result.get("observed_value")
            if isinstance(observed, int) and not isinstance(observed, bool):  # row counts
                checks[key]["observed"] = observed
            if not item.success:
                failures.append(Failure(split, config.type, column, bad_rows, observed))
    return failures, checks


def validate_rows(
    splits: dict[str, list[dict]],
    row_counts: dict[str, int | None],
    min_events: int,
    max_events: int,
    docs_dir: Path,
) -> tuple[dict, list[Failure]]:
    """Rows of each split -> derived frames -> GX validation (see run_validation)."""
    prompts = {split: {row.get("prompt") for row in rows} for split, rows in splits.items()}
    frames = {}
    for split, rows in splits.items():
        others = set().union(*(p for s, p in prompts.items() if s != split))
        frames[split] = derived_frame(rows, others)
    return run_validation(frames, row_counts, min_events, max_events, docs_dir)


def expected_rows(p: DataParams) -> dict[str, int | None]:
    """Generated splits must have the sizes asked for; a published dataset's train/test sizes are its own."""
    if p.source == "generate":
        return {"train": p.n_train, "test": p.n_test, "pool": p.n_pool}
    return {"train": None, "test": None, "pool": p.n_pool}  # the pool is generated either way


def read_splits(paths: dict[str, Path]) -> dict[str, list[dict]]:
    """Each split's typed rows; a missing or malformed file is a ValueError naming it, in one line."""
    splits = {}
    for split, path in paths.items():
        try:
            splits[split] = read_typed_rows(path)
        except (OSError, ValueError) as error:
            raise ValueError(f"{path}: {error}") from None
    return splits
