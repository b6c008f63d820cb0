"""A whole model on the CPU: weights row-major, only the head column-major, every linear weight so.

`lay_out_weights` stores every float32 weight of a linear layer column-major (its transpose
contiguous, the same values) when a model that decodes eagerly loads on the CPU. This loads one
model three times and lays the copies out as ``row-major`` (as a checkpoint loads, and as the
app keeps a model whose compiled step decodes), ``head`` (only the output head column-major) and
``all`` (every linear weight column-major, as the app loads float32 for eager decoding). For
each it measures a decode step of the static loop over ``--cached`` prompt tokens (ms/step, the
mean of ``--steps`` steps) and the embedding of ``--passages`` passages (s). In each round the
copies take turns (the order rotates); the figures are medians over the rounds with their
min-max, and ``vs all`` is the median of the rounds' ratios of each copy's time to that of
``all`` (above 1: ``all`` is faster). The last lines say how far the copies' logits and
embeddings differ from the row-major one's. Run:

    .venv/bin/python -m benchmarks.weight_layout                     # mid shape, float32
    .venv/bin/python -m benchmarks.weight_layout --model /path/to/SmolLM2-135M-Instruct
    .venv/bin/python -m benchmarks.weight_layout --dtype bfloat16 --rounds 5 --json
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from benchmarks.figures import cell, spread
from grit_desktop.engine.bench import rotated
from grit_desktop.engine.grit.model import GritModel, LoadOptions
from grit_desktop.engine.grit.synthetic import build_model

LAYOUTS = ("row-major", "head", "all")


def lay_out(model: GritModel, layout: str) -> None:
    """Every linear weight row-major, except those ``layout`` keeps column-major."""
    head = model.lm.get_output_embeddings()
    for module in model.lm.modules():
        if isinstance(module, torch.nn.Linear):
            column = layout == "all" or (layout == "head" and module is head)
            w = module.weight.data
            module.weight.data = w.t().contiguous().t() if column else w.contiguous()


def copies(folder: str, dtype: torch.dtype) -> dict[str, GritModel]:
    models = {}
    for layout in LAYOUTS:
        model = GritModel.load(LoadOptions(folder, "cpu", "none", "off"))
        model.lm.to(dtype)
        lay_out(model, layout)
        models[layout] = model
    return models


def decode_ms(model: GritModel, ids: list[int], steps: int) -> float:
    with model.forward_passes("static", len(ids) + steps + 2) as passes:
        passes.forward(ids, 0)
        passes.forward([5], len(ids))  # the first step allocates
        t0 = time.perf_counter()
        for i in range(1, steps + 1):
            passes.forward([5], len(ids) + i)
        return (time.perf_counter() - t0) / steps * 1e3


def embed_s(model: GritModel, texts: list[str]) -> float:
    t0 = time.perf_counter()
    model.embed(texts)
    return time.perf_counter() - t0


OUTPUTS = ("prompt_logits", "step_logits", "embeddings")


def differences(models: dict[str, GritModel], ids: list[int], texts: list[str]) -> dict[str, Any]:
    """Largest absolute difference of each copy's logits (prompt, then one step) and embeddings
    from the row-major copy's."""
    def outputs(model: GritModel) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        with model.forward_passes("static", len(ids) + 2) as passes:
            prompt = passes.forward(ids, 0).float()
            step = passes.forward([5], len(ids)).float()
        return prompt, step, torch.as_tensor(model.embed(texts[:2]).vectors).float()

    reference = outputs(models["row-major"])
    return {layout: {name: float((a - b).abs().max()) for name, a, b in
                     zip(OUTPUTS, outputs(model), reference, strict=True)}
            for layout, model in models.items() if layout != "row-major"}


def measure(models: dict[str, GritModel], cached: int, steps: int, passages: int,
            rounds: int) -> dict[str, Any]:
    ids = [1 + i % 300 for i in range(cached)]
    texts = [" ".join(f"word{(i * 7 + j) % 997}" for j in range(200)) for i in range(passages)]
    for model in models.values():  # warm up: first passes pay for allocation and page faults
        decode_ms(model, ids, 2)
        embed_s(model, texts[:1])
    ms: dict[str, list[float]] = {layout: [] for layout in LAYOUTS}
    seconds: dict[str, list[float]] = {layout: [] for layout in LAYOUTS}
    for k in range(rounds):
        for layout in rotated(LAYOUTS, k):
            ms[layout].append(decode_ms(models[layout], ids, steps))
            seconds[layout].append(embed_s(models[layout], texts))
    return {
        "decode_ms_per_step": {layout: spread(ms[layout]) for layout in LAYOUTS},
        "embed_s": {layout: spread(seconds[layout]) for layout in LAYOUTS},
        "decode_vs_all": {layout: _ratio(ms[layout], ms["all"]) for layout in LAYOUTS},
        "embed_vs_all": {layout: _ratio(seconds[layout], seconds["all"]) for layout in LAYOUTS},
        "max_abs_difference": differences(models, ids, texts),
    }


def _ratio(xs: list[float], ys: list[float]) -> float:
    return statistics.median(x / y for x, y in zip(xs, ys, strict=True))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", help="a model folder (default: a random model of the mid shape)")
    p.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32")
    p.add_argument("--cached", type=int, default=500, help="prompt tokens before the answer (default 500)")
    p.add_argument("--steps", type=int, default=24, help="decode steps timed per copy and round")
    p.add_argument("--passages", type=int, default=8, help="passages embedded per copy and round")
    p.add_argument("--rounds", type=int, default=9)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    torch.set_grad_enabled(False)
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.model or str(build_model(Path(tmp) / "mid", "mid", tokenizer="bpe"))
        models = copies(folder, getattr(torch, args.dtype))
        result = measure(models, args.cached, args.steps, args.passages, args.rounds)
    header = {"model": args.model or "random mid", "dtype": args.dtype, "cached_tokens": args.cached,
              "steps": args.steps, "passages": args.passages, "rounds": args.rounds,
              "machine": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
              "torch": torch.__version__}
    if args.json:
        print(json.dumps({**header, **result}, indent=2))
        return
    print(f"{header['model']}, {args.dtype}; torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"median (min-max) of {args.rounds} rounds")
    print(f"{'layout':<11}{f'decode ms/step ({args.cached} cached)':>30}{'vs all':>9}"
          f"{f'embed {args.passages} passages (s)':>30}{'vs all':>9}")
    for layout in LAYOUTS:
        print(f"{layout:<11}{cell(result['decode_ms_per_step'][layout], '{:.2f}'):>30}"
              f"{result['decode_vs_all'][layout]:>8.2f}x"
              f"{cell(result['embed_s'][layout], '{:.2f}'):>30}{result['embed_vs_all'][layout]:>8.2f}x")
    for layout, diff in result["max_abs_difference"].items():
        print(f"{layout} against row-major, largest difference: prompt logits {diff['prompt_logits']:.2g}, "
              f"step logits {diff['step_logits']:.2g}, embeddings {diff['embeddings']:.2g}")


if __name__ == "__main__":
    main()
