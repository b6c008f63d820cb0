"""Starting the desktop app: the window first, the engine behind it.

The window is built from light modules and shown at once; torch, transformers and LanceDB are
imported on a background thread, then the engine worker starts and loads the model. Whatever
goes wrong unexpectedly is written with its traceback to ``grit-desktop.log`` in the data
folder and shown in the window in one line; the window never just vanishes.
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
import threading
import time
import traceback
from pathlib import Path
from types import TracebackType
from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QDialog

from grit_desktop import APP_NAME, __version__
from grit_desktop.config import Settings, data_dir, load_settings
from grit_desktop.errors import ConfigError
from grit_desktop.ui import commands as cmd
from grit_desktop.ui.main_window import MainWindow
from grit_desktop.ui.theme import follow_system
from grit_desktop.ui.wiring import Dispatcher, EngineLoader, connect_window, connect_worker

log = logging.getLogger(__name__)
RESOURCES = Path(__file__).resolve().parents[2] / "resources"
LOG_FILE = "grit-desktop.log"

STYLE = """
QFrame#question { background: palette(alternate-base); border-radius: 8px; }
QFrame#answer { background: palette(base); border: 1px solid palette(mid); border-radius: 8px; }
QFrame#messageBar { background: palette(highlight); color: palette(highlighted-text); }
QFrame#messageBar QLabel { color: palette(highlighted-text); }
QLabel#placeholder { color: palette(placeholder-text); font-size: 14px; }
QLabel#messageStatus, QLabel#sourcesTitle { color: palette(placeholder-text); }
QPushButton#sourceButton { padding: 2px 4px; }
"""


class App(QObject):
    """The running application: window, dispatcher, engine worker (once imported).

    A QObject living on the GUI thread, so that worker signals connected to its methods are
    delivered there (queued), never run on the worker thread.
    """

    def __init__(self, qt: QApplication, home: Path, settings: Settings) -> None:
        super().__init__()
        self.qt = qt
        self.home = home
        self.settings = settings
        self.window = MainWindow()
        self.dispatch = Dispatcher()
        connect_window(self.window, self.dispatch)
        self.window.settingsRequested.connect(self.edit_settings)
        self.window.modelSetupRequested.connect(lambda: self.setup_model(""))
        self.window.watch_choice = settings.watch_folders
        self.window.viewer_cache = home / "cache" / "viewer"  # this data folder's, as --data-dir says
        self.window.watchChoiceRemembered.connect(self._remember_watch_choice)
        self.worker: Any = None
        self.loader = EngineLoader()
        self.loader.loaded.connect(self.start_engine)
        self.loader.failed.connect(self.window.on_failed)

    def start(self, paths: list[str]) -> None:
        self.window.show()
        self.loader.start()
        if paths:
            self.window.ingest(paths)

    def start_engine(self) -> None:
        from grit_desktop.ui.worker import EngineWorker

        self.worker = EngineWorker(self.home, self.settings)
        connect_worker(self.worker, self.window)
        queued = Qt.ConnectionType.QueuedConnection
        self.worker.modelMissing.connect(self.setup_model, queued)
        self.worker.settingsApplied.connect(self._settings_applied, queued)
        self.worker.start()
        s = self.settings
        self.dispatch.submit(cmd.LoadModel(s.model, s.device, s.quantization))
        self.dispatch.attach(self.worker)

    def edit_settings(self) -> None:
        from grit_desktop.ui.settings_dialog import SettingsDialog

        dialog = SettingsDialog(self.settings, self.window)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.dispatch.submit(cmd.ApplySettings(dialog.settings()))

    def setup_model(self, reason: str) -> None:
        from grit_desktop.ui.model_setup import ModelSetupDialog

        if reason:
            self.window.on_model_failed(reason)
        dialog = ModelSetupDialog(self.window, problem=reason)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.dispatch.submit(cmd.ApplySettings(self.settings.replace(model=dialog.chosen_model())))

    def _remember_watch_choice(self, choice: str) -> None:
        self.dispatch.submit(cmd.ApplySettings(self.settings.replace(watch_folders=choice)))

    def _settings_applied(self, settings: Settings) -> None:
        self.settings = settings
        self.window.watch_choice = settings.watch_folders

    def shutdown(self) -> None:
        if self.worker is not None:
            self.worker.shutdown()


def run(paths: list[str], data_dir_arg: str | None = None,
        overrides: dict[str, str] | None = None) -> int:
    """Open the window (adding ``paths`` to the library) and run until it is closed.

    ``overrides`` (model, device, quantization from the command line) hold for this run.
    """
    t0 = time.perf_counter()
    qt = QApplication.instance() or QApplication([sys.argv[0]])
    assert isinstance(qt, QApplication)
    qt.setApplicationName(APP_NAME)
    qt.setApplicationVersion(__version__)
    qt.setDesktopFileName(APP_NAME)
    qt.setStyle("Fusion")
    follow_system(qt)
    qt.setStyleSheet(STYLE)
    icon = RESOURCES / "icon.svg"
    if icon.exists():
        qt.setWindowIcon(QIcon(str(icon)))
    home = data_dir(data_dir_arg)
    _log_to_file(home)
    try:
        settings = load_settings(home).replace(**(overrides or {}))
        problem = ""
    except ConfigError as exc:
        settings, problem = Settings().replace(**(overrides or {})), f"{exc}; using the default settings."
    app = App(qt, home, settings)
    _install_excepthook(app.window, home)
    app.start(paths)
    if problem:
        app.window.show_message(problem)
    QTimer.singleShot(0, lambda: log.info("window shown %.2f s after start", time.perf_counter() - t0))
    try:
        return int(qt.exec())
    finally:
        app.shutdown()


def _log_to_file(home: Path) -> None:
    handler = logging.handlers.RotatingFileHandler(home / LOG_FILE, maxBytes=2_000_000, backupCount=2,
                                                   encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)


class _Reporter(QObject):
    """Carries a message from any thread to the window (a queued signal)."""

    message = Signal(str)


def _install_excepthook(window: MainWindow, home: Path) -> None:
    """Unexpected errors: full traceback to the log file, one readable line in the window."""
    reporter = _Reporter(window)
    reporter.message.connect(window.show_message, Qt.ConnectionType.QueuedConnection)

    def report(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        log.error("unexpected error:\n%s", "".join(traceback.format_exception(kind, exc, tb)))
        reporter.message.emit(f"Unexpected error: {exc}. The details are in {home / LOG_FILE}; "
                              "your documents and chats are safe.")

    sys.excepthook = report

    def thread_hook(args: threading.ExceptHookArgs) -> None:
        report(args.exc_type, args.exc_value or args.exc_type(), args.exc_traceback)

    threading.excepthook = thread_hook
