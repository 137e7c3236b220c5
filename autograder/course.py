"""A course folder driven through nbgrader's Python API: assign, autograde, feedback, scores.

The folder (``--course-dir``) holds nbgrader's gradebook and working folders::

    <course>/gradebook.db
    <course>/source/<lab>/<lab>.ipynb        copied from the repo's solutions/
    <course>/release/<lab>/<lab>.ipynb       nbgrader's student version
    <course>/submitted/<student>/<lab>/      what a student handed in
    <course>/autograded/..., feedback/...    nbgrader's results

so a grading run can happen anywhere without touching the repository.
"""
from __future__ import annotations

import importlib
import importlib.util
import json
import os
import re
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import jupyter_server_mathjax
import nbformat
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.apps import NbGraderAPI
from nbgrader.converters import GenerateFeedback
from nbgrader.utils import capture_log, temp_attrs
from nbgrader.coursedir import CourseDirectory

from dlcourse.config import data_root
from dlcourse.validate import duplicate_grade_ids

from . import nofollow, sandbox
from .config import CELL_TIMEOUT, MATHJAX, nbgrader_config
from .execute import NOTEBOOK_TIMEOUT, STOPPED

REPO = Path(__file__).resolve().parents[1]
SOLUTIONS = REPO / "solutions"
DEFAULT_COURSE_DIR = REPO / "autograder" / "course"
MEMORY_LIMIT = 4 * 2**30
"""Bytes of memory (RLIMIT_DATA) a student's kernel may use (None: no limit)."""
KERNEL_SEES = (REPO / "dlcourse", REPO / "data", *(REPO / "autograder" / name for name in
                                                    ("__init__.py", "kernel.py", "sandbox.py")))
"""All of the repository a student's kernel sees while grading: the course package, its bundled
data and the modules it runs to answer the grader. Solutions, references, samples, the grader and
git's history are hidden with the rest."""

# nbgrader's log lines that matter to a student, in words a student understands.
_NBGRADER_NOTES = [
    (r"Missing grade cell (\S+) encountered", "graded cell '{0}' was deleted; it was put back"),
    (r"Locked cell '(\S+)' was edited", "locked cell '{0}' was edited; the original was restored"),
    (r"Cell with id '(\S+)' exists multiple times", "grade id '{0}' appears more than once; only the last copy counts"),
    (r"Cells were reordered", "cells were reordered; graded cells were put back in the assignment's order"),
    (r"Cell '(\S+)' does not exist in the database", "cell '{0}' is not part of the assignment; it was not graded"),
]


def _use_this_environment() -> None:
    """Put this interpreter's bin/ first on PATH: nbgrader runs the ``alembic`` command when it
    creates a gradebook, and ``.venv/bin/python -m autograder`` does not activate the venv."""
    bindir = str(Path(sys.executable).parent)
    if os.environ.get("PATH", "").split(os.pathsep)[0] != bindir:
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")


def import_checks(lab: str) -> None:
    """Import what the test cells of ``lab`` import here, in the grader, before any student kernel
    starts: the checking machinery, the lab's checks and its references. A module is imported
    once per process, so nothing a kernel does afterwards can change the checks that grade."""
    for module in ("dlcourse.check", f"dlcourse.tasks.{lab}", f"autograder.reference.{lab}"):
        if importlib.util.find_spec(module) is not None:
            importlib.import_module(module)


class GradingError(RuntimeError):
    """nbgrader could not do what was asked; the message says what and what to do."""


def lab_ids() -> list[str]:
    """Labs in solutions/: folders ``<lab>/`` holding ``<lab>.ipynb``."""
    return sorted(p.parent.name for p in SOLUTIONS.glob("*/*.ipynb") if p.stem == p.parent.name)


def nbgrader_notes(log: str) -> list[str]:
    """Student-facing notes for what nbgrader's log says it repaired in a submission."""
    notes = []
    for pattern, message in _NBGRADER_NOTES:
        notes += [message.format(*m.groups()) for m in re.finditer(pattern, log)]
    return notes


@dataclass
class Outcome:
    """What happened to one student's submission of one lab."""

    student: str
    lab: str
    notes: list[str] = field(default_factory=list)


