"""Finding a model on disk, checking it before loading, and choosing device, dtype and 4-bit.

Everything here fails with a `GritError` subclass whose message names the folder and what is
wrong, because ``from_pretrained`` on a bad folder raises errors that do not say so.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from grit_desktop.config import Device, Quantization
from grit_desktop.errors import DeviceError, ModelLoadError, ModelNotFoundError

log = logging.getLogger(__name__)

#: Architectures whose attention can be switched to bidirectional with ``is_causal=False`` and
#: whose keys use standard RoPE (so cached keys can be re-rotated).
SUPPORTED_TYPES = ("mistral", "llama", "mixtral")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model")
_DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2}


@dataclass(frozen=True)
class ModelFiles:
    """A checked model folder."""

    path: Path
    model_type: str
    config: dict[str, Any]
    weight_bytes: int

    @property
    def parameters(self) -> int:
        """Parameter count estimated from the size of the weights on disk."""
        stored = str(self.config.get("dtype") or self.config.get("torch_dtype") or "bfloat16")
        return self.weight_bytes // _DTYPE_BYTES.get(stored, 2)


@dataclass(frozen=True)
class LoadPlan:
    """How a model will be loaded, with the notes a user should read about that choice."""

    device: str
    dtype: torch.dtype
    quantization: str
    notes: tuple[str, ...] = field(default=())


def resolve(model: str) -> Path:
    """A local folder for ``model``: the folder itself, or the Hub id's snapshot in the local cache.

    Nothing is downloaded here.
    """
    path = Path(model).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ModelNotFoundError(f"model path {path} is a file; pick the folder that holds it")
        return path
    looks_like_id = model.count("/") == 1 and not model.startswith((".", "/", "~"))
    if not looks_like_id:
        raise ModelNotFoundError(f"model folder {path} does not exist")
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return Path(snapshot_download(model, local_files_only=True))
    except LocalEntryNotFoundError as exc:
        raise ModelNotFoundError(
            f"model {model} is not on this machine: it is not a folder and not in the local "
            "Hugging Face cache. Download it (grit-desktop download) or pass --model with "
            "the folder that holds it."
        ) from exc
    except Exception as exc:  # the hub library raises many kinds for a bad id
        raise ModelNotFoundError(f"model {model!r} cannot be looked up: {exc}") from exc


def check_files(path: Path) -> ModelFiles:
    """Check that ``path`` holds a supported config, safetensors weights and a tokenizer."""
    config_file = path / "config.json"
    if not config_file.is_file():
        raise ModelNotFoundError(f"model folder {path} has no config.json")
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"config.json in {path} cannot be read: {exc}") from exc
    model_type = str(config.get("model_type", ""))
    if model_type not in SUPPORTED_TYPES:
        raise ModelLoadError(
            f"model in {path} is a {model_type or 'unknown'!r} model; grit-desktop runs "
            f"{', '.join(SUPPORTED_TYPES)} models (GritLM-7B is mistral)"
        )
    weights = _weight_files(path)
    if not any((path / name).is_file() for name in TOKENIZER_FILES):
        raise ModelNotFoundError(
            f"model folder {path} has no tokenizer ({' or '.join(TOKENIZER_FILES)})"
        )
    return ModelFiles(path, model_type, config, sum(w.stat().st_size for w in weights))


def _weight_files(path: Path) -> list[Path]:
    index = path / "model.safetensors.index.json"
    if index.is_file():
        try:
            shards = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
        except (OSError, ValueError, KeyError) as exc:
            raise ModelLoadError(f"{index} cannot be read: {exc}") from exc
        missing = [s for s in shards if not (path / s).is_file()]
        if missing:
            raise ModelNotFoundError(
                f"model folder {path} is incomplete: {len(missing)} of {len(shards)} weight "
                f"files are missing ({', '.join(missing[:3])}{'...' if len(missing) > 3 else ''})"
            )
        return [path / s for s in shards]
    found = sorted(path.glob("*.safetensors"))
    if found:
        return found
    if any(path.glob("*.bin")) or any(path.glob("*.pt")):
        raise ModelLoadError(
            f"model folder {path} has only PyTorch pickle weights (.bin); grit-desktop loads "
            "safetensors only, which cannot run code when read"
        )
    raise ModelNotFoundError(f"model folder {path} has no weights (*.safetensors)")


def plan(files: ModelFiles, device: Device, quantization: Quantization) -> LoadPlan:
    """Choose device, dtype and quantization, with a note for every fallback or cost."""
    has_cuda = torch.cuda.is_available()
    if device == "cuda" and not has_cuda:
        raise DeviceError(
            "--device cuda was asked for, but PyTorch sees no CUDA GPU on this machine "
            f"(torch {torch.__version__}); use --device auto or cpu"
        )
    chosen = "cuda" if device == "cuda" or (device == "auto" and has_cuda) else "cpu"
    quant = quantization if quantization != "auto" else ("nf4" if chosen == "cuda" else "none")
    notes: list[str] = []
    if device == "auto" and not has_cuda:
        notes.append(_cpu_note(files, quant == "nf4"))
    if quant == "nf4":
        _require_bitsandbytes()
        if chosen == "cpu":
            notes.append("4-bit weights on the CPU save memory but run slower than full precision.")
        return LoadPlan(chosen, torch.bfloat16, "nf4", tuple(notes))
    if chosen == "cuda":
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return LoadPlan(chosen, dtype, "none", tuple(notes))
    dtype = _cpu_dtype(files, notes)
    return LoadPlan(chosen, dtype, "none", tuple(notes))


def _cpu_note(files: ModelFiles, nf4: bool) -> str:
    n = files.parameters
    size = f"{n / 1e9:.1f}B" if n >= 1e9 else f"{max(n, 1e5) / 1e6:.1f}M"
    weights = "in 4-bit weights" if nf4 else "without 4-bit weights"
    return (
        f"No CUDA GPU found: running the {size}-parameter model on the CPU {weights}. "
        "Answers will be much slower than on a GPU."
    )


def _cpu_dtype(files: ModelFiles, notes: list[str]) -> torch.dtype:
    """float32 when it fits comfortably in RAM (fastest on most CPUs), else bfloat16."""
    need32 = files.parameters * 4
    ram = _total_ram()
    if ram is None or need32 <= 0.6 * ram:
        return torch.float32
    notes.append(
        f"float32 weights would need {need32 / 2**30:.0f} GiB of this machine's "
        f"{ram / 2**30:.0f} GiB RAM: loading in bfloat16 ({need32 / 2**31:.0f} GiB) instead."
    )
    return torch.bfloat16


def _total_ram() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def _require_bitsandbytes() -> None:
    try:
        import bitsandbytes  # noqa: F401  (slow import: only when 4-bit is asked for)
    except Exception as exc:
        raise DeviceError(
            f"4-bit weights need the bitsandbytes package, which cannot be imported here: {exc}. "
            "Use --quantization none."
        ) from exc
