"""Key/value states of text the model has already read, and a byte-bounded LRU of them.

GRIT caching reuses the keys/values computed while *embedding* a passage as the KV cache of
*generation*. A `KVState` holds them for one text: per layer, keys and values
``[kv_heads, T, head_dim]``, with RoPE already applied for positions ``start .. start+T-1``.

Several passages were each embedded from position 0. To place passage i after passages 0..i-1,
its keys must sit at positions ``offset ..``; RoPE is a rotation by an angle proportional to the
position, so moving keys by ``d`` positions is one more rotation by ``d`` (`KVState.shifted`).
Values carry no position and are copied as they are.

Nothing here knows the model: the rotation comes in as a `RopeFn`, the model's own rotary
embedding, so scaled RoPE variants are handled by the model's code.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

import torch

#: ``rope(d, device)`` -> ``(cos, sin)``, each ``[head_dim]`` float32: the rotation by ``d`` positions.
RopeFn = Callable[[int, torch.device], tuple[torch.Tensor, torch.Tensor]]


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    """The RoPE helper of Llama/Mistral: ``[x1, x2] -> [-x2, x1]`` on the last dimension."""
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


@dataclass(frozen=True)
class KVState:
    """The KV states of one token sequence, batch dimension removed.

    ``keys[l]`` and ``values[l]`` are ``[kv_heads, T, head_dim]`` for layer ``l``; ``token_ids``
    are the ``T`` tokens they were computed from; ``start`` is the position of the first one.
    """

    keys: tuple[torch.Tensor, ...]
    values: tuple[torch.Tensor, ...]
    token_ids: tuple[int, ...]
    start: int = 0

    def __post_init__(self) -> None:
        if len(self.keys) != len(self.values):
            raise ValueError("keys and values must have one tensor per layer")
        for k, v in zip(self.keys, self.values, strict=True):
            if k.shape != v.shape or k.dim() != 3 or k.shape[1] != len(self.token_ids):
                raise ValueError(
                    f"KV tensors must be [kv_heads, {len(self.token_ids)}, head_dim], "
                    f"got keys {tuple(k.shape)} values {tuple(v.shape)}"
                )

    @property
    def length(self) -> int:
        return len(self.token_ids)

    @property
    def end(self) -> int:
        """The position the next token after this state takes."""
        return self.start + self.length

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in (*self.keys, *self.values))

    @property
    def device(self) -> torch.device:
        return self.keys[0].device

    def clone(self) -> KVState:
        """An independent copy: nothing done to it reaches this state's tensors."""
        return KVState(
            tuple(k.clone() for k in self.keys),
            tuple(v.clone() for v in self.values),
            self.token_ids,
            self.start,
        )

    def crop(self, length: int) -> KVState:
        """The first ``length`` tokens (a view, no copy)."""
        if not 0 <= length <= self.length:
            raise ValueError(f"cannot crop a {self.length}-token state to {length}")
        return KVState(
            tuple(k[:, :length] for k in self.keys),
            tuple(v[:, :length] for v in self.values),
            self.token_ids[:length],
            self.start,
        )

    def shifted(self, new_start: int, rope: RopeFn) -> KVState:
        """This state moved to begin at position ``new_start`` (keys re-rotated, in float32)."""
        delta = new_start - self.start
        if delta == 0:
            return self
        cos, sin = rope(delta, self.device)  # [head_dim] each
        keys = tuple(
            (k.float() * cos + rotate_half(k.float()) * sin).to(k.dtype) for k in self.keys
        )
        return KVState(keys, self.values, self.token_ids, new_start)

    def to(self, device: torch.device | str) -> KVState:
        return KVState(
            tuple(k.to(device) for k in self.keys),
            tuple(v.to(device) for v in self.values),
            self.token_ids,
            self.start,
        )


def concat(states: Sequence[KVState], rope: RopeFn, start: int = 0) -> KVState:
    """Lay several states end to end from position ``start``; each is re-rotated to its place.

    The result's tensors are new (never views of the inputs), so it can be handed to generation,
    which grows its cache, without touching the cached originals.
    """
    if not states:
        raise ValueError("nothing to concatenate")
    placed: list[KVState] = []
    position = start
    for state in states:
        placed.append(state.shifted(position, rope))
        position += state.length
    n_layers = len(states[0].keys)
    keys = tuple(torch.cat([s.keys[i] for s in placed], dim=1) for i in range(n_layers))
    values = tuple(torch.cat([s.values[i] for s in placed], dim=1) for i in range(n_layers))
    token_ids = tuple(t for s in placed for t in s.token_ids)
    return KVState(keys, values, token_ids, start)


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    evictions: int = 0
    rejected: int = 0


class KVCache:
    """A least-recently-used map of `KVState`, bounded by the bytes of its tensors.

    Thread-safe. `get` returns an independent copy (the caller may change it freely; or, asked,
    the state itself, to read only); `put`
    takes the state as it is (the caller must not change it afterwards). A state larger than the
    whole budget is not kept. It is a cache: anything in it may vanish, nothing is lost.
    """

    def __init__(self, budget_bytes: int) -> None:
        if budget_bytes < 0:
            raise ValueError("the budget cannot be negative")
        self.budget_bytes = budget_bytes
        self.stats = CacheStats()
        self._items: OrderedDict[Hashable, KVState] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._items

    @property
    def nbytes(self) -> int:
        with self._lock:
            return self._bytes

    def get(self, key: Hashable, copy: bool = True) -> KVState | None:
        """A copy of the state under ``key`` (now the most recently used), or None.

        ``copy=False`` gives the kept state itself, for a caller that only reads it (`concat`
        makes new tensors), which saves one copy of every layer's states per passage.
        """
        with self._lock:
            state = self._items.get(key)
            if state is None:
                self.stats.misses += 1
                return None
            self._items.move_to_end(key)
            self.stats.hits += 1
        return state.clone() if copy else state

    def put(self, key: Hashable, state: KVState) -> bool:
        """Keep ``state`` under ``key``, evicting the least recently used; False if too large."""
        size = state.nbytes
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= old.nbytes
            if size > self.budget_bytes:
                self.stats.rejected += 1
                return False
            while self._items and self._bytes + size > self.budget_bytes:
                _, evicted = self._items.popitem(last=False)
                self._bytes -= evicted.nbytes
                self.stats.evictions += 1
            self._items[key] = state
            self._bytes += size
            return True

    def resize(self, budget_bytes: int) -> None:
        """Change the budget, evicting at once what no longer fits."""
        with self._lock:
            self.budget_bytes = budget_bytes
            while self._items and self._bytes > budget_bytes:
                _, evicted = self._items.popitem(last=False)
                self._bytes -= evicted.nbytes
                self.stats.evictions += 1

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0
