"""Reading and chunking PDFs: `read_pdf` + `chunk_pages` against raw PyMuPDF text extraction.

A generated PDF of prose (paragraphs, about 2,500 characters a page) is read in turns by
(A) raw PyMuPDF, ``pymupdf.open`` and ``page.get_text()`` for every page, (R) `read_pdf` alone
(blocks in reading order, clean-up, hashing, checks), (B) `read_pdf` + `chunk_pages` counting
tokens as the app does (`tokenizer_counter`: a `WordCounter` over the tokenizer of GritLM-7B,
Mistral's SentencePiece; ``--tokenizer bpe`` for the small test BPE), new for each round as for
a user's first file, (B2) the same with a counter that has met the file's words before, as for
later files, and (E) the tokenizer run over every chunk (``cache_words=False``, the baseline
for the word cache); 512-token chunks, 64 of overlap. The steps take turns in each round (the
order rotates); the seconds are medians of the rounds and the costs on top of A are medians of
each round's ratio, since this machine's speed drifts by tens of percent over seconds. Run:

    .venv/bin/python -m benchmarks.parse_chunk                 # 1,000 pages, 15 rounds
    .venv/bin/python -m benchmarks.parse_chunk --pages 200 --repeats 5 --json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pymupdf

from grit_desktop.engine.documents.chunking import TokenCounter, chunk_pages, tokenizer_counter
from grit_desktop.engine.documents.pdf import read_pdf
from grit_desktop.engine.grit.synthetic import build_tokenizer, mistral_tokenizer
from tests.pdfs import make_pdf, make_prose_pdf, prose_page_texts


def raw_text(path: Path) -> int:
    """(A) what PyMuPDF alone costs: open, plain text of every page."""
    chars = 0
    with pymupdf.open(path) as doc:
        for page in doc:
            chars += len(page.get_text())
    return chars


def timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pages", type=int, default=1000)
    ap.add_argument("--chars", type=int, default=2500, help="characters of prose per page")
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--chunk-tokens", type=int, default=512)
    ap.add_argument("--overlap", type=int, default=64)
    ap.add_argument("--courier", action="store_true",
                    help="a hand-written Courier PDF (quick to make) instead of PyMuPDF's text layout")
    ap.add_argument("--tokenizer", choices=("mistral", "bpe"), default="mistral",
                    help="mistral: GritLM-7B's real tokenizer (default); bpe: the small test BPE")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    tokenizer = mistral_tokenizer() if args.tokenizer == "mistral" else build_tokenizer()
    exact = tokenizer_counter(tokenizer, cache_words=False)
    warm = tokenizer_counter(tokenizer)
    counted = {"seconds": 0.0, "chars": 0}

    def timing(counter: TokenCounter) -> TokenCounter:
        def count(texts: Sequence[str]) -> list[int]:
            t0 = time.perf_counter()
            out = counter(texts)
            counted["seconds"] += time.perf_counter() - t0
            counted["chars"] += sum(len(t) for t in texts)
            return out
        return count

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "prose.pdf"
        t0 = time.perf_counter()
        if args.courier:
            make_prose_pdf(path, args.pages, args.chars)
        else:
            make_pdf(path, prose_page_texts(args.pages, args.chars), fontsize=9)
        made_s = time.perf_counter() - t0
        n_chunks = text_chars = 0

        def read_and_chunk(counter: TokenCounter) -> None:
            nonlocal n_chunks, text_chars
            doc = read_pdf(path)
            n_chunks = len(chunk_pages(doc.pages, counter, chunk_tokens=args.chunk_tokens,
                                       overlap_tokens=args.overlap))
            text_chars = doc.text_chars

        raw_text(path)  # warm the file cache and MuPDF's fonts
        read_and_chunk(warm)  # B2's counter has met this file's words once
        steps: dict[str, Callable[[], Any]] = {
            "A": lambda: raw_text(path),
            "R": lambda: read_pdf(path),
            "B": lambda: read_and_chunk(timing(tokenizer_counter(tokenizer))),
            "B2": lambda: read_and_chunk(timing(warm)),
            "E": lambda: read_and_chunk(timing(exact)),
        }
        names = list(steps)
        times: dict[str, list[float]] = {n: [] for n in names}
        counting: dict[str, list[float]] = {n: [] for n in names}
        for k in range(args.repeats):
            for name in names[k % len(names):] + names[:k % len(names)]:  # the order rotates
                counted["seconds"] = 0.0
                counted["chars"] = 0
                times[name].append(timed(steps[name]))
                counting[name].append(counted["seconds"])
                if name == "B":
                    chars_counted = counted["chars"]
        size = path.stat().st_size
    med = {n: statistics.median(times[n]) for n in names}
    # This machine's speed drifts by tens of percent over seconds; the steps of one round run
    # back to back, so their ratios within a round are steadier than ratios of medians.
    vs_raw = {n: statistics.median(x / a for a, x in zip(times["A"], times[n], strict=True)) for n in names}
    b_vs_r = statistics.median(b / r for r, b in zip(times["R"], times["B"], strict=True))
    in_counting = {n: statistics.median(counting[n]) for n in names}
    result = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
        "pymupdf": pymupdf.__version__, "pages": args.pages, "pdf_bytes": size,
        "pdf_made_s": made_s, "layout": "courier" if args.courier else "pymupdf textbox",
        "chunks": n_chunks, "text_chars": text_chars,
        "counted_chars_per_text_char": chars_counted / max(text_chars, 1),
        "seconds": times, "counting_seconds": counting,
        "vs_raw": {n: vs_raw[n] - 1 for n in names}, "chunking_on_read_pdf": b_vs_r - 1,
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"parse + chunk, {args.pages} pages of prose ({size / 1e6:.1f} MB, {result['layout']}), "
          f"{result['machine']}, PyMuPDF {pymupdf.__version__}, {args.repeats} rounds")
    print(f"  {'':46}{'pages/s':>9}{'seconds':>9}{'vs raw':>8}{'counting':>10}")
    rows = [("A", "(A) raw pymupdf get_text()"), ("R", "(R) read_pdf"),
            ("B", "(B) read_pdf + chunk_pages (a new counter)"),
            ("B2", "(B2) B, the counter has met the words"),
            ("E", "(E) B, the tokenizer over every chunk")]
    for n, label in rows:
        counting_s = f"{in_counting[n]:>9.2f}s" if n not in ("A", "R") else ""
        vs = f"{(vs_raw[n] - 1) * 100:>+7.0f}%"
        print(f"  {label:46}{args.pages / med[n]:>9,.0f}{med[n]:>9.2f}{vs}{counting_s}")
    print(f"  chunking on top of read_pdf (B vs R): {(b_vs_r - 1) * 100:+.0f}%")
    print(f"  {n_chunks} chunks of <= {args.chunk_tokens} tokens; the counter saw "
          f"{result['counted_chars_per_text_char']:.2f}x the text; goal: (B) within +25% of (A)")
    print("  (seconds: medians of the rounds; vs raw: median of each round's ratio to (A);")
    print("   counting: seconds of it spent counting tokens)")


if __name__ == "__main__":
    main()
