"""What a lab's graded cell does, for the tests of ``dlcourse.tasks.<lab>``: run the task's check
on every case (visible and hidden) and award the task's points."""
from __future__ import annotations

from typing import Any

from dlcourse.check import Report


def run_graded_cell(check_and_cases: tuple, points: float, submission: Any) -> tuple[Report, float]:
    """``(check, cases, reference)`` of a task run on ``submission``: (report, points earned)."""
    check, cases, _ = check_and_cases
    report = check(submission, **cases[0])
    for case in cases[1:]:
        report += check(submission, **case)
    return report, report.points(points)


def failing(report: Report) -> set[str]:
    """The quantities that did not pass."""
    return {q for q in report.quantities if not report.passed(q)}
