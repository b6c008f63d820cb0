"""The icon, the desktop entry and the packaging files: present, well formed and consistent, and the
frozen app's entry script serving the PDF reader protocol."""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from grit_desktop import APP_NAME
from grit_desktop.engine.documents import parsing
from grit_desktop.engine.documents.parsing import ChunkOptions, ParseFailure

ROOT = Path(__file__).resolve().parents[1]
RESOURCES = ROOT / "resources"
PACKAGING = ROOT / "packaging"
SVG = RESOURCES / "icon.svg"
DESKTOP = RESOURCES / "grit-desktop.desktop"
SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


def opaque_share(image: Any) -> float:
    """The fraction of pixels that are not fully transparent."""
    width: int = image.width()
    height: int = image.height()
    opaque = sum(1 for y in range(height) for x in range(width) if image.pixelColor(x, y).alpha() > 0)
    return opaque / (width * height)


def test_svg_icon_parses_and_renders(qapp: Any) -> None:
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    renderer = QSvgRenderer(str(SVG))
    assert renderer.isValid()
    assert renderer.defaultSize().width() == renderer.defaultSize().height() > 0  # square
    image = QImage(64, 64, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    renderer.render(painter)
    painter.end()
    assert 0.3 < opaque_share(image) < 1.0  # drawn, on a transparent background


@pytest.mark.parametrize("size", SIZES)
def test_png_icon_has_its_size(qapp: Any, size: int) -> None:
    from PySide6.QtGui import QImage

    path = RESOURCES / "icons" / f"{APP_NAME}-{size}.png"
    image = QImage(str(path))
    assert not image.isNull(), f"{path} is missing or not an image"
    assert (image.width(), image.height()) == (size, size)
    assert image.hasAlphaChannel()
    assert 0.3 < opaque_share(image) < 1.0


def read_desktop_entry(path: Path) -> dict[str, str]:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read_string(path.read_text(encoding="utf-8"))
    return dict(parser["Desktop Entry"])


def test_desktop_entry_names_the_app() -> None:
    entry = read_desktop_entry(DESKTOP)
    for key in ("Type", "Name", "GenericName", "Comment", "Exec", "Icon", "Terminal", "Categories",
                "MimeType", "StartupWMClass"):
        assert entry.get(key), f"{key} is missing"
    assert entry["Type"] == "Application"
    assert entry["GenericName"] == "PDF chat"
    assert entry["Terminal"] == "false"
    assert {"Office", "Viewer"} <= set(entry["Categories"].rstrip(";").split(";"))
    assert "application/pdf" in entry["MimeType"].rstrip(";").split(";")
    # The command the entry runs is the one pyproject installs, and it takes the opened files.
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    program, *args = entry["Exec"].split()
    assert program == APP_NAME and program in scripts
    assert args == ["%F"]
    # Icon theme name, PNG names and the window class Qt sets (setApplicationName /
    # setDesktopFileName) are all the app's name.
    assert entry["Icon"] == entry["StartupWMClass"] == APP_NAME
    assert (RESOURCES / "icons" / f"{entry['Icon']}-48.png").is_file()


@pytest.mark.skipif(shutil.which("desktop-file-validate") is None, reason="desktop-file-utils not installed")
def test_desktop_entry_passes_desktop_file_validate() -> None:
    done = subprocess.run(["desktop-file-validate", str(DESKTOP)], capture_output=True, text=True)
    assert done.returncode == 0 and not done.stdout.strip(), done.stdout + done.stderr


@pytest.mark.parametrize("path", ["grit-desktop.spec", "entry.py", "render_icons.py"])
def test_packaging_python_compiles(path: str) -> None:
    source = (PACKAGING / path).read_text(encoding="utf-8")
    compile(source, str(PACKAGING / path), "exec")


@pytest.mark.parametrize("path", ["build.sh", "install-desktop-entry.sh"])
def test_packaging_shell_scripts_parse(path: str) -> None:
    done = subprocess.run(["bash", "-n", str(PACKAGING / path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_install_desktop_entry_into_a_data_folder(tmp_path: Path) -> None:
    program = tmp_path / "my apps" / APP_NAME  # a space: Exec must quote it
    program.parent.mkdir()
    program.write_text("#!/bin/sh\n", encoding="utf-8")
    program.chmod(0o755)
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data")}
    script = PACKAGING / "install-desktop-entry.sh"
    subprocess.run(["bash", str(script), str(program)], env=env, check=True, capture_output=True)
    installed = tmp_path / "data" / "applications" / f"{APP_NAME}.desktop"
    assert read_desktop_entry(installed)["Exec"] == f'"{program}" %F'
    hicolor = tmp_path / "data" / "icons" / "hicolor"
    for size in SIZES:
        assert (hicolor / f"{size}x{size}" / "apps" / f"{APP_NAME}.png").is_file()
    assert (hicolor / "scalable" / "apps" / f"{APP_NAME}.svg").is_file()
    subprocess.run(["bash", str(script), "--uninstall"], env=env, check=True, capture_output=True)
    assert not installed.exists()


def loaded_modules(path: str, options: ChunkOptions) -> ParseFailure:
    """Run inside the reader by the test below: which heavy libraries the reader process holds."""
    heavy = ("torch", "transformers", "PySide6")
    return ParseFailure(path, "modules", ",".join(m for m in heavy if m in sys.modules))


def test_entry_script_serves_the_pdf_reader() -> None:
    """``entry.py --pdf-reader`` is the reader: it answers the app's ping, loads no torch or Qt,
    and exits 0 when its input closes, just as ``grit-desktop --pdf-reader`` must when frozen."""
    def request(module: str, name: str) -> bytes:  # as parsing._Child.send writes it
        options = ChunkOptions(tokenizer_dir="", chunk_tokens=64, overlap_tokens=8)
        return parsing.encode((module, name, "", options))

    python_path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": python_path}
    done = subprocess.run(
        [sys.executable, str(PACKAGING / "entry.py"), "--pdf-reader"],
        input=request("grit_desktop.engine.documents.parsing", "ping") + request(__name__, "loaded_modules"),
        capture_output=True, env=env, timeout=60,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    answers = parsing.decode_all(done.stdout)
    assert answers == [ParseFailure("", "pong", ""), ParseFailure("", "modules", "")]
