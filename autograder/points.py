"""Points are declared once, in ``dlcourse.tasks.<lab>.TASKS``; a lab's notebook gets them here.

``python -m autograder assign`` passes the instructors' notebook through ``declare`` before
nbgrader sees it: every graded cell's nbgrader ``points`` is set from the table (0 for a bonus
task, which nbgrader then grades as extra credit: ``autograder.preprocessors.SaveTaskGrades``).
Anything in the notebook that says otherwise stops the assignment with the task and both values,
so a points change made in the wrong place is never silently ignored nor half applied:

- a cell's metadata ``points`` (what nbgrader's "create assignment" toolbar writes);
- a literal in the test cell's ``report.points(P)`` (``report.points()`` takes the table's);
- a graded cell the table does not declare, or a declared task without a graded cell.
"""

from __future__ import annotations

import re

from nbformat import NotebookNode

from dlcourse import tasks

_LITERAL = re.compile(r"\breport\.points\(\s*([0-9.]+)\s*\)")
TABLE = "dlcourse/tasks/{lab}.py TASKS"


class PointsMismatch(ValueError):
    """The notebook and the lab's task table disagree; the message names each difference."""


def declare(lab: str, notebook: NotebookNode) -> NotebookNode:
    """Set each graded cell's nbgrader points from the lab's table (in place; returns it).

    Raises:
        PointsMismatch: naming every task where the notebook disagrees with the table.
    """
    table, problems, seen = tasks.points(lab), [], set()
    where = TABLE.format(lab=lab)
    for cell in notebook.cells:
        meta = cell.metadata.get("nbgrader", {})
        if not meta.get("grade"):
            continue
        task = meta.get("grade_id", "?")
        seen.add(task)
        if task not in table:
            problems.append(
                f"graded cell '{task}' is not declared in {where}: add it with its " "points"
            )
            continue
        derived = tasks.nbgrader_points(lab, task)
        # a notebook assigned before (a grading worker's copy) carries the derived value
        metadata = None if meta.get("points") == derived else meta.get("points")
        problems += _disagreements(task, table[task], metadata, cell.source, where)
        meta["points"] = derived
    problems += [
        f"task '{task}' ({points} points in {where}) has no graded cell in the notebook"
        for task, points in table.items()
        if task not in seen
    ]
    if problems:
        raise PointsMismatch(
            f"{lab}: points are declared in {where}; the notebook disagrees: " + "; ".join(problems)
        )
    return notebook


def _disagreements(
    task: str, declared: int, metadata: object, source: str, where: str
) -> list[str]:
    """What a graded cell says about its task's points that differs from ``declared``."""
    found = []
    if metadata is not None and _number(metadata) != declared:
        found.append(
            f"task '{task}': {declared} points in {where}, {metadata!r} in the cell's "
            "nbgrader metadata (remove it there, or change the table)"
        )
    for literal in _LITERAL.findall(source):
        if float(literal) != declared:
            found.append(
                f"task '{task}': {declared} points in {where}, report.points({literal}) "
                "in its test cell (write report.points())"
            )
    return found


def _number(value: object) -> float | None:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
