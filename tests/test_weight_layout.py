"""`benchmarks/weight_layout.py`: a whole model in three weight layouts, on the tiny model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from benchmarks import weight_layout


def test_the_three_copies_are_laid_out_as_named_and_measured(tiny_model_dir: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    models = weight_layout.copies(str(tiny_model_dir), torch.float32)
    for layout, model in models.items():
        head = model.lm.get_output_embeddings()
        for module in model.lm.modules():
            if isinstance(module, torch.nn.Linear):
                column = layout == "all" or (layout == "head" and module is head)
                assert module.weight.t().is_contiguous() is column, (layout, module)
    weight_layout.main(["--model", str(tiny_model_dir), "--cached", "40", "--steps", "2", "--passages", "2",
                        "--rounds", "2", "--json"])
    result = json.loads(capsys.readouterr().out)
    assert result["rounds"] == 2 and result["dtype"] == "float32"
    for figure in ("decode_ms_per_step", "embed_s"):
        assert set(result[figure]) == set(weight_layout.LAYOUTS)
        assert all(spread["median"] > 0 and spread["n"] == 2 for spread in result[figure].values())
    assert result["decode_vs_all"]["all"] == 1 and result["embed_vs_all"]["all"] == 1
    diff = result["max_abs_difference"]
    assert set(diff) == {"head", "all"}
    # the same values in another layout: logits within float32 rounding, embeddings equal
    assert all(d["prompt_logits"] < 1e-4 and d["step_logits"] < 1e-4 for d in diff.values())
    assert all(d["embeddings"] < 1e-5 for d in diff.values())
