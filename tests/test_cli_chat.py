"""ask, chats and export from the command line; a conversation survives between runs."""

from __future__ import annotations

import json
import re
from pathlib import Path

from grit_desktop.config import Settings, save_settings
from tests import pdfs
from tests.test_cli_library import cli


def test_ask_follow_up_chats_export(tmp_path: Path, mistral_model_dir: Path) -> None:
    home, docs = tmp_path / "home", tmp_path / "docs"
    home.mkdir()
    docs.mkdir()
    save_settings(home, Settings(model=str(mistral_model_dir), chunk_tokens=64, chunk_overlap_tokens=8,
                                 max_new_tokens=8, top_k=2))
    filler = " ".join(["This page is about nothing in particular."] * 8)
    pdfs.make_pdf(docs / "m.pdf", [filler, "The warranty lasts seventeen months."], title="Manual")
    assert cli(home, "ingest", str(docs)).returncode == 0

    first = cli(home, "ask", "--json", "warranty seventeen months")
    assert first.returncode == 0, first.stderr
    answer = json.loads(first.stdout)
    assert answer["sources"][0]["title"] == "Manual" and answer["sources"][0]["page_end"] == 2
    assert answer["timings"]["cached_tokens"] > 0
    chat = answer["chat"]

    streamed = cli(home, "ask", "--chat", str(chat), "--cache", "none", "and after that?")
    assert streamed.returncode == 0, streamed.stderr
    assert "Sources:" in streamed.stdout and "[1] Manual" in streamed.stdout

    listed = json.loads(cli(home, "chats", "--json").stdout)
    assert [(c["id"], c["messages"]) for c in listed] == [(chat, 4)]
    md = cli(home, "export", str(chat)).stdout
    assert md.count("## You") == 2 and md.count("## Assistant") == 2
    assert "warranty seventeen months" in md and "and after that?" in md
    assert "*Manual*" in md
    out = tmp_path / "chat.md"
    assert cli(home, "export", str(chat), "-o", str(out)).returncode == 0
    def body(text: str) -> str:  # without the export time, which may change between the two
        return re.sub(r"_Exported from grit-desktop on [^_]*_", "", text)

    assert body(out.read_text()) == body(md) and body(md) != md
    missing = cli(home, "export", "999")
    assert missing.returncode == 1 and "no chat 999" in missing.stderr
