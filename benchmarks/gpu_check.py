"""The GPU run, prepared: GritLM-7B's shape in 4-bit NF4 and in bf16, every figure that matters.

For each weight format (``--quantizations``, default ``nf4,none``) the script loads a random
model of GritLM-7B's exact shape (``--synthetic gritlm-7b``: Mistral-7B, 32 layers, grouped
queries, 32,000 tokens; built once, on the GPU, in seconds) with the decode step compiled, and
prints:

- load time, and memory: the weights' footprint, GPU memory allocated after load and at peak;
- compiling the decode step (CUDA graphs): its time, and how answers then decode;
- embedding tokens/s on 512-token passages;
- time to first token per cache mode at ``--sizes`` passage tokens (default 2,000 and 4,000),
  cold and warm, and decode tokens/s;
- decode tokens/s of ``model.lm.generate`` and of the three loops (dynamic, static, compiled),
  and whether the compiled loop's tokens equal the eager loop's (``compiled_equals_eager``);
  where they do not, whether that is rounding: the same tokens fed to both (teacher forcing),
  the largest difference of their logits, and at the steps whose top token differs, how far
  apart the eager loop's first two candidates were (``logits``). A random model's logits are
  nearly flat, so in bf16 two candidates within rounding of each other are common.

Every answering figure is a median over ``--repeat`` rounds in rotating order (see
`grit_desktop.engine.bench`). The JSON of each format goes to ``OUT/gpu_check-<format>.json``
and a summary to ``OUT/gpu_check.json``. Goals on an H100-class GPU: embedding >= 20,000 tokens/s,
NF4 decode >= 100 tokens/s. Budget: under 8 minutes on one GPU with the defaults. On the CPU,
``--synthetic mid`` runs the same code in CI size (the tests do). Run:

    .venv/bin/python -m benchmarks.gpu_check /tmp/gpu-check
    .venv/bin/python -m benchmarks.gpu_check /tmp/check --synthetic mid --sizes 64,128 --repeat 2
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from grit_desktop.config import Quantization, Settings
from grit_desktop.engine import bench
from grit_desktop.engine.answering.rag import Answerer
from grit_desktop.engine.grit.decoding import CompiledPasses
from grit_desktop.engine.grit.model import GritModel, LoadOptions
from grit_desktop.engine.grit.prompts import CACHE_MODES
from grit_desktop.engine.grit.synthetic import SHAPES, build_model


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path, help="folder for the JSON files (created)")
    ap.add_argument("--synthetic", choices=tuple(SHAPES), default="gritlm-7b")
    ap.add_argument("--quantizations", default="nf4,none", help="weight formats, comma-separated")
    ap.add_argument("--sizes", default="2000,4000", help="passage tokens, comma-separated")
    ap.add_argument("--repeat", type=int, default=3, help="rounds per figure (median)")
    ap.add_argument("--new-tokens", type=int, default=64, help="tokens generated per answer")
    ap.add_argument("--embed-passages", type=int, default=0,
                    help="512-token passages embedded (0: 256 on CUDA, 16 on the CPU)")
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    formats: list[Quantization] = [q for q in args.quantizations.split(",") if q]
    if not set(formats) <= {"nf4", "none"} or args.repeat < 1:
        ap.error("--quantizations takes nf4 and/or none; --repeat at least 1")
    args.out.mkdir(parents=True, exist_ok=True)
    cuda = torch.cuda.is_available()
    t_start = time.perf_counter()
    say = _clock(t_start)
    summary: dict[str, Any] = {"machine": _machine(cuda), "shape": args.synthetic, "sizes": sizes,
                               "repeat": args.repeat, "new_tokens": args.new_tokens, "formats": {}}
    with tempfile.TemporaryDirectory() as tmp:
        say(f"building a random {args.synthetic} model")
        t0 = time.perf_counter()
        big = args.synthetic == "gritlm-7b"
        folder = build_model(Path(tmp) / args.synthetic, args.synthetic, tokenizer=_tokenizer(),
                             dtype="bfloat16" if big else "float32",
                             device="cuda" if cuda and big else "cpu")
        summary["build_s"] = time.perf_counter() - t0
        _free()
        for quantization in formats:
            figures = check(folder, quantization, sizes, args, say)
            (args.out / f"gpu_check-{quantization}.json").write_text(json.dumps(figures, indent=2))
            summary["formats"][quantization] = _headline(figures)
            _free()
    summary["total_s"] = time.perf_counter() - t_start
    (args.out / "gpu_check.json").write_text(json.dumps(summary, indent=2))
    print(report(summary))
    return 0


def check(folder: Path, quantization: Quantization, sizes: list[int], args: argparse.Namespace,
          say: Any) -> dict[str, Any]:
    """Every figure for one weight format; the model is released before returning."""
    cuda = torch.cuda.is_available()
    say(f"{quantization}: loading")
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    model = GritModel.load(LoadOptions(str(folder), "auto", quantization, "on"))
    load_s = time.perf_counter() - t0
    after_load = torch.cuda.memory_allocated() / 2**20 if cuda else None
    say(f"{quantization}: compiling the decode step")
    t0 = time.perf_counter()
    compiled = model.prepare_decoding(max(sizes) + args.new_tokens + 128)
    compile_s = time.perf_counter() - t0
    say(f"{quantization}: {model.decoding}; measuring")
    result = bench.run(model, sizes=sizes, modes=CACHE_MODES, new_tokens=args.new_tokens,
                       search_chunks=1000, embed_passages=args.embed_passages or None,
                       repeat=args.repeat, progress=lambda m: say(f"{quantization}: {m}"))
    info = model.info
    out: dict[str, Any] = {
        "quantization": info.quantization, "dtype": info.dtype, "device": info.device,
        "load_s": load_s, "weights_mib": info.memory_bytes / 2**20,
        "gpu_allocated_after_load_mib": after_load, "compile_s": compile_s,
        "compiled": compiled, "decoding": model.decoding,
        "compiled_equals_eager": {
            str(d.passage_tokens): d.agreement == 1.0 for d in result.decoders if d.decoder == "compiled"},
        "logits": {str(size): compare_logits(model, size, args.new_tokens) for size in sizes},
        "bench": dataclasses.asdict(result),
    }
    del model
    return out


def compare_logits(model: GritModel, size: int, new_tokens: int) -> dict[str, Any]:
    """The static and the compiled loop fed the same tokens (the static loop's greedy answer):
    their logits' largest difference, the logits' scale, and the steps whose top token differs,
    each with the static loop's gap between its first two candidates."""
    prompt = Answerer(model, Settings(max_new_tokens=new_tokens)).assemble(
        "none", bench.QUESTION, bench.sources_for(model, size, seed=size), max_new_tokens=new_tokens)
    total = len(prompt.ids) + new_tokens
    with model.forward_passes("static", total) as eager, model.forward_passes("compiled", total) as fused:
        if not isinstance(fused, CompiledPasses):
            return {"compared": False, "why": f"no compiled step for {total} tokens ({model.decoding})"}
        a, b = eager.forward(prompt.ids, 0).float(), fused.forward(prompt.ids, 0).float()
        steps: list[dict[str, float]] = []
        largest = scale = 0.0
        for i in range(new_tokens):
            largest = max(largest, float((a - b).abs().max()))
            scale = max(scale, float(a.abs().max()))
            if int(a.argmax()) != int(b.argmax()):
                top = a.topk(2).values
                steps.append({"step": i, "eager_top2_gap": float(top[0] - top[1])})
            token = int(a.argmax())
            a = eager.forward([token], len(prompt.ids) + i).float()
            b = fused.forward([token], len(prompt.ids) + i).float()
    return {"compared": True, "max_abs_diff": largest, "max_abs_logit": scale,
            "top_token_differs": steps, "steps": new_tokens}


def _headline(figures: dict[str, Any]) -> dict[str, Any]:
    """The figures the issue's goals name, per size, from one format's JSON."""
    b = figures["bench"]
    decode: dict[str, dict[str, float | None]] = {}
    for d in b["decoders"]:
        decode.setdefault(str(d["passage_tokens"]), {})[d["decoder"]] = d["decode_tokens_per_s"]
    ttft: dict[str, dict[str, list[float]]] = {}
    for m in b["modes"]:
        ttft.setdefault(str(m["cached_tokens"]), {})[m["mode"]] = [m["ttft_cold_ms"], m["ttft_warm_ms"]]
    return {"load_s": figures["load_s"], "weights_mib": figures["weights_mib"],
            "peak_gpu_mib": b["peak_gpu_mib"], "compile_s": figures["compile_s"],
            "decoding": figures["decoding"], "embed_tokens_per_s": b["embed_tokens_per_s"],
            "decode_tokens_per_s": decode, "ttft_cold_warm_ms": ttft,
            "compiled_equals_eager": figures["compiled_equals_eager"], "logits": figures["logits"]}


def report(summary: dict[str, Any]) -> str:
    lines = [f"gpu_check: random {summary['shape']} on {summary['machine']}; "
             f"{summary['repeat']} rounds, {summary['new_tokens']} new tokens; medians",
             f"  model built in {summary['build_s']:.0f} s; everything in {summary['total_s']:.0f} s"]
    for fmt, h in summary["formats"].items():
        peak = f"{h['peak_gpu_mib']:,.0f} MiB GPU peak" if h["peak_gpu_mib"] is not None else "CPU"
        lines += ["", f"  weights {fmt}: loaded in {h['load_s']:.1f} s, {h['weights_mib']:,.0f} MiB, {peak}",
                  f"    decode step compiled in {h['compile_s']:.1f} s: {h['decoding']}",
                  f"    embedding {h['embed_tokens_per_s']:,.0f} tokens/s (512-token passages)"]
        for size, rates in h["decode_tokens_per_s"].items():
            shown = ", ".join(f"{k} {_num(v)}" for k, v in rates.items())
            same = h["compiled_equals_eager"].get(size)
            lines.append(f"    decode tok/s at {size}: {shown}; compiled tokens = eager: {same}")
            cmp = h["logits"].get(size, {})
            if cmp.get("compared"):
                differs = cmp["top_token_differs"]
                gaps = ", ".join(f"{d['eager_top2_gap']:.2g}" for d in differs[:4]) or "-"
                lines.append(f"      fed the same tokens: logits differ by <= {cmp['max_abs_diff']:.2g} "
                             f"(logits up to {cmp['max_abs_logit']:.2g}); top token differs at "
                             f"{len(differs)}/{cmp['steps']} steps, where eager's top two were {gaps} apart")
        for size, modes in h["ttft_cold_warm_ms"].items():
            shown = ", ".join(f"{k} {c:.0f}/{w:.0f}" for k, (c, w) in modes.items())
            lines.append(f"    first token ms cold/warm at {size}: {shown}")
    return "\n".join(lines)


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _clock(t_start: float) -> Any:
    def say(msg: str) -> None:
        print(f"  [{time.perf_counter() - t_start:6.1f} s] {msg}", file=sys.stderr, flush=True)
    return say


def _machine(cuda: bool) -> str:
    if cuda:
        props = torch.cuda.get_device_properties(0)
        return f"{props.name} ({props.total_memory / 2**30:.0f} GiB), torch {torch.__version__}"
    return f"CPU {platform.processor() or platform.machine()}, torch {torch.__version__}"


def _tokenizer() -> str:
    import importlib.util

    return "mistral" if importlib.util.find_spec("mistral_common") is not None else "bpe"


def _free() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


if __name__ == "__main__":
    sys.exit(main())
