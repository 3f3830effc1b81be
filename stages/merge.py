"""Stage merge: fold the GRPO adapter of one epoch into the full-precision start model -> models/merged/epoch<N>.

The merged model must reproduce base+adapter: its logits are checked on fixed prompts before anything is
written (merging into quantized weights silently changes outputs, unslothai/unsloth#2009).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dayplan.merging import find_adapter, merge_adapter
from dayplan.modeling import ModelError, resolve_start_model

GRPO_DIR = Path("models/grpo")
WARMSTART_DIR = Path("models/warmstart")
MERGED_DIR = Path("models/merged")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epoch", type=int, required=True, help="training epoch whose adapter is merged")
    args = parser.parse_args()
    out = MERGED_DIR / f"epoch{args.epoch}"
    try:
        adapter = find_adapter(GRPO_DIR, args.epoch)
        base = resolve_start_model(WARMSTART_DIR)
        print(f"merge: {adapter} into {base} -> {out}")
        check = merge_adapter(base, adapter, out)
    except ModelError as error:
        sys.exit(f"error: {error}")
    print(f"merge: check passed (max |logit diff| {check['max_abs_diff']:.2e} <= {check['tolerance']:.1e})")
    print(f"merge: wrote {out}")


if __name__ == "__main__":
    main()
