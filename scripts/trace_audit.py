"""Where a model's reasoning goes wrong: the weighted durations its <think> traces state, against the truth.

    python scripts/trace_audit.py data/test_novel.parquet reports/completions/test_novel/*.jsonl [--rows N]

For each completions file (the infer stage's), prints the share of the weights the traces state that are
wrong, and how exact optima split between answers whose stated weights are all right and the rest. A
model that cannot work out a duration can only guess which side of a conflict to keep. For the dp traces,
also how often the trace itself concludes an optimal schedule, and how often its Schedule line and then
the answer list that schedule. Then the share of exactly optimal answers by the instance's number of
events. With --trace, where the answers that are not exactly optimal first leave the solver's own trace
of that form: which section, and in the start-order list whether the event, the events it overlaps or its
priority mark.
"""

from __future__ import annotations

import argparse
from collections import Counter
from itertools import zip_longest
from pathlib import Path

from dayplan.data import row_instance
from dayplan.dataset import read_rows
from dayplan.io import read_jsonl
from dayplan.score_files import InputError, read_input
from dayplan.scoring import CompletionsError, evaluate
from dayplan.stats import OPTIMAL
from dayplan.task import (
    TRACES,
    Instance,
    completion_text,
    judge,
    labels,
    schedule_line,
    schedule_xml,
    solver_completion,
    traced_choice,
    written_weights,
)


def is_optimal_choice(names: set[str], instance: Instance) -> bool:
    """Whether these event names, as a schedule, are one the judge finds exactly optimal."""
    events = sorted((e for e in instance.events if e.name in names), key=lambda e: (e.start_min, e.end_min))
    answer = "<think></think>\n" + schedule_xml(events)
    return len(events) == len(names) and judge(answer, instance).score >= OPTIMAL


def first_departure(text: str, instance: Instance, trace: str) -> str:
    """Where a completion's lines first differ from the solver's answer in the same trace form: the section
    (the header line above, or the line's own label: Kept, Total, Schedule); in the start-order list, whether
    the event itself is wrong (name, times, a skipped line), the earlier events it overlaps, or its priority.
    A dpl trace is held to the letters its own list gives the events, when it gives each a distinct one."""
    section = "before the trace"
    own = labels(text, instance) if trace == "dpl" else None
    letters = list(own) if own and len(own) == len(instance.events) else None
    reference = solver_completion(instance, trace, letters)
    for want, got in zip_longest(reference.splitlines(), text.splitlines(), fillvalue=""):
        if want.endswith(":"):
            section = want.removeprefix("<think>").removesuffix(":").split(",")[0]
        if want == got:
            continue
        label = next((lab for lab in ("Kept", "Total", "Schedule") if want.startswith(lab)), section)
        if label == "By start time" and not want.endswith(":"):
            if not got.startswith(want.split(",")[0]):
                return f"{label}: the event (name, times, order)"
            overlaps_differ = want.partition(" overlaps ")[2] != got.partition(" overlaps ")[2]
            return f"{label}: {'the events it overlaps' if overlaps_differ else 'its priority mark'}"
        return label
    return "none"


def audit(rows: list[dict], completions: list[dict], trace: str | None = None) -> dict:
    """completions: the infer stage's lines ({"id": row index, "completion": text})."""
    scores, _ = evaluate(rows, completions)
    texts = {item["id"]: completion_text(item["completion"]) for item in completions}
    stated = wrong = 0
    optimal = {"no weight wrong": [0, 0], "a weight wrong": [0, 0]}  # [exactly optimal, answers]
    concluded = [0, 0, 0]  # [Schedule lines listing it, answers exactly optimal, traces concluding an optimum]
    departures = Counter()  # answers not exactly optimal, by where they leave the solver's trace
    by_events = {}  # number of events -> [exactly optimal, answers]
    for score in scores:
        instance = row_instance(rows[score["id"]])
        choice = traced_choice(texts[score["id"]], instance)
        if choice is not None and is_optimal_choice(choice, instance):
            concluded[0] += set(schedule_line(texts[score["id"]], instance) or ()) == choice
            concluded[1] += score["score"] >= OPTIMAL
            concluded[2] += 1
        checks = [w == instance.weight(e) * e.duration for e, w in written_weights(texts[score["id"]], instance)]
        stated, wrong = stated + len(checks), wrong + checks.count(False)
        hit = score["score"] >= OPTIMAL
        for tally in (optimal["no weight wrong" if all(checks) else "a weight wrong"],
                      by_events.setdefault(len(instance.events), [0, 0])):  # fmt: skip
            tally[0] += hit
            tally[1] += 1
        if trace and not hit:
            departures[first_departure(texts[score["id"]], instance, trace)] += 1
    return {"weights stated": stated, "wrong": wrong, **optimal, "trace concludes the optimum": concluded,
            "first departures": departures, "by events": dict(sorted(by_events.items()))}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="the test split's parquet file")
    parser.add_argument("completions", type=Path, nargs="+", help="the infer stage's <model>.jsonl files")
    parser.add_argument("--rows", type=int, help="the first ROWS rows of DATA: those a run with evaluate.rows answered")
    parser.add_argument("--trace", choices=TRACES, help="the warm-start's trace: count where answers first leave it")
    args = parser.parse_args()
    try:
        rows = read_input(read_rows, str(args.data))[: args.rows]
        for path in args.completions:
            result = audit(rows, read_input(read_jsonl, str(path)), args.trace)
            share = result["wrong"] / max(1, result["weights stated"])
            kinds = "; ".join(f"{kind}: {hits}/{n} optimal" for kind in ("no weight wrong", "a weight wrong")
                              for hits, n in [result[kind]])  # fmt: skip
            listed, hits, n = result["trace concludes the optimum"]
            answers = result["no weight wrong"][1] + result["a weight wrong"][1]
            print(f"{path}: {result['wrong']}/{result['weights stated']} stated weights wrong ({share:.1%}); {kinds}; "
                  f"trace concludes an optimum: {n}/{answers}, its Schedule line lists it in {listed}, "
                  f"{hits} answered optimally")  # fmt: skip
            sizes = ", ".join(
                f"{size} events {hit / total:.0%} of {total}" for size, (hit, total) in result["by events"].items()
            )
            print(f"  exactly optimal by number of events: {sizes}")
            for where, count in result["first departures"].most_common():
                print(f"  not optimal, first leaves the {args.trace} trace at {where}: {count}")
    except (InputError, CompletionsError) as error:
        raise SystemExit(f"error: {error}") from None


if __name__ == "__main__":
    main()
