"""Instance generation (the reference distribution) and the dataset's rows. Pure Python."""

from __future__ import annotations

import random
from collections.abc import Iterator

from dayplan.names import CATEGORIES
from dayplan.task import Event, Instance, count_overlapping_pairs, format_time, parse_time, solve

COLUMNS = ("events", "priority_events", "optimal_score", "prompt")


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


def draw_instance(rng: random.Random, p) -> Instance:
    """One instance: 4-8 events from one category, with 1..max_overlap_ratio*n overlapping pairs."""
    categories = sorted(CATEGORIES)
    while True:
        n = rng.randint(p.min_events, p.max_events)
        names = rng.sample(CATEGORIES[rng.choice(categories)], n)
        events = _draw_events(rng, names, p)
        pairs = count_overlapping_pairs(events)
        if 1 <= pairs <= p.max_overlap_ratio * n:
            break
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
        produced = 0
        while produced < sizes[split]:
            row = instance_row(draw_instance(rng, p))
            if row["prompt"] in seen:
                continue
            seen.add(row["prompt"])
            produced += 1
            yield split, row


def row_instance(row: dict) -> Instance:
    return Instance.from_row(row["events"], row["priority_events"])
