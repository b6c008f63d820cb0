"""``grit-desktop bench``: speed and memory of every part, side by side, in one run.

Figures (all on the same model, machine and prompt):
- embedding: tokens/s of `GritModel.embed` on 512-token passages;
- search: p50/p95 of hybrid search over a library of synthetic chunks;
- answering, for each cache mode at 500, 2,000 and 4,000 passage tokens: time to first token
  with the passages' states not yet cached ("cold") and cached ("warm", a follow-up over the
  same passages), decode tokens/s, and how many of the answer's tokens agree with ``none``;
- the baseline: a plain ``model.generate`` on the uncached prompt (time to first token and
  decode tokens/s), the loop every caching mode is compared against;
- peak memory of the process (and of the GPU on CUDA).

Time to first token is measured from the moment the passages are known (after retrieval) to the
first generated token: it includes laying out the prompt, taking or computing the passages'
states, and the prefill.
"""

from __future__ import annotations

import resource
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from grit_desktop.config import CacheMode, Settings
from grit_desktop.engine.answering.rag import Answerer
from grit_desktop.engine.grit.generation import GenerationParams, GenerationStats
from grit_desktop.engine.grit.kvcache import KVCache
from grit_desktop.engine.grit.model import GritModel
from grit_desktop.engine.grit.prompts import CACHE_MODES
from grit_desktop.engine.index.records import ChunkRecord, DocumentRecord, Source
from grit_desktop.engine.index.store import Store

SIZES = (500, 2000, 4000)
QUESTION = "What does the text say about the warranty and how long does it last?"
_WORDS = ("the warranty covers parts and labour for two years from the date of purchase except "
          "damage caused by misuse; the fan motor must be replaced every five thousand hours and "
          "the filters cleaned each month according to the maintenance schedule in chapter four "
          "of this manual which also lists the spare parts their numbers and prices").split()


@dataclass
class ModeFigures:
    mode: str
    cached_tokens: int  # passage tokens
    ttft_cold_ms: float
    ttft_warm_ms: float
    decode_tokens_per_s: float
    agreement: float  # share of answer tokens equal to the 'none' answer's, position by position


@dataclass
class BenchResult:
    model: str
    device: str
    dtype: str
    quantization: str
    embed_tokens_per_s: float = 0.0
    search_p50_ms: float = 0.0
    search_p95_ms: float = 0.0
    search_chunks: int = 0
    baseline_ttft_ms: dict[int, float] = field(default_factory=dict)
    baseline_decode_tokens_per_s: dict[int, float] = field(default_factory=dict)
    modes: list[ModeFigures] = field(default_factory=list)
    peak_rss_mib: float = 0.0
    peak_gpu_mib: float | None = None
    notes: list[str] = field(default_factory=list)


def passage(model: GritModel, tokens: int, seed: int) -> str:
    """A passage of exactly about ``tokens`` tokens of manual-like prose."""
    rng = np.random.default_rng(seed)
    words = " ".join(rng.choice(_WORDS, size=tokens * 2))
    ids = model.tokenize(words)[:tokens]
    return model.decode(ids)


