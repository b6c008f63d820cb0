"""First-run model setup: choose a folder that holds the model, or download GritLM-7B.

Shown when the model cannot be found. A chosen folder is checked at once with
`grit_desktop.engine.grit.loading.check_files`, quick file checks on the GUI thread (the module
imports torch, which the engine's background import has usually loaded by then). The
download runs `grit_desktop.engine.grit.download.download` on a QThread of the dialog; the Hugging
Face library reports progress to `QtTqdm`, a stand-in for tqdm that it calls from its own
download threads, which passes it on as a queued Qt signal to the progress bar.

Cancel stops waiting at once. The Hub library cannot be told to stop, so `QtTqdm` raises at the
next progress report it gets, which usually ends the download within a chunk; until then it goes
on in the background. What was fetched is kept, and downloading again resumes where it stopped.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Iterable, Iterator, Sized
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol

from PySide6.QtCore import QCoreApplication, QObject, QThread, QTimer, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from grit_desktop.config import DEFAULT_MODEL
from grit_desktop.engine.grit.download import download
from grit_desktop.errors import GritError
from grit_desktop.ui.settings_dialog import FolderChooser

log = logging.getLogger(__name__)

EXPLANATION = (
    "grit-desktop reads your documents and answers your questions with one model, GritLM-7B, "
    "kept on this computer. Download it from Hugging Face (about 14 GB; an interrupted download "
    "resumes where it stopped), or choose a folder that already holds it."
)
_EMIT_EVERY_S = 0.1  # progress reaches the GUI at most this often (and on every 1 % step)


class DownloadFn(Protocol):
    def __call__(self, repo_id: str, tqdm_class: Any = ...) -> Path: ...


# ------------------------------------------------------------------------------------------------
# progress: a tqdm stand-in for the Hub library's threads, relayed to the GUI thread


class ProgressRelay(QObject):
    """Carries progress from download threads to the GUI thread (one relay per download).

    ``progressed`` is emitted on the download threads; connected to a GUI object it is queued.
    """

    progressed = Signal(int, str, str, float, float)  # bar id, description, unit, done, total

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.cancelled = threading.Event()


class DownloadStopped(Exception):
    """Raised into the Hub library's download when the user stopped waiting for it."""


class QtTqdm:
    """Accepts what ``huggingface_hub`` passes its ``tqdm_class`` and forwards the progress.

    Keyword arguments, a context manager, ``update``, ``close``, ``refresh``, the ``n``/``total``
    attributes, descriptions and postfixes; any thread may call it. Use a subclass bound to a
    relay (`tqdm_class_for`). ``disable=True`` silences a bar, as with tqdm.
    """

    relay: ClassVar[ProgressRelay | None] = None
    _ids: ClassVar[Iterator[int]] = itertools.count(1)

    def __init__(self, iterable: Iterable[Any] | None = None, desc: str | None = None,
                 total: float | None = None, *args: Any, initial: float = 0, unit: str = "it",
                 disable: bool | None = False, **kwargs: Any) -> None:
        self.iterable = iterable
        self.desc = desc or ""
        self.unit = unit
        self.disable = bool(disable)
        self.n: float = initial or 0
        if total is None and isinstance(iterable, Sized):
            total = len(iterable)
        self._total: float = total or 0
        self.format_dict: dict[str, Any] = {"rate": None}
        self._id = next(QtTqdm._ids)
        self._lock = threading.Lock()
        self._sent = (0.0, -1)  # (time, permille) of the last report
        self._report(force=True)

    @property
    def total(self) -> float:
        return self._total

    @total.setter
    def total(self, value: float | None) -> None:
        self._total = value or 0
        self._report(force=True)

    def update(self, n: float | None = 1) -> None:
        relay = type(self).relay
        if relay is not None and relay.cancelled.is_set():
            raise DownloadStopped("the download was stopped")
        with self._lock:
            self.n += n or 0
        self._report()

    def refresh(self, *args: Any, **kwargs: Any) -> None:
        self._report(force=True)

    def close(self) -> None:
        self._report(force=True)

    def clear(self, *args: Any, **kwargs: Any) -> None:
        pass

    def reset(self, total: float | None = None) -> None:
        self.n = 0
        if total is not None:
            self._total = total
        self._report(force=True)

    def set_description(self, desc: str | None = None, refresh: bool = True) -> None:
        self.desc = desc or ""

    def set_description_str(self, desc: str | None = None, refresh: bool = True) -> None:
        self.desc = desc or ""

    def set_postfix(self, *args: Any, **kwargs: Any) -> None:
        pass

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        pass

    @classmethod
    def write(cls, s: str, *args: Any, **kwargs: Any) -> None:
        log.info("%s", s)

    def __enter__(self) -> QtTqdm:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[Any]:
        for item in self.iterable or ():
            yield item
            self.update(1)

    def __len__(self) -> int:
        return int(self._total)

    def _report(self, force: bool = False) -> None:
        relay = type(self).relay
        if relay is None or self.disable or relay.cancelled.is_set():
            return
        with self._lock:
            n, total = self.n, self._total
            permille = int(1000 * n / total) if total else -1
            now = time.monotonic()
            last_time, last_permille = self._sent
            if not (force or n >= total > 0 or permille // 10 != last_permille // 10
                    or now - last_time >= _EMIT_EVERY_S):
                return
            self._sent = (now, permille)
        relay.progressed.emit(self._id, self.desc, self.unit, float(n), float(total))


