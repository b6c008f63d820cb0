"""The decode loops (`engine/grit/decoding.py`): the same tokens whichever runs, never worse.

Greedy answers are compared token for token across the three loops and `model.generate`, for
every cache mode, with and without passages, on the tiny shape and the mid shape (GritLM's
grouped-query layout, 6 layers). The compiled step fuses operations, so its logits may differ
from the eager ones in the last bits (checked: within 1e-4); a random model's greedy choice
between two near-equal logits could then flip, which says nothing about the loop. So the
token-for-token comparisons that include the compiled loop run on models whose output layer is
scaled up (decisive choices), and the logits themselves are compared under teacher forcing.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from grit_desktop.config import CacheMode, Settings
from grit_desktop.engine import bench
from grit_desktop.engine.answering.rag import Answerer, Prompt
from grit_desktop.engine.grit import decoding
from grit_desktop.engine.grit.decoding import (
    CompiledPasses,
    DynamicPasses,
    Passes,
    StaticPasses,
    to_dynamic_cache,
)
from grit_desktop.engine.grit.generation import GenerationParams, GenerationStats
from grit_desktop.engine.grit.model import GritModel, LoadOptions
from grit_desktop.engine.grit.prompts import CACHE_MODES

NEW = 16
GREEDY = GenerationParams(max_new_tokens=NEW, stop_at_eos=False).raw  # greedy, no repetition guard


def _load(folder: Path, compile: str = "on", sharpen: float = 1.0) -> GritModel:
    model = GritModel.load(LoadOptions(str(folder), "cpu", "none", compile))  # type: ignore[arg-type]
    if sharpen != 1.0:
        with torch.no_grad():
            model.lm.lm_head.weight.mul_(sharpen)
    return model


@pytest.fixture(scope="module")
def tiny(tiny_model_dir: Path) -> GritModel:
    return _load(tiny_model_dir, sharpen=16.0)


@pytest.fixture(scope="module")
def mid(tmp_path_factory: pytest.TempPathFactory) -> GritModel:
    from grit_desktop.engine.grit.synthetic import build_model

    folder = build_model(tmp_path_factory.mktemp("mid-model"), "mid", seed=3)
    return _load(folder, sharpen=8.0)


def _prompt(model: GritModel, mode: CacheMode, passages: bool) -> Prompt:
    sources = bench.sources_for(model, 200, n=3, seed=1) if passages else []
    return Answerer(model, Settings(max_new_tokens=NEW)).assemble(mode, bench.QUESTION, sources,
                                                                max_new_tokens=NEW)


def _answer(model: GritModel, prompt: Prompt, loop: Any) -> list[int]:
    stats = GenerationStats()
    for _ in model.generate(prompt.ids, state=prompt.state, params=GREEDY, stats=stats, loop=loop):
        pass
    return stats.token_ids


def _generate(model: GritModel, prompt: Prompt) -> list[int]:
    """transformers' own `generate` on the same prompt (the cached part as its cache)."""
    full = [*(prompt.state.token_ids if prompt.state else ()), *prompt.ids]
    ids = torch.tensor([full])
    extra = {"cache": to_dynamic_cache(prompt.state, model.lm.config)} if prompt.state else {}
    with torch.inference_mode():
        out = model.lm.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=NEW,
                                do_sample=False, pad_token_id=model.pad_id, **extra)
    tokens: list[int] = out[0, len(full):].tolist()
    return tokens


def _until_eos(tokens: list[int], eos: int | None) -> list[int]:
    """`generate` stops at EOS (and keeps it); our raw loop goes on: compare up to it."""
    return tokens[: tokens.index(eos) + 1] if eos in tokens else tokens


