"""Embedding throughput: `GritModel.embed` against the reference `gritlm.GritLM.encode`.

Both embed the same texts (mixed lengths, as passages of PDFs are) with the same model in the
same process, in turns (A B A B ...), and the median of each is printed side by side with their
ratio and the agreement of the vectors. Run:

    .venv/bin/python -m benchmarks.embed_throughput                 # 'mid' random model, CPU
    .venv/bin/python -m benchmarks.embed_throughput --shape tiny --texts 200
    .venv/bin/python -m benchmarks.embed_throughput --model /path/to/GritLM-7B --device cuda

The reference needs ``pip install --no-deps gritlm==1.0.2`` (scripts/test.sh installs it).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from grit_desktop.engine.grit.model import GritModel, LoadOptions
from grit_desktop.engine.grit.prompts import embed_instruction
from grit_desktop.engine.grit.synthetic import build_model

WORDS = (
    "the warranty covers parts and labour for two years from the date of purchase except damage "
    "caused by misuse table figure section chapter results method we propose a model that learns "
    "to embed and generate text retrieval augmented generation reduces latency page"
).split()


def make_texts(n: int, seed: int = 0, lo: int = 8, hi: int = 400) -> list[str]:
    """``n`` texts whose word counts spread log-uniformly over [lo, hi] (short and long mixed)."""
    rng = np.random.default_rng(seed)
    lengths = np.exp(rng.uniform(np.log(lo), np.log(hi), size=n)).astype(int)
    return [" ".join(rng.choice(WORDS, size=int(k))) for k in lengths]


def timed(fn: Callable[[], np.ndarray]) -> tuple[float, np.ndarray]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shape", default="mid", help="random model shape when --model is not given")
    ap.add_argument("--model", help="a model folder instead of a random model")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--texts", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--max-words", type=int, default=400, help="longest text, in words (shortest 8)")
    ap.add_argument("--ref-batch", type=int, default=256, help="reference batch size (its default)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    from gritlm import GritLM

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.model) if args.model else build_model(tmp, args.shape)
        ours = GritModel.load(LoadOptions(str(folder), device=args.device, quantization="none"))
        with contextlib.redirect_stdout(io.StringIO()):  # it prints a banner
            ref = GritLM(str(folder), dtype=getattr(torch, ours.info.dtype), device=args.device)
        texts = make_texts(args.texts, hi=args.max_words)
        instruction = embed_instruction(None)
        n_tokens = sum(min(512, len(ours.tokenize(instruction + t, bos=True))) for t in texts)

        def run_ours() -> np.ndarray:
            return ours.embed(texts, max_length=512).vectors

        def run_ref() -> np.ndarray:
            with contextlib.redirect_stderr(io.StringIO()):  # its progress bars
                return np.asarray(ref.encode(texts, instruction=instruction,
                                             batch_size=args.ref_batch, max_length=512))

        warm = texts[:: max(1, len(texts) // 50)]
        ours.embed(warm, max_length=512)  # warm-up on a sample
        ref.encode(warm, instruction=instruction, batch_size=args.ref_batch, max_length=512)
        ours_s: list[float] = []
        ref_s: list[float] = []
        for _ in range(args.repeats):
            t, a = timed(run_ours)
            ours_s.append(t)
            t, b = timed(run_ref)
            ref_s.append(t)
        cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
        result = {
            "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads",
            "model": ours.info.path if args.model else f"random {args.shape}",
            "device": ours.info.device, "dtype": ours.info.dtype,
            "texts": len(texts), "tokens": n_tokens,
            "grit_desktop_tokens_per_s": n_tokens / statistics.median(ours_s),
            "reference_tokens_per_s": n_tokens / statistics.median(ref_s),
            "grit_desktop_s": ours_s, "reference_s": ref_s,
            "min_cosine": float(cos.min()),
        }
        result["speedup"] = result["grit_desktop_tokens_per_s"] / result["reference_tokens_per_s"]
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"embedding throughput, {result['model']} on {result['device']} ({result['dtype']}), "
          f"{result['texts']} texts / {result['tokens']} tokens, median of {args.repeats}")
    print(f"  {'':28}{'tokens/s':>12}{'seconds':>10}")
    print(f"  {'grit-desktop GritModel.embed':28}{result['grit_desktop_tokens_per_s']:>12,.0f}"
          f"{statistics.median(ours_s):>10.2f}")
    print(f"  {'gritlm GritLM.encode':28}{result['reference_tokens_per_s']:>12,.0f}"
          f"{statistics.median(ref_s):>10.2f}")
    print(f"  speed-up {result['speedup']:.2f}x; vectors agree to cosine >= {result['min_cosine']:.6f}")


if __name__ == "__main__":
    main()
