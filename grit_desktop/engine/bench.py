"""``grit-desktop bench``: speed and memory of every part, side by side, in one run.

Figures (all on the same model, machine and prompt):
- embedding: tokens/s of `GritModel.embed` on 512-token passages;
- search: p50/p95 of hybrid search over a library of synthetic chunks;
- answering, for each cache mode at 500, 2,000 and 4,000 passage tokens: time to first token
  with the passages' states not yet cached ("cold") and cached ("warm", a follow-up over the
  same passages), decode tokens/s, and how many of the answer's tokens agree with ``none``;
- the decoders, on the uncached prompt: a plain ``model.lm.generate`` ("generate", the baseline
  every other figure is compared against) and each loop of ``GritModel.generate`` (see
  `engine/grit/decoding.py`): "dynamic" (a `DynamicCache` grown by concatenation, the loop
  before static caches), "static" (preallocated buffers) and "compiled" (the compiled decode
  step; compiled during the warm-up, which is not counted): time to first token, decode
  tokens/s and its ratio to ``generate``. On the CPU each decoder runs with the float32 weights
  laid out as it runs fastest (`GritModel.lay_out_weights`: the compiled step from ``rows``,
  the eager ones from ``columns``), the cache modes in the layout the model loaded with;
- peak memory of the process (and of the GPU on CUDA).

Time to first token is measured from the moment the passages are known (after retrieval) to the
first generated token: it includes laying out the prompt, taking or computing the passages'
states, and the prefill (the decoders start from the laid-out prompt's token ids).

Every answering figure is the median of ``repeat`` rounds. A round measures each cell of a size
once (each decoder; each cache mode cold, then warm), in an order that rotates from round to
round, since this machine's speed drifts by tens of percent over minutes: a cell that always ran
first (or last) would carry that drift as if it were its own. Ratios (``cold_vs_none``,
``warm_vs_none``, ``decode_vs_generate``) are taken within each round, whose cells ran back to
back, and their median is reported; the ratio of two medians would mix cells from different
rounds. Each figure also keeps its spread over the rounds (`Spread`).
"""

from __future__ import annotations

import resource
import statistics
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

from grit_desktop.config import CacheMode, Settings
from grit_desktop.engine.answering.rag import Answerer
from grit_desktop.engine.grit.decoding import LOOPS, Loop, WeightOrder, fastest_weights
from grit_desktop.engine.grit.generation import GenerationParams, GenerationStats
from grit_desktop.engine.grit.kvcache import KVCache
from grit_desktop.engine.grit.model import GritModel
from grit_desktop.engine.grit.prompts import CACHE_MODES
from grit_desktop.engine.index.records import ChunkRecord, DocumentRecord, Source
from grit_desktop.engine.index.store import Store

SIZES = (500, 2000, 4000)
REPEAT = 5
QUESTION = "What does the text say about the warranty and how long does it last?"
_WORDS = ("the warranty covers parts and labour for two years from the date of purchase except "
          "damage caused by misuse; the fan motor must be replaced every five thousand hours and "
          "the filters cleaned each month according to the maintenance schedule in chapter four "
          "of this manual which also lists the spare parts their numbers and prices").split()

#: A decode rate needs at least this many tokens after the first one ...
MIN_RATE_TOKENS = 8
#: ... over at least this many seconds (or a thousand ticks of the clock, if coarser): below
#: either, timer jitter and per-call overheads are the figure, not decoding.
MIN_RATE_SECONDS = 1e-3
#: The decoder whose answer is the reference for ``agreement`` (our first loop on the uncached
#: prompt: what the ``none`` mode answered before static caches).
REFERENCE = "dynamic"
#: Every decoder compared by default: the baseline, then the loops of `GritModel.generate`.
DECODERS: tuple[str, ...] = ("generate", *LOOPS)
#: The decoder the others' decode rates are compared against.
BASELINE = "generate"


@dataclass
class Spread:
    """One figure over the rounds: median, min, max, and how many rounds gave a value."""

    median: float
    lo: float
    hi: float
    n: int

    @classmethod
    def of(cls, samples: Iterable[float | None]) -> Spread | None:
        """Of the rounds' values that exist (a rate may not); None if there is none."""
        xs = [x for x in samples if x is not None]
        if not xs:
            return None
        return cls(statistics.median(xs), min(xs), max(xs), len(xs))


