"""``grit-desktop watch``: the folders the library keeps in step with the disk.

``watch add FOLDER`` watches a folder and syncs it at once; ``watch remove FOLDER`` stops
watching (its documents stay); ``watch list`` shows each folder and its state. The window
follows the same list (it watches the folders while it runs); ``grit-desktop sync`` passes over
every watched folder once.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict

from rich.console import Console

from grit_desktop.cli.common import load_session_model, open_session, printable
from grit_desktop.cli.ingest import finish


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = sub.add_parser("add", help="watch FOLDER and sync it now")
    add.add_argument("folder", metavar="FOLDER")
    add.add_argument("--no-sync", action="store_true", help="only add it to the list (the next "
                     "'grit-desktop sync', or the window, indexes it)")
    add.add_argument("--json", action="store_true", help="print the sync's results as JSON")
    remove = sub.add_parser("remove", help="stop watching FOLDER (its documents stay in the library)")
    remove.add_argument("folder", metavar="FOLDER")
    listing = sub.add_parser("list", help="the watched folders and their state")
    listing.add_argument("--json", action="store_true", help="print a JSON list: path, status, "
                         "files, documents, waiting, failed, detail")


def run(args: argparse.Namespace) -> int:
    with open_session(args, with_model=False) as session:
        if args.action == "list":
            states = session.folder_states()
            if args.json:
                print(json.dumps([asdict(s) for s in states], indent=2))
            elif not states:
                print("No folder is watched. Watch one with: grit-desktop watch add FOLDER")
            for state in states if not args.json else []:
                print(f"{printable(state.path)}\t{state.describe()}")
            return 0
        if args.action == "remove":
            gone = session.unwatch(args.folder)
            print(f"no longer watching {printable(gone.path)} (its documents stay in the library)")
            return 0
        added = session.watch(args.folder)
        err = Console(stderr=True)
        err.print(f"watching {printable(added.path)}", highlight=False, soft_wrap=True)
        if args.no_sync:
            return 0
        load_session_model(session)
        return finish(session.sync([added.path]), args.json, err)
