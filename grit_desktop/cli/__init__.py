"""The ``grit-desktop`` command: the engine without a window, for scripts, benchmarks and tests.

Every subcommand takes the global options (model, device, quantization, data folder). Errors meant
for the user (`GritError`) are printed as one line on stderr with exit status 1; anything else is
a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from grit_desktop import __version__
from grit_desktop.cli import (
    ask,
    bench,
    chats,
    docs,
    download,
    embed,
    export,
    gui,
    ingest,
    remove,
    search,
    sync,
    watch,
)
from grit_desktop.cli.common import global_options
from grit_desktop.errors import GritError

#: Each subcommand module has ``NAME``, ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``.
COMMANDS = (gui, ingest, watch, sync, docs, search, remove, ask, chats, export, embed, download, bench)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="grit-desktop",
        description="Chat with your documents (PDF, EPUB, Word, Markdown, ...), offline. Without a "
                    "command, opens the window.",
        epilog="Run 'grit-desktop COMMAND --help' for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    common = global_options()
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMANDS:
        p = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP, parents=[common])
        module.add_arguments(p)
        p.set_defaults(run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    names = {m.NAME for m in COMMANDS}
    top_level = {"-h", "--help", "--version"}
    if not any(a in names for a in argv) and not (argv and argv[0] in top_level):
        argv = ["gui", *argv]  # no command (maybe options, files to open): the window
    args = parser.parse_args(argv)
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
