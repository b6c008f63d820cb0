"""Reading and chunking documents in a separate process, ahead of the embedding.

MuPDF is C code reading untrusted files: a malformed PDF can crash or hang it. Running it in a
child process means a crash costs one file (reported as such), never the app, and a hang is cut
off by a timeout. It also lets the next file be read on another core while the model embeds the
current one.

The child is ``python -m grit_desktop.engine.documents.parsing`` (or the frozen app with
``--pdf-reader``): it imports PyMuPDF and ``tokenizers`` only, never torch or the app's main
module, so it starts in about a second. Requests come in on its stdin and results go out on its
stdout as framed pickles: ``(module, name, path, ChunkOptions)`` in, a `Parsed`, `ParseFailure`
or `Alive` out, in order. Nothing else may write to that channel: C libraries in the child
(MuPDF on damaged files, Tesseract) print whatever they like to file descriptor 1, so the child
keeps a private copy of its stdout for the protocol and points descriptor 1 at stderr; the app
reads the child's stderr line by line into its log. Every frame starts with a magic number and a
bounded size, and anything unexpected on the channel (or the channel breaking) marks the reader
dead at once: the file it was reading fails with a reason, the next ones go to a fresh reader.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import logging
import os
import pickle
import queue
import signal
import struct
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from grit_desktop.engine.documents.chunking import Chunk, chunk_pages
from grit_desktop.engine.documents.pdf import ParsedPdf, PdfError, heading_at, read_document

log = logging.getLogger(__name__)

#: A file is given up when the reader shows no progress for this long (seconds): reading 5,000
#: pages takes ~15 s; OCR tells progress page by page (a second or more each).
PARSE_TIMEOUT_S = 300.0
#: Seconds the reader process may take to start and answer its first request on top.
START_S = 60.0


@dataclass(frozen=True)
class ChunkOptions:
    tokenizer_dir: str      # folder with tokenizer.json (or what AutoTokenizer loads)
    chunk_tokens: int
    overlap_tokens: int
    ocr: bool = True        # OCR pages that are only images, where Tesseract's data is installed


@dataclass(frozen=True)
class Parsed:
    pdf: ParsedPdf
    chunks: list[Chunk]


@dataclass(frozen=True)
class ParseFailure:
    path: str
    kind: str      # a `PdfError` kind, or "crash" / "timeout" / "internal"
    message: str


#: What the reader runs for each file: a module-level function (named in the child by module
#: and name), so tests can stand in for the real work.
ParseFn = Callable[[str, ChunkOptions], Parsed | ParseFailure]

_counters: dict[str, Any] = {}


def _counter(tokenizer_dir: str) -> Any:
    """A batch token counter from the model's tokenizer, loaded once per process."""
    if tokenizer_dir not in _counters:
        from grit_desktop.engine.documents.chunking import tokenizer_counter

        tokenizer_json = Path(tokenizer_dir) / "tokenizer.json"
        if tokenizer_json.is_file():
            from tokenizers import Tokenizer

            tokenizer: Any = Tokenizer.from_file(str(tokenizer_json))
        else:  # a SentencePiece-only folder: the slower transformers route
            from transformers import AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
        _counters[tokenizer_dir] = tokenizer_counter(tokenizer)
    return _counters[tokenizer_dir]


def parse_file(path: str, options: ChunkOptions) -> Parsed | ParseFailure:
    """Read and chunk one document; each chunk is given its heading. Runs in the reader process
    (or in-process when not isolated)."""
    try:
        pdf = read_document(path, ocr=options.ocr, on_ocr_page=lambda i, n: heartbeat())
        chunks = chunk_pages(
            pdf.pages, _counter(options.tokenizer_dir),
            chunk_tokens=options.chunk_tokens, overlap_tokens=options.overlap_tokens,
        )
        if pdf.headings:
            chunks = [dataclasses.replace(c, heading=heading_at(pdf.headings, c.page_start, c.char_start))
                      for c in chunks]
        return Parsed(pdf, chunks)
    except PdfError as exc:
        return ParseFailure(path, exc.kind, str(exc))
    except MemoryError:
        return ParseFailure(path, "too-large", f"{path}: not enough memory to read it")
    except Exception as exc:  # a bug or an unforeseen MuPDF error: this file only
        log.info("reading %s failed", path, exc_info=True)
        return ParseFailure(path, "internal", f"{path}: cannot be read ({exc})")


