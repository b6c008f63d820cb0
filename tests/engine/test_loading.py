"""Finding and checking a model, choosing device/dtype/4-bit, and failing with clear messages."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from grit_desktop.engine.grit import loading
from grit_desktop.engine.grit.generation import GenerationParams
from grit_desktop.engine.grit.model import GritModel, LoadOptions
from grit_desktop.engine.grit.prompts import chat
from grit_desktop.errors import DeviceError, GritError, ModelLoadError, ModelNotFoundError


@pytest.fixture
def model_copy(tiny_model_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(tiny_model_dir, tmp_path / "model"))


def load(path: Path | str, **kw: str) -> GritModel:
    return GritModel.load(LoadOptions(str(path), **kw))  # type: ignore[arg-type]


def test_missing_folder_is_named(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match=f"{tmp_path / 'nope'} does not exist"):
        load(tmp_path / "nope")


def test_a_file_instead_of_a_folder(tmp_path: Path) -> None:
    f = tmp_path / "model.safetensors"
    f.write_bytes(b"x")
    with pytest.raises(ModelNotFoundError, match="is a file"):
        load(f)


def test_folder_without_config(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match=r"has no config\.json"):
        load(tmp_path)


def test_broken_config(model_copy: Path) -> None:
    (model_copy / "config.json").write_text("{not json")
    with pytest.raises(ModelLoadError, match=r"config\.json .* cannot be read"):
        load(model_copy)


def test_unsupported_architecture(model_copy: Path) -> None:
    cfg = json.loads((model_copy / "config.json").read_text())
    (model_copy / "config.json").write_text(json.dumps({**cfg, "model_type": "bert"}))
    with pytest.raises(ModelLoadError, match="'bert' model"):
        load(model_copy)


def test_pickle_weights_are_refused(model_copy: Path) -> None:
    (model_copy / "model.safetensors").rename(model_copy / "pytorch_model.bin")
    with pytest.raises(ModelLoadError, match="safetensors only"):
        load(model_copy)


def test_no_weights_at_all(model_copy: Path) -> None:
    (model_copy / "model.safetensors").unlink()
    with pytest.raises(ModelNotFoundError, match="has no weights"):
        load(model_copy)


def test_missing_shards_are_listed(model_copy: Path) -> None:
    index = {"weight_map": {"a": "model-00001-of-00002.safetensors",
                            "b": "model-00002-of-00002.safetensors"}}
    (model_copy / "model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(ModelNotFoundError, match="2 of 2 weight files are missing"):
        load(model_copy)


def test_missing_tokenizer(model_copy: Path) -> None:
    (model_copy / "tokenizer.json").unlink()
    with pytest.raises(ModelNotFoundError, match="has no tokenizer"):
        load(model_copy)


def test_truncated_weights_give_a_load_error(model_copy: Path) -> None:
    weights = model_copy / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(ModelLoadError, match=f"cannot load the model in {model_copy}"):
        load(model_copy)


def use_hub_cache(monkeypatch: pytest.MonkeyPatch, hub: Path) -> None:
    """Point the Hub library at ``hub``, offline (it reads its environment once, at import)."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(hub))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)


def test_hub_id_not_in_the_local_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    use_hub_cache(monkeypatch, tmp_path / "hub")
    with pytest.raises(ModelNotFoundError, match="GritLM/GritLM-7B is not on this machine"):
        loading.resolve("GritLM/GritLM-7B")


