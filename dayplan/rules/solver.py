"""The exact optimum (weighted interval scheduling) and the answer the solver writes (warm-start targets)."""

from __future__ import annotations

import bisect
import hashlib
import re
from collections.abc import Sequence

from dayplan.rules.problem import Event, Instance, format_time, overlaps


def solve(instance: Instance) -> tuple[int, list[Event]]:
    """Maximum weighted duration and one optimal schedule (chronological), in O(n log n).

    best[j] is the optimum over the first j events sorted by end; event j-1 either is left out
    (best[j-1]) or is taken after the last event ending at or before its start (touching is allowed).
    """
    by_end = sorted(instance.events, key=lambda e: (e.end_min, e.start_min, e.name))
    ends = [e.end_min for e in by_end]
    best = [0] * (len(by_end) + 1)
    previous = [0] * len(by_end)
    for j, event in enumerate(by_end):
        previous[j] = bisect.bisect_right(ends, event.start_min, 0, j)
        best[j + 1] = max(best[j], best[previous[j]] + instance.weight(event) * event.duration)
    chosen: list[Event] = []
    j = len(by_end)
    while j > 0:
        event = by_end[j - 1]
        taken = best[previous[j - 1]] + instance.weight(event) * event.duration
        if taken >= best[j - 1]:  # taking it is (one of) the optimal choices
            chosen.append(event)
            j = previous[j - 1]
        else:
            j -= 1
    chosen.reverse()
    return best[-1], chosen


def optimal_score(instance: Instance) -> int:
    return solve(instance)[0]


SCHEDULE_OPEN, SCHEDULE_CLOSE = "<schedule>\n", "</schedule>"


def event_xml(e: Event) -> str:
    return f"<event>\n<name>{e.name}</name>\n<start>{e.start}</start>\n<end>{e.end}</end>\n</event>\n"


def schedule_xml(events: Sequence[Event]) -> str:
    return SCHEDULE_OPEN + "".join(event_xml(e) for e in events) + SCHEDULE_CLOSE


TRACES = ("conflicts", "dp", "dpm", "dpl")  # warmstart.trace: the reasoning the solver writes before its schedule
# the dp traces' fixed lines, which traced_choice reads back
BEST_HEADER = "Best by end time, in each group of overlapping events:\n"
NO_OVERLAPS = "No overlaps: every event fits."
KEPT_LINE = "Kept: "
SCHEDULE_LINE = "Schedule: "


def solver_completion(instance: Instance, trace: str = "conflicts", letters: Sequence[str] | None = None) -> str:
    """A short, correct reasoning trace and the optimal schedule, in the exact output format.

    Both traces first walk the events in start order, each with the earlier events it overlaps, so that
    a small model finds a conflict by comparing a start with the end times on the lines just above
    (with only the list of conflicts, SmolLM2-135M warm-started on 3,000 answers still put overlapping
    events in 62 of 100 test schedules). "conflicts" then names each overlapping pair and the side the
    optimum keeps; "dp" works the optimum out instead, one local step a line (_dp_lines), and ends with
    the schedule's names in one line (its Kept lines joined), which the answer then copies from just above
    it. "dpm" is "dp" with each priority marked in the start-order list and each counting line starting
    from the event's times, so that the doubling and the count read what sits on their own line. "dpl" is
    "dpm" with a letter for each event (event_letters): the start-order list writes it before the name,
    every later line writes the letter alone, and the Schedule line each kept letter with its name. A name
    is copied once into the trace, not once a line, and an unseen name miscopied there no longer derails
    the lines that refer to it. `letters`: dpl's letters in start order in place of event_letters' (a
    model's own, to compare its trace line by line).
    """
    if trace not in TRACES:
        raise ValueError(f"trace must be one of {', '.join(TRACES)}, got {trace!r}")
    value, schedule = solve(instance)
    ordered = sorted(instance.events, key=lambda e: (e.start_min, e.end_min))
    labeled = trace == "dpl"
    ids = dict(zip(ordered, (letters or event_letters(ordered)) if labeled else [e.name for e in ordered]))
    lines = ["By start time:"]
    for i, event in enumerate(ordered):
        earlier = [ids[other] for other in ordered[:i] if overlaps(other, event)]
        clash = f", overlaps {', '.join(earlier)}" if earlier else ""
        mark = ", priority" if trace in ("dpm", "dpl") and event.name in instance.priorities else ""
        head = f"{ids[event]} {event.name}" if labeled else event.name
        lines.append(f"{head} {event.start}-{event.end}{mark}{clash}")
    if trace == "conflicts":
        lines += _conflict_lines(instance, ordered, set(schedule))
    else:
        lines += _dp_lines(instance, ordered, ids, times=trace in ("dpm", "dpl"))
    lines.append(f"Total weighted duration: {value}.")
    if trace != "conflicts":
        kept = (f"{ids[e]} {e.name}" if labeled else e.name for e in schedule)
        lines.append(f"{SCHEDULE_LINE}{', '.join(kept)}.")
    return "<think>" + "\n".join(lines) + "</think>\n" + schedule_xml(schedule)