#: In the reader process: tells the app the reader is still at work on a slow file (each OCR
#: page), so that its time limit runs per step rather than per file. None in the app's process.
_beat: Callable[[], None] | None = None


def heartbeat() -> None:
    """Say the current file is still being read (a no-op outside the reader process)."""
    if _beat is not None:
        _beat()


class Alive:
    """The reader's message that it is still at work on the current file."""


def ping(path: str, options: ChunkOptions) -> ParseFailure:
    """The reader's first answer, proving it started."""
    return ParseFailure(path, "pong", "")


# ------------------------------------------------------------------------------------------------
# the pipe protocol

#: Each frame: magic, payload size (little-endian), then the pickled payload.
_MAGIC = b"GRIT"
_HEADER = struct.Struct("<4sQ")
#: No honest frame is larger (a parsed 20,000-page PDF is tens of MB); a larger size means the
#: stream is not ours.
MAX_FRAME_BYTES = 1 << 31


class ChannelError(Exception):
    """The other side wrote something that is not a frame of this protocol."""


def encode(obj: object) -> bytes:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    return _HEADER.pack(_MAGIC, len(data)) + data


def _send(stream: IO[bytes], obj: object) -> None:
    stream.write(encode(obj))
    stream.flush()


def _receive(stream: IO[bytes]) -> object:
    """The next object; EOFError when the other side is gone, ChannelError when what arrives is
    not a frame (wrong magic, absurd size, a payload that does not unpickle)."""
    head = stream.read(_HEADER.size)
    if len(head) < _HEADER.size:
        raise EOFError
    magic, size = _HEADER.unpack(head)
    if magic != _MAGIC or size > MAX_FRAME_BYTES:
        raise ChannelError(f"not a reader frame: {head!r}")
    data = stream.read(size)
    if len(data) < size:
        raise EOFError
    try:
        return pickle.loads(data)  # from our own child or parent only
    except Exception as exc:
        raise ChannelError(f"a frame that does not unpickle: {exc}") from exc


def decode_all(data: bytes) -> list[object]:
    """Every frame in ``data`` (what a reader wrote to its stdout), in order."""
    stream = io.BytesIO(data)
    found: list[object] = []
    while True:
        try:
            found.append(_receive(stream))
        except EOFError:
            return found


def serve(stdin: IO[bytes], stdout: IO[bytes]) -> None:
    """The reader process's loop: requests in, results out (and `Alive` while a file takes
    long), until stdin closes. ``stdout`` must be a channel nothing else writes to (see
    `reader_main`)."""
    global _beat
    alive = Alive()
    _beat = lambda: _send(stdout, alive)  # noqa: E731
    while True:
        try:
            request = _receive(stdin)
        except (EOFError, ChannelError):
            return
        assert isinstance(request, tuple) and len(request) == 4
        module, name, path, options = request
        fn = getattr(__import__(str(module), fromlist=[str(name)]), str(name))
        _send(stdout, fn(path, options))


def reader_main() -> None:
    """The reader process: serve requests on stdin, with results on a private copy of stdout.

    File descriptor 1 is pointed at stderr before any file is read, so whatever MuPDF, Tesseract
    or Python print lands in the app's log, never in the results. Ctrl-C in a terminal reaches
    the whole process group: the reader ignores it and ends when the app closes its stdin (or
    kills it), so only the app reports the interruption.
    """
    global _channel
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.stdout.flush()
    _channel = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    with contextlib.suppress(BrokenPipeError):  # the app went away mid-answer
        serve(sys.stdin.buffer, _channel)


