"""``grit-desktop bench``: embedding, search and answering speed, every cache mode side by side."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
from pathlib import Path
from typing import cast

import torch

from grit_desktop.cli.common import load_model, settings_from
from grit_desktop.config import CacheMode, Device, Quantization
from grit_desktop.engine import bench
from grit_desktop.engine.grit.model import GritModel, LoadOptions
from grit_desktop.engine.grit.prompts import CACHE_MODES
from grit_desktop.engine.grit.synthetic import SHAPES, build_model


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--synthetic", choices=tuple(SHAPES), metavar="SHAPE",
                   help=f"a random model of a named shape ({', '.join(SHAPES)}) instead of "
                   "--model; gritlm-7b is GritLM-7B's exact shape (4-bit on CUDA)")
    p.add_argument("--sizes", default=",".join(map(str, bench.SIZES)),
                   help="passage tokens to cache, comma-separated (default %(default)s)")
    p.add_argument("--modes", default=",".join(CACHE_MODES), help="cache modes (default: all)")
    p.add_argument("--new-tokens", type=int, default=32, help="tokens generated per answer")
    p.add_argument("--search-chunks", type=int, default=5000, help="chunks in the search test")
    p.add_argument("--repeat", type=int, default=bench.REPEAT, metavar="N",
                   help="rounds of every answering cell; figures are their medians (default %(default)s)")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")


def run(args: argparse.Namespace) -> int:
    sizes = [int(s) for s in args.sizes.split(",") if s]
    modes = [m for m in args.modes.split(",") if m]
    unknown = set(modes) - set(CACHE_MODES)
    if unknown:
        print(f"grit-desktop: error: unknown cache mode(s) {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    if args.repeat < 1:
        print("grit-desktop: error: --repeat must be at least 1", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        model = _model(args, Path(tmp))
        say = (lambda msg: None) if args.json else (lambda msg: print(f"  ... {msg}", file=sys.stderr))
        result = bench.run(model, sizes=sizes, modes=cast(list[CacheMode], modes),
                           new_tokens=args.new_tokens, search_chunks=args.search_chunks,
                           repeat=args.repeat, progress=say)
    if args.synthetic:
        result.model = f"random {args.synthetic}"
    if args.json:
        print(json.dumps(dataclasses.asdict(result), indent=2))
    else:
        print(report(result))
    return 0


def _model(args: argparse.Namespace, tmp: Path) -> GritModel:
    if not args.synthetic:
        return load_model(settings_from(args))
    cuda = torch.cuda.is_available() and args.device != "cpu"
    big = args.synthetic == "gritlm-7b"
    try:
        tokenizer = "mistral" if bench_tokenizer_available() else "bpe"
        folder = build_model(tmp / args.synthetic, args.synthetic, tokenizer=tokenizer,
                             dtype="bfloat16" if big else "float32",
                             device="cuda" if cuda and big else "cpu")
    finally:
        if cuda:
            torch.cuda.empty_cache()
    quant: Quantization = args.quantization or ("nf4" if cuda else "none")
    device: Device = args.device or "auto"
    return GritModel.load(LoadOptions(str(folder), device, quant, args.compile_decoding or "auto"))


def bench_tokenizer_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("mistral_common") is not None


_LAYOUTS = {"rows": "row-major", "columns": "column-major"}


def report(r: bench.BenchResult) -> str:
    lines = [
        f"grit-desktop bench: {r.model} on {r.device} ({r.dtype}, {r.quantization})",
        f"  answers decode with     {r.decoding}",
        *([f"  float32 weights         {_LAYOUTS[r.weights]}, as loaded, for the modes; each decoder in",
           "                          its faster layout: 'compiled' row-major, the others column-major"]
          if r.weights else []),
        f"  embedding                {r.embed_tokens_per_s:>10,.0f} tokens/s (512-token passages)",
        f"  hybrid search            p50 {r.search_p50_ms:.1f} ms, p95 {r.search_p95_ms:.1f} ms "
        f"over {r.search_chunks:,} chunks",
        "",
        f"  {r.repeats} repeats, order rotating; figures: median (min-max); "
        "ratios: median of per-repeat ratios",
        "  '-': not measured (a decode rate needs "
        f"{bench.MIN_RATE_TOKENS}+ tokens after the first, over {bench.MIN_RATE_SECONDS * 1000:g}+ ms)",
        "",
        "  decoders on the uncached prompt: 'generate' is a plain model.lm.generate (the baseline);",
        "  GritModel.generate's loops: 'dynamic' (a cache grown at every token), 'static'",
        "  (preallocated), 'compiled' (compiled decode step); first token in ms; vs generate:",
        "  decode tok/s ratio; agree: tokens equal to 'dynamic''s",
    ]
    lines += _table(["decoder", "tokens", "first token", "decode tok/s", "vs generate", "agree"], [
        [d.decoder, str(d.passage_tokens), _spread(d.ttft_ms_spread),
         _spread(d.decode_tokens_per_s_spread), _ratio(d.decode_vs_generate), f"{d.agreement:.2f}"]
        for d in r.decoders])
    lines += [
        "",
        "  time to first token (ms) from passages known to first token; 'cold': passage states",
        "  computed now, 'warm': taken from the KV cache (a follow-up over the same passages)",
    ]
    lines += _table(["mode", "tokens", "cold", "warm", "cold/none", "warm/none", "decode tok/s", "agree"], [
        [m.mode, str(m.cached_tokens), _spread(m.ttft_cold_ms_spread), _spread(m.ttft_warm_ms_spread),
         _ratio(m.cold_vs_none), _ratio(m.warm_vs_none), _spread(m.decode_tokens_per_s_spread),
         f"{m.agreement:.2f}"]
        for m in r.modes])
    mem = f"  peak memory: {r.peak_rss_mib:,.0f} MiB RSS"
    if r.peak_gpu_mib is not None:
        mem += f", {r.peak_gpu_mib:,.0f} MiB GPU (allocated)"
    lines += ["", mem, *(f"  note: {n}" for n in r.notes)]
    return "\n".join(lines)


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    """Lines of a table, each column as wide as its widest cell; the first one left-aligned."""
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]
    return ["  " + " ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                            for i, (cell, w) in enumerate(zip(row, widths, strict=True))).rstrip()
            for row in [header, *rows]]


def _number(x: float) -> str:
    """Three significant figures or so, in few characters: 12345, 113, 45.3, 4.27."""
    if x >= 100:
        return f"{x:.0f}"
    return f"{x:.1f}" if x >= 10 else f"{x:.2f}"


def _spread(s: bench.Spread | None) -> str:
    """``median (min-max)``; ``-`` where there is no figure."""
    if s is None:
        return "-"
    if s.n == 1:
        return _number(s.median)
    return f"{_number(s.median)} ({_number(s.lo)}-{_number(s.hi)})"


def _ratio(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}x"
