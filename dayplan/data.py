"""Instance generation (the reference distribution) and the dataset's rows. Pure Python."""

from __future__ import annotations

import random
from collections.abc import Iterator

from dayplan.names import CATEGORIES
from dayplan.task import Event, Instance, count_overlapping_pairs, format_time, parse_time, solve

COLUMNS = ("events", "priority_events", "optimal_score", "prompt")
# Bounds on the draws for one row: the reference distribution needs at most a few dozen; settings that no
# check below rules out but that chance almost never meets end with an error instead of a hang.
MAX_ATTEMPTS = 10_000
MAX_DUPLICATES = 1_000
LAST_START = parse_time("23:58")  # ends are capped at 23:59, so a later start would make an empty event


class GenerationError(ValueError):
    """Generator settings that no instance can satisfy: one line naming the data.* key."""


def fewest_overlapping_pairs(n: int, disjoint: int) -> int:
    """Overlapping pairs that n events must have when at most `disjoint` of them can avoid each other.

    Intervals that pairwise overlap share a point, so the events split into at most `disjoint` such
    groups; the fewest pairs come from groups as equal as possible.
    """
    size, larger = divmod(n, disjoint)
    return larger * (size + 1) * size // 2 + (disjoint - larger) * size * (size - 1) // 2


def check_feasible(p) -> None:
    """GenerationError unless some instance meets the data.* settings (draw_instance's rules)."""
    fewest_names = min(len(names) for names in CATEGORIES.values())
    if p.max_events > fewest_names:
        raise GenerationError(
            f"data.max_events: expected <= {fewest_names} (the fewest event names of a category), got {p.max_events}"
        )
    latest = parse_time(p.latest_start)
    if latest > LAST_START:
        raise GenerationError(f"data.latest_start: expected <= 23:58 (events end by 23:59), got {p.latest_start!r}")
    disjoint = latest // p.duration_min + 1  # starts 0, duration_min, 2 x duration_min, ... <= latest_start
    sizes = range(p.min_events, p.max_events + 1)
    if not any(max(1, fewest_overlapping_pairs(n, disjoint)) <= p.max_overlap_ratio * n for n in sizes):
        raise GenerationError(
            f"data.max_overlap_ratio: no instance of {p.min_events}-{p.max_events} events has between 1 and "
            f"{p.max_overlap_ratio:g} x events overlapping pairs when at most {disjoint} events fit between 00:00 "
            f"and latest_start {p.latest_start} without overlapping (duration_min {p.duration_min}); raise "
            "max_overlap_ratio or latest_start, or lower duration_min"
        )


def _draw_events(rng: random.Random, names: list[str], p) -> list[Event]:
    latest = parse_time(p.latest_start)
    durations = range(p.duration_min, p.duration_max + 1, p.duration_step)
    spans: list[tuple[int, int]] = []
    for _ in names:
        duration = rng.choice(durations)
        if spans and rng.random() < p.overlap_probability:
            # start inside the window where it must share time with an earlier event
            earlier_start, earlier_end = rng.choice(spans)
            low, high = max(0, earlier_start - duration + 1), min(latest, earlier_end - 1)
            start = rng.randint(low, high) if low <= high else rng.randint(0, latest)
        else:
            start = rng.randint(0, latest)
        end = min(start + duration, 24 * 60 - 1)
        spans.append((start, end))
    return [Event(name, format_time(s), format_time(e)) for name, (s, e) in zip(names, spans)]


def draw_instance(rng: random.Random, p, attempts: int = MAX_ATTEMPTS) -> Instance:
    """One instance: 4-8 events from one category, with 1..max_overlap_ratio*n overlapping pairs."""
    categories = sorted(CATEGORIES)
    for _ in range(attempts):
        n = rng.randint(p.min_events, p.max_events)
        names = rng.sample(CATEGORIES[rng.choice(categories)], n)
        events = _draw_events(rng, names, p)
        pairs = count_overlapping_pairs(events)
        if 1 <= pairs <= p.max_overlap_ratio * n:
            break
    else:
        raise GenerationError(
            f"data.max_overlap_ratio: no draw of {attempts} had between 1 and {p.max_overlap_ratio:g} x events "
            "overlapping pairs; loosen max_overlap_ratio, overlap_probability, latest_start or the durations"
        )
    share = rng.uniform(p.priority_share_min, p.priority_share_max)
    priorities = rng.sample(names, max(1, round(share * n)))
    ordered = sorted(events, key=lambda e: (e.start_min, e.end_min, e.name))
    return Instance(tuple(ordered), frozenset(priorities))


def instance_row(instance: Instance) -> dict:
    ordered_priorities = [e.name for e in instance.events if e.name in instance.priorities]
    return {
        "events": [e.as_row() for e in instance.events],
        "priority_events": ordered_priorities,
        "optimal_score": solve(instance)[0],
        "prompt": instance.text(),
    }


def generate_splits(p, sizes: dict[str, int]) -> Iterator[tuple[str, dict]]:
    """(split, row) pairs; no prompt appears twice, within or across splits.

    The test split has its own seed (p.test_seed) and is drawn first, so that a retrain with a new
    p.seed gets fresh train and pool rows but is scored on the same test set as the champion.
    """
    streams = {"test": random.Random(p.test_seed)}
    shared = random.Random(p.seed)
    seen: set[str] = set()
    for split in sorted(sizes, key=lambda name: name != "test"):
        rng = streams.get(split, shared)
        produced = duplicates = 0
        while produced < sizes[split]:
            row = instance_row(draw_instance(rng, p))
            if row["prompt"] in seen:
                duplicates += 1
                if duplicates == MAX_DUPLICATES:
                    raise GenerationError(
                        f"data.n_{split}: {MAX_DUPLICATES} draws in a row repeated earlier prompts after "
                        f"{produced} {split} rows: the settings allow too few distinct instances"
                    )
                continue
            seen.add(row["prompt"])
            produced, duplicates = produced + 1, 0
            yield split, row


def row_instance(row: dict) -> Instance:
    return Instance.from_row(row["events"], row["priority_events"])
