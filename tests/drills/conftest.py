"""Prints what each failure drill observed (counts, duplicates, run time) at the end of the run."""

from __future__ import annotations

import pytest

from tests.drills.harness import REPORTS


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if REPORTS:
        terminalreporter.section("failure drills")
        for report in REPORTS:
            terminalreporter.write_line(report.summary())
