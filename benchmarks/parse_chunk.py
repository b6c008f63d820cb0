"""Reading and chunking PDFs: `read_pdf` + `chunk_pages` against raw PyMuPDF text extraction.

A generated PDF of prose (paragraphs, about 2,500 characters a page) is read in turns by
(A) raw PyMuPDF, ``pymupdf.open`` and ``page.get_text()`` for every page, (R) `read_pdf` alone
(blocks in reading order, clean-up, hashing, checks), and (B) `read_pdf` + `chunk_pages` with the
tokenizer of GritLM-7B (Mistral's SentencePiece; ``--tokenizer bpe`` for the small test BPE),
512-token chunks, 64 of overlap. The medians are printed
with the cost of R and B on top of A; the share of B spent inside the tokenizer is shown apart,
since it depends on the tokenizer and not on this code. Run:

    .venv/bin/python -m benchmarks.parse_chunk                 # 1,000 pages, 3 rounds
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

from grit_desktop.engine.chunking import chunk_pages, tokenizer_counter
from grit_desktop.engine.pdf import read_pdf
from grit_desktop.engine.synthetic import build_tokenizer, mistral_tokenizer
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
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--chunk-tokens", type=int, default=512)
    ap.add_argument("--overlap", type=int, default=64)
    ap.add_argument("--courier", action="store_true",
                    help="a hand-written Courier PDF (quick to make) instead of PyMuPDF's text layout")
    ap.add_argument("--tokenizer", choices=("mistral", "bpe"), default="mistral",
                    help="mistral: GritLM-7B's real tokenizer (default); bpe: the small test BPE")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    counter = tokenizer_counter(mistral_tokenizer() if args.tokenizer == "mistral" else build_tokenizer())
    in_tokenizer = [0.0, 0]  # seconds, characters counted

    def counting(texts: Sequence[str]) -> list[int]:
        t0 = time.perf_counter()
        out = counter(texts)
        in_tokenizer[0] += time.perf_counter() - t0
        in_tokenizer[1] += sum(len(t) for t in texts)
        return out

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "prose.pdf"
        t0 = time.perf_counter()
        if args.courier:
            make_prose_pdf(path, args.pages, args.chars)
        else:
            make_pdf(path, prose_page_texts(args.pages, args.chars), fontsize=9)
        made_s = time.perf_counter() - t0
        n_chunks = text_chars = 0

        def read_and_chunk() -> None:
            nonlocal n_chunks, text_chars
            doc = read_pdf(path)
            n_chunks = len(chunk_pages(doc.pages, counting, chunk_tokens=args.chunk_tokens,
                                       overlap_tokens=args.overlap))
            text_chars = doc.text_chars

        raw_text(path)  # warm the file cache and MuPDF's fonts
        a_s: list[float] = []
        r_s: list[float] = []
        b_s: list[float] = []
        tok_s: list[float] = []
        for _ in range(args.repeats):
            a_s.append(timed(lambda: raw_text(path)))
            r_s.append(timed(lambda: read_pdf(path)))
            in_tokenizer[:] = [0.0, 0]
            b_s.append(timed(read_and_chunk))
            tok_s.append(in_tokenizer[0])
        size = path.stat().st_size
    a, r, b, tok = (statistics.median(x) for x in (a_s, r_s, b_s, tok_s))
    result = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
        "pymupdf": pymupdf.__version__, "pages": args.pages, "pdf_bytes": size,
        "pdf_made_s": made_s, "layout": "courier" if args.courier else "pymupdf textbox",
        "chunks": n_chunks, "text_chars": text_chars,
        "counted_chars_per_text_char": in_tokenizer[1] / max(text_chars, 1),
        "raw_s": a_s, "read_s": r_s, "read_chunk_s": b_s, "tokenizer_s": tok_s,
        "read_overhead": r / a - 1, "read_chunk_overhead": b / a - 1,
        "read_chunk_overhead_without_tokenizer": (b - tok) / a - 1,
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"parse + chunk, {args.pages} pages of prose ({size / 1e6:.1f} MB, {result['layout']}), "
          f"{result['machine']}, PyMuPDF {pymupdf.__version__}, median of {args.repeats}")
    print(f"  {'':36}{'pages/s':>10}{'seconds':>10}{'vs raw':>10}")
    rows = [("(A) raw pymupdf get_text()", a), ("(R) read_pdf", r), ("(B) read_pdf + chunk_pages", b),
            ("    of which in the tokenizer", tok), ("(B) without the tokenizer", b - tok)]
    for name, s in rows:
        vs = "" if name.startswith("    ") else f"{(s / a - 1) * 100:>+9.0f}%"
        print(f"  {name:36}{args.pages / s:>10,.0f}{s:>10.2f}{vs}")
    print(f"  {n_chunks} chunks of <= {args.chunk_tokens} tokens; the tokenizer saw "
          f"{result['counted_chars_per_text_char']:.2f}x the text; goal: (B) within +25% of (A)")


if __name__ == "__main__":
    main()