def event_letters(ordered: Sequence[Event]) -> list[str]:
    """The dpl trace's letters for events in start order: consecutive letters from one the instance's
    events pick, Z wrapping round to A. Always from A, the last event of the 4-8-event training instances
    would always be D to H, and a warm-start learnt to stop there: it dropped the 9th to 12th events of
    the larger instances from its groups. Past 26 events: A to Z, then AA, AB, ... (label)."""
    if len(ordered) > 26:
        return [label(i) for i in range(len(ordered))]
    events = "\n".join(f"{e.name} {e.start}-{e.end}" for e in ordered)
    first = int.from_bytes(hashlib.sha256(events.encode()).digest()[:4], "big") % 26
    return [chr(ord("A") + (first + i) % 26) for i in range(len(ordered))]


def label(index: int) -> str:
    """The index-th of A to Z, then AA, AB, ..."""
    text, index = "", index + 1
    while index:
        index, letter = divmod(index - 1, 26)
        text = chr(ord("A") + letter) + text
    return text


def _conflict_lines(instance: Instance, ordered: list[Event], chosen: set[Event]) -> list[str]:
    lines = []
    for i, a in enumerate(ordered):
        for b in ordered[i + 1 :]:
            if overlaps(a, b):
                wa, wb = instance.weight(a) * a.duration, instance.weight(b) * b.duration
                kept = [e.name for e in (a, b) if e in chosen]
                verdict = f"keep {kept[0]}" if len(kept) == 1 else "drop both"
                lines.append(f"{a.name} ({wa}) overlaps {b.name} ({wb}): {verdict}.")
    return lines


def overlap_groups(ordered: list[Event]) -> list[list[Event]]:
    """Runs of events (in start order) joined by overlaps: an event that overlaps no earlier one starts
    a new run, as it starts at or after every earlier end. Runs never overlap each other, so the optimum
    is each run's optimum side by side."""
    groups: list[list[Event]] = []
    for i, event in enumerate(ordered):
        if any(overlaps(other, event) for other in ordered[:i]):
            groups[-1].append(event)
        else:
            groups.append([event])
    return groups


def worked_duration(instance: Instance, event: Event, times: bool = False, ident: str | None = None) -> str:
    """An event's weighted duration, counted from its start in whole hours, then quarters, then the rest
    (each step one addition a small model can copy), doubled for a priority. Written directly, 82% of the
    weights in a warm-started SmolLM2-135M's traces were wrong (docs/results-gpu.md, attempt 13)."""
    steps, at = [], event.start_min
    for size in (60, 15):
        while at + size <= event.end_min:
            at += size
            steps.append(f"{format_time(at)} is {at - event.start_min}")
    if at < event.end_min:
        steps.append(f"{event.end} is {event.duration}")
    span = f" {event.start}-{event.end}" if times else ""
    text = f"{ident or event.name}{span}: {', '.join(steps) or '0'} min"
    weight = instance.weight(event)
    return text + (f", x{weight} = {weight * event.duration}." if weight != 1 else ".")


def _dp_lines(instance: Instance, ordered: list[Event], ids: dict[Event, str], times: bool = False) -> list[str]:
    """solve()'s recurrence inside each overlap group: first each event's weighted time, worked out; then,
    run by run in start order, one event a line in end order: its weighted time plus the best before its
    start (the last line ending by then), against the line above, and the events that best keeps, copied
    from that line. Each step reads only numbers and names already written, so the last line of a group is
    the group's optimum (solve()'s choice, ties included). A Kept line closes each run, an event alone
    included, so that the schedule is those lines joined: with the kept events only on each group's last
    line, a full dpm warm-start's Schedule line listed its groups' conclusion in 207 of the 433 traces
    that concluded an optimum (docs/results-gpu.md, attempt 16; 847 of 847 with the Kept lines, 18).
    `ids` names each event in these lines: its name, or its dpl letter."""
    runs = overlap_groups(ordered)
    groups = [g for g in runs if len(g) > 1]
    if not groups:
        return [NO_OVERLAPS]
    lines = ["Weighted minutes of the overlapping events:"]
    lines += [worked_duration(instance, event, times, ids[event]) for group in groups for event in group]
    lines.append(BEST_HEADER.rstrip("\n"))
    for group in runs:
        if len(group) == 1:
            lines.append(f"{KEPT_LINE}{ids[group[0]]}.")
            continue
        by_end = sorted(group, key=lambda e: (e.end_min, e.start_min, e.name))
        best: list[tuple[int, list[str]]] = []
        for j, event in enumerate(by_end):
            weighted = instance.weight(event) * event.duration
            before = [k for k in range(j) if by_end[k].end_min <= event.start_min]
            text = f"{ids[event]} {weighted}: "
            if before:
                value, kept = best[before[-1]]
                text += f"{weighted} + {value} after {ids[by_end[before[-1]]]} = {weighted + value}"
                taken = (weighted + value, [*kept, ids[event]])
            else:
                text += str(weighted)
                taken = (weighted, [ids[event]])
            best.append(best[-1] if j and best[-1][0] > taken[0] else taken)
            if j:
                text += f" vs {best[-2][0]}"
            lines.append(f"{text}, keep {', '.join(best[-1][1])}.")
        lines.append(f"{KEPT_LINE}{', '.join(ids[e] for e in group if ids[e] in best[-1][1])}.")
    return lines


