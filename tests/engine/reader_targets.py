"""Stand-ins for the PDF reader's work, run in its child process by tests/engine/test_parsing.py."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from grit_desktop.engine.documents.parsing import ChunkOptions, Parsed, ParseFailure, parse_file


def crash_on_marked(path: str, options: ChunkOptions) -> Parsed | ParseFailure:
    """Dies like a segfaulting C library when the file name says 'crash'."""
    if "crash" in Path(path).name:
        os.kill(os.getpid(), signal.SIGSEGV)
    if "hang" in Path(path).name:
        time.sleep(3600)
    return parse_file(path, options)


def slow_but_alive(path: str, options: ChunkOptions) -> Parsed | ParseFailure:
    """Takes 4 s in all, saying it is alive every 0.5 s, as OCR does page by page; silent when
    the file name says 'silent'."""
    from grit_desktop.engine.documents.parsing import heartbeat

    for _ in range(8):
        time.sleep(0.5)
        if "silent" not in Path(path).name:
            heartbeat()
    return parse_file(path, options)


def chatty(path: str, options: ChunkOptions) -> Parsed | ParseFailure:
    """Prints on file descriptor 1 as MuPDF does on a damaged file (and on stdout, stderr),
    then reads the file."""
    os.write(1, b"MuPDF error: format error: non-page object in page tree\n\n")
    print("a stray print on stdout", flush=True)
    os.write(2, b"Tesseract: a message on stderr\n")
    return parse_file(path, options)


def breaks_channel(path: str, options: ChunkOptions) -> Parsed | ParseFailure:
    """Writes what is not a frame into the result channel itself when the name says 'broken'."""
    from grit_desktop.engine.documents import parsing

    if "broken" in Path(path).name and parsing._channel is not None:
        parsing._channel.write(b"MuPDF error: " + b"\xff" * 64)
        parsing._channel.flush()
        time.sleep(3600)
    return parse_file(path, options)
