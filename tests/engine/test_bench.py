"""The benchmark runs end to end on the tiny model and reports every figure it promises, each the
median of repeated rounds whose order rotates."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import pytest

from grit_desktop.cli import build_parser, main
from grit_desktop.cli.bench import report
from grit_desktop.engine import bench
from grit_desktop.engine.grit.model import GritModel, LoadOptions
from grit_desktop.engine.grit.prompts import CACHE_MODES

SIZES = (64, 256)
DECODERS = bench.DECODERS


def _spy(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The cells as they are measured, in order: a decoder's name, or a mode's (once per answer)."""
    log: list[str] = []
    plain, ours, answer = bench.plain_generate, bench.our_generate, bench.answer_once

    def plain_generate(*args: Any) -> bench.Timed:
        log.append("generate")
        return plain(*args)

    def our_generate(model: Any, ids: Any, params: Any, loop: str) -> bench.Timed:
        log.append(loop)
        return ours(model, ids, params, loop)  # type: ignore[arg-type]

    def answer_once(answerer: Any, mode: Any, *args: Any) -> bench.Timed:
        log.append(mode)
        return answer(answerer, mode, *args)

    monkeypatch.setattr(bench, "plain_generate", plain_generate)
    monkeypatch.setattr(bench, "our_generate", our_generate)
    monkeypatch.setattr(bench, "answer_once", answer_once)
    return log


