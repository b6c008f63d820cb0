"""The forward passes of one generation: where its key/value states live, and the decode step.

`GritModel.generate` asks for the logits of the next token, one call per forward pass (the
prompt once, then one token at a time). Three ways to run those passes, the same arithmetic:

- ``dynamic``: transformers' `DynamicCache`, which grows by concatenation. Every token copies
  the whole cache of every layer (its cost grows with the cached length; `grit-desktop bench`
  shows it beside ``static``), and each forward pays transformers' per-call Python work.
- ``static``: the states of prompt + answer in buffers allocated once, passages' states copied
  in; each pass writes its new states in place and attends to a view of the filled part. Token
  for token the same as ``dynamic`` (same kernels on the same lengths), without the copies.
- ``compiled``: transformers' `StaticCache` layers of a fixed capacity (the filled part is
  masked), so that the decode step has the same shapes every token and is compiled once with
  `torch.compile`; on CUDA as a CUDA graph (``mode="reduce-overhead"``), which removes the
  per-token launch of some thousand kernels; on the CPU with a graph pass that reads each weight
  matrix in one fused loop (`one_row_products`). The prompt is read eagerly into the
  same cache.

On the CPU the loops read float32 weights fastest in different layouts, so `GritModel` lays them
out for the loop that decodes (`lay_out_weights`): row-major for the compiled step, column-major
for the eager loops.

Compilation must never make the app worse. It is prepared ahead of answers
(`CompiledDecoding.warm_up`, on the caller's thread: the worker's, once it is idle after the
model loads; never the GUI's), and until then answers decode with ``static``. Where it is not
available or fails, one log line says so and generation goes on with ``static``. A step that
fails later hands its cache over to ``static`` and the answer continues.

Models load with the attention `ATTENTION`: transformers' SDPA attention, except that under
compilation one query token attends on the key/value heads (`sdpa_on_kv_heads`). transformers
does this itself in eager passes, but not while compiling, where it copies each key/value head
to every query head it serves (4x for GritLM-7B) over the whole padded capacity at every token.

What ``torch.compile`` compiles (Inductor's graphs and kernels, on CUDA Triton's too) is kept in
a folder of the app's (`keep_compiled_in`), so that the next start, the window's or a CLI
command's, compiles from it in a fraction of the time. torch's own default is a folder in the
system's temp folder, which most systems empty at reboot.
"""

from __future__ import annotations

import functools
import logging
import os
import time
from pathlib import Path
from typing import Any, Literal

import torch

from grit_desktop.engine.grit.kvcache import KVState
from grit_desktop.errors import first_line

log = logging.getLogger(__name__)

Loop = Literal["dynamic", "static", "compiled"]
LOOPS: tuple[Loop, ...] = ("dynamic", "static", "compiled")

#: How a linear layer's weight ``[out, in]`` is stored: ``rows`` as checkpoints store it,
#: ``columns`` its transpose contiguous (the same values).
WeightOrder = Literal["rows", "columns"]


def fastest_weights(compiled: bool) -> WeightOrder:
    """The layout the compiled step (``compiled``) or the eager loops read fastest on the CPU."""
    return "rows" if compiled else "columns"


def lay_out_weights(lm: Any, order: WeightOrder) -> None:
    """Store every float32 weight of a linear layer ``order``-major, in place.

    Every answer token multiplies one hidden state by each layer's weights and by the head's
    ``[vocab, hidden]`` weight, the largest matrix of a small model (in the ``mid`` shape 16.4M
    of the 34.5M weights each token reads). On the CPU these one-row products run at the speed
    the weights are read, and which layout reads faster depends on who computes them:

    - eagerly (the ``static`` and ``dynamic`` loops, transformers' ``generate``), MKL computes
      them in float32 faster from ``columns`` (``python -m benchmarks.head_layout`` for the head,
      ``python -m benchmarks.weight_layout`` for a whole step);
    - in the compiled step, from ``rows``, which a graph pass of ours (`one_row_products`)
      turns into one fused loop over each weight.

    `GritModel.load` lays out for the loop that will decode; products over many rows (the
    prompt, embedding) take as long either way. bfloat16 weights stay row-major, faster for
    MKL too. The values are the same, so every loop and `generate` compute alike; where the head
    is tied to the input embeddings, their lookups read the same values with another stride.
    """
    for module in lm.modules():
        weight = module.weight if isinstance(module, torch.nn.Linear) else None
        if weight is not None and weight.dtype == torch.float32 and weight.dim() == 2:
            weight.data = weight.data.contiguous() if order == "rows" else weight.data.t().contiguous().t()