#: In the reader process: the private channel the results go out on (None elsewhere).
_channel: IO[bytes] | None = None


def reader_command() -> list[str]:
    """How to start the reader process: this Python, or the frozen app in reader mode."""
    if getattr(sys, "frozen", False):
        return [sys.executable, "--pdf-reader"]
    return [sys.executable, "-m", "grit_desktop.engine.documents.parsing"]


class _Child:
    """One reader process, a thread that collects its results and one that logs its stderr."""

    def __init__(self) -> None:
        env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            reader_command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, env=env,
        )
        self.results: queue.Queue[object] = queue.Queue()
        threading.Thread(target=self._collect, name="pdf-reader-results", daemon=True).start()
        threading.Thread(target=self._log_stderr, name="pdf-reader-log", daemon=True).start()

    def _collect(self) -> None:
        """Results into the queue; on ANY failure to read one, `_DEAD` (the reader is stopped)."""
        assert self.proc.stdout is not None
        while True:
            try:
                self.results.put(_receive(self.proc.stdout))
            except EOFError:
                break
            except BaseException as exc:  # a broken channel, whatever the error
                log.warning("the PDF reader's answer is unreadable (%s); stopping it", _short(exc))
                break
        self.results.put(_DEAD)

    def _log_stderr(self) -> None:
        """What the reader prints (MuPDF, Tesseract, its own log), line by line into our log."""
        assert self.proc.stderr is not None
        try:
            for raw in self.proc.stderr:
                line = raw.decode("utf-8", "replace").rstrip()
                if line:
                    log.info("pdf reader: %s", line)
        except (OSError, ValueError):
            pass

    def send(self, request: tuple[str, str, str, ChunkOptions]) -> bool:
        try:
            assert self.proc.stdin is not None
            _send(self.proc.stdin, request)
            return True
        except (BrokenPipeError, OSError, ValueError):
            return False

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


def _short(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:200]


_DEAD = object()


@dataclass
class Ticket:
    """A file handed to the reader; `Parser.result` redeems it (in the order submitted)."""

    path: str
    child: _Child | None  # None: read in this process when redeemed


def run_once(target: Callable[[str, ChunkOptions], object], path: str, options: ChunkOptions,
             timeout_s: float = PARSE_TIMEOUT_S) -> object:
    """``target(path, options)`` run in a fresh reader process, which is then stopped: what it
    returned, or a `ParseFailure` when the reader crashed, hung past ``timeout_s`` (seconds
    without progress) or could not start (then it runs in this process, with a warning)."""
    try:
        child = _Child()
    except OSError as exc:
        log.warning("the reader process cannot start (%s); running %s here", exc, target.__name__)
        return target(path, options)
    try:
        if not child.send((target.__module__, target.__name__, path, options)):
            return ParseFailure(path, "crash", f"{path}: the reader process stopped at once")
        try:
            outcome = child.results.get(timeout=START_S + timeout_s)
            while isinstance(outcome, Alive):
                outcome = child.results.get(timeout=timeout_s)
        except queue.Empty:
            return ParseFailure(path, "timeout", f"{path}: took longer than {timeout_s:.0f} s "
                                "and was stopped")
        if outcome is _DEAD:
            return ParseFailure(path, "crash", f"{path}: the reader crashed on this file")
        return outcome
    finally:
        child.kill()


