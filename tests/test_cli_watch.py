"""watch and sync from the command line, on real folders: adding, churn, offline, a kill mid-sync."""

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
from grit_desktop.engine.documents.pdf import file_sha256
from grit_desktop.engine.index.library import Library
from tests import pdfs
from tests.test_cli_library import cli, env_for


def aged(path: Path) -> Path:
    t = time.time() - 60
    os.utime(path, (t, t))
    return path


def library_paths(home: Path) -> dict[str, str]:
    """path -> status of every document, read back through a fresh library."""
    with Library(home, Settings(), None) as lib:
        return {d.path: d.status for d in lib.documents()}


def test_watch_add_list_sync_and_remove(setup: tuple[Path, Path], tmp_path: Path) -> None:
    home, docs = setup
    aged(pdfs.make_pdf(docs / "a.pdf", ["Alpha text about owls."]))
    (docs / "sub").mkdir()
    aged(pdfs.make_pdf(docs / "sub" / "b.pdf", ["Beta text about foxes."]))
    added = cli(home, "watch", "add", "--json", str(docs))
    assert added.returncode == 0, added.stderr
    assert f"watching {docs.resolve()}" in added.stderr
    results = {Path(r["path"]).name: r["status"] for r in json.loads(added.stdout)}
    assert results == {"a.pdf": "ok", "b.pdf": "ok"}
    listed = cli(home, "watch", "list")
    assert listed.stdout.strip() == f"{docs.resolve()}\tin sync · 2 files"

    os.rename(docs / "sub" / "b.pdf", docs / "b moved.pdf")
    (docs / "a.pdf").unlink()
    aged(pdfs.make_pdf(docs / "sub" / "c.pdf", ["Gamma text about bees."]))
    state = json.loads(cli(home, "watch", "list", "--json").stdout)[0]
    assert (state["status"], state["waiting"], state["files"]) == ("waiting", 4, 2)
    synced = cli(home, "sync")
    assert synced.returncode == 0, synced.stderr
    assert f"removed {docs / 'a.pdf'}: its file was deleted" in synced.stderr
    assert f"skipped {docs / 'b moved.pdf'}: moved from {docs / 'sub' / 'b.pdf'}" in synced.stderr
    assert "1 indexed, 1 skipped, 0 failed, 1 removed" in synced.stdout
    assert library_paths(home) == {str(docs / "b moved.pdf"): "ready", str(docs / "sub" / "c.pdf"): "ready"}
    assert "in sync · 2 files" in cli(home, "watch", "list").stdout

    nested = cli(home, "watch", "add", str(docs / "sub"))
    assert nested.returncode == 1 and "already watched as part of" in nested.stderr
    missing = cli(home, "watch", "add", str(tmp_path / "nowhere"))
    assert missing.returncode == 1 and "no such folder" in missing.stderr
    assert "Traceback" not in nested.stderr + missing.stderr

    gone = cli(home, "watch", "remove", str(docs))
    assert gone.returncode == 0 and "documents stay" in gone.stdout
    assert "No folder is watched" in cli(home, "watch", "list").stdout
    assert len(library_paths(home)) == 2


def test_an_unplugged_folder_is_offline_and_keeps_its_documents(setup: tuple[Path, Path],
                                                                tmp_path: Path) -> None:
    home, docs = setup
    aged(pdfs.make_pdf(docs / "a.pdf", ["On a removable disk."]))
    assert cli(home, "watch", "add", str(docs)).returncode == 0
    os.rename(docs, tmp_path / "elsewhere")
    assert "offline" in cli(home, "watch", "list").stdout
    synced = cli(home, "sync")
    assert synced.returncode == 0 and "offline" in synced.stderr
    assert library_paths(home) == {str(docs / "a.pdf"): "ready"}


@pytest.mark.slow
def test_a_sync_killed_midway_loses_nothing(setup: tuple[Path, Path], tiny_model_dir: Path) -> None:
    home, docs = setup
    save_settings(home, Settings(model=str(tiny_model_dir), chunk_tokens=64, chunk_overlap_tokens=8,
                                 embed_batch_tokens=64))
    for i in range(3):
        aged(pdfs.make_prose_pdf(docs / f"big{i}.pdf", 4, chars_per_page=1200, seed=i))
    assert cli(home, "watch", "add", "--no-sync", str(docs)).returncode == 0
    proc = subprocess.Popen([sys.executable, "-m", "grit_desktop", "sync", "-v"], stderr=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, text=True, env=env_for(home))
    assert proc.stderr is not None
    written = 0
    for line in proc.stderr:
        written += "chunks written" in line
        if written >= 3:
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "the sync ended before it could be killed"
    # meanwhile, a file is renamed and one deleted
    os.rename(docs / "big2.pdf", docs / "big2 renamed.pdf")
    (docs / "big1.pdf").unlink()
    rerun = cli(home, "sync", "--json")
    assert rerun.returncode == 0, rerun.stderr
    with Library(home, Settings(model=str(tiny_model_dir)), None) as lib:
        docs_now = lib.documents()
        assert sorted(Path(d.path).name for d in docs_now) == ["big0.pdf", "big2 renamed.pdf"]
        for d in docs_now:
            assert d.status == "ready" and d.doc_id == file_sha256(Path(d.path))
            assert [c.index for c in lib.store.chunks_of(d.doc_id)] == list(range(d.chunks))
    assert "in sync · 2 files" in cli(home, "watch", "list").stdout