def weights_order(lm: Any) -> WeightOrder | None:
    """How `lay_out_weights` left ``lm``'s float32 linear weights on the CPU (that of its head);
    None where they are in another dtype or on another device, and stay as loaded."""
    head = lm.get_output_embeddings()
    weight = getattr(head, "weight", None)
    if weight is None or weight.device.type != "cpu" or weight.dtype != torch.float32:
        return None
    return "rows" if weight.is_contiguous() else "columns"


#: The smallest and the largest capacity (prompt + answer tokens) of a compiled cache. Each
#: capacity is compiled once; on the CPU capacities are powers of two (attending to unused
#: capacity costs there), on CUDA there is one, the largest (one graph, compiled ahead of answers).
MIN_CAPACITY = 512
MAX_CAPACITY = 8192

#: How many compiled steps this process may hold: dynamo counts one entry of `_decode` per model
#: and capacity compiled (models kept in memory, several capacities on the CPU) and fails past its
#: limit (8 by default) where a graph must be whole. Raised to this when a step is compiled.
RECOMPILE_LIMIT = 64

#: The variable naming the folder where torch.compile keeps what it compiled (Inductor reads it at
#: each lookup; Triton's kernels go into a subfolder unless TRITON_CACHE_DIR says else).
COMPILED_CACHE_ENV = "TORCHINDUCTOR_CACHE_DIR"


def keep_compiled_in(folder: Path) -> Path | None:
    """Have torch.compile keep what it compiles in ``folder`` from now on, in this process and
    the child processes it starts; returns the folder it uses, None for torch's default.

    A folder the variable `COMPILED_CACHE_ENV` names wins, unless it is torch's default (torch
    writes its default into the variable when its compiler is imported, which loading a model
    does): Inductor reads the variable at each lookup, so a later change holds for the next
    compilation. A folder that cannot be created (a read-only data folder) leaves torch's
    default, with one log line: compiling then costs its full time at every start."""
    named = os.environ.get(COMPILED_CACHE_ENV)
    if named and named != _torch_default_cache():
        return Path(named)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        log.info("compiled decode steps are not kept for the next start: %s (%s)", folder,
                 first_line(exc))
        return None
    os.environ[COMPILED_CACHE_ENV] = str(folder.resolve())
    return folder


def _torch_default_cache() -> str | None:
    """The folder torch.compile keeps its work in when the variable names none."""
    try:
        from torch._inductor.runtime.cache_dir_utils import default_cache_dir
    except ImportError:  # moved in another torch: take the variable as the user's
        return None
    return os.path.abspath(default_cache_dir())


#: The attention the app's models load with (`use_kv_head_attention` registers it).
ATTENTION = "grit_sdpa"


def use_kv_head_attention() -> str:
    """Register `ATTENTION` with transformers (once); its name, for ``attn_implementation``.

    Masks are built as for SDPA (its mask function is registered under the same name)."""
    from transformers import AttentionInterface, AttentionMaskInterface
    from transformers.masking_utils import sdpa_mask

    AttentionInterface.register(ATTENTION, sdpa_on_kv_heads)
    AttentionMaskInterface.register(ATTENTION, sdpa_mask)
    return ATTENTION


