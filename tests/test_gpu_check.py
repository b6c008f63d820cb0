"""`benchmarks/gpu_check.py`, the prepared GPU run, in CI size on the CPU (``--synthetic mid``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_gpu_check_runs_both_weight_formats_and_writes_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "check"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    run = subprocess.run(
        [sys.executable, "-m", "benchmarks.gpu_check", str(out), "--synthetic", "mid", "--sizes", "64",
         "--repeat", "1", "--new-tokens", "9", "--embed-passages", "2"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    summary = json.loads((out / "gpu_check.json").read_text())
    assert set(summary["formats"]) == {"nf4", "none"} and summary["sizes"] == [64]
    for fmt in ("nf4", "none"):
        figures = json.loads((out / f"gpu_check-{fmt}.json").read_text())
        assert figures["quantization"] == fmt and figures["load_s"] > 0 and figures["weights_mib"] > 0
        assert figures["compiled"] is True and "compiled decode step" in figures["decoding"]
        assert figures["compiled_equals_eager"].keys() == {"64"}
        logits = figures["logits"]["64"]
        assert logits["compared"] and logits["steps"] == 9 and logits["max_abs_logit"] > 0
        bench = figures["bench"]
        assert bench["embed_tokens_per_s"] > 0
        assert {d["decoder"] for d in bench["decoders"]} == {"generate", "dynamic", "static", "compiled"}
        assert all(d["decode_tokens_per_s"] and d["decode_tokens_per_s"] > 0 for d in bench["decoders"])
        assert {m["mode"] for m in bench["modes"]} == {"none", "doc", "query", "query-doc", "doc-query"}
        assert all(m["ttft_cold_ms"] > 0 and m["ttft_warm_ms"] > 0 for m in bench["modes"])
    # nf4 weights take a fraction of the full-precision ones
    nf4, full = (json.loads((out / f"gpu_check-{f}.json").read_text())["weights_mib"]
                 for f in ("nf4", "none"))
    assert nf4 < full / 2
    assert "weights nf4: loaded in" in run.stdout and "compiled tokens = eager" in run.stdout
    assert "fed the same tokens: logits differ by" in run.stdout
