"""The nbgrader course configuration, built in Python (no nbgrader_config.py to exec).

Stock nbgrader pipelines with these changes, each for a trap that would cost students points
or show them what they should not see:

- generate_assignment: stubs name their task (``TaskStubs`` instead of ``ClearSolutions``).
- autograde, sanitising: deleted graded cells are re-added (``OverwriteCells.add_missing_cells``)
  and graded cells are put back in the assignment's order (``RestoreCellOrder``); edited locked
  cells are reported (``ReportEditedCells``) and restored by stock nbgrader; duplicate grade ids
  keep the last copy (``DropDuplicateIds``).
- autograde, executing (``GradingExecute``): test cells run in the grader's process against
  proxies of the student's code; one fixed kernel, in an OS sandbox whose settings (what it
  must not see, its memory) are this configuration's, so each course grades with its own; a
  per-cell timeout and a per-notebook time limit; a dead kernel costs only the cells it did not
  reach; output capped; stderr kept but not fatal (``StderrToStdout``); bonus tasks saved as
  extra credit (``SaveTaskGrades``).
- generate_feedback: hidden tests are removed from the feedback (stock feedback shows them).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import nbgrader
from nbconvert.preprocessors import ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor
from nbgrader.preprocessors import (
    AssignLatePenalties,
    CheckCellMetadata,
    ClearHiddenTests,
    ClearMarkScheme,
    ClearOutput,
    ComputeChecksums,
    IncludeHeaderFooter,
    LimitOutput,
    LockCells,
    OverwriteCells,
    OverwriteKernelspec,
    SaveCells,
)
from traitlets.config import Config

from .execute import NOTEBOOK_TIMEOUT, GradingExecute
from .preprocessors import (
    DropDuplicateIds,
    GetTaskGrades,
    ReportEditedCells,
    RestoreCellOrder,
    SaveTaskGrades,
    StderrToStdout,
    TaskStubs,
)
from .sandbox import Limits

COURSE_ID = "dlcourse"
KERNEL = "python3"
KERNEL_ARGS = [
    "--HistoryManager.hist_file=:memory:",
    "--IPKernelApp.log_level=ERROR",
    "--IPKernelApp.exec_lines=import autograder.sandbox as _s; _s.install(); del _s",
]
"""In-memory history (nbgrader's default); the kernel's start-up warnings kept off our stderr;
the in-kernel sandbox (``autograder.sandbox.install``) before any of the notebook's code runs."""
FEEDBACK_TEMPLATE = Path(__file__).resolve().parent / "templates" / "dlcourse_feedback"
"""nbgrader's feedback page with each task's name in its contents."""
_NBGRADER_TEMPLATES = (
    Path(nbgrader.__file__).parent / "server_extensions" / "formgrader" / "templates"
)
MATHJAX = "_mathjax"
"""Folder of ``<course>/feedback/`` holding MathJax (from jupyter-server-mathjax), so that
formulas render offline; feedback pages are two levels below it."""
CELL_TIMEOUT = 60
"""Seconds one cell may run while grading; notebooks shrink training via dlcourse.config.budget."""


def nbgrader_config(
    course_dir: Path,
    *,
    cell_timeout: int = CELL_TIMEOUT,
    notebook_timeout: int = NOTEBOOK_TIMEOUT,
    db_url: str | None = None,
    memory_limit: int | None = Limits.memory,
    hidden: Sequence[str | Path] = (),
    visible: Sequence[str | Path] = (),
    unsafe_no_sandbox: bool = False,
) -> Config:
    """nbgrader configuration for a course folder (working folders inside it; the gradebook too,
    as SQLite, unless ``db_url`` names another database, e.g. ``postgresql://host/grades``).

    The student's kernel gets ``memory_limit`` bytes and does not see ``hidden`` (the course
    folder is always hidden) but for ``visible`` inside it; ``unsafe_no_sandbox``: no OS sandbox.
    """
    c = Config()
    c.CourseDirectory.root = str(course_dir)
    c.CourseDirectory.course_id = COURSE_ID
    c.CourseDirectory.db_url = db_url or f"sqlite:///{course_dir / 'gradebook.db'}"
    # No JupyterHub exchange is used; keep nbgrader from probing a system-wide one.
    c.Exchange.root = str(course_dir / "exchange")

    c.GenerateAssignment.preprocessors = [
        IncludeHeaderFooter,
        LockCells,
        TaskStubs,
        ClearOutput,
        CheckCellMetadata,
        ComputeChecksums,
        SaveCells,
        ClearHiddenTests,
        ClearMarkScheme,
        ComputeChecksums,
        CheckCellMetadata,
    ]

    c.OverwriteCells.add_missing_cells = True
    for preprocessor in (ReportEditedCells, RestoreCellOrder):
        c[preprocessor.__name__].release_directory = str(course_dir / "release")
    c.Autograde.sanitize_preprocessors = [
        ClearOutput,
        DropDuplicateIds,
        ReportEditedCells,
        OverwriteKernelspec,
        OverwriteCells,
        RestoreCellOrder,
        CheckCellMetadata,
    ]
    c.Execute.kernel_name = KERNEL
    c.Execute.extra_arguments = KERNEL_ARGS
    c.Execute.timeout = cell_timeout
    c.GradingExecute.notebook_timeout = notebook_timeout
    c.GradingExecute.memory_limit = memory_limit
    c.GradingExecute.hidden = [str(course_dir), *map(str, hidden)]
    c.GradingExecute.visible = list(map(str, visible))
    c.GradingExecute.unsafe_no_sandbox = unsafe_no_sandbox
    c.Autograde.autograde_preprocessors = [
        GradingExecute,
        StderrToStdout,
        ClearMetadataPreprocessor,
        LimitOutput,
        SaveTaskGrades,
        AssignLatePenalties,
        CheckCellMetadata,
    ]

    c.GenerateFeedback.preprocessors = [GetTaskGrades, ClearHiddenTests, CSSHTMLHeaderPreprocessor]
    # task names in the contents; MathJax from the feedback folder, not a CDN (FEEDBACK_TEMPLATE)
    c.HTMLExporter.template_name = FEEDBACK_TEMPLATE.name
    c.HTMLExporter.template_file = f"{FEEDBACK_TEMPLATE.name}.html.j2"  # extends nbgrader's index
    c.HTMLExporter.extra_template_basedirs = [
        str(FEEDBACK_TEMPLATE.parent),
        str(_NBGRADER_TEMPLATES),
    ]
    return c
