"""``grit-desktop remove``: take a document out of the library (the file itself is untouched)."""

from __future__ import annotations

import argparse

from grit_desktop.cli.common import open_session, short_id


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("document", metavar="DOC_ID_OR_PATH")


def run(args: argparse.Namespace) -> int:
    with open_session(args, with_model=False) as session:
        doc = session.remove(args.document)
    print(f"removed {short_id(doc.doc_id)} {doc.title} ({doc.path})")
    return 0