class Parser:
    """Reads files in a child process, ahead of their use: `submit` now, `result` later.

    Used from one thread (the engine worker). Tickets must be redeemed in the order they were
    submitted; a ticket never redeemed is simply skipped. When the reader dies or hangs on a file,
    that file fails and files submitted after it are read again by a fresh reader. If the reader
    cannot start at all, files are read in this process (without crash protection), with a
    warning. ``isolate=False`` always reads in this process.
    """

    def __init__(self, options: ChunkOptions, isolate: bool = True,
                 timeout_s: float = PARSE_TIMEOUT_S, target: ParseFn | None = None) -> None:
        self.options = options
        self.isolate = isolate
        self.timeout_s = timeout_s
        self.target: ParseFn = target or parse_file
        self._child: _Child | None = None
        self._pending: deque[Ticket] = deque()

    def submit(self, path: str) -> Ticket:
        child = self._ensure_child() if self.isolate else None
        ticket = Ticket(path, child)
        if child is not None:
            request = (self.target.__module__, self.target.__name__, path, self.options)
            if not child.send(request):
                self._drop_child()
                ticket = Ticket(path, None)
        self._pending.append(ticket)
        return ticket

    def result(self, ticket: Ticket) -> Parsed | ParseFailure:
        """The outcome of a submitted file; a crash or timeout of the reader is a `ParseFailure`."""
        while self._pending and self._pending[0] is not ticket:
            skipped = self._pending.popleft()  # submitted earlier and never redeemed
            if skipped.child is not None and skipped.child is self._child:
                self._wait(skipped)
        if self._pending and self._pending[0] is ticket:
            self._pending.popleft()
        if ticket.child is None:
            return self.target(ticket.path, self.options)
        if ticket.child is not self._child:  # lost with a reader stopped for another file
            return self.result(self.submit(ticket.path))
        return self._wait(ticket)

    def ready(self, ticket: Ticket, timeout: float) -> bool:
        """Whether `result` of ``ticket`` will return without waiting for the reader (waits up
        to ``timeout`` seconds for that). Lets the caller do other work while a file is read."""
        child = ticket.child
        if child is None or child is not self._child or not self._pending or self._pending[0] is not ticket:
            return True  # read here, or `result` has other tickets to settle first
        deadline = time.monotonic() + timeout
        while True:
            with child.results.mutex:
                if any(not isinstance(o, Alive) for o in child.results.queue):
                    return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(min(0.02, timeout))

    def _wait(self, ticket: Ticket) -> Parsed | ParseFailure:
        child = ticket.child
        assert child is not None
        try:
            outcome = child.results.get(timeout=self.timeout_s)
            while isinstance(outcome, Alive):  # a slow file still moving: the limit starts again
                outcome = child.results.get(timeout=self.timeout_s)
        except queue.Empty:
            self._drop_child()
            return ParseFailure(ticket.path, "timeout", f"{ticket.path}: reading took longer than "
                                f"{self.timeout_s:.0f} s and was stopped")
        if outcome is _DEAD:
            self._drop_child()
            return ParseFailure(ticket.path, "crash", f"{ticket.path}: the PDF reader crashed "
                                "on this file")
        assert isinstance(outcome, Parsed | ParseFailure)
        return outcome

    def _ensure_child(self) -> _Child | None:
        """The reader process, started and answering; None when it cannot run here."""
        if self._child is None:
            try:
                child = _Child()
                ok = child.send((__name__, "ping", "", self.options))
                answer = child.results.get(timeout=START_S) if ok else _DEAD
            except (OSError, queue.Empty):
                answer = _DEAD
            if not isinstance(answer, ParseFailure) or answer.kind != "pong":
                log.warning("the PDF reader process cannot start; reading PDFs in the app instead")
                self.isolate = False
                return None
            self._child = child
        return self._child

    def _drop_child(self) -> None:
        child, self._child = self._child, None
        if child is not None:
            child.kill()

    def close(self) -> None:
        self._pending.clear()
        self._drop_child()


if __name__ == "__main__":
    # Run the importable module's loop, not this __main__ copy's: what it sends (Alive) and the
    # heartbeat that parse_file calls must be the classes and globals of
    # grit_desktop.engine.documents.parsing, which the app unpickles and the parse functions see.
    from grit_desktop.engine.documents import parsing as _module

    _module.reader_main()
