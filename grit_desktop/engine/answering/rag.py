"""Answering a question from given passages: the GRIT prompt, cached generation, citations.

The passages come from `engine/answering/retrieval.py`; the answerer never sees the library.
`Answerer.answer` is a generator of events: `Retrieved` (the numbered passages the model is
given, before the first token), `Token` (text as it streams), `Answered` (the whole answer,
sources, timings).

Cache modes (the GRIT paper's "RAG with caching"; docs/grit.md has each prompt):
- ``none``: passages and question are fed to generation as one prompt (plain RAG);
- ``doc`` (default): each passage's key/value states come from its embedding pass
  ``<s><|embed|>\\n{passage}``, laid end to end (keys re-rotated), and only the question is fed;
- ``query``, ``query-doc``, ``doc-query``: the other variants of the paper, for comparison.

Passage states are kept in a byte-bounded LRU (`KVCache`), so a follow-up question over the same
passages starts without reading them again.

Threading: used from the engine worker thread; the model serialises its own calls.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from grit_desktop.config import CacheMode, Settings
from grit_desktop.engine.answering.citations import CitationFilter, strip_citations
from grit_desktop.engine.answering.events import Answered, AnswerEvent, Retrieved, Token
from grit_desktop.engine.answering.retrieval import Passages
from grit_desktop.engine.chats import Message
from grit_desktop.engine.grit import prompts
from grit_desktop.engine.grit.generation import GenerationParams, GenerationStats
from grit_desktop.engine.grit.kvcache import KVCache, KVState, concat
from grit_desktop.engine.grit.model import GritModel
from grit_desktop.engine.index.records import Source

log = logging.getLogger(__name__)

#: Tokens kept free for the answer's framing (markers, citation note) beyond the counted suffix.
_MARGIN = 16
#: Most tokens of earlier turns put back into the prompt of a follow-up.
HISTORY_TOKENS = 1024
NO_ROOM = ("The question and the conversation fill the model's context, leaving no room for "
           "passages: this answer comes from the model alone.")


@dataclass(frozen=True)
class Placed:
    """Where one segment of the prompt sits: positions ``start .. start+length-1``."""

    segment: prompts.Segment
    start: int
    length: int


@dataclass
class Prompt:
    """A prompt ready for generation: a cached prefix (states laid end to end) and fed tokens."""

    state: KVState | None
    ids: list[int]
    layout: list[Placed] = field(default_factory=list)
    cache_hits: int = 0
    cache_misses: int = 0

    @property
    def cached_tokens(self) -> int:
        return self.state.length if self.state is not None else 0


class Answerer:
    """GRIT cached generation with one model and one passage KV cache."""

    def __init__(self, model: GritModel, settings: Settings, cache: KVCache | None = None) -> None:
        self.model = model
        self.settings = settings
        self.cache = cache if cache is not None else KVCache(settings.kv_cache_mb * 2**20)

    # -- prompt -------------------------------------------------------------------------------

    def fit(self, mode: CacheMode, question: str, sources: Sequence[Source],
            history: Sequence[Message] = (), max_new_tokens: int | None = None) -> list[str]:
        """The passage texts that fit the model's context with the rest of the prompt and the
        answer: the first ``len(result)`` of ``sources`` (the last one maybe cut)."""
        budget = self.model.info.context_length - (max_new_tokens or self.settings.max_new_tokens)
        texts = [prompts.neutralize(s.text, self.model.special_tokens) for s in sources]
        frame = self._layout(mode, question, [""] * len(texts), history)
        return self._fit(texts, frame, budget)

    def assemble(self, mode: CacheMode, question: str, sources: Sequence[Source],
                 history: Sequence[Message] = (), max_new_tokens: int | None = None,
                 texts: list[str] | None = None) -> Prompt:
        """Lay out the GRIT prompt of ``mode``: cached segments' states, then fed tokens.

        Passages are dropped from the end (lowest ranked) or cut so that prompt and answer fit
        the model's context (`fit`; pass its result as ``texts`` if already computed). With no
        passage, a plain chat turn.
        """
        if texts is None:
            texts = self.fit(mode, question, sources, history, max_new_tokens)
        segments = self._layout(mode, question, texts, history)
        return self._build(mode, segments, [s.chunk_id for s in sources[: len(texts)]])

    def _layout(self, mode: CacheMode, question: str, texts: Sequence[str],
                history: Sequence[Message]) -> list[prompts.Segment]:
        eos = self.model.tokenizer.eos_token or "</s>"
        return prompts.answer_prompt(mode, question, texts, self._recent_turns(history), eos,
                                     self.model.special_tokens)

    def _build(self, mode: CacheMode, segments: list[prompts.Segment], chunk_ids: list[str]) -> Prompt:
        keys = _keys(mode, segments, chunk_ids)
        fresh = self._embed_missing(segments, keys)
        states: list[KVState] = []
        ids: list[int] = []
        layout: list[Placed] = []
        hits = 0
        position = 0
        for seg, key in zip(segments, keys, strict=True):
            if seg.cached:
                state, hit = self._state(seg, key, fresh)
                hits += hit
                states.append(state)
                length = state.length
            else:
                seg_ids = self.model.tokenize(seg.text, bos=seg.bos, continuation=not seg.bos)
                ids.extend(seg_ids)
                length = len(seg_ids)
            layout.append(Placed(seg, position, length))
            position += length
        prefix = concat(states, self.model.rope) if states else None
        return Prompt(prefix, ids, layout, hits, len(fresh))

    def _embed_missing(self, segments: list[prompts.Segment],
                       keys: list[tuple[str, str] | None]) -> dict[tuple[str, str], KVState]:
        """States of the passages not in the LRU, from ONE batched embedding pass.

        A passage segment ``<s><|embed|>\n{passage}`` is exactly the embedding input of the
        passage, so its states are those of embedding it (and are kept in the LRU).
        """
        missing = [(seg, key) for seg, key in zip(segments, keys, strict=True)
                   if key is not None and _is_embedding_input(seg) and key not in self.cache]
        if not missing:
            return {}
        bodies = [seg.text[len(prompts.EMBED):] for seg, _ in missing]
        result = self.model.embed(bodies, None, max_length=self.model.info.context_length,
                                  return_states=True)
        assert result.states is not None
        fresh = {}
        for (_, key), state in zip(missing, result.states, strict=True):
            assert key is not None
            self.cache.put(key, state)
            fresh[key] = state
        return fresh

    def _state(self, seg: prompts.Segment, key: tuple[str, str] | None,
               fresh: dict[tuple[str, str], KVState]) -> tuple[KVState, bool]:
        """The states of a cached segment: just computed, from the LRU, or computed now.

        Not copies: they are only read, by `concat`, whose result generation gets is new
        tensors, so nothing generation does reaches the LRU's states."""
        if key is not None and key in fresh:
            return fresh[key], False
        if key is not None:
            cached = self.cache.get(key, copy=False)
            if cached is not None:
                return cached, True
        ids = self.model.tokenize(seg.text, bos=seg.bos, continuation=not seg.bos)
        state = self.model.prefill(ids, bidirectional=True)
        if key is not None:
            self.cache.put(key, state)
        return state, False

    def _recent_turns(self, history: Sequence[Message]) -> list[prompts.Turn]:
        """The earlier exchanges that go back into the prompt: the most recent first, within
        HISTORY_TOKENS, each answer without its citations (their numbers meant that turn's
        passages)."""
        pairs: list[prompts.Turn] = []
        pending: str | None = None
        for m in history:
            if m.role == "user":
                pending = m.text
            elif pending is not None:
                pairs.append(prompts.Turn(pending, strip_citations(m.text)))
                pending = None
        kept: list[prompts.Turn] = []
        used = 0
        for turn in reversed(pairs):
            cost = self.model.count_tokens(turn.user) + self.model.count_tokens(turn.assistant) + 8
            if used + cost > HISTORY_TOKENS:
                break
            kept.insert(0, turn)
            used += cost
        return kept

    def _fit(self, texts: list[str], frame: list[prompts.Segment], budget: int) -> list[str]:
        """Passages that fit ``budget`` tokens together with the rest of the prompt (``frame``:
        the prompt with every passage empty)."""
        fixed = sum(self.model.count_tokens(s.text) + s.bos for s in frame) + _MARGIN
        room = budget - fixed
        kept: list[str] = []
        for text in texts:
            if room <= 8:
                break
            ids = self.model.tokenize(text)
            if len(ids) > room:
                text = self.model.decode(ids[:room])
            kept.append(text)
            room -= min(len(ids), room) + 4
        if len(kept) < len(texts):
            log.info("context budget: %d of %d passages kept", len(kept), len(texts))
        return kept

    # -- answering ----------------------------------------------------------------------------

    def answer(self, question: str, passages: Passages, history: Sequence[Message] = (), *,
               mode: CacheMode | None = None, params: GenerationParams | None = None,
               cancel: threading.Event | None = None) -> Iterator[AnswerEvent]:
        """Stream the answer to ``question`` from ``passages`` (those that fit the context).
        Ends with `Answered` (also when cancelled)."""
        t0 = time.perf_counter() - passages.ms / 1000  # the answer's clock starts at retrieval
        mode = mode or self.settings.cache_mode
        params = params or GenerationParams(self.settings.max_new_tokens, self.settings.temperature,
                                             self.settings.top_p)
        found = passages.sources
        texts = self.fit(mode, question, found, history, params.max_new_tokens)
        sources = found[: len(texts)]  # only what the model is given is a source
        note = "" if sources else NO_ROOM if found else passages.note
        t_retrieved = time.perf_counter()
        yield Retrieved(sources, passages.ms, note)
        prompt = self.assemble(mode, question, sources, history, params.max_new_tokens, texts)
        t_prompt = time.perf_counter()
        stats = GenerationStats()
        cite = CitationFilter(len([p for p in prompt.layout if p.segment.role == "doc"]) or len(sources))
        pieces: list[str] = []
        for piece in self.model.generate(prompt.ids, state=prompt.state, params=params,
                                         cancel=cancel, stats=stats):
            shown = cite.push(piece)
            if shown:
                pieces.append(shown)
                yield Token(shown)
        tail = cite.flush()
        if tail:
            pieces.append(tail)
            yield Token(tail)
        first = stats.first_token_s
        timings = {
            "retrieval_ms": passages.ms,
            "prompt_ms": (t_prompt - t_retrieved) * 1000,
            "first_token_ms": (t_prompt - t0 + first) * 1000 if first is not None else 0.0,
            "total_ms": (time.perf_counter() - t0) * 1000,
            "prompt_tokens": float(stats.prompt_tokens),
            "cached_tokens": float(stats.cached_tokens),
            "new_tokens": float(stats.new_tokens),
            "tokens_per_s": stats.decode_tokens_per_s,
            "cache_hits": float(prompt.cache_hits),
            "cache_misses": float(prompt.cache_misses),
        }
        yield Answered("".join(pieces), sources, timings, stats.finish or "eos")


# ------------------------------------------------------------------------------------------------
# helpers


def _keys(mode: CacheMode, segments: list[prompts.Segment],
          chunk_ids: list[str]) -> list[tuple[str, str] | None]:
    """The LRU key of each passage segment (mode and chunk id); None for the others."""
    ids = iter(chunk_ids)
    return [(mode, next(ids)) if seg.cached and seg.role == "doc" else None for seg in segments]


def _is_embedding_input(seg: prompts.Segment) -> bool:
    return seg.bos and seg.text.startswith(prompts.EMBED)