@pytest.mark.parametrize("passages", [True, False], ids=["passages", "no-passages"])
@pytest.mark.parametrize("mode", CACHE_MODES)
def test_every_loop_answers_the_same_tokens_tiny(tiny: GritModel, mode: CacheMode, passages: bool) -> None:
    prompt = _prompt(tiny, mode, passages)
    answers = {loop: _answer(tiny, prompt, loop) for loop in decoding.LOOPS}
    assert len(answers["dynamic"]) == NEW
    assert answers["static"] == answers["dynamic"]
    assert answers["compiled"] == answers["dynamic"]
    reference = _until_eos(_generate(tiny, prompt), tiny.eos_id)
    assert answers["dynamic"][: len(reference)] == reference


@pytest.mark.parametrize("mode", CACHE_MODES)
def test_every_loop_answers_the_same_tokens_mid(mid: GritModel, mode: CacheMode) -> None:
    prompt = _prompt(mid, mode, passages=True)
    dynamic = _answer(mid, prompt, "dynamic")
    assert _answer(mid, prompt, "static") == dynamic
    if mode in ("none", "doc"):  # one compiled capacity serves both; compiling the mid costs ~15 s
        assert _answer(mid, prompt, "compiled") == dynamic
    reference = _until_eos(_generate(mid, prompt), mid.eos_id)
    assert dynamic[: len(reference)] == reference


def _teacher_forced(model: GritModel, prompt: Prompt, make: Callable[[], Passes],
                    tokens: list[int]) -> list[torch.Tensor]:
    """The logits of every step when the same ``tokens`` are fed, whatever each loop would pick."""
    passes = make()
    position = prompt.state.end if prompt.state else 0
    with torch.inference_mode():
        out = [passes.forward(prompt.ids, position).clone()]
        position += len(prompt.ids)
        for token in tokens:
            out.append(passes.forward([token], position).clone())
            position += 1
    return out


@pytest.mark.parametrize("mode", ["none", "doc", "query-doc"])
def test_the_static_cache_computes_the_same_bits_and_the_compiled_step_the_same_values(
        tiny_model_dir: Path, mode: CacheMode) -> None:
    model = _load(tiny_model_dir)  # not sharpened: the logits as they are
    prompt = _prompt(model, mode, passages=True)
    tokens = list(range(10, 10 + NEW))
    total = (prompt.state.end if prompt.state else 0) + len(prompt.ids) + NEW
    dynamic = _teacher_forced(model, prompt, lambda: DynamicPasses(model.lm, prompt.state), tokens)
    static = _teacher_forced(model, prompt, lambda: StaticPasses(model.lm, prompt.state, total), tokens)
    compiled_owner = model._compiler()
    capacity = compiled_owner.capacity(total)
    assert capacity is not None and capacity >= total

    def compiled() -> Passes:
        return compiled_owner.passes(prompt.state, capacity)

    fused = _teacher_forced(model, prompt, compiled, tokens)
    for d, s, c in zip(dynamic, static, fused, strict=True):
        assert torch.equal(d, s)
        assert torch.allclose(d, c, atol=1e-4, rtol=0)
    assert compiled_owner.failed is None


@torch.inference_mode()
def test_answers_use_the_compiled_step_only_once_it_is_prepared(tiny_model_dir: Path) -> None:
    model = _load(tiny_model_dir, "on")
    assert model.compiles and "not yet prepared" in model.decoding
    assert isinstance(model._passes(None, 300, None), StaticPasses)  # no compiling mid-question
    assert model.decoding_owed(300) and model.decoding_owed(2000)
    assert model.prepare_decoding(300)
    assert not model.decoding_owed(300) and not model.decoding_owed(100)  # both fit in 512
    assert model.decoding_owed(2000)  # another capacity
    assert model.decoding == "static cache, compiled decode step"
    first = model._passes(None, 300, None)
    assert isinstance(first, CompiledPasses)
    assert isinstance(model._passes(None, 300, None), StaticPasses)  # the first holds its cache
    first.close()
    assert isinstance(model._passes(None, 2000, None), StaticPasses)  # a larger one: not prepared
    assert model.prepare_decoding(2000)
    small = model._passes(None, 100, None)  # the smallest prepared capacity that holds it
    assert isinstance(small, CompiledPasses) and small.capacity == 512
    assert isinstance(model._passes(None, 300, "dynamic"), DynamicPasses)


