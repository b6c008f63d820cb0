"""What a person sees when things go wrong, from the command line: bad files, Ctrl-C, bad options,
full or read-only disks. Each is one line on stderr, never a traceback, and loses nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from grit_desktop.config import Settings, save_settings
from tests import pdfs
from tests.test_cli_library import cli, env_for


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
    _out, rest = proc.communicate(timeout=60)
    err = "".join(seen) + rest
    assert proc.returncode == 130, err
    assert "grit-desktop: interrupted" in err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    rerun = cli(home, "ingest", "--json", str(docs))
    assert rerun.returncode == 0, rerun.stderr
    assert "resuming 1 interrupted" in rerun.stderr


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 2 MiB file system (tmpfs), where this machine allows mounting one."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small file system here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.fixture
def small_setup(small_disk: Path, tmp_path: Path, tiny_model_dir: Path) -> tuple[Path, Path]:
    """`setup`, with the data folder on the small file system."""
    home, docs = small_disk / "home", tmp_path / "docs"
    home.mkdir()
    docs.mkdir()
    save_settings(home, Settings(model=str(tiny_model_dir), chunk_tokens=64, chunk_overlap_tokens=8))
    return home, docs


def test_a_full_disk_says_one_line_and_the_next_run_resumes(
        small_setup: tuple[Path, Path], small_disk: Path) -> None:
    home, docs = small_setup
    pdfs.make_prose_pdf(docs / "a_small.pdf", 2)
    pdfs.make_prose_pdf(docs / "b_large.pdf", 12, seed=1)
    filler = small_disk / "filler"
    filler.write_bytes(b"\0" * 1_650_000)  # leaves room for the first file, not the second
    full = cli(home, "ingest", str(docs))
    assert full.returncode == 1
    assert "Traceback" not in full.stderr and "damaged" not in full.stderr
    last = full.stderr.strip().splitlines()[-1]
    assert "is full. Free some space and try again." in last, full.stderr
    assert len(full.stderr.strip().splitlines()) <= 4, full.stderr  # GPU note, ok line, the error
    filler.unlink()
    again = cli(home, "ingest", "--json", str(docs))
    assert again.returncode == 0, again.stderr
    assert "resuming 1 interrupted" in again.stderr
    rows = {Path(r["path"]).name: r["status"] for r in json.loads(again.stdout)}
    assert rows == {"a_small.pdf": "skipped", "b_large.pdf": "ok"}
    listed = {Path(d["path"]).name: d for d in json.loads(cli(home, "docs", "--json").stdout)}
    assert all(d["status"] == "ready" for d in listed.values())


def test_a_read_only_library_says_so_and_reads_still_work(
        small_setup: tuple[Path, Path], small_disk: Path) -> None:
    """Never "damaged ... remove that folder" for a folder that only cannot be written."""
    home, docs = small_setup
    pdfs.make_pdf(docs / "manual.pdf", ["The part XJ4471 is the fan motor."])
    pdfs.make_pdf(docs / "other.pdf", ["Something else entirely."])
    assert cli(home, "ingest", str(docs / "manual.pdf")).returncode == 0
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    added = cli(home, "ingest", str(docs / "other.pdf"))
    assert added.returncode == 1
    assert "cannot be written" in added.stderr and "damaged" not in added.stderr, added.stderr
    assert "Traceback" not in added.stderr
    found = cli(home, "search", "--json", "--k", "1", "XJ4471")
    assert found.returncode == 0, found.stderr
    assert "XJ4471" in json.loads(found.stdout)[0]["text"]


def run_main(home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
             *args: str) -> tuple[int, str, str]:
    """``grit-desktop ARGS`` in this process (seconds faster than a child): status, out, err."""
    from grit_desktop.cli import main

    monkeypatch.setenv("GRIT_DESKTOP_HOME", str(home))
    try:
        rc = main(list(args))
    except SystemExit as exc:  # argparse
        rc = int(exc.code or 0)
    out, err = capsys.readouterr()
    return rc, out, err


def test_bad_questions_and_options_say_one_line_and_store_nothing(
        setup: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    home, docs = setup
    pdfs.make_pdf(docs / "manual.pdf", ["The part XJ4471 is the fan motor."])
    assert cli(home, "ingest", str(docs)).returncode == 0
    real = cli(home, "ask", "  ")  # one real process: exactly this on stderr
    assert (real.returncode, real.stderr) == (1, "grit-desktop: error: The question is empty: "
                                                 "type what you want to know.\n")
    for args, expected in [
        (["ask", ""], "The question is empty"),
        (["search", ""], "The search is empty"),
        (["ask", "--k", "100000", "fan?"], "between 1 and 64 (got 100000)"),
        (["search", "--k", "5000", "fan"], "between 1 and 1000 (got 5000)"),
        (["ask", "--model", str(home / "no-such-model"), "fan?"], "no-such-model"),
    ]:
        rc, _, err = run_main(home, monkeypatch, capsys, *args)
        lines = [line for line in err.splitlines() if "No CUDA GPU" not in line]
        assert rc == 1 and len(lines) == 1 and expected in lines[0], (args, err)
    for k in ("0", "-1", "two"):
        rc, _, err = run_main(home, monkeypatch, capsys, "ask", "--k", k, "fan?")
        assert rc == 2 and "--k" in err and "Traceback" not in err
    assert json.loads(cli(home, "chats", "--json").stdout) == []  # no empty chat left behind


def test_listings_print_no_control_characters(
        setup: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A question or a title with terminal escape codes cannot recolour the terminal."""
    home, docs = setup
    pdfs.make_pdf(docs / "odd.pdf", ["The part XJ4471 is the fan motor."], title="Red\x1b[31m title")
    assert cli(home, "ingest", str(docs)).returncode == 0
    asked = cli(home, "ask", "--k", "1", "What is \x1b[31mXJ4471\x07?")
    assert asked.returncode == 0, asked.stderr
    for args in (["chats"], ["docs"], ["search", "--mode", "text", "XJ4471"]):
        rc, shown, _ = run_main(home, monkeypatch, capsys, *args)
        assert rc == 0 and "\x1b" not in shown and "\x07" not in shown, args
        assert "XJ4471" in shown or args == ["docs"]
    _, chats, _ = run_main(home, monkeypatch, capsys, "chats")
    assert "2 messages" in chats  # a question and its answer


def test_without_a_display_the_window_says_so_in_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in env_for(tmp_path).items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    done = subprocess.run([sys.executable, "-m", "grit_desktop"], capture_output=True, text=True,
                          env=env, timeout=120)
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip().splitlines() == [
        "grit-desktop: error: No display: DISPLAY and WAYLAND_DISPLAY are not set. The window "
        "needs a desktop session; the command line works without one (grit-desktop --help)."]


def test_which_sessions_can_open_the_window() -> None:
    from grit_desktop.cli.gui import display_problem

    assert display_problem({}, "linux").startswith("No display")
    assert display_problem({"DISPLAY": ":987"}, "linux").startswith("No X server answers on DISPLAY=:987")
    assert display_problem({"DISPLAY": "remote:0"}, "linux") == ""  # not checked: may be forwarded
    assert display_problem({"WAYLAND_DISPLAY": "wayland-0"}, "linux") == ""
    assert display_problem({"QT_QPA_PLATFORM": "offscreen"}, "linux") == ""
    assert display_problem({}, "win32") == "" and display_problem({}, "darwin") == ""
