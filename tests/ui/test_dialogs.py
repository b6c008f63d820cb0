"""The settings dialog and the first-run model setup, driven through their buttons.

Dialogs are not shown as windows (the offscreen platform warns when a top-level window with a
layout is shown); "stays open" is checked as "did not finish". Downloads are fakes that report
progress the way the Hugging Face library does and wait where the test needs them to.
"""

from __future__ import annotations

import dataclasses
import sys
import threading
from pathlib import Path
from typing import Any, Literal, get_args, get_origin, get_type_hints

import pytest
from PySide6.QtCore import QPoint, QRect, QRegularExpression
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QGroupBox,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QWidget,
)

from grit_desktop.config import DEFAULT_MODEL, Settings
from grit_desktop.engine.grit.download import DownloadError
from grit_desktop.ui.model_setup import (
    BackgroundDownloads,
    Bar,
    DownloadStopped,
    ModelSetupDialog,
    ProgressRelay,
    describe_progress,
    tqdm_class_for,
)
from grit_desktop.ui.settings_dialog import GROUPS, SettingsDialog

Ok = QDialogButtonBox.StandardButton.Ok
RestoreDefaults = QDialogButtonBox.StandardButton.RestoreDefaults


# ------------------------------------------------------------------------------------------------
# settings


@pytest.fixture
def settings_dialog(qtbot: Any) -> SettingsDialog:
    dialog = SettingsDialog(Settings(), choose_folder=lambda *_: "/models/picked")
    qtbot.addWidget(dialog)
    return dialog


def group_of(widget: QWidget) -> str:
    parent = widget.parentWidget()
    while parent is not None and not isinstance(parent, QGroupBox):
        parent = parent.parentWidget()
    return parent.title() if parent is not None else ""


def test_every_field_has_an_editor_of_its_type_with_its_description(settings_dialog: SettingsDialog) -> None:
    hints = get_type_hints(Settings)
    described = Settings.describe()
    expected_group = {name: title for title, names in GROUPS.items() for name in names}
    for field in dataclasses.fields(Settings):
        editor = settings_dialog.editor(field.name)
        assert editor.toolTip() == described[field.name]
        help_label = settings_dialog.findChild(QLabel, f"help_{field.name}")
        assert help_label is not None and help_label.text() == described[field.name]
        assert group_of(editor) == expected_group.get(field.name, "Other")
        hint = hints[field.name]
        if get_origin(hint) is Literal:
            assert isinstance(editor, QComboBox)
            assert [editor.itemText(i) for i in range(editor.count())] == list(get_args(hint))
        else:
            kind = {int: QSpinBox, float: QDoubleSpinBox, str: QLineEdit}[hint]
            assert isinstance(editor, kind), field.name
    assert settings_dialog.findChild(QPushButton, "browse_model") is not None
    assert settings_dialog.error() == ""


def edit(dialog: SettingsDialog, **values: Any) -> None:
    for name, value in values.items():
        editor = dialog.editor(name)
        if isinstance(editor, QComboBox):
            editor.setCurrentText(value)
        elif isinstance(editor, QLineEdit):
            editor.setText(value)
        else:
            assert isinstance(editor, QSpinBox | QDoubleSpinBox)
            editor.setValue(value)


def test_on_a_short_screen_the_fields_scroll_and_no_help_text_is_cut(qtbot: Any) -> None:
    """A laptop's screen is shorter than every field with its help: the fields scroll, each
    help text keeps the height it needs, and OK and Cancel stay in view."""
    dialog = SettingsDialog(Settings())
    qtbot.addWidget(dialog)
    dialog.resize(760, 480)
    dialog.show()
    qtbot.waitExposed(dialog)
    helps = dialog.findChildren(QLabel, QRegularExpression("^help_"))
    assert len(helps) == len(Settings.describe())
    cut = [label.objectName() for label in helps
           if label.height() < label.heightForWidth(label.width())]
    assert cut == []
    ok = dialog.button(QDialogButtonBox.StandardButton.Ok)
    assert ok.isVisible() and dialog.rect().contains(QRect(ok.mapTo(dialog, QPoint(0, 0)), ok.size()))
    assert dialog.height() <= 480


