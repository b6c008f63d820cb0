"""``grit-desktop embed``: print the GRIT embedding of each text."""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from grit_desktop.cli.common import load_model, settings_from
from grit_desktop.engine.grit.prompts import QUERY_TASK


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("texts", nargs="+", metavar="TEXT", help="text to embed ('-' reads stdin)")
    kind = p.add_mutually_exclusive_group()
    kind.add_argument("--instruction", help="task instruction, e.g. 'Given a question, retrieve "
                      "passages that answer it' (documents take none)")
    kind.add_argument("--query", action="store_true",
                      help=f"embed as a question with the app's retrieval task: '{QUERY_TASK}'")
    p.add_argument("--json", action="store_true", help="print a JSON list of lists")


def run(args: argparse.Namespace) -> int:
    texts = [sys.stdin.read() if t == "-" else t for t in args.texts]
    settings = settings_from(args)
    model = load_model(settings)
    instruction = QUERY_TASK if args.query else args.instruction
    result = model.embed(texts, instruction, max_length=settings.embed_max_tokens)
    for text, cut in zip(texts, result.truncated, strict=True):
        if cut:
            print(f"grit-desktop: note: text truncated to {settings.embed_max_tokens} tokens: "
                  f"{text[:40]!r}...", file=sys.stderr)
    print(format_vectors(result.vectors, as_json=args.json))
    return 0


def format_vectors(vectors: np.ndarray, as_json: bool) -> str:
    if as_json:
        return json.dumps([[float(x) for x in row] for row in vectors])
    return "\n".join(" ".join(f"{x:.6g}" for x in row) for row in vectors)