def sdpa_on_kv_heads(module: Any, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                     attention_mask: torch.Tensor | None, scaling: float | None = None,
                     **kwargs: Any) -> tuple[torch.Tensor, None]:
    """transformers' SDPA attention, but one query token under compilation attends on the
    key/value heads: the query heads that share a key/value head are laid out as that head's
    queries (``[batch, kv_heads, heads per kv head, dim]``), so the cache is read as it is.
    Everything else (eager passes, the prompt, embedding) is transformers' own, bit for bit."""
    sdpa_attention_forward, is_torchdynamo_compiling = _transformers_sdpa()
    batch, heads, length, dim = query.shape
    kv_heads = key.shape[1]
    shared_mask = attention_mask is None or attention_mask.shape[1] == 1  # one for every head
    if length != 1 or heads == kv_heads or not shared_mask or not is_torchdynamo_compiling():
        return sdpa_attention_forward(module, query, key, value, attention_mask,  # type: ignore[no-any-return]
                                      scaling=scaling, **kwargs)
    grouped = query.reshape(batch, kv_heads, heads // kv_heads, dim)
    out = torch.nn.functional.scaled_dot_product_attention(grouped, key, value, attn_mask=attention_mask,
                                                           scale=scaling)
    return out.reshape(batch, heads, 1, value.shape[-1]).transpose(1, 2).contiguous(), None


@functools.cache
def _transformers_sdpa() -> tuple[Any, Any]:
    """transformers' SDPA attention and its test for compilation, imported once (attention runs
    in every layer of every pass; transformers itself is imported lazily, it takes seconds)."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward
    from transformers.utils.import_utils import is_torchdynamo_compiling

    return sdpa_attention_forward, is_torchdynamo_compiling


@functools.cache
def one_row_products() -> Any:
    """The graph pass `CompiledDecoding` gives Inductor on the CPU (built on first use: torch's
    compiler is imported lazily). A decode step multiplies one hidden state by every weight
    matrix; Inductor hands these one-row products to MKL, which reads a row-major ``[out, in]``
    weight at about half the rate this machine streams memory (``python -m
    benchmarks.decode_profile``). The pass rewrites each as an elementwise product summed along
    the weight's rows, which Inductor fuses into one vectorised, parallel loop reading every
    weight once. Only float32 weights stored row-major qualify (the layout
    `GritModel` gives a CPU model that decodes compiled); the others keep MKL's product. The
    sums run in another order than MKL's: logits differ in the last bits."""
    from torch._inductor.custom_graph_pass import CustomGraphPass, get_hash_for_files

    aten = torch.ops.aten

    def one_row(row: Any, weight_t: Any) -> bool:
        """``row [1, in] @ weight_t [in, out]``, weight_t the transpose of a row-major weight."""
        return (isinstance(row, torch.Tensor) and isinstance(weight_t, torch.Tensor)
                and row.device.type == "cpu" and row.dtype == weight_t.dtype == torch.float32
                and row.dim() == weight_t.dim() == 2 and row.shape[0] == 1
                and weight_t.shape[1] > 1 and weight_t.stride(0) == 1)

    class OneRowProducts(CustomGraphPass):
        rewritten = 0  # products rewritten by this process's compilations (compiled anew)

        def __call__(self, graph: torch.fx.Graph) -> None:
            for node in list(graph.nodes):
                if node.op != "call_function" or node.kwargs:
                    continue
                if node.target is aten.mm.default:
                    bias, (row, weight_t) = None, node.args
                elif node.target is aten.addmm.default and len(node.args) == 3:
                    bias, row, weight_t = node.args
                else:
                    continue
                values: list[Any] = [a.meta.get("val") if isinstance(a, torch.fx.Node) else None
                                     for a in (row, weight_t)]
                if not one_row(*values):
                    continue
                with graph.inserting_before(node), values[0].fake_mode:
                    out = _call(graph, aten.permute.default, weight_t, [1, 0])  # [out, in]
                    out = _call(graph, aten.mul.Tensor, row, out)
                    out = _call(graph, aten.sum.dim_IntList, out, [1])
                    out = _call(graph, aten.unsqueeze.default, out, 0)
                    if bias is not None:
                        out = _call(graph, aten.add.Tensor, out, bias)
                node.replace_all_uses_with(out)
                graph.erase_node(node)
                self.rewritten += 1

        def uuid(self) -> Any:
            return get_hash_for_files((__file__,))

    return OneRowProducts()


def _call(graph: torch.fx.Graph, op: Any, *args: Any) -> torch.fx.Node:
    """A node of ``op`` on ``args``, its value (a fake tensor, in the ambient fake mode) computed
    as the passes after ours expect."""
    node = graph.call_function(op, args)
    values = [a.meta["val"] if isinstance(a, torch.fx.Node) else a for a in args]
    node.meta["val"] = op(*values)
    return node


class Passes:
    """The forward passes of one generation; `forward` returns the last position's logits."""

    def forward(self, ids: list[int], position: int) -> torch.Tensor:
        raise NotImplementedError

    def close(self) -> None:
        """The generation is over (its cache may serve another)."""


class DynamicPasses(Passes):
    """transformers' `DynamicCache`: the cache grows by concatenation at every token."""

    def __init__(self, lm: Any, state: KVState | None) -> None:
        self.lm = lm
        self.cache = to_dynamic_cache(state, lm.config) if state is not None else None

    def forward(self, ids: list[int], position: int) -> torch.Tensor:
        out = _forward(self.lm, ids, position, self.cache)
        self.cache = out.cache
        return _last_logits(out)


@functools.cache
def _preallocated_layer() -> type:
    """`DynamicLayer` with its states in buffers of ``capacity`` tokens, written in place.

    Built on first use: transformers is imported lazily (it takes seconds).
    """
    from transformers.cache_utils import DynamicLayer

    class PreallocatedLayer(DynamicLayer):  # type: ignore[misc]
        def __init__(self, capacity: int, prefix: tuple[torch.Tensor, torch.Tensor] | None) -> None:
            super().__init__()
            self.capacity = capacity
            self.filled = 0
            if prefix is not None:
                self.lazy_initialization(*prefix)
                self.update(*prefix)

        def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
            self.device = key_states.device
            b, heads, _, dim = key_states.shape
            self.key_buffer = key_states.new_empty((b, heads, self.capacity, dim))
            self.value_buffer = value_states.new_empty((b, heads, self.capacity, value_states.shape[-1]))
            self.keys, self.values = self.key_buffer[:, :, :0], self.value_buffer[:, :, :0]
            self.is_initialized = True

        def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any,
                   **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
            if not self.is_initialized:
                self.lazy_initialization(key_states, value_states)
            end = self.filled + key_states.shape[-2]
            if end > self.capacity:
                raise RuntimeError(f"the preallocated cache holds {self.capacity} tokens, not {end}")
            self.key_buffer[:, :, self.filled:end] = key_states
            self.value_buffer[:, :, self.filled:end] = value_states
            self.filled = end
            self.keys = self.key_buffer[:, :, :end]
            self.values = self.value_buffer[:, :, :end]
            return self.keys, self.values

        def get_seq_length(self) -> int:
            return self.filled

    return PreallocatedLayer


class StaticPasses(Passes):
    """Prompt + answer states in buffers allocated once, for ``capacity`` tokens."""

    def __init__(self, lm: Any, state: KVState | None, capacity: int,
                 prefix: list[tuple[torch.Tensor, torch.Tensor]] | None = None) -> None:
        """``prefix``: per layer, keys and values ``[1, kv_heads, T, head_dim]`` already computed
        (a compiled generation handing over); otherwise ``state``'s are copied in."""
        from transformers.cache_utils import Cache

        self.lm = lm
        if prefix is None and state is not None:
            prefix = [(k[None], v[None]) for k, v in zip(state.keys, state.values, strict=True)]
        layer = _preallocated_layer()
        n = lm.config.num_hidden_layers
        self.cache = Cache(layers=[layer(capacity, prefix[i] if prefix else None) for i in range(n)])

    def forward(self, ids: list[int], position: int) -> torch.Tensor:
        return _last_logits(_forward(self.lm, ids, position, self.cache))


class CompiledDecoding:
    """A decode step compiled once per cache capacity, over caches kept for reuse.

    Not thread-safe by itself: `GritModel` holds its lock around every call.
    """

    def __init__(self, lm: Any, context_length: int) -> None:
        self.lm = lm
        self.cuda = lm.device.type == "cuda"
        self.largest = min(context_length, MAX_CAPACITY)
        self.failed: str | None = None  # why compiled decoding is off, once it failed
        self.ready: set[int] = set()  # capacities compiled (warmed up)
        self._caches: dict[int, Any] = {}
        self._busy: set[int] = set()  # capacities whose cache a live generation holds
        mode = "reduce-overhead" if self.cuda else None
        limits = torch._dynamo.config
        limits.recompile_limit = max(limits.recompile_limit, RECOMPILE_LIMIT)
        options = None if self.cuda else {"post_grad_custom_post_pass": one_row_products()}
        self._step = torch.compile(self._decode, mode=mode, options=options, fullgraph=True,
                                   dynamic=False)

    def capacity(self, tokens: int) -> int | None:
        """The capacity that holds ``tokens`` (prompt + answer), or None when none does."""
        if tokens > self.largest:
            return None
        if self.cuda:
            return self.largest
        size = MIN_CAPACITY
        while size < tokens:
            size *= 2
        return min(size, self.largest)

    def prepared(self, tokens: int) -> int | None:
        """The smallest prepared capacity that holds ``tokens``, or None."""
        return min((c for c in self.ready if c >= tokens), default=None) if not self.failed else None

    def free(self, capacity: int) -> bool:
        """Whether no live generation holds the cache of ``capacity`` (two answers streaming at
        once, from two threads, cannot share one: the second decodes without it)."""
        return capacity not in self._busy

    def passes(self, state: KVState | None, capacity: int) -> CompiledPasses:
        if not self.free(capacity):
            raise RuntimeError(f"the compiled cache of {capacity} tokens is in use")
        cache = self._caches.get(capacity)
        if cache is None:
            if not self.cuda:  # keep one at a time on the CPU: memory, not graphs, is scarce there
                for other in [c for c in self._caches if c not in self._busy]:
                    del self._caches[other]
            cache = self._caches[capacity] = self._new_cache(capacity)
        self._busy.add(capacity)
        return CompiledPasses(self, cache, state, capacity)

    def release(self, capacity: int) -> None:
        self._busy.discard(capacity)
        if self.failed:  # nothing will use it again
            self._caches.pop(capacity, None)

    def owes(self, tokens: int) -> bool:
        """Whether `warm_up` of ``tokens`` has compiling to do (a capacity not yet compiled)."""
        capacity = self.capacity(tokens)
        return self.failed is None and capacity is not None and capacity not in self.ready

    def warm_up(self, tokens: int) -> bool:
        """Compile the step for the capacity of ``tokens``; False (and one log line) on failure."""
        if not self.owes(tokens):
            return not self.failed
        capacity = self.capacity(tokens)
        assert capacity is not None
        t0 = time.perf_counter()
        if not self.free(capacity):
            return False
        with torch.inference_mode():  # the caches' tensors are inference tensors
            return self._warm_up(capacity, t0)

    def _warm_up(self, capacity: int, t0: float) -> bool:
        passes = self.passes(None, capacity)
        try:
            logits = passes.forward([1, 2, 3, 4], 0)
            for i in range(3):  # CUDA graphs are recorded after a warm-up run
                logits = passes.forward([int(logits.argmax())], 4 + i)
            if passes.fell_back:
                return False
        except Exception as exc:  # whatever torch.compile raises: its backends raise their own
            self.fail(exc)
            return False
        finally:
            passes.close()
        self.ready.add(capacity)
        log.info("compiled the decode step for %d tokens in %.1f s (kept in %s)", capacity,
                 time.perf_counter() - t0, os.environ.get(COMPILED_CACHE_ENV))
        return True

    def fail(self, exc: BaseException) -> None:
        if self.failed is None:
            self.failed = f"{type(exc).__name__}: {first_line(exc)}"[:300]
            log.warning("compiled decoding is not available (%s); answers decode without it",
                        self.failed)
            log.debug("compilation failed", exc_info=exc)
        self._caches = {c: cache for c, cache in self._caches.items() if c in self._busy}

    def _new_cache(self, capacity: int) -> Any:
        from transformers.cache_utils import Cache, StaticLayer

        return Cache(layers=[StaticLayer(capacity) for _ in range(self.lm.config.num_hidden_layers)])

    def _decode(self, input_ids: torch.Tensor, position_ids: torch.Tensor, cache: Any) -> torch.Tensor:
        logits: torch.Tensor = self.lm(input_ids=input_ids, position_ids=position_ids, cache=cache,
                                       use_cache=True, logits_to_keep=1).logits
        return logits

    def step(self, token: int, position: int, cache: Any) -> torch.Tensor:
        if self.cuda:
            torch.compiler.cudagraph_mark_step_begin()  # type: ignore[no-untyped-call] # the last step's outputs may be reused
        device = self.lm.device
        logits = self._step(ids_tensor([token], device), positions_tensor(position, 1, device), cache)
        return logits[0, -1].clone()


class CompiledPasses(Passes):
    """One generation over a compiled cache: the prompt read eagerly, then compiled steps."""

    def __init__(self, owner: CompiledDecoding, cache: Any, state: KVState | None, capacity: int) -> None:
        self.owner = owner
        self.cache = cache
        self.capacity = capacity
        self.filled = 0
        self.fell_back = False
        self._eager: StaticPasses | None = None
        if state is not None:
            for layer, k, v in zip(cache.layers, state.keys, state.values, strict=True):
                if not layer.is_initialized:
                    layer.lazy_initialization(k[None], v[None])
                layer.keys[:, :, : state.length] = k
                layer.values[:, :, : state.length] = v
            self.filled = state.length
        for layer in cache.layers:  # stale states beyond `filled` are masked, never read
            layer.cumulative_length.fill_(self.filled)

    def forward(self, ids: list[int], position: int) -> torch.Tensor:
        if self._eager is not None:
            return self._eager.forward(ids, position)
        if len(ids) > 1 or self.filled == 0:
            out = _forward(self.owner.lm, ids, position, self.cache)  # the prompt: eagerly
            self.filled += len(ids)
            return _last_logits(out)
        try:
            logits = self.owner.step(ids[0], position, self.cache)
        except Exception as exc:  # compilation or a graph failed: carry on without it
            self.owner.fail(exc)
            self._hand_over()
            assert self._eager is not None
            return self._eager.forward(ids, position)
        self.filled += 1
        return logits

    def close(self) -> None:
        self.owner.release(self.capacity)

    def _hand_over(self) -> None:
        """Go on with `StaticPasses`, from the states filled so far (known good)."""
        prefix = [(layer.keys[:, :, : self.filled].clone(), layer.values[:, :, : self.filled].clone())
                  for layer in self.cache.layers]
        self._eager = StaticPasses(self.owner.lm, None, self.capacity, prefix=prefix)
        self.fell_back = True


# --------------------------------------------------------------------------------------------
# helpers


def to_dynamic_cache(state: KVState, config: Any) -> Any:
    """A transformers cache ``[1, kv_heads, T, head_dim]`` per layer, on copies of the tensors."""
    from transformers import DynamicCache

    data = [(k[None].clone(), v[None].clone()) for k, v in zip(state.keys, state.values, strict=True)]
    return DynamicCache(ddp_cache_data=data, config=config)


def _last_logits(out: Any) -> torch.Tensor:
    logits: torch.Tensor = out.logits[0, -1]
    return logits


def _forward(lm: Any, ids: list[int], position: int, cache: Any) -> Any:
    """One eager forward of ``ids`` at ``position..`` over ``cache``; logits of the last only."""
    device = lm.device
    return lm(input_ids=ids_tensor(ids, device), position_ids=positions_tensor(position, len(ids), device),
              cache=cache, use_cache=True, logits_to_keep=1)


def ids_tensor(ids: list[int], device: torch.device) -> torch.Tensor:
    """``[1, len(ids)]`` token ids, as the model takes them."""
    return torch.tensor([ids], device=device)


def positions_tensor(start: int, n: int, device: torch.device) -> torch.Tensor:
    """``[1, n]`` positions ``start..start+n-1``."""
    return torch.arange(start, start + n, device=device)[None]