def test_edited_values_are_returned_on_ok(settings_dialog: SettingsDialog, qtbot: Any) -> None:
    changes = {"model": "/models/GritLM-7B", "device": "cpu", "quantization": "none", "top_k": 7,
               "temperature": 0.7, "top_p": 0.8, "max_new_tokens": 300, "cache_mode": "query-doc",
               "chunk_tokens": 256, "chunk_overlap_tokens": 32, "embed_max_tokens": 1024,
               "embed_batch_tokens": 8192, "kv_cache_mb": 512, "watch_folders": "always",
               "compile_decoding": "off"}
    assert set(changes) == {f.name for f in dataclasses.fields(Settings)}  # a new field: add it here
    edit(settings_dialog, **changes)
    with qtbot.waitSignal(settings_dialog.accepted, timeout=1000):
        settings_dialog.button(Ok).click()
    assert settings_dialog.result() == QDialog.DialogCode.Accepted
    assert settings_dialog.settings() == Settings(**changes)


def test_an_invalid_combination_is_explained_and_the_dialog_stays_open(
        settings_dialog: SettingsDialog, qtbot: Any) -> None:
    edit(settings_dialog, chunk_tokens=256, chunk_overlap_tokens=256, top_k=9)
    with qtbot.assertNotEmitted(settings_dialog.finished):
        settings_dialog.button(Ok).click()
    assert "chunk_overlap_tokens must be smaller than chunk_tokens" in settings_dialog.error()
    assert not settings_dialog.findChild(QLabel, "error").isHidden()
    assert settings_dialog.settings() == Settings()  # nothing taken yet

    edit(settings_dialog, chunk_overlap_tokens=16)
    with qtbot.waitSignal(settings_dialog.accepted, timeout=1000):
        settings_dialog.button(Ok).click()
    assert settings_dialog.error() == ""
    assert settings_dialog.settings() == Settings(chunk_tokens=256, chunk_overlap_tokens=16, top_k=9)


def test_an_empty_model_is_refused(settings_dialog: SettingsDialog, qtbot: Any) -> None:
    edit(settings_dialog, model="  ")
    with qtbot.assertNotEmitted(settings_dialog.finished):
        settings_dialog.button(Ok).click()
    assert "choose a model" in settings_dialog.error()


def test_restore_defaults_puts_every_field_back(qtbot: Any) -> None:
    custom = Settings(model="/somewhere", device="cpu", top_k=9, temperature=1.5, cache_mode="none",
                      embed_batch_tokens=4096, kv_cache_mb=100)
    dialog = SettingsDialog(custom)
    qtbot.addWidget(dialog)
    assert dialog.editor("top_k").value() == 9  # type: ignore[attr-defined]
    dialog.button(RestoreDefaults).click()
    assert dialog.editor("top_k").value() == Settings().top_k  # type: ignore[attr-defined]
    assert dialog.editor("model").text() == DEFAULT_MODEL  # type: ignore[attr-defined]
    assert dialog.settings() == custom  # not taken until OK
    with qtbot.waitSignal(dialog.accepted, timeout=1000):
        dialog.button(Ok).click()
    assert dialog.settings() == Settings()


def test_cancel_keeps_the_settings_given(qtbot: Any) -> None:
    custom = Settings(top_k=9)
    dialog = SettingsDialog(custom)
    qtbot.addWidget(dialog)
    edit(dialog, top_k=3)
    dialog.reject()
    assert dialog.settings() == custom


def test_browse_puts_the_chosen_folder_in_the_model_field(settings_dialog: SettingsDialog) -> None:
    settings_dialog.findChild(QPushButton, "browse_model").click()
    assert settings_dialog.editor("model").text() == "/models/picked"  # type: ignore[attr-defined]


# ------------------------------------------------------------------------------------------------
# model setup: a folder


def setup_dialog(qtbot: Any, **kwargs: Any) -> ModelSetupDialog:
    dialog = ModelSetupDialog(**kwargs)
    qtbot.addWidget(dialog)
    return dialog


def test_the_dialog_says_what_is_needed(qtbot: Any) -> None:
    dialog = setup_dialog(qtbot, problem="model GritLM/GritLM-7B is not on this machine")
    text = " ".join(label.text() for label in dialog.findChildren(QLabel))
    assert "GritLM-7B" in text and "14 GB" in text and "resumes where it stopped" in text
    assert "not on this machine" in dialog.findChild(QLabel, "problem").text()
    assert dialog.download_button.text() == "Download GritLM-7B"
    assert dialog.folder_button.text() == "Choose a folder…"


