"""Stand-ins for the PDF reader's work, run in its child process by tests/engine/test_parsing.py."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from grit_desktop.engine.parsing import ChunkOptions, Parsed, ParseFailure, parse_file


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
    from grit_desktop.engine.parsing import heartbeat

    for _ in range(8):
        time.sleep(0.5)
        if "silent" not in Path(path).name:
            heartbeat()
    return parse_file(path, options)
