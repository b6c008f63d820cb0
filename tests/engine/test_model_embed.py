"""Embedding: the GRIT recipe, checked against the reference `gritlm` package on the same model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from grit_desktop.engine.grit.model import GritModel
from grit_desktop.engine.grit.prompts import QUERY_TASK, embed_instruction

WORDS = "the quick brown fox jumps over lazy dog page chapter section answer warranty table".split()


def mixed_texts(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=int(rng.integers(1, 120)))) for _ in range(n)]


def _reference(folder: Path):  # type: ignore[no-untyped-def]
    import contextlib
    import io

    import gritlm

    with contextlib.redirect_stdout(io.StringIO()):
        return gritlm.GritLM(str(folder), dtype=torch.float32, device="cpu")


@pytest.fixture(scope="module")
def reference(tiny_model_dir: Path):  # type: ignore[no-untyped-def]
    return _reference(tiny_model_dir)


@pytest.fixture(scope="module", params=["byte-level BPE", "Mistral SentencePiece"])
def model_and_reference(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """Our model and the reference on the same weights, with each kind of tokenizer."""
    name = "tiny_model" if request.param == "byte-level BPE" else "mistral_model"
    model = request.getfixturevalue(name)
    return model, _reference(Path(model.info.path))


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


@pytest.mark.parametrize("task", [None, QUERY_TASK])
def test_embeddings_equal_reference(model_and_reference, task: str | None) -> None:  # type: ignore[no-untyped-def]
    model, reference = model_and_reference
    texts = mixed_texts(40)
    ours = model.embed(texts, task).vectors
    ref = reference.encode(texts, instruction=embed_instruction(task), batch_size=64)
    assert ours.dtype == np.float32 and ours.shape == ref.shape
    assert cosines(ours, ref).min() >= 0.99999


def test_small_batches_give_the_same_vectors(tiny_model: GritModel, reference) -> None:  # type: ignore[no-untyped-def]
    texts = mixed_texts(25, seed=1)
    saved = tiny_model._batch_tokens
    tiny_model._batch_tokens = 200  # forces many length-sorted batches
    try:
        ours = tiny_model.embed(texts, QUERY_TASK).vectors
    finally:
        tiny_model._batch_tokens = saved
    ref = reference.encode(texts, instruction=embed_instruction(QUERY_TASK))
    assert cosines(ours, ref).min() >= 0.99999


def test_vectors_are_unit_length_and_instruction_matters(tiny_model: GritModel) -> None:
    doc = tiny_model.embed(["warranty page"]).vectors[0]
    query = tiny_model.embed(["warranty page"], QUERY_TASK).vectors[0]
    assert np.linalg.norm(doc) == pytest.approx(1.0, abs=1e-5)
    assert not np.allclose(doc, query, atol=1e-4)


def test_embedding_is_bidirectional_generation_causal(tiny_model: GritModel) -> None:
    """Changing the last token moves an earlier token's hidden state only in embedding mode."""
    ids = tiny_model.tokenize("<|embed|>\nthe quick brown fox", bos=True)
    changed = [*ids[:-1], tiny_model.tokenize(" dog")[0]]
    assert changed[-1] != ids[-1]

    def hidden(seq: list[int], causal: bool) -> torch.Tensor:
        t = torch.tensor([seq])
        out = tiny_model.base(input_ids=t, attention_mask=torch.ones_like(t), is_causal=causal)
        return out.last_hidden_state[0, 2]

    with torch.inference_mode():
        bidi = (hidden(ids, False) - hidden(changed, False)).abs().max().item()
        causal = (hidden(ids, True) - hidden(changed, True)).abs().max().item()
    assert bidi > 1e-3
    assert causal == 0.0


@pytest.mark.parametrize("name", ["tiny_model", "mistral_model"])
def test_pooling_leaves_out_bos_and_instruction(name: str, request: pytest.FixtureRequest) -> None:
    """The vector is the normalised mean of the text tokens' hidden states, computed by hand."""
    model: GritModel = request.getfixturevalue(name)
    text = "the lazy dog"
    prefix = model.tokenize(embed_instruction(QUERY_TASK), bos=True)
    ids = model.tokenize(embed_instruction(QUERY_TASK) + text, bos=True)
    assert ids[: len(prefix)] == prefix
    with torch.inference_mode():
        t = torch.tensor([ids])
        h = model.base(input_ids=t, attention_mask=torch.ones_like(t), is_causal=False)
        mean = h.last_hidden_state[0, len(prefix):].float().mean(0)
    expected = (mean / mean.norm()).numpy()
    got = model.embed([text], QUERY_TASK)
    assert got.token_counts == [len(ids) - len(prefix)]
    np.testing.assert_allclose(got.vectors[0], expected, atol=1e-6)


def test_continuation_tokens_match_the_inside_of_a_longer_text(mistral_model: GritModel) -> None:
    """A prompt piece after a cached passage is tokenized as it would be inside the whole text:
    SentencePiece would otherwise add a space token in front of it (not seen in training)."""
    head, tail = "<|embed|>\nThe warranty lasts two years.", "\n<|user|>\nHow long?\n<|assistant|>\n"
    whole = mistral_model.tokenize(head + tail, bos=True)
    apart = mistral_model.tokenize(head, bos=True) + mistral_model.tokenize(tail, continuation=True)
    assert apart == whole
    naive = mistral_model.tokenize(head, bos=True) + mistral_model.tokenize(tail)
    assert naive != whole  # the trap this guards against is real


def test_truncation_is_reported(tiny_model: GritModel) -> None:
    long = " ".join(["warranty"] * 200)
    got = tiny_model.embed([long, "short"], max_length=32)
    assert got.truncated == [True, False]
    assert got.token_counts[0] == 32 - len(tiny_model.tokenize(embed_instruction(None), bos=True))


def test_states_returned_per_text_match_a_lone_pass(tiny_model: GritModel) -> None:
    """Right padding in a batch leaves each text's KV states exactly as if embedded alone."""
    texts = ["a b c d e f g", "page", "chapter section table answer"]
    batch = tiny_model.embed(texts, return_states=True)
    assert batch.states is not None
    for text, state in zip(texts, batch.states, strict=True):
        ids = tiny_model.tokenize(embed_instruction(None) + text, bos=True)
        assert state.token_ids == tuple(ids)
        alone = tiny_model.prefill(ids, bidirectional=True)
        for k1, k2 in zip(state.keys, alone.keys, strict=True):
            torch.testing.assert_close(k1, k2, atol=1e-5, rtol=1e-5)


def test_empty_input_gives_empty_output(tiny_model: GritModel) -> None:
    got = tiny_model.embed([])
    assert got.vectors.shape == (0, tiny_model.info.hidden_size)
