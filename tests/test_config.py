from __future__ import annotations

import json
from pathlib import Path

import pytest

from grit_desktop.config import Settings, data_dir, load_settings, save_settings
from grit_desktop.errors import ConfigError


def test_data_dir_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRIT_DESKTOP_HOME", str(tmp_path / "env"))
    assert data_dir() == tmp_path / "env" and (tmp_path / "env").is_dir()
    assert data_dir(tmp_path / "explicit") == tmp_path / "explicit"
    monkeypatch.delenv("GRIT_DESKTOP_HOME")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert data_dir() == tmp_path / "xdg" / "grit-desktop"


def test_data_dir_that_cannot_be_created(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ConfigError, match="cannot create the data folder"):
        data_dir(blocker / "sub")


def test_settings_round_trip_and_defaults(tmp_path: Path) -> None:
    assert load_settings(tmp_path) == Settings()
    changed = Settings().replace(top_k=7, cache_mode="query", temperature=0.3)
    save_settings(tmp_path, changed)
    assert load_settings(tmp_path) == changed
    assert not list(tmp_path.glob(".settings-*"))  # no temporary file left behind


def test_unknown_keys_are_ignored_and_numbers_coerced(tmp_path: Path) -> None:
    (tmp_path / "settings.json").write_text(json.dumps({"top_k": "6", "old_option": 1}))
    assert load_settings(tmp_path).top_k == 6


@pytest.mark.parametrize(("content", "message"), [
    ("{broken", "cannot read settings"),
    ("[1, 2]", "does not hold an object"),
    ('{"device": "tpu"}', "'device' must be one of auto, cuda, cpu"),
    ('{"top_k": 0}', "'top_k' must be positive"),
    ('{"top_k": "many"}', "'top_k' must be a number"),
    ('{"chunk_tokens": 100, "chunk_overlap_tokens": 100}', "smaller than chunk_tokens"),
])
def test_bad_settings_are_named(tmp_path: Path, content: str, message: str) -> None:
    (tmp_path / "settings.json").write_text(content)
    with pytest.raises(ConfigError, match=message):
        load_settings(tmp_path)


def test_every_setting_is_described() -> None:
    described = Settings.describe()
    assert set(described) == set(Settings.__dataclass_fields__)
    assert all(len(text) > 10 for text in described.values())