@dataclass
class ModeFigures:
    """One cache mode at one size. The figures are medians over ``repeats`` rounds."""

    mode: str
    cached_tokens: int  # passage tokens
    ttft_cold_ms: float
    ttft_warm_ms: float
    decode_tokens_per_s: float | None  # None: not a rate (too few tokens or too short a time)
    cold_vs_none: float | None  # median of the rounds' cold / none's cold (None: 'none' not run)
    warm_vs_none: float | None  # median of the rounds' warm / none's warm
    agreement: float  # share of answer tokens equal to the 'none' answer's, position by position
    repeats: int
    ttft_cold_ms_spread: Spread
    ttft_warm_ms_spread: Spread
    decode_tokens_per_s_spread: Spread | None


@dataclass
class DecoderFigures:
    """One decoder at one size, on the uncached prompt. Medians over ``repeats`` rounds."""

    decoder: str
    passage_tokens: int
    ttft_ms: float
    decode_tokens_per_s: float | None
    decode_vs_generate: float | None  # median of the rounds' decode rate / generate's
    agreement: float  # share of answer tokens equal to the reference's (`REFERENCE`)
    repeats: int
    ttft_ms_spread: Spread
    decode_tokens_per_s_spread: Spread | None


@dataclass
class BenchResult:
    model: str
    device: str
    dtype: str
    quantization: str
    repeats: int = 0
    decoding: str = ""  # how the cache modes' answers decode (`GritModel.decoding`)
    weights: WeightOrder | None = None  # the layout the modes ran in (`GritModel.weights`)
    embed_tokens_per_s: float = 0.0
    search_p50_ms: float = 0.0
    search_p95_ms: float = 0.0
    search_chunks: int = 0
    decoders: list[DecoderFigures] = field(default_factory=list)
    modes: list[ModeFigures] = field(default_factory=list)
    peak_rss_mib: float = 0.0
    peak_gpu_mib: float | None = None
    notes: list[str] = field(default_factory=list)


class Timed(NamedTuple):
    """One answer: time to first token (ms), its token ids, decode tokens/s (None: no rate)."""

    ttft_ms: float
    token_ids: list[int]
    decode_tokens_per_s: float | None


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


def rotated(names: Sequence[str], k: int) -> list[str]:
    """The order of the cells in round ``k``: each cell comes first once every ``len(names)``."""
    if not names:
        return []
    k %= len(names)
    return [*names[k:], *names[:k]]


def run(model: GritModel, *, sizes: Sequence[int] = SIZES, modes: Sequence[CacheMode] = CACHE_MODES,
        new_tokens: int = 32, search_chunks: int = 5000, embed_passages: int | None = None,
        repeat: int = REPEAT, decoders: Sequence[str] = DECODERS,
        progress: Callable[[str], None] = lambda _: None) -> BenchResult:
    if repeat < 1:
        raise ValueError("repeat must be at least 1")
    if not {BASELINE, REFERENCE} <= set(decoders) or not set(decoders) <= set(DECODERS):
        raise ValueError(f"decoders must include {BASELINE} and {REFERENCE}, among {', '.join(DECODERS)}")
    info = model.info
    result = BenchResult(info.name, info.device, info.dtype, info.quantization, repeats=repeat,
                         decoding=model.decoding)
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
    loaded = result.weights = model.weights  # the cache modes answer in it (the decoders lay out their own)
    for size in sizes:
        if size + new_tokens + 64 > info.context_length:
            result.notes.append(f"{size} cached tokens do not fit the context of {info.context_length}")
            continue
        sources = sources_for(model, size, seed=size)
        decoded, answered = _rounds(model, settings, params, sources, modes, decoders, repeat,
                                    loaded, partial(_say_at, progress, size))
        result.decoders += _decoder_figures(decoded, size, repeat)
        result.modes += _mode_figures(answered, decoded[REFERENCE], size, repeat)
    if loaded is not None:
        model.lay_out_weights(loaded)
    result.decoding = model.decoding  # as the answers decoded: each size prepared its own
    result.peak_rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if model.device.type == "cuda":
        result.peak_gpu_mib = torch.cuda.max_memory_allocated() / 2**20
    return result


def _say_at(progress: Callable[[str], None], size: int, msg: str) -> None:
    progress(f"{msg} at {size} tokens")


