"""`benchmarks/compile_cache.py`, and what it measures: a start of the app (`Session`, in a real
child process) keeps the compiled decode step in its data folder, and the next start with that
folder compiles nothing; one with an empty folder compiles it all again. On the tiny model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import compile_cache


@pytest.mark.slow
def test_a_start_with_the_kept_folder_compiles_nothing_and_both_are_timed(tiny_model_dir: Path,
                                                                          tmp_path: Path) -> None:
    result = compile_cache.measure(str(tiny_model_dir), "cpu", 1, tmp_path)
    kept = tmp_path / "kept" / "cache" / "compiled"  # the data folder of the starts that reuse it
    assert any(kept.rglob("*")), "nothing was kept in the data folder"
    assert result["rounds"] == 1 and result["first_start_s"] > 0
    assert result["compiled"] == {"fresh": [1], "kept": [0]}
    assert result["reused"] == {"fresh": [0], "kept": [1]}
    for way in compile_cache.WAYS:
        assert result["seconds"][way]["n"] == 1 and result["seconds"][way]["median"] > 0
    assert result["fresh_vs_kept"] == pytest.approx(
        result["seconds"]["fresh"]["median"] / result["seconds"]["kept"]["median"])
    assert "fresh/kept:" in compile_cache.report(result)
    json.dumps(result)  # what --json prints
