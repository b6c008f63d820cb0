"""The Qt binding the app is installed with survives a long session of streamed tokens.

PySide6 6.12.0 on Python 3.11 loses a reference to True on every signal emitted from Python
(and to None on every void call): after a few thousand streamed tokens the interpreter aborts.
This runs the same traffic in a child process and expects it to finish cleanly.
"""

from __future__ import annotations

import subprocess
import sys

CHILD = """
import os, sys
os.environ["QT_QPA_PLATFORM"] = "offscreen"
from PySide6.QtCore import QCoreApplication, QObject, Signal
app = QCoreApplication([])
class Worker(QObject):
    token = Signal(int, str)
worker = Worker()
seen = []
worker.token.connect(lambda chat, piece: seen.append(piece))
before_true, before_none = sys.getrefcount(True), sys.getrefcount(None)
for i in range(20000):
    worker.token.emit(1, "piece")
    worker.setObjectName("w")
assert len(seen) == 20000
drift = (before_true - sys.getrefcount(True), before_none - sys.getrefcount(None))
print("drift", drift)
"""


def test_twenty_thousand_signals_and_calls() -> None:
    done = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    drift = eval(done.stdout.split("drift", 1)[1])
    assert all(abs(d) < 1000 for d in drift), drift
