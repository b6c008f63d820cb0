"""Light and dark, following the system.

Qt's Fusion style takes its colours from the platform theme. Where the platform reports a dark
colour scheme but gives no dark palette (plain X11, some desktops), a dark palette is set here;
the app's style sheet only uses palette roles, so it follows either way. Runs on the GUI thread.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

_DARK = {
    QPalette.ColorRole.Window: "#2b2d30",
    QPalette.ColorRole.WindowText: "#e6e6e6",
    QPalette.ColorRole.Base: "#1f2023",
    QPalette.ColorRole.AlternateBase: "#34363a",
    QPalette.ColorRole.Text: "#e6e6e6",
    QPalette.ColorRole.PlaceholderText: "#9a9a9a",
    QPalette.ColorRole.Button: "#3a3c40",
    QPalette.ColorRole.ButtonText: "#e6e6e6",
    QPalette.ColorRole.ToolTipBase: "#3a3c40",
    QPalette.ColorRole.ToolTipText: "#e6e6e6",
    QPalette.ColorRole.Highlight: "#3d74c8",
    QPalette.ColorRole.HighlightedText: "#ffffff",
    QPalette.ColorRole.Link: "#7fb0ff",
    QPalette.ColorRole.Mid: "#55585d",
}


def dark_palette() -> QPalette:
    palette = QPalette()
    for role, colour in _DARK.items():
        palette.setColor(role, QColor(colour))
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor("#7a7a7a"))
    return palette


def is_dark(palette: QPalette) -> bool:
    return palette.color(QPalette.ColorRole.Window).lightness() < 128


def apply_scheme(qt: QApplication, scheme: Qt.ColorScheme) -> None:
    """Make the palette dark for a dark scheme and light otherwise (if it is not already)."""
    want_dark = scheme == Qt.ColorScheme.Dark
    if want_dark and not is_dark(qt.palette()):
        qt.setPalette(dark_palette())
    elif not want_dark and is_dark(qt.palette()):
        qt.setPalette(qt.style().standardPalette())


def follow_system(qt: QApplication) -> None:
    """Apply the system's colour scheme now and whenever it changes."""
    hints = qt.styleHints()
    hints.colorSchemeChanged.connect(lambda scheme: apply_scheme(qt, scheme))
    apply_scheme(qt, hints.colorScheme())
