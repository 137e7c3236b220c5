"""``python -m autograder validate lab0.ipynb``: the students' pre-submit check, run as the grader.

The student-facing check lives in the handout: ``dlcourse.validate`` (``python -m dlcourse.validate
labs/lab0/lab0.ipynb``) runs the notebook and scores its visible test cells as nbgrader does. Here
the same check runs the notebook in the grader's kernel (``autograder.config``: the sandbox, the
same timeout), for instructors and TAs reproducing what a student saw.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

from dlcourse import validate as student
from dlcourse.validate import TaskResult, report, task_results

from .config import CELL_TIMEOUT, KERNEL_ARGS

__all__ = ["TaskResult", "report", "run_notebook", "task_results", "validate"]


def run_notebook(path: Path, *, cell_timeout: int = CELL_TIMEOUT) -> nbformat.NotebookNode:
    """Execute a copy of the notebook in the grader's kernel; the file is untouched."""
    return student.run_notebook(path, cell_timeout=cell_timeout, kernel_args=KERNEL_ARGS)


def validate(path: Path, *, cell_timeout: int = CELL_TIMEOUT) -> int:
    """The student's ``validate`` (its report and exit status), in the grader's kernel."""
    return student.validate(path, cell_timeout=cell_timeout, kernel_args=KERNEL_ARGS)
