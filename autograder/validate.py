"""``python -m autograder validate lab0.ipynb``: a student's check before submitting.

Runs the notebook top to bottom in a fresh kernel, exactly as the grader will (same kernel, same
timeout, same fast training budgets, same scoring of test cells), and says per task what passes
and what is still missing. Only the visible checks are in a student's notebook; the grader adds
hidden ones with other seeds and shapes.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbgrader.utils import determine_grade, is_grade, setenv

from .config import CELL_TIMEOUT, KERNEL, KERNEL_ARGS
from .course import duplicate_grade_ids
from .preprocessors import StderrToStdout, grade_id

FAIL_MARK = "✗"


@dataclass
class TaskResult:
    task: str
    score: float
    points: float
    problems: list[str]

    @property
    def ok(self) -> bool:
        return self.score == self.points


def run_notebook(path: Path, *, cell_timeout: int = CELL_TIMEOUT) -> nbformat.NotebookNode:
    """Execute a copy of the notebook as nbgrader's validate step does; the file is untouched."""
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=cell_timeout, kernel_name=KERNEL, allow_errors=True,
                            extra_arguments=KERNEL_ARGS, resources={"metadata": {"path": str(path.parent)}})
    with setenv(NBGRADER_EXECUTION="validate"):  # the kernel inherits it: fast budgets
        client.execute()
    return nb


def task_results(nb: nbformat.NotebookNode) -> list[TaskResult]:
    """Score of every graded cell, scored as the autograder scores it."""
    results = []
    to_stdout = StderrToStdout()
    for index, cell in enumerate(nb.cells):
        if not (cell.cell_type == "code" and is_grade(cell)):
            continue
        to_stdout.preprocess_cell(cell, {}, index)
        score, points = determine_grade(cell)
        results.append(TaskResult(grade_id(cell), float(score or 0.0), points, _problems(cell)))
    return results


def _problems(cell: nbformat.NotebookNode) -> list[str]:
    """The failing lines the checks printed, and the error a cell raised."""
    problems = []
    for output in cell.outputs:
        if output.output_type == "stream":
            problems += [line.strip() for line in output.text.splitlines() if FAIL_MARK in line]
        elif output.output_type == "error":
            problems.append(f"{output.ename}: {output.evalue}".strip())
    return problems


def report(path: Path, nb: nbformat.NotebookNode, results: list[TaskResult]) -> str:
    """What a student reads: one line per task, the problems under it, and a summary."""
    lines = [f"{path.name}: visible checks (the grader adds hidden ones with other seeds and shapes)"]
    for gid, cells in duplicate_grade_ids(nb).items():
        lines.append(f"  ! cells {cells} share the grade id '{gid}': only the last one is graded; delete the copies")
    width = max([len(r.task) for r in results] + [4])
    for r in results:
        mark = "✓" if r.ok else FAIL_MARK
        lines.append(f"  {mark} {r.task:<{width}}  {r.score:g}/{r.points:g}")
        lines += [f"      {p}" for p in r.problems[:5]]
    earned, total = sum(r.score for r in results), sum(r.points for r in results)
    missing = [r.task for r in results if not r.ok]
    lines.append(f"Visible checks: {earned:g}/{total:g} points."
                 + (f" Still to do: {', '.join(missing)}." if missing else " All pass: ready to submit."))
    return "\n".join(lines)
