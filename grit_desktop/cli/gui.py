"""``grit-desktop [gui] [PATH...]``: open the window (and add the PDFs or folders given)."""

from __future__ import annotations

import argparse

NAME = "gui"
HELP = "open the window (the default without a command); PDFs or folders given are added"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="*", metavar="PATH", help="PDF files or folders to add")


def run(args: argparse.Namespace) -> int:
    from grit_desktop.ui.app import run as run_app  # Qt only when the window is wanted

    return run_app(list(args.paths), args.data_dir)
