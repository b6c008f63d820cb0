"""``grit-desktop bench``: embedding, search and answering speed, every cache mode side by side."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
from pathlib import Path

import torch

from grit_desktop.cli.common import load_model, settings_from
from grit_desktop.config import Device, Quantization
from grit_desktop.engine import bench
from grit_desktop.engine.grit.model import GritModel, LoadOptions
from grit_desktop.engine.grit.prompts import CACHE_MODES
from grit_desktop.engine.grit.synthetic import SHAPES, build_model

NAME = "bench"
HELP = "measure embedding, search and answering speed (every cache mode) on this machine"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--synthetic", choices=tuple(SHAPES), metavar="SHAPE",
                   help=f"a random model of a named shape ({', '.join(SHAPES)}) instead of "
                   "--model; gritlm-7b is GritLM-7B's exact shape (4-bit on CUDA)")
    p.add_argument("--sizes", default=",".join(map(str, bench.SIZES)),
                   help="passage tokens to cache, comma-separated (default %(default)s)")
    p.add_argument("--modes", default=",".join(CACHE_MODES), help="cache modes (default: all)")
    p.add_argument("--new-tokens", type=int, default=32, help="tokens generated per answer")
    p.add_argument("--search-chunks", type=int, default=5000, help="chunks in the search test")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")


def run(args: argparse.Namespace) -> int:
    sizes = [int(s) for s in args.sizes.split(",") if s]
    modes = [m for m in args.modes.split(",") if m]
    unknown = set(modes) - set(CACHE_MODES)
    if unknown:
        print(f"grit-desktop: error: unknown cache mode(s) {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        model = _model(args, Path(tmp))
        say = (lambda msg: None) if args.json else (lambda msg: print(f"  ... {msg}", file=sys.stderr))
        result = bench.run(model, sizes=sizes, modes=modes, new_tokens=args.new_tokens,
                           search_chunks=args.search_chunks, progress=say)
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
    return GritModel.load(LoadOptions(str(folder), device, quant))


def bench_tokenizer_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("mistral_common") is not None


def report(r: bench.BenchResult) -> str:
    lines = [
        f"grit-desktop bench: {r.model} on {r.device} ({r.dtype}, {r.quantization})",
        f"  embedding                {r.embed_tokens_per_s:>10,.0f} tokens/s (512-token passages)",
        f"  hybrid search            p50 {r.search_p50_ms:.1f} ms, p95 {r.search_p95_ms:.1f} ms "
        f"over {r.search_chunks:,} chunks",
        "",
        "  time to first token (ms) from passages known to first token; 'cold': passage states",
        "  computed now, 'warm': taken from the KV cache (a follow-up over the same passages);",
        "  'generate' is a plain model.generate on the uncached prompt (the baseline)",
        f"  {'mode':<10}{'tokens':>7}{'cold':>10}{'warm':>10}{'warm/none':>11}"
        f"{'decode tok/s':>14}{'agree':>7}",
    ]
    for size in sorted({m.cached_tokens for m in r.modes}):
        none = next((m for m in r.modes if m.mode == "none" and m.cached_tokens == size), None)
        base = r.baseline_ttft_ms.get(size)
        if base is not None:
            lines.append(f"  {'generate':<10}{size:>7}{base:>10.1f}{'':>10}{'':>11}"
                         f"{r.baseline_decode_tokens_per_s[size]:>14.1f}{'':>7}")
        for m in (m for m in r.modes if m.cached_tokens == size):
            ratio = f"{m.ttft_warm_ms / none.ttft_warm_ms:.2f}x" if none else "-"
            lines.append(f"  {m.mode:<10}{size:>7}{m.ttft_cold_ms:>10.1f}{m.ttft_warm_ms:>10.1f}"
                         f"{ratio:>11}{m.decode_tokens_per_s:>14.1f}{m.agreement:>7.2f}")
    mem = f"  peak memory: {r.peak_rss_mib:,.0f} MiB RSS"
    if r.peak_gpu_mib is not None:
        mem += f", {r.peak_gpu_mib:,.0f} MiB GPU (allocated)"
    lines += ["", mem, *(f"  note: {n}" for n in r.notes)]
    return "\n".join(lines)
