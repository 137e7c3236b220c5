"""The tests every lab's checks must pass, written once: a lab's test module subclasses
``TaskChecks`` (as ``TestTasks``) and supplies only its cases.

- ``lab``: the module ``dlcourse.tasks.<lab>``;
- ``CASES``: task -> (its check, the cases its graded cell runs (visible, then hidden), a
  correct submission);
- ``WRONG``: (task, a realistic wrong submission, the quantities it must lose[, its hint]): the
  hint, words every hint its report carries must contain (or a tuple of such words, one of them
  in each hint: a submission whose cases show its mistake in two ways); none given: the report
  must carry no hint (no false hints; ``dlcourse.check.diagnosis``).

Each task must have quantities and cases; a correct submission gets the task's points and the
check prints its report; each wrong one loses exactly its quantities' share of the points and
gets exactly its hint.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any, ClassVar

import pytest

from dlcourse.check import Report


def failing(report: Report) -> set[str]:
    """The quantities that did not pass."""
    return {q for q in report.quantities if not report.passed(q)}


def run_cases(check_and_cases: tuple, submission: Any) -> tuple[Report, float]:
    """``(check, cases, correct)`` of a task run on ``submission``: (report, points earned)."""
    check, cases, _ = check_and_cases
    report = check(submission, **cases[0])
    for case in cases[1:]:
        report += check(submission, **case)
    return report, report.points()


class TaskChecks:
    """Base of each lab's ``TestTasks``; ``grade`` is also what the lab's other tests call."""

    lab: ClassVar[ModuleType]
    CASES: ClassVar[dict[str, tuple[Callable, list[dict], Any]]]
    WRONG: ClassVar[list[tuple]]

    @classmethod
    def grade(cls, task: str, submission: Any) -> tuple[Report, float]:
        """The graded cell of ``task`` run on ``submission`` (every case, visible and hidden):
        (report, points earned)."""
        return run_cases(cls.CASES[task], submission)

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        if "task" in metafunc.fixturenames:
            metafunc.parametrize("task", list(self.CASES))
        if "wrong" in metafunc.fixturenames:
            metafunc.parametrize(
                "wrong",
                self.WRONG,
                ids=[f"{task}-{getattr(fn, '__name__', '?')}" for task, fn, *_ in self.WRONG],
            )

    def test_every_task_has_quantities_and_cases(self) -> None:
        assert set(self.lab.TASKS) == set(self.lab.QUANTITIES) == set(self.CASES)

    def test_correct_submission_gets_full_points(self, task: str, capsys) -> None:
        report, points = self.grade(task, self.CASES[task][2])
        assert points == self.lab.TASKS[task], str(report)
        assert type(points) is float and report.ok
        printed = capsys.readouterr().out
        assert f"{task}: {len(self.lab.QUANTITIES[task])} of" in printed

    @pytest.mark.filterwarnings("ignore::RuntimeWarning")  # a naive exp overflows, as intended
    def test_wrong_submission_loses_exactly_the_broken_quantities(self, wrong) -> None:
        task, submission, lost, *hint = wrong
        report, points = self.grade(task, submission)
        assert failing(report) == lost, str(report)
        n = len(self.lab.QUANTITIES[task])
        assert points == round(self.lab.TASKS[task] * (n - len(lost)) / n, 6)
        hints = {c.hint.text for c in report if c.hint}
        if hint:  # words, or a tuple of words one of which each hint has
            words = hint[0] if isinstance(hint[0], tuple) else (hint[0],)
            assert hints and all(any(w in text for w in words) for text in hints), str(report)
        else:
            assert not hints, f"a false hint: {hints}"
