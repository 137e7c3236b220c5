"""The nbgrader course configuration, built in Python (no nbgrader_config.py to exec).

Stock nbgrader pipelines with these changes, each for a trap that would cost students points
or show them what they should not see:

- generate_assignment: stubs name their task (``TaskStubs`` instead of ``ClearSolutions``).
- autograde, sanitising: deleted graded cells are re-added (``OverwriteCells.add_missing_cells``)
  and graded cells are put back in the assignment's order (``RestoreCellOrder``); edited locked
  cells are reported (``ReportEditedCells``) and restored by stock nbgrader; duplicate grade ids
  keep the last copy (``DropDuplicateIds``).
- autograde, executing (``GradingExecute``): test cells run in the grader's process against
  proxies of the student's code; one fixed, sandboxed kernel; a per-cell timeout and a
  per-notebook time limit; a dead kernel costs only the cells it did not reach; output capped;
  stderr kept but not fatal (``StderrToStdout``).
- generate_feedback: hidden tests are removed from the feedback (stock feedback shows them).
"""
from __future__ import annotations

from pathlib import Path

from nbconvert.preprocessors import ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor
from nbgrader.preprocessors import (
    AssignLatePenalties, CheckCellMetadata, ClearHiddenTests, ClearMarkScheme, ClearOutput,
    ComputeChecksums, GetGrades, IncludeHeaderFooter, LimitOutput,
    LockCells, OverwriteCells, OverwriteKernelspec, SaveAutoGrades, SaveCells,
)
from traitlets.config import Config

from .execute import NOTEBOOK_TIMEOUT, GradingExecute
from .preprocessors import DropDuplicateIds, ReportEditedCells, RestoreCellOrder, StderrToStdout, TaskStubs

COURSE_ID = "dlcourse"
KERNEL = "python3"
KERNEL_ARGS = ["--HistoryManager.hist_file=:memory:", "--IPKernelApp.log_level=ERROR",
               "--IPKernelApp.exec_lines=import autograder.sandbox as _s; _s.install(); del _s"]
"""In-memory history (nbgrader's default); the kernel's start-up warnings kept off our stderr;
the sandbox (``autograder.sandbox``) installed before any of the notebook's code runs."""
CELL_TIMEOUT = 60
"""Seconds one cell may run while grading; notebooks shrink training via dlcourse.config.budget."""


def nbgrader_config(course_dir: Path, *, cell_timeout: int = CELL_TIMEOUT,
                    notebook_timeout: int = NOTEBOOK_TIMEOUT, db_url: str | None = None) -> Config:
    """nbgrader configuration for a course folder (working folders inside it; the gradebook too,
    as SQLite, unless ``db_url`` names another database, e.g. ``postgresql://host/grades``)."""
    c = Config()
    c.CourseDirectory.root = str(course_dir)
    c.CourseDirectory.course_id = COURSE_ID
    c.CourseDirectory.db_url = db_url or f"sqlite:///{course_dir / 'gradebook.db'}"
    # No JupyterHub exchange is used; keep nbgrader from probing a system-wide one.
    c.Exchange.root = str(course_dir / "exchange")

    c.GenerateAssignment.preprocessors = [
        IncludeHeaderFooter, LockCells, TaskStubs, ClearOutput, CheckCellMetadata,
        ComputeChecksums, SaveCells, ClearHiddenTests, ClearMarkScheme, ComputeChecksums,
        CheckCellMetadata,
    ]

    c.OverwriteCells.add_missing_cells = True
    for preprocessor in (ReportEditedCells, RestoreCellOrder):
        c[preprocessor.__name__].release_directory = str(course_dir / "release")
    c.Autograde.sanitize_preprocessors = [
        ClearOutput, DropDuplicateIds, ReportEditedCells, OverwriteKernelspec, OverwriteCells,
        RestoreCellOrder, CheckCellMetadata,
    ]
    c.Execute.kernel_name = KERNEL
    c.Execute.extra_arguments = KERNEL_ARGS
    c.Execute.timeout = cell_timeout
    c.GradingExecute.notebook_timeout = notebook_timeout
    c.Autograde.autograde_preprocessors = [
        GradingExecute, StderrToStdout, ClearMetadataPreprocessor, LimitOutput, SaveAutoGrades,
        AssignLatePenalties, CheckCellMetadata,
    ]

    c.GenerateFeedback.preprocessors = [GetGrades, ClearHiddenTests, CSSHTMLHeaderPreprocessor]
    return c
