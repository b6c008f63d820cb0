"""Where one answer token's time goes in our eager decoding loops, and what removing the rest could give.

Each answer token is one forward pass over one new position. This runs that pass with the
`static` and the `dynamic` loop of `GritModel.generate` over a prompt of ``--cached`` tokens, on a
random model of a synthetic shape (``mid`` by default), and splits its time with
``torch.profiler`` into:

- ``matmul``: the weight products (``aten::mm``/``addmm``/``bmm``), which read every weight once
  per token;
- ``attention``: ``scaled_dot_product_attention`` over the cached keys and values;
- ``other ops``: every other operator (norms, rotary embedding, cache writes, casts);
- ``outside ops``: the rest of the step's time, spent in Python and the framework between
  operators (and in the profiler's own bookkeeping).

``ms/step`` is timed without the profiler. ``ceiling`` is ``ms/step`` over the time of the
products and attention alone: the speed-up a loop would reach if everything else cost nothing,
with the same weights and the same arithmetic. A last line says how fast the products read their
weights (bytes of every linear layer's weight over the products' time), beside how fast summing
a tensor of as many bytes reads them: the rate this machine streams memory at. In each round the
loops take turns (the order rotates); figures are medians over the rounds with their min-max. Run:

    .venv/bin/python -m benchmarks.decode_profile                      # mid, 500 cached tokens
    .venv/bin/python -m benchmarks.decode_profile --cached 4000 --rounds 5 --json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from benchmarks.figures import cell, spread
from grit_desktop.engine.bench import rotated
from grit_desktop.engine.grit.model import GritModel, LoadOptions
from grit_desktop.engine.grit.synthetic import SHAPES, build_model

LOOPS = ("static", "dynamic")
MATMUL = frozenset({"aten::mm", "aten::addmm", "aten::bmm"})
PARTS = ("matmul", "attention", "other ops", "outside ops")


def is_attention(op: str) -> bool:
    return "scaled_dot_product" in op


def product_weight_bytes(model: GritModel) -> int:
    """Bytes of the weights every decode step multiplies by (every linear layer, the head too)."""
    return sum(m.weight.numel() * m.weight.element_size()
               for m in model.lm.modules() if isinstance(m, torch.nn.Linear))


def read_rate(flat: torch.Tensor, calls: int = 5) -> float:
    """GB/s of summing ``flat``: how fast this machine streams that many bytes from memory."""
    t0 = time.perf_counter()
    for _ in range(calls):
        flat.sum()
    return flat.numel() * flat.element_size() * calls / (time.perf_counter() - t0) / 1e9


def profile_round(model: GritModel, loop: str, ids: list[int], steps: int,
                  weight_bytes: int) -> dict[str, float]:
    """One round of ``steps`` decode steps, timed, then as many profiled: ms per step and per part."""
    cached = len(ids)
    with model.forward_passes(loop, cached + 2 * steps + 4) as passes:  # type: ignore[arg-type]
        passes.forward(ids, 0)
        passes.forward([5], cached)  # the first step allocates; it is not measured
        t0 = time.perf_counter()
        for i in range(1, steps + 1):
            passes.forward([5], cached + i)
        wall = (time.perf_counter() - t0) / steps * 1e3
        with _no_stderr(), torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
            t0 = time.perf_counter()
            for i in range(steps + 1, 2 * steps + 1):
                passes.forward([5], cached + i)
            profiled = (time.perf_counter() - t0) / steps * 1e3
    ms = dict.fromkeys(PARTS[:3], 0.0)
    for event in prof.key_averages():
        part = "matmul" if event.key in MATMUL else "attention" if is_attention(event.key) else "other ops"
        ms[part] += event.self_cpu_time_total / 1e3 / steps
    ms["outside ops"] = max(0.0, profiled - sum(ms.values()))
    total = sum(ms.values())
    return {"ms_per_step": wall, **{part: ms[part] / total for part in PARTS},
            "ceiling": wall / (ms["matmul"] + ms["attention"]),
            "weights_gb_per_s": weight_bytes / ms["matmul"] / 1e6}


@contextlib.contextmanager
def _no_stderr() -> Iterator[None]:
    """Standard error silenced at the file descriptor: the profiler's C++ side writes a line at each
    start and stop that no setting turns off. An exception still reaches the caller."""
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def measure(model: GritModel, cached: int, steps: int, rounds: int) -> dict[str, Any]:
    ids = [1 + i % 300 for i in range(cached)]
    rows: dict[str, list[dict[str, float]]] = {loop: [] for loop in LOOPS}
    weight_bytes = product_weight_bytes(model)
    flat = torch.ones(weight_bytes // 4)  # float32: as many bytes as the weights
    read_rate(flat, 1)
    for loop in LOOPS:  # warm up: first passes pay for allocation and page faults
        profile_round(model, loop, ids, 2, weight_bytes)
    reads = []
    for k in range(rounds):
        reads.append(read_rate(flat))
        for loop in rotated(LOOPS, k):
            rows[loop].append(profile_round(model, loop, ids, steps, weight_bytes))
    figures = {loop: {key: spread([r[key] for r in rs]) for key in rs[0]} for loop, rs in rows.items()}
    return {"weights_mb": weight_bytes / 1e6, "read_gb_per_s": spread(reads),
            "loops": figures}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--shape", choices=tuple(SHAPES), default="mid")
    p.add_argument("--cached", type=int, default=500, help="prompt tokens before the answer (default 500)")
    p.add_argument("--steps", type=int, default=24, help="decode steps timed, and profiled, per round")
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    torch.set_grad_enabled(False)
    with tempfile.TemporaryDirectory() as tmp:
        folder = build_model(Path(tmp) / args.shape, args.shape, tokenizer="bpe")
        model = GritModel.load(LoadOptions(str(folder), "cpu", "none", "off"))
        result = measure(model, args.cached, args.steps, args.rounds)
    header = {"shape": args.shape, "cached_tokens": args.cached, "steps": args.steps, "rounds": args.rounds,
              "machine": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
              "torch": torch.__version__}
    if args.json:
        print(json.dumps({**header, **result}, indent=2))
        return
    print(f"{args.shape}, {args.cached} cached tokens; torch {torch.__version__}, {torch.get_num_threads()} "
          f"threads; median (min-max) of {args.rounds} rounds of {args.steps} steps")
    print(f"{'loop':<9}{'ms/step':>20}" + "".join(f"{part:>20}" for part in PARTS) + f"{'ceiling':>20}")
    for loop, figures in result["loops"].items():
        parts = "".join(_cell(figures[part], "{:.0%}") for part in PARTS)
        cells = _cell(figures["ms_per_step"], "{:.2f}") + parts
        print(f"{loop:<9}{cells}{_cell(figures['ceiling'], '{:.2f}x')}")
    rates = ", ".join(f"{loop} {cell(f['weights_gb_per_s'], '{:.1f}')}"
                      for loop, f in result["loops"].items())
    print(f"the products read {result['weights_mb']:.0f} MB of weights per step, at GB/s: {rates}; "
          f"summing as many bytes reads {cell(result['read_gb_per_s'], '{:.1f}')} GB/s")


def _cell(s: dict[str, float], fmt: str) -> str:
    return f" {cell(s, fmt):>19}"  # a space apart even when wider


if __name__ == "__main__":
    main()
