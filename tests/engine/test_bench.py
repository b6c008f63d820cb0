"""The benchmark runs end to end on the tiny model and reports every figure it promises."""

from __future__ import annotations

from grit_desktop.cli.bench import report
from grit_desktop.engine import bench
from grit_desktop.engine.grit.model import GritModel
from grit_desktop.engine.grit.prompts import CACHE_MODES


def test_bench_reports_every_mode_and_size(mistral_model: GritModel) -> None:
    result = bench.run(mistral_model, sizes=(64, 256), new_tokens=4, search_chunks=300,
                       embed_passages=4)
    assert result.embed_tokens_per_s > 0 and result.search_p50_ms > 0
    assert set(result.baseline_ttft_ms) == {64, 256} == set(result.baseline_decode_tokens_per_s)
    assert all(v > 0 for v in result.baseline_decode_tokens_per_s.values())
    assert {(m.mode, m.cached_tokens) for m in result.modes} == {
        (mode, size) for mode in CACHE_MODES for size in (64, 256)}
    for m in result.modes:
        assert m.ttft_cold_ms > 0 and m.ttft_warm_ms > 0 and 0.0 <= m.agreement <= 1.0
        if m.mode == "none":
            assert m.agreement == 1.0
    text = report(result)
    assert "doc" in text and "warm/none" in text and "peak memory" in text


def test_passages_have_the_asked_size(mistral_model: GritModel) -> None:
    sources = bench.sources_for(mistral_model, 400, n=4)
    sizes = [mistral_model.count_tokens(s.text) for s in sources]
    assert all(90 <= n <= 110 for n in sizes)
