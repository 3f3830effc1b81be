"""Try a model on your own day: its schedule, the judge's verdict and the optimum.

    python -m stages.plan EVENTS_FILE [--model DIR] [--priorities NAME ...] [--max-new-tokens N]
                          [--decoding free|grounded|feasible] [--params FILE] [--models DIR]

EVENTS_FILE is JSON, {"events": [["Team sync", "09:00", "09:30"], ...], "priorities": ["Team sync"]},
or the prompt's text ("Events:" then "- Team sync (09:00 - 09:30)" lines, "Priorities:" then "- Team sync").
The model is --model, else models:/<retrain.registered_model>@champion from the MLflow registry, else
the newest the pipeline built under --models (merged/epoch<highest>, warmstart, base). Greedy
generation with transformers, as the infer stage does without a GPU, decoded as evaluate.decoding says
(feasible: a valid schedule of the file's own events) unless --decoding. A bad file ends with one line.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dayplan.config import ParamsError, load_params
from dayplan.constrain import GrammarError
from dayplan.plan import PlanError, complete, pick_model, read_instance, report
from dayplan.task import DECODINGS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("events_file", help="JSON or prompt-text events file")
    parser.add_argument("--model", help="a model folder (default: the champion, else the newest pipeline model)")
    parser.add_argument("--priorities", nargs="*", metavar="NAME", help="priority events (replace the file's)")
    parser.add_argument("--max-new-tokens", type=int, help="default: the params' evaluate.max_new_tokens, or 1024")
    parser.add_argument(
        "--decoding",
        choices=["free", "grounded", "feasible"],
        help="free; grounded: only the file's events; feasible: a valid schedule of them (default: the params')",
    )
    parser.add_argument("--params", type=Path, default=Path("params.yaml"), help="default: params.yaml, if any")
    parser.add_argument("--models", type=Path, default=Path("models"), help="the pipeline's models (default: models)")
    args = parser.parse_args()
    registered_model, max_new_tokens, decoding = "dayplan-scheduler", 1024, "feasible"
    if args.params.exists():
        try:
            params = load_params(args.params)
        except ParamsError as error:
            sys.exit(f"error: {error}")
        registered_model, max_new_tokens = params.retrain.registered_model, params.evaluate.max_new_tokens
        decoding = params.evaluate.decoding
    decoding = args.decoding or decoding
    try:
        instance = read_instance(args.events_file, args.priorities)
        model_dir, chosen = pick_model(args.model, registered_model, args.models)
    except PlanError as error:
        sys.exit(f"error: {error}")
    print(f"Model: {model_dir} ({chosen})")
    print(f"Decoding: {DECODINGS[decoding]}")
    try:
        completion = complete(model_dir, instance, args.max_new_tokens or max_new_tokens, decoding)
    except GrammarError as error:
        sys.exit(f"error: {error}")
    print(report(instance, completion))


if __name__ == "__main__":
    main()
