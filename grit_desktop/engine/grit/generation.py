"""The pieces of token-by-token generation that do not need the model: sampling and detokenizing."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import torch

FinishReason = Literal["eos", "length", "cancelled", "context", "repetition", "stop"]

#: Text that ends an answer where it appears (not shown): the model starting a new turn, or
#: echoing the instruction of the GRIT RAG prompt.
STOP_STRINGS: tuple[str, ...] = ("<|user|>", "<|assistant|>", "<|embed|>", "<s>", "</s>",
                                 "Answer the prior query")


@dataclass(frozen=True)
class GenerationParams:
    """How to pick tokens. ``temperature`` 0 is greedy (deterministic)."""

    max_new_tokens: int = 512
    temperature: float = 0.0
    top_p: float = 0.95
    seed: int | None = None
    stop_at_eos: bool = True  # False: always generate max_new_tokens (benchmarks)
    # The repetition guard (on by default; benchmarks turn it off to compare raw decoding):
    # tokens already generated have their logits divided (positive) or multiplied (negative)
    # by repetition_penalty (Keskar et al., 2019, as in transformers), and the answer stops once
    # its last tokens are one span repeated (see `RepetitionGuard`).
    repetition_penalty: float = 1.1
    stop_on_loop: bool = True
    stop_strings: tuple[str, ...] = STOP_STRINGS

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise ValueError("max_new_tokens must be at least 1")
        if self.temperature < 0 or not 0 < self.top_p <= 1:
            raise ValueError("temperature must be >= 0 and top_p in (0, 1]")
        if self.repetition_penalty < 1:
            raise ValueError("repetition_penalty must be >= 1 (1: off)")

    @property
    def raw(self) -> GenerationParams:
        """The same, without the repetition guard and stop strings (benchmarks)."""
        return GenerationParams(self.max_new_tokens, self.temperature, self.top_p, self.seed,
                                self.stop_at_eos, 1.0, False, ())


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


class RepetitionGuard:
    """Against answers that loop ("The document contains ... The document contains ...").

    `penalize` lowers the logits of tokens the answer already holds (``penalty`` 1.1: mild,
    the answer may still repeat a name or a number). `looping` is true once the answer ends with
    one span of ``p`` tokens (1 <= p <= MAX_PERIOD) repeated back to back, covering at least
    MIN_LOOP_TOKENS tokens and at least REPEATS copies: a greedy decoder in such a cycle never
    leaves it.
    """

    MAX_PERIOD = 64
    REPEATS = 3
    MIN_LOOP_TOKENS = 24

    def __init__(self, penalty: float) -> None:
        self.penalty = penalty

    def penalize(self, logits: torch.Tensor, generated: Sequence[int]) -> torch.Tensor:
        """``logits`` ``[vocab]`` with the tokens of ``generated`` made less likely."""
        if self.penalty == 1.0 or not generated:
            return logits
        seen = torch.tensor(sorted(set(generated)), device=logits.device)
        values = logits[seen]
        logits = logits.clone()
        logits[seen] = torch.where(values > 0, values / self.penalty, values * self.penalty)
        return logits

    @classmethod
    def looping(cls, generated: Sequence[int]) -> bool:
        n = len(generated)
        for period in range(1, min(cls.MAX_PERIOD, n // cls.REPEATS) + 1):
            copies = max(cls.REPEATS, -(-cls.MIN_LOOP_TOKENS // period))
            span = period * copies
            if span > n:
                continue
            tail = generated[n - span:]
            unit = tail[-period:]
            if all(tail[i] == unit[i % period] for i in range(span)):
                return True
        return False


class StopText:
    """Holds back streamed text that may be the start of a stop string; ends at one.

    `push` returns the text that is safe to show; `stopped` turns true once a stop string
    appeared (it and what follows are never shown).
    """

    def __init__(self, stops: Sequence[str]) -> None:
        self.stops = tuple(s for s in stops if s)
        self.stopped = False
        self._held = ""

    def push(self, piece: str) -> str:
        if not self.stops:
            return piece
        text = self._held + piece
        cut = min((i for i in (text.find(s) for s in self.stops) if i >= 0), default=-1)
        if cut >= 0:
            self.stopped = True
            self._held = ""
            return text[:cut].rstrip()
        keep = max((k for s in self.stops for k in range(1, len(s)) if text.endswith(s[:k])),
                   default=0)
        self._held = text[len(text) - keep:] if keep else ""
        return text[: len(text) - keep]

    def flush(self) -> str:
        held, self._held = self._held, ""
        return held


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