def tqdm_class_for(relay: ProgressRelay) -> type[QtTqdm]:
    """A `QtTqdm` class whose bars report to ``relay``."""
    return type("BoundQtTqdm", (QtTqdm,), {"relay": relay})


@dataclass
class Bar:
    desc: str
    unit: str
    n: float
    total: float


def describe_progress(bars: Iterable[Bar]) -> tuple[int | None, str]:
    """(permille done, or None while unknown; words) for the bars reported so far.

    Bytes come first (the bar furthest along: the Hub library keeps one for bytes received and
    one for bytes written); a bar counting files is added in words.
    """
    bars = list(bars)
    sized = [b for b in bars if b.unit == "B" and b.total > 0]
    files = [b for b in bars if b.unit != "B" and b.total > 0]
    words = [f"{int(f.n)} of {int(f.total)} files" for f in files[-1:]]
    if sized:
        bar = max(sized, key=lambda b: b.n)
        words.insert(0, f"{_size(bar.n)} of {_size(bar.total)}")
        return min(int(1000 * bar.n / bar.total), 1000), ", ".join(words)
    if files:
        return min(int(1000 * files[-1].n / files[-1].total), 1000), words[0]
    return None, "Starting…"


def _size(n: float) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e9 else f"{n / 1e6:.0f} MB"


# ------------------------------------------------------------------------------------------------
# the download thread


