"""What a person sees when things go wrong, from the command line: bad files, Ctrl-C, bad options,
full or read-only disks. Each is one line on stderr, never a traceback, and loses nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grit_desktop.config import Settings, save_settings
from tests import pdfs
from tests.test_cli_library import cli, env_for


@pytest.fixture
def setup(tmp_path: Path, tiny_model_dir: Path) -> tuple[Path, Path]:
    home, docs = tmp_path / "home", tmp_path / "docs"
    home.mkdir()
    docs.mkdir()
    save_settings(home, Settings(model=str(tiny_model_dir), chunk_tokens=64, chunk_overlap_tokens=8))
    return home, docs


def test_a_folder_of_bad_files_among_good_ones(setup: tuple[Path, Path]) -> None:
    """Damaged, truncated (two ways), garbage, zero-page and zero-byte files between good ones:
    every good file is indexed, every bad one has its own reason, nothing waits for a time
    limit and nothing prints a traceback."""
    home, docs = setup
    pdfs.make_prose_pdf(docs / "a_good.pdf", 6)
    pdfs.make_truncated_pdf(docs / "b_cut_short.pdf", 20, 0.1)   # MuPDF prints errors on stdout
    pdfs.make_prose_pdf(docs / "c_good.pdf", 3, seed=1)
    pdfs.make_truncated_pdf(docs / "d_cut_shorter.pdf", 20, 0.4)
    pdfs.make_corrupt_pdf(docs / "e_garbled.pdf")
    pdfs.make_prose_pdf(docs / "f_good.pdf", 2, seed=2)
    (docs / "g_zero_bytes.pdf").write_bytes(b"")
    pdfs.make_zero_page_pdf(docs / "h_no_pages.pdf")
    (docs / "i_garbage.pdf").write_bytes(bytes(range(256)) * 40)
    pdfs.make_damaged_pdf(docs / "j_repairable.pdf", ["Text that survives the repair."] * 2)
    t0 = time.monotonic()
    done = cli(home, "ingest", "--json", str(docs))
    elapsed = time.monotonic() - t0
    assert done.returncode == 1  # some files failed, after the others were indexed
    rows = {Path(r["path"]).name: r for r in json.loads(done.stdout)}
    assert {n for n, r in rows.items() if r["status"] == "ok"} == {
        "a_good.pdf", "c_good.pdf", "f_good.pdf", "j_repairable.pdf"}
    reasons = {n: r["reason"] for n, r in rows.items() if r["status"] == "error"}
    assert "damaged" in reasons["b_cut_short.pdf"] and "Invalid number of pages" in reasons["b_cut_short.pdf"]
    assert "damaged" in reasons["d_cut_shorter.pdf"] and "damaged" in reasons["e_garbled.pdf"]
    assert "empty (0 bytes)" in reasons["g_zero_bytes.pdf"]
    assert "has no pages" in reasons["h_no_pages.pdf"]
    assert "not a PDF" in reasons["i_garbage.pdf"]
    assert not any("took longer" in r or "crashed" in r for r in reasons.values())
    assert "Traceback" not in done.stderr and "MuPDF error" not in done.stderr + done.stdout
    assert elapsed < 120


@pytest.mark.slow
def test_ctrl_c_during_ingest_says_one_line(setup: tuple[Path, Path], tiny_model_dir: Path) -> None:
    """Ctrl-C reaches the whole process group (the app and its PDF reader): one line, exit 130,
    no traceback from either, and what was done stays (the rest resumes)."""
    home, docs = setup
    save_settings(home, Settings(model=str(tiny_model_dir), chunk_tokens=64, chunk_overlap_tokens=8,
                                 embed_batch_tokens=64))
    for i in range(2):
        pdfs.make_prose_pdf(docs / f"book{i}.pdf", 12, seed=i)
    proc = subprocess.Popen([sys.executable, "-m", "grit_desktop", "ingest", "-v", str(docs)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env_for(home), start_new_session=True)
    assert proc.stderr is not None
    seen: list[str] = []
    for line in proc.stderr:
        seen.append(line)
        if "chunks written" in line:
            break
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal does on Ctrl-C
    out, rest = proc.communicate(timeout=60)
    err = "".join(seen) + rest
    assert proc.returncode == 130, err
    assert "grit-desktop: interrupted" in err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    rerun = cli(home, "ingest", "--json", str(docs))
    assert rerun.returncode == 0, rerun.stderr
    assert "resuming 1 interrupted" in rerun.stderr
