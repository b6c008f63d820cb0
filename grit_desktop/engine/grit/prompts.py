"""Every prompt template of GRIT (GritLM), in one place.

The markers ``<|user|>``, ``<|embed|>`` and ``<|assistant|>`` are plain text, not special tokens.
Templates here never contain BOS: the model prepends the BOS *id* where a segment says so, so that
text from documents can never smuggle a BOS/EOS in (see `neutralize`). Only the end of an earlier
answer carries the EOS token, passed in by the caller as text (``eos``), since a multi-turn chat
was trained as ``<s><|user|>\\n{m}\\n<|assistant|>\\n{a}</s>`` turns joined by ``\\n``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

from grit_desktop.config import CacheMode

USER = "<|user|>\n"
EMBED = "<|embed|>\n"
ASSISTANT = "<|assistant|>\n"

#: Task instruction for questions embedded to search the user's documents (MTEB style).
QUERY_TASK = "Given a question, retrieve passages from the user's documents that answer the question"

#: The two closing instructions GRIT was evaluated with for RAG.
ANSWER_PRIOR_QUERY = "Answer the prior query while optionally using the context prior to it"
ANSWER_QUERY_PRIOR = "Optionally using the prior context answer the query prior to it"

CACHE_MODES: tuple[CacheMode, ...] = get_args(CacheMode)


def embed_instruction(task: str | None = None) -> str:
    """The text that precedes what is embedded: ``<|user|>\\n{task}\\n<|embed|>\\n`` or ``<|embed|>\\n``.

    Documents are embedded with no task; queries with one (e.g. `QUERY_TASK`).
    """
    return f"{USER}{task}\n{EMBED}" if task else EMBED


def neutralize(text: str, specials: Sequence[str]) -> str:
    """Break up literal special tokens (``<s>``, ``</s>``...) in untrusted text.

    A PDF that contains the characters ``</s>`` must not end the model's context early; a space
    after the first character keeps the text readable and makes the tokenizer treat it as text.
    """
    for token in specials:
        if len(token) > 1 and token in text:
            text = text.replace(token, f"{token[0]} {token[1:]}")
    return text


@dataclass(frozen=True)
class Turn:
    """One earlier exchange of a conversation."""

    user: str
    assistant: str


def past_turns(history: Sequence[Turn], eos: str = "</s>") -> str:
    """Earlier exchanges as the model was trained on them, joined by ``\\n``; each answer ends
    with ``eos``."""
    return "\n".join(f"{USER}{t.user}\n{ASSISTANT}{t.assistant}{eos}" for t in history)


def chat(message: str, history: Sequence[Turn] = (), eos: str = "</s>") -> str:
    """A generation prompt (BOS not included): earlier turns, then the new message, open answer."""
    past = [past_turns(history, eos)] if history else []
    return "\n".join([*past, f"{USER}{message}\n{ASSISTANT}"])


def cite_as_numbers(n_docs: int) -> str:
    """What follows the question when the passages precede it (modes ``none`` and ``doc``): how
    to cite them, so that an answer's ``[n]`` leads to passage n."""
    return (f"\n\n(The passages above are numbered [1] to [{n_docs}] in the order given; "
            "cite the ones you use as [n].)")


@dataclass(frozen=True)
class Segment:
    """One piece of a RAG prompt, in order.

    ``cached`` segments are run through the model in embedding mode (bidirectional) and their
    key/value states reused; the others are fed to causal generation. ``role`` says what the text
    is, so a caller can find the passage segments (e.g. to take their states from a cache).
    """

    text: str
    bos: bool
    cached: bool
    role: Literal["query", "doc", "prompt"]


def join_docs(docs: Sequence[str]) -> str:
    """How several passages are laid out inside one uncached prompt."""
    return "\n\n".join(docs)


def rag(mode: CacheMode, query: str, docs: Sequence[str]) -> list[Segment]:
    """The GRIT RAG layout for ``mode`` (docs/grit.md: the cache modes), generalised to many docs.

    With several passages, each cached passage is its own embedding pass (``<s><|embed|>\\n{doc}``),
    placed one after the other; in ``query-doc`` each passage after the query is
    ``\\n<|embed|>\\n{doc}`` without BOS, as in the reference.
    """
    if mode == "none":
        body = f"{USER}{join_docs(docs)}\n\n{query}\n\n{ANSWER_PRIOR_QUERY}\n{ASSISTANT}"
        return [Segment(body, bos=True, cached=False, role="prompt")]
    if mode == "doc":
        return [
            *(Segment(f"{EMBED}{d}", bos=True, cached=True, role="doc") for d in docs),
            Segment(f"\n{USER}{query}\n\n{ANSWER_PRIOR_QUERY}\n{ASSISTANT}", False, False, "prompt"),
        ]
    if mode == "query":
        return [
            Segment(f"{EMBED}{query}", bos=True, cached=True, role="query"),
            Segment(
                f"\n{USER}{join_docs(docs)}\n\n{ANSWER_QUERY_PRIOR}\n{ASSISTANT}", False, False, "prompt"
            ),
        ]
    if mode == "query-doc":
        return [
            Segment(f"{EMBED}{query}", bos=True, cached=True, role="query"),
            *(Segment(f"\n{EMBED}{d}", bos=False, cached=True, role="doc") for d in docs),
            Segment(f"\n{USER}{ANSWER_QUERY_PRIOR}\n{ASSISTANT}", False, False, "prompt"),
        ]
    if mode == "doc-query":
        return [
            *(Segment(f"{EMBED}{d}", bos=True, cached=True, role="doc") for d in docs),
            Segment(f"{EMBED}{query}", bos=True, cached=True, role="query"),
            Segment(f"\n{USER}{ANSWER_PRIOR_QUERY}\n{ASSISTANT}", False, False, "prompt"),
        ]
    raise ValueError(f"unknown cache mode {mode!r}; choose one of {', '.join(CACHE_MODES)}")


def answer_prompt(mode: CacheMode, question: str, docs: Sequence[str], history: Sequence[Turn] = (),
                  eos: str = "</s>", specials: Sequence[str] = ()) -> list[Segment]:
    """The whole prompt of an answer, in one place: with ``docs``, the RAG layout of ``mode``
    (in ``none`` and ``doc`` the question is followed by `cite_as_numbers`) with the earlier
    turns put before the last user turn; without, a plain chat turn. Every text is passed
    through `neutralize` with ``specials``."""
    clean = [neutralize(t, specials) for t in (question.strip(), *docs)]
    question, docs = clean[0], clean[1:]
    turns = [Turn(neutralize(t.user, specials), neutralize(t.assistant, specials)) for t in history]
    if not docs:
        return [Segment(chat(question, turns, eos), bos=True, cached=False, role="prompt")]
    if mode in ("none", "doc"):
        question += cite_as_numbers(len(docs))
    segments = rag(mode, question, docs)
    if not turns:
        return segments
    last = segments[-1]
    at = last.text.index(USER)
    text = f"{last.text[:at]}{past_turns(turns, eos)}\n{last.text[at:]}"
    return [*segments[:-1], Segment(text, last.bos, last.cached, last.role)]
