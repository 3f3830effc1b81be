"""Time parse + every reward + judge on 200,000-character adversarial completions (target: well under 100 ms).

Run from the repository root: python -m benchmarks.parse_bench
"""

from __future__ import annotations

import time

from dayplan.rewards import reward_functions
from dayplan.task import Instance, judge, parse_events, solve

INSTANCE = Instance.from_row(
    [["A", "09:00", "10:00"], ["B", "09:30", "11:00"], ["C", "11:00", "12:00"], ["D", "13:00", "14:00"]], ["A"]
)
COLUMNS = {
    "events": [[e.as_row() for e in INSTANCE.events]],
    "priority_events": [["A"]],
    "optimal_score": [solve(INSTANCE)[0]],
}


def inputs() -> dict[str, str]:
    head = "<think>x</think><schedule>"
    unclosed = head + "<event><name>" * 15_400
    clashing = head + "".join(
        f"<event><name>E{i}</name><start>09:00</start><end>10:00</end></event>" for i in range(3_000)
    )
    known_repeated = head + "<event><name>A</name><start>09:00</start><end>10:00</end></event>" * 3_100
    return {
        "unclosed <event><name>": unclosed,
        "3,000 clashing events": clashing + "</schedule>",
        "3,100 repeated known events": known_repeated + "</schedule>",
    }


def run_all(text: str) -> None:
    parse_events(text)
    for function in reward_functions().values():
        function([text], **COLUMNS)
    judge(text, INSTANCE)


def main(repeats: int = 5) -> None:
    for label, text in inputs().items():
        timings = []
        for _ in range(repeats):
            start = time.perf_counter()
            run_all(text)
            timings.append(time.perf_counter() - start)
        print(
            f"{label:30s} {len(text):>8,d} chars: best {min(timings) * 1e3:6.1f} ms, worst {max(timings) * 1e3:6.1f} ms"
        )


if __name__ == "__main__":
    main()
