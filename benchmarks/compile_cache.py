"""How long preparing the compiled decode step takes at a start, with and without the kept kernels.

The app keeps what ``torch.compile`` compiled in its data folder (``cache/compiled/``), so a
later start of the window or of ``ask`` takes the kernels from there instead of generating and
building them again. This measures what a start costs either way: each round starts two child
processes that load the model and prepare the decode step (`Session.prepare_decoding`, as the
window's worker and ``ask`` do, for answers of the default settings' size), ``fresh`` with an
empty folder (a first start, or one after the folder was deleted) and ``kept`` with the folder
an earlier start filled; the order alternates from round to round. Only the preparation is
timed, not the load. ``fresh/kept`` is the median of the rounds' own ratios;
``compiled``/``reused`` count Inductor's graphs built anew and taken from the folder (``kept``
must build none). Run:

    .venv/bin/python -m benchmarks.compile_cache                  # mid shape, CPU, 5 rounds
    .venv/bin/python -m benchmarks.compile_cache --model /path/to/SmolLM2-135M-Instruct
    .venv/bin/python -m benchmarks.compile_cache --synthetic gritlm-7b --device cuda --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from benchmarks.figures import cell, spread
from grit_desktop.engine.bench import rotated
from grit_desktop.engine.grit.decoding import COMPILED_CACHE_ENV

WAYS = ("fresh", "kept")


def prepare(home: str, model: str, device: str) -> dict[str, Any]:
    """In this process: load ``model``, prepare its decode step as the app does; the figures."""
    import torch._dynamo.utils

    from grit_desktop.config import Settings
    from grit_desktop.engine.session import Session

    settings = Settings(model=model, device=device, compile_decoding="on")  # type: ignore[arg-type]
    with Session(Path(home), settings) as session:
        session.load_model()
        t0 = time.perf_counter()
        ready = session.prepare_decoding()
        seconds = time.perf_counter() - t0
    counts = torch._dynamo.utils.counters["inductor"]
    return {"ready": ready, "seconds": seconds, "compiled": counts["fxgraph_cache_miss"],
            "reused": counts["fxgraph_cache_hit"]}


def start(home: Path, model: str, device: str) -> dict[str, Any]:
    """One start in a child process, with no compile cache folder named by the environment."""
    env = {k: v for k, v in os.environ.items() if k not in (COMPILED_CACHE_ENV, "TRITON_CACHE_DIR")}
    done = subprocess.run([sys.executable, "-m", "benchmarks.compile_cache", "--child", str(home), model,
                           device], env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"a start failed:\n{done.stderr[-3000:]}")
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    if not figures["ready"]:
        raise SystemExit(f"the decode step was not prepared:\n{done.stderr[-3000:]}")
    return figures


def measure(model: str, device: str, rounds: int, tmp: Path) -> dict[str, Any]:
    kept = tmp / "kept"
    first = start(kept, model, device)  # fills the kept folder, as a first start does
    runs: dict[str, list[dict[str, Any]]] = {w: [] for w in WAYS}
    for r in range(rounds):
        for way in rotated(WAYS, r):
            home = kept if way == "kept" else tmp / f"fresh-{r}"
            runs[way].append(start(home, model, device))
    seconds = {w: [run["seconds"] for run in runs[w]] for w in WAYS}
    return {
        "model": model, "device": device, "rounds": rounds,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "first_start_s": first["seconds"],
        "seconds": {w: spread(seconds[w]) for w in WAYS},
        "fresh_vs_kept": statistics.median(f / k for f, k in zip(*seconds.values(), strict=True)),
        "compiled": {w: [run["compiled"] for run in runs[w]] for w in WAYS},
        "reused": {w: [run["reused"] for run in runs[w]] for w in WAYS},
    }


def report(r: dict[str, Any]) -> str:
    lines = [f"compile_cache: preparing the decode step at a start, {r['model']} on {r['device']} "
             f"({r['machine']}), {r['rounds']} rounds",
             f"  {'start':<6} {'seconds, median (min-max)':>28}  graphs compiled / reused"]
    for way in WAYS:
        lines.append(f"  {way:<6} {cell(r['seconds'][way], '{:.2f}'):>28}  "
                     f"{sum(r['compiled'][way])} / {sum(r['reused'][way])}")
    lines.append(f"  fresh/kept: {r['fresh_vs_kept']:.2f} (median of the rounds' ratios; above 1: "
                 "the kept folder saves time)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        home, model, device = argv[1:4]
        print(json.dumps(prepare(home, model, device)))
        return
    p = argparse.ArgumentParser(prog="python -m benchmarks.compile_cache", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", help="a model folder (default: a random model of --synthetic's shape)")
    p.add_argument("--synthetic", default="mid", help="tiny, mid or gritlm-7b (default mid)")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"))
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="compile-cache-") as tmp:
        model = args.model
        if model is None:
            from grit_desktop.engine.grit.synthetic import build_model

            big = args.synthetic == "gritlm-7b"  # built on the GPU where there is one (minutes on a CPU)
            device = "cuda" if big and args.device != "cpu" and torch.cuda.is_available() else "cpu"
            dtype = "bfloat16" if big else "float32"
            model = str(build_model(Path(tmp, "model"), args.synthetic, dtype=dtype, device=device))
        result = measure(model, args.device, args.rounds, Path(tmp))
    result["model"] = args.model or f"a random {args.synthetic} model"
    print(json.dumps(result, indent=2) if args.json else report(result))


if __name__ == "__main__":
    main()
