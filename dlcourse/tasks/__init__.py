"""Graded checks, one module per lab (``dlcourse.tasks.lab0``, ...), and the labs' points.

Each module has one ``check_<task>`` function per task, called by the graded notebook cells and
by the autograder's tests, a table ``TASKS`` (task id -> points) and a set ``BONUS`` (the tasks
that are extra credit: they add to a score, not to the maximum). ``TASKS`` is the one place
points are declared: the checks' reports carry them (``report.points()`` is a cell's credit),
``python -m autograder assign`` writes them into the notebooks' nbgrader metadata and refuses a
notebook that says otherwise, and the contract docs' tables are tested against them.

A lab's written answers (the course's questions, graded by hand by TAs in nbgrader's formgrader)
are declared the same way, in ``QUESTIONS`` (question id ``q_<name>`` -> points): each is a
markdown answer cell of the notebook (nbgrader ``solution`` and ``grade``, grade id the question
id), whose model answer nbgrader replaces by "YOUR ANSWER HERE" for students. They count in the
lab's maximum as nbgrader counts them, but not in ``max_points`` (the automatic part).
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType


def _module(lab: str) -> ModuleType:
    return importlib.import_module(f"{__name__}.{lab}")


def declared(lab: str) -> bool:
    """True if ``lab`` has a module here; a lab without one (a course's own, see the README's
    "add a lab") declares its points in its notebook's nbgrader metadata, as plain nbgrader."""
    return importlib.util.find_spec(f"{__name__}.{lab}") is not None


def points(lab: str) -> dict[str, int]:
    """Task id -> the points it is worth (a bonus task's too), in the lab's order."""
    return dict(_module(lab).TASKS)


def bonus(lab: str) -> frozenset[str]:
    """The lab's bonus tasks (nbgrader extra credit); none for a lab not declared here."""
    return frozenset(_module(lab).BONUS) if declared(lab) else frozenset()


def questions(lab: str) -> dict[str, int]:
    """Question id -> the points of its written answer (graded by hand), in the lab's order; none
    for a lab without ``QUESTIONS`` or not declared here."""
    return dict(getattr(_module(lab), "QUESTIONS", {})) if declared(lab) else {}


def written_points(lab: str) -> int:
    """The points of the lab's written answers (manual grading)."""
    return sum(questions(lab).values())


def max_points(lab: str) -> int:
    """The maximum of the lab's automatic part: the points of its required tasks (the written
    answers add ``written_points``)."""
    extra = bonus(lab)
    return sum(p for task, p in points(lab).items() if task not in extra)


def nbgrader_points(lab: str, task: str) -> int:
    """What a graded cell (a task's test cell or a question's answer cell) declares to nbgrader:
    its points, or 0 for a bonus task (nbgrader adds a bonus as extra credit:
    ``autograder.preprocessors.SaveTaskGrades``)."""
    if task in bonus(lab):
        return 0
    return points(lab)[task] if task in points(lab) else questions(lab)[task]
