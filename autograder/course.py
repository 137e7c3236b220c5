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

import json
import os
import re
import shutil
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.apps import NbGraderAPI
from nbgrader.coursedir import CourseDirectory

from . import sandbox
from .config import CELL_TIMEOUT, nbgrader_config
from .execute import NOTEBOOK_TIMEOUT, STOPPED
from .preprocessors import grade_id

REPO = Path(__file__).resolve().parents[1]
SOLUTIONS = REPO / "solutions"
DEFAULT_COURSE_DIR = REPO / "autograder" / "course"
MEMORY_LIMIT = 4 * 2**30
"""Bytes of memory (RLIMIT_DATA) a student's kernel may use (None: no limit)."""

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


class GradingError(RuntimeError):
    """nbgrader could not do what was asked; the message says what and what to do."""


def lab_ids() -> list[str]:
    """Labs in solutions/: folders ``<lab>/`` holding ``<lab>.ipynb``."""
    return sorted(p.parent.name for p in SOLUTIONS.glob("*/*.ipynb") if p.stem == p.parent.name)


def duplicate_grade_ids(nb: nbformat.NotebookNode) -> dict[str, list[int]]:
    """Grade ids used by more than one cell, with the (1-based) cell numbers using them."""
    ids = [grade_id(cell) for cell in nb.cells]
    counts = Counter(i for i in ids if i)
    return {gid: [n for n, i in enumerate(ids, 1) if i == gid] for gid, k in counts.items() if k > 1}


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
                 memory_limit: int | None = MEMORY_LIMIT, db_url: str | None = None):
        _use_this_environment()
        self.root = Path(root).resolve()
        self.solutions = Path(solutions)
        self.memory_limit = memory_limit
        self.settings = {"cell_timeout": cell_timeout, "notebook_timeout": notebook_timeout,
                         "memory_limit": memory_limit}
        """What a copy of this course needs to grade the same way (``autograder.grading``)."""
        self.root.mkdir(parents=True, exist_ok=True)
        config = nbgrader_config(self.root, cell_timeout=cell_timeout,
                                 notebook_timeout=notebook_timeout, db_url=db_url)
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
        folder = self.submitted_folder(student, lab)
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        if notebook is None:
            self.record_scores(student, lab, {})
            return Outcome(student, lab, notes)
        shutil.copy(notebook, folder / f"{lab}.ipynb")
        with _environ({sandbox.ENV: self._sandbox(student, lab)}):
            result = self.api.autograde(lab, student, force=True, create=True)
        if not result["success"]:
            self.record_scores(student, lab, {})
            return Outcome(student, lab, notes + [f"nbgrader could not grade it: {_last_line(result)}"])
        notes += nbgrader_notes(result.get("log", "")) + self._execution_notes(student, lab)
        if notes:
            self._add_notes_cell(student, lab, notes)
        return Outcome(student, lab, notes)

    def _execution_notes(self, student: str, lab: str) -> list[str]:
        """Why cells were not run (a dead kernel, the notebook's time limit), from their outputs."""
        path = self.root / "autograded" / student / lab / f"{lab}.ipynb"
        for cell in nbformat.read(path, as_version=4).cells:
            for output in cell.get("outputs", []):
                if output.output_type == "error" and output.ename in STOPPED:
                    return [f"{output.evalue}; later cells were not run and their tests score 0"]
        return []

    def _sandbox(self, student: str, lab: str) -> str:
        """The kernel's limits: its own folder only; not the course, solutions or samples."""
        own = self.root / "autograded" / student / lab
        secret = [self.root, self.solutions, SOLUTIONS, REPO / "autograder" / "sample_submissions"]
        return sandbox.settings(memory=self.memory_limit, deny=[str(p) for p in secret], allow=[str(own)])

    def _add_notes_cell(self, student: str, lab: str, notes: list[str]) -> None:
        """Put the grading notes first in the autograded notebook, so feedback shows them."""
        path = self.root / "autograded" / student / lab / f"{lab}.ipynb"
        nb = nbformat.read(path, as_version=4)
        text = "**Grading notes**\n\n" + "\n".join(f"- {note}" for note in notes)
        nb.cells.insert(0, nbformat.v4.new_markdown_cell(text, id="grading-notes"))
        nbformat.write(nb, path)

    def record_scores(self, student: str, lab: str, scores: dict[str, float]) -> None:
        """Set a submission's automatic scores (task -> points; a task not given scores 0)."""
        with Gradebook(self.coursedir.db_url, self.coursedir.course_id) as gb:
            gb.update_or_create_student(student)
            gb.update_or_create_submission(lab, student)
            for grade in gb.find_submission_notebook(lab, lab, student).grades:
                grade.auto_score, grade.needs_manual_grade = float(scores.get(grade.name, 0.0)), False
            gb.db.commit()

    # -- feedback ------------------------------------------------------------------------------
    def feedback(self, lab: str, student: str | None = None) -> None:
        """Feedback HTML (hidden test source removed) for one student or every graded one."""
        self._check(self.api.generate_feedback(lab, student, force=True), f"feedback {lab}")

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


@contextmanager
def _environ(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables (inherited by the kernels started meanwhile), then restore them."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)


def _last_line(result: dict) -> str:
    text = (result.get("error") or result.get("log") or "unknown error").strip()
    return text.splitlines()[-1]
