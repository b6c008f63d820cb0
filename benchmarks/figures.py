"""Figures shared by the benchmark scripts: a median with its range, as JSON and as text."""

from __future__ import annotations

from grit_desktop.engine.bench import Spread


def spread(samples: list[float]) -> dict[str, float]:
    """``median``, ``lo``, ``hi`` and ``n`` of samples that all exist (every round measured them)."""
    s = Spread.of(samples)
    if s is None:
        raise ValueError("no samples")
    return vars(s)


def cell(s: dict[str, float], fmt: str) -> str:
    """``median (lo-hi)``, each number formatted by ``fmt`` (e.g. ``"{:.2f}"``)."""
    return f"{fmt.format(s['median'])} ({fmt.format(s['lo'])}-{fmt.format(s['hi'])})"