def test_hub_id_found_in_the_local_cache(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A snapshot laid out the way the Hub cache stores it is found without any network."""
    hub = tmp_path / "hub"
    repo = hub / "models--someone--tiny-grit"
    snapshot = repo / "snapshots" / ("0" * 40)
    shutil.copytree(tiny_model_dir, snapshot)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0" * 40)
    use_hub_cache(monkeypatch, hub)
    assert loading.resolve("someone/tiny-grit") == snapshot


def files_of(path: Path) -> loading.ModelFiles:
    return loading.check_files(path)


def test_plan_without_cuda_falls_back_to_cpu_float32(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    plan = loading.plan(files_of(tiny_model_dir), "auto", "auto")
    assert (plan.device, plan.dtype, plan.quantization) == ("cpu", torch.float32, "none")
    assert any("No CUDA GPU" in n and "without 4-bit weights" in n for n in plan.notes)
    with pytest.raises(DeviceError, match="no CUDA GPU"):
        loading.plan(files_of(tiny_model_dir), "cuda", "auto")
    nf4 = loading.plan(files_of(tiny_model_dir), "auto", "nf4")  # asked for: the note says so
    assert nf4.quantization == "nf4"
    assert any("No CUDA GPU" in n and "on the CPU in 4-bit weights" in n for n in nf4.notes)
    assert not any("without 4-bit" in n for n in nf4.notes)


def test_plan_with_cuda_picks_4bit(tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    # importing bitsandbytes while CUDA is faked would break it for the rest of the session
    monkeypatch.setattr(loading, "_require_bitsandbytes", lambda: None)
    plan = loading.plan(files_of(tiny_model_dir), "auto", "auto")
    assert (plan.device, plan.quantization, plan.dtype) == ("cuda", "nf4", torch.bfloat16)
    assert plan.notes == ()
    full = loading.plan(files_of(tiny_model_dir), "auto", "none")
    assert (full.quantization, full.dtype) == ("none", torch.bfloat16)


def test_plan_takes_bfloat16_when_float32_would_not_fit(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(loading, "_total_ram", lambda: 1000)  # bytes: nothing fits
    plan = loading.plan(files_of(tiny_model_dir), "cpu", "none")
    assert plan.dtype == torch.bfloat16
    assert any("bfloat16" in n for n in plan.notes)


def test_4bit_runs_on_the_cpu(tiny_model_dir: Path, tiny_model: GritModel) -> None:
    """bitsandbytes NF4 works for a tiny model on the CPU: Linear4bit layers, sane outputs."""
    bnb = pytest.importorskip("bitsandbytes")
    q = load(tiny_model_dir, device="cpu", quantization="nf4")
    assert q.info.quantization == "nf4"
    assert isinstance(q.base.layers[0].self_attn.q_proj, bnb.nn.Linear4bit)
    assert q.info.memory_bytes < tiny_model.info.memory_bytes
    texts = ["warranty page", "the quick brown fox jumps over the lazy dog"]
    v4 = q.embed(texts).vectors
    v32 = tiny_model.embed(texts).vectors
    assert np.isfinite(v4).all()
    assert np.linalg.norm(v4, axis=1) == pytest.approx(1.0, abs=1e-5)
    assert float((v4 * v32).sum(1).min()) > 0.9  # close to full precision, not identical
    out = "".join(q.generate(q.tokenize(chat("hi"), bos=True), params=GenerationParams(max_new_tokens=5)))
    assert isinstance(out, str)


def column_major(weight: torch.Tensor) -> bool:
    return weight.stride() == (1, weight.shape[0])


def test_float32_weights_on_the_cpu_are_laid_out_for_one_row_products(tiny_model: GritModel) -> None:
    """Decoding multiplies one hidden state by every layer's weights and the head: MKL does that
    faster from column-major float32 weights (``benchmarks/weight_layout.py``). Same values, so
    every loop decodes alike; the input embeddings, looked up by row, keep their layout."""
    head = tiny_model.lm.get_output_embeddings().weight
    assert head.dtype == torch.float32 and column_major(head)
    assert head.is_contiguous() is False and head.t().is_contiguous()
    linear = [m for m in tiny_model.lm.modules() if isinstance(m, torch.nn.Linear)]
    assert len(linear) == 7 * tiny_model.lm.config.num_hidden_layers + 1  # q k v o gate up down, head
    assert all(column_major(m.weight) for m in linear)
    assert tiny_model.lm.get_input_embeddings().weight.is_contiguous()  # not tied here


def test_weights_are_laid_out_for_the_loop_that_decodes(tiny_model_dir: Path) -> None:
    """A CPU model that decodes compiled keeps its weights row-major, as the compiled step reads
    them fastest; switching layouts keeps the values, so the answers stay the same."""
    compiled = load(tiny_model_dir, device="cpu", quantization="none", compile="on")
    eager = load(tiny_model_dir, device="cpu", quantization="none", compile="off")
    assert (compiled.weights, eager.weights) == ("rows", "columns")
    linear = [m.weight for m in compiled.lm.modules() if isinstance(m, torch.nn.Linear)]
    assert linear and all(w.is_contiguous() for w in linear)
    ids = eager.tokenize(chat("what does the warranty cover?"), bos=True)
    params = GenerationParams(max_new_tokens=8)
    answer = "".join(eager.generate(ids, params=params, loop="static"))
    assert "".join(compiled.generate(ids, params=params, loop="static")) == answer
    eager.lay_out_weights("rows")
    assert eager.weights == "rows" and all(
        m.weight.is_contiguous() for m in eager.lm.modules() if isinstance(m, torch.nn.Linear))
    assert "".join(eager.generate(ids, params=params, loop="static")) == answer
    eager.lay_out_weights("columns")
    assert eager.weights == "columns" and column_major(eager.lm.get_output_embeddings().weight)
    eager.compile = "on"  # the setting changed: laid out for the compiled step
    assert eager.weights == "rows"
    eager.compile = "auto"  # on CUDA only: the eager loop decodes here
    assert eager.weights == "columns"


def test_bfloat16_weights_keep_their_layout(tiny_model_dir: Path) -> None:
    from transformers import AutoModelForCausalLM

    from grit_desktop.engine.grit.decoding import lay_out_weights, weights_order

    lm = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir), dtype=torch.bfloat16)
    lay_out_weights(lm, "columns")
    assert weights_order(lm) is None  # nothing to lay out
    # row-major is faster in bfloat16
    assert all(m.weight.is_contiguous() for m in lm.modules() if isinstance(m, torch.nn.Linear))


def test_a_head_tied_to_the_embeddings_is_laid_out_once_and_embeds_the_same(model_copy: Path) -> None:
    from safetensors.torch import load_file, save_file

    config = json.loads((model_copy / "config.json").read_text())
    (model_copy / "config.json").write_text(json.dumps({**config, "tie_word_embeddings": True}))
    weights = model_copy / "model.safetensors"  # as tied models are saved: without the head
    save_file({k: v for k, v in load_file(weights).items() if k != "lm_head.weight"}, weights,
              metadata={"format": "pt"})
    model = load(model_copy, device="cpu", quantization="none")
    head = model.lm.get_output_embeddings().weight
    assert head is model.lm.get_input_embeddings().weight and column_major(head)
    texts = ["warranty page", "the quick brown fox jumps over the lazy dog"]
    laid_out = model.embed(texts).vectors
    head.data = head.data.contiguous()  # as loaded: row-major
    assert np.array_equal(laid_out, model.embed(texts).vectors)  # lookups read the same values
    out = "".join(model.generate(model.tokenize(chat("hi"), bos=True),
                                 params=GenerationParams(max_new_tokens=5)))
    assert isinstance(out, str)


def test_every_failure_is_a_grit_error(tmp_path: Path) -> None:
    """The CLI and GUI show GritError messages as they are: nothing here leaks another type."""
    for bad in (tmp_path / "nope", tmp_path):
        with pytest.raises(GritError):
            load(bad)
