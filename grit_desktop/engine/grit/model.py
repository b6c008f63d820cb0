"""`GritModel`: one causal LM that embeds (bidirectional, mean-pooled) and generates (causal).

GRIT (GritLM) trained one Mistral to do both. Embedding runs the *base* transformer with
bidirectional attention over ``<s>{instruction}{text}`` and mean-pools the final hidden states of
the text tokens only; generation runs the LM causally. Both passes produce key/value states of the
same shape, so the states of an embedding pass can seed generation (GRIT caching, see
`kvcache`).

Threading: every forward pass holds one lock. The ``is_causal`` switch of transformers rewrites
the shared model config during a call, so two threads running the model at once would corrupt
each other; with the lock, embedding and generation from different threads interleave safely
(one forward at a time). Generation is an iterator: between tokens, other callers get their turn.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from grit_desktop.config import DEFAULT_MODEL, CompileChoice, Device, Quantization
from grit_desktop.engine.grit import loading
from grit_desktop.engine.grit.decoding import (
    CompiledDecoding,
    DynamicPasses,
    Loop,
    Passes,
    StaticPasses,
    WeightOrder,
    fastest_weights,
    ids_tensor,
    lay_out_weights,
    positions_tensor,
    to_dynamic_cache,
    use_kv_head_attention,
    weights_order,
)
from grit_desktop.engine.grit.generation import (
    GenerationParams,
    GenerationStats,
    RepetitionGuard,
    Sampler,
    StopText,
    TextStream,
)
from grit_desktop.engine.grit.kvcache import KVState
from grit_desktop.engine.grit.prompts import embed_instruction, neutralize
from grit_desktop.errors import GritError, ModelLoadError, first_line

log = logging.getLogger(__name__)

#: What a continuation is tokenized after, then cut off (see `GritModel.tokenize`).
_JOIN = "\n"

#: Most rows in one embedding batch, whatever the token budget allows.
MAX_BATCH_ROWS = 128


@dataclass(frozen=True)
class LoadOptions:
    model: str = DEFAULT_MODEL
    device: Device = "auto"
    quantization: Quantization = "auto"
    #: compile the decode step: on CUDA (auto), everywhere (on), nowhere (off); see `decoding`
    compile: CompileChoice = "auto"


@dataclass(frozen=True)
class ModelInfo:
    """What was loaded, for the status bar, ``--json`` output and benchmarks."""

    name: str
    path: str
    architecture: str
    device: str
    dtype: str
    quantization: str
    hidden_size: int
    num_layers: int
    context_length: int
    kv_bytes_per_token: int
    memory_bytes: int
    notes: tuple[str, ...]


@dataclass(frozen=True)
class Embeddings:
    """The result of `GritModel.embed`, in the order of the input texts.

    ``vectors`` is ``[n, hidden]`` float32, L2-normalised; ``token_counts`` counts each text's own
    tokens (instruction and BOS excluded, after truncation); ``states`` holds each input's KV
    states (instruction included) when they were asked for.
    """

    vectors: np.ndarray
    token_counts: list[int]
    truncated: list[bool]
    states: list[KVState] | None = None


class GritModel:
    """A loaded GRIT model. Create with `GritModel.load`; all methods are thread-safe."""

    def __init__(self, lm: Any, tokenizer: Any, info: ModelInfo, batch_tokens: int = 0,
                 compile: CompileChoice = "auto") -> None:
        self.lm = lm.eval()
        self.tokenizer = tokenizer
        self.info = info
        self.device = torch.device(info.device)
        self._lock = threading.RLock()
        self._batch_tokens = batch_tokens or _default_batch_tokens(self.device, info.hidden_size)
        self.bos_id: int | None = tokenizer.bos_token_id
        self.eos_id: int | None = tokenizer.eos_token_id
        pad = tokenizer.pad_token_id
        self.pad_id: int = pad if pad is not None else (self.eos_id or 0)
        self.special_tokens: tuple[str, ...] = tuple(tokenizer.all_special_tokens)
        self._join_ids: list[int] = tokenizer(_JOIN, add_special_tokens=False)["input_ids"]
        self._compile: CompileChoice = compile
        self._compiled: CompiledDecoding | None = None
        self._order: WeightOrder | None = weights_order(lm)

    # ----------------------------------------------------------------------------------------
    # loading

    @classmethod
    def load(cls, options: LoadOptions = LoadOptions(), batch_tokens: int = 0) -> GritModel:
        """Find, check and load a model. Raises a `GritError` subclass with a readable message."""
        path = loading.resolve(options.model)
        files = loading.check_files(path)
        plan = loading.plan(files, options.device, options.quantization)
        for note in plan.notes:
            log.warning(note)
        lm = _load_lm(path, plan, fastest_weights(compiled=options.compile == "on"))
        tokenizer = _load_tokenizer(path)
        cfg = lm.config
        head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
        kv_heads = getattr(cfg, "num_key_value_heads", None) or cfg.num_attention_heads
        kv_bytes = 2 * cfg.num_hidden_layers * kv_heads * head_dim * _dtype_bytes(plan.dtype)
        info = ModelInfo(
            name=options.model,
            path=str(path),
            architecture=files.model_type,
            device=plan.device,
            dtype=str(plan.dtype).removeprefix("torch."),
            quantization=plan.quantization,
            hidden_size=cfg.hidden_size,
            num_layers=cfg.num_hidden_layers,
            context_length=_context_length(cfg),
            kv_bytes_per_token=kv_bytes,
            memory_bytes=int(lm.get_memory_footprint()),
            notes=plan.notes,
        )
        weights = (f"4-bit NF4 weights, {info.dtype} compute" if info.quantization == "nf4"
                   else f"{info.dtype} weights")
        log.info("loaded %s on %s (%s): %.0f MiB", path, info.device, weights, info.memory_bytes / 2**20)
        return cls(lm, tokenizer, info, batch_tokens, options.compile)

    @property
    def batch_tokens(self) -> int:
        """Padded tokens per embedding batch (from settings, or sized to the device)."""
        return self._batch_tokens

    @property
    def base(self) -> Any:
        """The transformer without its LM head (``model.model`` for Mistral/Llama)."""
        return self.lm.model

    # ----------------------------------------------------------------------------------------
    # tokens

    def tokenize(self, text: str, bos: bool = False, continuation: bool = False) -> list[int]:
        """Token ids of ``text`` (no special tokens added), with the BOS id first if asked.

        ``continuation`` tokenizes ``text`` as it would come out in the middle of a longer text.
        SentencePiece tokenizers (Mistral's) add a space before the start of every string
        (``"\nWhat"`` alone gives ``▁ <0x0A> What``, inside a text ``<0x0A> What``); the prompt
        pieces after a cached passage must look like the text the model was trained on.
        """
        if continuation and text:
            ids: list[int] = self.tokenizer(_JOIN + text, add_special_tokens=False)["input_ids"]
            if ids[: len(self._join_ids)] == self._join_ids:
                ids = ids[len(self._join_ids) :]
            else:  # the tokenizer merged across the join: fall back to the plain tokenization
                ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        else:
            ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return [self.bos_id, *ids] if bos and self.bos_id is not None else ids

    def count_tokens(self, text: str) -> int:
        return len(self.tokenize(text))

    def decode(self, ids: Sequence[int]) -> str:
        return str(self.tokenizer.decode(list(ids), skip_special_tokens=True))

    # ----------------------------------------------------------------------------------------
    # embedding

    @torch.inference_mode()
    def embed(
        self,
        texts: Sequence[str],
        instruction: str | None = None,
        *,
        max_length: int = 2048,
        return_states: bool = False,
    ) -> Embeddings:
        """GRIT embeddings of ``texts``: bidirectional attention, mean over the text tokens.

        ``instruction`` is the *task* (e.g. `prompts.QUERY_TASK` for questions); documents take
        none. Texts are batched by length (longest first) so batches hold little padding, and a
        CUDA out-of-memory halves the batch instead of failing.
        """
        head = embed_instruction(instruction)
        # Like the reference: the instruction and the text are tokenized as one string, and the
        # instruction's own length (tokenized alone, with BOS) says how many tokens to leave out
        # of the mean. Tokenizing them apart would change the text's first token (SentencePiece).
        n_prefix = len(self.tokenize(head, bos=True))
        if n_prefix >= max_length:
            raise GritError(f"max_length {max_length} leaves no room after the instruction")
        sequences: list[list[int]] = []
        truncated: list[bool] = []
        for text in texts:
            ids = self.tokenize(head + neutralize(text, self.special_tokens), bos=True)
            truncated.append(len(ids) > max_length)
            sequences.append(ids[:max_length])
        vectors = np.zeros((len(texts), self.info.hidden_size), dtype=np.float32)
        states: list[KVState | None] = [None] * len(texts)
        order = sorted(range(len(texts)), key=lambda i: -len(sequences[i]))
        start = 0
        budget = self._batch_tokens
        while start < len(order):
            rows = _rows_that_fit(order, start, sequences, budget)
            batch = [sequences[i] for i in rows]
            try:
                pooled, batch_states = self._embed_batch(batch, n_prefix, return_states)
            except torch.OutOfMemoryError:
                if len(rows) == 1:
                    raise GritError(
                        f"out of GPU memory embedding one text of {len(batch[0])} tokens; "
                        "lower embed_max_tokens"
                    ) from None
                budget = max(1, len(rows) // 2) * len(batch[0])
                log.warning("out of GPU memory: embedding batches shrink to %d tokens", budget)
                _free_cuda_memory()
                continue
            for j, i in enumerate(rows):
                vectors[i] = pooled[j]
                if batch_states is not None:
                    states[i] = batch_states[j]
            start += len(rows)
        counts = [len(s) - n_prefix for s in sequences]
        kept = [s for s in states if s is not None] if return_states else None
        return Embeddings(vectors, counts, truncated, kept)

    def _embed_batch(
        self, batch: list[list[int]], n_prefix: int, return_states: bool
    ) -> tuple[np.ndarray, list[KVState] | None]:
        width = max(len(s) for s in batch)
        ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, seq in enumerate(batch):
            ids[row, : len(seq)] = torch.tensor(seq)
            mask[row, : len(seq)] = 1
        ids, mask = ids.to(self.device), mask.to(self.device)
        with self._lock:
            out = self.base(
                input_ids=ids, attention_mask=mask, is_causal=False, use_cache=return_states
            )
        hidden = out.last_hidden_state.float()  # [b, n, d]
        pool = mask.clone()
        pool[:, :n_prefix] = 0  # BOS and instruction are attended to, not averaged
        summed = (hidden * pool.unsqueeze(-1)).sum(dim=1)  # [b, d]
        mean = summed / pool.sum(dim=1, keepdim=True).clamp(min=1)
        pooled = torch.nn.functional.normalize(mean, dim=-1).cpu().numpy()
        if not return_states:
            return pooled, None
        cache = out.cache
        states = [
            KVState(
                tuple(layer.keys[row, :, : len(seq)].clone() for layer in cache.layers),
                tuple(layer.values[row, :, : len(seq)].clone() for layer in cache.layers),
                tuple(seq),
            )
            for row, seq in enumerate(batch)
        ]
        return pooled, states

    # ----------------------------------------------------------------------------------------
    # key/value states

    @torch.inference_mode()
    def prefill(
        self,
        ids: Sequence[int],
        *,
        bidirectional: bool,
        past: KVState | None = None,
        start: int = 0,
    ) -> KVState:
        """The KV states of ``ids`` read after ``past``, or alone from position ``start``.

        ``bidirectional`` reads ``ids`` the way embedding does (they see each other fully, and
        see ``past``); otherwise causally. Returns the states of ``past`` + ``ids``.
        """
        if not ids:
            raise ValueError("nothing to prefill")
        if past is not None:
            start = past.end
        cache = to_dynamic_cache(past, self.lm.config) if past is not None else None
        with self._lock:
            out = self.base(
                input_ids=ids_tensor(list(ids), self.device),
                position_ids=positions_tensor(start, len(ids), self.device),
                cache=cache,
                use_cache=True,
                is_causal=not bidirectional,
            )
        prior = past.token_ids if past is not None else ()
        return _from_dynamic_cache(out.cache, (*prior, *ids), past.start if past else start)

    def rope(self, offset: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """cos and sin ``[head_dim]`` (float32) of the rotation by ``offset`` positions.

        Computed in float64 from the model's own inverse frequencies (scaled variants included),
        so that re-rotating cached keys adds no error beyond the final rounding.
        """
        rotary = self.base.rotary_emb
        angles = offset * rotary.inv_freq.to(device=device, dtype=torch.float64)  # [head_dim/2]
        angles = torch.cat((angles, angles))  # [head_dim], the layout rotate_half expects
        scale = float(getattr(rotary, "attention_scaling", 1.0))
        return (angles.cos() * scale).float(), (angles.sin() * scale).float()

    # ----------------------------------------------------------------------------------------
    # generation

    def generate(
        self,
        ids: Sequence[int],
        *,
        state: KVState | None = None,
        params: GenerationParams = GenerationParams(),
        cancel: threading.Event | None = None,
        stats: GenerationStats | None = None,
        loop: Loop | None = None,
    ) -> Iterator[str]:
        """Stream the answer to ``ids`` (already tokenized), read after ``state`` if given.

        Yields text pieces as tokens come. ``state`` is not changed (generation works on a copy).
        Setting ``cancel`` stops before the next token. ``stats`` is filled in as it goes.
        ``loop`` chooses how the forward passes run (`decoding`); None: the fastest prepared.
        """
        stats = stats if stats is not None else GenerationStats()
        return self._generate(list(ids), state, params, cancel, stats, loop)

    # -- how the decode loop runs (see `decoding`) ----------------------------------------------

    @property
    def compile(self) -> CompileChoice:
        """The setting: compile the decode step on CUDA (auto), everywhere (on), nowhere (off)."""
        return self._compile

    @compile.setter
    def compile(self, choice: CompileChoice) -> None:
        """Takes effect at once: answers decode eagerly when off, compiled once prepared when
        on; the weights are laid out for that loop."""
        with self._lock:
            self._compile = choice
            self.lay_out_weights(fastest_weights(self.compiles))

    @property
    def compiles(self) -> bool:
        """Whether answers use the compiled decode step (the setting, the device, no failure)."""
        wanted = self.compile == "on" or (self.compile == "auto" and self.device.type == "cuda")
        return wanted and (self._compiled is None or self._compiled.failed is None)

    @property
    def decoding(self) -> str:
        """How answers decode, in words (status bar, ``--verbose``, benchmarks)."""
        compiled = self._compiled
        if compiled is not None and compiled.failed:
            return f"static cache, not compiled ({compiled.failed})"
        if not self.compiles:
            return "static cache" + (", compilation off" if self.compile == "off" else "")
        graphs = " with CUDA graphs" if self.device.type == "cuda" else ""
        if compiled is None or not compiled.ready:
            return f"static cache (compiled decode step{graphs} not yet prepared)"
        return f"static cache, compiled decode step{graphs}"

    def prepare_decoding(self, tokens: int) -> bool:
        """Compile the decode step for answers of up to about ``tokens`` (prompt + answer), if
        answers use it. Takes seconds or more (the whole model is traced and compiled): call it
        off the GUI thread. False when compilation failed (answers then decode without it; one
        log line said why)."""
        if not self.compiles:
            return False
        with self._lock:
            return self._compiler().warm_up(min(tokens, self.info.context_length))

    def decoding_owed(self, tokens: int) -> bool:
        """Whether `prepare_decoding` of ``tokens`` has compiling to do: answers use a compiled
        decode step, not yet compiled for answers of that size (nor failed)."""
        if not self.compiles:
            return False
        with self._lock:
            return self._compiler().owes(min(tokens, self.info.context_length))

    @property
    def weights(self) -> WeightOrder | None:
        """How the linear layers' float32 weights are stored on the CPU (`lay_out_weights`):
        ``rows`` where answers decode compiled, ``columns`` where they decode eagerly, each the
        faster for its loop; None where the layout is the checkpoint's and stays so (a GPU,
        another dtype)."""
        return self._order

    def lay_out_weights(self, order: WeightOrder) -> None:
        """Store the weights ``order``-major, where `weights` is not None (benchmarks time each
        loop in its own layout). The compiled step works in either, fast in ``rows``."""
        with self._lock:
            if self._order is not None and self._order != order:
                lay_out_weights(self.lm, order)
                self._order = order

    def _compiler(self) -> CompiledDecoding:
        if self._compiled is None:
            self._compiled = CompiledDecoding(self.lm, self.info.context_length)
        return self._compiled

    @contextmanager
    def forward_passes(self, loop: Loop, tokens: int, state: KVState | None = None) -> Iterator[Passes]:
        """The forward passes of one generation of at most ``tokens``, driven by the caller
        (checks that feed two loops the same tokens); the model is held meanwhile. ``compiled``
        gives `CompiledPasses` only where compilation works (compiling on first use); otherwise
        `StaticPasses`."""
        with self._lock, torch.inference_mode():
            passes = self._passes(state, tokens, loop)
            try:
                yield passes
            finally:
                passes.close()

    def _passes(self, state: KVState | None, tokens: int, loop: Loop | None) -> Passes:
        """The forward passes of one generation of at most ``tokens`` (prompt + answer)."""
        if self._order == "rows" and self._compiled is not None and self._compiled.failed:
            self.lay_out_weights(fastest_weights(compiled=False))  # answers decode eagerly from now on
        if loop == "dynamic":
            return DynamicPasses(self.lm, state)
        capacity: int | None = None
        if loop == "compiled":  # asked for by name (benchmarks): compiled on first use
            compiled = self._compiler()
            capacity = compiled.capacity(tokens) if compiled.failed is None else None
        elif loop is None and self.compiles and self._compiled is not None:
            # by default only a prepared capacity: compiling in the middle of a question could
            # take long
            compiled = self._compiled
            capacity = compiled.prepared(tokens)
        if capacity is not None and compiled.free(capacity):
            return compiled.passes(state, capacity)
        return StaticPasses(self.lm, state, tokens)

    @torch.inference_mode()
    def _generate(
        self,
        ids: list[int],
        state: KVState | None,
        params: GenerationParams,
        cancel: threading.Event | None,
        stats: GenerationStats,
        loop: Loop | None,
    ) -> Iterator[str]:
        t0 = time.perf_counter()
        if not ids:
            if state is None or state.length < 2:
                raise ValueError("generation needs a prompt")
            # the last cached token is fed again, so that there are logits to start from
            ids, state = [state.token_ids[-1]], state.crop(state.length - 1)
        stats.cached_tokens = state.length if state else 0
        stats.prompt_tokens = len(ids)
        position = state.end if state else 0
        limit = self.info.context_length
        if position + len(ids) >= limit:
            raise GritError(
                f"the prompt ({position + len(ids)} tokens) does not fit the model's "
                f"context of {limit} tokens"
            )
        with self._lock:
            passes = self._passes(state, min(limit, position + len(ids) + params.max_new_tokens), loop)
        sample = Sampler(params, self.device)
        guard = RepetitionGuard(params.repetition_penalty)
        text = TextStream(self.decode)
        stop = StopText(params.stop_strings)
        try:
            feed = ids
            while True:
                if cancel is not None and cancel.is_set():
                    stats.finish = "cancelled"
                    break
                with self._lock:
                    logits = passes.forward(feed, position)
                position += len(feed)
                token = sample(guard.penalize(logits, stats.token_ids))
                if stats.first_token_s is None:
                    stats.first_token_s = time.perf_counter() - t0
                if token == self.eos_id and params.stop_at_eos:
                    stats.finish = "eos"
                    break
                stats.new_tokens += 1
                stats.token_ids.append(token)
                piece = stop.push(text.push(token))
                stats.total_s = time.perf_counter() - t0
                if piece:
                    yield piece
                if stop.stopped:
                    stats.finish = "stop"
                    break
                if params.stop_on_loop and guard.looping(stats.token_ids):
                    stats.finish = "repetition"
                    break
                if stats.new_tokens >= params.max_new_tokens:
                    stats.finish = "length"
                    break
                if position + 1 >= limit:
                    stats.finish = "context"
                    break
                feed = [token]
        finally:
            with self._lock:
                passes.close()  # its cache may serve the next answer
        rest = ""
        if not stop.stopped:
            rest = stop.push(text.flush())
            rest += "" if stop.stopped else stop.flush()
        stats.total_s = time.perf_counter() - t0
        if rest:
            yield rest


# --------------------------------------------------------------------------------------------
# helpers


def _load_lm(path: Path, plan: loading.LoadPlan, order: WeightOrder) -> Any:
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    kwargs: dict[str, Any] = {"dtype": plan.dtype, "use_safetensors": True, "trust_remote_code": False,
                              "attn_implementation": use_kv_head_attention()}
    if plan.quantization == "nf4":
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_compute_dtype=torch.bfloat16,
            bnb_4bit_use_double_quant=True,
        )
        kwargs["device_map"] = {"": plan.device if plan.device == "cpu" else 0}
    try:
        with _quiet(hf_logging):
            lm = AutoModelForCausalLM.from_pretrained(str(path), **kwargs)
            if plan.quantization != "nf4":
                lm = lm.to(plan.device)
            if plan.device == "cpu" and plan.dtype == torch.float32:
                lay_out_weights(lm, order)
    except torch.OutOfMemoryError as exc:
        raise ModelLoadError(
            f"not enough GPU memory to load the model in {path} "
            f"({plan.quantization}, {plan.dtype}); close other GPU programs or use 4-bit"
        ) from exc
    except Exception as exc:  # safetensors, torch and transformers each raise their own kinds
        log.debug("loading %s failed", path, exc_info=True)
        raise ModelLoadError(f"cannot load the model in {path}: {first_line(exc)}") from exc
    return lm


def _load_tokenizer(path: Path) -> Any:
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path), trust_remote_code=False)
    except Exception as exc:
        log.debug("loading the tokenizer in %s failed", path, exc_info=True)
        raise ModelLoadError(f"cannot load the tokenizer in {path}: {first_line(exc)}") from exc
    if tokenizer.bos_token_id is None:
        raise ModelLoadError(f"the tokenizer in {path} has no BOS token; GRIT prompts need one")
    return tokenizer


@contextmanager
def _quiet(hf_logging: Any) -> Iterator[None]:
    """Hide transformers' progress bars and info chatter while loading."""
    level = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()


