"""``grit-desktop download``: fetch a model (GritLM-7B by default) into the local Hub cache."""

from __future__ import annotations

import argparse

from grit_desktop.config import DEFAULT_MODEL
from grit_desktop.engine.grit.download import download


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("repo", nargs="?", default=DEFAULT_MODEL, help="Hub id (default %(default)s)")


def run(args: argparse.Namespace) -> int:
    folder = download(args.repo)
    print(folder)
    return 0
