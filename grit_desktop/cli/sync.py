"""``grit-desktop sync``: bring every watched folder in step with the disk once, and exit."""

from __future__ import annotations

import argparse

from rich.console import Console

from grit_desktop.cli.common import load_session_model, open_session
from grit_desktop.cli.ingest import finish


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true",
                   help="print a JSON list: path, status ok|skipped|removed|error, pages, chunks, reason")


def run(args: argparse.Namespace) -> int:
    err = Console(stderr=True)
    with open_session(args, with_model=False) as session:
        if not session.watched():
            print("No folder is watched. Watch one with: grit-desktop watch add FOLDER")
            return 0
        for state in session.folder_states():
            if state.status in ("offline", "error"):
                err.print(f"[yellow]{state.status}[/] {state.path}: {state.describe()}",
                          highlight=False, soft_wrap=True)
        load_session_model(session)
        return finish(session.sync(), args.json, err)
