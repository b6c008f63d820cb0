"""Random GRIT-shaped models built offline, for tests and benchmarks where no weights can be had.

A model here answers nonsense, but it has the exact architecture (Mistral), tokenizer conventions
(BOS ``<s>``, EOS ``</s>``) and, for ``gritlm-7b``, the exact shapes of GritLM-7B, so every code
path and every speed figure is real. The tokenizer is a byte-level BPE trained in well under a
second on a small built-in text, so any input text can be encoded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

SHAPES: dict[str, dict[str, Any]] = {
    # a few hundred thousand parameters: unit tests
    "tiny": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                 num_attention_heads=4, num_key_value_heads=2),
    # ~19M parameters in its layers (+33M embeddings and head): CPU benchmarks that behave like
    # a real model (GQA with 4 query heads per KV head, several layers, GritLM's vocabulary)
    "mid": dict(hidden_size=512, intermediate_size=1536, num_hidden_layers=6,
                num_attention_heads=8, num_key_value_heads=2, vocab_size=32000),
    # GritLM-7B (Mistral-7B-v0.1): GPU benchmarks
    "gritlm-7b": dict(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                      num_attention_heads=32, num_key_value_heads=8, vocab_size=32000,
                      sliding_window=4096),
}

_CORPUS = """
GRIT trains one language model to embed text and to generate text. The user drops PDF files
into the window; every page is read, split into passages and indexed. A question is answered
from the passages that match it best, and each answer cites the document and the page.
<|user|>
What does the manual say about the warranty on page 12?
<|assistant|>
The warranty lasts two years from the date of purchase [1].
<|embed|>
Chapter 1. Introduction. Section 2.3 describes the installation; Table 4 lists the results.
The quick brown fox jumps over the lazy dog 0123456789 times, said the report of 2024.
""".strip()


def build_tokenizer(vocab_size: int = 512) -> Any:
    """A byte-level BPE tokenizer with ``<unk> <s> </s> <pad>`` = ids 0-3 that prepends ``<s>``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<unk>", "<s>", "</s>", "<pad>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_CORPUS.splitlines() * 4, trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", 1)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>"
    )


def mistral_tokenizer() -> Any:
    """The real Mistral-7B (v0.1) tokenizer, the one GritLM-7B uses, built offline.

    Its SentencePiece model ships in the ``mistral-common`` package (installed without its
    dependencies; it is not imported); converting it needs ``sentencepiece`` and ``protobuf``.
    Raises `FileNotFoundError` when the package is not installed.
    """
    import importlib.util
    import shutil
    import tempfile

    from transformers import AutoTokenizer

    spec = importlib.util.find_spec("mistral_common")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the mistral-common package (Mistral's tokenizer files) is not installed")
    model = Path(next(iter(spec.submodule_search_locations))) / "data" / "tokenizer.model.v1"
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copy(model, Path(tmp) / "tokenizer.model")
        (Path(tmp) / "tokenizer_config.json").write_text(
            '{"tokenizer_class": "LlamaTokenizer", "bos_token": "<s>", "eos_token": "</s>", '
            '"unk_token": "<unk>", "add_bos_token": true, "add_eos_token": false}'
        )
        return AutoTokenizer.from_pretrained(tmp)


def build_model(folder: str | Path, shape: str = "tiny", seed: int = 0, dtype: str = "float32",
                tokenizer: str = "bpe", device: str = "cpu") -> Path:
    """Write a random Mistral of ``shape`` and its tokenizer to ``folder`` (safetensors).

    ``tokenizer`` is ``bpe`` (a small byte-level BPE trained here) or ``mistral`` (GritLM-7B's
    real 32,000-token vocabulary, see `mistral_tokenizer`).
    """
    import torch
    from transformers import MistralConfig, MistralForCausalLM

    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r}; choose one of {', '.join(SHAPES)}")
    folder = Path(folder)
    tok = mistral_tokenizer() if tokenizer == "mistral" else build_tokenizer()
    dims = {"sliding_window": None, **SHAPES[shape]}
    dims.setdefault("vocab_size", len(tok))
    config = MistralConfig(
        bos_token_id=1, eos_token_id=2, pad_token_id=3, max_position_embeddings=32768,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
        tie_word_embeddings=False, **dims,
    )
    torch.manual_seed(seed)
    with torch.device(device):  # a 7B model initialises in seconds on a GPU, minutes on a CPU
        model = MistralForCausalLM(config).to(getattr(torch, dtype))
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder
