"""Is the window responsive while the engine works? And how soon does it appear?

1. Launch: the app is started as a new process (``grit-desktop`` with a fresh data folder); the
   time from starting the process to the window's first paint is measured from outside, median
   of several launches. Goal: <= 2 s (the model loads after the window is up).
2. Responsiveness: inside one app, a 10 ms timer on the GUI thread records the gaps between its
   ticks while a 500-page PDF is ingested and then an answer streams. A frozen window shows up as
   a long gap. Goal: largest gap <= 50 ms.

Runs offscreen by default (``QT_QPA_PLATFORM=offscreen``); under Xvfb with ``--xvfb``. Run:

    .venv/bin/python -m benchmarks.gui_responsiveness                # mid random model
    .venv/bin/python -m benchmarks.gui_responsiveness --shape tiny --pages 100
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

_PROBE = """
import sys, time
t0 = time.perf_counter()
from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication
import grit_desktop.ui.app as appmod

class Painted(QObject):
    def eventFilter(self, obj, event):
        if event.type() == QEvent.Type.Paint and obj is getattr(appmod, "_window", None):
            print("PAINTED", flush=True)
            QTimer.singleShot(0, QApplication.instance().quit)
        return False

qt = QApplication([sys.argv[0]])
painted = Painted()
qt.installEventFilter(painted)
original = appmod.App.start
def start(self, paths):
    appmod._window = self.window
    original(self, paths)
appmod.App.start = start
appmod.run([], sys.argv[1])
"""


def launch_times(runs: int, env: dict[str, str]) -> list[float]:
    """Seconds from starting a new app process to the first paint of its window."""
    times = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as home:
            t0 = time.perf_counter()
            proc = subprocess.Popen([sys.executable, "-c", _PROBE, home], stdout=subprocess.PIPE,
                                    stderr=subprocess.DEVNULL, text=True, env=env)
            assert proc.stdout is not None
            for line in proc.stdout:
                if line.startswith("PAINTED"):
                    times.append(time.perf_counter() - t0)
                    break
            proc.kill()
            proc.wait()
    return times


def responsiveness(model_dir: Path, pages: int, question: str) -> dict[str, Any]:
    """Timer gaps on the GUI thread during an ingestion and a streamed answer."""
    from PySide6.QtCore import QElapsedTimer, QTimer
    from PySide6.QtWidgets import QApplication

    from grit_desktop.config import Settings, save_settings
    from grit_desktop.ui.app import App
    from tests.pdfs import make_prose_pdf

    qt = QApplication.instance() or QApplication([sys.argv[0]])
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        save_settings(home, Settings(model=str(model_dir), max_new_tokens=200))
        pdf = make_prose_pdf(Path(tmp) / "book.pdf", pages)
        app = App(qt, home, Settings(model=str(model_dir), max_new_tokens=200))  # type: ignore[arg-type]
        gaps: dict[str, list[float]] = {"idle": [], "ingest": [], "answer": []}
        phase = ["idle"]
        clock = QElapsedTimer()
        clock.start()
        last = [clock.nsecsElapsed()]

        def tick() -> None:
            now = clock.nsecsElapsed()
            gaps[phase[0]].append((now - last[0]) / 1e6)
            last[0] = now

        timer = QTimer()
        timer.setInterval(10)
        timer.timeout.connect(tick)
        timer.start()
        app.start([])
        _wait(qt, lambda: app.window.model_ready, 300)
        phase[0] = "ingest"
        t_ingest = time.perf_counter()
        app.window.ingest([str(pdf)])
        _wait(qt, lambda: any(r.status == "ready" for r in app.window.documents.rows()), 1800)
        ingest_s = time.perf_counter() - t_ingest
        phase[0] = "answer"
        app.window.ask(question)
        _wait(qt, lambda: not app.window.answering, 600)
        timer.stop()
        app.shutdown()
    result: dict[str, Any] = {"ingest_seconds": ingest_s}
    for name, values in gaps.items():
        if values:
            values = sorted(values)
            result[name] = {"ticks": len(values), "max_ms": values[-1],
                            "p99_ms": values[int(0.99 * (len(values) - 1))],
                            "median_ms": statistics.median(values)}
    return result


def _wait(qt: Any, condition: Any, seconds: float) -> None:
    """Run the real Qt event loop until ``condition()`` holds."""
    from PySide6.QtCore import QEventLoop, QTimer

    end = time.perf_counter() + seconds
    loop = QEventLoop()
    poll = QTimer()
    poll.setInterval(50)
    poll.timeout.connect(lambda: loop.quit() if condition() or time.perf_counter() > end else None)
    poll.start()
    if not condition():
        loop.exec()
    poll.stop()
    if not condition():
        raise TimeoutError("the app did not get there in time")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shape", default="mid", help="random model shape (tiny, mid)")
    ap.add_argument("--model", help="a model folder instead of a random model")
    ap.add_argument("--pages", type=int, default=500)
    ap.add_argument("--launches", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    env = {**os.environ, "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen")}
    os.environ.update(QT_QPA_PLATFORM=env["QT_QPA_PLATFORM"])
    launches = launch_times(args.launches, env)
    from grit_desktop.engine.grit.synthetic import build_model

    with tempfile.TemporaryDirectory() as tmp:
        model = Path(args.model) if args.model else build_model(Path(tmp) / "m", args.shape,
                                                                 tokenizer="mistral")
        gaps = responsiveness(model, args.pages, "What does the book say about the committee?")
    result = {"platform": env["QT_QPA_PLATFORM"], "launch_s": launches,
              "launch_median_s": statistics.median(launches), **gaps,
              "model": args.model or f"random {args.shape}", "pages": args.pages}
    if args.json:
        print(json.dumps(result, indent=2))
        return
    platform = env["QT_QPA_PLATFORM"]
    print(f"GUI responsiveness ({result['model']}, {args.pages}-page PDF, Qt platform {platform})")
    print(f"  launch to first paint: median {result['launch_median_s']:.2f} s over {len(launches)} "
          f"launches (min {min(launches):.2f}, max {max(launches):.2f}); goal <= 2 s")
    print(f"  {'phase':<8}{'ticks':>8}{'median ms':>11}{'p99 ms':>9}{'max ms':>9}")
    for name in ("idle", "ingest", "answer"):
        if name in result:
            r = result[name]
            print(f"  {name:<8}{r['ticks']:>8}{r['median_ms']:>11.1f}{r['p99_ms']:>9.1f}{r['max_ms']:>9.1f}")
    print(f"  ingestion took {result['ingest_seconds']:.1f} s; goal: max gap <= 50 ms (timer every 10 ms)")


if __name__ == "__main__":
    main()
