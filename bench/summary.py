"""Collects bench/results/*.json into bench/results/summary.md: each figure beside its baseline
(measured in the same run), the ratio and the target the docs set, with each result's date and core count.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def verdict(row: dict[str, Any]) -> str:
    """``≥ 0.85× met`` / ``≤ 1.0× MISSED`` for a row with a target, else empty."""
    target, ratio = row.get("target"), row.get("ratio")
    if target is None or ratio is None:
        return ""
    if row.get("lower_is_better"):
        return f"≤ {target}× {'met' if ratio <= target else 'MISSED'}"
    return f"≥ {target}× {'met' if ratio >= target else 'MISSED'}"


def main() -> None:
    """Write bench/results/summary.md and print it."""
    rows, runs = [], []
    for path in sorted(RESULTS.glob("*.json")):
        data = json.loads(path.read_text())
        info = data.get("meta", {})
        runs.append(
            f"| {path.stem} | {info.get('date', '?')} | {info.get('cores', '?')} | "
            f"{info.get('cpu', '?')} | {info.get('load_average_1min', '?')} |"
        )
        for c in data.get("comparisons", []):
            better = " (lower is better)" if c.get("lower_is_better") else ""
            rows.append(
                f"| {path.stem} | {c['name']} | {c['value']} {c['unit']} | "
                f"{c['baseline']} {c['unit']} ({c['baseline_name']}) | {c['ratio']}×{better} | "
                f"{verdict(c)} |"
            )
    lines = [
        "# Benchmark summary",
        "",
        "Written by `make bench` (bench/summary.py) from bench/results/*.json. Every baseline was "
        "measured in the same run as its figure; servers pinned to core 0, wrk to core 1.",
        "",
        "| bench | figure | value | baseline (same run) | ratio | target |",
        "| --- | --- | --- | --- | --- | --- |",
        *rows,
        "",
        "| bench | date (UTC) | cores | CPU | load average (1 min) at start |",
        "| --- | --- | --- | --- | --- |",
        *runs,
        "",
    ]
    (RESULTS / "summary.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
