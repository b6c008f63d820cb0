"""The PDF reader process: a crash or hang costs one file, never the app or the other files."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from grit_desktop.engine.documents import parsing
from grit_desktop.engine.documents.parsing import ChunkOptions, Parsed, ParseFailure, Parser
from tests import pdfs
from tests.engine import reader_targets


@pytest.fixture
def options(tiny_model_dir: Path) -> ChunkOptions:
    return ChunkOptions(str(tiny_model_dir), chunk_tokens=64, overlap_tokens=8)


def test_reads_in_a_child_process(options: ChunkOptions, tmp_path: Path) -> None:
    path = pdfs.make_pdf(tmp_path / "a.pdf", ["Hello page one.", "Hello page two."])
    parser = Parser(options)
    try:
        outcome = parser.result(parser.submit(str(path)))
        assert isinstance(outcome, Parsed)
        assert outcome.pdf.page_count == 2 and outcome.chunks
        assert parser._child is not None and parser._child.proc.pid > 0  # a real child process
    finally:
        parser.close()


def test_a_crash_fails_that_file_only(options: ChunkOptions, tmp_path: Path) -> None:
    good1 = pdfs.make_pdf(tmp_path / "one.pdf", ["First."])
    bad = pdfs.make_pdf(tmp_path / "crash.pdf", ["Kills the reader."])
    good2 = pdfs.make_pdf(tmp_path / "two.pdf", ["Second."])
    parser = Parser(options, target=reader_targets.crash_on_marked)
    try:
        tickets = [parser.submit(str(p)) for p in (good1, bad, good2)]  # all read ahead
        results = [parser.result(t) for t in tickets]
    finally:
        parser.close()
    assert isinstance(results[0], Parsed)
    assert isinstance(results[1], ParseFailure) and results[1].kind == "crash"
    assert "crashed" in results[1].message
    assert isinstance(results[2], Parsed)  # read again by a fresh reader


def test_a_hang_is_cut_off(options: ChunkOptions, tmp_path: Path) -> None:
    hang = pdfs.make_pdf(tmp_path / "hang.pdf", ["Never finishes."])
    good = pdfs.make_pdf(tmp_path / "good.pdf", ["Fine."])
    parser = Parser(options, timeout_s=3, target=reader_targets.crash_on_marked)
    try:
        first = parser.result(parser.submit(str(hang)))
        second = parser.result(parser.submit(str(good)))
    finally:
        parser.close()
    assert isinstance(first, ParseFailure) and first.kind == "timeout"
    assert isinstance(second, Parsed)


def test_tickets_never_redeemed_are_skipped(options: ChunkOptions, tmp_path: Path) -> None:
    a = pdfs.make_pdf(tmp_path / "a.pdf", ["Alpha."])
    b = pdfs.make_pdf(tmp_path / "b.pdf", ["Beta."])
    parser = Parser(options)
    try:
        parser.submit(str(a))
        outcome = parser.result(parser.submit(str(b)))
    finally:
        parser.close()
    assert isinstance(outcome, Parsed) and outcome.pdf.path.name == "b.pdf"


def test_falls_back_to_reading_in_process_when_no_child_can_start(
    options: ChunkOptions, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(parsing, "reader_command", lambda: ["false"])
    path = pdfs.make_pdf(tmp_path / "a.pdf", ["Text."])
    parser = Parser(options)
    outcome = parser.result(parser.submit(str(path)))
    assert isinstance(outcome, Parsed) and parser.isolate is False


def test_a_slow_file_that_shows_progress_is_not_cut_off(options: ChunkOptions, tmp_path: Path) -> None:
    alive = pdfs.make_pdf(tmp_path / "ocr.pdf", ["Slow, page by page."])
    silent = pdfs.make_pdf(tmp_path / "silent.pdf", ["Slow and silent."])
    parser = Parser(options, timeout_s=2, target=reader_targets.slow_but_alive)
    try:
        first = parser.result(parser.submit(str(alive)))  # 4 s in all, never 2 s without a word
        second = parser.result(parser.submit(str(silent)))
    finally:
        parser.close()
    assert isinstance(first, Parsed) and first.pdf.pages[0].text == "Slow, page by page."
    assert isinstance(second, ParseFailure) and second.kind == "timeout"


def test_what_c_code_prints_never_reaches_the_results(
    options: ChunkOptions, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """MuPDF prints on file descriptor 1 on damaged files: the results arrive all the same,
    at once, and what it printed lands in the app's log."""
    paths = [pdfs.make_pdf(tmp_path / f"{n}.pdf", [f"Page of {n}."]) for n in ("one", "two")]
    parser = Parser(options, timeout_s=60, target=reader_targets.chatty)
    caplog.set_level(logging.INFO, logger="grit_desktop.engine.documents.parsing")
    try:
        t0 = time.monotonic()
        results = [parser.result(parser.submit(str(p))) for p in paths]
        elapsed = time.monotonic() - t0
        deadline = time.monotonic() + 10
        while "non-page object" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.05)  # the reader's stderr is logged by a thread
    finally:
        parser.close()
    assert all(isinstance(r, Parsed) for r in results)
    assert elapsed < 30
    assert "pdf reader: MuPDF error: format error: non-page object" in caplog.text
    assert "a stray print on stdout" in caplog.text and "Tesseract: a message" in caplog.text


def test_a_broken_channel_fails_that_file_at_once(options: ChunkOptions, tmp_path: Path) -> None:
    broken = pdfs.make_pdf(tmp_path / "broken.pdf", ["Breaks the channel."])
    good = pdfs.make_pdf(tmp_path / "good.pdf", ["Fine."])
    parser = Parser(options, timeout_s=120, target=reader_targets.breaks_channel)
    try:
        t0 = time.monotonic()
        first, second = (parser.result(t) for t in [parser.submit(str(broken)), parser.submit(str(good))])
        elapsed = time.monotonic() - t0
    finally:
        parser.close()
    assert isinstance(first, ParseFailure) and first.kind == "crash"
    assert isinstance(second, Parsed)
    assert elapsed < 60  # not the 120 s limit: the garbage ends the reader at once


def test_frames_carry_a_magic_number_and_a_bounded_size() -> None:
    assert parsing.decode_all(parsing.encode("a") + parsing.encode([1, 2])) == ["a", [1, 2]]
    for garbage in (b"MuPDF error: format error\n\n", b"GRIT" + (1 << 62).to_bytes(8, "little")):
        with pytest.raises(parsing.ChannelError):
            parsing.decode_all(garbage)


def test_a_caller_is_not_held_while_a_slow_file_is_read(options: ChunkOptions, tmp_path: Path) -> None:
    """`ready` answers within its timeout while the reader works (4 s, heartbeats included),
    so ingestion can hand control back (to answer a question) between polls."""
    slow = pdfs.make_pdf(tmp_path / "ocr.pdf", ["Slow, page by page."])
    parser = Parser(options, timeout_s=30, target=reader_targets.slow_but_alive)
    try:
        ticket = parser.submit(str(slow))
        polls, t0 = 0, time.monotonic()
        while not parser.ready(ticket, 0.25):
            polls += 1
            assert time.monotonic() - t0 < 0.25 * polls + 1.0  # never held much past a poll
        outcome = parser.result(ticket)
    finally:
        parser.close()
    assert polls >= 8 and isinstance(outcome, Parsed)
    assert outcome.pdf.pages[0].text == "Slow, page by page."
