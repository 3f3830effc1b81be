"""GPU paths: skipped, with the reason in the report, where no NVIDIA GPU (or the GPU extra) is present.

Run them on a GPU box with `pip install -e '.[gpu]'`; `python scripts/gpu_check.py` runs the whole GPU path.
"""

from __future__ import annotations

import importlib.util

import pytest
import torch

from dayplan.inference import pick_backend

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs an NVIDIA GPU (CUDA): none on this machine"),
]


def test_auto_backend_picks_vllm_when_installed():
    expected = "vllm" if importlib.util.find_spec("vllm") else "transformers"
    assert pick_backend("auto") == expected


@pytest.mark.skipif(
    importlib.util.find_spec("bitsandbytes") is None, reason="needs bitsandbytes (pip install '.[gpu]')"
)
def test_tiny_model_loads_in_4bit(tmp_path):
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    from dayplan.modeling import build_tiny

    build_tiny(tmp_path / "tiny", seed=0)
    quantization = BitsAndBytesConfig(
        load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.bfloat16
    )
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "tiny", quantization_config=quantization, device_map="cuda")
    logits = model(torch.tensor([[1, 2, 3]], device="cuda")).logits
    assert logits.shape[-1] == model.config.vocab_size
    assert torch.isfinite(logits).all()