class DownloadThread(QThread):
    """Runs one download; `succeeded` / `failed` are emitted on it and queued to the dialog."""

    succeeded = Signal(str)  # the repo id
    failed = Signal(str)  # why, for the user

    def __init__(self, fn: DownloadFn, repo_id: str, tqdm_class: type[QtTqdm],
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._fn, self._repo_id, self._tqdm_class = fn, repo_id, tqdm_class
        self.setObjectName("model-download")

    def run(self) -> None:
        """Download thread: only the download and signals, never a widget."""
        try:
            self._fn(self._repo_id, tqdm_class=self._tqdm_class)
        except GritError as exc:
            self.failed.emit(str(exc))
        except DownloadStopped:
            log.info("download of %s stopped", self._repo_id)
        except Exception as exc:  # a bug
            log.exception("download of %s failed", self._repo_id)
            self.failed.emit(f"cannot download {self._repo_id}: {exc}")
        else:
            self.succeeded.emit(self._repo_id)


class BackgroundDownloads(QObject):
    """Downloads the user stopped waiting for, kept until they end (a running QThread must live
    on after its dialog). One per application, as its child: `of` finds or makes it, and the
    application waits for them when it quits."""

    NAME = "grit-background-downloads"

    def __init__(self, app: QCoreApplication) -> None:
        super().__init__(app)
        self.setObjectName(self.NAME)
        self._threads: set[DownloadThread] = set()
        app.aboutToQuit.connect(self.wait)

    @classmethod
    def of(cls, app: QCoreApplication | None = None) -> BackgroundDownloads:
        app = app or QCoreApplication.instance()
        if app is None:
            raise RuntimeError("no Qt application")
        found = app.findChild(cls, cls.NAME)
        return found if isinstance(found, cls) else cls(app)

    def keep(self, thread: DownloadThread) -> None:
        """Keep ``thread`` alive after its dialog is gone, until it finishes (or the app quits)."""
        thread.setParent(None)
        self._threads.add(thread)
        thread.finished.connect(lambda: QTimer.singleShot(0, self._prune))

    def running(self) -> int:
        """How many are still running."""
        return sum(1 for t in self._threads if t.isRunning())

    def wait(self, timeout_ms: int = 5000) -> bool:
        """Wait for them to end (at quit); True when none is left."""
        deadline = time.monotonic() + timeout_ms / 1000
        for thread in list(self._threads):
            thread.wait(max(0, int((deadline - time.monotonic()) * 1000)))
        self._prune()
        return not self._threads

    def _prune(self) -> None:
        self._threads.difference_update({t for t in self._threads if t.isFinished()})


# ------------------------------------------------------------------------------------------------
# the dialog


class ModelSetupDialog(QDialog):
    """Asks for the model: a checked folder, or a download. GUI thread only."""

    def __init__(self, parent: QWidget | None = None, *, problem: str = "",
                 repo_id: str = DEFAULT_MODEL, download_fn: DownloadFn = download,
                 choose_folder: FolderChooser | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Set up the model")
        self._repo_id = repo_id
        self._download_fn = download_fn
        self._choose: FolderChooser = choose_folder or QFileDialog.getExistingDirectory
        self._chosen = ""
        self._thread: DownloadThread | None = None
        self._relay: ProgressRelay | None = None
        self._bars: dict[int, Bar] = {}
        self._build(problem)

    # -- public API --------------------------------------------------------------------------

    def chosen_model(self) -> str:
        """The folder or repo id to use, once accepted ("" before)."""
        return self._chosen

    def error(self) -> str:
        """The problem shown in the dialog, "" when none."""
        return "" if self._error.isHidden() else self._error.text()

    def status(self) -> str:
        return self._status.text()

    def is_downloading(self) -> bool:
        return self._thread is not None

    def progress_bar(self) -> QProgressBar:
        return self._progress

    def choose_folder(self) -> None:
        """Ask for a folder and accept it if it holds a usable model; say why not otherwise."""
        folder = self._choose(self, "Choose the folder that holds the model", str(Path.home()))
        if not folder:
            return
        from grit_desktop.engine.grit.loading import check_files  # loads torch: only when needed

        try:
            check_files(Path(folder))
        except GritError as exc:
            self._show_error(str(exc))
            return
        self._chosen = folder
        self.accept()

    def start_download(self) -> None:
        """Start the download on its own thread; progress, success and failure come back queued."""
        if self._thread is not None:
            return
        self._show_error("")
        self._bars.clear()
        self._relay = ProgressRelay(self)
        self._relay.progressed.connect(self._progressed)
        self._thread = DownloadThread(self._download_fn, self._repo_id,
                                      tqdm_class_for(self._relay), self)
        self._thread.succeeded.connect(self._download_succeeded)
        self._thread.failed.connect(self._download_failed)
        self._set_downloading(True)
        self._status.setText(f"Downloading {self._repo_id}… If it is interrupted, downloading "
                             "again resumes where it stopped.")
        self._thread.start()

    def stop_waiting(self) -> None:
        """Stop waiting for the download; it ends at its next progress report, or in the background."""
        if self._thread is None:
            return
        self._release_thread()
        self._set_downloading(False)
        self._status.setText(
            "Stopped waiting for the download. It may go on in the background for a little "
            "while; what it fetched is kept, and downloading again resumes where it stopped.")

    def done(self, result: int) -> None:
        self._release_thread()
        super().done(result)

    # -- building ----------------------------------------------------------------------------

    def _build(self, problem: str) -> None:
        layout = QVBoxLayout(self)
        intro = QLabel(EXPLANATION)
        intro.setWordWrap(True)
        layout.addWidget(intro)
        if problem:
            reason = QLabel(problem)
            reason.setObjectName("problem")
            reason.setWordWrap(True)
            reason.setEnabled(False)
            layout.addWidget(reason)
        layout.addLayout(self._choices())
        self._progress = QProgressBar()
        self._progress.setRange(0, 1000)
        self._progress.setTextVisible(False)
        self._progress.hide()
        self._status = QLabel()
        self._status.setObjectName("status")
        self._status.setWordWrap(True)
        self._error = QLabel()
        self._error.setObjectName("error")
        self._error.setWordWrap(True)
        self._error.setStyleSheet("color: #b00020;")
        self._error.hide()
        for widget in (self._progress, self._status, self._error):
            layout.addWidget(widget)
        layout.addWidget(self._bottom_buttons())

    def _choices(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.folder_button = QPushButton("Choose a folder…")
        self.folder_button.clicked.connect(self.choose_folder)
        name = self._repo_id.rsplit("/", 1)[-1]
        self.download_button = QPushButton(f"Download {name}")
        self.download_button.setToolTip(f"Fetch {self._repo_id} from the Hugging Face hub")
        self.download_button.clicked.connect(self.start_download)
        row.addWidget(self.folder_button)
        row.addWidget(self.download_button)
        return row

    def _bottom_buttons(self) -> QDialogButtonBox:
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.cancel_button = QPushButton("Cancel download")
        self.cancel_button.setToolTip("Stop waiting; the download may finish in the background")
        self.cancel_button.clicked.connect(self.stop_waiting)
        self.cancel_button.hide()
        buttons.addButton(self.cancel_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        return buttons

    # -- download results (queued from the download thread) ----------------------------------

    def _progressed(self, bar_id: int, desc: str, unit: str, n: float, total: float) -> None:
        self._bars[bar_id] = Bar(desc, unit, n, total)
        permille, words = describe_progress(self._bars.values())
        if permille is None:
            self._progress.setRange(0, 0)  # busy until the sizes are known
        else:
            self._progress.setRange(0, 1000)
            self._progress.setValue(permille)
        self._progress.setToolTip(words)
        self._status.setText(f"Downloading {self._repo_id}: {words}. If it is interrupted, "
                             "downloading again resumes where it stopped.")

    def _download_succeeded(self, repo_id: str) -> None:
        self._end_thread()
        self._chosen = repo_id
        self._set_downloading(False)
        self.accept()

    def _download_failed(self, message: str) -> None:
        self._end_thread()
        self._set_downloading(False)
        self._status.setText("")
        self._show_error(f"{message[:1].upper()}{message[1:]}")

    # -- helpers -----------------------------------------------------------------------------

    def _end_thread(self) -> None:
        """The download reported its end: let its thread return (it is about to) and forget it."""
        if self._thread is not None:
            self._thread.wait(5000)
        self._thread = self._relay = None

    def _release_thread(self) -> None:
        """Disconnect a running download from this dialog and let it end on its own."""
        thread, relay = self._thread, self._relay
        self._thread = self._relay = None
        if relay is not None:
            relay.cancelled.set()
            relay.progressed.disconnect(self._progressed)
        if thread is not None:
            thread.succeeded.disconnect(self._download_succeeded)
            thread.failed.disconnect(self._download_failed)
            if thread.isRunning():
                BackgroundDownloads.of().keep(thread)

    def _set_downloading(self, downloading: bool) -> None:
        self.folder_button.setEnabled(not downloading)
        self.download_button.setEnabled(not downloading)
        self.cancel_button.setVisible(downloading)
        self._progress.setVisible(downloading)
        if downloading:
            self._progress.setRange(0, 0)

    def _show_error(self, text: str) -> None:
        self._error.setText(text)
        self._error.setVisible(bool(text))
