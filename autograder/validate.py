"""``python -m autograder validate lab0.ipynb``: the students' pre-submit check, run as the grader.

The student-facing check lives in the handout: ``dlcourse.validate`` (``python -m dlcourse.validate
labs/lab0/lab0.ipynb``) runs the notebook and scores its visible test cells as nbgrader does. Here
the same check runs the notebook in the grader's kernel (``autograder.config``: the sandbox, the
same timeout), for instructors and TAs reproducing what a student saw.
"""
from __future__ import annotations

from pathlib import Path

import nbformat

from dlcourse.validate import TaskResult, report, task_results
from dlcourse.validate import run_notebook as _run_notebook

from .config import CELL_TIMEOUT, KERNEL_ARGS

__all__ = ["TaskResult", "report", "run_notebook", "task_results"]


def run_notebook(path: Path, *, cell_timeout: int = CELL_TIMEOUT) -> nbformat.NotebookNode:
    """Execute a copy of the notebook in the grader's kernel; the file is untouched."""
    return _run_notebook(path, cell_timeout=cell_timeout, kernel_args=KERNEL_ARGS)