def decoder_calls(model: GritModel, ids: list[int], params: GenerationParams,
                  names: Sequence[str] = DECODERS) -> dict[str, Callable[[], Timed]]:
    """The ways of decoding the uncached prompt ``ids`` that are compared at each size, by name
    (`DECODERS`): each callable answers once."""
    calls: dict[str, Callable[[], Timed]] = {
        "generate": lambda: plain_generate(model, ids, params.max_new_tokens)}
    for loop in LOOPS:
        calls[loop] = partial(our_generate, model, ids, params, loop)
    return {name: partial(_laid_out, model, fastest_weights(name == "compiled"), calls[name])
            for name in names}


def _laid_out(model: GritModel, order: WeightOrder, call: Callable[[], Any]) -> Any:
    """``call()`` with the weights laid out ``order``-major (laying out is not timed)."""
    model.lay_out_weights(order)
    return call()


_Rounds = tuple[dict[str, list[Timed]], dict[str, list[tuple[Timed, Timed]]]]


def _rounds(model: GritModel, settings: Settings, params: GenerationParams, sources: list[Source],
            modes: Sequence[CacheMode], names: Sequence[str], repeat: int, loaded: WeightOrder | None,
            progress: Callable[[str], None]) -> _Rounds:
    """``repeat`` rounds at one size: each decoder's answers, each mode's (cold, warm) answers."""
    prompt = Answerer(model, settings).assemble("none", QUESTION, sources,
                                                max_new_tokens=params.max_new_tokens)
    assert prompt.state is None  # 'none' caches nothing: the whole prompt is token ids
    ways = decoder_calls(model, prompt.ids, params, names)

    def cold_and_warm(mode: CacheMode) -> tuple[Timed, Timed]:
        if loaded is not None:
            model.lay_out_weights(loaded)
        answerer = Answerer(model, settings, KVCache(settings.kv_cache_mb * 2**20))  # nothing cached
        cold = answer_once(answerer, mode, sources, params)
        return cold, answer_once(answerer, mode, sources, params)

    cells: dict[str, Callable[[], Any]] = {f"decoder:{name}": fn for name, fn in ways.items()}
    for mode in modes:
        cells[f"mode:{mode}"] = partial(cold_and_warm, mode)
    progress("warm-up")
    model.prepare_decoding(len(prompt.ids) + params.max_new_tokens)  # what answers use, if compiled
    for fn in ways.values():  # start-up costs (allocator, threads, compiling) are not figures
        fn()
    samples: dict[str, list[Any]] = {name: [] for name in cells}
    for k in range(repeat):
        progress(f"repeat {k + 1}/{repeat}")
        for name in rotated(list(cells), k):
            samples[name].append(cells[name]())
    return ({name: samples[f"decoder:{name}"] for name in ways},
            {mode: samples[f"mode:{mode}"] for mode in modes})


def _decoder_figures(decoded: dict[str, list[Timed]], size: int, repeat: int) -> list[DecoderFigures]:
    base = decoded[BASELINE]
    reference = decoded[REFERENCE]
    out = []
    for name, answers in decoded.items():
        ttft = Spread.of(a.ttft_ms for a in answers)
        assert ttft is not None
        decode = Spread.of(a.decode_tokens_per_s for a in answers)
        out.append(DecoderFigures(
            name, size, ttft.median, decode.median if decode else None,
            _median_ratio((a.decode_tokens_per_s for a in answers),
                          (b.decode_tokens_per_s for b in base)),
            _median_agreement(answers, reference), repeat, ttft, decode))
    return out


def _mode_figures(answered: dict[str, list[tuple[Timed, Timed]]], reference: list[Timed], size: int,
                  repeat: int) -> list[ModeFigures]:
    none = answered.get("none")
    # the 'none' mode's answers if it ran, else the reference decoder's (which answers as 'none')
    agree_with = [c for c, _ in none] if none is not None else reference
    out = []
    for mode, pairs in answered.items():
        cold = Spread.of(c.ttft_ms for c, _ in pairs)
        warm = Spread.of(w.ttft_ms for _, w in pairs)
        assert cold is not None and warm is not None
        decode = Spread.of(c.decode_tokens_per_s for c, _ in pairs)
        cold_vs = warm_vs = None
        if none is not None:
            cold_vs = _median_ratio((c.ttft_ms for c, _ in pairs), (c.ttft_ms for c, _ in none))
            warm_vs = _median_ratio((w.ttft_ms for _, w in pairs), (w.ttft_ms for _, w in none))
        out.append(ModeFigures(
            mode, size, cold.median, warm.median, decode.median if decode else None, cold_vs, warm_vs,
            _median_agreement([c for c, _ in pairs], agree_with),
            repeat, cold, warm, decode))
    return out