def sources_for(model: GritModel, total_tokens: int, n: int = 4, seed: int = 0) -> list[Source]:
    """``n`` passages that together hold about ``total_tokens`` tokens."""
    each = max(8, total_tokens // n)
    out = []
    for i in range(n):
        text = passage(model, each, seed * 100 + i)
        out.append(Source(n=i + 1, chunk_id=f"bench{seed}:{i:06d}", doc_id=f"bench{seed}",
                          title="Bench", path="/bench.pdf", page_start=i + 1, page_end=i + 1,
                          char_start=0, char_end=len(text), score=1.0, text=text))
    return out


def run(model: GritModel, *, sizes: Sequence[int] = SIZES, modes: Sequence[str] = CACHE_MODES,
        new_tokens: int = 32, search_chunks: int = 5000, embed_passages: int | None = None,
        progress: Callable[[str], None] = lambda _: None) -> BenchResult:
    info = model.info
    result = BenchResult(info.name, info.device, info.dtype, info.quantization)
    if model.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    progress("embedding")
    result.embed_tokens_per_s = embed_speed(model, embed_passages)
    progress("search")
    result.search_chunks = search_chunks
    result.search_p50_ms, result.search_p95_ms = search_speed(model, search_chunks)
    # raw decoding (no repetition guard), as the baseline decodes
    params = GenerationParams(max_new_tokens=new_tokens, stop_at_eos=False).raw
    settings = Settings(max_new_tokens=new_tokens, kv_cache_mb=64 * 1024)
    for size in sizes:
        if size + new_tokens + 64 > info.context_length:
            result.notes.append(f"{size} cached tokens do not fit the context of {info.context_length}")
            continue
        sources = sources_for(model, size, seed=size)
        progress(f"baseline at {size} tokens")
        ttft, decode = baseline(model, sources, new_tokens)
        result.baseline_ttft_ms[size] = ttft
        result.baseline_decode_tokens_per_s[size] = decode
        reference: list[int] | None = None
        for mode in modes:
            progress(f"{mode} at {size} tokens")
            answerer = Answerer(model, settings, KVCache(64 * 2**30))
            cold, tokens, tok_s = answer_once(answerer, mode, sources, params)  # type: ignore[arg-type]
            warm, _, _ = answer_once(answerer, mode, sources, params)  # type: ignore[arg-type]
            if mode == "none":
                reference = tokens
            agree = _agreement(tokens, reference) if reference is not None else 1.0
            result.modes.append(ModeFigures(mode, size, cold, warm, tok_s, agree))
    result.peak_rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if model.device.type == "cuda":
        result.peak_gpu_mib = torch.cuda.max_memory_allocated() / 2**20
    return result


def embed_speed(model: GritModel, n: int | None = None) -> float:
    n = n or (256 if model.device.type == "cuda" else 32)
    texts = [passage(model, 512, seed) for seed in range(n)]
    model.embed(texts[:2])  # warm-up
    t0 = time.perf_counter()
    out = model.embed(texts)
    return sum(out.token_counts) / (time.perf_counter() - t0)


def search_speed(model: GritModel, chunks: int, queries: int = 50) -> tuple[float, float]:
    dim = model.info.hidden_size
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp), dim)
        store.put_document(DocumentRecord("bench", "/bench.pdf", "Bench", "", 1, 1, 0.0, "indexing",
                                          0.0, chunks=chunks))
        vectors = rng.standard_normal((chunks, dim)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        for start in range(0, chunks, 1000):
            store.add_chunks([
                ChunkRecord(doc_id="bench", index=i, text=" ".join(rng.choice(_WORDS, 40)),
                            page_start=1, page_end=1, char_start=0, char_end=10, tokens=60,
                            vector=vectors[i])
                for i in range(start, min(chunks, start + 1000))])
        store.set_status("bench", "ready")
        store.optimize()
        query = model.embed([QUESTION]).vectors[0]
        times = []
        for _ in range(queries):
            t0 = time.perf_counter()
            store.search_hybrid(query, QUESTION, 4)
            times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), float(np.percentile(times, 95))


def answer_once(answerer: Answerer, mode: CacheMode, sources: list[Source],
                params: GenerationParams) -> tuple[float, list[int], float]:
    """(time to first token in ms, answer token ids, decode tokens/s) for one answer."""
    model = answerer.model
    _sync(model)
    t0 = time.perf_counter()
    prompt = answerer.assemble(mode, QUESTION, sources, max_new_tokens=params.max_new_tokens)
    laid_out = time.perf_counter() - t0
    stats = GenerationStats()
    for _ in model.generate(prompt.ids, state=prompt.state, params=params, stats=stats):
        pass
    assert stats.first_token_s is not None  # the first token's .item() waited for the device
    return (laid_out + stats.first_token_s) * 1000, stats.token_ids, stats.decode_tokens_per_s


def baseline(model: GritModel, sources: list[Source], new_tokens: int) -> tuple[float, float]:
    """A plain ``model.generate`` on the uncached ('none') prompt: TTFT ms, decode tokens/s."""
    answerer = Answerer(model, Settings(max_new_tokens=new_tokens))
    prompt = answerer.assemble("none", QUESTION, sources, max_new_tokens=new_tokens)
    ids = torch.tensor([prompt.ids], device=model.device)
    mask = torch.ones_like(ids)

    def gen(n: int) -> float:
        _sync(model)
        t0 = time.perf_counter()
        with torch.inference_mode():
            model.lm.generate(ids, attention_mask=mask, max_new_tokens=n, min_new_tokens=n,
                              do_sample=False, pad_token_id=model.pad_id)
        _sync(model)
        return time.perf_counter() - t0

    gen(1)  # warm-up
    first = gen(1)
    full = gen(new_tokens)
    decode = (new_tokens - 1) / max(full - first, 1e-9)
    return first * 1000, decode


def _agreement(tokens: list[int], reference: list[int]) -> float:
    n = min(len(tokens), len(reference))
    if n == 0:
        return 0.0
    return sum(a == b for a, b in zip(tokens[:n], reference[:n], strict=True)) / n


def _sync(model: GritModel) -> None:
    if model.device.type == "cuda":
        torch.cuda.synchronize()
