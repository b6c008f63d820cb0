"""The settings dialog: one editor per field of `Settings`, built from the dataclass itself.

Each field's editor follows its type (a ``Literal`` gives a list of its choices, ``int`` a spin
box, ``float`` a decimal spin box, ``str`` a line), with the field's description as tooltip and
as a help line. Fields are grouped as below; a field added to `Settings` later appears under
"Other" without a change here. OK checks the values with `Settings.validate` and shows what is
wrong in the dialog, which stays open until the values are valid.

Everything here runs on the GUI thread.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, get_args, get_origin, get_type_hints

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractButton,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from grit_desktop.config import Settings
from grit_desktop.errors import ConfigError

#: Picks a folder: (parent, caption, start folder) -> the folder, or "" when cancelled.
FolderChooser = Callable[[QWidget, str, str], str]

GROUPS: dict[str, tuple[str, ...]] = {
    "Model": ("model", "device", "quantization", "compile_decoding"),
    "Answers": ("top_k", "temperature", "top_p", "max_new_tokens", "cache_mode"),
    "Library": ("chunk_tokens", "chunk_overlap_tokens", "embed_max_tokens", "embed_batch_tokens",
                "kv_cache_mb", "watch_folders"),
}
LABELS = {
    "model": "Model", "device": "Device", "quantization": "Weights",
    "compile_decoding": "Compiled decoding",
    "top_k": "Passages per question", "temperature": "Temperature", "top_p": "Top-p",
    "max_new_tokens": "Longest answer", "cache_mode": "GRIT caching",
    "chunk_tokens": "Passage length", "chunk_overlap_tokens": "Passage overlap",
    "embed_max_tokens": "Longest embedded text", "embed_batch_tokens": "Embedding batch",
    "kv_cache_mb": "Passage cache", "watch_folders": "Watch added folders",
}
#: (minimum, maximum, step, suffix) of number fields; others get `_ANY_INT` / `_ANY_FLOAT`.
RANGES: dict[str, tuple[float, float, float, str]] = {
    "top_k": (1, 50, 1, " passages"),
    "temperature": (0.0, 5.0, 0.1, ""),
    "top_p": (0.01, 1.0, 0.05, ""),
    "max_new_tokens": (1, 32_768, 64, " tokens"),
    "chunk_tokens": (16, 32_768, 64, " tokens"),
    "chunk_overlap_tokens": (0, 32_768, 16, " tokens"),
    "embed_max_tokens": (16, 131_072, 256, " tokens"),
    "embed_batch_tokens": (0, 10_000_000, 1024, " tokens"),
    "kv_cache_mb": (1, 1_048_576, 256, " MiB"),
}
_ANY_INT = (-2**31 + 1, 2**31 - 1, 1, "")
_ANY_FLOAT = (-1e12, 1e12, 0.1, "")
#: Spin box text for a value of 0 that means "choose for me".
AUTO_ZERO = {"embed_batch_tokens": "auto (from the device)"}


@dataclass(frozen=True)
class Editor:
    """One field's editor: its widget, and how to read and set its value."""

    name: str
    widget: QWidget
    get: Callable[[], Any]
    set: Callable[[Any], None]


