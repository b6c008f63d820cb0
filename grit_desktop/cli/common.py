"""Options every subcommand shares, and how they become settings and a loaded model."""

from __future__ import annotations

import argparse
from typing import get_args

from grit_desktop.config import Device, Quantization, Settings, data_dir, load_settings
from grit_desktop.engine.library import Library
from grit_desktop.engine.model import GritModel, LoadOptions


def global_options() -> argparse.ArgumentParser:
    """A parent parser: ``--model --device --quantization --data-dir --verbose``."""
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("global options")
    g.add_argument("--model", help="model folder or Hugging Face id (default: from settings, "
                   "GritLM/GritLM-7B)")
    g.add_argument("--device", choices=get_args(Device), help="where the model runs (default auto)")
    g.add_argument("--quantization", choices=get_args(Quantization),
                   help="nf4 = 4-bit weights (default on CUDA), none = full precision")
    g.add_argument("--data-dir", help="library, chats and settings folder "
                   "(default: $GRIT_DESKTOP_HOME or the platform's user data folder)")
    g.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    return p


def settings_from(args: argparse.Namespace) -> Settings:
    """The saved settings with this command line's options on top."""
    settings = load_settings(data_dir(args.data_dir))
    changes = {k: getattr(args, k) for k in ("model", "device", "quantization")
               if getattr(args, k, None) is not None}
    return settings.replace(**changes)


def load_model(settings: Settings) -> GritModel:
    options = LoadOptions(settings.model, settings.device, settings.quantization)
    return GritModel.load(options, batch_tokens=settings.embed_batch_tokens)


def open_library(args: argparse.Namespace, with_model: bool) -> Library:
    """The library in the data folder, with the model loaded when the command needs it."""
    settings = settings_from(args)
    home = data_dir(args.data_dir)
    model = load_model(settings) if with_model else None
    return Library(home, settings, model)


def short_id(doc_id: str) -> str:
    return doc_id[:12]
