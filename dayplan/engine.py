"""One inference engine for several models: weights are swapped between models of the same architecture.

Starting vLLM costs about a minute a model (CUDA graphs, torch.compile, the KV cache), while the models of a
run (base, warm-start, merged epochs) are full-weight folders of one architecture. So the engine starts on
the first model to evaluate, and each next model's safetensors are loaded into it in place (vLLM: in every
worker, as TRL's colocated GRPO pushes new weights; transformers: `load_state_dict`, strict), after which
the prefix cache is reset, since every model answers the same prompts. Two folders are swap-compatible when
their config.json (less the keys that do not change the computation) and tokenizer files agree; any other
model (another architecture, a Hub id) gets an engine of its own, the previous one shut down first.

evaluate_models writes each model's completions per split exactly as one engine a model would, with the
same per-model partial files; a finished model's partial file stays until every model is done, so that a
run killed in a later model resumes without redoing the finished ones (DVC removes the stage's outputs
before rerunning it).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from tqdm import tqdm

from dayplan.constrain import Constraint
from dayplan.dataset import rows_fingerprint
from dayplan.inference import (
    ModelLoadError,
    complete_all,
    count_tokens,
    decoding_constraints,
    first_line,
    generation_settings,
    partial_key,
    prompt_token_ids,
    vllm_llm_kwargs,
    vllm_sampling_params,
)
from dayplan.io import write_jsonl
from dayplan.scoring import SKIPPED
from dayplan.swap import folder_state_dict, incompatibility, swap_signature
from dayplan.task import chat_messages

# --- the engines ----------------------------------------------------------------------------------------


class TransformersEngine:
    """A transformers model and tokenizer, loaded once; the CPU backend and the fallback on a GPU."""

    def __init__(self, model_dir: str, settings: dict, batch_size: int):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        dtype = torch.bfloat16 if self.device == "cuda" else torch.float32
        try:  # a missing folder or an offline Hub id
            self.tokenizer = AutoTokenizer.from_pretrained(model_dir, padding_side="left")
            self.model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype).to(self.device).eval()
        except (OSError, ValueError) as error:
            raise ModelLoadError(f"{model_dir}: cannot load the model ({first_line(error)})") from None
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.settings, self.batch_size = settings, batch_size
        # swapped-in models share the tokenizer (swap_signature), so the compiled vocabulary serves them all
        self.constraint = None if settings["decoding"] == "free" else Constraint(self.model, self.tokenizer)

    def swap(self, model_dir: str) -> None:
        state = folder_state_dict(model_dir)
        # tied weights (the embeddings and lm_head) are saved once: each name sharing a tensor gets the saved one
        sharing: dict[int, list[str]] = {}
        for name, tensor in self.model.state_dict().items():
            sharing.setdefault(tensor.data_ptr(), []).append(name)
        for names in sharing.values():
            saved = next((name for name in names if name in state), None)
            for name in names if saved else ():
                state.setdefault(name, state[saved])
        try:
            self.model.load_state_dict(state, strict=True)
        except RuntimeError as error:
            detail = " ".join(str(error).split())[:300]
            raise ModelLoadError(f"{model_dir}: cannot swap its weights into the engine ({detail})") from None

    def generate(self, conversations: Sequence[list[dict]]) -> Iterator[str]:
        """One completion per conversation, in order, batch by batch (constrained: each row to its own events)."""
        import torch
        from transformers import LogitsProcessorList

        settings, tokenizer = self.settings, self.tokenizer
        torch.manual_seed(settings["seed"])
        sampling = {"do_sample": settings["temperature"] > 0}
        if sampling["do_sample"]:
            sampling.update(temperature=settings["temperature"], top_p=settings["top_p"])
        for start in range(0, len(conversations), self.batch_size):
            batch = conversations[start : start + self.batch_size]
            texts = [tokenizer.apply_chat_template(c, tokenize=False, add_generation_prompt=True) for c in batch]
            inputs = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
            extra = {}
            if self.constraint is not None:
                constraints = decoding_constraints(batch, settings["decoding"])
                extra["logits_processor"] = LogitsProcessorList([self.constraint.processor(constraints)])
            with torch.no_grad():
                output = self.model.generate(
                    **inputs,
                    max_new_tokens=settings["max_new_tokens"],
                    pad_token_id=tokenizer.pad_token_id,
                    **sampling,
                    **extra,
                )
            yield from tokenizer.batch_decode(output[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True)

    def close(self) -> None:
        del self.model
        gc.collect()


class WeightSwap:
    """vLLM worker extension (dayplan.inference.WORKER_EXTENSION names it in LLM(...)).

    vLLM adds it to the bases of each worker's class, so that `collective_rpc("load_folder_weights",
    args=(folder,))` runs in every worker process, as TRL's `vllm-serve` receives new weights. Each worker
    reads the files itself: no tensors cross a process boundary, no callable needs pickling, and with tensor
    parallelism each keeps its own slice (vLLM's weight loaders shard the full tensors).
    """

    def load_folder_weights(self, folder: str) -> list[str]:
        """Load the folder's safetensors into the running model; the parameters none of them set."""
        from safetensors.torch import load_file

        model = self.model_runner.model
        expected = {name for name, _ in model.named_parameters()}
        loaded: set[str] | None = set()
        for shard in sorted(Path(folder).glob("*.safetensors")):
            names = model.load_weights(load_file(str(shard)).items())
            loaded = None if names is None or loaded is None else loaded | set(names)
        return [] if loaded is None else sorted(expected - loaded)


class VllmEngine:
    """One vLLM engine (V1: its own process, and one per GPU with tensor parallelism)."""

    def __init__(self, model_dir: str, settings: dict, evaluate):
        import os

        # the parent already touched CUDA (backend check), so vLLM's workers must not be forked from it
        os.environ.setdefault("VLLM_WORKER_MULTIPROC_METHOD", "spawn")
        from vllm import LLM

        self.llm = LLM(**vllm_llm_kwargs(model_dir, evaluate))
        self.settings = settings
        self.calls = 0  # request ids stay unique across the models one engine answers for

    def swap(self, model_dir: str) -> None:
        folder = str(Path(model_dir).resolve())  # the workers' working directory need not be ours
        if not any(Path(folder).glob("*.safetensors")):
            raise ModelLoadError(f"{model_dir}: no .safetensors files to load the weights from")
        try:
            unset = self.llm.collective_rpc("load_folder_weights", args=(folder,))
        except Exception as error:  # a shape mismatch, a missing method: vLLM re-raises the worker's error
            detail = first_line(error)
            raise ModelLoadError(f"{model_dir}: cannot swap its weights into the engine ({detail})") from None
        missing = sorted({name for names in unset for name in names})
        if missing:
            raise ModelLoadError(
                f"{model_dir}: cannot swap its weights into the engine ({len(missing)} parameters not in its "
                f"files, e.g. {missing[0]})"
            )
        # the cached KV blocks of the same prompts were computed by the previous weights
        if self.llm.reset_prefix_cache() is False:
            raise ModelLoadError(f"{model_dir}: the engine refused to reset its prefix cache after the swap")

    def generate(self, conversations: Sequence[list[dict]]) -> Iterator[str]:
        """Every conversation queued at once (vLLM batches them), each completion yielded in order as soon as
        it and those before it are done, so that the caller saves it (llm.chat would return them only all
        together, and a run killed half-way would keep none). Constrained: one SamplingParams a conversation.
        Checked against llm.chat on one H100 (200 prompts): the same prompt token ids, and texts that differ
        no more than llm.chat's own from one call to the next (identical: the stream and a second llm.chat
        call 188 of 200, two llm.chat calls 95)."""
        sampling = vllm_sampling_params(self.settings, conversations)
        params = sampling if isinstance(sampling, list) else [sampling] * len(conversations)
        report_when_done(params)
        tokenizer, engine = self.llm.get_tokenizer(), self.llm.llm_engine
        self.calls += 1
        ids = [f"{self.calls}-{i}" for i in range(len(conversations))]
        for request, conversation, request_params in zip(ids, conversations, params):
            prompt = {"prompt_token_ids": prompt_token_ids(tokenizer, conversation)}
            engine.add_request(request, prompt, request_params)
        yield from in_request_order(engine, ids)

    def close(self) -> None:
        # V1 runs the engine core in a child process: shutting it down frees the GPU for the next engine
        shutdown = getattr(getattr(self.llm.llm_engine, "engine_core", None), "shutdown", None)
        if shutdown is not None:
            shutdown()
        del self.llm
        gc.collect()


def report_when_done(params: list) -> None:
    """Have vLLM report each request once, when it is done (as llm.chat does), not after every step."""
    try:
        from vllm.sampling_params import RequestOutputKind
    except ImportError:  # a vLLM without output kinds reports every step: the finished outputs still say so
        return
    for request_params in params:
        request_params.output_kind = RequestOutputKind.FINAL_ONLY


def in_request_order(engine, ids: list[str]) -> Iterator[str]:
    """The texts of a vLLM engine's queued requests `ids`, stepping it until each is done, in the order of
    `ids` (requests finish out of order: a finished one waits for those before it). Requests still queued
    when the caller stops reading are aborted."""
    position = {request: i for i, request in enumerate(ids)}
    finished: dict[int, str] = {}
    given = 0
    try:
        with tqdm(total=len(ids), desc="completions", unit="answer") as bar:
            while given < len(ids):
                if not engine.has_unfinished_requests():
                    raise RuntimeError(f"vLLM stopped with {len(ids) - given} of {len(ids)} requests unanswered")
                for output in engine.step():
                    if output.finished and output.request_id in position:
                        finished[position[output.request_id]] = output.outputs[0].text
                        bar.update()
                while given in finished:
                    given += 1  # counted before the yield: a caller that stops there has it
                    yield finished.pop(given - 1)
    finally:
        if given < len(ids):
            engine.abort_request(ids[given:])


class Engines:
    """The engine for each model in turn: started on the first, its weights swapped for each compatible next
    model, shut down and started again for an incompatible one."""

    def __init__(self, settings: dict, evaluate, start: Callable[[str], object] | None = None):
        self.settings, self.evaluate = settings, evaluate
        self.start = start or self._start
        self.engine = None
        self.loaded: str | None = None
        self.signature: dict | None = None
        self.starts = 0

    def _start(self, model: str):
        if self.settings["backend"] == "vllm":
            return VllmEngine(model, self.settings, self.evaluate)
        return TransformersEngine(model, self.settings, self.evaluate.batch_size)

    def load(self, name: str, model: str) -> str:
        """Make `model` the engine's: 'start', 'swap' or 'loaded' (it already was)."""
        if self.engine is not None and model == self.loaded:
            return "loaded"
        signature = swap_signature(model)
        if self.engine is not None:
            why = incompatibility(self.signature, signature)
            if why is None:
                self.engine.swap(model)
                self.loaded = model
                return "swap"
            print(f"{name}: new engine ({why}, compared with {self.loaded})", flush=True)
            self.close()
        self.engine = self.start(model)
        self.loaded, self.signature = model, signature
        self.starts += 1
        return "start"

    def generate(self, conversations: Sequence[list[dict]]) -> Iterator[str]:
        return self.engine.generate(conversations)

    def close(self) -> None:
        if self.engine is not None:
            self.engine.close()
        self.engine, self.loaded, self.signature = None, None, None


# --- every model of a run -------------------------------------------------------------------------------

INCLUDED = {"start": ", engine start included", "swap": ", weight swap included"}  # in a model's seconds


def split_rows(completions: list[dict], rows: dict[str, list[dict]]) -> dict[str, list[dict]]:
    """The completions of all splits (ids running on) -> per split, ids from 0 and the split's fingerprint."""
    parts, first = {}, 0
    for split, split_rows_ in rows.items():
        test_set, part = rows_fingerprint(split_rows_), completions[first : first + len(split_rows_)]
        parts[split] = [{**c, "id": c["id"] - first, "split": split, "test_set": test_set} for c in part]
        first += len(split_rows_)
    return parts


def evaluate_models(
    models: dict[str, str],
    rows: dict[str, list[dict]],
    evaluate,
    backend: str,
    out_dir: Path,
    partial_dir: Path,
    start: Callable[[str], object] | None = None,
) -> Engines:
    """Completions of every model (name: folder or Hub id) for every split: out_dir/<split>/<name>.jsonl.

    The prompts of all splits go to the engine in one call a model. A line per model says how many new
    tokens it took and how fast; the last line, the wall time of all of them, engine start-up included.
    `start` (model -> engine) replaces the engine factory; the returned Engines says how many starts it took.
    """
    started = time.perf_counter()
    settings = generation_settings(evaluate, backend)
    every_row = [row for split_rows_ in rows.values() for row in split_rows_]
    conversations = [chat_messages(row["prompt"]) for row in every_row]
    test_set = rows_fingerprint(every_row)
    engines = Engines(settings, evaluate, start)
    finished: list[Path] = []
    try:
        for name, model in models.items():
            outs = {split: out_dir / split / f"{name}.jsonl" for split in rows}
            skipped = Path(model) / "SKIPPED.json"
            if skipped.exists():  # e.g. the warm-start is disabled: nothing to evaluate, the score stage says so
                reason = skipped.read_text().strip()
                print(f"{name}: skipped ({reason})")
                for out in outs.values():
                    write_jsonl(out, [{SKIPPED: reason}])
                continue
            print(f"{name}: {' + '.join(f'{len(r)} {s}' for s, r in rows.items())} prompts, {backend} backend")
            model_started, how = time.perf_counter(), []

            def generate(todo, name=name, model=model, how=how):
                how.append(engines.load(name, model))
                return engines.generate(todo)

            partial, key = partial_dir / f"{name}.jsonl", partial_key(settings, model, test_set)
            try:
                completions = complete_all(model, conversations, settings, evaluate, partial, name, key, generate)
            except ModelLoadError as error:
                raise ModelLoadError(f"{name}: {error}") from None
            seconds = time.perf_counter() - model_started
            tokens = count_tokens(model, [c["completion"] for c in completions])
            if how:
                included = INCLUDED.get(how[0], "")
                print(f"{name}: {tokens} new tokens in {seconds:.1f} s ({tokens / seconds:.0f} tokens/s{included})")
            else:
                print(f"{name}: {tokens} new tokens, every completion from {partial}")
            for split, part in split_rows(completions, rows).items():
                write_jsonl(outs[split], part)
            finished.append(partial)
    finally:
        engines.close()
    for partial in finished:
        partial.unlink(missing_ok=True)
    if partial_dir.is_dir() and not any(partial_dir.iterdir()):
        partial_dir.rmdir()
    print(f"{len(models)} models, {engines.starts} engine start(s): {time.perf_counter() - started:.1f} s in all")
    return engines