def test_compilation_off_or_on_the_cpu_by_default_compiles_nothing(tiny_model_dir: Path) -> None:
    off = _load(tiny_model_dir, "off")
    assert not off.compiles and not off.prepare_decoding(300) and not off.decoding_owed(300)
    assert off.decoding == "static cache, compilation off" and off._compiled is None
    auto = _load(tiny_model_dir, "auto")  # auto compiles on CUDA only
    assert not auto.compiles and not auto.prepare_decoding(300) and auto._compiled is None
    assert isinstance(auto._passes(None, 300, None), StaticPasses)


class _Broken:
    """Stands in for `torch.compile`: the compiled function fails after ``works`` calls."""

    def __init__(self, works: int, message: str) -> None:
        self.works, self.message, self.calls = works, message, 0

    def __call__(self, fn: Callable[..., Any], **_: Any) -> Callable[..., Any]:
        def compiled(*args: Any) -> Any:
            self.calls += 1
            if self.calls > self.works:
                raise RuntimeError(self.message)
            return fn(*args)
        return compiled


def test_a_compiler_that_fails_leaves_one_log_line_and_answers_as_before(
        tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(decoding.torch, "compile", _Broken(0, "no C++ compiler found\nmore detail"))
    model = _load(tiny_model_dir, "on", sharpen=16.0)
    prompt = _prompt(model, "doc", passages=True)
    expected = _answer(model, prompt, "dynamic")
    with caplog.at_level(logging.INFO, logger="grit_desktop"):
        assert not model.prepare_decoding(300)
        assert _answer(model, prompt, None) == expected
        assert _answer(model, prompt, "compiled") == expected  # asked by name: still answers
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    assert "compiled decoding is not available (RuntimeError: no C++ compiler found)" in warnings[0].message
    assert not model.compiles and not model.decoding_owed(300)  # nothing left to try
    assert model.decoding == "static cache, not compiled (RuntimeError: no C++ compiler found)"
    assert model.weights == "columns"  # laid out for the eager loop that answers from now on


def test_a_step_that_fails_mid_answer_hands_over_and_the_answer_goes_on(
        tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    broken = _Broken(3 + 5, "graph replay failed")  # warm-up takes 3 steps, then 5 of the answer
    monkeypatch.setattr(decoding.torch, "compile", broken)
    model = _load(tiny_model_dir, "on", sharpen=16.0)
    prompt = _prompt(model, "doc", passages=True)
    expected = _answer(model, prompt, "dynamic")
    assert model.prepare_decoding(300)
    with caplog.at_level(logging.WARNING, logger="grit_desktop"):
        assert _answer(model, prompt, None) == expected
    assert broken.calls == 3 + 6  # the sixth step failed; the rest ran without it
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert "graph replay failed" in model.decoding
    assert model._compiled is not None and not model._compiled._caches  # its memory is given back
    with torch.inference_mode():
        assert isinstance(model._passes(None, 300, None), StaticPasses)


def test_two_answers_streaming_at_once_do_not_share_a_compiled_cache(tiny: GritModel) -> None:
    """One compiled cache per capacity: a second answer while the first streams decodes with
    its own static cache; the first one's cache serves again once it ends (or is dropped)."""
    assert tiny.prepare_decoding(300)
    a, b = _prompt(tiny, "doc", passages=True), _prompt(tiny, "none", passages=True)
    alone = {"a": _answer(tiny, a, None), "b": _answer(tiny, b, None)}
    sa, sb = GenerationStats(), GenerationStats()
    streams = [tiny.generate(p.ids, state=p.state, params=GREEDY, stats=stats)
               for p, stats in ((a, sa), (b, sb))]
    for _ in range(NEW + 1):  # interleaved, token by token
        for stream in streams:
            next(stream, None)
    assert (sa.token_ids, sb.token_ids) == (alone["a"], alone["b"])
    compiled = tiny._compiled
    assert compiled is not None and compiled.free(512)
    half = tiny.generate(a.ids, state=a.state, params=GREEDY)
    next(half)
    assert not compiled.free(512)
    half.close()  # an answer given up on
    assert compiled.free(512)


@torch.inference_mode()
def test_the_compiled_step_reads_the_key_value_heads_as_they_are(tiny_model_dir: Path) -> None:
    """Under compilation one query token attends on the key/value heads: no tensor of the step
    holds the cache with each key/value head copied for every query head it serves."""
    model = _load(tiny_model_dir)
    config = model.lm.config
    heads, kv_heads = config.num_attention_heads, config.num_key_value_heads
    dim = config.hidden_size // heads
    assert heads > kv_heads and model.lm.config._attn_implementation == decoding.ATTENTION
    shapes: list[tuple[int, ...]] = []

    def capture(graph: torch.fx.GraphModule, inputs: Any) -> Callable[..., Any]:
        for node in graph.graph.nodes:
            value = node.meta.get("example_value")
            if isinstance(value, torch.Tensor):
                shapes.append(tuple(value.shape))
        return graph.forward  # type: ignore[no-any-return]

    compiled = decoding.CompiledDecoding(model.lm, model.info.context_length)
    compiled._step = torch.compile(compiled._decode, backend=capture, fullgraph=True, dynamic=False)
    capacity = decoding.MIN_CAPACITY
    passes = compiled.passes(None, capacity)
    passes.forward([1, 2, 3], 0)
    logits = passes.forward([4], 3)
    passes.close()
    assert logits.shape == (config.vocab_size,)
    assert (1, kv_heads, capacity, dim) in shapes  # the cache, read by the step
    assert [s for s in shapes if s[-3:] == (heads, capacity, dim)] == []


@torch.inference_mode()
def test_a_process_may_hold_more_compiled_steps_than_dynamos_default_limit(tiny_model_dir: Path) -> None:
    """Dynamo keeps one entry of the step per model shape and capacity compiled in the process
    (a setting changed, another model loaded; tests hold several) and, with a whole graph
    required, fails past its default limit of 8 instead of falling back: here 10 capacities all
    compile and answer. (Traced without Inductor, which counts alike and takes longer.)"""
    model = _load(tiny_model_dir)
    compiled = decoding.CompiledDecoding(model.lm, model.info.context_length)
    compiled._step = torch.compile(compiled._decode, backend="eager", fullgraph=True, dynamic=False)
    for capacity in range(40, 40 + 10 * 8, 8):  # capacities no other test compiles
        passes = compiled.passes(None, capacity)
        try:
            passes.forward([1, 2, 3], 0)
            passes.forward([4], 3)
        finally:
            passes.close()
        assert not passes.fell_back and compiled.failed is None, (capacity, compiled.failed)


def test_a_compiled_cache_folder_the_user_names_wins(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(decoding.COMPILED_CACHE_ENV, str(tmp_path / "theirs"))
    assert decoding.keep_compiled_in(tmp_path / "ours") == tmp_path / "theirs"
    assert not (tmp_path / "ours").exists()


def test_a_data_folder_that_cannot_hold_the_compiled_cache_leaves_torchs_default(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.delenv(decoding.COMPILED_CACHE_ENV, raising=False)
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    with caplog.at_level(logging.INFO, logger=decoding.__name__):
        assert decoding.keep_compiled_in(blocked / "cache" / "compiled") is None
    assert decoding.COMPILED_CACHE_ENV not in os.environ
    assert "not kept for the next start" in caplog.text


def test_torchs_own_default_gives_way_to_the_data_folder(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from torch._inductor.runtime.cache_dir_utils import cache_dir

    monkeypatch.delenv(decoding.COMPILED_CACHE_ENV, raising=False)
    default = cache_dir()  # what torch's compiler writes into the variable when it is imported
    assert os.environ[decoding.COMPILED_CACHE_ENV] == default
    assert decoding.keep_compiled_in(tmp_path / "ours") == tmp_path / "ours"
    assert cache_dir() == str((tmp_path / "ours").resolve())


def _one_row_graph(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.fx.GraphModule:
    """The graph Inductor's passes see for ``linear(x, weight, bias)``: aten ops on fake values."""
    from torch.fx.experimental.proxy_tensor import make_fx

    def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        return torch.nn.functional.linear(x, weight, bias)

    return make_fx(linear, tracing_mode="fake", decomposition_table=torch._decomp.core_aten_decompositions())(
        x, weight, bias)


def _products(graph: torch.fx.GraphModule) -> int:
    return sum(node.target in (torch.ops.aten.mm.default, torch.ops.aten.addmm.default)
               for node in graph.graph.nodes)


@pytest.mark.parametrize("bias", [False, True], ids=["no-bias", "bias"])
def test_one_row_products_of_row_major_weights_become_one_reading_of_the_weights(bias: bool) -> None:
    torch.manual_seed(0)
    weight = torch.randn(300, 64)  # [out, in], row-major as checkpoints store it
    b = torch.randn(300) if bias else None
    x = torch.randn(1, 64)
    graph = _one_row_graph(x, weight, b)
    assert _products(graph) == 1
    rewrite = decoding.one_row_products()
    before = rewrite.rewritten
    rewrite(graph.graph)
    graph.recompile()
    assert _products(graph) == 0 and rewrite.rewritten == before + 1
    ops = {node.target for node in graph.graph.nodes if node.op == "call_function"}
    assert {torch.ops.aten.mul.Tensor, torch.ops.aten.sum.dim_IntList} <= ops
    out = graph(x, weight, b)
    expected = torch.nn.functional.linear(x, weight, b)
    assert out.shape == expected.shape == (1, 300)
    assert torch.allclose(out, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("case", ["column-major", "two-rows", "float64"])
def test_other_products_keep_their_kernel(case: str) -> None:
    weight = torch.randn(300, 64, dtype=torch.float64 if case == "float64" else torch.float32)
    if case == "column-major":  # the eager loops' layout: MKL's product is kept
        weight = weight.t().contiguous().t()
    x = torch.randn(2 if case == "two-rows" else 1, 64, dtype=weight.dtype)
    graph = _one_row_graph(x, weight, None)
    decoding.one_row_products()(graph.graph)
    assert _products(graph) == 1


_COUNT_REWRITES = """
import json, sys
from grit_desktop.engine.grit import decoding
from grit_desktop.engine.grit.model import GritModel, LoadOptions
model = GritModel.load(LoadOptions(sys.argv[1], "cpu", "none", "on"))
prepared = model.prepare_decoding(300)
print(json.dumps({"prepared": prepared, "weights": model.weights, "decoding": model.decoding,
                  "rewritten": decoding.one_row_products().rewritten,
                  "layers": model.lm.config.num_hidden_layers}))
"""


@pytest.mark.slow
def test_a_first_start_compiles_a_cpu_step_that_reads_each_weight_in_one_loop(tiny_model_dir: Path,
                                                                              tmp_path: Path) -> None:
    """A start of its own (a child process, an empty folder of compiled steps: this process may
    hold a step of the same shapes, which dynamo would reuse): every product of the CPU step, 7
    per layer and the head's, is rewritten, over row-major weights. (That the step answers as
    the eager loops do is checked above, on every cache mode.)"""
    env = {**os.environ, decoding.COMPILED_CACHE_ENV: str(tmp_path)}
    run = subprocess.run([sys.executable, "-c", _COUNT_REWRITES, str(tiny_model_dir)], env=env,
                         capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stderr[-2000:]
    start = json.loads(run.stdout.strip().splitlines()[-1])
    assert start["prepared"] and start["decoding"] == "static cache, compiled decode step"
    assert start["weights"] == "rows"
    assert start["rewritten"] == 7 * start["layers"] + 1
