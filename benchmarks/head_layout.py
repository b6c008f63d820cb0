"""The output head's one-row product on the CPU: a row-major weight against a column-major one.

Every answer token multiplies one hidden state ``[1, hidden]`` by the head's ``[vocab, hidden]``
weight (``torch.nn.functional.linear``). The weight can lie in memory as loaded (row-major) or
transposed and contiguous (column-major, the same values); `lay_out_weights` picks the
column-major one for float32 on the CPU where answers decode eagerly
(``benchmarks/weight_layout.py`` measures that for a whole model's weights). This measures both
layouts for the heads of the ``mid`` shape, SmolLM2-135M and GritLM-7B, in float32 and bfloat16:
in each round the two layouts take turns (the order rotates), each timed as the mean of
``--calls`` products; the figures are medians over the rounds with their min-max, and the ratio
is the median of the rounds' row / column ratios (above 1: column-major is faster). Run:

    .venv/bin/python -m benchmarks.head_layout                # 15 rounds
    .venv/bin/python -m benchmarks.head_layout --rounds 5 --json
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from typing import Any

import torch

from benchmarks.figures import cell, spread
from grit_desktop.engine.bench import rotated

#: (name, vocabulary, hidden size) of the heads measured.
HEADS = (("mid", 32000, 512), ("smollm2-135m", 49152, 576), ("gritlm-7b", 32000, 4096))
LAYOUTS = ("row-major", "column-major")


def weights(vocab: int, hidden: int, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    row = torch.randn(vocab, hidden, generator=torch.Generator().manual_seed(0)).to(dtype)
    return {"row-major": row, "column-major": row.t().contiguous().t()}


def timed(x: torch.Tensor, weight: torch.Tensor, calls: int) -> float:
    """Milliseconds per product, the mean of ``calls``."""
    t0 = time.perf_counter()
    for _ in range(calls):
        torch.nn.functional.linear(x, weight)
    return (time.perf_counter() - t0) / calls * 1e3


def measure(vocab: int, hidden: int, dtype: torch.dtype, rounds: int, calls: int) -> dict[str, Any]:
    w = weights(vocab, hidden, dtype)
    x = torch.randn(1, hidden, generator=torch.Generator().manual_seed(1)).to(dtype)
    out = {name: torch.nn.functional.linear(x, w[name]) for name in LAYOUTS}
    for name in LAYOUTS:  # warm up: first calls pay for allocation and page faults
        timed(x, w[name], 2)
    ms: dict[str, list[float]] = {name: [] for name in LAYOUTS}
    for k in range(rounds):
        for name in rotated(LAYOUTS, k):
            ms[name].append(timed(x, w[name], calls))
    ratio = statistics.median(r / c for r, c in zip(ms["row-major"], ms["column-major"], strict=True))
    return {
        "vocab": vocab, "hidden": hidden, "dtype": str(dtype).removeprefix("torch."),
        "rounds": rounds, "calls": calls,
        "ms": {name: spread(ms[name]) for name in LAYOUTS},
        "row_over_column": ratio,
        "max_abs_difference": float((out["row-major"] - out["column-major"]).abs().max()),
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--calls", type=int, default=10, help="products timed per layout and round")
    p.add_argument("--heads", default=",".join(h[0] for h in HEADS), help="which heads (default: all)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    torch.set_grad_enabled(False)
    chosen = set(args.heads.split(","))
    results = [{"head": name, **measure(vocab, hidden, dtype, args.rounds, args.calls)}
               for name, vocab, hidden in HEADS if name in chosen
               for dtype in (torch.float32, torch.bfloat16)]
    if args.json:
        print(json.dumps({"machine": platform.processor() or platform.machine(),
                          "threads": torch.get_num_threads(), "torch": torch.__version__,
                          "results": results}, indent=2))
        return
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; ms per [1, hidden] x "
          f"weight^T product, median (min-max) of {args.rounds} rounds")
    print(f"{'head':<14}{'dtype':<10}{'row-major':>24}{'column-major':>24}{'row/column':>12}")
    for r in results:
        cells = "".join(f"{cell(r['ms'][name], '{:.2f}'):>24}" for name in LAYOUTS)
        print(f"{r['head']:<14}{r['dtype']:<10}{cells}{r['row_over_column']:>11.2f}x")


if __name__ == "__main__":
    main()