def _dtype_bytes(dtype: torch.dtype) -> int:
    return torch.tensor([], dtype=dtype).element_size()


#: Longest prompt + answer, in tokens, when the model would allow more (memory stays bounded).
MAX_CONTEXT = 32768


def _context_length(cfg: Any) -> int:
    """Tokens a prompt and its answer may span: within the sliding window, if there is one.

    Mistral-7B (and GritLM-7B) attend to the last 4,096 tokens only; text further back would be
    out of sight of the answer, so the prompt budget stops there.
    """
    limit = int(getattr(cfg, "max_position_embeddings", 0) or 4096)
    window = getattr(cfg, "sliding_window", None)
    if window:
        limit = min(limit, int(window))
    return min(limit, MAX_CONTEXT)


def _default_batch_tokens(device: torch.device, hidden: int) -> int:
    """Padded tokens per embedding batch: what the free GPU memory allows, 4096 on the CPU."""
    if device.type != "cuda":
        return 4096
    free, _total = torch.cuda.mem_get_info(device)
    per_token = hidden * 4 * 16  # hidden states and MLP activations of one layer, with headroom
    return int(min(65536, max(1024, free // 2 // per_token)))


def _rows_that_fit(order: list[int], start: int, sequences: list[list[int]], budget: int) -> list[int]:
    """The next batch: rows from ``order[start:]`` (longest first) while padded size fits."""
    width = len(sequences[order[start]])  # the longest of the batch, since the order is sorted
    n = max(1, min(MAX_BATCH_ROWS, budget // max(width, 1)))
    return order[start : start + n]


def _free_cuda_memory() -> None:
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _from_dynamic_cache(cache: Any, token_ids: tuple[int, ...], start: int) -> KVState:
    return KVState(
        tuple(layer.keys[0] for layer in cache.layers),
        tuple(layer.values[0] for layer in cache.layers),
        token_ids,
        start,
    )
