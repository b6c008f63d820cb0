"""ingest, docs, search and remove from the command line, and a kill at any moment losing nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from grit_desktop.config import Settings, save_settings
from grit_desktop.engine.index.library import Library
from tests import pdfs


def env_for(home: Path) -> dict[str, str]:
    return {**os.environ, "GRIT_DESKTOP_HOME": str(home), "HF_HUB_OFFLINE": "1"}


def cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "grit_desktop", *args], capture_output=True,
                          text=True, env=env_for(home), timeout=300)


def test_ingest_docs_search_remove(setup: tuple[Path, Path]) -> None:
    home, docs = setup
    intro = " ".join(["This introduction says nothing about any part number at all."] * 6)
    pdfs.make_pdf(docs / "manual.pdf", [intro, "The part XJ4471 is the fan motor."], title="Fan Manual")
    pdfs.make_encrypted_pdf(docs / "locked.pdf")
    done = cli(home, "ingest", "--json", str(docs))
    assert done.returncode == 1  # one file failed, after the good one was indexed
    summary = {Path(r["path"]).name: r for r in json.loads(done.stdout)}
    assert summary["manual.pdf"]["status"] == "ok" and summary["manual.pdf"]["pages"] == 2
    assert summary["manual.pdf"]["chunks"] >= 1
    assert summary["locked.pdf"]["status"] == "error" and "password" in summary["locked.pdf"]["reason"]
    assert "Traceback" not in done.stderr

    again = cli(home, "ingest", "--json", str(docs / "manual.pdf"))
    assert again.returncode == 0
    assert json.loads(again.stdout)[0]["status"] == "skipped"

    listed = json.loads(cli(home, "docs", "--json").stdout)
    by_name = {Path(d["path"]).name: d for d in listed}
    assert by_name["manual.pdf"]["status"] == "ready" and by_name["locked.pdf"]["status"] == "error"
    table = cli(home, "docs").stdout
    assert "manual.pdf" in table and "error:" in table

    hits = json.loads(cli(home, "search", "--json", "--k", "2", "XJ4471").stdout)
    top = hits[0]
    assert top["page_start"] <= 2 == top["page_end"] and "XJ4471" in top["text"]
    shown = cli(home, "search", "XJ4471").stdout
    pages = "p. 2" if top["page_start"] == 2 else f"p. {top['page_start']}-2"
    assert pages in shown and "XJ4471" in shown

    doc_id = by_name["manual.pdf"]["doc_id"]
    removed = cli(home, "remove", doc_id[:10])
    assert removed.returncode == 0 and "removed" in removed.stdout
    assert {Path(d["path"]).name for d in json.loads(cli(home, "docs", "--json").stdout)} == {"locked.pdf"}
    missing = cli(home, "remove", "no-such-document")
    assert missing.returncode == 1 and "no document" in missing.stderr


def test_docs_on_a_new_data_folder(tmp_path: Path) -> None:
    done = cli(tmp_path / "fresh", "docs")
    assert done.returncode == 0 and "library is empty" in done.stdout


@pytest.mark.slow
@pytest.mark.parametrize("kill_after", [0, 1, 6])
def test_a_kill_mid_ingest_leaves_no_half_document(setup: tuple[Path, Path], tiny_model_dir: Path,
                                                   kill_after: int) -> None:
    """SIGKILL after the n-th batch was written (0: as soon as the document row exists)."""
    home, docs = setup
    save_settings(home, Settings(model=str(tiny_model_dir), chunk_tokens=64, chunk_overlap_tokens=8,
                                 embed_batch_tokens=64))
    pdfs.make_big_pdf(docs / "big.pdf", 25)
    proc = subprocess.Popen([sys.executable, "-m", "grit_desktop", "ingest", "-v", str(docs)],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                            env=env_for(home))
    assert proc.stderr is not None
    seen = -1
    for line in proc.stderr:
        if "chunks written" in line:
            seen += 1
        if seen >= kill_after:
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "the ingest ended before it could be killed"

    settings = Settings(model=str(tiny_model_dir), chunk_tokens=64, chunk_overlap_tokens=8)
    with Library(home, settings, None) as lib:
        [doc] = lib.documents()
        assert doc.status == "indexing"
        written = lib.store.chunk_count(doc.doc_id)
        assert kill_after <= written < doc.chunks
        assert lib.store.search_text("w3x", 5) == []  # nothing of it is visible

    rerun = cli(home, "ingest", "--json", str(docs))
    assert rerun.returncode == 0, rerun.stderr
    assert "resuming 1 interrupted" in rerun.stderr
    with Library(home, settings, None) as lib:
        [doc] = lib.documents()
        assert doc.status == "ready"
        assert [c.index for c in lib.store.chunks_of(doc.doc_id)] == list(range(doc.chunks))
        assert lib.store.search_text("w3x", 5)


@pytest.mark.skipif(not __import__("grit_desktop.engine.documents.pdf").engine.documents.pdf.ocr_available(),
                    reason="Tesseract's English data is not installed")
def test_a_scanned_pdf_is_read_by_ocr_and_found(setup: tuple[Path, Path]) -> None:
    home, docs = setup
    pdfs.make_scanned_pdf(docs / "scan.pdf", ["A scanned letter about nothing much at all.",
                                              "The serial number is XJ4471, on page two."])
    done = cli(home, "ingest", "--json", str(docs))
    assert done.returncode == 0, done.stderr
    [row] = json.loads(done.stdout)
    assert row["status"] == "ok" and row["pages"] == 2 and row["chunks"] >= 1
    hits = json.loads(cli(home, "search", "--json", "XJ4471").stdout)
    assert hits and hits[0]["page_start"] <= 2 <= hits[0]["page_end"] and "XJ4471" in hits[0]["text"]
