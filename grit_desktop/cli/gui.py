"""``grit-desktop [gui] [PATH...]``: open the window (and add the documents or folders given)."""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

from grit_desktop.errors import GritError

# Qt platforms that need no display server.
_HEADLESS = ("offscreen", "minimal", "vnc", "eglfs", "linuxfb")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="*", metavar="PATH", help="PDF files or folders to add")


def run(args: argparse.Namespace) -> int:
    problem = display_problem(os.environ, sys.platform)
    if problem:
        raise GritError(problem)
    from grit_desktop.ui.app import run as run_app  # Qt only when the window is wanted

    # --model, --device, --quantization and --compile hold for this window only; not saved.
    overrides = {k: getattr(args, k) for k in ("model", "device", "quantization", "compile_decoding")
                 if getattr(args, k, None) is not None}
    return run_app(list(args.paths), args.data_dir, overrides)


def display_problem(env: os._Environ[str] | dict[str, str], platform: str) -> str:
    """Why the window cannot open here (no desktop session), or "" if it can."""
    if not platform.startswith("linux"):
        return ""
    qpa = env.get("QT_QPA_PLATFORM", "").split(":")[0]
    if qpa in _HEADLESS or env.get("WAYLAND_DISPLAY"):
        return ""
    advice = ("The window needs a desktop session; the command line works without one "
              "(grit-desktop --help).")
    display = env.get("DISPLAY", "")
    if not display:
        return f"No display: DISPLAY and WAYLAND_DISPLAY are not set. {advice}"
    local = re.fullmatch(r":(\d+)(?:\.\d+)?", display)
    if local and not Path(f"/tmp/.X11-unix/X{local.group(1)}").exists():
        return f"No X server answers on DISPLAY={display}. {advice}"
    return ""
