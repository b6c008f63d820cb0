"""Finding the documents under what the user gave (files and folders). No heavy imports: the
window lists dropped files with it at once, before the engine has started."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from pathlib import Path

from grit_desktop.engine.documents.formats import is_supported
from grit_desktop.engine.index.events import FileResult

log = logging.getLogger(__name__)


def find_documents(paths: Iterable[str | os.PathLike[str]]) -> tuple[list[Path], list[FileResult]]:
    """Documents under ``paths`` (files taken as given, folders searched recursively).

    Returns the files, in a stable order without duplicates, and an error result for each input
    that does not exist. Symbolic links are followed, but a folder is never entered twice, so
    link loops end. From folders, only files of a supported format are taken (by extension, any
    case: `formats.SUPPORTED_EXTENSIONS`); a file named explicitly is taken whatever its name
    (one the reader cannot read is then reported with its reason).
    """
    found: list[Path] = []
    errors: list[FileResult] = []
    seen_files: set[Path] = set()
    seen_dirs: set[tuple[int, int]] = set()

    def add(file: Path) -> None:
        real = file.resolve()
        if real not in seen_files:
            seen_files.add(real)
            found.append(file.absolute())

    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            _walk(path, add, seen_dirs)
        elif path.is_file():
            add(path)
        else:
            reason = "no such file or folder" if not path.exists() else "not a regular file"
            errors.append(FileResult(str(path), "error", reason=f"{path}: {reason}"))
    return found, errors


def _walk(folder: Path, add: Callable[[Path], None], seen_dirs: set[tuple[int, int]]) -> None:
    try:
        st = folder.stat()
    except OSError:
        return
    key = (st.st_dev, st.st_ino)
    if key in seen_dirs:
        return
    seen_dirs.add(key)
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as exc:
        log.warning("cannot list %s: %s", folder, exc.strerror)
        return
    for entry in entries:
        try:
            if entry.is_dir():
                _walk(Path(entry.path), add, seen_dirs)
            elif entry.is_file() and is_supported(entry.name):
                add(Path(entry.path))
        except OSError:
            continue