def test_a_good_model_folder_is_accepted(qtbot: Any, tiny_model_dir: Path) -> None:
    dialog = setup_dialog(qtbot, choose_folder=lambda *_: str(tiny_model_dir))
    with qtbot.waitSignal(dialog.accepted, timeout=5000):
        dialog.folder_button.click()
    assert dialog.chosen_model() == str(tiny_model_dir)
    assert dialog.error() == ""


@pytest.mark.parametrize(("contents", "why"), [
    ({}, "has no config.json"),
    ({"config.json": '{"model_type": "mistral"}', "pytorch_model.bin": ""}, "safetensors only"),
    ({"config.json": '{"model_type": "bert"}'}, "'bert' model"),
])
def test_a_folder_without_a_usable_model_shows_why(qtbot: Any, tmp_path: Path, contents: dict[str, str],
                                                   why: str) -> None:
    folder = tmp_path / "not a model"
    folder.mkdir()
    for name, text in contents.items():
        (folder / name).write_text(text)
    dialog = setup_dialog(qtbot, choose_folder=lambda *_: str(folder))
    with qtbot.assertNotEmitted(dialog.finished):
        dialog.folder_button.click()
    assert why in dialog.error()
    assert str(folder) in dialog.error()
    assert dialog.chosen_model() == ""


def test_cancelling_the_folder_choice_changes_nothing(qtbot: Any) -> None:
    dialog = setup_dialog(qtbot, choose_folder=lambda *_: "")
    with qtbot.assertNotEmitted(dialog.finished):
        dialog.folder_button.click()
    assert (dialog.error(), dialog.chosen_model()) == ("", "")


# ------------------------------------------------------------------------------------------------
# model setup: the download


class FakeDownload:
    """Reports half of 4 GB the way `snapshot_download` does, waits for the test, then finishes
    (or raises ``error``)."""

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.threads: list[int] = []
        self.halfway = threading.Event()
        self.go_on = threading.Event()
        self.stopped = False

    def __call__(self, repo_id: str, tqdm_class: Any = None) -> Path:
        self.threads.append(threading.get_ident())
        with tqdm_class(desc="Fetching 2 files", total=2) as files:
            data = tqdm_class(desc="Downloading", total=0, initial=0, unit="B", unit_scale=True,
                              bar_format="{l_bar}{bar}", disable=None)
            data.total = 4_000_000_000
            data.refresh()
            data.update(2_000_000_000)
            files.update(1)
            self.halfway.set()
            assert self.go_on.wait(10)
            if self.error is not None:
                raise self.error
            try:
                data.update(2_000_000_000)
            except DownloadStopped:
                self.stopped = True
                raise
            files.update(1)
            data.close()
        return Path("/cache/snapshot")


def test_a_download_shows_progress_runs_off_the_gui_thread_and_accepts(qtbot: Any) -> None:
    fake = FakeDownload()
    dialog = setup_dialog(qtbot, download_fn=fake)
    dialog.download_button.click()
    bar = dialog.progress_bar()
    qtbot.waitUntil(lambda: bar.value() == 500, timeout=5000)
    assert bar.maximum() == 1000 and not bar.isHidden()
    assert "2.0 GB of 4.0 GB" in dialog.status() and "1 of 2 files" in dialog.status()
    assert dialog.is_downloading()
    assert not dialog.download_button.isEnabled() and not dialog.folder_button.isEnabled()
    assert not dialog.cancel_button.isHidden()

    fake.go_on.set()
    with qtbot.waitSignal(dialog.accepted, timeout=5000):
        pass
    assert dialog.chosen_model() == DEFAULT_MODEL
    assert bar.value() == 1000
    assert fake.threads and fake.threads[0] != threading.get_ident()  # not the GUI thread
    assert fake.threads[0] != threading.main_thread().ident


