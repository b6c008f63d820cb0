"""The ``grit-desktop`` command: the engine without a window, for scripts, benchmarks and tests.

Every subcommand takes the global options (model, device, quantization, data folder). Errors meant
for the user (`GritError`) are printed as one line on stderr with exit status 1; anything else is
a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Iterable, Sequence

from grit_desktop import __version__
from grit_desktop.cli.common import global_options
from grit_desktop.errors import GritError

#: Each command, in the order ``--help`` lists them, and what it does. Its module
#: ``grit_desktop.cli.<name>`` has ``add_arguments(parser)`` and ``run(args) -> int`` and is
#: imported only when the command runs: ``docs`` or ``chats`` start without torch, which only
#: the commands that load the model import.
COMMANDS: dict[str, str] = {
    "gui": "open the window (the default without a command); documents or folders given are added",
    "ingest": ("add documents (PDF, EPUB, DOCX, Markdown, ...) and folders (searched recursively) "
               "to the library"),
    "watch": "watch folders: their new, changed, moved and deleted files follow in the library",
    "sync": ("pass over every watched folder once: index new and changed files, follow moved ones, "
             "remove the documents of deleted ones"),
    "docs": "list the documents in the library (id, title, pages, chunks, status)",
    "search": "find the passages that best match a query (hybrid: meaning + exact words)",
    "remove": "remove a document from the library by id (or unique id prefix) or path",
    "ask": "answer a question from your documents (streams the answer, then its sources)",
    "chats": "list saved chats (id, title, messages, last activity)",
    "export": "print a chat as Markdown with its sources (or write it with -o FILE)",
    "embed": "print one embedding vector per text (documents by default, --query for questions)",
    "download": "download a model (default GritLM/GritLM-7B, ~14 GB) into the local Hugging Face cache",
    "bench": "measure embedding, search and answering speed (every cache mode) on this machine",
}


def build_parser(commands: Iterable[str] | None = None) -> argparse.ArgumentParser:
    """The command line's parser, with the arguments of ``commands`` (None: every one's); the
    others are listed by name and help only, their modules not imported."""
    parser = argparse.ArgumentParser(
        prog="grit-desktop",
        description="Chat with your documents (PDF, EPUB, Word, Markdown, ...), offline. Without a "
                    "command, opens the window.",
        epilog="Run 'grit-desktop COMMAND --help' for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    common = global_options()
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    wanted = set(COMMANDS if commands is None else commands)
    for name, help_text in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text, parents=[common])
        if name in wanted:
            module = importlib.import_module(f"grit_desktop.cli.{name}")
            module.add_arguments(p)
            p.set_defaults(run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if a in COMMANDS), None)
    top_level = {"-h", "--help", "--version"}
    if command is None and not (argv and argv[0] in top_level):
        command = "gui"  # no command (maybe options, files to open): the window
        argv = [command, *argv]
    args = build_parser([command] if command else []).parse_args(argv)
    stderr = logging.StreamHandler(sys.stderr)
    stderr.setLevel(logging.DEBUG if args.verbose else logging.WARNING)
    stderr.setFormatter(logging.Formatter("grit-desktop: %(message)s"))
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, handlers=[stderr])
    logging.getLogger("filelock").setLevel(logging.INFO)  # its DEBUG is every acquire and release
    try:
        return int(args.run(args))
    except GritError as exc:
        print(f"grit-desktop: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("grit-desktop: interrupted", file=sys.stderr)
        return 130
