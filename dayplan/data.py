"""Instance generation (the reference distribution) and the dataset's rows. Pure Python.

The splits and what each measures (names: dayplan.names):
- `train`, `pool`: names from `data.names` (`open`, the compositional vocabulary, or `reference`, the
  reference experiment's list), drawn from `data.seed`.
- `test`: the reference experiment's split, unchanged: reference names, 4-8 events, its own stream
  from `data.test_seed`, so that its numbers stay comparable with the reference and earlier runs.
- `test_novel`: the held-out vocabulary (words and themes never in train, pool or test), 4-8 events.
- `test_large`: 9-12 events, names from the train vocabulary, so that it measures size alone.
The three test splits have their own streams derived from `data.test_seed` and are drawn first, so a
retrain with a new `data.seed` is scored on the same rows.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from dayplan.names import CATEGORIES, NAME_SOURCES, NameSource, held_out_names, reference_names
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


def draw_instance(
    rng: random.Random, p, draw_names: NameSource = reference_names, attempts: int = MAX_ATTEMPTS
) -> Instance:
    """One instance: min..max_events events named by draw_names, with 1..max_overlap_ratio*n overlapping pairs."""
    for _ in range(attempts):
        n = rng.randint(p.min_events, p.max_events)
        names = draw_names(rng, n)
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


TEST_SPLITS = ("test", "test_novel", "test_large")
LARGE_EVENTS = (9, 12)


def split_stream(split: str, p) -> random.Random | None:
    """A test split's own random stream (None: the shared train/pool stream from p.seed)."""
    if split == "test":
        return random.Random(p.test_seed)
    if split in TEST_SPLITS:
        return random.Random(f"{p.test_seed}:{split}")  # str seeds are hashed stably (sha512)
    return None


def split_drawing(split: str, p, names: str = "open", large_events: tuple[int, int] = LARGE_EVENTS):
    """(name source, params) of a split: which vocabulary, and how many events an instance has."""
    if split == "test":
        return reference_names, p
    if split == "test_novel":
        return held_out_names, p
    if split == "test_large":
        low, high = large_events
        return NAME_SOURCES[names], p.model_copy(update={"min_events": low, "max_events": high})
    return NAME_SOURCES[names], p


def generate_splits(
    p, sizes: dict[str, int], names: str = "open", large_events: tuple[int, int] = LARGE_EVENTS
) -> Iterator[tuple[str, dict]]:
    """(split, row) pairs; no prompt appears twice, within or across splits.

    The test splits have their own streams (split_stream) and are drawn first, so that a retrain with
    a new p.seed gets fresh train and pool rows but is scored on the same test rows as the champion.
    names: the train/pool (and test_large) vocabulary, "open" or "reference".
    """
    shared = random.Random(p.seed)
    seen: set[str] = set()
    for split in sorted(sizes, key=lambda name: name not in TEST_SPLITS):
        rng = split_stream(split, p) or shared
        draw_names, split_params = split_drawing(split, p, names, large_events)
        produced = duplicates = 0
        while produced < sizes[split]:
            row = instance_row(draw_instance(rng, split_params, draw_names))
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


def generate_split(
    split: str, n: int, p, names: str = "open", large_events: tuple[int, int] = LARGE_EVENTS
) -> list[dict]:
    """The rows of one split by itself (a test split's rows are the same as in generate_splits)."""
    return [row for _, row in generate_splits(p, {split: n}, names, large_events)]


def row_instance(row: dict) -> Instance:
    return Instance.from_row(row["events"], row["priority_events"])