class Course:
    """One course folder and the nbgrader API over it."""

    def __init__(self, root: Path = DEFAULT_COURSE_DIR, *, solutions: Path = SOLUTIONS,
                 cell_timeout: int = CELL_TIMEOUT, notebook_timeout: int = NOTEBOOK_TIMEOUT,
                 memory_limit: int | None = MEMORY_LIMIT, db_url: str | None = None,
                 unsafe_no_sandbox: bool = False):
        _use_this_environment()
        self.root = Path(root).resolve()
        self.solutions = Path(solutions)
        self.memory_limit = memory_limit
        self.unsafe_no_sandbox = unsafe_no_sandbox
        self.settings = {"cell_timeout": cell_timeout, "notebook_timeout": notebook_timeout,
                         "memory_limit": memory_limit, "unsafe_no_sandbox": unsafe_no_sandbox}
        """What a copy of this course needs to grade the same way (``autograder.grading``)."""
        self.root.mkdir(parents=True, exist_ok=True)
        db_url = db_url or f"sqlite:///{self.root / 'gradebook.db'}"
        gradebook = [db_url.removeprefix("sqlite:///")] if db_url.startswith("sqlite:///") else []
        config = nbgrader_config(self.root, cell_timeout=cell_timeout,
                                 notebook_timeout=notebook_timeout, db_url=db_url,
                                 memory_limit=memory_limit, unsafe_no_sandbox=unsafe_no_sandbox,
                                 hidden=[REPO, self.solutions, SOLUTIONS, *gradebook],
                                 visible=[*KERNEL_SEES, data_root()])
        self.coursedir = CourseDirectory(config=config)
        self.api = NbGraderAPI(coursedir=self.coursedir, config=config)

    # -- paths ---------------------------------------------------------------------------------
    def release_notebook(self, lab: str) -> Path:
        return self.root / "release" / lab / f"{lab}.ipynb"

    def submitted_folder(self, student: str, lab: str) -> Path:
        return self.root / "submitted" / student / lab

    def feedback_file(self, student: str, lab: str) -> Path:
        return self.root / "feedback" / student / lab / f"{lab}.html"

    # -- assign --------------------------------------------------------------------------------
    def assign(self, lab: str) -> Path:
        """solutions/<lab>/ -> <course>/release/<lab>/ via nbgrader; returns the release notebook."""
        src = self.solutions / lab
        notebook = nbformat.read(src / f"{lab}.ipynb", as_version=4)
        if dups := duplicate_grade_ids(notebook):
            listed = "; ".join(f"'{gid}' in cells {cells}" for gid, cells in dups.items())
            raise GradingError(f"{src / lab}.ipynb: duplicate grade ids: {listed}. "
                               "Give every graded or solution cell its own grade id.")
        dest = self.root / "source" / lab
        shutil.rmtree(dest, ignore_errors=True)
        shutil.copytree(src, dest, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
        self._check(self.api.generate_assignment(lab, force=True, create=True), f"generate {lab}")
        return self.release_notebook(lab)

    # -- autograde -----------------------------------------------------------------------------
    def autograde(self, student: str, lab: str, notebook: Path | None,
                  notes: list[str] | None = None) -> Outcome:
        """Grade one submission (None: nothing usable was handed in, every task scores 0).

        ``notes`` (from collecting the submission) and what nbgrader repaired end up in the
        Outcome and at the top of the student's feedback.
        """
        notes = list(notes or [])
        import_checks(lab)
        self.check_sandbox()
        nofollow.remove(self.root, f"submitted/{student}/{lab}")
        if notebook is None:
            nofollow.make_folders(self.root, f"submitted/{student}/{lab}")
            self.record_scores(student, lab, {})
            return Outcome(student, lab, notes)
        nofollow.write_bytes(self.root, f"submitted/{student}/{lab}/{lab}.ipynb",
                             notebook.read_bytes())
        with Gradebook(self.coursedir.db_url, self.coursedir.course_id) as gb:
            _submission(gb, student, lab)  # made here, nbgrader's autograde only updates it
        result = self.api.autograde(lab, student, force=True, create=True)
        if not result["success"]:
            self.record_scores(student, lab, {})
            return Outcome(student, lab, notes + [f"nbgrader could not grade it: {_last_line(result)}"])
        notes += nbgrader_notes(result.get("log", "")) + self._execution_notes(student, lab)
        if notes:
            self._add_notes_cell(student, lab, notes)
        return Outcome(student, lab, notes)

    def check_sandbox(self) -> None:
        """Refuse to grade where student kernels can't be sandboxed, unless told to anyway."""
        reason = None if self.unsafe_no_sandbox else sandbox.unavailable()
        if reason:
            raise GradingError(f"{reason}, so student notebooks can't be graded safely; install it "
                               "or pass --unsafe-no-sandbox (students' code could then read the "
                               "solutions and change grades)")

    def autograded_notebook(self, student: str, lab: str) -> nbformat.NotebookNode:
        """The autograded notebook, read without following links (``autograder.nofollow``)."""
        data = nofollow.read_bytes(self.root, f"autograded/{student}/{lab}/{lab}.ipynb")
        return nbformat.reads(data.decode(), as_version=4)

    def _execution_notes(self, student: str, lab: str) -> list[str]:
        """Why cells were not run (a dead kernel, the notebook's time limit), from their outputs."""
        for cell in self.autograded_notebook(student, lab).cells:
            for output in cell.get("outputs", []):
                if output.output_type == "error" and output.ename in STOPPED:
                    return [f"{output.evalue}; later cells were not run and their tests score 0"]
        return []

    def _add_notes_cell(self, student: str, lab: str, notes: list[str]) -> None:
        """Put the grading notes first in the autograded notebook, so feedback shows them."""
        nb = self.autograded_notebook(student, lab)
        text = "**Grading notes**\n\n" + "\n".join(f"- {note}" for note in notes)
        nb.cells.insert(0, nbformat.v4.new_markdown_cell(text, id="grading-notes"))
        nofollow.write_bytes(self.root, f"autograded/{student}/{lab}/{lab}.ipynb",
                             nbformat.writes(nb).encode())

    def record_scores(self, student: str, lab: str, scores: dict[str, float]) -> None:
        """Set a submission's automatic scores (task -> points; a task not given scores 0).

        Every score field of an autograded-only cell (a code test cell, not a manually graded
        answer) is this method's: ``manual_score`` and ``extra_credit`` there can only have come
        from elsewhere than a TA (nothing asks a TA to grade such a cell), so they are reset."""
        with Gradebook(self.coursedir.db_url, self.coursedir.course_id) as gb:
            _submission(gb, student, lab)
            notebook = gb.find_submission_notebook(lab, lab, student)
            answers = {cell.name for cell in notebook.notebook.solution_cells}
            for grade in notebook.grades:
                grade.auto_score, grade.needs_manual_grade = float(scores.get(grade.name, 0.0)), False
                if grade.cell_type == "code" and grade.name not in answers:
                    grade.manual_score = grade.extra_credit = None
            gb.db.commit()

    # -- feedback ------------------------------------------------------------------------------
    def feedback(self, lab: str, student: str | None = None) -> None:
        """Feedback HTML (hidden test source removed) for one student or every graded one; the
        feedback folder gets its own MathJax (the pages load it by a relative URL)."""
        # nbgrader's API would force its own template: its converter, with ours (config.py)
        with temp_attrs(self.coursedir, assignment_id=lab, student_id=student or "*"):
            app = GenerateFeedback(coursedir=self.coursedir, parent=self.api)
            app.force = True
            self._check(capture_log(app), f"feedback {lab}")
        mathjax = self.root / "feedback" / MATHJAX
        if not mathjax.is_dir():
            shutil.copytree(Path(jupyter_server_mathjax.__file__).parent / "static", mathjax)

    # -- scores --------------------------------------------------------------------------------
    def tasks(self, lab: str) -> list[tuple[str, float]]:
        """Graded tasks of a lab in notebook order, with their points."""
        cells = nbformat.read(self.release_notebook(lab), as_version=4).cells
        meta = [c.metadata.nbgrader for c in cells if c.metadata.get("nbgrader", {}).get("grade")]
        return [(m["grade_id"], float(m["points"])) for m in meta]

    def scores(self, lab: str, student: str | None = None) -> dict[str, dict[str, float]]:
        """student -> task -> score, for every student with a submission of ``lab`` (or one)."""
        table = {}
        with Gradebook(self.coursedir.db_url, self.coursedir.course_id) as gb:
            ids = [student] if student else sorted(s.id for s in gb.students)
            for sid in ids:
                try:
                    nb = gb.find_submission_notebook(lab, lab, sid)
                except MissingEntry:
                    continue
                table[sid] = {g.name: float(g.score or 0.0) for g in nb.grades}
        return table

    def save_notes(self, outcomes: list[Outcome]) -> None:
        """Keep each submission's notes next to the gradebook (notes.json)."""
        path = self.root / "notes.json"
        notes = json.loads(path.read_text()) if path.exists() else {}
        for o in outcomes:
            notes.setdefault(o.student, {})[o.lab] = o.notes
        path.write_text(json.dumps(notes, indent=1, sort_keys=True))

    @staticmethod
    def _check(result: dict, what: str) -> None:
        if not result["success"]:
            raise GradingError(f"nbgrader failed to {what}:\n{result.get('error') or result.get('log')}")


def _submission(gb: Gradebook, student: str, lab: str) -> None:
    """The student and their submission of ``lab`` in the gradebook. nbgrader's
    ``add_submission`` builds the submission's cells from objects already in the session, which
    makes SQLAlchemy's autoflush warn (SAWarning) unless autoflush waits, as it advises."""
    gb.update_or_create_student(student)
    with gb.db.no_autoflush:
        gb.update_or_create_submission(lab, student)


def _last_line(result: dict) -> str:
    text = (result.get("error") or result.get("log") or "unknown error").strip()
    return text.splitlines()[-1]
