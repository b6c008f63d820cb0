"""`benchmarks/compile_cache.py`: a start with an empty compile folder against one with the kept
kernels, on the tiny model, in real child processes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import compile_cache


@pytest.mark.slow
def test_a_start_with_the_kept_folder_compiles_nothing_and_both_are_timed(
        tiny_model_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    compile_cache.main(["--model", str(tiny_model_dir), "--rounds", "1", "--json"])
    result = json.loads(capsys.readouterr().out)
    assert result["rounds"] == 1 and result["first_start_s"] > 0
    assert result["compiled"] == {"fresh": [1], "kept": [0]}
    assert result["reused"] == {"fresh": [0], "kept": [1]}
    for way in compile_cache.WAYS:
        assert result["seconds"][way]["n"] == 1 and result["seconds"][way]["median"] > 0
    assert result["fresh_vs_kept"] == pytest.approx(
        result["seconds"]["fresh"]["median"] / result["seconds"]["kept"]["median"])
    assert "fresh/kept:" in compile_cache.report(result)
