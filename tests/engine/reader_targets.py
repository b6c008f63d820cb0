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