def _median_ratio(xs: Iterable[float | None], ys: Iterable[float | None]) -> float | None:
    """The median of the rounds' x / y (rounds where either is missing are left out)."""
    ratios = [x / y for x, y in zip(xs, ys, strict=True) if x is not None and y]
    return statistics.median(ratios) if ratios else None


def _median_agreement(answers: Sequence[Timed], reference: Sequence[Timed]) -> float:
    return statistics.median(_agreement(a.token_ids, r.token_ids)
                             for a, r in zip(answers, reference, strict=True))


def decode_rate(tokens: int, seconds: float) -> float | None:
    """``tokens`` / ``seconds``, or None where that is no rate: too few tokens, or a time too
    short for the clock and the per-call overheads (`MIN_RATE_TOKENS`, `MIN_RATE_SECONDS`)."""
    floor = max(MIN_RATE_SECONDS, 1000 * time.get_clock_info("perf_counter").resolution)
    if tokens < MIN_RATE_TOKENS or seconds < floor:
        return None
    return tokens / seconds


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
                params: GenerationParams) -> Timed:
    """One answer in ``mode``, timed from the passages known (laying out the prompt included)."""
    model = answerer.model
    _sync(model)
    t0 = time.perf_counter()
    prompt = answerer.assemble(mode, QUESTION, sources, max_new_tokens=params.max_new_tokens)
    laid_out = time.perf_counter() - t0
    timed = _timed_generate(model, prompt.ids, prompt.state, params)
    return timed._replace(ttft_ms=laid_out * 1000 + timed.ttft_ms)


def our_generate(model: GritModel, ids: list[int], params: GenerationParams, loop: Loop) -> Timed:
    """``GritModel.generate`` on the uncached prompt ``ids`` with the decode ``loop``."""
    _sync(model)
    return _timed_generate(model, ids, None, params, loop)


def _timed_generate(model: GritModel, ids: list[int], state: Any, params: GenerationParams,
                    loop: Loop | None = None) -> Timed:
    """One answer; ``loop`` None: the loop answers use (`GritModel.decoding`)."""
    stats = GenerationStats()
    for _ in model.generate(ids, state=state, params=params, stats=stats, loop=loop):
        pass
    assert stats.first_token_s is not None  # the first token's .item() waited for the device
    rate = decode_rate(stats.new_tokens - 1, stats.total_s - stats.first_token_s)
    return Timed(stats.first_token_s * 1000, stats.token_ids, rate)


def plain_generate(model: GritModel, ids: list[int], new_tokens: int) -> Timed:
    """A plain ``model.lm.generate`` of ``new_tokens`` greedy tokens after ``ids``.

    The first token and the end are timed within the one call (a streamer notes when each token
    comes), so the decode rate is not the difference of two separately timed runs.
    """
    from transformers.generation.streamers import BaseStreamer

    marks: list[float] = []

    class Clock(BaseStreamer):  # type: ignore[misc]
        def put(self, value: torch.Tensor) -> None:  # the prompt first, then each new token
            _sync(model)
            marks.append(time.perf_counter())

        def end(self) -> None:
            pass

    prompt = torch.tensor([ids], device=model.device)
    _sync(model)
    t0 = time.perf_counter()
    with torch.inference_mode():
        out = model.lm.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=new_tokens,
                                min_new_tokens=new_tokens, do_sample=False, pad_token_id=model.pad_id,
                                streamer=Clock())
    _sync(model)
    end = time.perf_counter()
    tokens: list[int] = out[0, len(ids):].tolist()
    first = marks[1] if len(marks) > 1 else end
    return Timed((first - t0) * 1000, tokens, decode_rate(len(tokens) - 1, end - first))


def _agreement(tokens: list[int], reference: list[int]) -> float:
    n = min(len(tokens), len(reference))
    if n == 0:
        return 0.0
    return sum(a == b for a, b in zip(tokens[:n], reference[:n], strict=True)) / n


def _sync(model: GritModel) -> None:
    if model.device.type == "cuda":
        torch.cuda.synchronize()
