"""Options every subcommand shares, and how they become settings and a loaded model."""

from __future__ import annotations

import argparse
import logging
import re
from typing import TYPE_CHECKING, get_args

from rich.console import Console
from rich.status import Status

from grit_desktop.config import CompileChoice, Device, Quantization, Settings, data_dir, load_settings

if TYPE_CHECKING:  # the engine loads with the command that uses it: --help needs none of it
    from grit_desktop.engine.grit.model import GritModel
    from grit_desktop.engine.index.records import Scope
    from grit_desktop.engine.session import Session

log = logging.getLogger(__name__)


def global_options() -> argparse.ArgumentParser:
    """A parent parser: ``--model --device --quantization --data-dir --verbose``."""
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("global options")
    g.add_argument("--model", help="model folder or Hugging Face id (default: from settings, "
                   "GritLM/GritLM-7B)")
    g.add_argument("--device", choices=get_args(Device), help="where the model runs (default auto)")
    g.add_argument("--quantization", choices=get_args(Quantization),
                   help="nf4 = 4-bit weights (default on CUDA), none = full precision")
    g.add_argument("--compile", choices=get_args(CompileChoice), dest="compile_decoding",
                   help="compile the decode step for faster answers: auto (on CUDA, default), "
                   "on (also on the CPU), off")
    g.add_argument("--data-dir", help="library, chats and settings folder "
                   "(default: $GRIT_DESKTOP_HOME or the platform's user data folder)")
    g.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    return p


def settings_from(args: argparse.Namespace) -> Settings:
    """The saved settings with this command line's options on top."""
    settings = load_settings(data_dir(args.data_dir))
    changes = {k: getattr(args, k) for k in ("model", "device", "quantization", "compile_decoding")
               if getattr(args, k, None) is not None}
    return settings.replace(**changes)


def load_model(settings: Settings) -> GritModel:
    """Load the model; a terminal sees a spinner meanwhile (seconds for GritLM-7B)."""
    from grit_desktop.engine.grit.model import GritModel, LoadOptions

    options = LoadOptions(settings.model, settings.device, settings.quantization,
                          settings.compile_decoding)
    with _loading(settings.model):
        return GritModel.load(options, batch_tokens=settings.embed_batch_tokens)


def _loading(model: str) -> Status:
    return Console(stderr=True).status(f"Loading the model {model}…")


def open_session(args: argparse.Namespace, with_model: bool) -> Session:
    """The session over the data folder, with the model loaded when the command needs it (a
    terminal sees a spinner meanwhile: seconds for GritLM-7B)."""
    from grit_desktop.engine.session import Session

    session = Session(data_dir(args.data_dir), settings_from(args))
    if with_model:
        load_session_model(session)
    return session


def load_session_model(session: Session, answers: bool = False) -> None:
    """Load the session's model, with a spinner on a terminal; for a command that ``answers``,
    its decode step is compiled too, where answers use one (see ``--compile``)."""
    with _loading(session.settings.model):
        session.load_model()
    model = session.model
    assert model is not None
    if answers and model.compiles:
        with Console(stderr=True).status("Preparing faster answers (compiling the decode step)…"):
            session.prepare_decoding()
    log.info("answers: %s", model.decoding)


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """``text`` safe to print on a terminal: control characters (escape sequences that would
    recolour it, newlines that would break a listing) become spaces."""
    return _CONTROL.sub(" ", text)


def plural(n: int, noun: str) -> str:
    """``1 message``, ``2 messages``, ``1,024 chunks``."""
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


def k_option(text: str) -> int:
    """An argparse type for ``--k``: a whole number of passages, 1 or more."""
    try:
        k = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if k < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more (got {k})")
    return k


def short_id(doc_id: str) -> str:
    return doc_id[:12]


def add_scope_options(p: argparse.ArgumentParser) -> None:
    """``--doc ID`` and ``--folder PATH``, each repeatable: ask or search only those documents."""
    p.add_argument("--doc", action="append", default=[], metavar="ID",
                   help="only this document (id, unique id prefix or path); repeat for more")
    p.add_argument("--folder", action="append", default=[], metavar="PATH",
                   help="only the documents under this folder; repeat for more")


def scope_from(args: argparse.Namespace, session: Session) -> Scope | None:
    """The scope the options name, None when they name none."""
    if not args.doc and not args.folder:
        return None
    return session.scope_of(args.doc, args.folder)
