"""Retrain: a new DVC experiment on fresh data, gated against the MLflow Model Registry's champion.

    python -m stages.retrain [-S key=value ...] [--name EXP] [--decisions DIR]

One retrain at a time (a lock that the experiment's processes hold too); the data seed follows
retrain.data_seed_strategy; the challenger (reports/metrics/test/<retrain.candidate>.json) is registered and
promoted only if it beats the champion on a full evaluation of the same test rows (retrain.margin,
retrain.rule_tolerance). A retrain killed half-way leaves the champion as it was; rerunning it with the
same options resumes it. Details: dayplan/retrain.py.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from dayplan.retrain import retrain


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-S", "--set-param", action="append", default=[], help="params override, as dvc exp run -S")
    parser.add_argument("--name", help="DVC experiment name (default retrain-<UTC time>)")
    parser.add_argument(
        "--decisions", type=Path, default=Path("reports/retrain"), help="decision records and model card folder"
    )
    args = parser.parse_args()
    decision, path = retrain(args.set_param, args.name, args.decisions)
    print(
        f"retrain: {decision['decision']} {decision['registered_model']} v{decision['challenger']['version']} "
        f"({decision['reason']}); champion is v{decision['champion_version_after']}; {path}"
    )


if __name__ == "__main__":
    main()