class SettingsDialog(QDialog):
    """Edits a copy of `Settings`; `settings()` gives the edited values once accepted."""

    def __init__(self, settings: Settings, parent: QWidget | None = None, *,
                 choose_folder: FolderChooser | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self._settings = settings
        self._choose_folder: FolderChooser = choose_folder or QFileDialog.getExistingDirectory
        self._hints = get_type_hints(Settings)
        self._editors: dict[str, Editor] = {}
        self._error = QLabel()
        self._error.setObjectName("error")
        self._error.setWordWrap(True)
        self._error.setStyleSheet("color: #b00020;")
        self._error.hide()
        self._buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                         | QDialogButtonBox.StandardButton.Cancel
                                         | QDialogButtonBox.StandardButton.RestoreDefaults)
        self._buttons.accepted.connect(self.accept)
        self._buttons.rejected.connect(self.reject)
        self._buttons.clicked.connect(self._clicked)
        self._build()
        self._show_values(settings)

    # -- public API --------------------------------------------------------------------------

    def settings(self) -> Settings:
        """The accepted settings (the ones given, until OK was pressed with valid values)."""
        return self._settings

    def editor(self, name: str) -> QWidget:
        """The widget that edits field ``name``."""
        return self._editors[name].widget

    def error(self) -> str:
        """The problem shown in the dialog, "" when none."""
        return "" if self._error.isHidden() else self._error.text()

    def button(self, which: QDialogButtonBox.StandardButton) -> QPushButton:
        return self._buttons.button(which)

    def accept(self) -> None:
        """Keep the values and close, or show why they are not valid and stay open."""
        try:
            edited = self._edited()
        except ConfigError as exc:
            self._show_error(str(exc))
            return
        self._settings = edited
        self._show_error("")
        super().accept()

    def restore_defaults(self) -> None:
        """Put every field back to its default (kept only if OK is pressed)."""
        self._show_values(Settings())
        self._show_error("")

    # -- building ----------------------------------------------------------------------------

    def _build(self) -> None:
        """The groups of fields in a scroll area (a laptop's screen is shorter than all of them
        with their help), the error and the buttons below it, always in view."""
        fields = QWidget()
        column = QVBoxLayout(fields)
        column.setContentsMargins(0, 0, 0, 0)
        help_texts = Settings.describe()
        grouped = {name for names in GROUPS.values() for name in names}
        others = tuple(name for name in help_texts if name not in grouped)
        for title, names in [*GROUPS.items(), ("Other", others)]:
            present = [n for n in names if n in help_texts]
            if present:
                column.addWidget(self._group(title, present, help_texts))
        column.addStretch(1)
        scroll = QScrollArea()
        scroll.setObjectName("fields")
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(fields)
        # as wide as the fields want (no sideways scrolling), plus room for the scroll bar
        scroll.setMinimumWidth(fields.sizeHint().width()
                               + scroll.verticalScrollBar().sizeHint().width())
        layout = QVBoxLayout(self)
        layout.addWidget(scroll, 1)
        layout.addWidget(self._error)
        layout.addWidget(self._buttons)
        self._fit_to_screen(fields)

    def _fit_to_screen(self, fields: QWidget) -> None:
        """Tall enough for every field where the screen allows, at most 90% of its height."""
        parent = self.parentWidget()
        screen = parent.screen() if parent is not None else self.screen()
        room = screen.availableGeometry().height() * 9 // 10 if screen is not None else 800
        wanted = fields.sizeHint().height() + self._buttons.sizeHint().height() + 48
        self.resize(self.sizeHint().width(), min(wanted, room))

    def _group(self, title: str, names: list[str], help_texts: dict[str, str]) -> QGroupBox:
        box = QGroupBox(title)
        form = QFormLayout(box)
        for name in names:
            editor = self._make_editor(name)
            self._editors[name] = editor
            label = QLabel(LABELS.get(name, name.replace("_", " ").capitalize()))
            label.setToolTip(help_texts[name])
            label.setBuddy(editor.widget)
            form.addRow(label, self._with_help(editor, help_texts[name]))
        return box

    def _with_help(self, editor: Editor, text: str) -> QWidget:
        editor.widget.setToolTip(text)
        help_label = QLabel(text)
        help_label.setObjectName(f"help_{editor.name}")
        help_label.setWordWrap(True)
        help_label.setEnabled(False)  # drawn in the muted colour of the style
        font = help_label.font()
        font.setPointSizeF(font.pointSizeF() * 0.9)
        help_label.setFont(font)
        cell = QWidget()
        column = QVBoxLayout(cell)
        column.setContentsMargins(0, 0, 0, 4)
        column.setSpacing(1)
        column.addWidget(self._model_row(editor) if editor.name == "model" else editor.widget)
        column.addWidget(help_label)
        return cell

    def _model_row(self, editor: Editor) -> QWidget:
        row = QWidget()
        line = QHBoxLayout(row)
        line.setContentsMargins(0, 0, 0, 0)
        line.addWidget(editor.widget, 1)
        browse = QPushButton("Browse…")
        browse.setObjectName("browse_model")
        browse.setToolTip("Choose the folder that holds the model")
        browse.clicked.connect(self._browse_model)
        line.addWidget(browse)
        return row

    def _make_editor(self, name: str) -> Editor:
        hint = self._hints[name]
        if get_origin(hint) is Literal:
            return _choice_editor(name, [str(c) for c in get_args(hint)])
        if hint is bool:
            box = QCheckBox()
            return Editor(name, box, box.isChecked, lambda v: box.setChecked(bool(v)))
        if hint is int:
            return _int_editor(name, RANGES.get(name, _ANY_INT))
        if hint is float:
            return _float_editor(name, RANGES.get(name, _ANY_FLOAT))
        line = QLineEdit()
        return Editor(name, line, lambda: line.text().strip(), lambda v: line.setText(str(v)))

    # -- values ------------------------------------------------------------------------------

    def _show_values(self, settings: Settings) -> None:
        for name, editor in self._editors.items():
            editor.set(getattr(settings, name))

    def _edited(self) -> Settings:
        """The values in the editors as `Settings`; `ConfigError` when they are not valid."""
        values = {name: editor.get() for name, editor in self._editors.items()}
        if not values.get("model", "x"):
            raise ConfigError("choose a model: a folder, or a Hugging Face id such as GritLM/GritLM-7B")
        edited = dataclasses.replace(self._settings, **values)
        edited.validate()
        return edited

    def _show_error(self, text: str) -> None:
        self._error.setText(text)
        self._error.setVisible(bool(text))

    def _clicked(self, button: QAbstractButton) -> None:
        if button is self._buttons.button(QDialogButtonBox.StandardButton.RestoreDefaults):
            self.restore_defaults()

    def _browse_model(self) -> None:
        editor = self._editors["model"]
        folder = self._choose_folder(self, "Choose the model folder", str(editor.get()))
        if folder:
            editor.set(folder)