def test_an_offline_download_is_explained_and_the_dialog_stays_open(qtbot: Any, tiny_model_dir: Path) -> None:
    offline = DownloadError(f"cannot download {DEFAULT_MODEL}: this machine is offline or the Hub "
                            "is unreachable (HF_HUB_OFFLINE may be set). Copy the model folder here "
                            "and pick it instead.")
    fake = FakeDownload(error=offline)
    fake.go_on.set()
    dialog = setup_dialog(qtbot, download_fn=fake, choose_folder=lambda *_: str(tiny_model_dir))
    with qtbot.assertNotEmitted(dialog.finished, wait=100):
        dialog.download_button.click()
        qtbot.waitUntil(lambda: dialog.error() != "", timeout=5000)
    assert "offline" in dialog.error()
    assert not dialog.is_downloading()
    assert dialog.download_button.isEnabled() and dialog.folder_button.isEnabled()
    assert dialog.progress_bar().isHidden() and dialog.cancel_button.isHidden()
    assert dialog.chosen_model() == ""

    with qtbot.waitSignal(dialog.accepted, timeout=5000):  # a folder still does it
        dialog.folder_button.click()
    assert dialog.chosen_model() == str(tiny_model_dir)


def test_cancel_stops_waiting_and_the_download_ends_in_the_background(qtbot: Any) -> None:
    fake = FakeDownload()
    dialog = setup_dialog(qtbot, download_fn=fake)
    dialog.download_button.click()
    assert fake.halfway.wait(5)
    with qtbot.assertNotEmitted(dialog.finished, wait=200):
        dialog.cancel_button.click()
        assert not dialog.is_downloading()
        assert "background" in dialog.status() and "resumes where it stopped" in dialog.status()
        assert dialog.download_button.isEnabled() and dialog.cancel_button.isHidden()
        assert BackgroundDownloads.of().running() == 1
        fake.go_on.set()
        assert BackgroundDownloads.of().wait(5000)
    assert fake.stopped  # its next progress report ended it
    assert dialog.chosen_model() == ""


# ------------------------------------------------------------------------------------------------
# the tqdm stand-in


def collect(relay: ProgressRelay) -> dict[int, Bar]:
    bars: dict[int, Bar] = {}
    relay.progressed.connect(lambda i, desc, unit, n, total: bars.__setitem__(i, Bar(desc, unit, n, total)))
    return bars


def test_the_tqdm_stand_in_takes_what_the_hub_library_passes(qtbot: Any) -> None:
    from huggingface_hub.utils.tqdm import hf_thread_map

    relay = ProgressRelay()
    bars = collect(relay)
    cls = tqdm_class_for(relay)
    assert hf_thread_map(lambda x: x * 2, range(7), desc="Fetching 7 files", tqdm_class=cls) == list(
        range(0, 14, 2))
    silent = cls(desc="hidden", total=10, disable=True, name="huggingface_hub.x", unit="B")
    silent.update(5)
    with cls(total=3, desc="loop") as loop:
        assert list(cls(iterable=["a", "b"], desc="items")) == ["a", "b"]
        loop.update(3)
        loop.set_postfix_str("1 MB/s", refresh=False)
        loop.set_description("done")
    assert {b.desc: (b.n, b.total) for b in bars.values()} == {
        "Fetching 7 files": (7, 7), "done": (3, 3), "items": (2, 2)}  # renamed before closing


def test_progress_is_described_in_bytes_and_files() -> None:
    assert describe_progress([]) == (None, "Starting…")
    received = Bar("Downloading bytes", "B", 3e9, 14e9)
    written = Bar("Reconstructing", "B", 1e9, 14e9)
    files = Bar("Fetching 9 files", "it", 2, 9)
    assert describe_progress([written, received, files]) == (214, "3.0 GB of 14.0 GB, 2 of 9 files")
    assert describe_progress([files]) == (222, "2 of 9 files")
    assert describe_progress([Bar("x", "B", 5e6, 0)]) == (None, "Starting…")


def test_many_progress_reports_do_not_wear_out_true() -> None:
    """Regression: PySide6 6.12.0's ``emit()`` took a reference from ``True`` each time (the
    installed version is pinned below 6.12; see also test_qt_runtime.py)."""
    relay = ProgressRelay()
    before = sys.getrefcount(True)
    for i in range(300):
        relay.progressed.emit(i, "bytes", "B", float(i), 300.0)
    assert sys.getrefcount(True) >= before - 10