def test_bench_reports_every_figure_as_a_median_of_rotating_rounds(
    mistral_model: GritModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    repeat = 3
    log = _spy(monkeypatch)
    caches: list[bench.KVCache] = []
    kvcache = bench.KVCache

    def new_cache(*args: Any) -> bench.KVCache:
        caches.append(kvcache(*args))
        return caches[-1]

    monkeypatch.setattr(bench, "KVCache", new_cache)
    said: list[str] = []
    result = bench.run(mistral_model, sizes=SIZES, new_tokens=12, search_chunks=300, embed_passages=4,
                       repeat=repeat, progress=said.append)
    assert result.embed_tokens_per_s > 0 and result.search_p50_ms > 0 and result.repeats == repeat
    assert "repeat 2/3 at 256 tokens" in said

    # each size: a warm-up of each decoder, then per round each decoder once and each mode
    # cold + warm, the first cell of the round rotating; a fresh cache for every cold answer
    cells = [*DECODERS, *CACHE_MODES]
    per_round = len(DECODERS) + 2 * len(CACHE_MODES)
    per_size = len(DECODERS) + repeat * per_round
    assert len(log) == len(SIZES) * per_size
    assert len(caches) == len(SIZES) * repeat * len(CACHE_MODES)
    for s in range(len(SIZES)):
        rounds = log[s * per_size + len(DECODERS):(s + 1) * per_size]
        firsts = [rounds[k * per_round] for k in range(repeat)]
        assert firsts == cells[:repeat]
        assert all(rounds.count(c) == repeat for c in DECODERS)
        assert all(rounds.count(m) == 2 * repeat for m in CACHE_MODES)

    assert {(d.decoder, d.passage_tokens) for d in result.decoders} == {
        (name, size) for name in DECODERS for size in SIZES}
    for d in result.decoders:
        assert d.repeats == repeat and d.ttft_ms_spread.n == repeat
        assert d.decode_tokens_per_s_spread is not None and d.decode_tokens_per_s_spread.n == repeat
        assert d.ttft_ms > 0 and d.decode_tokens_per_s is not None and d.decode_tokens_per_s > 0
        for spread, median in ((d.ttft_ms_spread, d.ttft_ms),
                               (d.decode_tokens_per_s_spread, d.decode_tokens_per_s)):
            assert spread.lo <= spread.median == median <= spread.hi
        assert d.decode_vs_generate is not None and d.decode_vs_generate > 0
        assert 0.0 <= d.agreement <= 1.0
        if d.decoder == "generate":
            assert d.decode_vs_generate == 1.0
        if d.decoder in ("dynamic", "static"):  # static: the same arithmetic, bit for bit
            assert d.agreement == 1.0

    assert {(m.mode, m.cached_tokens) for m in result.modes} == {
        (mode, size) for mode in CACHE_MODES for size in SIZES}
    for m in result.modes:
        assert m.repeats == repeat
        assert m.ttft_cold_ms_spread.n == m.ttft_warm_ms_spread.n == repeat
        assert m.decode_tokens_per_s_spread is not None and m.decode_tokens_per_s_spread.n == repeat
        assert m.ttft_cold_ms > 0 and m.ttft_warm_ms > 0
        assert m.decode_tokens_per_s is not None and m.decode_tokens_per_s > 0
        assert m.ttft_cold_ms_spread.lo <= m.ttft_cold_ms <= m.ttft_cold_ms_spread.hi
        assert m.ttft_warm_ms_spread.lo <= m.ttft_warm_ms <= m.ttft_warm_ms_spread.hi
        assert m.cold_vs_none is not None and m.cold_vs_none > 0
        assert m.warm_vs_none is not None and m.warm_vs_none > 0
        assert 0.0 <= m.agreement <= 1.0
        if m.mode == "none":
            assert m.agreement == 1.0 and m.cold_vs_none == 1.0 == m.warm_vs_none

    figures = json.loads(json.dumps(dataclasses.asdict(result)))
    for m in figures["modes"]:
        for key in ("cached_tokens", "ttft_cold_ms", "ttft_warm_ms", "decode_tokens_per_s",
                    "cold_vs_none", "warm_vs_none", "agreement", "repeats"):
            assert isinstance(m[key], int | float) and m[key] > 0, key
        assert m["mode"] in CACHE_MODES
        assert m["ttft_cold_ms_spread"]["n"] == repeat
    for d in figures["decoders"]:
        for key in ("ttft_ms", "decode_tokens_per_s", "decode_vs_generate"):
            assert isinstance(d[key], float) and d[key] > 0, key

    text = report(result)
    assert "3 repeats, order rotating; figures: median (min-max); ratios: median of per-repeat ratios" in text
    assert "cold/none" in text and "warm/none" in text and "vs generate" in text and "peak memory" in text
    doc_row = next(line for line in text.splitlines() if line.startswith("  doc ") and " 64 " in line)
    assert len(re.findall(r"\d \([\d.]+-[\d.]+\)", doc_row)) == 3  # cold, warm, decode: median (min-max)
    assert max(len(line) for line in text.splitlines()) <= 100


def test_ratios_are_medians_of_each_rounds_ratio(
    mistral_model: GritModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    # scripted times per round, where the ratio of the medians differs from the median ratio
    cold = {"none": [10.0, 20.0, 30.0], "doc": [20.0, 40.0, 20.0]}  # rounds 2, 2, 0.67; medians 1
    warm = {"none": [10.0, 20.0, 100.0], "doc": [5.0, 30.0, 50.0]}  # 0.5, 1.5, 0.5; medians 1.5
    rate = {"generate": [100.0, 200.0, 300.0], "dynamic": [200.0, 400.0, 200.0]}  # 2, 2, 0.67; 1
    calls: dict[str, int] = {}

    def called(name: str) -> int:
        calls[name] = calls.get(name, 0) + 1
        return calls[name] - 1

    def answer_once(answerer: Any, mode: str, *args: Any) -> bench.Timed:
        n = called(mode)
        return bench.Timed((warm if n % 2 else cold)[mode][n // 2], [1, 2, 3], 50.0)

    def decoder(name: str) -> Any:
        def fn(*args: Any) -> bench.Timed:
            n = called(name) - 1  # the first call is the warm-up
            return bench.Timed(1.0, [1, 2, 3], rate[name][max(n, 0)])
        return fn

    monkeypatch.setattr(bench, "answer_once", answer_once)
    monkeypatch.setattr(bench, "plain_generate", decoder("generate"))
    monkeypatch.setattr(bench, "our_generate", decoder("dynamic"))
    result = bench.run(mistral_model, sizes=(64,), modes=("none", "doc"), new_tokens=12,
                       search_chunks=100, embed_passages=2, repeat=3, decoders=("generate", "dynamic"))
    doc = next(m for m in result.modes if m.mode == "doc")
    assert doc.cold_vs_none == 2.0 and doc.warm_vs_none == 0.5
    assert (doc.ttft_cold_ms, doc.ttft_warm_ms) == (20.0, 30.0)
    assert dataclasses.astuple(doc.ttft_warm_ms_spread) == (30.0, 5.0, 50.0, 3)
    dynamic = next(d for d in result.decoders if d.decoder == "dynamic")
    assert dynamic.decode_vs_generate == 2.0 and dynamic.decode_tokens_per_s == 200.0


def test_each_decoder_runs_in_its_own_weight_layout_and_the_modes_in_the_app_s(
        tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On the CPU the compiled step is timed over row-major weights, the eager decoders over
    column-major ones (each its faster), the cache modes as the app loaded the model; the line
    on how answers decode says what they decoded with, the compiled step once prepared."""
    model = GritModel.load(LoadOptions(str(tiny_model_dir), "cpu", "none", "on"))
    seen: list[tuple[str, str | None]] = []
    plain, ours, answer = bench.plain_generate, bench.our_generate, bench.answer_once

    def plain_generate(m: GritModel, *args: Any) -> bench.Timed:
        seen.append(("generate", m.weights))
        return plain(m, *args)

    def our_generate(m: GritModel, ids: Any, params: Any, loop: str) -> bench.Timed:
        seen.append((loop, m.weights))
        return ours(m, ids, params, loop)  # type: ignore[arg-type]

    def answer_once(answerer: Any, mode: Any, *args: Any) -> bench.Timed:
        seen.append((mode, answerer.model.weights))
        return answer(answerer, mode, *args)

    monkeypatch.setattr(bench, "plain_generate", plain_generate)
    monkeypatch.setattr(bench, "our_generate", our_generate)
    monkeypatch.setattr(bench, "answer_once", answer_once)
    # two sizes: the second one's cells come after the first one's, the last of which (with two
    # rounds) is a decoder laid out for itself
    result = bench.run(model, sizes=(64, 96), modes=("none", "doc"), new_tokens=12, search_chunks=100,
                       embed_passages=2, repeat=2)
    assert {name: order for name, order in seen} == {
        "generate": "columns", "dynamic": "columns", "static": "columns", "compiled": "rows",
        "none": "rows", "doc": "rows"}
    assert len(set(seen)) == 6  # each always in one layout
    assert result.decoding == "static cache, compiled decode step"
    assert model.weights == result.weights == "rows"  # left as loaded
    text = report(result)
    assert "float32 weights         row-major, as loaded, for the modes" in text
    assert max(len(line) for line in text.splitlines()) <= 100


def test_the_order_rotates_so_that_every_cell_comes_first() -> None:
    names = ["generate", "dynamic", "none", "doc"]
    orders = [bench.rotated(names, k) for k in range(len(names))]
    assert {order[0] for order in orders} == set(names)
    assert all(sorted(order) == sorted(names) for order in orders)
    assert bench.rotated(names, len(names)) == names == orders[0]
    assert bench.rotated(names, 1) == ["dynamic", "none", "doc", "generate"]


def test_a_rate_from_too_few_tokens_or_too_short_a_time_is_none() -> None:
    assert bench.decode_rate(31, 0.5) == 62.0
    assert bench.decode_rate(bench.MIN_RATE_TOKENS - 1, 1.0) is None
    assert bench.decode_rate(31, 1e-9) is None  # a near-zero time divided into
    assert bench.decode_rate(31, -0.01) is None


def test_too_few_tokens_give_no_rate_and_print_a_dash(mistral_model: GritModel) -> None:
    result = bench.run(mistral_model, sizes=(64,), modes=("none", "doc"), new_tokens=2,
                       search_chunks=100, embed_passages=2, repeat=2, decoders=("generate", "dynamic"))
    assert result.decoders and result.modes
    for d in result.decoders:
        assert d.decode_tokens_per_s is None and d.decode_tokens_per_s_spread is None
        assert d.decode_vs_generate is None and d.ttft_ms > 0
    for m in result.modes:
        assert m.decode_tokens_per_s is None and m.decode_tokens_per_s_spread is None
        assert m.ttft_cold_ms > 0 and m.warm_vs_none is not None
    rows = [line.split() for line in report(result).splitlines()
            if line.startswith(("  generate ", "  dynamic ", "  none ", "  doc "))]
    assert len(rows) == 4
    for row in rows[:2]:  # decoder tokens first (3 words) decode vs-generate agree
        assert row[-3:-1] == ["-", "-"]
    for row in rows[2:]:  # mode tokens cold (2) warm (2) cold/none warm/none decode agree
        assert row[-2] == "-" and row[-4].endswith("x")


def test_repeat_option(capsys: pytest.CaptureFixture[str]) -> None:
    assert build_parser().parse_args(["bench"]).repeat == bench.REPEAT == 5
    assert build_parser().parse_args(["bench", "--repeat", "2"]).repeat == 2
    assert main(["bench", "--synthetic", "tiny", "--repeat", "0"]) == 2
    assert "--repeat must be at least 1" in capsys.readouterr().err


def test_passages_have_the_asked_size(mistral_model: GritModel) -> None:
    sources = bench.sources_for(mistral_model, 400, n=4)
    sizes = [mistral_model.count_tokens(s.text) for s in sources]
    assert all(90 <= n <= 110 for n in sizes)