def reasoning(completion: str) -> str:
    """What a completion writes before </think> (all of it when there is no </think>)."""
    return completion.split("</think>")[0]


def labels(completion: str, instance: Instance) -> dict[str, str] | None:
    """A dpl trace's letters -> the instance's names: the letter that starts each line of the trace's
    start-order list names the event in that place; None when the trace does not letter its events (its
    list does not begin with a letter and the first event's name)."""
    ordered = sorted(instance.events, key=lambda e: (e.start_min, e.end_min))
    listed = reasoning(completion).partition("By start time:\n")[2].split("\n")[: len(ordered)]
    if not ordered or not re.match(rf"[A-Z]+ {re.escape(ordered[0].name)} ", listed[0]):
        return None
    letters = (line.partition(" ")[0] for line in listed)
    return {letter: event.name for letter, event in zip(letters, ordered) if re.fullmatch("[A-Z]+", letter)}


def written_weights(completion: str, instance: Instance) -> list[tuple[Event, int]]:
    """The weighted durations a completion's trace states for the instance's events, in any trace's
    form ("Name (90) overlaps", "Name 90: ...", "Name[ 10:00-10:45]: ... is 45 min, x2 = 90.", a dpl
    trace's letter in place of the name), to check a model's arithmetic against Instance.weight(e) * e.duration."""
    trace = reasoning(completion)
    letters = {name: letter for letter, name in (labels(completion, instance) or {}).items()}
    found = []
    for event in instance.events:
        name = re.escape(letters.get(event.name, event.name))
        for pattern in (
            rf"(?:^|\n){name} \((\d+)\) overlaps",
            rf" overlaps {name} \((\d+)\):",
            rf"\n{name} (\d+): ",
        ):
            found += [(event, int(w)) for w in re.findall(pattern, trace)]
        for minutes, doubled in re.findall(
            rf"\n{name}(?: \d\d:\d\d-\d\d:\d\d)?: [^\n]* is (\d+) min(?:, x\d+ = (\d+))?\.", trace
        ):
            found.append((event, int(doubled or minutes)))
    return found


def _names(listed: str) -> list[str]:
    """The names of a trace's "A, B." list (a keep, a Kept or a Schedule line's), in order."""
    listed = listed.rstrip(".")
    return listed.split(", ") if listed else []


def schedule_line(completion: str, instance: Instance | None = None) -> list[str] | None:
    """The names a dp-form trace's Schedule line lists, in its order (a dpl trace's letters dropped, given
    the instance); None for a trace without one."""
    letters = labels(completion, instance) if instance is not None else None
    for line in reasoning(completion).split("\n"):
        if line.startswith(SCHEDULE_LINE):
            listed = _names(line[len(SCHEDULE_LINE) :])
            return [item.partition(" ")[2] for item in listed] if letters else listed
    return None


def traced_choice(completion: str, instance: Instance) -> set[str] | None:
    """The event names a dp-form trace concludes for: each group's last "keep", and each event alone that a
    Kept line names (in a trace without Kept lines, every event it weighs nowhere); None for a trace
    without dp lines (the conflicts form).

    Set against the Kept lines and the answer's schedule, it tells a wrong conclusion from a right one
    copied out wrong.
    """
    trace = reasoning(completion)
    if NO_OVERLAPS in trace:
        return {e.name for e in instance.events}
    if BEST_HEADER not in trace:
        return None
    letters = labels(completion, instance) or {}
    kept, latest = set(), None
    for line in trace.split(BEST_HEADER, 1)[1].split("\n"):
        head, keep, names = line.partition(", keep ")
        if keep:
            if " vs " not in head and latest is not None:  # a group's first line: the group before it ended
                kept.update(latest)
            latest = _names(names)
        elif line.startswith(KEPT_LINE):  # closes a group (its last keep counts) or names an event alone
            kept.update(latest if latest is not None else _names(line[len(KEPT_LINE) :]))
            latest = None
    if KEPT_LINE not in trace:
        kept |= {e.name for e in instance.events} - {e.name for e, _ in written_weights(completion, instance)}
    return {letters.get(name, name) for name in kept | set(latest or ())}
