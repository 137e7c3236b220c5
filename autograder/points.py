"""Points are declared once, in ``dlcourse.tasks.<lab>``: ``TASKS`` for the automatically graded
tasks, ``QUESTIONS`` for the written answers a TA grades by hand; a lab's notebook gets them here.

``python -m autograder assign`` passes the instructors' notebook through ``declare`` before
nbgrader sees it: every graded cell's nbgrader ``points`` is set from the tables (0 for a bonus
task, which nbgrader then grades as extra credit: ``autograder.preprocessors.SaveTaskGrades``).
A task's graded cell is its code test cell; a question's is a markdown answer cell (nbgrader
``solution`` and ``grade``, whose model answer nbgrader replaces by "YOUR ANSWER HERE").
Anything in the notebook that says otherwise stops the assignment with the task and both values,
so a points change made in the wrong place is never silently ignored nor half applied:

- a cell's metadata ``points`` (what nbgrader's "create assignment" toolbar writes);
- a literal in the test cell's ``report.points(P)`` (``report.points()`` takes the table's);
- a graded cell neither table declares, or a declared task or question without its cell;
- a question whose cell is not a markdown answer cell, or whose id is not ``q_<name>``.
"""

from __future__ import annotations

import re

from nbformat import NotebookNode

from dlcourse import tasks

from .preprocessors import is_written_answer

_LITERAL = re.compile(r"\breport\.points\(\s*([0-9.]+)\s*\)")
QUESTION_ID = re.compile(r"q_[a-z0-9_]+")
TABLE = "dlcourse/tasks/{lab}.py TASKS"
QUESTIONS = "dlcourse/tasks/{lab}.py QUESTIONS"


class PointsMismatch(ValueError):
    """The notebook and the lab's task table disagree; the message names each difference."""


def declare(lab: str, notebook: NotebookNode) -> NotebookNode:
    """Set each graded cell's nbgrader points from the lab's tables (in place; returns it).

    Raises:
        PointsMismatch: naming every task or question where the notebook disagrees.
    """
    table, asked = tasks.points(lab), tasks.questions(lab)
    where, problems, seen = TABLE.format(lab=lab), _question_ids(lab, table, asked), set()
    for cell in notebook.cells:
        meta = cell.metadata.get("nbgrader", {})
        if not meta.get("grade"):
            continue
        task = meta.get("grade_id", "?")
        seen.add(task)
        if task not in table and task not in asked:
            problems.append(
                f"graded cell '{task}' is declared neither in {where} nor in "
                f"{QUESTIONS.format(lab=lab)}: add it with its points"
            )
            continue
        if task in asked and not is_written_answer(cell):
            problems.append(
                f"question '{task}': its cell must be a markdown answer cell (nbgrader "
                "'solution' and 'grade' both true)"
            )
        declared = table[task] if task in table else asked[task]
        source = cell.source if task in table else ""  # report.points(): a test cell's only
        derived = tasks.nbgrader_points(lab, task)
        # a notebook assigned before (a grading worker's copy) carries the derived value
        metadata = None if meta.get("points") == derived else meta.get("points")
        kind = "question" if task in asked else "task"
        problems += _disagreements(
            f"{kind} '{task}'", declared, metadata, source, _table(lab, task)
        )
        meta["points"] = derived
    problems += [
        f"{kind} '{task}' ({worth} points in {_table(lab, task)}) has no graded cell in the "
        "notebook"
        for kind, declared in (("task", table), ("question", asked))
        for task, worth in declared.items()
        if task not in seen
    ]
    if problems:
        raise PointsMismatch(
            f"{lab}: points are declared in {where} and QUESTIONS; the notebook disagrees: "
            + "; ".join(problems)
        )
    return notebook


def _table(lab: str, task: str) -> str:
    """Where ``task``'s points are declared: the tasks' table, or the questions'."""
    return (TABLE if task in tasks.points(lab) else QUESTIONS).format(lab=lab)


def _question_ids(lab: str, table: dict[str, int], asked: dict[str, int]) -> list[str]:
    """What is wrong with the questions' ids: not ``q_<name>``, or also a task's id."""
    where = QUESTIONS.format(lab=lab)
    return [
        f"question '{q}' in {where}: a question's id is q_<name> (snake case)"
        for q in asked
        if not QUESTION_ID.fullmatch(q)
    ] + [f"'{q}' is declared both in {where} and in TASKS" for q in asked if q in table]


def _disagreements(
    name: str, declared: int, metadata: object, source: str, where: str
) -> list[str]:
    """What a graded cell says about its task's (or question's) points that differs from
    ``declared``; ``name`` as the messages call it: "task 'eval_AP'"."""
    found = []
    if metadata is not None and _number(metadata) != declared:
        found.append(
            f"{name}: {declared} points in {where}, {metadata!r} in the cell's "
            "nbgrader metadata (remove it there, or change the table)"
        )
    for literal in _LITERAL.findall(source):
        if float(literal) != declared:
            found.append(
                f"{name}: {declared} points in {where}, report.points({literal}) "
                "in its test cell (write report.points())"
            )
    return found


def _number(value: object) -> float | None:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
