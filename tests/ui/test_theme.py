from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from grit_desktop.ui.theme import apply_scheme, follow_system, is_dark


def test_the_palette_follows_the_system_scheme(qtbot: Any) -> None:
    qt = QApplication.instance()
    assert isinstance(qt, QApplication)
    before = qt.palette()
    try:
        apply_scheme(qt, Qt.ColorScheme.Dark)
        assert is_dark(qt.palette())
        apply_scheme(qt, Qt.ColorScheme.Light)
        assert not is_dark(qt.palette())
        follow_system(qt)
        # the system switching to dark (as the desktop's platform theme reports it)
        qt.styleHints().colorSchemeChanged.emit(Qt.ColorScheme.Dark)
        assert is_dark(qt.palette())
        qt.styleHints().colorSchemeChanged.emit(Qt.ColorScheme.Light)
        assert not is_dark(qt.palette())
    finally:
        qt.setPalette(before)
