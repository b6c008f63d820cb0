"""Render resources/icon.svg to the PNG sizes desktops ask for (resources/icons/grit-desktop-N.png).

    .venv/bin/python packaging/render_icons.py [--check]

Uses Qt's own SVG renderer (QtSvg, part of pyside6-essentials), so no other tool is needed. Run it
again after editing the SVG and commit the PNGs; ``--check`` only reports PNGs that are missing or
differ from a fresh rendering (exit status 1), without writing anything.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PySide6.QtGui import QImage

ROOT = Path(__file__).resolve().parents[1]
SVG = ROOT / "resources" / "icon.svg"
OUT = ROOT / "resources" / "icons"
SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


def png_path(size: int) -> Path:
    return OUT / f"grit-desktop-{size}.png"


def render(svg: Path, size: int) -> QImage:
    """The SVG drawn into a transparent size x size image, antialiased."""
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise SystemExit(f"render_icons: {svg} is not a valid SVG")
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    renderer.render(painter)
    painter.end()
    return image


def main(argv: list[str]) -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtGui import QGuiApplication, QImage

    app = QGuiApplication.instance() or QGuiApplication([sys.argv[0]])  # noqa: F841 (kept alive)
    check = "--check" in argv
    OUT.mkdir(parents=True, exist_ok=True)
    stale = []
    for size in SIZES:
        image = render(SVG, size)
        path = png_path(size)
        if check:
            old = QImage(str(path))
            if old.isNull() or old.convertToFormat(image.format()) != image:
                stale.append(path)
        elif not image.save(str(path)):
            raise SystemExit(f"render_icons: cannot write {path}")
        else:
            print(f"{path.relative_to(ROOT)}  {size}x{size}")
    for path in stale:
        print(f"render_icons: {path.relative_to(ROOT)} is missing or out of date", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
