"""The frozen app's entry point (packaging/grit-desktop.spec builds it into dist/grit-desktop/).

One executable plays two parts:

- ``grit-desktop --pdf-reader``: the PDF reader child process. The app starts it as
  ``[sys.executable, "--pdf-reader"]`` (`grit_desktop.engine.documents.parsing.reader_command`) and talks to
  it over stdin/stdout (see `reader_main`); it imports PyMuPDF and tokenizers only, never torch or Qt.
- anything else: the ``grit-desktop`` command (`grit_desktop.cli.main`), which opens the window
  when given no subcommand.

It also runs unfrozen (``python packaging/entry.py ...``), which is how the tests check it.
"""

from __future__ import annotations

import multiprocessing
import sys

READER_FLAG = "--pdf-reader"


def main() -> int:
    # A frozen app must call this first: a process started by multiprocessing re-runs this
    # executable, and freeze_support() turns it into that worker instead of a second app.
    multiprocessing.freeze_support()
    if len(sys.argv) > 1 and sys.argv[1] == READER_FLAG:
        from grit_desktop.engine.documents.parsing import reader_main

        reader_main()
        return 0
    from grit_desktop.cli import main as cli_main

    return cli_main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
