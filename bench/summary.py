"""Collects bench/results/*.json into bench/results/summary.md: each figure beside its baseline."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    rows = []
    dates = set()
    for path in sorted(RESULTS.glob("*.json")):
        data = json.loads(path.read_text())
        dates.add(data.get("meta", {}).get("date", "?")[:10])
        for c in data.get("comparisons", []):
            target = c.get("target")
            verdict = "" if target is None else ("met" if c["ratio"] >= target else "MISSED")
            rows.append(
                f"| {path.stem} | {c['name']} | {c['value']} {c['unit']} | "
                f"{c['baseline']} {c['unit']} ({c['baseline_name']}) | {c['ratio']}× | "
                f"{'' if target is None else f'≥ {target}×'} {verdict} |"
            )
    lines = [
        "# Benchmark summary",
        "",
        f"Cores: {os.cpu_count()}; results dated {', '.join(sorted(dates)) or '-'}. "
        "Written by `make bench` (bench/summary.py) from bench/results/*.json.",
        "",
        "| bench | figure | value | baseline (same run) | ratio | target |",
        "| --- | --- | --- | --- | --- | --- |",
        *rows,
        "",
    ]
    (RESULTS / "summary.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