def _choice_editor(name: str, choices: list[str]) -> Editor:
    box = QComboBox()
    box.addItems(choices)

    def set_value(value: Any) -> None:
        index = box.findText(str(value))
        if index < 0:  # a value from elsewhere that is not a choice: show it, validate says why
            box.addItem(str(value))
            index = box.count() - 1
        box.setCurrentIndex(index)

    return Editor(name, box, box.currentText, set_value)


def _int_editor(name: str, spec: tuple[float, float, float, str]) -> Editor:
    low, high, step, suffix = spec
    box = QSpinBox()
    box.setRange(int(low), int(high))
    box.setSingleStep(int(step))
    box.setSuffix(suffix)
    box.setGroupSeparatorShown(True)
    if name in AUTO_ZERO:
        box.setSpecialValueText(AUTO_ZERO[name])

    def set_value(value: Any) -> None:
        box.setRange(min(int(low), int(value)), max(int(high), int(value)))
        box.setValue(int(value))

    return Editor(name, box, box.value, set_value)


def _float_editor(name: str, spec: tuple[float, float, float, str]) -> Editor:
    low, high, step, suffix = spec
    box = QDoubleSpinBox()
    box.setDecimals(2)
    box.setRange(low, high)
    box.setSingleStep(step)
    box.setSuffix(suffix)

    def set_value(value: Any) -> None:
        box.setRange(min(low, float(value)), max(high, float(value)))
        box.setValue(float(value))

    return Editor(name, box, box.value, set_value)
