"""The command line, run as a user runs it: a subprocess of the installed entry point."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from grit_desktop.cli import main
from grit_desktop.engine.grit.model import GritModel
from grit_desktop.engine.grit.prompts import QUERY_TASK


def cli(*args: str, home: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GRIT_DESKTOP_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "grit_desktop", *args], input=stdin, capture_output=True,
        text=True, env=env, timeout=120,
    )


def test_embed_json_prints_one_vector_per_text(
    tiny_model_dir: Path, tiny_model: GritModel, home: Path
) -> None:
    done = cli("embed", "--model", str(tiny_model_dir), "--json", "hello", "page two", home=home)
    assert done.returncode == 0, done.stderr
    vectors = np.array(json.loads(done.stdout))
    assert vectors.shape == (2, tiny_model.info.hidden_size)
    np.testing.assert_allclose(vectors, tiny_model.embed(["hello", "page two"]).vectors, atol=1e-6)
    assert "Traceback" not in done.stderr


def test_embed_query_and_instruction_and_stdin(
    tiny_model_dir: Path, tiny_model: GritModel, home: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model = str(tiny_model_dir)
    assert main(["embed", "--model", model, "--json", "--query", "what is it?"]) == 0
    query = np.array(json.loads(capsys.readouterr().out))
    np.testing.assert_allclose(query, tiny_model.embed(["what is it?"], QUERY_TASK).vectors, atol=1e-6)
    assert main(["embed", "--model", model, "--json", "--instruction", "Find", "what is it?"]) == 0
    custom = np.array(json.loads(capsys.readouterr().out))
    assert not np.allclose(custom, query, atol=1e-4)
    monkeypatch.setattr(sys, "stdin", __import__("io").StringIO("from stdin"))
    assert main(["embed", "--model", model, "-"]) == 0
    plain = np.array([[float(x) for x in capsys.readouterr().out.split()]])
    np.testing.assert_allclose(plain, tiny_model.embed(["from stdin"]).vectors, atol=1e-5)


def test_missing_model_is_one_clear_line(home: Path, tmp_path: Path) -> None:
    done = cli("embed", "--model", str(tmp_path / "nothing"), "hello", home=home)
    assert done.returncode == 1
    assert done.stderr.strip() == f"grit-desktop: error: model folder {tmp_path / 'nothing'} does not exist"


def test_default_model_offline_says_what_to_do(home: Path, tmp_path: Path) -> None:
    env_cache = {"HF_HUB_CACHE": str(tmp_path / "empty-cache")}
    os.environ.update(env_cache)
    try:
        done = cli("embed", "hello", home=home)
    finally:
        for k in env_cache:
            os.environ.pop(k)
    assert done.returncode == 1
    assert "GritLM/GritLM-7B is not on this machine" in done.stderr
    assert "grit-desktop download" in done.stderr and "Traceback" not in done.stderr


def test_download_offline_fails_cleanly(home: Path) -> None:
    done = cli("download", home=home)
    assert done.returncode == 1
    assert "offline" in done.stderr and "Traceback" not in done.stderr


def test_settings_file_gives_the_model(tiny_model_dir: Path, home: Path) -> None:
    home.mkdir(parents=True)
    (home / "settings.json").write_text(json.dumps({"model": str(tiny_model_dir)}))
    done = cli("embed", "--json", "hi", home=home)
    assert done.returncode == 0, done.stderr
    assert len(json.loads(done.stdout)) == 1


def test_help_lists_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for command in ("gui", "ingest", "docs", "search", "remove", "ask", "chats", "export", "embed",
                    "download", "bench"):
        assert command in out


def test_commands_without_the_model_start_without_torch(home: Path) -> None:
    """torch takes over a second to import: listing, removing, exporting and help do without it
    (only the commands that load the model import it), and ``--help`` without the engine. A
    real child process: this one has imported torch long ago."""
    script = "\n".join((
        "import sys",
        "from grit_desktop.cli import main",
        "try:",
        "    main(['--help'])",
        "except SystemExit as exc:",
        "    print('@ --help', exc.code, sorted(m for m in ('lancedb', 'torch') if m in sys.modules))",
        "for argv in (['docs'], ['chats'], ['export', '1'], ['remove', 'nothing'], ['watch', 'list'],",
        "             ['ask', '--help'], ['search', '--help']):",
        "    try:",
        "        print('@', *argv, main(argv))",
        "    except SystemExit as exc:",
        "        print('@', *argv, exc.code)",
        "print('@', sorted(m for m in ('torch', 'transformers') if m in sys.modules))",
    ))
    env = {**os.environ, "GRIT_DESKTOP_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env,
                          timeout=120)
    said = [line.removeprefix("@ ") for line in done.stdout.splitlines() if line.startswith("@ ")]
    assert said[:-1] == ["--help 0 []",  # nor the library's LanceDB
                         "docs 0", "chats 0", "export 1 1", "remove nothing 1", "watch list 0",
                         "ask --help 0", "search --help 0"], done.stderr
    assert "there is no chat 1" in done.stderr and "no document 'nothing'" in done.stderr
    assert said[-1] == "[]"  # neither was imported


def test_bad_option_value_is_rejected(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["embed", "--device", "tpu", "x"])
    assert exit_.value.code == 2
    assert "invalid choice: 'tpu'" in capsys.readouterr().err
