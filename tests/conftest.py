"""Shared fixtures: a tiny random GRIT-shaped model built offline, once per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from grit_desktop.engine.grit.synthetic import build_model

    return build_model(tmp_path_factory.mktemp("tiny-model"), "tiny", seed=0)


@pytest.fixture(scope="session")
def tiny_model(tiny_model_dir: Path):  # type: ignore[no-untyped-def]
    from grit_desktop.engine.grit.model import GritModel, LoadOptions

    return GritModel.load(LoadOptions(str(tiny_model_dir), device="cpu", quantization="none"))


@pytest.fixture(scope="session")
def mistral_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Mistral with GritLM-7B's real tokenizer (SentencePiece, 32,000 tokens)."""
    from grit_desktop.engine.grit.synthetic import build_model

    return build_model(tmp_path_factory.mktemp("tiny-mistral"), "tiny", seed=1, tokenizer="mistral")


@pytest.fixture(scope="session")
def mistral_model(mistral_model_dir: Path):  # type: ignore[no-untyped-def]
    from grit_desktop.engine.grit.model import GritModel, LoadOptions

    return GritModel.load(LoadOptions(str(mistral_model_dir), device="cpu", quantization="none"))


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh data folder, also set as GRIT_DESKTOP_HOME."""
    folder = tmp_path / "home"
    monkeypatch.setenv("GRIT_DESKTOP_HOME", str(folder))
    return folder


@pytest.fixture
def setup(tmp_path: Path, tiny_model_dir: Path) -> tuple[Path, Path]:
    """A data folder whose settings name the tiny model (small chunks), and an empty docs folder."""
    from grit_desktop.config import Settings, save_settings

    home, docs = tmp_path / "home", tmp_path / "docs"
    home.mkdir()
    docs.mkdir()
    save_settings(home, Settings(model=str(tiny_model_dir), chunk_tokens=64, chunk_overlap_tokens=8))
    return home, docs
