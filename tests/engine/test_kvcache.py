"""KV states: RoPE re-rotation, concatenation, and the byte-bounded LRU."""

from __future__ import annotations

import copy

import pytest
import torch

from grit_desktop.engine.grit.kvcache import KVCache, KVState, concat
from grit_desktop.engine.grit.model import GritModel


def fake_state(n_tokens: int, fill: float = 1.0, layers: int = 2) -> KVState:
    t = torch.full((2, n_tokens, 8), fill)
    return KVState(tuple(t.clone() for _ in range(layers)), tuple(t.clone() for _ in range(layers)),
                   tuple(range(n_tokens)))


@pytest.fixture(scope="module")
def model64(tiny_model: GritModel) -> GritModel:
    """The tiny model in float64: keys computed directly at large positions are exact enough to
    be the ground truth. transformers computes RoPE angles in float32 whatever the model's dtype
    (off by ~1e-4 at position 4000), so the angles are computed in float64 here too."""
    lm = copy.deepcopy(tiny_model.lm).double()
    rotary = lm.model.rotary_emb

    def rope64(x: torch.Tensor, position_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        freqs = position_ids[..., None].double() * rotary.inv_freq.double()
        emb = torch.cat((freqs, freqs), dim=-1)
        return emb.cos().to(x.dtype), emb.sin().to(x.dtype)

    rotary.forward = rope64
    return GritModel(lm, tiny_model.tokenizer, tiny_model.info)


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize(("precision", "offset"), [
    ("float32", 1), ("float32", 37), ("float32", 300),
    ("float64", 1000), ("float64", 4000), ("float64", 30000),
])
def test_shifted_keys_equal_keys_computed_at_the_shifted_positions(
    tiny_model: GritModel, model64: GritModel, precision: str, offset: int, bidirectional: bool
) -> None:
    model = tiny_model if precision == "float32" else model64
    ids = model.tokenize("<|embed|>\nthe warranty lasts two years", bos=True)
    at_zero = model.prefill(ids, bidirectional=bidirectional)
    direct = model.prefill(ids, bidirectional=bidirectional, start=offset)
    moved = at_zero.shifted(offset, model.rope)
    assert moved.start == direct.start == offset
    for k_moved, k_direct, v_moved, v_direct in zip(
        moved.keys, direct.keys, moved.values, direct.values, strict=True
    ):
        assert (k_moved - k_direct).abs().max().item() <= 1e-5
        assert (v_moved - v_direct).abs().max().item() <= 1e-5
    # and the shift is not a no-op: keys at position 0 differ from keys at the offset
    assert (at_zero.keys[0] - direct.keys[0]).abs().max().item() > 1e-3


def test_concat_places_each_state_after_the_previous(tiny_model: GritModel) -> None:
    a_ids = tiny_model.tokenize("<|embed|>\nfirst passage", bos=True)
    b_ids = tiny_model.tokenize("<|embed|>\nsecond one here", bos=True)
    a = tiny_model.prefill(a_ids, bidirectional=True)
    b = tiny_model.prefill(b_ids, bidirectional=True)
    both = concat([a, b], tiny_model.rope)
    assert both.length == a.length + b.length and both.start == 0
    assert both.token_ids == tuple(a_ids + b_ids)
    b_direct = tiny_model.prefill(b_ids, bidirectional=True, start=a.length)
    for layer in range(len(both.keys)):
        torch.testing.assert_close(both.keys[layer][:, : a.length], a.keys[layer])
        torch.testing.assert_close(both.keys[layer][:, a.length :], b_direct.keys[layer],
                                   atol=1e-5, rtol=0)
        torch.testing.assert_close(both.values[layer][:, a.length :], b.values[layer])
    both.keys[0].zero_()
    assert a.keys[0].abs().sum() > 0  # the result shares no memory with its inputs


def test_crop_and_shape_checks() -> None:
    s = fake_state(5)
    assert s.crop(3).length == 3 and s.crop(3).token_ids == (0, 1, 2)
    with pytest.raises(ValueError):
        s.crop(6)
    with pytest.raises(ValueError):
        KVState((torch.zeros(2, 4, 8),), (torch.zeros(2, 3, 8),), (1, 2, 3, 4))


def test_lru_keeps_within_budget_and_evicts_least_recent() -> None:
    one = fake_state(4).nbytes
    cache = KVCache(budget_bytes=3 * one)
    for key in "abc":
        assert cache.put(key, fake_state(4))
    assert cache.get("a") is not None  # a is now the most recent
    cache.put("d", fake_state(4))
    assert "b" not in cache and {"a", "c", "d"} <= {k for k in "abcd" if k in cache}
    assert cache.nbytes == 3 * one and cache.stats.evictions == 1
    assert cache.stats.hits == 1 and cache.get("zzz") is None and cache.stats.misses == 1


def test_lru_returns_independent_copies() -> None:
    cache = KVCache(budget_bytes=10**6)
    cache.put("x", fake_state(3, fill=2.0))
    first = cache.get("x")
    assert first is not None
    first.keys[0].zero_()
    second = cache.get("x")
    assert second is not None and second.keys[0].min().item() == 2.0


def test_lru_rejects_what_cannot_fit_and_shrinks_on_resize() -> None:
    cache = KVCache(budget_bytes=fake_state(4).nbytes * 2)
    assert not cache.put("huge", fake_state(100))
    assert "huge" not in cache and cache.stats.rejected == 1
    cache.put("a", fake_state(4))
    cache.put("b", fake_state(4))
    cache.put("a", fake_state(4))  # replacing a key does not count it twice
    assert len(cache) == 2 and cache.nbytes == fake_state(4).nbytes * 2
    cache.resize(fake_state(4).nbytes)
    assert len(cache) == 1 and "a" in cache
    cache.clear()
    assert len(cache) == 0 and cache.nbytes == 0
