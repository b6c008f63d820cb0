"""Typed settings with defaults and a description per field, and the app's data locations.

The data directory is, in order: an explicit path (the CLI's ``--data-dir``), the environment
variable ``GRIT_DESKTOP_HOME``, the platform's user data directory (``platformdirs``). Settings
live in ``settings.json`` there; unknown keys are kept out, bad values are reported by name.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, get_args, get_type_hints

import platformdirs

from grit_desktop import APP_NAME
from grit_desktop.errors import ConfigError

HOME_ENV = "GRIT_DESKTOP_HOME"
DEFAULT_MODEL = "GritLM/GritLM-7B"

Device = Literal["auto", "cuda", "cpu"]
Quantization = Literal["auto", "nf4", "none"]
WatchChoice = Literal["ask", "always", "never"]
CacheMode = Literal["none", "doc", "query", "query-doc", "doc-query"]
CompileChoice = Literal["auto", "on", "off"]


def _setting(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


@dataclass
class Settings:
    """Everything a user can change; each field carries its description in ``metadata['help']``."""

    model: str = _setting(
        DEFAULT_MODEL, "Model folder, or Hugging Face id looked up in the local Hugging Face cache."
    )
    device: Device = _setting("auto", "Where the model runs: auto (CUDA if present), cuda or cpu.")
    quantization: Quantization = _setting(
        "auto", "Weights: nf4 (4-bit, bitsandbytes), none (bf16/fp32), auto (nf4 on CUDA)."
    )
    embed_max_tokens: int = _setting(
        2048, "Longest text, in tokens, that embedding reads; longer text is truncated."
    )
    embed_batch_tokens: int = _setting(
        0, "Padded tokens per embedding batch; 0 picks a size from the device."
    )
    top_k: int = _setting(4, "Passages retrieved for each question.")
    temperature: float = _setting(0.0, "Sampling temperature; 0 answers greedily.")
    top_p: float = _setting(0.95, "Nucleus sampling threshold (used when temperature > 0).")
    max_new_tokens: int = _setting(512, "Longest answer, in tokens.")
    cache_mode: CacheMode = _setting(
        "doc", "GRIT caching: none, doc, query, query-doc or doc-query (see docs/grit.md)."
    )
    compile_decoding: CompileChoice = _setting(
        "auto", "Compile the decode step (torch.compile, CUDA graphs) when the model loads: auto "
        "(on CUDA), on (also on the CPU), off. Faster answers after a one-time preparation."
    )
    kv_cache_mb: int = _setting(2048, "Memory budget of the key/value cache of passages, in MiB.")
    chunk_tokens: int = _setting(512, "Longest passage, in tokens.")
    chunk_overlap_tokens: int = _setting(64, "Tokens shared by consecutive passages.")
    watch_folders: WatchChoice = _setting(
        "ask", "A folder added or dropped in the window: ask whether to watch it (keep the library "
        "in step with it), always watch, or never."
    )

    def validate(self) -> None:
        """Raise `ConfigError` naming the first field whose value is out of range."""
        hints = get_type_hints(Settings)
        for f in fields(self):
            value = getattr(self, f.name)
            choices = get_args(hints[f.name])
            if choices and value not in choices:
                raise ConfigError(f"setting {f.name!r} must be one of {', '.join(choices)}, not {value!r}")
        positive = ("embed_max_tokens", "top_k", "max_new_tokens", "kv_cache_mb", "chunk_tokens")
        for name in positive:
            if int(getattr(self, name)) <= 0:
                raise ConfigError(f"setting {name!r} must be positive")
        if self.embed_batch_tokens < 0 or self.chunk_overlap_tokens < 0:
            raise ConfigError("batch and overlap sizes cannot be negative")
        if self.chunk_overlap_tokens >= self.chunk_tokens:
            raise ConfigError("chunk_overlap_tokens must be smaller than chunk_tokens")
        if self.temperature < 0 or not 0 < self.top_p <= 1:
            raise ConfigError("temperature must be >= 0 and top_p in (0, 1]")

    def replace(self, **changes: Any) -> Settings:
        new = dataclasses.replace(self, **changes)
        new.validate()
        return new

    @staticmethod
    def describe() -> dict[str, str]:
        """Field name -> description, in declaration order (for help texts and the dialog)."""
        return {f.name: str(f.metadata["help"]) for f in fields(Settings)}


def data_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The folder holding the library, chats, settings and logs (created on first use)."""
    if explicit:
        path = Path(explicit)
    elif os.environ.get(HOME_ENV):
        path = Path(os.environ[HOME_ENV])
    else:
        path = Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))
    path = path.expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the data folder {path}: {exc.strerror}") from exc
    return path


def settings_path(home: Path) -> Path:
    return home / "settings.json"


def load_settings(home: Path) -> Settings:
    """Read ``settings.json``; a missing file gives the defaults, a broken one a `ConfigError`."""
    path = settings_path(home)
    if not path.exists():
        return Settings()
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read settings from {path}: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"settings file {path} does not hold an object")
    known = {f.name: f for f in fields(Settings)}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key in known:
            values[key] = _coerce(known[key], value)
    settings = Settings(**values)
    settings.validate()
    return settings


def _coerce(f: dataclasses.Field[Any], value: Any) -> Any:
    default = f.default
    if isinstance(default, bool) or not isinstance(default, int | float):
        return value
    try:
        return type(default)(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"setting {f.name!r} must be a number, not {value!r}") from exc


def save_settings(home: Path, settings: Settings) -> None:
    """Write settings atomically: a crash leaves the old file or the new one, never half of one."""
    settings.validate()
    path = settings_path(home)
    write_atomically(path, json.dumps(dataclasses.asdict(settings), indent=2, sort_keys=True) + "\n")


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder, synced, then
    renamed over it: a crash leaves the old file or the new one, never half of one."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
