"""`benchmarks/decode_profile.py`: where a decode step's time goes, on the tiny shape."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import decode_profile

ROOT = Path(__file__).resolve().parent.parent


def test_the_profile_finds_the_products_and_attention_of_both_loops_and_keeps_stderr_quiet() -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    run = subprocess.run(
        [sys.executable, "-m", "benchmarks.decode_profile", "--shape", "tiny", "--cached", "200",
         "--steps", "6", "--rounds", "2", "--json"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "profiler_st" not in run.stderr  # the profiler's own start/stop lines are silenced
    result = json.loads(run.stdout)
    assert result["shape"] == "tiny" and result["cached_tokens"] == 200 and result["rounds"] == 2
    assert set(result["loops"]) == {"static", "dynamic"}
    assert result["weights_mb"] > 0 and result["read_gb_per_s"]["median"] > 0
    for figures in result["loops"].values():
        assert figures["ms_per_step"]["median"] > 0 and figures["ms_per_step"]["n"] == 2
        # each operator family is found by its name: the products and attention are not "other"
        assert figures["matmul"]["median"] > 0 and figures["attention"]["median"] > 0
        assert figures["other ops"]["median"] > 0
        assert figures["ceiling"]["median"] > 0  # a figure, not a verdict: timings under load vary
        assert figures["weights_gb_per_s"]["median"] > 0


def test_the_table_names_every_part_with_its_spread(capsys: pytest.CaptureFixture[str]) -> None:
    decode_profile.main(["--shape", "tiny", "--cached", "64", "--steps", "3", "--rounds", "1"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("tiny, 64 cached tokens;") and "median (min-max) of 1 rounds" in lines[0]
    assert lines[1].split()[:3] == ["loop", "ms/step", "matmul"] and lines[1].rstrip().endswith("ceiling")
    rows = {line.split()[0]: line for line in lines[2:4]}
    assert set(rows) == {"static", "dynamic"}
    cells = 3 * len(decode_profile.PARTS)  # a median and its min-max per part
    assert all(row.rstrip().endswith("x)") and row.count("%") == cells for row in rows.values())
    assert lines[4].startswith("the products read ") and "static " in lines[4] and "summing" in lines[4]
