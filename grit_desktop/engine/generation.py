"""The pieces of token-by-token generation that do not need the model: sampling and detokenizing."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import torch

FinishReason = Literal["eos", "length", "cancelled", "context"]


@dataclass(frozen=True)
class GenerationParams:
    """How to pick tokens. ``temperature`` 0 is greedy (deterministic)."""

    max_new_tokens: int = 512
    temperature: float = 0.0
    top_p: float = 0.95
    seed: int | None = None
    stop_at_eos: bool = True  # False: always generate max_new_tokens (benchmarks)

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise ValueError("max_new_tokens must be at least 1")
        if self.temperature < 0 or not 0 < self.top_p <= 1:
            raise ValueError("temperature must be >= 0 and top_p in (0, 1]")


@dataclass
class GenerationStats:
    """Filled in while a generation runs; complete once its iterator is exhausted."""

    cached_tokens: int = 0
    prompt_tokens: int = 0
    new_tokens: int = 0
    first_token_s: float | None = None
    total_s: float = 0.0
    finish: FinishReason | None = None
    token_ids: list[int] = field(default_factory=list)

    @property
    def decode_tokens_per_s(self) -> float:
        """Tokens per second after the first one (the prefill is not counted)."""
        if self.first_token_s is None or self.new_tokens < 2:
            return 0.0
        span = self.total_s - self.first_token_s
        return (self.new_tokens - 1) / span if span > 0 else 0.0


class Sampler:
    """Greedy or temperature + top-p sampling from the logits of the last position."""

    def __init__(self, params: GenerationParams, device: torch.device) -> None:
        self.params = params
        self._rng: torch.Generator | None = None
        if params.temperature > 0:
            self._rng = torch.Generator(device=device)
            if params.seed is not None:
                self._rng.manual_seed(params.seed)
            else:
                self._rng.seed()

    def __call__(self, logits: torch.Tensor) -> int:
        """``logits`` ``[vocab]`` -> the next token id."""
        if self._rng is None:
            return int(torch.argmax(logits).item())
        probs = torch.softmax(logits.float() / self.params.temperature, dim=-1)
        if self.params.top_p < 1.0:
            sorted_probs, order = torch.sort(probs, descending=True)
            # keep the smallest prefix whose mass reaches top_p (always at least one token)
            outside = torch.cumsum(sorted_probs, dim=-1) - sorted_probs >= self.params.top_p
            sorted_probs = sorted_probs.masked_fill(outside, 0.0)
            choice = torch.multinomial(sorted_probs, 1, generator=self._rng)
            return int(order[choice].item())
        return int(torch.multinomial(probs, 1, generator=self._rng).item())


class TextStream:
    """Turns a growing list of token ids into text pieces, never splitting a character.

    Byte-level tokenizers can end a token in the middle of a UTF-8 character; such text decodes
    to U+FFFD, so a piece is held back until the character is complete.
    """

    def __init__(self, decode: Callable[[Sequence[int]], str]) -> None:
        self._decode = decode
        self._ids: list[int] = []
        self._emitted = 0

    def push(self, token_id: int) -> str:
        """Add one token; return the new text it completes (may be empty)."""
        self._ids.append(token_id)
        text = self._decode(self._ids)
        if text.endswith("\ufffd"):
            return ""
        piece = text[self._emitted :]
        self._emitted = len(text)
        return piece

    def flush(self) -> str:
        """Whatever is left (an incomplete character at the very end is given as U+FFFD)."""
        text = self._decode(self._ids)
        piece = text[self._emitted :]
        self._emitted = len(text)
        return piece
